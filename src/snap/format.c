/* format.c - snapshot state file: writer (temp file + rename) and checked reader (format.h). */
#include "snap/format.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Header offsets (docs/snapshot-format.md). */
#define H_MAGIC     0
#define H_FORMAT    8
#define H_FLAGS     12
#define H_VERSION   16
#define H_VENDOR    48
#define H_RESERVED  60
/* Section header offsets. */
#define S_NAME      0
#define S_VERSION   16
#define S_CRC       20
#define S_LEN       24
/* End marker offsets. */
#define E_MAGIC     0
#define E_COUNT     8
#define E_RES0      12
#define E_LENGTH    16
#define E_RES1      24
#define E_CRC       28

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* zlib's crc32 takes a uInt length: feed it in pieces so a size_t never truncates. */
static uint32_t crc_update(uint32_t crc, const void *data, size_t len)
{
	const Bytef *p = data;

	while (len) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

		crc = (uint32_t)crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return crc;
}

static size_t pad_of(uint64_t len)
{
	return (size_t)((SNAP_ALIGN - len % SNAP_ALIGN) % SNAP_ALIGN);
}

bool snap_name_valid(const char *name)
{
	size_t n = name ? strnlen(name, SNAP_NAME_LEN + 1) : 0;

	if (n == 0 || n > SNAP_NAME_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* ---- writer ---- */

static int wfail(struct snap_writer *w, int ret, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->error)
		return w->error;
	n = snprintf(w->msg, sizeof(w->msg), "snapshot %s: ", w->path ? w->path : "(none)");
	if (n < 0 || (size_t)n >= sizeof(w->msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(w->msg + n, sizeof(w->msg) - n, fmt, ap);
	va_end(ap);
	w->error = ret;
	return ret;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* An in-memory writer's append: the buffer doubles (a migration's state is
 * ~40 KB per vCPU; the first growth covers one). No syscall, no copy at take. */
static int mem_append(struct snap_writer *w, const void *buf, size_t len)
{
	if (w->off + len > w->mem_cap) {
		size_t cap = w->mem_cap ? w->mem_cap : 64 * 1024;
		uint8_t *grown;

		while (cap < w->off + len)
			cap *= 2;
		if (!(grown = realloc(w->mem, cap)))
			return -ENOMEM;
		w->mem = grown;
		w->mem_cap = cap;
	}
	memcpy(w->mem + w->off, buf, len);
	return 0;
}

static int wwrite(struct snap_writer *w, const void *buf, size_t len, bool table)
{
	int ret;

	if (w->error)
		return w->error;
	ret = w->in_memory ? mem_append(w, buf, len) : write_all(w->fd, buf, len);
	if (ret < 0 && w->in_memory)
		return wfail(w, err_host(ret), "out of memory");
	if (ret < 0)
		return wfail(w, err_host(ret), "write to %s: %s", w->tmp, strerror(-ret));
	w->off += len;
	if (table)
		w->table_crc = crc_update(w->table_crc, buf, len);
	return 0;
}

static void writer_free(struct snap_writer *w);

static int writer_start(struct snap_writer *w, const char *path, const struct snap_header_info *info,
			bool in_memory)
{
	uint8_t h[SNAP_HEADER_SIZE] = { 0 };
	size_t vlen;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->path = strdup(path ? path : "");
	if (!w->path)
		return wfail(w, err_host(-ENOMEM), "out of memory");
	if (!path || !*path)
		return wfail(w, err_usage(-EINVAL), "no path given");
	vlen = info->mvm_version ? strnlen(info->mvm_version, SNAP_VERSION_LEN) : 0;
	if (vlen == 0 || vlen >= SNAP_VERSION_LEN)
		return wfail(w, err_host(-EINVAL), "the mvm version string must be 1 to %u bytes",
			     SNAP_VERSION_LEN - 1);
	if (info->flags & ~SNAP_F_KNOWN)
		return wfail(w, err_host(-EINVAL), "unknown header flags 0x%x", info->flags & ~SNAP_F_KNOWN);
	/* In memory: no file; the caller takes the bytes (snap_writer_take). */
	w->in_memory = in_memory;
	if (!in_memory) {
		if (asprintf(&w->tmp, "%s.tmp-XXXXXX", path) < 0) {
			w->tmp = NULL;
			return wfail(w, err_host(-ENOMEM), "out of memory");
		}
		/* mkostemp creates the file 0600 with O_EXCL: a name no one else holds. */
		w->fd = mkostemp(w->tmp, O_CLOEXEC);
		if (w->fd < 0) {
			int ret = -errno;

			free(w->tmp);
			w->tmp = NULL;
			return wfail(w, err_usage(ret), "cannot create a file beside it: %s",
				     strerror(-ret));
		}
	}
	memcpy(h + H_MAGIC, SNAP_MAGIC, 8);
	put32(h + H_FORMAT, SNAP_FORMAT_VERSION);
	put32(h + H_FLAGS, info->flags);
	memcpy(h + H_VERSION, info->mvm_version, vlen);
	memcpy(h + H_VENDOR, info->cpu_vendor, SNAP_VENDOR_LEN);
	w->table_crc = (uint32_t)crc32(0, Z_NULL, 0);
	return wwrite(w, h, sizeof(h), true);
}

int snap_writer_open(struct snap_writer *w, const char *path, const struct snap_header_info *info)
{
	int ret = writer_start(w, path, info, false);

	/* Nothing to abort after a failed open; snap_writer_msg() still says why. */
	if (ret)
		writer_free(w);
	return ret;
}

int snap_write_section(struct snap_writer *w, const char *name, uint32_t version,
		       const void *data, size_t len)
{
	static const uint8_t zeros[SNAP_ALIGN];
	uint8_t s[SNAP_SECTION_HDR] = { 0 };
	uint64_t total;
	void *grown;
	int ret;

	if (w->error)
		return w->error;
	if (!snap_name_valid(name))
		return wfail(w, err_host(-EINVAL), "invalid section name '%.*s'", (int)SNAP_NAME_LEN,
			     name ? name : "");
	for (uint32_t i = 0; i < w->nsec; i++)
		if (!strncmp(w->names[i], name, SNAP_NAME_LEN))
			return wfail(w, err_host(-EEXIST), "section '%s' written twice", name);
	if (w->nsec >= SNAP_MAX_SECTIONS)
		return wfail(w, err_host(-E2BIG), "more than %u sections", SNAP_MAX_SECTIONS);
	/* Never write a file a reader would refuse for its size. */
	total = w->off + SNAP_SECTION_HDR + (uint64_t)len + pad_of(len) + SNAP_END_SIZE;
	if (len > SNAP_MAX_FILE || total > SNAP_MAX_FILE)
		return wfail(w, err_host(-EFBIG), "section '%s' (%zu bytes) takes the file past %llu MiB",
			     name, len, SNAP_MAX_FILE >> 20);
	if (len && !data)
		return wfail(w, err_host(-EINVAL), "section '%s' has no data", name);
	grown = realloc(w->names, (w->nsec + 1) * sizeof(*w->names));
	if (!grown)
		return wfail(w, err_host(-ENOMEM), "out of memory");
	w->names = grown;
	strncpy(w->names[w->nsec], name, SNAP_NAME_LEN);

	memcpy(s + S_NAME, name, strnlen(name, SNAP_NAME_LEN));
	put32(s + S_VERSION, version);
	put32(s + S_CRC, crc_update((uint32_t)crc32(0, Z_NULL, 0), data, len));
	put64(s + S_LEN, len);
	ret = wwrite(w, s, sizeof(s), true);
	if (!ret && len)
		ret = wwrite(w, data, len, false);
	if (!ret && pad_of(len))
		ret = wwrite(w, zeros, pad_of(len), false);
	if (!ret)
		w->nsec++;
	return ret;
}

static void writer_free(struct snap_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->tmp)
		unlink(w->tmp);
	free(w->tmp);
	free(w->path);
	free(w->names);
	free(w->mem);
	w->tmp = w->path = NULL;
	w->names = NULL;
	w->mem = NULL;
	w->mem_cap = 0;
}

/* Make the rename itself durable: fsync the folder holding PATH. */
static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, ret = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return ret;
}

int snap_writer_commit(struct snap_writer *w)
{
	uint8_t e[SNAP_END_SIZE] = { 0 };
	int ret;

	if (w->error)
		goto out;
	memcpy(e + E_MAGIC, SNAP_END_MAGIC, 8);
	put32(e + E_COUNT, w->nsec);
	put64(e + E_LENGTH, w->off + SNAP_END_SIZE);
	put32(e + E_CRC, crc_update(w->table_crc, e, E_CRC));
	if (wwrite(w, e, sizeof(e), false))
		goto out;
	if (fsync(w->fd) < 0) {
		ret = -errno;
		wfail(w, err_host(ret), "fsync %s: %s", w->tmp, strerror(-ret));
		goto out;
	}
	ret = close(w->fd);
	w->fd = -1;
	if (ret < 0) {
		ret = -errno;
		wfail(w, err_host(ret), "close %s: %s", w->tmp, strerror(-ret));
		goto out;
	}
	if (rename(w->tmp, w->path) < 0) {
		ret = -errno;
		wfail(w, err_usage(ret), "rename %s to it: %s", w->tmp, strerror(-ret));
		goto out;
	}
	free(w->tmp);
	w->tmp = NULL;
	ret = fsync_dir_of(w->path);
	if (ret < 0)
		wfail(w, err_host(ret), "fsync of its folder: %s", strerror(-ret));
out:
	ret = w->error;
	writer_free(w);
	return ret;
}

int snap_writer_open_mem(struct snap_writer *w, const char *name,
			 const struct snap_header_info *info)
{
	int ret = writer_start(w, name, info, true);

	if (ret)
		writer_free(w);
	return ret;
}

int snap_writer_take(struct snap_writer *w, uint8_t **buf, size_t *len)
{
	uint8_t e[SNAP_END_SIZE] = { 0 };
	uint8_t *out = NULL;
	size_t got = 0;
	int ret;

	*buf = NULL;
	*len = 0;
	if (w->error)
		goto out;
	memcpy(e + E_MAGIC, SNAP_END_MAGIC, 8);
	put32(e + E_COUNT, w->nsec);
	put64(e + E_LENGTH, w->off + SNAP_END_SIZE);
	put32(e + E_CRC, crc_update(w->table_crc, e, E_CRC));
	if (wwrite(w, e, sizeof(e), false))
		goto out;
	/* The buffer is the caller's now (writer_free leaves it). */
	out = w->mem;
	got = w->off;
	w->mem = NULL;
	w->mem_cap = 0;
	*buf = out;
	*len = got;
out:
	ret = w->error;
	writer_free(w);
	return ret;
}

void snap_writer_abort(struct snap_writer *w)
{
	writer_free(w);
}

const char *snap_writer_msg(const struct snap_writer *w)
{
	return w->msg;
}

/* ---- reader ---- */

static int rfail(const struct snap_reader *r, char *err, size_t errlen, int ret,
		 const struct snap_section *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !errlen)
		return err_usage(ret);
	if (s)
		n = snprintf(err, errlen, "snapshot %s: section '%s' (at byte %llu): ", r->path,
			     s->name, (unsigned long long)s->offset);
	else
		n = snprintf(err, errlen, "snapshot %s: ", r->path);
	if (n < 0 || (size_t)n >= errlen)
		return err_usage(ret);
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return err_usage(ret);
}

