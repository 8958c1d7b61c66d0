/* memfile.c - sparse memory files: full/diff save, MAP_PRIVATE load, diff merge (memfile.h). */
#include "snap/memfile.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define MERGE_CHUNK (1u << 20)

static const uint8_t zero_page[SNAP_PAGE];

static int say(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static bool aligned(uint64_t v)
{
	return v % SNAP_PAGE == 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		/* Linux writes at most ~2 GiB per call; ask for no more. */
		ssize_t n = pwrite(fd, p, len > (1u << 30) ? (1u << 30) : len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static bool page_wanted(const struct snap_mem_region *r, size_t page)
{
	if (r->dirty)
		return (r->dirty[page / 64] >> (page % 64)) & 1;
	return memcmp((const uint8_t *)r->host + page * SNAP_PAGE, zero_page, SNAP_PAGE) != 0;
}

int snap_mem_write(int fd, const struct snap_mem_region *r, struct snap_mem_stats *st)
{
	size_t pages = r->len / SNAP_PAGE, i = 0;
	struct snap_mem_stats local = { 0 };
	int ret = 0;

	if (!aligned(r->len) || !aligned(r->file_off) || !aligned((uintptr_t)r->host) ||
	    r->file_off > UINT64_MAX - r->len)
		return err_host(-EINVAL);
	/* Runs of wanted pages go out in one write each. */
	while (i < pages) {
		size_t start;

		if (!page_wanted(r, i)) {
			local.pages_skipped++;
			i++;
			continue;
		}
		start = i++;
		while (i < pages && page_wanted(r, i))
			i++;
		ret = pwrite_all(fd, (const uint8_t *)r->host + start * SNAP_PAGE,
				 (i - start) * SNAP_PAGE, r->file_off + start * SNAP_PAGE);
		if (ret < 0) {
			ret = err_host(ret);
			break;
		}
		local.pages_written += i - start;
		local.bytes_written += (uint64_t)(i - start) * SNAP_PAGE;
	}
	if (st) {
		st->pages_written += local.pages_written;
		st->pages_skipped += local.pages_skipped;
		st->bytes_written += local.bytes_written;
	}
	return ret;
}

static int check_regions(const char *path, uint64_t file_size, const struct snap_mem_region *rg,
			 size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const struct snap_mem_region *a = &rg[i];

		if (!aligned(a->len) || !aligned(a->file_off) || !aligned((uintptr_t)a->host))
			return say(err, errlen, err_host(-EINVAL),
				   "memory file %s: region %zu is not page-aligned", path, i);
		if (a->file_off > file_size || a->len > file_size - a->file_off)
			return say(err, errlen, err_host(-EINVAL),
				   "memory file %s: region %zu (%zu bytes at %llu) ends past the file's %llu bytes",
				   path, i, a->len, (unsigned long long)a->file_off,
				   (unsigned long long)file_size);
		for (size_t j = 0; j < i; j++) {
			const struct snap_mem_region *b = &rg[j];

			if (a->file_off < b->file_off + b->len && b->file_off < a->file_off + a->len)
				return say(err, errlen, err_host(-EINVAL),
					   "memory file %s: regions %zu and %zu overlap", path, j, i);
		}
	}
	return 0;
}

int snap_mem_save(const char *path, uint64_t file_size, const struct snap_mem_region *regions,
		  size_t n, struct snap_mem_stats *st, char *err, size_t errlen)
{
	char *tmp = NULL;
	int fd = -1, ret;

	ret = check_regions(path, file_size, regions, n, err, errlen);
	if (ret)
		return ret;
	if (file_size > INT64_MAX)
		return say(err, errlen, err_host(-EFBIG), "memory file %s: size too large", path);
	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
		return say(err, errlen, err_host(-ENOMEM), "out of memory");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = err_usage(-errno);
		say(err, errlen, ret, "memory file %s: cannot create a file beside it: %s", path,
		    strerror(-ret));
		free(tmp);
		return ret;
	}
	/* The size first: every page not written below is a hole. */
	if (ftruncate(fd, (off_t)file_size) < 0) {
		ret = err_host(-errno);
		say(err, errlen, ret, "memory file %s: ftruncate to %llu bytes: %s", tmp,
		    (unsigned long long)file_size, strerror(-ret));
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		ret = snap_mem_write(fd, &regions[i], st);
		if (ret < 0) {
			say(err, errlen, ret, "memory file %s: writing region %zu: %s", tmp, i,
			    strerror(-ret));
			goto fail;
		}
	}
	if (fsync(fd) < 0) {
		ret = err_host(-errno);
		say(err, errlen, ret, "memory file %s: fsync: %s", tmp, strerror(-ret));
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		ret = err_usage(-errno);
		say(err, errlen, ret, "memory file %s: rename from %s: %s", path, tmp, strerror(-ret));
		goto fail;
	}
	close(fd);
	free(tmp);
	/* Make the rename durable too. */
	tmp = strdup(path);
	fd = tmp ? open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(tmp);
	return 0;
fail:
	close(fd);
	unlink(tmp);
	free(tmp);
	return ret;
}

int snap_mem_open(const char *path, uint64_t expected_size, char *err, size_t errlen)
{
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);  /* a FIFO must not block: refused below */
	if (fd < 0) {
		ret = err_usage(-errno);
		return say(err, errlen, ret, "memory file %s: %s", path, strerror(-ret));
	}
	if (fstat(fd, &st) < 0) {
		ret = err_host(-errno);
		say(err, errlen, ret, "memory file %s: fstat: %s", path, strerror(-ret));
	} else if (!S_ISREG(st.st_mode)) {
		ret = say(err, errlen, err_usage(-EINVAL), "memory file %s: not a regular file", path);
	} else if ((uint64_t)st.st_size != expected_size) {
		ret = say(err, errlen, err_usage(-EINVAL),
			  "memory file %s: %lld bytes, the snapshot's guest memory is %llu bytes "
			  "(another snapshot's memory file?)", path, (long long)st.st_size,
			  (unsigned long long)expected_size);
	} else {
		return fd;
	}
	close(fd);
	return ret;
}

