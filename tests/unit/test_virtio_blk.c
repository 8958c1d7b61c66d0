/* test_virtio_blk.c - virtio-blk: the request validator on crafted chains,
 * image opening and locking, and end-to-end requests through the mmio
 * transport on a crafted ring in fake guest memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/memory.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"

/* ---- log capture ---- */

static char last_msg[512];

static void keep_sink(enum log_level l, const char *msg, void *ctx)
{
	(void)ctx;
	if (l <= LOG_WARN)
		snprintf(last_msg, sizeof(last_msg), "%s", msg);
}

/* ---- parser tests: chains over host buffers ---- */

static void ch_out(struct vq_chain *c, void *p, size_t len)
{
	c->iov[c->nr_out].iov_base = p;
	c->iov[c->nr_out].iov_len = len;
	c->nr_out++;
	c->out_len += (uint32_t)len;
}

static void ch_in(struct vq_chain *c, void *p, size_t len)
{
	c->iov[c->nr_out + c->nr_in].iov_base = p;
	c->iov[c->nr_out + c->nr_in].iov_len = len;
	c->nr_in++;
	c->in_len += (uint32_t)len;
}

static void mkhdr(uint8_t *h, uint32_t type, uint64_t sector)
{
	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
}

static void mkseg(uint8_t *s, uint64_t sector, uint32_t n, uint32_t flags)
{
	memcpy(s, &sector, 8);
	memcpy(s + 8, &n, 4);
	memcpy(s + 12, &flags, 4);
}

#define CAP 2048 /* sectors: 1 MiB */

static struct vq_chain *chain_new(void)
{
	struct vq_chain *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	return c;
}

static struct virtio_blk_req req;

/* header + data (direction by type) + status; returns the parse result. */
static int parse_simple(uint32_t type, uint64_t sector, uint8_t *data, size_t len,
			bool data_writable, bool ro, uint8_t *status)
{
	struct vq_chain *c = chain_new();
	uint8_t hdr[16];
	int r;

	mkhdr(hdr, type, sector);
	ch_out(c, hdr, 16);
	if (len && !data_writable)
		ch_out(c, data, len);
	if (len && data_writable)
		ch_in(c, data, len);
	ch_in(c, status, 1);
	r = virtio_blk_req_parse(c, CAP, ro, &req);
	free(c);
	return r;
}

static void test_parse_in_out(void **state)
{
	static uint8_t buf[1024];
	uint8_t st;

	(void)state;
	assert_int_equal(parse_simple(VIRTIO_BLK_T_IN, 7, buf, 1024, true, false, &st), VIRTIO_BLK_S_OK);
	assert_int_equal(req.type, VIRTIO_BLK_T_IN);
	assert_int_equal(req.sector, 7);
	assert_int_equal(req.nr_sectors, 2);
	assert_int_equal(req.data_len, 1024);
	assert_int_equal(req.nr_data, 1);
	assert_ptr_equal(req.data[0].iov_base, buf);
	assert_ptr_equal(req.status, &st);

	assert_int_equal(parse_simple(VIRTIO_BLK_T_OUT, 9, buf, 512, false, false, &st), VIRTIO_BLK_S_OK);
	assert_int_equal(req.type, VIRTIO_BLK_T_OUT);
	assert_int_equal(req.nr_sectors, 1);
	assert_ptr_equal(req.data[0].iov_base, buf);
	/* Reads are fine on a read-only disk. */
	assert_int_equal(parse_simple(VIRTIO_BLK_T_IN, 0, buf, 512, true, true, &st), VIRTIO_BLK_S_OK);
}

/* Data and status share one writable descriptor; header and OUT data share a readable one. */
static void test_parse_shared_descriptors(void **state)
{
	static uint8_t buf[16 + 1024 + 1];
	struct vq_chain *c = chain_new();

	(void)state;
	mkhdr(buf, VIRTIO_BLK_T_IN, 3);
	ch_out(c, buf, 16);
	ch_in(c, buf + 16, 1025);
	assert_int_equal(virtio_blk_req_parse(c, CAP, false, &req), VIRTIO_BLK_S_OK);
	assert_int_equal(req.data_len, 1024);
	assert_ptr_equal(req.status, buf + 16 + 1024);

	memset(c, 0, sizeof(*c));
	mkhdr(buf, VIRTIO_BLK_T_OUT, 3);
	ch_out(c, buf, 16 + 512);
	ch_in(c, buf + 600, 1);
	assert_int_equal(virtio_blk_req_parse(c, CAP, false, &req), VIRTIO_BLK_S_OK);
	assert_int_equal(req.nr_data, 1);
	assert_ptr_equal(req.data[0].iov_base, buf + 16);
	assert_int_equal(req.data[0].iov_len, 512);
	free(c);
}

/* One 16 MiB buffer named 254 times asks for ~4 GiB in one request (more
 * than 32 bits of length); anything past seg_max * size_max is refused. */
static void test_parse_request_too_big(void **state)
{
	static uint8_t hdr[16], st;
	uint8_t *big = malloc(16u << 20);
	struct vq_chain *c = chain_new();
	size_t left = VIRTIO_BLK_REQ_MAX_BYTES;

	(void)state;
	assert_non_null(big);
	mkhdr(hdr, VIRTIO_BLK_T_IN, 0);
	ch_out(c, hdr, 16);
	for (int i = 0; i < 254; i++)
		ch_in(c, big, 16u << 20);
	ch_in(c, &st, 1);
	assert_int_equal(virtio_blk_req_parse(c, 1ull << 40, false, &req), VIRTIO_BLK_S_IOERR);

	/* Exactly the limit is served; one sector more is not. */
	memset(c, 0, sizeof(*c));
	ch_out(c, hdr, 16);
	while (left) {
		size_t n = left < VIRTIO_BLK_SIZE_MAX ? left : VIRTIO_BLK_SIZE_MAX;

		ch_in(c, big, n);
		left -= n;
	}
	ch_in(c, &st, 1);
	assert_int_equal(virtio_blk_req_parse(c, 1ull << 40, false, &req), VIRTIO_BLK_S_OK);
	assert_int_equal(req.data_len, VIRTIO_BLK_REQ_MAX_BYTES);
	memset(c, 0, sizeof(*c));
	ch_out(c, hdr, 16);
	ch_in(c, big, VIRTIO_BLK_REQ_MAX_BYTES + 512);
	ch_in(c, &st, 1);
	assert_int_equal(virtio_blk_req_parse(c, 1ull << 40, false, &req), VIRTIO_BLK_S_IOERR);
	free(big);
	free(c);
}

