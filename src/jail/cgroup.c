/* cgroup.c - the jail's cgroup v2 leaf /sys/fs/cgroup/mvm/ID: controllers, limits, removal. */
#include "jail/jail_priv.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define CGROUP2_MAGIC_ 0x63677270
#define CG_ROOT "/sys/fs/cgroup"
#define CG_PARENT CG_ROOT "/mvm"

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;
	int ret = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != strlen(val))
		ret = -EIO;
	close(fd);
	return ret;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	return 0;
}

/* Is word[0..wlen) one of the space-separated words of list? */
static bool has_word(const char *list, const char *word, size_t wlen)
{
	char w[JAIL_CG_FILE_MAX];

	snprintf(w, sizeof(w), "%.*s", (int)wlen, word);
	for (const char *p = list; (p = strstr(p, w)); p++) {
		if ((p == list || p[-1] == ' ') && (p[wlen] == 0 || p[wlen] == ' '))
			return true;
	}
	return false;
}

int jail_cgroup_check(struct jail_ctx *ctx, char *err, size_t errlen)
{
	char avail[512];
	struct statfs sfs;

	if (!ctx->opts->nr_cgroups)
		return 0;
	if (statfs(CG_ROOT, &sfs) < 0 || sfs.f_type != CGROUP2_MAGIC_)
		return jail_fail(err, errlen, err_host(-ENOTSUP), "--cgroup: no cgroup v2 at " CG_ROOT
				 " (mount it: mount -t cgroup2 none " CG_ROOT ")");
	if (read_file(CG_ROOT "/cgroup.controllers", avail, sizeof(avail)))
		return jail_fail(err, errlen, err_host(-ENOTSUP), "--cgroup: cannot read " CG_ROOT
			    "/cgroup.controllers: %s", strerror(errno));
	for (int i = 0; i < ctx->opts->nr_cgroups; i++) {
		const char *file = ctx->opts->cgroups[i].file;
		size_t clen = (size_t)(strchr(file, '.') - file);

		if (!has_word(avail, file, clen))
			return jail_fail(err, errlen, err_host(-ENOTSUP), "--cgroup %s: the %.*s controller is not "
				    "available (" CG_ROOT "/cgroup.controllers: %s)", file,
				    (int)clen, file, avail);
	}
	snprintf(ctx->cgroup, sizeof(ctx->cgroup), CG_PARENT "/%s", ctx->opts->id);
	if (access(ctx->cgroup, F_OK) == 0)
		return jail_fail(err, errlen, err_usage(-EEXIST), "cgroup %s exists: another jail "
				 "with --id %s runs, or one left it (rmdir it)", ctx->cgroup,
				 ctx->opts->id);
	return 0;
}

/* "+cpu +memory" written to a subtree_control: each controller the settings name. */
static int enable_controllers(struct jail_ctx *ctx, const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX], val[16];

	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	for (int i = 0; i < ctx->opts->nr_cgroups; i++) {
		const char *file = ctx->opts->cgroups[i].file;
		int ret;

		snprintf(val, sizeof(val), "+%.*s", (int)(strchr(file, '.') - file), file);
		if ((ret = write_file(path, val)))
			return jail_fail(err, errlen, ret, "%s: cannot enable %s: %s", path, val + 1,
				    strerror(-ret));
	}
	return 0;
}

int jail_cgroup_create(struct jail_ctx *ctx, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int ret;

	if (!ctx->opts->nr_cgroups)
		return 0;
	if ((ret = enable_controllers(ctx, CG_ROOT, err, errlen)))
		return ret;
	if (mkdir(CG_PARENT, 0755) < 0 && errno != EEXIST)
		return jail_fail(err, errlen, -errno, CG_PARENT ": %s", strerror(errno));
	if ((ret = enable_controllers(ctx, CG_PARENT, err, errlen)))
		return ret;
	if (mkdir(ctx->cgroup, 0755) < 0)
		return jail_fail(err, errlen, -errno, "%s: %s", ctx->cgroup, strerror(errno));
	ctx->cgroup_made = true;
	for (int i = 0; i < ctx->opts->nr_cgroups; i++) {
		const struct jail_cgroup_set *s = &ctx->opts->cgroups[i];

		snprintf(path, sizeof(path), "%s/%s", ctx->cgroup, s->file);
		if ((ret = write_file(path, s->value)))
			return jail_fail(err, errlen, err_usage(-EINVAL), "--cgroup %s=%s: %s", s->file,
					 s->value,
				    ret == -ENOENT ? "no such file in the cgroup" : strerror(-ret));
	}
	return 0;
}

int jail_cgroup_add(struct jail_ctx *ctx, pid_t pid, char *err, size_t errlen)
{
	char path[PATH_MAX], val[24];
	int ret;

	if (!ctx->cgroup_made)
		return 0;
	snprintf(path, sizeof(path), "%s/cgroup.procs", ctx->cgroup);
	snprintf(val, sizeof(val), "%d", (int)pid);
	if ((ret = write_file(path, val)))
		return jail_fail(err, errlen, ret, "%s: cannot move pid %d in: %s", path, (int)pid,
			    strerror(-ret));
	return 0;
}

/* The leaf empties as the PID namespace's last processes are reaped: retry for up to 2 s.
 * The parent /sys/fs/cgroup/mvm stays (other jails may be using it). */
int jail_cgroup_remove(struct jail_ctx *ctx)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	if (!ctx->cgroup_made)
		return 0;
	for (int i = 0; i < 100; i++) {
		if (rmdir(ctx->cgroup) == 0 || errno == ENOENT) {
			ctx->cgroup_made = false;
			return 0;
		}
		if (errno != EBUSY)
			break;
		nanosleep(&ts, NULL);
	}
	return -errno;
}
