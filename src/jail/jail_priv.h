/* jail_priv.h - what the parts of `mvm jail` share: the jail's state on the host.
 *
 * Contract: jail_fs_*() make and remove the jail's tree (as root, before any namespace);
 * jail_cgroup_*() its cgroup v2 leaf; jail_enter() runs in the child that becomes PID 1 of
 * the new PID namespace, does the mounts and the drop, and execs mvm (jail/enter.c). Each
 * returns 0 or -errno with a message for people in err.
 */
#ifndef MVM_JAIL_JAIL_PRIV_H
#define MVM_JAIL_JAIL_PRIV_H

#include "jail/jail.h"

/* Write the message into err and return ret (one definition, in fs.c). */
int jail_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define JAIL_MAX_LIBS 64

/* A file bind-mounted onto an empty file of the jail (src on the host, dst inside). */
struct jail_bind {
	char *src;
	char *dst;                 /* absolute path inside the jail */
	bool read_only;
};

struct jail_ctx {
	const struct jail_opts *opts;
	struct jail_plan *plan;
	char *config_json;         /* the rewritten --config-file, or NULL */
	char id_dir[PATH_MAX - 8]; /* CHROOT_BASE/mvm/ID */
	char root[PATH_MAX];       /* CHROOT_BASE/mvm/ID/root */
	bool root_made;            /* id_dir is ours to remove */
	struct jail_bind binds[JAIL_MAX_FILES + JAIL_MAX_LIBS + 1];
	int nr_binds;
	char *libs[JAIL_MAX_LIBS]; /* the loader's paths of mvm's shared libraries */
	int nr_libs;
	char tops[JAIL_MAX_RESERVED][NAME_MAX + 1];  /* the libraries' top folders */
	char *ld_path;             /* LD_LIBRARY_PATH for the jailed mvm */
	char cgroup[128];          /* the leaf, or "" */
	bool cgroup_made;
	int netns_fd;              /* -1: none */
	dev_t kvm_rdev, tun_rdev, urandom_rdev;
};

/* The shared libraries this very binary runs with, and the names they take in "/". */
int jail_libs_collect(struct jail_ctx *ctx, char *err, size_t errlen);

/* Checks of everything on the host the jail needs; nothing is created. */
int jail_fs_check(struct jail_ctx *ctx, char *err, size_t errlen);
/* The tree: root, dev nodes, links (or bind placeholders), the config file, libraries. */
int jail_fs_create(struct jail_ctx *ctx, char *err, size_t errlen);
/* Remove CHROOT_BASE/mvm/ID and all under it, never following a link. 0 or -errno. */
int jail_fs_remove(struct jail_ctx *ctx);

int jail_cgroup_check(struct jail_ctx *ctx, char *err, size_t errlen);
int jail_cgroup_create(struct jail_ctx *ctx, char *err, size_t errlen);
int jail_cgroup_add(struct jail_ctx *ctx, pid_t pid, char *err, size_t errlen);
int jail_cgroup_remove(struct jail_ctx *ctx);

/* In the child: everything from the mount namespace to the exec; never returns. status_fd
 * gets a message on failure and is closed (CLOEXEC) when mvm starts. */
void jail_enter(struct jail_ctx *ctx, int go_fd, int status_fd, char **envp)
	__attribute__((noreturn));

#endif
