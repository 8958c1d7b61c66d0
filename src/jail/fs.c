/* fs.c - the jail's tree on the host: checks, creation (links, device nodes), removal. */
#include "jail/jail_priv.h"
#include "util/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

int jail_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

#define NSFS_MAGIC_ 0x6e736673

static int check_dev(const char *path, dev_t *rdev, char *err, size_t errlen)
{
	struct stat st;

	/* The host's devices, not anything the user named. */
	if (stat(path, &st) < 0)
		return jail_fail(err, errlen, err_host(-ENODEV), "%s: %s (the jail makes its own "
				 "node from it)", path, strerror(errno));
	if (!S_ISCHR(st.st_mode))
		return jail_fail(err, errlen, err_host(-ENODEV), "%s: not a character device", path);
	*rdev = st.st_rdev;
	return 0;
}

static const char *kind_name(enum jail_file_kind k)
{
	switch (k) {
	case JAIL_FILE_IN: return "read";
	case JAIL_FILE_RW: return "read and written";
	case JAIL_FILE_OUT: return "written";
	default: return "used";
	}
}

static int check_file(const struct jail_ctx *ctx, const struct jail_file *f, char *err,
		      size_t errlen)
{
	uid_t uid = ctx->opts->uid;
	gid_t gid = ctx->opts->gid;
	struct stat st;
	bool write = f->kind == JAIL_FILE_RW || f->kind == JAIL_FILE_OUT;

	if (f->kind == JAIL_FILE_SOCK)
		return 0;
	if (stat(f->host, &st) < 0) {
		if (errno == ENOENT && f->kind == JAIL_FILE_OUT)
			return 0;  /* created, owned by the uid */
		return jail_fail(err, errlen, err_usage(-EINVAL), "%s %s: %s", f->what, f->host,
				 strerror(errno));
	}
	if (f->kind == JAIL_FILE_OUT ? !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))
	    : !(S_ISREG(st.st_mode) || (f->kind == JAIL_FILE_RW && S_ISBLK(st.st_mode)) ||
		(f->kind == JAIL_FILE_IN && S_ISBLK(st.st_mode))))
		return jail_fail(err, errlen, err_usage(-EINVAL), "%s %s: not a regular file", f->what,
				 f->host);
	if (f->kind != JAIL_FILE_CONFIG &&
	    !jail_mode_allows(st.st_mode, st.st_uid, st.st_gid, uid, gid, write))
		return jail_fail(err, errlen, err_usage(-EACCES), "%s %s: uid %u gid %u cannot have it %s (owner "
			    "%u:%u, mode %03o): mvm jail links the file, it does not change its owner",
			    f->what, f->host, (unsigned)uid, (unsigned)gid, kind_name(f->kind),
			    (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)(st.st_mode & 0777));
	return 0;
}

/* Every refusal here is the user's (--chroot-base, --id, the files, --netns) but a device
 * the host lacks (check_dev). */
