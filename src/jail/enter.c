/* enter.c - in the child: mount namespace, pivot_root, netns, rlimits, drop, then a tiny init
 * (PID 1 of the jail's PID namespace) that starts mvm, forwards signals to it and reaps. */
#include "jail/jail_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Report one line to the jailer through the status pipe and end the child. */
static void die(int status_fd, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

static void die(int status_fd, const char *fmt, ...)
{
	char buf[JAIL_ERR_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 1;
	if (write(status_fd, buf, (size_t)n) < 0) {
		/* nobody to tell */
	}
	_exit(1);
}

static void do_binds(const struct jail_ctx *ctx, int status_fd)
{
	char dst[PATH_MAX];

	/* The jail root must be a mount point of its own for pivot_root. */
	if (mount(ctx->root, ctx->root, NULL, MS_BIND, NULL) < 0)
		die(status_fd, "bind mount of %s onto itself: %s", ctx->root, strerror(errno));
	for (int i = 0; i < ctx->nr_binds; i++) {
		const struct jail_bind *b = &ctx->binds[i];

		snprintf(dst, sizeof(dst), "%s%s", ctx->root, b->dst);
		if (mount(b->src, dst, NULL, MS_BIND, NULL) < 0)
			die(status_fd, "bind mount of %s onto %s: %s", b->src, dst, strerror(errno));
		if (b->read_only &&
		    mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
			  NULL) < 0)
			die(status_fd, "read-only remount of %s: %s", dst, strerror(errno));
	}
}

/* Is a a path b or below it? */
static bool path_within(const char *a, const char *b)
{
	size_t n = strlen(b);

	return !strncmp(a, b, n) && (a[n] == 0 || a[n] == '/' || (n == 1 && b[0] == '/'));
}

/* mountinfo's field 5, with its octal escapes (\040 for a space) undone. */
static void mount_point(const char *line, char *out, size_t len)
{
	const char *p = line;
	size_t n = 0;

	for (int field = 0; field < 4 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	while (p && *p && *p != ' ' && n + 1 < len) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
			out[n++] = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0'));
			p += 4;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = 0;
}

/* Before the move over an initramfs "/": detach every mount of this namespace that is
 * neither the jail nor a folder holding it (proc, sys, dev, ...), so nothing of the host's
 * but the initramfs itself lies hidden under the jail. Deepest first. */
static void detach_others(const struct jail_ctx *ctx, int status_fd)
{
	char line[PATH_MAX * 2], mp[PATH_MAX];
	char *points[256];
	int n = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		die(status_fd, "/proc/self/mountinfo: %s (the jail needs /proc)", strerror(errno));
	while (n < (int)(sizeof(points) / sizeof(points[0])) && fgets(line, sizeof(line), f)) {
		mount_point(line, mp, sizeof(mp));
		if (!*mp || path_within(ctx->root, mp) || path_within(mp, ctx->root))
			continue;
		points[n] = strdup(mp);
		if (points[n])
			n++;
	}
	fclose(f);
	for (int i = n - 1; i >= 0; i--) {
		/* A folder above another was detached with it: EINVAL, ENOENT are fine. */
		if (umount2(points[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			die(status_fd, "detaching %s: %s", points[i], strerror(errno));
		free(points[i]);
	}
}

/* pivot_root(".", "."): the old root ends stacked under the new one and is detached at
 * once. An initramfs root cannot be pivoted (the kernel answers EINVAL); there the jail is
 * moved over "/" and chrooted into, as switch_root does, after the other mounts are detached. */
static void change_root(const struct jail_ctx *ctx, int status_fd)
{
	if (chdir(ctx->root) < 0)
		die(status_fd, "chdir %s: %s", ctx->root, strerror(errno));
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			die(status_fd, "detaching the old root: %s", strerror(errno));
	} else if (errno == EINVAL) {
		detach_others(ctx, status_fd);
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0)
			die(status_fd, "moving the jail over / (the root is an initramfs, which "
			    "pivot_root refuses): %s", strerror(errno));
	} else {
		die(status_fd, "pivot_root into %s: %s", ctx->root, strerror(errno));
	}
	if (chdir("/") < 0)
		die(status_fd, "chdir /: %s", strerror(errno));
}

static void set_limits(const struct jail_opts *o, int status_fd)
{
	struct rlimit rl;

	if (o->has_nofile) {
		rl.rlim_cur = rl.rlim_max = o->nofile;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			die(status_fd, "--resource-limit no-file=%llu: %s (above fs.nr_open?)",
			    o->nofile, strerror(errno));
	}
	if (o->has_fsize) {
		rl.rlim_cur = rl.rlim_max = o->fsize;
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			die(status_fd, "--resource-limit fsize=%llu: %s", o->fsize, strerror(errno));
	}
}

/* Every fd but 0, 1, 2 and keep (the status pipe, closed by the exec). */
static void close_fds(int keep)
{
	struct rlimit rl;
	long max = 65536;

	if (syscall(SYS_close_range, 3, keep - 1, 0) == 0 &&
	    syscall(SYS_close_range, keep + 1, ~0U, 0) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY)
		max = (long)rl.rlim_max;
	for (long fd = 3; fd < max; fd++) {
		if (fd != keep)
			close((int)fd);
	}
}

static void drop(const struct jail_opts *o, int status_fd)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die(status_fd, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (setgroups(0, NULL) < 0 || setresgid(o->gid, o->gid, o->gid) < 0 ||
	    setresuid(o->uid, o->uid, o->uid) < 0)
		die(status_fd, "dropping to uid %u gid %u: %s", (unsigned)o->uid, (unsigned)o->gid,
		    strerror(errno));
	if (o->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		die(status_fd, "uid %u could become root again", (unsigned)o->uid);
}

/* PID 1 of the jail: forward the signals people send, reap every child, and leave with mvm's
 * status (128 + N when a signal N ended it). Signals stay blocked here: the kernel drops
 * signals to a namespace's init that has neither a handler nor the signal blocked. */
static void __attribute__((noreturn)) init_loop(pid_t mvm, const sigset_t *set)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si), status;
		pid_t pid;

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(mvm, sig);
			continue;
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid != mvm)
				continue;
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		}
	}
}

