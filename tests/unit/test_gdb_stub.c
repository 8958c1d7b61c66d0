/* test_gdb_stub.c - the gdb stub's commands over a fake two-vCPU target: registers (g/G/p/P),
 * memory by virtual address (m/M/X, unmapped pages), software breakpoints hidden from reads,
 * hardware breakpoints and watchpoints into DR7, threads, vCont, stop replies, the target
 * description, and malformed packets of every command. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "gdb/stub.h"

#define MEM_SIZE (4u << 20)

struct fake {
	uint8_t *mem;
	struct gdb_regs regs[2];
	struct gdb_debug last;
	int resumes, injected, killed;
};

static int f_get(void *t, int cpu, struct gdb_regs *r)
{
	struct fake *f = t;

	if (cpu < 0 || cpu > 1)
		return -EINVAL;
	*r = f->regs[cpu];
	return 0;
}

static int f_set(void *t, int cpu, const struct gdb_regs *r)
{
	struct fake *f = t;

	if (cpu < 0 || cpu > 1)
		return -EINVAL;
	f->regs[cpu] = *r;
	return 0;
}

static int f_read(void *t, uint64_t gpa, void *buf, size_t len)
{
	struct fake *f = t;

	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return -EFAULT;
	memcpy(buf, f->mem + gpa, len);
	return 0;
}

static int f_write(void *t, uint64_t gpa, const void *buf, size_t len)
{
	struct fake *f = t;

	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return -EFAULT;
	memcpy(f->mem + gpa, buf, len);
	return 0;
}

static int f_resume(void *t, const struct gdb_debug *dbg)
{
	struct fake *f = t;

	f->last = *dbg;
	f->resumes++;
	return 0;
}

static int f_inject(void *t, int cpu)
{
	((struct fake *)t)->injected++;
	return 0;
}

static void f_kill(void *t)
{
	((struct fake *)t)->killed++;
}

static const struct gdb_target_ops fake_ops = {
	.get_regs = f_get, .set_regs = f_set, .read_phys = f_read, .write_phys = f_write,
	.resume = f_resume, .inject_bp = f_inject, .kill = f_kill,
};

struct ctx {
	struct fake f;
	struct gdb_stub s;
};

static int setup(void **st)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c || !(c->f.mem = calloc(1, MEM_SIZE)))
		return -1;
	for (int i = 0; i < 2; i++) {
		c->f.regs[i].rip = 0x1000 + (uint64_t)i;
		c->f.regs[i].gpr[0] = 0x1122334455667788ull + (uint64_t)i;
		c->f.regs[i].cr0 = 0x11;   /* paging off: virtual = physical */
	}
	for (unsigned i = 0; i < 0x10000; i++)
		c->f.mem[i] = (uint8_t)i;
	gdb_stub_init(&c->s, &fake_ops, &c->f, 2);
	*st = c;
	return 0;
}

static int teardown(void **st)
{
	struct ctx *c = *st;

	free(c->f.mem);
	free(c);
	return 0;
}

/* Send one packet; return its reply as a string (GDB_REPLY expected unless told). */
static const char *cmd(struct ctx *c, const char *pkt, enum gdb_result want)
{
	enum gdb_result r = gdb_stub_handle(&c->s, pkt, strlen(pkt));

	assert_int_equal(r, want);
	c->s.reply[c->s.reply_len] = '\0';
	return c->s.reply;
}

#define ASK(c, pkt) cmd(c, pkt, GDB_REPLY)

static void test_query(void **st)
{
	struct ctx *c = *st;

	assert_non_null(strstr(ASK(c, "qSupported:multiprocess+;swbreak+;xmlRegisters=i386"),
			       "PacketSize=1000"));
	assert_non_null(strstr(c->s.reply, "qXfer:features:read+"));
	assert_string_equal(ASK(c, "QStartNoAckMode"), "OK");
	assert_true(c->s.no_ack);
	assert_string_equal(ASK(c, "qfThreadInfo"), "m1,2");
	assert_string_equal(ASK(c, "qsThreadInfo"), "l");
	assert_string_equal(ASK(c, "qC"), "QC1");
	assert_string_equal(ASK(c, "qAttached"), "1");
	assert_string_equal(ASK(c, "?"), "T05thread:1;");
	assert_string_equal(ASK(c, "vCont?"), "vCont;c;C;s;S");
	assert_string_equal(ASK(c, "qWhatever"), "");
	assert_string_equal(ASK(c, "vMustReplyEmpty"), "");
	assert_string_equal(ASK(c, "T2"), "OK");
	assert_string_equal(ASK(c, "T3"), "E03");
	/* "vCPU 1" in hex */
	assert_string_equal(ASK(c, "qThreadExtraInfo,2"), "764350552031");
}

