/* upath.c - the one way to open a user-given path (upath.h). */
#include "util/upath.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

const char *upath_type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFIFO: return "a FIFO";
	case S_IFDIR: return "a directory";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFSOCK: return "a socket";
	case S_IFLNK: return "a symbolic link";
	default: return "of an unknown type";
	}
}

static unsigned type_bit(mode_t mode)
{
	if (S_ISREG(mode))
		return UPATH_REG;
	if (S_ISBLK(mode))
		return UPATH_BLK;
	return 0;
}

/* "not a regular file (a FIFO); --kernel takes a regular file" */
static int refuse_type(mode_t mode, unsigned types, const char *flag, char *err, size_t errlen)
{
	const char *want = types == UPATH_REG ? "a regular file" :
			   types == UPATH_BLK ? "a block device" : "a regular file or a block device";

	snprintf(err, errlen, "not %s (%s); %s takes %s", want, upath_type_name(mode), flag, want);
	return err_usage(-EINVAL);
}

int upath_open(const char *path, int flags, unsigned types, const char *flag,
	       struct upath_file *out, char *err, size_t errlen)
{
	bool writing = (flags & O_ACCMODE) != O_RDONLY;
	struct stat st;
	int fd, fl, e;

	*out = (struct upath_file){ .fd = -1 };
	fd = open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		/* A directory opened for writing (EISDIR), a FIFO without a reader or
		 * a socket (ENXIO): say what it is, not what open() said. */
		if (stat(path, &st) == 0 && !(type_bit(st.st_mode) & types))
			return refuse_type(st.st_mode, types, flag, err, errlen);
		snprintf(err, errlen, "cannot open%s: %s", writing ? " for writing" : "",
			 strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot stat: %s", strerror(e));
		close(fd);
		return err_host(-e);
	}
	if (!(type_bit(st.st_mode) & types)) {
		close(fd);
		return refuse_type(st.st_mode, types, flag, err, errlen);
	}
	out->size = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &out->size) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot get the block device's size: %s", strerror(e));
		close(fd);
		return err_host(-e);
	}
	/* Reads of a regular file or block device ignore O_NONBLOCK today;
	 * clearing it means nothing later depends on that. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot clear O_NONBLOCK: %s", strerror(e));
		close(fd);
		return err_host(-e);
	}
	out->fd = fd;
	out->mode = st.st_mode;
	return 0;
}