static void test_parse_split_header(void **state)
{
	uint8_t hdr[16], a[5], b[7], d[4], data[512], st;
	struct vq_chain *c = chain_new();

	(void)state;
	mkhdr(hdr, VIRTIO_BLK_T_IN, 0x345);
	memcpy(a, hdr, 5);
	memcpy(b, hdr + 5, 7);
	memcpy(d, hdr + 12, 4);
	ch_out(c, a, 5);
	ch_out(c, b, 7);
	ch_out(c, d, 4);
	ch_in(c, data, 256);
	ch_in(c, data + 256, 256);
	ch_in(c, &st, 1);
	assert_int_equal(virtio_blk_req_parse(c, CAP, false, &req), VIRTIO_BLK_S_OK);
	assert_int_equal(req.type, VIRTIO_BLK_T_IN);
	assert_int_equal(req.sector, 0x345);
	assert_int_equal(req.nr_data, 2);
	assert_int_equal(req.data_len, 512);
	free(c);
}

static void test_parse_no_status(void **state)
{
	uint8_t hdr[16], data[512];
	struct vq_chain *c = chain_new();

	(void)state;
	/* No writable descriptor at all. */
	mkhdr(hdr, VIRTIO_BLK_T_FLUSH, 0);
	ch_out(c, hdr, 16);
	assert_int_equal(virtio_blk_req_parse(c, CAP, false, &req), -EINVAL);
	assert_null(req.status);
	/* Only zero-length writable descriptors. */
	ch_in(c, data, 0);
	assert_int_equal(virtio_blk_req_parse(c, CAP, false, &req), -EINVAL);
	free(c);
}

static void test_parse_status_readable(void **state)
{
	uint8_t hdr[16], data[512], st = 0x55;
	struct vq_chain *c = chain_new();

	(void)state;
	mkhdr(hdr, VIRTIO_BLK_T_OUT, 0);
	ch_out(c, hdr, 16);
	ch_out(c, data, 512);
	ch_out(c, &st, 1);
	assert_int_equal(virtio_blk_req_parse(c, CAP, false, &req), -EINVAL);
	assert_int_equal(st, 0x55);
	free(c);
}

static void test_parse_short_header(void **state)
{
	uint8_t hdr[16], st;
	struct vq_chain *c = chain_new();

	(void)state;
	mkhdr(hdr, VIRTIO_BLK_T_FLUSH, 0);
	ch_out(c, hdr, 15);
	ch_in(c, &st, 1);
	assert_int_equal(virtio_blk_req_parse(c, CAP, false, &req), -EINVAL);
	free(c);
}

/* A zero-length trailing writable descriptor: the status is the byte before it. */
static void test_parse_zero_len_tail(void **state)
{
	uint8_t hdr[16], data[513];
	struct vq_chain *c = chain_new();

	(void)state;
	mkhdr(hdr, VIRTIO_BLK_T_IN, 0);
	ch_out(c, hdr, 16);
	ch_in(c, data, 513);
	ch_in(c, data, 0);
	assert_int_equal(virtio_blk_req_parse(c, CAP, false, &req), VIRTIO_BLK_S_OK);
	assert_ptr_equal(req.status, data + 512);
	assert_int_equal(req.data_len, 512);
	free(c);
}

static void test_parse_unaligned_and_empty(void **state)
{
	static uint8_t buf[1024];
	uint8_t st;

	(void)state;
	assert_int_equal(parse_simple(VIRTIO_BLK_T_IN, 0, buf, 1000, true, false, &st), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_simple(VIRTIO_BLK_T_OUT, 0, buf, 513, false, false, &st), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_simple(VIRTIO_BLK_T_IN, 0, buf, 0, true, false, &st), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_simple(VIRTIO_BLK_T_OUT, 0, buf, 0, false, false, &st), VIRTIO_BLK_S_IOERR);
}

static void test_parse_range(void **state)
{
	static uint8_t buf[1024];
	uint8_t st;

	(void)state;
	/* Last two sectors: fine; one further: past the end. */
	assert_int_equal(parse_simple(VIRTIO_BLK_T_IN, CAP - 2, buf, 1024, true, false, &st), VIRTIO_BLK_S_OK);
	assert_int_equal(parse_simple(VIRTIO_BLK_T_IN, CAP - 1, buf, 1024, true, false, &st), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_simple(VIRTIO_BLK_T_OUT, CAP, buf, 512, false, false, &st), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_simple(VIRTIO_BLK_T_OUT, 1ULL << 60, buf, 512, false, false, &st), VIRTIO_BLK_S_IOERR);
}

static void test_parse_overflow(void **state)
{
	static uint8_t buf[1024];
	uint8_t st;

	(void)state;
	/* sector + 2 wraps to 0: must not look "inside" the disk. */
	assert_int_equal(parse_simple(VIRTIO_BLK_T_IN, UINT64_MAX - 1, buf, 1024, true, false, &st),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_simple(VIRTIO_BLK_T_OUT, UINT64_MAX, buf, 512, false, false, &st),
			 VIRTIO_BLK_S_IOERR);
}

