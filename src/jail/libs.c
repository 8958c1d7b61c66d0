/* libs.c - the shared libraries mvm runs with, which the jail must hold: the loader's own list. */
#include "jail/jail_priv.h"
#include "util/err.h"
#include "util/slirp_lib.h"

#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

static int add_lib(struct jail_ctx *ctx, const char *path)
{
	if (path[0] != '/')
		return 0;
	for (int i = 0; i < ctx->nr_libs; i++) {
		if (!strcmp(ctx->libs[i], path))
			return 0;
	}
	if (ctx->nr_libs == JAIL_MAX_LIBS)
		return err_host(-E2BIG);
	ctx->libs[ctx->nr_libs] = strdup(path);
	return ctx->libs[ctx->nr_libs] ? (ctx->nr_libs++, 0) : err_host(-ENOMEM);
}

static int lib_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct jail_ctx *ctx = data;

	return info->dlpi_name && add_lib(ctx, info->dlpi_name) ? 1 : 0;
}

/* The dynamic loader's path (PT_INTERP) of this binary, as the kernel will look it up. */
static const char *interp_path(void)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	size_t n = getauxval(AT_PHNUM);
	uintptr_t bias = 0;

	if (!ph)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (ph[i].p_type == PT_PHDR)
			bias = (uintptr_t)ph - ph[i].p_vaddr;
	}
	for (size_t i = 0; i < n; i++) {
		if (ph[i].p_type == PT_INTERP)
			return (const char *)(bias + ph[i].p_vaddr);
	}
	return NULL;
}

/* The libraries mvm runs with are the ones the loader mapped into this process (mvm jail is
 * the same binary): each is bound at the path the loader opened it by, and LD_LIBRARY_PATH
 * names their folders, since the jail has no /etc/ld.so.cache. */
int jail_libs_collect(struct jail_ctx *ctx, char *err, size_t errlen)
{
	const char *interp = interp_path();
	size_t len = 1;

	/* mvm loads libslirp (and glib, pcre2) only when --net user needs it
	 * (util/slirp_lib.h): load it here so the jail holds it too. Where it
	 * is not installed, a jailed --net user says so at its build. */
	(void)slirp_lib_load(NULL, 0);

	if ((interp && add_lib(ctx, interp)) || dl_iterate_phdr(lib_cb, ctx))
		return jail_fail(err, errlen, err_host(-E2BIG), "mvm uses more than %d shared "
				 "libraries", JAIL_MAX_LIBS);
	for (int i = 0; i < ctx->nr_libs; i++)
		len += strlen(ctx->libs[i]) + 1;
	ctx->ld_path = calloc(1, len);
	if (!ctx->ld_path)
		return jail_fail(err, errlen, err_host(-ENOMEM), "out of memory");
	for (int i = 0; i < ctx->nr_libs; i++) {
		const char *slash = strrchr(ctx->libs[i], '/');
		size_t dlen = slash == ctx->libs[i] ? 1 : (size_t)(slash - ctx->libs[i]);
		bool seen = false;

		for (int k = 0; k < i && !seen; k++) {
			const char *ks = strrchr(ctx->libs[k], '/');
			size_t kl = ks == ctx->libs[k] ? 1 : (size_t)(ks - ctx->libs[k]);

			seen = kl == dlen && !strncmp(ctx->libs[k], ctx->libs[i], dlen);
		}
		if (seen)
			continue;
		if (*ctx->ld_path)
			strcat(ctx->ld_path, ":");
		strncat(ctx->ld_path, ctx->libs[i], dlen);
	}
	return 0;
}
