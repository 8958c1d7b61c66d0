/* args.c - `mvm jail` flags, and the mvm run words rewritten to paths inside the jail. */
#include "jail/jail.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int jail_id_check(const char *id, char *err, size_t errlen)
{
	size_t n = strlen(id);

	if (n == 0 || n > JAIL_ID_MAX)
		return fail(err, errlen, "--id '%s': expected 1 to %d characters", id, JAIL_ID_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return fail(err, errlen, "--id '%s': only letters, digits and '-' are allowed",
				    id);
	}
	return 0;
}

/* A uid or gid: decimal, below the (id_t)-1 that means "unchanged" to the kernel. */
static int parse_id(const char *s, unsigned *out)
{
	unsigned long long v;
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v >= 0xffffffffULL)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* FILE=VALUE: FILE a controller's file (cpu.max, memory.max, pids.max ...), never one of the
 * cgroup core's own (cgroup.procs would move other processes in). */
static int parse_cgroup(const char *arg, struct jail_cgroup_set *set, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '='), *dot;
	size_t flen;

	if (!eq || eq == arg)
		return fail(err, errlen, "--cgroup '%s': expected FILE=VALUE (e.g. memory.max=512M)",
			    arg);
	flen = (size_t)(eq - arg);
	for (const char *p = arg; p < eq; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
			return fail(err, errlen, "--cgroup '%s': FILE may hold only a-z, 0-9, '_' "
				    "and '.' (a file of the jail's own cgroup)", arg);
	}
	dot = memchr(arg, '.', flen);
	if (flen >= JAIL_CG_FILE_MAX || !dot || dot == arg || dot == eq - 1)
		return fail(err, errlen, "--cgroup '%s': FILE must be a controller's file such as "
			    "cpu.max, memory.max or pids.max", arg);
	if ((size_t)(dot - arg) == 6 && !strncmp(arg, "cgroup", 6))
		return fail(err, errlen, "--cgroup '%s': the cgroup core's files are set by the "
			    "jail itself; give a controller's file", arg);
	if (strlen(eq + 1) >= JAIL_CG_VALUE_MAX || !eq[1])
		return fail(err, errlen, "--cgroup '%s': VALUE must have 1 to %d characters", arg,
			    JAIL_CG_VALUE_MAX - 1);
	for (const char *p = eq + 1; *p; p++) {
		if (*p < ' ' || *p == 0x7f)
			return fail(err, errlen, "--cgroup '%s': VALUE holds a control character",
				    arg);
	}
	memcpy(set->file, arg, flen);
	set->file[flen] = 0;
	strcpy(set->value, eq + 1);
	return 0;
}

static int parse_rlimit(const char *arg, struct jail_opts *o, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	unsigned long long v;
	char *end;

	if (!eq)
		goto bad;
	errno = 0;
	v = strtoull(eq + 1, &end, 10);
	if (eq[1] < '0' || eq[1] > '9' || errno || *end)
		return fail(err, errlen, "--resource-limit '%s': VALUE must be a whole number", arg);
	if ((size_t)(eq - arg) == 7 && !strncmp(arg, "no-file", 7)) {
		if (v < 1 || v > (1ULL << 30))
			return fail(err, errlen, "--resource-limit '%s': no-file must be between 1 "
				    "and 1073741824", arg);
		o->has_nofile = true;
		o->nofile = v;
		return 0;
	}
	if ((size_t)(eq - arg) == 5 && !strncmp(arg, "fsize", 5)) {
		if (v > (unsigned long long)INT64_MAX)
			return fail(err, errlen, "--resource-limit '%s': fsize is too large", arg);
		o->has_fsize = true;
		o->fsize = v;
		return 0;
	}
bad:
	return fail(err, errlen, "--resource-limit '%s': expected no-file=N or fsize=N", arg);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: mvm jail --id ID --uid UID --gid GID --chroot-base DIR [--netns PATH]\n"
		"                [--cgroup FILE=VALUE]... [--resource-limit no-file=N|fsize=N]...\n"
		"                [--daemonize] [--allow-root] -- mvm run ARGS...\n"
		"\n"
		"Runs `mvm run ARGS` as UID:GID in DIR/mvm/ID/root (pivot_root), in new mount and\n"
		"PID namespaces, the network namespace PATH, the cgroup v2 leaf\n"
		"/sys/fs/cgroup/mvm/ID with each FILE=VALUE written (cpu.max, memory.max,\n"
		"pids.max, ...), the given rlimits, no_new_privs and no other open files. The\n"
		"files ARGS name are linked into the jail and ARGS rewritten to their jail paths.\n"
		"Needs root. The jail is removed when mvm exits (README: mvm jail).\n"
		"  --id ID            1-64 letters, digits and '-'\n"
		"  --uid UID --gid GID  whom mvm runs as; 0 only with --allow-root\n"
		"  --chroot-base DIR  an existing directory on a file system that allows devices\n"
		"  --daemonize        return once mvm runs; a background jailer cleans up after it\n");
}