static void test_target_xml(void **st)
{
	struct ctx *c = *st;
	char got[16384] = "", pkt[64];
	size_t off = 0;

	for (;;) {
		snprintf(pkt, sizeof(pkt), "qXfer:features:read:target.xml:%zx,200", off);
		ASK(c, pkt);
		assert_true(c->s.reply[0] == 'm' || c->s.reply[0] == 'l');
		assert_true(off + c->s.reply_len - 1 < sizeof(got));
		memcpy(got + off, c->s.reply + 1, c->s.reply_len - 1);
		off += c->s.reply_len - 1;
		if (c->s.reply[0] == 'l')
			break;
	}
	assert_string_equal(got, gdb_stub_target_xml);
	assert_non_null(strstr(got, "<architecture>i386:x86-64</architecture>"));
	assert_non_null(strstr(got, "org.gnu.gdb.i386.sse"));
	assert_string_equal(ASK(c, "qXfer:features:read:other.xml:0,100"), "E02");
	assert_string_equal(ASK(c, "qXfer:features:read:target.xml:zz"), "E16");
	assert_string_equal(ASK(c, "qXfer:features:read:target.xml:ffff,10"), "l");
}

static void test_registers(void **st)
{
	struct ctx *c = *st;
	char g[2 * GDB_REGS_BYTES + 1], pkt[2 * GDB_REGS_BYTES + 8];

	ASK(c, "g");
	assert_int_equal(c->s.reply_len, 2 * GDB_REGS_BYTES);
	assert_memory_equal(c->s.reply, "8877665544332211", 16);   /* rax, little-endian */
	strcpy(g, c->s.reply);
	/* p 0x10 is rip, p 0x11 eflags (4 bytes). */
	assert_string_equal(ASK(c, "p10"), "0010000000000000");
	assert_int_equal(strlen(ASK(c, "p11")), 8);
	assert_string_equal(ASK(c, "P10=0020000000000000"), "OK");
	assert_true(c->f.regs[0].rip == 0x2000);
	/* cr3 is register 0x3d. */
	assert_string_equal(ASK(c, "P3d=0030000000000000"), "OK");
	assert_true(c->f.regs[0].cr3 == 0x3000);
	/* G writes everything back. */
	snprintf(pkt, sizeof(pkt), "G%s", g);
	assert_string_equal(ASK(c, pkt), "OK");
	assert_true(c->f.regs[0].rip == 0x1000 && c->f.regs[0].cr3 == 0);
	/* Hg2: the second vCPU. */
	assert_string_equal(ASK(c, "Hg2"), "OK");
	assert_string_equal(ASK(c, "p10"), "0110000000000000");
	assert_string_equal(ASK(c, "Hg0"), "OK");    /* any: stays */
	assert_string_equal(ASK(c, "p10"), "0110000000000000");
	/* Malformed. */
	assert_string_equal(ASK(c, "p41"), "E16");   /* register 65 does not exist */
	assert_string_equal(ASK(c, "p"), "E16");
	assert_string_equal(ASK(c, "pzz"), "E16");
	assert_string_equal(ASK(c, "P10=00"), "E16");
	assert_string_equal(ASK(c, "P10=zz20000000000000"), "E16");
	assert_string_equal(ASK(c, "P10"), "E16");
	assert_string_equal(ASK(c, "G00"), "E16");
	assert_string_equal(ASK(c, "gx"), "E16");
	assert_string_equal(ASK(c, "Hg3"), "E16");
	assert_string_equal(ASK(c, "Hx1"), "E16");
	assert_string_equal(ASK(c, "Hg"), "E16");
}