int snap_mem_map(int fd, uint64_t file_off, void *host, size_t len, char *err, size_t errlen)
{
	struct stat st;
	void *p;

	if (!aligned(file_off) || !aligned(len) || !aligned((uintptr_t)host) || len == 0)
		return say(err, errlen, err_host(-EINVAL),
			   "memory file: mapping %zu bytes at offset %llu is not page-aligned", len,
			   (unsigned long long)file_off);
	if (fstat(fd, &st) < 0)
		return say(err, errlen, err_host(-errno), "memory file: fstat: %s", strerror(errno));
	if (file_off > (uint64_t)st.st_size || len > (uint64_t)st.st_size - file_off)
		return say(err, errlen, err_usage(-EINVAL),
			   "memory file: %zu bytes at offset %llu run past its %lld bytes", len,
			   (unsigned long long)file_off, (long long)st.st_size);
	p = mmap(host, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, (off_t)file_off);
	if (p == MAP_FAILED)
		return say(err, errlen, err_host(-errno), "memory file: mmap %zu bytes: %s", len,
			   strerror(errno));
	return 0;
}

/* Copy [off, end) of DIFF into BASE at the same offset. */
static int copy_range(int base, int diff, uint64_t off, uint64_t end, uint8_t *buf)
{
	while (off < end) {
		size_t want = end - off > MERGE_CHUNK ? MERGE_CHUNK : (size_t)(end - off);
		ssize_t n = pread(diff, buf, want, (off_t)off);
		int ret;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;     /* the file shrank under us */
		ret = pwrite_all(base, buf, (size_t)n, off);
		if (ret < 0)
			return ret;
		off += (uint64_t)n;
	}
	return 0;
}