void jail_enter(struct jail_ctx *ctx, int go_fd, int status_fd, char **envp)
{
	static const int fwd[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD };
	sigset_t set, old;
	char go;
	pid_t mvm;

	/* The jailer puts us in the cgroup first, so mvm is born in it. */
	if (read(go_fd, &go, 1) != 1)
		_exit(1);
	close(go_fd);
	if (unshare(CLONE_NEWNS) < 0)
		die(status_fd, "unshare(CLONE_NEWNS): %s", strerror(errno));
	/* Nothing done here may reach the host's mount table. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die(status_fd, "making / private: %s", strerror(errno));
	do_binds(ctx, status_fd);
	if (ctx->netns_fd >= 0 && setns(ctx->netns_fd, CLONE_NEWNET) < 0)
		die(status_fd, "--netns %s: setns: %s", ctx->opts->netns, strerror(errno));
	change_root(ctx, status_fd);
	/* mvm makes its API socket in its "/". */
	if (chown("/", ctx->opts->uid, ctx->opts->gid) < 0)
		die(status_fd, "chown of the jail's / to %u:%u: %s", (unsigned)ctx->opts->uid,
		    (unsigned)ctx->opts->gid, strerror(errno));
	set_limits(ctx->opts, status_fd);
	close_fds(status_fd);
	drop(ctx->opts, status_fd);
	prctl(PR_SET_NAME, "mvm-jail-init", 0, 0, 0);

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaddset(&set, fwd[i]);
	sigprocmask(SIG_BLOCK, &set, &old);
	mvm = fork();
	if (mvm < 0)
		die(status_fd, "fork: %s", strerror(errno));
	if (mvm == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		execve("/mvm", ctx->plan->argv, envp);
		die(status_fd, "exec of mvm in the jail: %s", strerror(errno));
	}
	close(status_fd);
	init_loop(mvm, &set);
}