static void test_memory(void **st)
{
	struct ctx *c = *st;

	assert_string_equal(ASK(c, "m10,4"), "10111213");
	assert_string_equal(ASK(c, "M10,2:abcd"), "OK");
	assert_string_equal(ASK(c, "m10,4"), "abcd1213");
	/* X: binary, with '}' escapes ('}' 0x5d is 0x7d, '#'). */
	assert_int_equal(gdb_stub_handle(&c->s, "X20,3:a}\x5d\x00", 10), GDB_REPLY);
	assert_memory_equal(c->s.reply, "OK", 2);
	assert_memory_equal(c->f.mem + 0x20, "a}\x00", 3);
	assert_string_equal(ASK(c, "m0,0"), "");
	/* The end of RAM: a read that crosses it returns what could be read, one past fails. */
	assert_string_equal(ASK(c, "m3ffffe,4"), "0000");
	assert_string_equal(ASK(c, "m400000,4"), "E0e");
	assert_string_equal(ASK(c, "M400000,1:00"), "E0e");
	/* Malformed and oversized. */
	assert_string_equal(ASK(c, "m10"), "E16");
	assert_string_equal(ASK(c, "m,4"), "E16");
	assert_string_equal(ASK(c, "m10,4x"), "E16");
	assert_string_equal(ASK(c, "m10,100000"), "E16");
	assert_string_equal(ASK(c, "M10,2:ab"), "E16");
	assert_string_equal(ASK(c, "M10,1:zz"), "E16");
	assert_string_equal(ASK(c, "M10,1"), "E16");
	assert_int_equal(gdb_stub_handle(&c->s, "X20,3:a}", 8), GDB_REPLY);
	assert_memory_equal(c->s.reply, "E16", 3);
}

/* Long mode with one mapped page: a read across into an unmapped one is cut there. */
static void test_memory_paged(void **st)
{
	struct ctx *c = *st;
	uint64_t e;

	c->f.regs[0].cr0 = 0x80000011;
	c->f.regs[0].cr4 = 0x20;
	c->f.regs[0].efer = 0x500;
	c->f.regs[0].cr3 = 0x100000;
	e = 0x101000 | 1; memcpy(c->f.mem + 0x100000 + 511 * 8, &e, 8);   /* PML4[511] */
	e = 0x102000 | 1; memcpy(c->f.mem + 0x101000 + 510 * 8, &e, 8);   /* PDPT[510] */
	e = 0x103000 | 1; memcpy(c->f.mem + 0x102000, &e, 8);             /* PD[0] */
	e = 0x5000 | 1;   memcpy(c->f.mem + 0x103000, &e, 8);             /* PT[0] -> 0x5000 */
	assert_string_equal(ASK(c, "mffffffff80000010,2"), "1011");
	assert_string_equal(ASK(c, "mffffffff80000ffe,4"), "feff");        /* the next page is absent */
	assert_string_equal(ASK(c, "mffffffff80001000,4"), "E0e");
	assert_string_equal(ASK(c, "m0,4"), "E0e");
	assert_string_equal(ASK(c, "Mffffffff80001000,1:00"), "E0e");
	assert_string_equal(ASK(c, "Z0,ffffffff80001000,1"), "E0e");
	assert_string_equal(ASK(c, "Z0,ffffffff80000010,1"), "OK");
	assert_int_equal(c->f.mem[0x5010], 0xcc);
}

static void test_sw_breakpoints(void **st)
{
	struct ctx *c = *st;

	assert_string_equal(ASK(c, "Z0,100,1"), "OK");
	assert_int_equal(c->f.mem[0x100], 0xcc);
	assert_string_equal(ASK(c, "Z0,100,1"), "OK");            /* twice: one int3 */
	assert_int_equal(c->s.nr_sw, 1);
	/* Reads show the original byte. */
	assert_string_equal(ASK(c, "mfe,4"), "feff0001");
	/* A write under the breakpoint changes what is restored, the int3 stays. */
	assert_string_equal(ASK(c, "M100,1:5a"), "OK");
	assert_int_equal(c->f.mem[0x100], 0xcc);
	assert_string_equal(ASK(c, "m100,1"), "5a");
	assert_string_equal(ASK(c, "z0,100,1"), "OK");
	assert_int_equal(c->f.mem[0x100], 0x5a);
	assert_string_equal(ASK(c, "z0,100,1"), "OK");            /* gone already: fine */
	/* Clear restores every byte. */
	ASK(c, "Z0,200,1");
	ASK(c, "Z0,201,1");
	gdb_stub_clear(&c->s);
	assert_int_equal(c->f.mem[0x200], 0x00);
	assert_int_equal(c->f.mem[0x201], 0x01);
	assert_int_equal(c->s.nr_sw, 0);
	/* The table is bounded. */
	for (int i = 0; i < GDB_MAX_SWBP; i++) {
		char pkt[32];

		snprintf(pkt, sizeof(pkt), "Z0,%x,1", 0x1000 + i);
		assert_string_equal(ASK(c, pkt), "OK");
	}
	assert_string_equal(ASK(c, "Z0,3000,1"), "E1c");           /* ENOSPC */
	gdb_stub_clear(&c->s);
	for (int i = 0; i < GDB_MAX_SWBP; i++)
		assert_int_equal(c->f.mem[0x1000 + i], (uint8_t)(0x1000 + i));
	/* Malformed. */
	assert_string_equal(ASK(c, "Z5,100,1"), "E16");
	assert_string_equal(ASK(c, "Z0,100"), "E16");
	assert_string_equal(ASK(c, "Z0100,1"), "E16");
	assert_string_equal(ASK(c, "Z0,zz,1"), "E16");
	assert_string_equal(ASK(c, "Z0,100,1x"), "E16");
	assert_string_equal(ASK(c, "Z0,500000,1"), "E0e");        /* outside RAM */
}