static int parse_header(struct snap_reader *r, char *err, size_t errlen)
{
	const uint8_t *h = r->buf;
	struct snap_header *hd = &r->hdr;

	if (r->size == 0)
		return rfail(r, err, errlen, -EINVAL, NULL, "empty file");
	if (memcmp(h + H_MAGIC, SNAP_MAGIC, r->size < 8 ? r->size : 8))
		return rfail(r, err, errlen, -EINVAL, NULL, "not an mvm snapshot (bad magic)");
	if (r->size < SNAP_HEADER_SIZE)
		return rfail(r, err, errlen, -EINVAL, NULL, "truncated: %zu bytes, shorter than the header",
			     r->size);
	hd->format_version = get32(h + H_FORMAT);
	if (hd->format_version != SNAP_FORMAT_VERSION)
		return rfail(r, err, errlen, -EPROTO, NULL,
			     "format version %u; this mvm reads version %u only", hd->format_version,
			     SNAP_FORMAT_VERSION);
	if (r->size < SNAP_HEADER_SIZE + SNAP_END_SIZE)
		return rfail(r, err, errlen, -EINVAL, NULL, "truncated: %zu bytes, no room for the end marker",
			     r->size);
	/* The end marker comes first: a truncated file is named as such, not as a bad section. */
	const uint8_t *e = r->buf + r->size - SNAP_END_SIZE;

	if (memcmp(e + E_MAGIC, SNAP_END_MAGIC, 8) || get64(e + E_LENGTH) != r->size)
		return rfail(r, err, errlen, -EINVAL, NULL,
			     "truncated or unfinished: no end marker at the end of its %zu bytes", r->size);
	hd->flags = get32(h + H_FLAGS);
	if (hd->flags & ~SNAP_F_KNOWN)
		return rfail(r, err, errlen, -EPROTO, NULL, "unknown header flags 0x%x",
			     hd->flags & ~SNAP_F_KNOWN);
	if (!memchr(h + H_VERSION, 0, SNAP_VERSION_LEN) || !h[H_VERSION])
		return rfail(r, err, errlen, -EINVAL, NULL, "the mvm version field is not a string");
	memcpy(hd->mvm_version, h + H_VERSION, SNAP_VERSION_LEN);
	memcpy(hd->cpu_vendor, h + H_VENDOR, SNAP_VENDOR_LEN);
	hd->cpu_vendor[SNAP_VENDOR_LEN] = 0;
	if (get32(h + H_RESERVED))
		return rfail(r, err, errlen, -EINVAL, NULL, "reserved header field is not zero");
	return 0;
}

