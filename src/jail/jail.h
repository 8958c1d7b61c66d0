/* jail.h - `mvm jail`: run `mvm run` inside a chroot, namespaces, a cgroup and as a plain user.
 *
 * Contract: jail_main() is the subcommand (exit status 0..255 of the jailed mvm, 1 for a host
 * error of the jailer, 2 for bad usage or input). Everything is checked before anything is
 * created: the caller is root, the ID, the chroot base, the uid/gid, the files named by the
 * mvm run arguments (and by its --config-file), /dev/kvm, cgroup v2 when --cgroup is given;
 * each failure is one line naming the flag or file.
 *
 * The pieces that need no root are pure and tested alone (tests/unit/test_jail.c):
 * jail_parse() reads the jailer's flags and the mvm run words after "--";
 * jail_plan_run() decides which host file goes where in the jail and rewrites the run
 * arguments to the jail paths; jail_plan_config() does the same for a Firecracker-style
 * config file's JSON (the rewritten file is written into the jail, the original is untouched).
 *
 * What the jail holds (under CHROOT_BASE/mvm/ID/root, the new "/"): every input file
 * hard-linked at "/NAME" (bind-mounted onto an empty file when the link crosses file systems),
 * output files (log, metrics) linked the same way (created on the host, owned by the uid, when
 * missing), the API socket at "/NAME", dev/kvm, dev/urandom (and dev/net/tun with a tap) made
 * with mknod and owned by the uid, and the mvm binary and the shared libraries it has loaded,
 * bind-mounted read-only onto empty files at the paths the dynamic loader used: the binds live
 * in the jail's mount namespace only and vanish with it.
 */
#ifndef MVM_JAIL_JAIL_H
#define MVM_JAIL_JAIL_H

#include "util/err.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define JAIL_ID_MAX       64
#define JAIL_MAX_CGROUPS  16
#define JAIL_MAX_FILES    32
#define JAIL_MAX_RESERVED 16
#define JAIL_ERR_MAX      1024
#define JAIL_CG_FILE_MAX  64
#define JAIL_CG_VALUE_MAX 256

/* Exit statuses of the jailer itself (mvm's own: core/vmstop.h, which jail/ does not see):
 * a failure's class (util/err.h) decides which, through err_exit_status(). */
#define MVM_JAIL_EXIT_HOST  ERR_EXIT_HOST
#define MVM_JAIL_EXIT_USAGE ERR_EXIT_USAGE

/* What a path in the mvm run arguments is, which decides how it reaches the jail. */
enum jail_file_kind {
	JAIL_FILE_IN,      /* read by mvm: kernel, initrd, a read-only disk */
	JAIL_FILE_RW,      /* read and written: a writable disk */
	JAIL_FILE_OUT,     /* written: log, metrics; created on the host when missing */
	JAIL_FILE_SOCK,    /* a socket mvm creates: --api-sock; only a name in the jail */
	JAIL_FILE_CONFIG,  /* --config-file: rewritten into the jail, never linked */
};

struct jail_file {
	char *host;                 /* the path as given (owned) */
	char name[NAME_MAX + 1];    /* its name in the jail's "/" */
	char what[64];              /* the flag or config field that named it first */
	enum jail_file_kind kind;
};

struct jail_cgroup_set {
	char file[JAIL_CG_FILE_MAX];   /* e.g. memory.max */
	char value[JAIL_CG_VALUE_MAX];
};

struct jail_opts {
	const char *id;
	uid_t uid;
	gid_t gid;
	const char *chroot_base;
	const char *netns;           /* NULL: stay in the caller's network namespace */
	struct jail_cgroup_set cgroups[JAIL_MAX_CGROUPS];
	int nr_cgroups;
	bool has_nofile, has_fsize;
	unsigned long long nofile, fsize;
	bool daemonize;
	bool allow_root;             /* --allow-root: uid/gid 0 accepted */
	int run_argc;                /* the words after "run" */
	char **run_argv;
};

struct jail_plan {
	struct jail_file files[JAIL_MAX_FILES];
	int nr_files;
	const char *reserved[JAIL_MAX_RESERVED + 1];  /* names of "/" the jail itself uses */
	char **argv;                 /* "mvm", "run", the rewritten words, NULL (owned) */
	int argc;
	bool needs_tun;              /* a --net tap=: dev/net/tun is made */
	int config;                  /* index in files[] of the --config-file, or -1 */
};

/* 0 when id has 1..64 characters, each a letter, a digit or '-'; else -EINVAL with err. */
int jail_id_check(const char *id, char *err, size_t errlen);

/* `mvm jail` flags up to "--", then [mvm] run ARGS. argv[0] is "jail". 0, 1 after printing
 * help to stdout, or -EINVAL with err naming the flag. The opts point into argv. */
int jail_parse(int argc, char **argv, struct jail_opts *opts, char *err, size_t errlen);

/* An empty plan; reserved: NULL-terminated names the jail's "/" keeps for itself (dev, the
 * binary, the top folders of the libraries), at most JAIL_MAX_RESERVED. */
void jail_plan_init(struct jail_plan *plan, const char *const *reserved);
void jail_plan_free(struct jail_plan *plan);

/* Rewrite the mvm run words: each path flag (--kernel, --initrd, --disk, --config-file,
 * --api-sock, --metrics) gets its file a jail name and its argument the jail path. Flags this
 * jailer does not know (or cannot jail: --restore, --incoming) are refused with err: -EINVAL,
 * marked the user's (util/err.h); -ENOMEM, marked the host's. */
int jail_plan_run(struct jail_plan *plan, int argc, char **argv, char *err, size_t errlen);

/* The config file's JSON: its kernel, initrd, drives, logger and metrics paths join the plan
 * and *out (malloc'd) is the same JSON with the jail paths. -EINVAL with err naming the field
 * (the user's), or -ENOMEM (the host's). */
int jail_plan_config(struct jail_plan *plan, const char *json, char **out, char *err,
		     size_t errlen);

/* Can uid/gid (no supplementary groups) open a file of this mode and owner for reading, and
 * writing too when write is set? By the permission bits alone, as the kernel checks them. */
bool jail_mode_allows(mode_t mode, uid_t owner, gid_t group, uid_t uid, gid_t gid, bool write);

int jail_main(int argc, char **argv);

#endif