/* Walk DIFF's data extents; with BUF == NULL only count them (and check their alignment). */
static int walk_data(int base, int diff, uint64_t size, uint8_t *buf, uint64_t *data_bytes)
{
	uint64_t pos = 0;

	*data_bytes = 0;
	while (pos < size) {
		off_t d = lseek(diff, (off_t)pos, SEEK_DATA), h;
		int ret;

		if (d < 0 && errno == ENXIO)
			break;             /* only a hole remains */
		if (d < 0)
			return -errno;
		h = lseek(diff, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		if ((uint64_t)h > size || h <= d)
			return -EIO;
		if (!aligned((uint64_t)d) || (!aligned((uint64_t)h) && (uint64_t)h != size))
			return -EXDEV;     /* extents finer than a page: not a diff mvm wrote */
		*data_bytes += (uint64_t)(h - d);
		if (buf) {
			ret = copy_range(base, diff, (uint64_t)d, (uint64_t)h, buf);
			if (ret < 0)
				return ret;
		}
		pos = (uint64_t)h;
	}
	return 0;
}

int snap_mem_merge(const char *base, const char *diff, struct snap_mem_stats *st,
		   char *err, size_t errlen)
{
	struct stat sb, sd;
	struct statfs fs;
	uint64_t data = 0, copied = 0;
	uint8_t *buf = NULL;
	int bfd, dfd = -1, ret;

	bfd = open(base, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (bfd < 0) {
		ret = err_usage(-errno);
		return say(err, errlen, ret, "base memory file %s: %s", base, strerror(-ret));
	}
	dfd = open(diff, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (dfd < 0) {
		ret = err_usage(-errno);
		say(err, errlen, ret, "diff memory file %s: %s", diff, strerror(-ret));
		goto out;
	}
	if (fstat(bfd, &sb) < 0 || fstat(dfd, &sd) < 0 || fstatfs(dfd, &fs) < 0) {
		ret = err_host(-errno);
		say(err, errlen, ret, "merge %s into %s: fstat: %s", diff, base, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || !S_ISREG(sd.st_mode)) {
		ret = say(err, errlen, err_usage(-EINVAL), "merge %s into %s: both must be regular files",
			  diff, base);
		goto out;
	}
	if (sb.st_dev == sd.st_dev && sb.st_ino == sd.st_ino) {
		ret = say(err, errlen, err_usage(-EINVAL), "merge %s into %s: the same file", diff, base);
		goto out;
	}
	if (sb.st_size != sd.st_size) {
		ret = say(err, errlen, err_usage(-EINVAL),
			  "merge %s (%lld bytes) into %s (%lld bytes): sizes differ, not a diff of this base",
			  diff, (long long)sd.st_size, base, (long long)sb.st_size);
		goto out;
	}
	/* A block larger than a page would report clean pages beside dirty ones as data. */
	if (fs.f_bsize > SNAP_PAGE) {
		ret = say(err, errlen, err_usage(-EXDEV),
			  "diff memory file %s: its file system's %ld-byte blocks are coarser than a page",
			  diff, (long)fs.f_bsize);
		goto out;
	}
	/* Count first, change nothing: a file system that reports holes as data is caught here. */
	ret = walk_data(bfd, dfd, (uint64_t)sd.st_size, NULL, &data);
	if (ret == 0 && data > (uint64_t)sd.st_blocks * 512)
		ret = -EXDEV;
	if (ret < 0) {
		ret = err_usage(ret);
		say(err, errlen, ret, "diff memory file %s: %s", diff,
		    ret == -EXDEV ? "its holes cannot be told from its data (SEEK_DATA/SEEK_HOLE)"
				  : strerror(-ret));
		goto out;
	}
	buf = malloc(MERGE_CHUNK);
	if (!buf) {
		ret = say(err, errlen, err_host(-ENOMEM), "out of memory");
		goto out;
	}
	ret = walk_data(bfd, dfd, (uint64_t)sd.st_size, buf, &copied);
	if (ret == 0 && fsync(bfd) < 0)
		ret = -errno;
	if (ret < 0) {
		ret = err_host(ret);
		say(err, errlen, ret, "merge %s into %s: %s (the base may be partly merged)", diff, base,
		    strerror(-ret));
		goto out;
	}
	if (st) {
		st->bytes_written += copied;
		st->pages_written += copied / SNAP_PAGE;
		st->pages_skipped += ((uint64_t)sd.st_size - copied) / SNAP_PAGE;
	}
out:
	free(buf);
	if (dfd >= 0)
		close(dfd);
	close(bfd);
	return ret;
}
