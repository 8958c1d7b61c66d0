/* test_gdb_server.c - the gdb stub's socket thread with a fake VM, through a real Unix socket:
 * address parsing, acks and NAKs, an oversize packet, no-ack mode, resume and ^C, a second
 * client turned away, a client that leaves while the VM is stopped (the VM runs on), and the
 * exit status sent when the VM ends. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "gdb/server.h"

static uint8_t fake_mem[0x10000];
static int halts, releases, resumes;

static int f_get(void *t, int cpu, struct gdb_regs *r) { memset(r, 0, sizeof(*r)); return 0; }
static int f_set(void *t, int cpu, const struct gdb_regs *r) { return 0; }
static int f_read(void *t, uint64_t gpa, void *buf, size_t len)
{
	if (gpa >= sizeof(fake_mem) || len > sizeof(fake_mem) - gpa)
		return -EFAULT;
	memcpy(buf, fake_mem + gpa, len);
	return 0;
}
static int f_write(void *t, uint64_t gpa, const void *buf, size_t len)
{
	if (gpa >= sizeof(fake_mem) || len > sizeof(fake_mem) - gpa)
		return -EFAULT;
	memcpy(fake_mem + gpa, buf, len);
	return 0;
}
static int f_resume(void *t, const struct gdb_debug *d) { __atomic_add_fetch(&resumes, 1, __ATOMIC_SEQ_CST); return 0; }
static int f_inject(void *t, int cpu) { return 0; }
static void f_kill(void *t) { }
static int f_halt(void *t, enum gdb_stop_why why, struct gdb_stop_info *st)
{
	__atomic_add_fetch(&halts, 1, __ATOMIC_SEQ_CST);
	*st = (struct gdb_stop_info){ .cpu = 0, .why = why };
	return 0;
}
static void f_release(void *t) { __atomic_add_fetch(&releases, 1, __ATOMIC_SEQ_CST); }

static const struct gdb_target_ops tops = {
	.get_regs = f_get, .set_regs = f_set, .read_phys = f_read, .write_phys = f_write,
	.resume = f_resume, .inject_bp = f_inject, .kill = f_kill,
};
static const struct gdb_server_ops sops = { .halt = f_halt, .release = f_release };

static void test_addresses(void **st)
{
	struct gdb_server s;
	char err[256];

	(void)st;
	assert_int_equal(gdb_server_open(&s, "1234", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "expected tcp:HOST:PORT or unix:PATH"));
	assert_int_equal(gdb_server_open(&s, "tcp:127.0.0.1:0", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "expected 1 to 65535"));
	assert_int_equal(gdb_server_open(&s, "tcp:127.0.0.1:http", err, sizeof(err)), -EINVAL);
	assert_int_equal(gdb_server_open(&s, "tcp:1234", err, sizeof(err)), -EINVAL);
	assert_int_equal(gdb_server_open(&s, "tcp:localhost:1234", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "numeric address"));
	assert_int_equal(gdb_server_open(&s, "unix:", err, sizeof(err)), -EINVAL);
	/* A regular file is not replaced. */
	char path[] = "/tmp/mvm-gdb-test-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	char addr[64];

	snprintf(addr, sizeof(addr), "unix:%s", path);
	assert_int_equal(gdb_server_open(&s, addr, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "not a socket"));
	unlink(path);
}

/* Read until a whole frame (or a lone ack) arrives; returns what was read. */
static char *rd(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	char *hash;

	buf[0] = '\0';
	while (n + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 3000) != 1)
			break;
		ssize_t r = read(fd, buf + n, cap - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
		if ((hash = strchr(buf, '#')) && strlen(hash) >= 3)
			break;
		if (n == 1 && (buf[0] == '+' || buf[0] == '-') && strchr(buf, '$') == NULL) {
			/* an ack alone: maybe a frame follows, give it a moment */
			p.revents = 0;
			if (poll(&p, 1, 200) != 1)
				break;
		}
	}
	return buf;
}

static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_str(int fd, const char *s) { assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s)); }

static void test_session(void **st)
{
	static char big[GDB_PACKET_MAX + 200];
	char dir[] = "/tmp/mvm-gdb-srv-XXXXXX", path[128], addr[140], err[256], buf[8192];
	struct gdb_server s;
	int efd = eventfd(0, EFD_CLOEXEC), c, c2;
	uint8_t sum = 0;

	(void)st;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/gdb.sock", dir);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	assert_int_equal(gdb_server_open(&s, addr, err, sizeof(err)), 0);
	assert_int_equal(gdb_server_start(&s, &tops, &sops, NULL, 2, efd, true), 0);

	c = dial(path);
	send_str(c, "noise\x01\xff+$?#3f");
	assert_string_equal(rd(c, buf, sizeof(buf)), "+$T05thread:1;#d7");
	send_str(c, "$g#00");                             /* bad checksum */
	assert_string_equal(rd(c, buf, sizeof(buf)), "-");
	/* Oversize with a good checksum: acked, refused. */
	big[0] = '$';
	memset(big + 1, 'a', GDB_PACKET_MAX + 100);
	for (int i = 1; i <= GDB_PACKET_MAX + 100; i++)
		sum += 'a';
	snprintf(big + 1 + GDB_PACKET_MAX + 100, 4, "#%02x", sum);
	send_str(c, big);
	assert_string_equal(rd(c, buf, sizeof(buf)), "+$E16#ac");
	/* A NAK: the last reply again. */
	send_str(c, "-");
	assert_string_equal(rd(c, buf, sizeof(buf)), "$E16#ac");
	/* No-ack mode: no more '+'. */
	send_str(c, "$QStartNoAckMode#b0");
	assert_string_equal(rd(c, buf, sizeof(buf)), "+$OK#9a");
	send_str(c, "$qC#b4");
	assert_string_equal(rd(c, buf, sizeof(buf)), "$QC1#c5");
	/* A second client is turned away while the first stays. */
	c2 = dial(path);
	assert_int_equal(read(c2, buf, 1), 0);   /* closed by the stub at once */
	close(c2);
	/* Continue, then ^C: a halt and a SIGINT stop reply. */
	int h = __atomic_load_n(&halts, __ATOMIC_SEQ_CST);

	send_str(c, "$c#63");
	send_str(c, "\x03");
	assert_string_equal(rd(c, buf, sizeof(buf)), "$T02thread:1;#d4");
	assert_int_equal(__atomic_load_n(&resumes, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(__atomic_load_n(&halts, __ATOMIC_SEQ_CST), h + 1);
	/* The client leaves with the VM stopped: the VM is released. */
	send_str(c, "$Z0,100,1#a4");
	assert_string_equal(rd(c, buf, sizeof(buf)), "$OK#9a");
	assert_int_equal(fake_mem[0x100], 0xcc);
	close(c);
	for (int i = 0; i < 100 && !__atomic_load_n(&releases, __ATOMIC_SEQ_CST); i++)
		usleep(10000);
	assert_int_equal(__atomic_load_n(&releases, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(fake_mem[0x100], 0x00);   /* the int3 is gone */
	/* A new client halts the running VM on connect; the VM's end is reported to it. */
	c = dial(path);
	send_str(c, "$?#3f");
	assert_string_equal(rd(c, buf, sizeof(buf)), "+$T05thread:1;#d7");
	gdb_server_stop(&s, 7);
	assert_string_equal(rd(c, buf, sizeof(buf)), "$W07#be");
	close(c);
	close(efd);
	assert_int_equal(access(path, F_OK), -1);   /* the socket file is removed */
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_session),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
