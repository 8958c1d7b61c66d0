/* source.c - kernel/initrd images as an open file or a buffer, read straight into guest RAM. */
#include "boot/boot.h"
#include "util/err.h"
#include "util/log.h"
#include "util/upath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1ULL << 20)
/* Linux moves at most ~2 GiB per read call; asking for 1 GiB keeps every
 * request a valid ssize_t and a whole number of pages. */
#define BOOT_SRC_CHUNK (1ULL << 30)

void boot_src_buf(struct boot_src *src, const char *what, const char *name,
		  const uint8_t *buf, uint64_t len)
{
	*src = (struct boot_src){ .what = what, .name = name, .fd = -1, .buf = buf, .len = len };
}

/* The size cap is guest RAM: a larger file can never be loaded, and saying
 * so early beats a confusing placement error later. */
int boot_src_check_cap(const struct boot_src *src, uint64_t cap)
{
	if (src->len <= cap)
		return 0;
	log_err("%s %s (%llu MiB) is larger than guest RAM (%llu MiB); give --mem more",
		src->what, src->name, (unsigned long long)((src->len + MIB - 1) / MIB),
		(unsigned long long)(cap / MIB));
	return -EINVAL;
}

int boot_src_open(struct boot_src *src, const char *what, const char *path, uint64_t cap)
{
	return boot_src_open_maybe_empty(src, what, path, cap, false);
}

int boot_src_open_maybe_empty(struct boot_src *src, const char *what, const char *path,
			      uint64_t cap, bool may_be_empty)
{
	char flag[32], err[UPATH_ERR_MAX];
	struct upath_file f;
	int ret;

	*src = (struct boot_src){ .what = what, .name = path, .fd = -1 };
	snprintf(flag, sizeof(flag), "--%s", what);
	ret = upath_open(path, O_RDONLY, UPATH_REG, flag, &f, err, sizeof(err));
	if (ret) {
		log_err("%s %s: %s", what, path, err);
		return ret;
	}
	ret = -EINVAL;
	if (f.size == 0 && !may_be_empty) {
		log_err("%s %s: file is empty", what, path);
		goto fail;
	}
	src->len = f.size;
	ret = boot_src_check_cap(src, cap);
	if (ret)
		goto fail;
	src->fd = f.fd;
	return 0;
fail:
	src->len = 0;
	close(f.fd);
	return ret;
}

void boot_src_close(struct boot_src *src)
{
	if (src->fd >= 0)
		close(src->fd);
	src->fd = -1;
}

int boot_src_read(const struct boot_src *src, uint64_t off, void *dst, uint64_t len)
{
	uint8_t *p = dst;
	uint64_t done = 0;

	/* Loaders check every range against len first; this is the backstop
	 * that keeps a missed check from reading past a buffer. */
	if (off > src->len || len > src->len - off) {
		log_err("%s %s: %llu bytes at offset 0x%llx run past the end of the file "
			"(%llu bytes)", src->what, src->name, (unsigned long long)len,
			(unsigned long long)off, (unsigned long long)src->len);
		return err_host(-EIO);   /* a loader's missed check: mvm's fault */
	}
	if (len == 0)
		return 0;
	if (src->fd < 0) {
		memcpy(dst, src->buf + off, len);
		return 0;
	}
	while (done < len) {
		uint64_t want = len - done < BOOT_SRC_CHUNK ? len - done : BOOT_SRC_CHUNK;
		ssize_t n = pread(src->fd, p + done, want, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int ret = -errno;

			log_err("%s %s: read of %llu bytes at offset 0x%llx failed: %s", src->what,
				src->name, (unsigned long long)len, (unsigned long long)off,
				strerror(-ret));
			return err_host(ret);   /* the host's disk, not the file's content */
		}
		if (n == 0) {
			log_err("%s %s: file shrank while being read (ends at 0x%llx, was %llu "
				"bytes)", src->what, src->name, (unsigned long long)(off + done),
				(unsigned long long)src->len);
			return err_host(-EIO);
		}
		done += n;
	}
	return 0;
}

int boot_src_to_guest(const struct gmem *m, const struct boot_src *src, uint64_t off,
		      uint64_t gpa, uint64_t len)
{
	uint8_t *dst = gmem_ptr(m, gpa, len);

	if (!dst) {
		log_err("%s %s: %llu bytes at 0x%llx are not all guest RAM", src->what, src->name,
			(unsigned long long)len, (unsigned long long)gpa);
		return -EFAULT;
	}
	gmem_advise_filled(dst, len);
	return boot_src_read(src, off, dst, len);
}

int boot_src_check_size(const struct boot_src *src)
{
	struct stat st;

	if (src->fd < 0)
		return 0;
	if (fstat(src->fd, &st) < 0) {
		int ret = -errno;

		log_err("%s %s: cannot stat: %s", src->what, src->name, strerror(-ret));
		return ret;
	}
	if ((uint64_t)st.st_size != src->len) {
		log_err("%s %s: file changed size while being read (%llu bytes, now %llu); "
			"do not modify it while mvm starts", src->what, src->name,
			(unsigned long long)src->len, (unsigned long long)st.st_size);
		return err_host(-EIO);
	}
	return 0;
}