static void test_parse_read_only(void **state)
{
	static uint8_t buf[512];
	uint8_t hdr[16], seg[16], st;
	struct vq_chain *c = chain_new();

	(void)state;
	assert_int_equal(parse_simple(VIRTIO_BLK_T_OUT, 0, buf, 512, false, true, &st), VIRTIO_BLK_S_IOERR);
	mkhdr(hdr, VIRTIO_BLK_T_DISCARD, 0);
	mkseg(seg, 0, 8, 0);
	ch_out(c, hdr, 16);
	ch_out(c, seg, 16);
	ch_in(c, &st, 1);
	assert_int_equal(virtio_blk_req_parse(c, CAP, true, &req), VIRTIO_BLK_S_IOERR);
	mkhdr(hdr, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	assert_int_equal(virtio_blk_req_parse(c, CAP, true, &req), VIRTIO_BLK_S_IOERR);
	/* Flush is harmless on a read-only disk. */
	assert_int_equal(parse_simple(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, true, &st), VIRTIO_BLK_S_OK);
	free(c);
}

static void test_parse_wrong_direction(void **state)
{
	static uint8_t buf[512], wbuf[512];
	uint8_t hdr[16], st;
	struct vq_chain *c = chain_new();

	(void)state;
	/* IN whose data is device-readable. */
	assert_int_equal(parse_simple(VIRTIO_BLK_T_IN, 0, buf, 512, false, false, &st), VIRTIO_BLK_S_IOERR);
	/* OUT whose data is device-writable. */
	assert_int_equal(parse_simple(VIRTIO_BLK_T_OUT, 0, buf, 512, true, false, &st), VIRTIO_BLK_S_IOERR);
	/* OUT with readable data and extra writable bytes before the status. */
	mkhdr(hdr, VIRTIO_BLK_T_OUT, 0);
	ch_out(c, hdr, 16);
	ch_out(c, buf, 512);
	ch_in(c, wbuf, 512);
	ch_in(c, &st, 1);
	assert_int_equal(virtio_blk_req_parse(c, CAP, false, &req), VIRTIO_BLK_S_IOERR);
	free(c);
}

static void test_parse_flush_get_id(void **state)
{
	uint8_t id[20], st;

	(void)state;
	assert_int_equal(parse_simple(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, false, &st), VIRTIO_BLK_S_OK);
	assert_int_equal(req.type, VIRTIO_BLK_T_FLUSH);
	assert_ptr_equal(req.status, &st);
	assert_int_equal(parse_simple(VIRTIO_BLK_T_GET_ID, 0, id, 20, true, false, &st), VIRTIO_BLK_S_OK);
	assert_int_equal(req.type, VIRTIO_BLK_T_GET_ID);
	assert_int_equal(req.data_len, 20);
	assert_ptr_equal(req.data[0].iov_base, id);
}

static int parse_seg(uint32_t type, uint64_t sector, uint32_t n, uint32_t flags, int nsegs,
		     bool split)
{
	uint8_t hdr[16], seg[32], st;
	struct vq_chain *c = chain_new();
	int r;

	mkhdr(hdr, type, 0);
	mkseg(seg, sector, n, flags);
	mkseg(seg + 16, 0, 1, 0);
	ch_out(c, hdr, 16);
	if (split) {
		ch_out(c, seg, 3);
		ch_out(c, seg + 3, 16 * nsegs - 3);
	} else {
		ch_out(c, seg, 16 * nsegs);
	}
	ch_in(c, &st, 1);
	r = virtio_blk_req_parse(c, CAP, false, &req);
	free(c);
	return r;
}

static void test_parse_discard(void **state)
{
	(void)state;
	assert_int_equal(parse_seg(VIRTIO_BLK_T_DISCARD, 8, 16, 0, 1, false), VIRTIO_BLK_S_OK);
	assert_int_equal(req.sector, 8);
	assert_int_equal(req.nr_sectors, 16);
	/* The segment split across descriptors. */
	assert_int_equal(parse_seg(VIRTIO_BLK_T_DISCARD, 0x345, 5, 0, 1, true), VIRTIO_BLK_S_OK);
	assert_int_equal(req.sector, 0x345);
	assert_int_equal(req.nr_sectors, 5);
	/* Out of range, overflowing, too long. */
	assert_int_equal(parse_seg(VIRTIO_BLK_T_DISCARD, CAP - 4, 8, 0, 1, false), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_seg(VIRTIO_BLK_T_DISCARD, UINT64_MAX - 2, 8, 0, 1, false), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_seg(VIRTIO_BLK_T_DISCARD, 0, UINT32_MAX, 0, 1, false), VIRTIO_BLK_S_IOERR);
	/* More segments than max_discard_seg (1). */
	assert_int_equal(parse_seg(VIRTIO_BLK_T_DISCARD, 0, 1, 0, 2, false), VIRTIO_BLK_S_IOERR);
	/* Discard must not carry UNMAP; unknown flags are unsupported. */
	assert_int_equal(parse_seg(VIRTIO_BLK_T_DISCARD, 0, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, 1, false),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse_seg(VIRTIO_BLK_T_DISCARD, 0, 1, 4, 1, false), VIRTIO_BLK_S_UNSUPP);
}

static void test_parse_write_zeroes(void **state)
{
	(void)state;
	assert_int_equal(parse_seg(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, 1, false),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(req.flags, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(parse_seg(VIRTIO_BLK_T_WRITE_ZEROES, CAP - 8, 8, 0, 1, true), VIRTIO_BLK_S_OK);
	assert_int_equal(parse_seg(VIRTIO_BLK_T_WRITE_ZEROES, CAP - 7, 8, 0, 1, false), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_seg(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0x80, 1, false), VIRTIO_BLK_S_UNSUPP);
}

static void test_parse_unsupported(void **state)
{
	static const uint32_t types[] = { 2, 3, 5, 14, 99, 0x80000000u, UINT32_MAX };
	uint8_t st;

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		assert_int_equal(parse_simple(types[i], 0, NULL, 0, false, false, &st), VIRTIO_BLK_S_UNSUPP);
}

/* ---- image files ---- */

static char tmpdir[64];

static char *tmp_image(const char *name, size_t size, int fill)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (size) {
		uint8_t *b = malloc(size);

		assert_non_null(b);
		memset(b, fill, size);
		assert_int_equal(pwrite(fd, b, size, 0), (ssize_t)size);
		free(b);
	}
	fsync(fd);
	close(fd);
	return path;
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mvm-blk-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	chmod(tmpdir, 0755);
	return 0;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_create_errors(void **state)
{
	struct virtio_blk_cfg cfg = { 0 };
	struct virtio_blk *d = (void *)1;
	char path[128];

	(void)state;
	log_set_sink(keep_sink, NULL);
	snprintf(path, sizeof(path), "%s/missing.img", tmpdir);
	cfg.path = path;
	assert_int_equal(virtio_blk_create(&d, &cfg, NULL), -ENOENT);
	assert_null(d);
	assert_non_null(strstr(last_msg, "missing.img"));

	cfg.path = tmpdir;
	assert_int_equal(virtio_blk_create(&d, &cfg, NULL), -EINVAL);
	assert_non_null(strstr(last_msg, "directory"));
	cfg.read_only = true;
	assert_int_equal(virtio_blk_create(&d, &cfg, NULL), -EINVAL);
	assert_non_null(strstr(last_msg, "directory"));

	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(path, 0644), 0);
	cfg.path = path;
	cfg.read_only = false;
	assert_int_equal(virtio_blk_create(&d, &cfg, NULL), -EINVAL);
	assert_non_null(strstr(last_msg, "not a regular file or a block device (a FIFO); --disk "
				  "takes a regular file or a block device"));
	cfg.read_only = true;   /* a read-only open of a FIFO would wait for a writer */
	assert_int_equal(virtio_blk_create(&d, &cfg, NULL), -EINVAL);
	assert_non_null(strstr(last_msg, "(a FIFO)"));
	cfg.path = "/dev/null";
	assert_int_equal(virtio_blk_create(&d, &cfg, NULL), -EINVAL);
	assert_non_null(strstr(last_msg, "(a character device)"));
	cfg.read_only = false;

	cfg.path = tmp_image("long-id.img", 4096, 0);
	cfg.id = "this-id-is-longer-than-20";
	assert_int_equal(virtio_blk_create(&d, &cfg, NULL), -EINVAL);
	assert_non_null(strstr(last_msg, "id"));
	cfg.path = "";
	cfg.id = NULL;
	assert_int_equal(virtio_blk_create(&d, &cfg, NULL), -EINVAL);
	log_set_sink(NULL, NULL);
}

/* rw on an unwritable file fails naming the file and suggesting ,ro; ro works.
 * Root writes anything, so the check runs as nobody in a child. */
static void test_create_unwritable(void **state)
{
	char *path = tmp_image("readonly.img", 4096, 0);
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(chmod(path, 0444), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct virtio_blk_cfg cfg = { .path = path };
		struct virtio_blk *d;

		if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(10);
		log_set_sink(keep_sink, NULL);
		if (virtio_blk_create(&d, &cfg, NULL) != -EACCES)
			_exit(11);
		if (!strstr(last_msg, "readonly.img") || !strstr(last_msg, ",ro"))
			_exit(12);
		cfg.read_only = true;
		if (virtio_blk_create(&d, &cfg, NULL) != 0)
			_exit(13);
		virtio_blk_destroy(d);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_create_lock_and_capacity(void **state)
{
	struct virtio_blk_cfg cfg = { .path = tmp_image("lock.img", 4 * 512 + 100, 0) };
	struct virtio_blk *a, *b, *c;

	(void)state;
	log_set_sink(keep_sink, NULL);
	assert_int_equal(virtio_blk_create(&a, &cfg, NULL), 0);
	assert_int_equal(virtio_blk_capacity(a), 4);   /* the 100-byte tail is invisible */
	assert_int_equal(virtio_blk_create(&b, &cfg, NULL), -EBUSY);
	assert_non_null(strstr(last_msg, "lock.img"));
	cfg.read_only = true;
	assert_int_equal(virtio_blk_create(&b, &cfg, NULL), -EBUSY);
	virtio_blk_destroy(a);
	/* Readers share; a writer is then refused. */
	assert_int_equal(virtio_blk_create(&a, &cfg, NULL), 0);
	assert_int_equal(virtio_blk_create(&b, &cfg, NULL), 0);
	cfg.read_only = false;
	assert_int_equal(virtio_blk_create(&c, &cfg, NULL), -EBUSY);
	virtio_blk_destroy(a);
	virtio_blk_destroy(b);
	assert_int_equal(virtio_blk_create(&c, &cfg, NULL), 0);
	virtio_blk_destroy(c);
	virtio_blk_destroy(NULL);
	log_set_sink(NULL, NULL);
}

/* ---- end to end through the mmio transport ---- */

#define QSZ       64
#define DESC_GPA  0x10000
#define AVAIL_GPA 0x11000
#define USED_GPA  0x12000
#define HDR_GPA   0x20000    /* 32 bytes per slot: header + status */
#define DATA_GPA  0x100000   /* 64 KiB per slot */
#define SLOT_DATA 0x10000
#define MMIO_BASE 0xd0000000ULL

struct drv {
	struct gmem mem;
	struct bus bus;
	struct virtio_blk *d;
	struct virtio_mmio *t;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t avail_idx;
	char path[128];
};

static uint32_t mr(struct drv *v, uint64_t off)
{
	uint8_t b[4];
	uint32_t x;

	virtio_mmio_io(v->t, off, b, 4, false);
	memcpy(&x, b, 4);
	return x;
}

static void mw(struct drv *v, uint64_t off, uint32_t x)
{
	uint8_t b[4];

	memcpy(b, &x, 4);
	virtio_mmio_io(v->t, off, b, 4, true);
}

static void drv_init_queue(struct drv *v)
{
	uint32_t f0, f1, st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	memset(v->desc, 0, 16 * QSZ);
	memset(v->avail, 0, 6 + 2 * QSZ);
	memset(v->used, 0, 6 + 8 * QSZ);
	v->avail_idx = 0;
	mw(v, VIRTIO_MMIO_STATUS, 0);
	mw(v, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	mw(v, VIRTIO_MMIO_STATUS, st);
	mw(v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f0 = mr(v, VIRTIO_MMIO_DEVICE_FEATURES);
	mw(v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f1 = mr(v, VIRTIO_MMIO_DEVICE_FEATURES);
	f0 &= ~(uint32_t)(VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	mw(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mw(v, VIRTIO_MMIO_DRIVER_FEATURES, f0);
	mw(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mw(v, VIRTIO_MMIO_DRIVER_FEATURES, f1 & 1); /* VERSION_1 only */
	st |= VIRTIO_STATUS_FEATURES_OK;
	mw(v, VIRTIO_MMIO_STATUS, st);
	assert_true(mr(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	mw(v, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(mr(v, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_BLK_QUEUE_MAX);
	mw(v, VIRTIO_MMIO_QUEUE_NUM, QSZ);
	mw(v, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC_GPA);
	mw(v, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	mw(v, VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL_GPA);
	mw(v, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	mw(v, VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED_GPA);
	mw(v, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	mw(v, VIRTIO_MMIO_QUEUE_READY, 1);
	mw(v, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	assert_false(mr(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static const struct rlim_cfg *drv_rate_limiter;   /* the next drv_open()'s limiter */

static struct drv *drv_open(const char *path, bool ro)
{
	struct drv *v = calloc(1, sizeof(*v));
	struct virtio_blk_cfg cfg = { .path = path, .read_only = ro, .id = "disk-serial-0",
				      .rate_limiter = drv_rate_limiter };
	struct virtio_env env = { 0 };

	assert_non_null(v);
	snprintf(v->path, sizeof(v->path), "%s", path);
	assert_int_equal(gmem_init(&v->mem, 32 << 20), 0);
	bus_init(&v->bus, "mmio");
	assert_int_equal(virtio_blk_create(&v->d, &cfg, &v->mem), 0);
	env.mem = &v->mem;
	env.mmio = &v->bus;
	assert_int_equal(virtio_blk_attach(v->d, &env, MMIO_BASE, 5), 0);
	v->t = virtio_blk_transport(v->d);
	v->desc = gmem_ptr(&v->mem, DESC_GPA, 16 * QSZ);
	v->avail = gmem_ptr(&v->mem, AVAIL_GPA, 6 + 2 * QSZ);
	v->used = gmem_ptr(&v->mem, USED_GPA, 6 + 8 * QSZ);
	assert_int_equal(mr(v, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	drv_init_queue(v);
	return v;
}

static void drv_close(struct drv *v)
{
	virtio_blk_destroy(v->d);
	bus_free(&v->bus);
	gmem_free(&v->mem);
	free(v);
}

static uint8_t *gp(struct drv *v, uint64_t gpa, uint64_t len)
{
	uint8_t *p = gmem_ptr(&v->mem, gpa, len);

	assert_non_null(p);
	return p;
}

static void set_desc(struct drv *v, uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	v->desc[i].addr = gpa;
	v->desc[i].len = len;
	v->desc[i].flags = flags;
	v->desc[i].next = next;
}

/* Request in slot s (descriptors 3s..3s+2): header, optional data, status. */
static void drv_queue(struct drv *v, int s, uint32_t type, uint64_t sector, uint32_t len,
		      bool data_writable)
{
	uint64_t hdr = HDR_GPA + 32 * (uint64_t)s, data = DATA_GPA + SLOT_DATA * (uint64_t)s;
	uint16_t d0 = (uint16_t)(3 * s);

	mkhdr(gp(v, hdr, 16), type, sector);
	*gp(v, hdr + 16, 1) = 0xee;
	set_desc(v, d0, hdr, 16, VIRTQ_DESC_F_NEXT, d0 + 1);
	if (len) {
		set_desc(v, d0 + 1, data, len,
			 VIRTQ_DESC_F_NEXT | (data_writable ? VIRTQ_DESC_F_WRITE : 0), d0 + 2);
		set_desc(v, d0 + 2, hdr + 16, 1, VIRTQ_DESC_F_WRITE, 0);
	} else {
		set_desc(v, d0, hdr, 16, VIRTQ_DESC_F_NEXT, d0 + 2);
		set_desc(v, d0 + 2, hdr + 16, 1, VIRTQ_DESC_F_WRITE, 0);
	}
	v->avail->ring[v->avail_idx % QSZ] = d0;
	__atomic_store_n(&v->avail->idx, ++v->avail_idx, __ATOMIC_RELEASE);
}

static void drv_kick(struct drv *v)
{
	mw(v, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

/* Wait until used->idx reaches n (5 s at most). */
static void drv_wait(struct drv *v, uint16_t n)
{
	for (int i = 0; i < 5000; i++) {
		if (__atomic_load_n(&v->used->idx, __ATOMIC_ACQUIRE) == n)
			return;
		usleep(1000);
	}
	fail_msg("used idx %u, expected %u", v->used->idx, n);
}

static uint8_t slot_status(struct drv *v, int s)
{
	return *gp(v, HDR_GPA + 32 * (uint64_t)s + 16, 1);
}

static uint8_t *slot_data(struct drv *v, int s)
{
	return gp(v, DATA_GPA + SLOT_DATA * (uint64_t)s, SLOT_DATA);
}

/* One request, waited for; returns its status. */
static uint8_t drv_do(struct drv *v, int s, uint32_t type, uint64_t sector, uint32_t len,
		      bool data_writable)
{
	uint16_t before = v->used->idx;

	drv_queue(v, s, type, sector, len, data_writable);
	drv_kick(v);
	drv_wait(v, (uint16_t)(before + 1));
	return slot_status(v, s);
}

static void test_e2e_write_read(void **state)
{
	struct drv *v = drv_open(tmp_image("rw.img", 1 << 20, 0), false);
	uint8_t buf[4096];
	int fd;

	(void)state;
	for (int i = 0; i < 4096; i++)
		slot_data(v, 0)[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(drv_do(v, 0, VIRTIO_BLK_T_OUT, 8, 4096, false), VIRTIO_BLK_S_OK);
	assert_int_equal(v->used->ring[0].id, 0);
	assert_int_equal(v->used->ring[0].len, 1);
	fd = open(v->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, 4096, 8 * 512), 4096);
	assert_memory_equal(buf, slot_data(v, 0), 4096);
	close(fd);

	/* Read it back into another buffer. */
	memset(slot_data(v, 1), 0, 4096);
	assert_int_equal(drv_do(v, 1, VIRTIO_BLK_T_IN, 8, 4096, true), VIRTIO_BLK_S_OK);
	assert_memory_equal(slot_data(v, 1), buf, 4096);
	assert_int_equal(v->used->ring[1].len, 4097);

	/* Past the end: IOERR, file untouched. */
	assert_int_equal(drv_do(v, 2, VIRTIO_BLK_T_OUT, 2047, 1024, false), VIRTIO_BLK_S_IOERR);
	assert_int_equal(drv_do(v, 3, VIRTIO_BLK_T_IN, 9, 100, true), VIRTIO_BLK_S_IOERR);
	assert_int_equal(drv_do(v, 4, 77, 0, 0, false), VIRTIO_BLK_S_UNSUPP);
	drv_close(v);
}

static void test_e2e_flush_and_get_id(void **state)
{
	struct drv *v = drv_open(tmp_image("flush.img", 1 << 20, 0), false);

	(void)state;
	memset(slot_data(v, 0), 0x5a, 512);
	assert_int_equal(drv_do(v, 0, VIRTIO_BLK_T_OUT, 0, 512, false), VIRTIO_BLK_S_OK);
	assert_int_equal(drv_do(v, 1, VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_OK);
	assert_int_equal(v->used->ring[1].len, 1);
	memset(slot_data(v, 2), 0xff, 32);
	assert_int_equal(drv_do(v, 2, VIRTIO_BLK_T_GET_ID, 0, 20, true), VIRTIO_BLK_S_OK);
	assert_memory_equal(slot_data(v, 2), "disk-serial-0\0\0\0\0\0\0\0", 20);
	assert_int_equal(slot_data(v, 2)[20], 0xff);
	assert_int_equal(v->used->ring[2].len, 21);
	drv_close(v);
}

static void test_e2e_config_space(void **state)
{
	struct drv *v = drv_open(tmp_image("cfg.img", (1 << 20) + 300, 0), false);
	struct virtio_blk_config c;
	uint32_t f0;

	(void)state;
	for (uint32_t off = 0; off < sizeof(c); off += 4) {
		uint32_t x = mr(v, VIRTIO_MMIO_CONFIG + off);

		memcpy((uint8_t *)&c + off, &x, 4);
	}
	assert_int_equal(c.capacity, 2048);
	assert_int_equal(c.seg_max, VQ_CHAIN_MAX - 2);
	assert_int_equal(c.blk_size, 512);
	assert_int_equal(c.max_discard_seg, 1);
	assert_int_equal(c.max_write_zeroes_seg, 1);
	assert_int_equal(c.write_zeroes_may_unmap, 1);
	/* Read-only config: a write changes nothing. */
	mw(v, VIRTIO_MMIO_CONFIG, 1);
	assert_int_equal(mr(v, VIRTIO_MMIO_CONFIG), 2048);
	mw(v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f0 = mr(v, VIRTIO_MMIO_DEVICE_FEATURES);
	assert_true(f0 & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	assert_true(f0 & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	assert_true(f0 & VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX));
	assert_false(f0 & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	drv_close(v);
}

static void test_e2e_read_only(void **state)
{
	char *path = tmp_image("ro.img", 1 << 20, 0x33);
	struct drv *v = drv_open(path, true);
	uint8_t buf[4096];
	uint32_t f0;
	int fd;

	(void)state;
	mw(v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f0 = mr(v, VIRTIO_MMIO_DEVICE_FEATURES);
	assert_true(f0 & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	assert_false(f0 & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	assert_false(f0 & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	memset(slot_data(v, 0), 0x44, 4096);
	assert_int_equal(drv_do(v, 0, VIRTIO_BLK_T_OUT, 0, 4096, false), VIRTIO_BLK_S_IOERR);
	fd = open(v->path, O_RDONLY);
	assert_int_equal(pread(fd, buf, 4096, 0), 4096);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(buf[i], 0x33);
	close(fd);
	assert_int_equal(drv_do(v, 1, VIRTIO_BLK_T_IN, 0, 4096, true), VIRTIO_BLK_S_OK);
	assert_int_equal(slot_data(v, 1)[4095], 0x33);
	drv_close(v);
}

/* A discard or write-zeroes request: header, one segment, status. */
static uint8_t drv_seg(struct drv *v, int s, uint32_t type, uint64_t sector, uint32_t n,
		       uint32_t flags)
{
	uint64_t data = DATA_GPA + SLOT_DATA * (uint64_t)s;
	uint16_t before = v->used->idx;

	mkseg(gp(v, data, 16), sector, n, flags);
	drv_queue(v, s, type, 0, 16, false);
	drv_kick(v);
	drv_wait(v, (uint16_t)(before + 1));
	return slot_status(v, s);
}

static void test_e2e_discard_write_zeroes(void **state)
{
	struct drv *v = drv_open(tmp_image("discard.img", 1 << 20, 0xab), false);
	uint8_t buf[8192];
	struct stat st0, st1;
	int fd = open(v->path, O_RDONLY);

	(void)state;
	assert_true(fd >= 0);
	fstat(fd, &st0);
	/* Discard the first 256 KiB: a hole at 0 and fewer blocks. */
	assert_int_equal(drv_seg(v, 0, VIRTIO_BLK_T_DISCARD, 0, 512, 0), VIRTIO_BLK_S_OK);
	fstat(fd, &st1);
	assert_int_equal(lseek(fd, 0, SEEK_HOLE), 0);
	assert_true(st1.st_blocks < st0.st_blocks);
	assert_int_equal(st1.st_size, 1 << 20);
	assert_int_equal(pread(fd, buf, 4096, 0), 4096);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(buf[i], 0);
	/* Write zeroes (no unmap) on 8 KiB at sector 1024; neighbours intact. */
	assert_int_equal(drv_seg(v, 1, VIRTIO_BLK_T_WRITE_ZEROES, 1024, 16, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(pread(fd, buf, 8192, 1024 * 512), 8192);
	for (int i = 0; i < 8192; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(pread(fd, buf, 1, 1024 * 512 + 8192), 1);
	assert_int_equal(buf[0], 0xab);
	/* With unmap. */
	assert_int_equal(drv_seg(v, 2, VIRTIO_BLK_T_WRITE_ZEROES, 1500, 8,
				 VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), VIRTIO_BLK_S_OK);
	assert_int_equal(pread(fd, buf, 4096, 1500 * 512), 4096);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[4095], 0);
	/* Out of range. */
	assert_int_equal(drv_seg(v, 3, VIRTIO_BLK_T_DISCARD, 2040, 16, 0), VIRTIO_BLK_S_IOERR);
	close(fd);
	drv_close(v);
}

/* Many requests at once: all complete, each with its own data. */
static void test_e2e_batch(void **state)
{
	struct drv *v = drv_open(tmp_image("batch.img", 4 << 20, 0), false);

	(void)state;
	for (int s = 0; s < 16; s++) {
		memset(slot_data(v, s), s + 1, SLOT_DATA);
		drv_queue(v, s, VIRTIO_BLK_T_OUT, (uint64_t)s * 128, SLOT_DATA, false);
	}
	drv_kick(v);
	drv_wait(v, 16);
	for (int s = 0; s < 16; s++)
		assert_int_equal(slot_status(v, s), VIRTIO_BLK_S_OK);
	for (int s = 0; s < 16; s++) {
		memset(slot_data(v, s), 0, SLOT_DATA);
		drv_queue(v, s, VIRTIO_BLK_T_IN, (uint64_t)(15 - s) * 128, SLOT_DATA, true);
	}
	drv_kick(v);
	drv_wait(v, 32);
	for (int s = 0; s < 16; s++) {
		assert_int_equal(slot_status(v, s), VIRTIO_BLK_S_OK);
		assert_int_equal(slot_data(v, s)[0], 16 - s);
		assert_int_equal(slot_data(v, s)[SLOT_DATA - 1], 16 - s);
	}
	drv_close(v);
}

/* A chain with no status byte: the device asks for a reset instead of guessing. */
static void test_e2e_malformed_needs_reset(void **state)
{
	struct drv *v = drv_open(tmp_image("bad.img", 1 << 20, 0), false);

	(void)state;
	set_desc(v, 0, HDR_GPA, 16, 0, 0);
	mkhdr(gp(v, HDR_GPA, 16), VIRTIO_BLK_T_FLUSH, 0);
	v->avail->ring[0] = 0;
	__atomic_store_n(&v->avail->idx, ++v->avail_idx, __ATOMIC_RELEASE);
	drv_kick(v);
	drv_wait(v, 1);
	assert_int_equal(v->used->ring[0].len, 0);
	for (int i = 0; i < 1000 && !(mr(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET); i++)
		usleep(1000);
	assert_true(mr(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	/* After a reset the device works again. */
	drv_init_queue(v);
	assert_int_equal(drv_do(v, 0, VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_OK);
	drv_close(v);
}

/* Reset with requests in flight: reset returns only when they are done;
 * afterwards nothing touches guest memory. Then the device works again. */
static void test_e2e_reset_in_flight(void **state)
{
	struct drv *v = drv_open(tmp_image("reset.img", 4 << 20, 0x11), false);

	(void)state;
	for (int round = 0; round < 5; round++) {
		for (int s = 0; s < 16; s++)
			drv_queue(v, s, s & 1 ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT,
				  (uint64_t)s * 128, SLOT_DATA, s & 1);
		drv_kick(v);
		if (round)
			usleep(100 * round);
		mw(v, VIRTIO_MMIO_STATUS, 0);
		memset(gp(v, DATA_GPA, SLOT_DATA * 16), 0x77, SLOT_DATA * 16);
		memset(v->used, 0, 6 + 8 * QSZ);
		usleep(20000);
		for (int i = 0; i < SLOT_DATA * 16; i++)
			if (gp(v, DATA_GPA, SLOT_DATA * 16)[i] != 0x77)
				fail_msg("guest memory written after reset at %d", i);
		assert_int_equal(v->used->idx, 0);
		drv_init_queue(v);
		assert_int_equal(drv_do(v, 20, VIRTIO_BLK_T_IN, 0, 512, true), VIRTIO_BLK_S_OK);
		memset(v->used, 0, 6 + 8 * QSZ);
		drv_init_queue(v);
	}
	/* Destroy with requests in flight. */
	for (int s = 0; s < 16; s++)
		drv_queue(v, s, VIRTIO_BLK_T_OUT, (uint64_t)s * 128, SLOT_DATA, false);
	drv_kick(v);
	drv_close(v);
}

/* The synchronous fallback: io_uring refused by seccomp, in a child. */
static int deny_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static void test_e2e_sync_fallback(void **state)
{
	char *path = tmp_image("sync.img", 1 << 20, 0);
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct drv *v;

		if (deny_io_uring())
			_exit(20);
		v = drv_open(path, false);
		if (virtio_blk_uses_io_uring(v->d))
			_exit(21);
		memset(slot_data(v, 0), 0x3c, 4096);
		if (drv_do(v, 0, VIRTIO_BLK_T_OUT, 4, 4096, false) != VIRTIO_BLK_S_OK)
			_exit(22);
		if (drv_do(v, 1, VIRTIO_BLK_T_FLUSH, 0, 0, false) != VIRTIO_BLK_S_OK)
			_exit(23);
		if (drv_do(v, 2, VIRTIO_BLK_T_IN, 4, 4096, true) != VIRTIO_BLK_S_OK ||
		    slot_data(v, 2)[4095] != 0x3c)
			_exit(24);
		if (drv_seg(v, 3, VIRTIO_BLK_T_WRITE_ZEROES, 4, 8, 0) != VIRTIO_BLK_S_OK)
			_exit(25);
		if (drv_do(v, 2, VIRTIO_BLK_T_IN, 4, 4096, true) != VIRTIO_BLK_S_OK ||
		    slot_data(v, 2)[0] != 0)
			_exit(26);
		drv_close(v);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- rate limiter and image swap (PATCH /drives) ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* An ops bucket of 2, refilled in 200 ms (10 ops/s): of 6 requests posted at once two pass
 * now, the rest wait in the ring and complete at the refill rate, without the worker
 * spinning meanwhile; nothing is dropped and each completes OK. */
static void test_e2e_rate_limited(void **state)
{
	struct rlim_cfg rl = { .ops = { .size = 2, .refill_time_ms = 200 } };
	struct drv *v;
	uint64_t t0, c0, took, cpu;

	(void)state;
	drv_rate_limiter = &rl;
	v = drv_open(tmp_image("rl.img", 1 << 20, 0x42), true);
	drv_rate_limiter = NULL;
	t0 = now_ms();
	c0 = cpu_ms();
	for (int s = 0; s < 6; s++)
		drv_queue(v, s, VIRTIO_BLK_T_IN, (uint64_t)s * 8, 4096, true);
	drv_kick(v);
	drv_wait(v, 2);
	usleep(50 * 1000);
	assert_int_equal(__atomic_load_n(&v->used->idx, __ATOMIC_ACQUIRE), 2);
	drv_wait(v, 6);
	took = now_ms() - t0;
	cpu = cpu_ms() - c0;
	/* 4 ops at 100 ms each after the first two. */
	assert_in_range(took, 350, 2000);
	assert_true(cpu < took / 4);   /* the worker slept on its timer */
	for (int s = 0; s < 6; s++) {
		assert_int_equal(slot_status(v, s), VIRTIO_BLK_S_OK);
		assert_int_equal(slot_data(v, s)[0], 0x42);
	}
	drv_close(v);
}

/* A bandwidth limit that holds requests, lifted by an update: what waits goes at once. */
static void test_e2e_rate_limiter_update(void **state)
{
	struct rlim_cfg rl = { .bandwidth = { .size = 4096, .refill_time_ms = 100000 } };
	struct rlim_update off = { .has_bandwidth = true };
	struct drv *v;
	uint64_t t0;

	(void)state;
	drv_rate_limiter = &rl;
	v = drv_open(tmp_image("rlu.img", 1 << 20, 0x17), true);
	drv_rate_limiter = NULL;
	for (int s = 0; s < 4; s++)
		drv_queue(v, s, VIRTIO_BLK_T_IN, 0, 4096, true);
	drv_kick(v);
	drv_wait(v, 1);
	usleep(100 * 1000);
	assert_int_equal(__atomic_load_n(&v->used->idx, __ATOMIC_ACQUIRE), 1);
	t0 = now_ms();
	virtio_blk_set_rate_limiter(v->d, &off);
	drv_wait(v, 4);
	assert_true(now_ms() - t0 < 1000);
	for (int s = 0; s < 4; s++)
		assert_int_equal(slot_status(v, s), VIRTIO_BLK_S_OK);
	drv_close(v);
}

/* PATCH path_on_host: a missing file or one locked elsewhere is refused (the old image
 * stays); a good one is served from the next request, with the new capacity in the
 * config space and a config-change interrupt. */
static void test_e2e_swap_image(void **state)
{
	char a[128], b[128], locked[128], err[512] = "";
	struct drv *v;
	uint32_t gen;
	int fd;

	(void)state;
	snprintf(a, sizeof(a), "%s", tmp_image("swap-a.img", 1 << 20, 0xaa));
	snprintf(b, sizeof(b), "%s", tmp_image("swap-b.img", 2 << 20, 0xbb));
	snprintf(locked, sizeof(locked), "%s", tmp_image("swap-l.img", 1 << 20, 0xcc));
	v = drv_open(a, false);
	assert_int_equal(drv_do(v, 0, VIRTIO_BLK_T_IN, 0, 512, true), VIRTIO_BLK_S_OK);
	assert_int_equal(slot_data(v, 0)[0], 0xaa);
	gen = mr(v, VIRTIO_MMIO_CONFIG_GENERATION);

	assert_int_equal(virtio_blk_swap_image(v->d, "/nonexistent/x.img", err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/x.img"));
	fd = open(locked, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(virtio_blk_swap_image(v->d, locked, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "locked by another process"));
	close(fd);
	assert_int_equal(drv_do(v, 1, VIRTIO_BLK_T_IN, 0, 512, true), VIRTIO_BLK_S_OK);
	assert_int_equal(slot_data(v, 1)[0], 0xaa);
	assert_int_equal(mr(v, VIRTIO_MMIO_CONFIG_GENERATION), gen);

	mw(v, VIRTIO_MMIO_INTERRUPT_ACK, mr(v, VIRTIO_MMIO_INTERRUPT_STATUS));
	assert_int_equal(virtio_blk_swap_image(v->d, b, err, sizeof(err)), 0);
	assert_int_equal(virtio_blk_capacity(v->d), 4096);
	assert_int_equal(mr(v, VIRTIO_MMIO_CONFIG), 4096);   /* capacity, low half */
	assert_true(mr(v, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_not_equal(mr(v, VIRTIO_MMIO_CONFIG_GENERATION), gen);
	assert_string_equal(virtio_blk_path(v->d), b);
	assert_int_equal(drv_do(v, 2, VIRTIO_BLK_T_IN, 3000, 512, true), VIRTIO_BLK_S_OK);
	assert_int_equal(slot_data(v, 2)[0], 0xbb);
	/* The old image's lock went with it: another process may take it now. */
	fd = open(a, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
	drv_close(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_in_out),
		cmocka_unit_test(test_parse_shared_descriptors),
		cmocka_unit_test(test_parse_request_too_big),
		cmocka_unit_test(test_parse_split_header),
		cmocka_unit_test(test_parse_no_status),
		cmocka_unit_test(test_parse_status_readable),
		cmocka_unit_test(test_parse_short_header),
		cmocka_unit_test(test_parse_zero_len_tail),
		cmocka_unit_test(test_parse_unaligned_and_empty),
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_parse_overflow),
		cmocka_unit_test(test_parse_read_only),
		cmocka_unit_test(test_parse_wrong_direction),
		cmocka_unit_test(test_parse_flush_get_id),
		cmocka_unit_test(test_parse_discard),
		cmocka_unit_test(test_parse_write_zeroes),
		cmocka_unit_test(test_parse_unsupported),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_create_unwritable),
		cmocka_unit_test(test_create_lock_and_capacity),
		cmocka_unit_test(test_e2e_write_read),
		cmocka_unit_test(test_e2e_flush_and_get_id),
		cmocka_unit_test(test_e2e_config_space),
		cmocka_unit_test(test_e2e_read_only),
		cmocka_unit_test(test_e2e_discard_write_zeroes),
		cmocka_unit_test(test_e2e_batch),
		cmocka_unit_test(test_e2e_malformed_needs_reset),
		cmocka_unit_test(test_e2e_reset_in_flight),
		cmocka_unit_test(test_e2e_sync_fallback),
		cmocka_unit_test(test_e2e_rate_limited),
		cmocka_unit_test(test_e2e_rate_limiter_update),
		cmocka_unit_test(test_e2e_swap_image),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
