/* slirp_lib.c - libslirp's functions, looked up once with dlopen/dlsym. */
#include "util/slirp_lib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct slirp_lib lib;
static const struct slirp_lib *loaded;
static char why[256];

static void *sym(void *h, const char *name)
{
	void *p = dlsym(h, name);

	if (!p && !why[0])
		snprintf(why, sizeof(why), "%s has no %s (libslirp older than 4.7?)",
			 SLIRP_LIB_SONAME, name);
	return p;
}

static void load(void)
{
	void *h = dlopen(SLIRP_LIB_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		const char *e = dlerror();

		snprintf(why, sizeof(why), "cannot load %s (install the libslirp0 package): %s",
			 SLIRP_LIB_SONAME, e ? e : "dlopen failed");
		return;
	}
	/* POSIX lets a data pointer hold a function's address from dlsym. */
	*(void **)&lib.new_ = sym(h, "slirp_new");
	*(void **)&lib.cleanup = sym(h, "slirp_cleanup");
	*(void **)&lib.input = sym(h, "slirp_input");
	*(void **)&lib.pollfds_fill = sym(h, "slirp_pollfds_fill");
	*(void **)&lib.pollfds_poll = sym(h, "slirp_pollfds_poll");
	*(void **)&lib.add_hostfwd = sym(h, "slirp_add_hostfwd");
	*(void **)&lib.handle_timer = sym(h, "slirp_handle_timer");
	if (why[0])
		return;   /* kept open: the handle is process-wide anyway */
	loaded = &lib;
}

const struct slirp_lib *slirp_lib_load(char *err, size_t errlen)
{
	pthread_once(&once, load);
	if (!loaded && err && errlen)
		snprintf(err, errlen, "%s", why);
	return loaded;
}
