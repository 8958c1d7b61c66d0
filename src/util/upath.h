/* upath.h - open a path the user gave (a flag, a config file field, an API body) without waiting.
 *
 * Contract: upath_open() opens path with the caller's access mode plus
 * O_NONBLOCK, O_CLOEXEC and O_NOCTTY, so neither a FIFO without a writer nor
 * a device can make open() wait (a blocked open cannot be interrupted by
 * SIGTERM's handler, so mvm would hang forever); fstat()s what it got and
 * refuses every type not in `types`; then clears O_NONBLOCK, so reads and
 * writes behave as on a plain file. It never reads or writes the file.
 *
 * On success: 0, out->fd (the caller closes it), out->mode and out->size
 * (st_size for a regular file, BLKGETSIZE64 for a block device). On failure:
 * a negative errno, nothing left open, and err holds a message for people
 * that names `flag` (e.g. "--kernel", "drives[0].path_on_host") but not the
 * path: callers print "WHAT PATH: err". A type refused (also when open()
 * itself fails on it: EISDIR, ENXIO) is the user's: -EINVAL, recorded with
 * err_usage(). A failed open() is left unclassed (-errno: a missing file and
 * a permission are the caller's to judge); fstat/ioctl/fcntl failures are
 * the host's (err_host()).
 */
#ifndef MVM_UTIL_UPATH_H
#define MVM_UTIL_UPATH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Types a caller may accept, or-ed together. */
#define UPATH_REG (1u << 0)   /* a regular file */
#define UPATH_BLK (1u << 1)   /* a block device */

#define UPATH_ERR_MAX 192

struct upath_file {
	int fd;
	mode_t mode;              /* st_mode */
	uint64_t size;            /* bytes */
};

/* flags: O_RDONLY, O_WRONLY or O_RDWR, optionally with O_APPEND/O_CREAT-free
 * extras; O_NONBLOCK, O_CLOEXEC and O_NOCTTY are added. */
int upath_open(const char *path, int flags, unsigned types, const char *flag,
	       struct upath_file *out, char *err, size_t errlen);

/* "a FIFO", "a directory", ...: what a refused st_mode is, for messages. */
const char *upath_type_name(mode_t mode);

#endif