/* One section header at OFF: checked against the bytes there are, its CRC and padding. */
static int parse_section(struct snap_reader *r, uint64_t off, uint64_t end, struct snap_section *s,
			 char *err, size_t errlen)
{
	const uint8_t *p = r->buf + off;
	uint32_t crc;
	size_t pad;

	memset(s, 0, sizeof(*s));
	s->offset = off;
	memcpy(s->name, p + S_NAME, SNAP_NAME_LEN);
	s->version = get32(p + S_VERSION);
	s->len = get64(p + S_LEN);
	/* NUL padding only: one name has one spelling. */
	for (size_t i = strnlen(s->name, SNAP_NAME_LEN); i < SNAP_NAME_LEN; i++)
		if (p[S_NAME + i])
			goto bad_name;
	if (!snap_name_valid(s->name))
		goto bad_name;
	/* Compared without ever adding the untrusted length to an offset first. */
	if (s->len > end - off - SNAP_SECTION_HDR)
		return rfail(r, err, errlen, -EINVAL, s,
			     "length %llu runs past the end of the file (%llu bytes left)",
			     (unsigned long long)s->len,
			     (unsigned long long)(end - off - SNAP_SECTION_HDR));
	pad = pad_of(s->len);
	if (pad > end - off - SNAP_SECTION_HDR - s->len)
		return rfail(r, err, errlen, -EINVAL, s, "padding runs past the end of the file");
	s->data = p + SNAP_SECTION_HDR;
	for (size_t i = 0; i < pad; i++)
		if (s->data[s->len + i])
			return rfail(r, err, errlen, -EINVAL, s, "padding after the payload is not zero");
	crc = crc_update((uint32_t)crc32(0, Z_NULL, 0), s->data, s->len);
	if (crc != get32(p + S_CRC))
		return rfail(r, err, errlen, -EBADMSG, s,
			     "checksum mismatch (stored %08x, computed %08x): the file is corrupted",
			     get32(p + S_CRC), crc);
	return 0;
bad_name:
	snprintf(s->name, sizeof(s->name), "?");
	return rfail(r, err, errlen, -EINVAL, s, "invalid section name");
}