static void test_hw_breakpoints(void **st)
{
	struct ctx *c = *st;
	struct gdb_debug d;

	assert_string_equal(ASK(c, "Z1,ffffffff81000000,1"), "OK");
	assert_string_equal(ASK(c, "Z2,1000,4"), "OK");
	assert_string_equal(ASK(c, "Z3,2000,8"), "OK");
	assert_string_equal(ASK(c, "Z4,3002,2"), "OK");
	assert_string_equal(ASK(c, "Z2,4000,4"), "E1c");          /* four debug registers */
	assert_string_equal(ASK(c, "Z2,1000,4"), "OK");           /* the same again: no slot */
	gdb_stub_debug(&c->s, &d);
	assert_true(d.hw);
	assert_true(d.dr[0] == 0xffffffff81000000ull && d.dr[1] == 0x1000 &&
		    d.dr[2] == 0x2000 && d.dr[3] == 0x3002);
	/* L0..L3; RW0=00 LEN0=00, RW1=01 LEN1=11, RW2=11 LEN2=10, RW3=11 LEN3=01 */
	assert_true(d.dr7 == (0x400 | 0x55 | 0x0ull << 16 | 0xdull << 20 | 0xbull << 24 |
			      0x7ull << 28));
	/* Misaligned or odd lengths cannot be watched. */
	assert_string_equal(ASK(c, "z2,1000,4"), "OK");
	assert_string_equal(ASK(c, "Z2,1001,4"), "E16");
	assert_string_equal(ASK(c, "Z2,1000,3"), "E16");
	assert_string_equal(ASK(c, "Z2,1000,0"), "E16");
	/* A watchpoint hit: DR6 bit 2 is slot 2, the read watch. */
	struct gdb_stop_info stop = { .cpu = 1, .why = GDB_STOP_DEBUG, .exception = 1,
				      .dr6 = 0xffff0ff4 };

	assert_true(gdb_stub_stopped(&c->s, &stop));
	c->s.reply[c->s.reply_len] = '\0';
	assert_string_equal(c->s.reply, "T05rwatch:2000;thread:2;");
	assert_string_equal(ASK(c, "?"), "T05rwatch:2000;thread:2;");
	assert_string_equal(ASK(c, "qC"), "QC2");
	gdb_stub_clear(&c->s);
	gdb_stub_debug(&c->s, &d);
	assert_false(d.hw);
}

static void test_resume_and_stop(void **st)
{
	struct ctx *c = *st;
	struct gdb_stop_info stop = { .cpu = 0, .why = GDB_STOP_DEBUG, .exception = 3,
				      .pc = 0x100 };

	cmd(c, "c", GDB_RESUMED);
	assert_int_equal(c->f.last.step_cpu, -1);
	cmd(c, "s", GDB_RESUMED);
	assert_int_equal(c->f.last.step_cpu, 0);
	cmd(c, "vCont;s:2;c", GDB_RESUMED);
	assert_int_equal(c->f.last.step_cpu, 1);
	cmd(c, "vCont;c", GDB_RESUMED);
	assert_int_equal(c->f.last.step_cpu, -1);
	cmd(c, "vCont;C05:1", GDB_RESUMED);
	cmd(c, "C05", GDB_RESUMED);
	cmd(c, "c2000", GDB_RESUMED);                 /* resume at 0x2000 */
	assert_true(c->f.regs[0].rip == 0x2000);
	assert_string_equal(ASK(c, "Hc2"), "OK");
	cmd(c, "S05;3000", GDB_RESUMED);
	assert_int_equal(c->f.last.step_cpu, 1);
	assert_true(c->f.regs[1].rip == 0x3000);
	assert_string_equal(ASK(c, "vCont;x"), "E16");
	assert_string_equal(ASK(c, "vCont;s:9"), "E16");
	assert_string_equal(ASK(c, "cxyz"), "E16");
	assert_string_equal(ASK(c, "Cz"), "E16");

	/* A #BP at one of our breakpoints is reported; the guest's own is handed back. */
	ASK(c, "Z0,100,1");
	assert_true(gdb_stub_stopped(&c->s, &stop));
	c->s.reply[c->s.reply_len] = '\0';
	assert_string_equal(c->s.reply, "T05thread:1;");
	int resumes = c->f.resumes;

	/* The guest's own int3 at 0x104: injected back, and the VM resumed. */
	c->f.mem[0x104] = 0xcc;
	stop.pc = 0x104;
	assert_false(gdb_stub_stopped(&c->s, &stop));
	assert_int_equal(c->f.injected, 1);
	assert_int_equal(c->f.resumes, resumes + 1);
	/* An int3 of ours removed before a second vCPU's hit was reported: no int3 there
	 * any more, nothing injected, the vCPU simply runs on. */
	ASK(c, "z0,100,1");
	stop.pc = 0x100;
	assert_false(gdb_stub_stopped(&c->s, &stop));
	assert_int_equal(c->f.injected, 1);
	assert_int_equal(c->f.resumes, resumes + 2);
	ASK(c, "Z0,100,1");
	/* An interrupt is SIGINT. */
	stop = (struct gdb_stop_info){ .cpu = 1, .why = GDB_STOP_INTERRUPT };
	assert_true(gdb_stub_stopped(&c->s, &stop));
	c->s.reply[c->s.reply_len] = '\0';
	assert_string_equal(c->s.reply, "T02thread:2;");
	/* Detach restores the int3's byte; kill asks the target. */
	cmd(c, "D", GDB_DETACHED);
	assert_int_equal(c->f.mem[0x100], 0x00);
	cmd(c, "k", GDB_KILLED);
	assert_int_equal(c->f.killed, 1);
}

