/* test_hcall.c - the hypercall dispatcher against good and hostile argument structs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/layout.h"
#include "core/memory.h"
#include "hcall/hcall.h"
#include "hcall/hcall_net.h"
#include "util/log.h"

#define RAM (16ULL << 20)
#define ARG 0x200000ULL   /* argument struct */
#define BUF 0x300000ULL   /* data buffer */
#define DISK_SECTORS 64

struct fixture {
	struct gmem m;
	struct hcall h;
	int pipe[2];
	char disk[64];
	int exit_status, exits, stops;
	char err[1024];
};

static void rec_exit(void *ctx, int status)
{
	struct fixture *f = ctx;

	f->exit_status = status;
	f->exits++;
}

static void rec_stop(void *ctx, enum vm_stop_reason r)
{
	((struct fixture *)ctx)->stops++;
}

static void sink(enum log_level level, const char *msg, void *ctx)
{
	struct fixture *f = ctx;

	if (level == LOG_ERR)
		snprintf(f->err, sizeof(f->err), "%s", msg);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct hcall_cfg cfg;

	assert_non_null(f);
	assert_int_equal(gmem_init(&f->m, RAM), 0);
	assert_int_equal(pipe2(f->pipe, O_NONBLOCK), 0);
	hcall_cfg_init(&cfg);
	cfg.console_fd = f->pipe[1];
	hcall_init(&f->h, &cfg, &f->m, (struct vm_stopper){ .request = rec_stop, .ctx = f,
							    .request_exit = rec_exit });
	log_set_sink(sink, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	log_set_sink(NULL, NULL);
	hcall_destroy(&f->h);
	if (f->disk[0])
		unlink(f->disk);
	close(f->pipe[0]);
	close(f->pipe[1]);
	gmem_free(&f->m);
	free(f);
	return 0;
}

/* A temp disk of DISK_SECTORS sectors, sector n filled with byte n. */
static void add_disk(struct fixture *f, bool ro)
{
	uint8_t sec[512];
	struct hcall_cfg cfg = f->h.cfg;
	int fd;

	strcpy(f->disk, "/tmp/mvm-test-hcall-XXXXXX");
	fd = mkstemp(f->disk);
	assert_true(fd >= 0);
	for (int i = 0; i < DISK_SECTORS; i++) {
		memset(sec, i, sizeof(sec));
		assert_int_equal(write(fd, sec, sizeof(sec)), sizeof(sec));
	}
	assert_int_equal(write(fd, "tail", 4), 4); /* a partial last sector is not reachable */
	close(fd);
	assert_int_equal(hcall_open_disk(&cfg, f->disk, ro), 0);
	assert_int_equal(cfg.disk_sectors, DISK_SECTORS);
	f->h.cfg = cfg;
}

static void *g(struct fixture *f, uint64_t gpa, uint64_t len)
{
	void *p = gmem_ptr(&f->m, gpa, len);

	assert_non_null(p);
	return p;
}

/* Issue the call as the guest would: a 4-byte OUT to the call's port. */
static int64_t call(struct fixture *f, unsigned nr, const void *arg, size_t len)
{
	uint32_t gpa = ARG;

	assert_int_equal(gmem_write(&f->m, ARG, arg, len), 0);
	hcall_io(&f->h, nr, (uint8_t *)&gpa, 4, true);
	return *(int64_t *)g(f, ARG, 8);
}

static int64_t blkio(struct fixture *f, unsigned nr, uint64_t sector, uint64_t buf, uint64_t len)
{
	struct mvm_hc_blkio a = { .ret = 12345, .sector = sector, .buf = buf, .len = len };

	return call(f, nr, &a, sizeof(a));
}

static void test_console(void **state)
{
	struct fixture *f = *state;
	struct mvm_hc_console a = { .buf = BUF, .len = 6 };
	char out[16] = { 0 };

	memcpy(g(f, BUF, 6), "hello\n", 6);
	assert_int_equal(call(f, MVM_HC_CONSOLE, &a, sizeof(a)), 6);
	assert_int_equal(read(f->pipe[0], out, sizeof(out)), 6);
	assert_string_equal(out, "hello\n");
	a.len = 0;
	assert_int_equal(call(f, MVM_HC_CONSOLE, &a, sizeof(a)), 0);
}

static void test_console_bad(void **state)
{
	struct fixture *f = *state;
	struct mvm_hc_console a = { .buf = BUF, .len = MVM_CONSOLE_MAX + 1 };
	char out[16];

	assert_int_equal(call(f, MVM_HC_CONSOLE, &a, sizeof(a)), -MVM_EINVAL);
	a = (struct mvm_hc_console){ .buf = RAM - 2, .len = 4 };       /* straddles the end */
	assert_int_equal(call(f, MVM_HC_CONSOLE, &a, sizeof(a)), -MVM_EFAULT);
	a = (struct mvm_hc_console){ .buf = ~0ULL - 1, .len = 4 };     /* wraps */
	assert_int_equal(call(f, MVM_HC_CONSOLE, &a, sizeof(a)), -MVM_EFAULT);
	a = (struct mvm_hc_console){ .buf = 0xd0000000ULL, .len = 4 }; /* MMIO hole */
	assert_int_equal(call(f, MVM_HC_CONSOLE, &a, sizeof(a)), -MVM_EFAULT);
	assert_int_equal(read(f->pipe[0], out, sizeof(out)), -1);       /* nothing printed */
}

static void test_time(void **state)
{
	struct fixture *f = *state;
	struct mvm_hc_time a = { .ret = 99 };
	const struct mvm_hc_time *r = g(f, ARG, sizeof(a));
	uint64_t first;

	assert_int_equal(call(f, MVM_HC_TIME, &a, sizeof(a)), 0);
	first = r->mono_ns;
	assert_true(first > 0);
	assert_true(r->wall_ns > 1600000000ULL * 1000000000ULL); /* after 2020 */
	assert_int_equal(call(f, MVM_HC_TIME, &a, sizeof(a)), 0);
	assert_true(r->mono_ns >= first);
}

static void test_no_disk(void **state)
{
	struct fixture *f = *state;
	struct mvm_hc_blkinfo info = { 0 };

	assert_int_equal(call(f, MVM_HC_BLKINFO, &info, sizeof(info)), -MVM_ENODEV);
	assert_int_equal(blkio(f, MVM_HC_BLKREAD, 0, BUF, 512), -MVM_ENODEV);
	assert_int_equal(blkio(f, MVM_HC_BLKWRITE, 0, BUF, 512), -MVM_ENODEV);
}

static void test_disk_rw(void **state)
{
	struct fixture *f = *state;
	struct mvm_hc_blkinfo info = { 0 };
	const struct mvm_hc_blkinfo *ri = g(f, ARG, sizeof(info));
	uint8_t *buf = g(f, BUF, 4096), sec[512];
	int fd;

	add_disk(f, false);
	assert_int_equal(call(f, MVM_HC_BLKINFO, &info, sizeof(info)), 0);
	assert_int_equal(ri->sectors, DISK_SECTORS);
	assert_int_equal(ri->sector_size, 512);
	assert_int_equal(ri->read_only, 0);
	assert_int_equal(blkio(f, MVM_HC_BLKREAD, 3, BUF, 1024), 1024);
	assert_int_equal(buf[0], 3);
	assert_int_equal(buf[1023], 4);
	memset(buf, 0xee, 512);
	assert_int_equal(blkio(f, MVM_HC_BLKWRITE, DISK_SECTORS - 1, BUF, 512), 512);
	fd = open(f->disk, O_RDONLY);
	assert_int_equal(pread(fd, sec, 512, (DISK_SECTORS - 1) * 512), 512);
	close(fd);
	assert_int_equal(sec[0], 0xee);
	assert_int_equal(sec[511], 0xee);
}

static void test_disk_ro(void **state)
{
	struct fixture *f = *state;
	struct mvm_hc_blkinfo info = { 0 };
	uint8_t sec[512];
	int fd;

	add_disk(f, true);
	assert_int_equal(call(f, MVM_HC_BLKINFO, &info, sizeof(info)), 0);
	assert_int_equal(((struct mvm_hc_blkinfo *)g(f, ARG, sizeof(info)))->read_only, 1);
	memset(g(f, BUF, 512), 0xee, 512);
	assert_int_equal(blkio(f, MVM_HC_BLKWRITE, 2, BUF, 512), -MVM_EROFS);
	assert_int_equal(blkio(f, MVM_HC_BLKREAD, 2, BUF, 512), 512);
	fd = open(f->disk, O_RDONLY);
	assert_int_equal(pread(fd, sec, 512, 2 * 512), 512);
	close(fd);
	assert_int_equal(sec[0], 2); /* unchanged */
}

static void test_disk_bad_args(void **state)
{
	struct fixture *f = *state;
	uint8_t sec[512];
	int fd;

	add_disk(f, false);
	memset(g(f, BUF, MVM_BLK_MAX), 0xee, MVM_BLK_MAX);
	assert_int_equal(blkio(f, MVM_HC_BLKWRITE, 0, BUF, 0), -MVM_EINVAL);
	assert_int_equal(blkio(f, MVM_HC_BLKWRITE, 0, BUF, 511), -MVM_EINVAL);
	assert_int_equal(blkio(f, MVM_HC_BLKWRITE, 0, BUF, 513), -MVM_EINVAL);
	assert_int_equal(blkio(f, MVM_HC_BLKWRITE, 0, BUF, MVM_BLK_MAX + 512), -MVM_EINVAL);
	assert_int_equal(blkio(f, MVM_HC_BLKWRITE, DISK_SECTORS, BUF, 512), -MVM_EINVAL);
	assert_int_equal(blkio(f, MVM_HC_BLKWRITE, DISK_SECTORS - 1, BUF, 1024), -MVM_EINVAL);
	assert_int_equal(blkio(f, MVM_HC_BLKWRITE, ~0ULL, BUF, 512), -MVM_EINVAL);
	assert_int_equal(blkio(f, MVM_HC_BLKWRITE, ~0ULL / 512, BUF, 512), -MVM_EINVAL);
	assert_int_equal(blkio(f, MVM_HC_BLKWRITE, 0, RAM - 512, 1024), -MVM_EFAULT);
	assert_int_equal(blkio(f, MVM_HC_BLKREAD, 0, ~0ULL - 511, 1024), -MVM_EFAULT);
	assert_int_equal(blkio(f, MVM_HC_BLKREAD, 0, 0xfee00000ULL, 512), -MVM_EFAULT);
	/* None of them touched the file. */
	fd = open(f->disk, O_RDONLY);
	for (int i = 0; i < DISK_SECTORS; i++) {
		assert_int_equal(pread(fd, sec, 512, i * 512), 512);
		assert_int_equal(sec[0], i);
	}
	close(fd);
}

static void test_bad_struct(void **state)
{
	struct fixture *f = *state;
	uint32_t gpa;

	gpa = (uint32_t)(RAM - 8); /* a 24-byte struct straddling the end of RAM */
	hcall_io(&f->h, MVM_HC_TIME, (uint8_t *)&gpa, 4, true);
	gpa = 0xd0000000u;         /* in the MMIO hole */
	hcall_io(&f->h, MVM_HC_EXIT, (uint8_t *)&gpa, 4, true);
	hcall_dispatch(&f->h, MVM_HC_CONSOLE, ~0ULL - 4);
	assert_int_equal(atomic_load(&f->h.bad_structs), 3);
	assert_int_equal(f->exits, 0);
	/* Wrong widths and reads: ignored, reads all-ones. */
	gpa = ARG;
	hcall_io(&f->h, MVM_HC_EXIT, (uint8_t *)&gpa, 2, true);
	hcall_io(&f->h, MVM_HC_EXIT, (uint8_t *)&gpa, 1, true);
	assert_int_equal(atomic_load(&f->h.bad_structs), 5);
	hcall_io(&f->h, MVM_HC_EXIT, (uint8_t *)&gpa, 4, false);
	assert_int_equal(gpa, 0xffffffffu);
	assert_int_equal(f->exits, 0);
}

/* mvm's supervisor-only pages (IDT, GDT, fault report, page tables) are out
 * of a hypercall's reach, as they are out of ring 3's: no struct, no buffer. */
static void test_supervisor_pages_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t before[LAYOUT_R3_SYS_END - LAYOUT_R3_SYS_START], after[sizeof(before)];
	struct mvm_hc_time t = { .ret = 1 };
	uint32_t gpa;

	memset(g(f, LAYOUT_R3_SYS_START, sizeof(before)), 0x5a, sizeof(before));
	memcpy(before, g(f, LAYOUT_R3_SYS_START, sizeof(before)), sizeof(before));
	/* A console buffer inside the IDT, and one straddling into the GDT. */
	struct mvm_hc_console a = { .buf = LAYOUT_R3_IDT, .len = 16 };
	assert_int_equal(call(f, MVM_HC_CONSOLE, &a, sizeof(a)), -MVM_EFAULT);
	a = (struct mvm_hc_console){ .buf = LAYOUT_R3_SYS_START - 4, .len = 8 };
	assert_int_equal(call(f, MVM_HC_CONSOLE, &a, sizeof(a)), -MVM_EFAULT);
	/* A struct in the IDT (time would write it), and an unknown call's
	 * -ENOSYS reply aimed at an IDT gate. */
	assert_int_equal(gmem_write(&f->m, LAYOUT_R3_IDT + 6 * 16, &t, sizeof(t)), 0);
	memset(g(f, LAYOUT_R3_IDT + 6 * 16, sizeof(t)), 0x5a, sizeof(t));
	gpa = (uint32_t)(LAYOUT_R3_IDT + 6 * 16);
	hcall_io(&f->h, MVM_HC_TIME, (uint8_t *)&gpa, 4, true);
	hcall_io(&f->h, 0, (uint8_t *)&gpa, 4, true);
	memcpy(after, g(f, LAYOUT_R3_SYS_START, sizeof(after)), sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	/* The page just past them is the guest's again. */
	a = (struct mvm_hc_console){ .buf = LAYOUT_R3_SYS_END, .len = 1 };
	assert_int_equal(call(f, MVM_HC_CONSOLE, &a, sizeof(a)), 1);
}

static void test_unknown_call(void **state)
{
	struct fixture *f = *state;
	int64_t ret = 7;

	assert_int_equal(call(f, 0, &ret, sizeof(ret)), -MVM_ENOSYS);
	assert_int_equal(call(f, 12, &ret, sizeof(ret)), -MVM_ENOSYS);
	hcall_dispatch(&f->h, 1000, ARG);
	assert_int_equal(atomic_load(&f->h.bad_structs), 3);
}

static void test_net_absent(void **state)
{
	struct fixture *f = *state;
	struct mvm_hc_netio io = { .buf = BUF, .len = 64 };
	struct mvm_hc_netinfo info = { 0 };

	assert_int_equal(call(f, MVM_HC_NETINFO, &info, sizeof(info)), -MVM_ENODEV);
	assert_int_equal(call(f, MVM_HC_NETWRITE, &io, sizeof(io)), -MVM_ENODEV);
	assert_int_equal(call(f, MVM_HC_NETREAD, &io, sizeof(io)), -MVM_ENODEV);
}

/* ---- net calls over the real libslirp backend ---- */

static const uint8_t net_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* Give the fixture's hypercalls a started user-mode backend. */
static void add_net(struct fixture *f)
{
	struct hcall_net *n;

	assert_int_equal(hcall_net_open(&n, "user,mac=52:54:00:12:34:56"), 0);
	assert_int_equal(hcall_net_start(n), 0);
	f->h.cfg.net = n;
}

static void put16be(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* An ARP request from 10.0.2.15 for 10.0.2.2 (60 bytes, padded). */
static size_t arp_request(uint8_t *fr)
{
	static const uint8_t spa[4] = { 10, 0, 2, 15 }, tpa[4] = { 10, 0, 2, 2 };

	memset(fr, 0, 60);
	memset(fr, 0xff, 6);
	memcpy(fr + 6, net_mac, 6);
	put16be(fr + 12, 0x0806);
	put16be(fr + 14, 1);
	put16be(fr + 16, 0x0800);
	fr[18] = 6;
	fr[19] = 4;
	put16be(fr + 20, 1);
	memcpy(fr + 22, net_mac, 6);
	memcpy(fr + 28, spa, 4);
	memcpy(fr + 38, tpa, 4);
	return 60;
}

static int64_t netio(struct fixture *f, unsigned nr, uint64_t buf, uint64_t len)
{
	struct mvm_hc_netio a = { .ret = 12345, .buf = buf, .len = len };

	return call(f, nr, &a, sizeof(a));
}

/* NETREAD until a frame comes or about 2 s pass: what a polling guest does. */
static int64_t netread_wait(struct fixture *f, uint64_t buf, uint64_t len)
{
	int64_t r = -MVM_EAGAIN;

	for (int i = 0; i < 400 && r == -MVM_EAGAIN; i++) {
		r = netio(f, MVM_HC_NETREAD, buf, len);
		if (r == -MVM_EAGAIN)
			usleep(5000);
	}
	return r;
}

static void test_net_info(void **state)
{
	struct fixture *f = *state;
	struct mvm_hc_netinfo info = { .pad = { 7, 7 } };

	add_net(f);
	assert_int_equal(call(f, MVM_HC_NETINFO, &info, sizeof(info)), 0);
	memcpy(&info, g(f, ARG, sizeof(info)), sizeof(info));
	assert_memory_equal(info.mac, net_mac, 6);
	assert_int_equal(info.pad[0] | info.pad[1], 0);
	assert_int_equal(info.mtu, 1500);
}

static void test_net_arp(void **state)
{
	struct fixture *f = *state;
	static const uint8_t host_mac[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };
	struct hcall_net_stats st;
	uint8_t fr[60], *r;
	int64_t n;

	add_net(f);
	assert_int_equal(netio(f, MVM_HC_NETREAD, BUF, 2048), -MVM_EAGAIN); /* nothing yet */
	assert_int_equal(gmem_write(&f->m, BUF, fr, arp_request(fr)), 0);
	assert_int_equal(netio(f, MVM_HC_NETWRITE, BUF, 60), 60);
	/* The reply (42 bytes; slirp pads to 64) does not fit 20 bytes: refused, kept. */
	n = netread_wait(f, BUF + 4096, 20);
	assert_int_equal(n, -MVM_EINVAL);
	n = netio(f, MVM_HC_NETREAD, BUF + 4096, 2048);
	assert_in_range(n, 42, 64);
	r = g(f, BUF + 4096, n);
	assert_memory_equal(r, net_mac, 6);              /* to us */
	assert_int_equal(r[12] << 8 | r[13], 0x0806);
	assert_int_equal(r[20] << 8 | r[21], 2);         /* a reply */
	assert_memory_equal(r + 22, host_mac, 6);        /* slirp's gateway MAC */
	assert_memory_equal(r + 28, ((uint8_t[]){ 10, 0, 2, 2 }), 4);
	assert_memory_equal(r + 32, net_mac, 6);
	assert_int_equal(netio(f, MVM_HC_NETREAD, BUF + 4096, 2048), -MVM_EAGAIN);
	hcall_net_get_stats(f->h.cfg.net, &st);
	assert_int_equal(st.tx_frames, 1);
	assert_int_equal(st.rx_frames, 1);
	assert_int_equal(st.rx_dropped, 0);
}

/* More replies than the queue holds: the newest are dropped and counted,
 * the oldest HCALL_NET_QUEUE are all there, in order. */
static void test_net_queue_bound(void **state)
{
	struct fixture *f = *state;
	struct hcall_net_stats st;
	uint8_t fr[60];
	int got = 0;

	add_net(f);
	assert_int_equal(gmem_write(&f->m, BUF, fr, arp_request(fr)), 0);
	for (int i = 0; i < HCALL_NET_QUEUE + 16; i++)
		assert_int_equal(netio(f, MVM_HC_NETWRITE, BUF, 60), 60);
	for (int i = 0; i < 400; i++) {
		hcall_net_get_stats(f->h.cfg.net, &st);
		if (st.rx_frames + st.rx_dropped >= HCALL_NET_QUEUE + 16)
			break;
		usleep(5000);
	}
	assert_int_equal(st.rx_frames, HCALL_NET_QUEUE);
	assert_int_equal(st.rx_dropped, 16);
	while (netio(f, MVM_HC_NETREAD, BUF + 4096, 2048) > 0)
		got++;
	assert_int_equal(got, HCALL_NET_QUEUE);
}

static void test_net_bad_args(void **state)
{
	struct fixture *f = *state;
	uint8_t fr[60];

	add_net(f);
	assert_int_equal(gmem_write(&f->m, BUF, fr, arp_request(fr)), 0);
	/* Lengths: under an ethernet header, over MVM_NET_MAX, zero. */
	assert_int_equal(netio(f, MVM_HC_NETWRITE, BUF, 0), -MVM_EINVAL);
	assert_int_equal(netio(f, MVM_HC_NETWRITE, BUF, 13), -MVM_EINVAL);
	assert_int_equal(netio(f, MVM_HC_NETWRITE, BUF, MVM_NET_MAX + 1), -MVM_EINVAL);
	assert_int_equal(netio(f, MVM_HC_NETWRITE, BUF, ~0ULL), -MVM_EINVAL);
	assert_int_equal(netio(f, MVM_HC_NETREAD, BUF, 0), -MVM_EINVAL);
	/* Buffers: past RAM, straddling its end, wrapping, in the MMIO hole. */
	assert_int_equal(netio(f, MVM_HC_NETWRITE, RAM, 60), -MVM_EFAULT);
	assert_int_equal(netio(f, MVM_HC_NETWRITE, RAM - 30, 60), -MVM_EFAULT);
	assert_int_equal(netio(f, MVM_HC_NETWRITE, ~0ULL - 10, 60), -MVM_EFAULT);
	assert_int_equal(netio(f, MVM_HC_NETWRITE, 0xfee00000ULL, 60), -MVM_EFAULT);
	assert_int_equal(netio(f, MVM_HC_NETREAD, RAM, 2048), -MVM_EFAULT);
	assert_int_equal(netio(f, MVM_HC_NETREAD, RAM - 100, 2048), -MVM_EFAULT);
	assert_int_equal(netio(f, MVM_HC_NETREAD, ~0ULL - 10, 64), -MVM_EFAULT);
	/* A huge read length is fine: only MVM_NET_MAX bytes must be RAM. */
	assert_int_equal(netio(f, MVM_HC_NETREAD, RAM - MVM_NET_MAX, ~0ULL), -MVM_EAGAIN);
	/* The struct itself outside RAM: ignored and counted, nothing sent. */
	uint32_t gpa = (uint32_t)RAM - 8;
	hcall_io(&f->h, MVM_HC_NETWRITE, (uint8_t *)&gpa, 4, true);
	assert_int_equal(atomic_load(&f->h.bad_structs), 1);
	struct hcall_net_stats st;
	hcall_net_get_stats(f->h.cfg.net, &st);
	assert_int_equal(st.tx_frames, 0);
}

/* A bad --net value fails at open, naming it. */
static void test_net_open_bad(void **state)
{
	struct fixture *f = *state;
	struct hcall_net *n = (void *)1;

	assert_int_equal(hcall_net_open(&n, "bogus"), -EINVAL);
	assert_null(n);
	assert_non_null(strstr(f->err, "bogus"));
}

static void test_exit(void **state)
{
	struct fixture *f = *state;
	struct mvm_hc_exit a = { .status = 42 };

	assert_int_equal(call(f, MVM_HC_EXIT, &a, sizeof(a)), 0);
	assert_int_equal(f->exits, 1);
	assert_int_equal(f->exit_status, 42);
	a.status = 0x1ff; /* taken modulo 256 */
	call(f, MVM_HC_EXIT, &a, sizeof(a));
	assert_int_equal(f->exit_status, 0xff);
}

static void test_fault_report(void **state)
{
	struct fixture *f = *state;
	struct mvm_fault_report r = { .vector = 14, .error_code = 0x7, .rip = 0x101234,
				      .cr2 = 0x41000, .cs = 0x23, .rsp = 0x9eff0, .rflags = 0x3002 };
	uint32_t forged = ARG;

	assert_int_equal(gmem_write(&f->m, LAYOUT_R3_FAULT_REPORT, &r, sizeof(r)), 0);
	/* The OUT's value is ignored: the report comes from mvm's own page. */
	hcall_io(&f->h, MVM_HC_FAULT, (uint8_t *)&forged, 4, true);
	assert_int_equal(f->exits, 1);
	assert_int_equal(f->exit_status, MVM_EXIT_CRASH);
	assert_non_null(strstr(f->err, "guest fault: #PF (page fault) at RIP 0x101234 CR2 0x41000 "
				       "error 0x7"));
	assert_non_null(strstr(f->err, "write to a supervisor-only page"));
	/* Only the first report counts. */
	hcall_io(&f->h, MVM_HC_FAULT, (uint8_t *)&forged, 4, true);
	assert_int_equal(f->exits, 1);
}

static void test_fault_ud(void **state)
{
	struct fixture *f = *state;
	struct mvm_fault_report r = { .vector = 6, .rip = 0x100020 };

	assert_int_equal(gmem_write(&f->m, LAYOUT_R3_FAULT_REPORT, &r, sizeof(r)), 0);
	hcall_dispatch(&f->h, MVM_HC_FAULT, 0);
	assert_non_null(strstr(f->err, "guest fault: #UD (invalid opcode) at RIP 0x100020"));
	assert_int_equal(f->exit_status, MVM_EXIT_CRASH);
}

static void test_open_disk_missing(void **state)
{
	struct fixture *f = *state;
	struct hcall_cfg cfg;

	hcall_cfg_init(&cfg);
	assert_int_equal(hcall_open_disk(&cfg, "/nonexistent/disk.img", false), -ENOENT);
	assert_non_null(strstr(f->err, "/nonexistent/disk.img"));
	assert_int_equal(cfg.disk_fd, -1);
}

/* A FIFO as a tiny guest's --disk: refused by type at once (a read-only
 * open of it used to wait for a writer forever), like a directory. */
static void test_open_disk_not_a_file(void **state)
{
	struct fixture *f = *state;
	char dir[] = "/tmp/mvm-test-hcall-XXXXXX", fifo[64];
	struct hcall_cfg cfg;

	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(5);   /* a regression hangs in open(): SIGALRM ends the test, failed */
	hcall_cfg_init(&cfg);
	assert_int_equal(hcall_open_disk(&cfg, fifo, true), -EINVAL);
	assert_non_null(strstr(f->err, "not a regular file or a block device (a FIFO); --disk"));
	assert_int_equal(hcall_open_disk(&cfg, dir, false), -EINVAL);
	assert_non_null(strstr(f->err, "(a directory)"));
	alarm(0);
	assert_int_equal(cfg.disk_fd, -1);
	unlink(fifo);
	rmdir(dir);
}

static void test_register(void **state)
{
	struct fixture *f = *state;
	struct bus pio;
	uint32_t gpa = ARG;
	struct mvm_hc_exit a = { .status = 7 };

	bus_init(&pio, "pio");
	assert_int_equal(hcall_register(&f->h, &pio), 0);
	assert_int_equal(gmem_write(&f->m, ARG, &a, sizeof(a)), 0);
	assert_true(bus_access(&pio, MVM_HC_PORT(MVM_HC_EXIT), (uint8_t *)&gpa, 4, true));
	assert_int_equal(f->exit_status, 7);
	/* A 4-byte OUT to the fault port (the last) is claimed whole. */
	assert_true(bus_access(&pio, MVM_HC_PORT(MVM_HC_FAULT), (uint8_t *)&gpa, 4, true));
	assert_int_equal(f->exits, 2);
	assert_int_equal(f->exit_status, MVM_EXIT_CRASH);
	assert_false(bus_access(&pio, MVM_HC_PORT_BASE + MVM_HC_PORT_COUNT + 3, (uint8_t *)&gpa, 1, true));
	assert_true(bus_find(&pio, PORT_PVPANIC) == NULL);
	bus_free(&pio);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_console), T(test_console_bad), T(test_time), T(test_no_disk),
		T(test_disk_rw), T(test_disk_ro), T(test_disk_bad_args), T(test_bad_struct),
		T(test_unknown_call), T(test_net_absent), T(test_exit), T(test_fault_report),
		T(test_fault_ud), T(test_open_disk_missing), T(test_open_disk_not_a_file), T(test_register),
		T(test_net_info), T(test_net_arp), T(test_net_queue_bound), T(test_net_bad_args),
		T(test_net_open_bad), T(test_supervisor_pages_refused),
	};

	return cmocka_run_group_tests_name("hcall", tests, NULL, NULL);
}