static int parse_sections(struct snap_reader *r, char *err, size_t errlen)
{
	uint64_t end = r->size - SNAP_END_SIZE, off = SNAP_HEADER_SIZE;
	const uint8_t *e = r->buf + end;
	uint32_t crc = crc_update((uint32_t)crc32(0, Z_NULL, 0), r->buf, SNAP_HEADER_SIZE);
	uint32_t count = get32(e + E_COUNT);
	int ret;

	if (count > SNAP_MAX_SECTIONS)
		return rfail(r, err, errlen, -EINVAL, NULL, "end marker claims %u sections (at most %u)",
			     count, SNAP_MAX_SECTIONS);
	/* Never more sections than whole section headers fit. */
	if (count > (end - off) / SNAP_SECTION_HDR)
		return rfail(r, err, errlen, -EINVAL, NULL,
			     "end marker claims %u sections; the file has room for %llu", count,
			     (unsigned long long)((end - off) / SNAP_SECTION_HDR));
	r->sec = calloc(count ? count : 1, sizeof(*r->sec));
	if (!r->sec)
		return err_host(-ENOMEM);
	while (off < end) {
		struct snap_section *s = &r->sec[r->nsec];

		if (r->nsec == count)
			return rfail(r, err, errlen, -EINVAL, NULL,
				     "%llu bytes after the %u sections the end marker counts",
				     (unsigned long long)(end - off), count);
		if (end - off < SNAP_SECTION_HDR)
			return rfail(r, err, errlen, -EINVAL, NULL,
				     "%llu stray bytes at byte %llu, too few for a section header",
				     (unsigned long long)(end - off), (unsigned long long)off);
		ret = parse_section(r, off, end, s, err, errlen);
		if (ret)
			return ret;
		for (uint32_t i = 0; i < r->nsec; i++)
			if (!strcmp(r->sec[i].name, s->name))
				return rfail(r, err, errlen, -EINVAL, s, "duplicate section (first at byte %llu)",
					     (unsigned long long)r->sec[i].offset);
		crc = crc_update(crc, r->buf + off, SNAP_SECTION_HDR);
		off += SNAP_SECTION_HDR + s->len + pad_of(s->len);
		r->nsec++;
	}
	if (r->nsec != count)
		return rfail(r, err, errlen, -EINVAL, NULL, "end marker counts %u sections, the file has %u",
			     count, r->nsec);
	if (get32(e + E_RES0) || get32(e + E_RES1))
		return rfail(r, err, errlen, -EINVAL, NULL, "reserved end marker field is not zero");
	crc = crc_update(crc, e, E_CRC);
	if (crc != get32(e + E_CRC))
		return rfail(r, err, errlen, -EBADMSG, NULL,
			     "header or section table checksum mismatch (stored %08x, computed %08x): "
			     "the file is corrupted", get32(e + E_CRC), crc);
	return 0;
}