static void test_garbage(void **st)
{
	struct ctx *c = *st;
	char junk[64];

	/* Nothing the client sends can make the stub misbehave: every byte value as a
	 * command letter, with junk after it. */
	for (int ch = 1; ch < 256; ch++) {
		enum gdb_result r;

		if (ch == 'c' || ch == 's' || ch == 'C' || ch == 'S' || ch == 'k' || ch == 'D' ||
		    ch == 'v')
			continue;
		snprintf(junk, sizeof(junk), "%c,,:;zz%c%c", ch, ch, ch);
		r = gdb_stub_handle(&c->s, junk, strlen(junk));
		assert_int_equal(r, GDB_REPLY);
		assert_true(c->s.reply_len < sizeof(c->s.reply));
	}
	/* A NUL inside a non-binary packet. */
	assert_int_equal(gdb_stub_handle(&c->s, "m1\0,4", 5), GDB_REPLY);
	assert_int_equal(c->s.reply_len, 0);
	assert_int_equal(gdb_stub_handle(&c->s, "", 0), GDB_REPLY);
	assert_int_equal(c->f.killed, 0);
}

/* 200,000 random packets from the protocol's own alphabet: replies stay within their buffer,
 * memory outside the fake RAM is never touched (ASan build), the stub keeps answering. */
static void test_random_packets(void **st)
{
	static const char alphabet[] = "0123456789abcdefABCDEFxXmMgGpPzZqQHTvcsCSDk?,;:=-}*#$ ";
	struct ctx *c = *st;
	uint32_t seed = 12345;
	char pkt[80];

	for (int n = 0; n < 200000; n++) {
		size_t len;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % sizeof(pkt);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			pkt[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		gdb_stub_handle(&c->s, pkt, len);
		assert_true(c->s.reply_len < sizeof(c->s.reply));
		assert_true(c->s.nr_sw <= GDB_MAX_SWBP);
	}
	gdb_stub_clear(&c->s);
	assert_string_equal(ASK(c, "qAttached"), "1");
}

static void test_ftag(void **st)
{
	uint8_t sts[8][10] = { { 0 } };

	(void)st;
	/* st0 = 1.0 (valid), st1 = 0 (zero), the rest empty; TOP = 6, so st0 is physical 6. */
	sts[0][7] = 0x80;
	sts[0][8] = 0xff;
	sts[0][9] = 0x3f;
	uint16_t full = gdb_ftag_full(0xc0, 6 << 11, sts);

	assert_int_equal(full, 0x4fff);   /* phys 7 = zero (01), phys 6 = valid (00) */
	assert_int_equal(gdb_ftag_abridged(full), 0xc0);
	assert_int_equal(gdb_ftag_full(0, 0, sts), 0xffff);
	assert_int_equal(gdb_ftag_abridged(0xffff), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_xml, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_paged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sw_breakpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hw_breakpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_and_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_packets, setup, teardown),
		cmocka_unit_test(test_ftag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