/* The value of a flag given as "--flag VALUE" or "--flag=VALUE"; NULL when it is missing. */
static const char *flag_value(int argc, char **argv, int *i, const char *arg, size_t nlen)
{
	if (arg[nlen] == '=')
		return arg + nlen + 1;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static int parse_run_words(int argc, char **argv, int i, struct jail_opts *o, char *err,
			   size_t errlen)
{
	if (i < argc) {
		const char *slash = strrchr(argv[i], '/');
		const char *base = slash ? slash + 1 : argv[i];

		/* "mvm run ...": the jail runs its own binary, so the jailer and the jailed
		 * mvm are always the same version; a word naming another program is refused. */
		if (!strcmp(base, "mvm"))
			i++;
	}
	if (i >= argc || strcmp(argv[i], "run"))
		return fail(err, errlen, "after --, expected `mvm run ARGS...` (the jailed command; "
			    "%s)", i < argc ? "only run can be jailed" : "nothing was given");
	o->run_argc = argc - i - 1;
	o->run_argv = argv + i + 1;
	return 0;
}

int jail_parse(int argc, char **argv, struct jail_opts *o, char *err, size_t errlen)
{
	static const char *const names[] = { "--id", "--uid", "--gid", "--chroot-base", "--netns",
					     "--cgroup", "--resource-limit", NULL };
	bool have_uid = false, have_gid = false;
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		int which = -1;

		if (!strcmp(arg, "--"))
			break;
		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			usage(stdout);
			return 1;
		}
		if (!strcmp(arg, "--daemonize")) {
			o->daemonize = true;
			continue;
		}
		if (!strcmp(arg, "--allow-root")) {
			o->allow_root = true;
			continue;
		}
		for (int k = 0; names[k]; k++) {
			size_t n = strlen(names[k]);

			if (!strncmp(arg, names[k], n) && (arg[n] == 0 || arg[n] == '=')) {
				which = k;
				val = flag_value(argc, argv, &i, arg, n);
				break;
			}
		}
		if (which < 0)
			return fail(err, errlen, "unknown option '%s' (see mvm jail --help; the mvm "
				    "run arguments go after --)", arg);
		if (!val)
			return fail(err, errlen, "%s needs a value", names[which]);
		switch (which) {
		case 0:
			if (jail_id_check(val, err, errlen))
				return -EINVAL;
			o->id = val;
			break;
		case 1:
		case 2: {
			unsigned v;

			if (parse_id(val, &v))
				return fail(err, errlen, "%s '%s': expected a number", names[which],
					    val);
			if (which == 1) {
				o->uid = v;
				have_uid = true;
			} else {
				o->gid = v;
				have_gid = true;
			}
			break;
		}
		case 3:
			if (!*val)
				return fail(err, errlen, "--chroot-base needs a directory");
			o->chroot_base = val;
			break;
		case 4:
			if (!*val)
				return fail(err, errlen, "--netns needs a path (e.g. /var/run/netns/NAME)");
			o->netns = val;
			break;
		case 5:
			if (o->nr_cgroups == JAIL_MAX_CGROUPS)
				return fail(err, errlen, "--cgroup '%s': at most %d", val,
					    JAIL_MAX_CGROUPS);
			if (parse_cgroup(val, &o->cgroups[o->nr_cgroups], err, errlen))
				return -EINVAL;
			o->nr_cgroups++;
			break;
		case 6:
			if (parse_rlimit(val, o, err, errlen))
				return -EINVAL;
			break;
		}
	}
	if (!o->id)
		return fail(err, errlen, "--id is required");
	if (!have_uid || !have_gid)
		return fail(err, errlen, "--uid and --gid are required (whom mvm runs as)");
	if (!o->chroot_base)
		return fail(err, errlen, "--chroot-base is required (the jail is DIR/mvm/ID/root)");
	if ((o->uid == 0 || o->gid == 0) && !o->allow_root)
		return fail(err, errlen, "--%s 0: mvm would run as root inside the jail; give an "
			    "unprivileged uid and gid (or --allow-root)", o->uid == 0 ? "uid" : "gid");
	if (i >= argc)
		return fail(err, errlen, "missing -- mvm run ARGS... (the command to jail)");
	return parse_run_words(argc, argv, i + 1, o, err, errlen);
}