int snap_reader_parse(struct snap_reader *r, const void *buf, size_t len, const char *name,
		      char *err, size_t errlen)
{
	int ret;

	memset(r, 0, sizeof(*r));
	if (err && errlen)
		err[0] = 0;
	r->path = strdup(name ? name : "(buffer)");
	if (!r->path)
		return err_host(-ENOMEM);
	r->buf = (uint8_t *)buf;
	r->size = len;
	if (len > SNAP_MAX_FILE)
		ret = rfail(r, err, errlen, -EFBIG, NULL, "%zu bytes, larger than the %llu MiB a state file may be",
			    len, SNAP_MAX_FILE >> 20);
	else
		ret = parse_header(r, err, errlen);
	if (!ret)
		ret = parse_sections(r, err, errlen);
	if (ret)
		snap_reader_close(r);
	return ret;
}

int snap_reader_open(struct snap_reader *r, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd, ret;

	memset(r, 0, sizeof(*r));
	r->path = (char *)path;    /* for rfail() until parse takes its own copy */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);  /* a FIFO must not block: refused below */
	if (fd < 0) {
		ret = -errno;
		rfail(r, err, errlen, ret, NULL, "%s", strerror(-ret));
		memset(r, 0, sizeof(*r));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = err_host(-errno);
		rfail(r, err, errlen, ret, NULL, "fstat: %s", strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = rfail(r, err, errlen, -EINVAL, NULL, "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size > SNAP_MAX_FILE) {
		ret = rfail(r, err, errlen, -EFBIG, NULL,
			    "%lld bytes, larger than the %llu MiB a state file may be",
			    (long long)st.st_size, SNAP_MAX_FILE >> 20);
		goto out;
	}
	/* One byte more than the size: a file that grew meanwhile is seen, not cut. */
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = err_host(-ENOMEM);
		rfail(r, err, errlen, ret, NULL, "out of memory for %lld bytes", (long long)st.st_size);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = err_host(-errno);
			rfail(r, err, errlen, ret, NULL, "read: %s", strerror(-ret));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > (size_t)st.st_size) {
			ret = err_host(-EAGAIN);
			rfail(r, err, errlen, ret, NULL, "the file grew while it was read");
			goto out;
		}
	}
	ret = snap_reader_parse(r, buf, got, path, err, errlen);
	if (!ret) {
		r->own_buf = true;
		buf = NULL;
	}
out:
	if (ret)
		memset(r, 0, sizeof(*r));
	free(buf);
	close(fd);
	return ret;
}

void snap_reader_close(struct snap_reader *r)
{
	if (r->own_buf)
		free(r->buf);
	free(r->sec);
	free(r->path);
	memset(r, 0, sizeof(*r));
}

int snap_find(struct snap_reader *r, const char *name, uint32_t *version,
	      const void **data, size_t *len)
{
	for (uint32_t i = 0; i < r->nsec; i++) {
		struct snap_section *s = &r->sec[i];

		if (strncmp(s->name, name, sizeof(s->name)))
			continue;
		s->claimed = true;
		if (version)
			*version = s->version;
		if (data)
			*data = s->data;
		if (len)
			*len = (size_t)s->len;
		return 0;
	}
	return -ENOENT;
}

const struct snap_section *snap_reader_unclaimed(const struct snap_reader *r)
{
	for (uint32_t i = 0; i < r->nsec; i++)
		if (!r->sec[i].claimed)
			return &r->sec[i];
	return NULL;
}
