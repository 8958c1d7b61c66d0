/* slirp_lib.h - libslirp, loaded the first time user networking is built.
 *
 * Why not linked: libslirp brings glib and pcre2, about 0.6 MiB of library
 * text resident in every mvm, with or without --net user (issue 15's budget
 * for mvm's own memory is 4 MiB). slirp_lib_load() dlopens it once
 * (thread-safe; mvm builds its VM on one thread, before any seccomp filter)
 * and returns its functions, or NULL with a message naming what failed.
 * The jail (jail/libs.c) loads it before listing the libraries it binds, so
 * a jailed mvm finds it too.
 */
#ifndef MVM_UTIL_SLIRP_LIB_H
#define MVM_UTIL_SLIRP_LIB_H

#include <slirp/libslirp.h>
#include <stddef.h>

#define SLIRP_LIB_SONAME "libslirp.so.0"

struct slirp_lib {
	__typeof__(&slirp_new) new_;
	__typeof__(&slirp_cleanup) cleanup;
	__typeof__(&slirp_input) input;
	__typeof__(&slirp_pollfds_fill) pollfds_fill;
	__typeof__(&slirp_pollfds_poll) pollfds_poll;
	__typeof__(&slirp_add_hostfwd) add_hostfwd;
	__typeof__(&slirp_handle_timer) handle_timer;
};

const struct slirp_lib *slirp_lib_load(char *err, size_t errlen);

#endif