int jail_fs_check(struct jail_ctx *ctx, char *err, size_t errlen)
{
	const char *base = ctx->opts->chroot_base;
	char abs[PATH_MAX];
	struct statvfs vfs;
	struct stat st;
	int ret;

	if (stat(base, &st) < 0)
		return jail_fail(err, errlen, err_usage(-EINVAL), "--chroot-base %s: %s", base,
				 strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return jail_fail(err, errlen, err_usage(-EINVAL), "--chroot-base %s: not a directory", base);
	if (statvfs(base, &vfs) == 0 && (vfs.f_flag & ST_NODEV))
		return jail_fail(err, errlen, err_usage(-EINVAL), "--chroot-base %s: its file system "
				 "is mounted nodev, so /dev/kvm made in the jail could not be opened",
				 base);
	/* Absolute and free of links: the child compares it with mount points. */
	if (!realpath(base, abs))
		return jail_fail(err, errlen, err_usage(-EINVAL), "--chroot-base %s: %s", base,
				 strerror(errno));
	if (snprintf(ctx->id_dir, sizeof(ctx->id_dir), "%s/mvm/%s", strcmp(abs, "/") ? abs : "",
		     ctx->opts->id) >= (int)sizeof(ctx->id_dir) - 6)
		return jail_fail(err, errlen, err_usage(-EINVAL), "--chroot-base %s: path too long", base);
	snprintf(ctx->root, sizeof(ctx->root), "%s/root", ctx->id_dir);
	/* DIR/mvm and DIR/mvm/ID are used when they exist: never through a link. */
	for (int i = 0; i < 2; i++) {
		char p[PATH_MAX];

		if (i)
			snprintf(p, sizeof(p), "%s", ctx->id_dir);
		else
			snprintf(p, sizeof(p), "%s/mvm", base);
		if (lstat(p, &st) == 0 && !S_ISDIR(st.st_mode))
			return jail_fail(err, errlen, err_usage(-EEXIST), "%s exists and is not a directory (a symbolic "
				    "link?): remove it", p);
	}
	if (lstat(ctx->root, &st) == 0) {
		DIR *d;
		struct dirent *e;
		bool empty = true;

		if (!S_ISDIR(st.st_mode))
			return jail_fail(err, errlen, err_usage(-EEXIST), "jail root %s exists and is not a directory "
				    "(a symbolic link?): remove it", ctx->root);
		d = opendir(ctx->root);
		while (d && (e = readdir(d))) {
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				empty = false;
		}
		if (d)
			closedir(d);
		if (!empty)
			return jail_fail(err, errlen, err_usage(-EEXIST), "jail root %s exists and is "
					 "not empty: another jail with --id %s runs, or one left it "
					 "(remove %s)", ctx->root, ctx->opts->id, ctx->id_dir);
	}
	for (int i = 0; i < ctx->plan->nr_files; i++) {
		if ((ret = check_file(ctx, &ctx->plan->files[i], err, errlen)))
			return ret;
	}
	if ((ret = check_dev("/dev/kvm", &ctx->kvm_rdev, err, errlen)) ||
	    (ret = check_dev("/dev/urandom", &ctx->urandom_rdev, err, errlen)) ||
	    (ctx->plan->needs_tun && (ret = check_dev("/dev/net/tun", &ctx->tun_rdev, err, errlen))))
		return ret;
	if (ctx->opts->netns) {
		struct statfs sfs;

		ctx->netns_fd = open(ctx->opts->netns, O_RDONLY | O_CLOEXEC);
		if (ctx->netns_fd < 0)
			return jail_fail(err, errlen, err_usage(-EINVAL), "--netns %s: %s", ctx->opts->netns,
				    strerror(errno));
		if (fstatfs(ctx->netns_fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC_)
			return jail_fail(err, errlen, err_usage(-EINVAL), "--netns %s: not a namespace file (expected "
				    "e.g. /var/run/netns/NAME or /proc/PID/ns/net)", ctx->opts->netns);
	}
	return 0;
}

/* mkdir -p of path's folders under dirfd (path relative, no "..": ours). */
static int mkdirs_at(int dirfd, const char *path, bool last_too)
{
	char buf[PATH_MAX];
	char *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf; (p = strchr(p, '/')); p++) {
		*p = 0;
		if (*buf && mkdirat(dirfd, buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (last_too && mkdirat(dirfd, buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int add_bind(struct jail_ctx *ctx, const char *src, const char *dst, bool ro)
{
	struct jail_bind *b = &ctx->binds[ctx->nr_binds];

	if (ctx->nr_binds == (int)(sizeof(ctx->binds) / sizeof(ctx->binds[0])))
		return -E2BIG;
	b->src = strdup(src);
	b->dst = strdup(dst);
	b->read_only = ro;
	if (!b->src || !b->dst)
		return -ENOMEM;
	ctx->nr_binds++;
	return 0;
}

/* An empty file at rel under the root for a bind mount made in the child's namespace. */
static int placeholder(struct jail_ctx *ctx, int rootfd, const char *src, const char *rel,
		       bool ro)
{
	char dst[PATH_MAX];
	int fd, ret;

	if ((ret = mkdirs_at(rootfd, rel, false)))
		return ret;
	fd = openat(rootfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
	if (fd < 0)
		return -errno;
	close(fd);
	snprintf(dst, sizeof(dst), "/%s", rel);
	return add_bind(ctx, src, dst, ro);
}

static int link_file(struct jail_ctx *ctx, int rootfd, const struct jail_file *f, char *err,
		     size_t errlen)
{
	int ret;

	if (f->kind == JAIL_FILE_SOCK || f->kind == JAIL_FILE_CONFIG)
		return 0;
	if (f->kind == JAIL_FILE_OUT) {
		int fd = open(f->host, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd >= 0) {
			ret = fchown(fd, ctx->opts->uid, ctx->opts->gid) < 0 ? -errno : 0;
			close(fd);
			if (ret)
				return jail_fail(err, errlen, ret, "%s: chown: %s", f->host, strerror(-ret));
		} else if (errno != EEXIST) {
			return jail_fail(err, errlen, -errno, "%s: %s", f->host, strerror(errno));
		}
	}
	if (linkat(AT_FDCWD, f->host, rootfd, f->name, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != EXDEV && errno != EPERM)
		return jail_fail(err, errlen, -errno, "%s: cannot link it into %s: %s", f->host, ctx->root,
			    strerror(errno));
	/* Another file system (or a link the kernel's protected_hardlinks refuses): a bind
	 * mount in the jail's namespace, which leaves no trace on the host. */
	ret = placeholder(ctx, rootfd, f->host, f->name, f->kind == JAIL_FILE_IN);
	if (ret)
		return jail_fail(err, errlen, ret, "%s: cannot prepare its bind mount in %s: %s", f->host,
			    ctx->root, strerror(-ret));
	return 0;
}

static int make_dev(struct jail_ctx *ctx, int rootfd, const char *rel, dev_t rdev, char *err,
		    size_t errlen)
{
	if (mknodat(rootfd, rel, S_IFCHR | 0600, rdev) < 0 ||
	    fchownat(rootfd, rel, ctx->opts->uid, ctx->opts->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return jail_fail(err, errlen, -errno, "%s/%s (device %u:%u): %s", ctx->root, rel,
			    major(rdev), minor(rdev), strerror(errno));
	return 0;
}

static int write_config(struct jail_ctx *ctx, int rootfd, char *err, size_t errlen)
{
	const struct jail_file *f = &ctx->plan->files[ctx->plan->config];
	size_t len = strlen(ctx->config_json), off = 0;
	int fd;

	fd = openat(rootfd, f->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
	if (fd < 0 || fchown(fd, ctx->opts->uid, ctx->opts->gid) < 0)
		goto bad;
	while (off < len) {
		ssize_t n = write(fd, ctx->config_json + off, len - off);

		if (n <= 0)
			goto bad;
		off += (size_t)n;
	}
	close(fd);
	return 0;
bad:
	if (fd >= 0)
		close(fd);
	return jail_fail(err, errlen, -EIO, "%s/%s: cannot write the jail's config file: %s", ctx->root,
		    f->name, strerror(errno));
}

int jail_fs_create(struct jail_ctx *ctx, char *err, size_t errlen)
{
	char mvmdir[PATH_MAX], exe[PATH_MAX];
	int rootfd = -1, ret;
	ssize_t n;

	snprintf(mvmdir, sizeof(mvmdir), "%s/mvm", ctx->opts->chroot_base);
	if ((mkdir(mvmdir, 0755) < 0 && errno != EEXIST))
		return jail_fail(err, errlen, -errno, "%s: %s", mvmdir, strerror(errno));
	if (mkdir(ctx->id_dir, 0755) < 0 && errno != EEXIST)
		return jail_fail(err, errlen, -errno, "%s: %s", ctx->id_dir, strerror(errno));
	ctx->root_made = true;
	if (mkdir(ctx->root, 0750) < 0 && errno != EEXIST)
		return jail_fail(err, errlen, -errno, "%s: %s", ctx->root, strerror(errno));
	/* O_NOFOLLOW: a link planted at root (checked above, but it could race) is refused. */
	rootfd = open(ctx->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return jail_fail(err, errlen, -errno, "%s: %s", ctx->root, strerror(errno));
	/* The root stays root's until the child has made its binds (jail/enter.c gives it to
	 * the uid, for mvm's API socket), so no process of the uid can swap what is in it. */
	if (fchown(rootfd, 0, 0) < 0 || fchmod(rootfd, 0750) < 0) {
		ret = jail_fail(err, errlen, -errno, "%s: chown: %s", ctx->root, strerror(errno));
		goto out;
	}
	if ((ret = mkdirs_at(rootfd, "dev/net", true)) < 0) {
		ret = jail_fail(err, errlen, ret, "%s/dev: %s", ctx->root, strerror(-ret));
		goto out;
	}
	if ((ret = make_dev(ctx, rootfd, "dev/kvm", ctx->kvm_rdev, err, errlen)) ||
	    (ret = make_dev(ctx, rootfd, "dev/urandom", ctx->urandom_rdev, err, errlen)) ||
	    (ctx->plan->needs_tun &&
	     (ret = make_dev(ctx, rootfd, "dev/net/tun", ctx->tun_rdev, err, errlen))))
		goto out;
	for (int i = 0; i < ctx->plan->nr_files; i++) {
		if ((ret = link_file(ctx, rootfd, &ctx->plan->files[i], err, errlen)))
			goto out;
	}
	if (ctx->config_json && (ret = write_config(ctx, rootfd, err, errlen)))
		goto out;
	/* The binary and its libraries, read-only binds made in the child's namespace. */
	/* By its path: /proc/self/exe would name a mount of the host's namespace, which a bind
	 * made in the child's namespace refuses. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0 || (size_t)n >= sizeof(exe) - 1) {
		ret = jail_fail(err, errlen, -EIO, "cannot find mvm's own binary (/proc/self/exe)");
		goto out;
	}
	exe[n] = 0;
	if ((ret = placeholder(ctx, rootfd, exe, "mvm", true))) {
		ret = jail_fail(err, errlen, ret, "%s/mvm: %s", ctx->root, strerror(-ret));
		goto out;
	}
	for (int i = 0; i < ctx->nr_libs; i++) {
		if ((ret = placeholder(ctx, rootfd, ctx->libs[i], ctx->libs[i] + 1, true))) {
			ret = jail_fail(err, errlen, ret, "%s%s: %s", ctx->root, ctx->libs[i],
				   strerror(-ret));
			goto out;
		}
	}
	ret = 0;
out:
	close(rootfd);
	return ret;
}

/* rel's folder under rootfd, opened one component at a time and never through a link (mvm,
 * as the uid, owns the jail's "/" and may have swapped a folder for a link to the host's);
 * *last is rel's last component, in buf. An fd or -errno. */
static int open_parent(int rootfd, const char *rel, char *buf, size_t len, const char **last)
{
	char *p = buf, *slash;
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0), next;

	snprintf(buf, len, "%s", rel);
	while (fd >= 0 && (slash = strchr(p, '/'))) {
		*slash = 0;
		next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*last = p;
	return fd < 0 ? -errno : fd;
}

/* unlinkat(rel) beneath rootfd (flags: 0 or AT_REMOVEDIR); a missing entry is fine. */
static int remove_beneath(int rootfd, const char *rel, int flags)
{
	char buf[PATH_MAX];
	const char *last;
	int fd = open_parent(rootfd, rel, buf, sizeof(buf), &last), ret = 0;

	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	if (unlinkat(fd, last, flags) < 0 && errno != ENOENT)
		ret = -errno;
	close(fd);
	return ret;
}

/* A library's empty file, then its folders while they are empty. */
static void remove_lib(int rootfd, const char *rel)
{
	char dir[PATH_MAX], *slash;

	remove_beneath(rootfd, rel, 0);
	snprintf(dir, sizeof(dir), "%s", rel);
	while ((slash = strrchr(dir, '/'))) {
		*slash = 0;
		if (remove_beneath(rootfd, dir, AT_REMOVEDIR))
			break;
	}
}

/* What the jail made, and only that: the links and their bind files, the device nodes, the
 * config copy, the socket, the binary's and libraries' files; then the folders if empty.
 * Files mvm made in its "/" (a snapshot, say) are kept, and so is the root holding them. */
int jail_fs_remove(struct jail_ctx *ctx)
{
	static const char *const made[] = { "dev/kvm", "dev/urandom", "dev/net/tun", "mvm", NULL };
	int idfd, rootfd, ret = 0;

	if (!ctx->root_made)
		return 0;
	idfd = open(ctx->id_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (idfd < 0)
		return errno == ENOENT ? 0 : -errno;
	rootfd = openat(idfd, "root", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd >= 0) {
		for (int i = 0; i < ctx->plan->nr_files; i++)
			remove_beneath(rootfd, ctx->plan->files[i].name, 0);
		for (int i = 0; made[i]; i++)
			remove_beneath(rootfd, made[i], 0);
		remove_beneath(rootfd, "dev/net", AT_REMOVEDIR);
		remove_beneath(rootfd, "dev", AT_REMOVEDIR);
		for (int i = 0; i < ctx->nr_libs; i++)
			remove_lib(rootfd, ctx->libs[i] + 1);
		close(rootfd);
		if (unlinkat(idfd, "root", AT_REMOVEDIR) < 0 && errno != ENOENT)
			ret = -errno;
	}
	close(idfd);
	if (!ret && rmdir(ctx->id_dir) < 0)
		ret = -errno;
	return ret;
}
