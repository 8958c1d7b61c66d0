/* test_gdb_walk.c - the debugger's page-table walk over a fake guest memory: paging off,
 * 4-level with 4 KiB / 2 MiB / 1 GiB pages, 5-level, PAE, 32-bit with PSE and PSE-36, and
 * the failures (not present, non-canonical, a table outside RAM). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "gdb/walk.h"

#define MEM_SIZE (16u << 20)
#define P  1ull
#define RW 2ull
#define PS (1ull << 7)

static uint8_t *mem;

static int fake_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	(void)ctx;
	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return -EFAULT;
	memcpy(buf, mem + gpa, len);
	return 0;
}

static void put64(uint64_t gpa, uint64_t v) { memcpy(mem + gpa, &v, 8); }
static void put32(uint64_t gpa, uint32_t v) { memcpy(mem + gpa, &v, 4); }

static int setup(void **st)
{
	(void)st;
	mem = calloc(1, MEM_SIZE);
	return mem ? 0 : -1;
}

static int teardown(void **st)
{
	(void)st;
	free(mem);
	return 0;
}

static void expect(const struct gdb_paging *pg, uint64_t va, uint64_t pa, uint64_t room)
{
	uint64_t got = 0, left = 0;

	assert_int_equal(gdb_walk(pg, va, fake_read, NULL, &got, &left), 0);
	assert_true(got == pa);
	assert_true(left == room);
}

static void expect_fault(const struct gdb_paging *pg, uint64_t va)
{
	uint64_t got, left;

	assert_int_equal(gdb_walk(pg, va, fake_read, NULL, &got, &left), -EFAULT);
}

static void test_paging_off(void **st)
{
	struct gdb_paging pg = { .cr0 = 0x11 };

	(void)st;
	expect(&pg, 0x1234, 0x1234, 0x1000 - 0x234);
	expect(&pg, 0xfee00000, 0xfee00000, 0x1000);
}

#define CR0_PG (1ull << 31)
#define EFER_LMA (1ull << 10)

static void test_long_mode(void **st)
{
	struct gdb_paging pg = { .cr0 = CR0_PG | 1, .cr3 = 0x1000, .cr4 = 1 << 5,
				 .efer = EFER_LMA | (1 << 8) };

	(void)st;
	memset(mem, 0, 0x10000);
	/* 0xffffffff80000000: PML4[511] -> PDPT 0x2000, PDPT[510] -> PD 0x3000. */
	put64(0x1000 + 511 * 8, 0x2000 | P | RW);
	put64(0x2000 + 510 * 8, 0x3000 | P | RW);
	put64(0x3000 + 0 * 8, 0x4000 | P | RW);           /* PD[0] -> PT 0x4000 */
	put64(0x4000 + 5 * 8, 0x100000 | P);               /* PT[5] -> 1 MiB */
	put64(0x3000 + 1 * 8, 0x200000 | P | PS);          /* PD[1]: a 2 MiB page */
	/* Low half: PML4[0] -> PDPT 0x5000 whose [0] is a 1 GiB page at 1 GiB. */
	put64(0x1000, 0x5000 | P);
	put64(0x5000, 0x40000000 | P | PS);
	/* An NX bit and high flags must not leak into the address. */
	put64(0x4000 + 7 * 8, (1ull << 63) | 0x7ffull << 52 | 0x300000 | P);

	expect(&pg, 0xffffffff80005123ull, 0x100123, 0x1000 - 0x123);
	expect(&pg, 0xffffffff80201234ull, 0x201234, 0x200000 - 0x1234);
	expect(&pg, 0x12345678, 0x52345678, 0x40000000 - 0x12345678);
	expect(&pg, 0xffffffff80007000ull, 0x300000, 0x1000);
	/* PT[6] absent, PML4[1] absent, a non-canonical address. */
	expect_fault(&pg, 0xffffffff80006000ull);
	expect_fault(&pg, 0x0000008000000000ull);
	expect_fault(&pg, 0x0000800000000000ull);
	expect_fault(&pg, 0x8000000000000000ull);
	/* A table pointer outside guest RAM fails, it is not followed. */
	put64(0x1000 + 2 * 8, 0x7fff0000000ull | P);
	expect_fault(&pg, 0x0000010000000000ull);
	/* CR3 itself outside RAM. */
	pg.cr3 = 0x7ffff000000ull;
	expect_fault(&pg, 0x1000);
}

static void test_five_level(void **st)
{
	struct gdb_paging pg = { .cr0 = CR0_PG | 1, .cr3 = 0x1000, .cr4 = (1 << 5) | (1 << 12),
				 .efer = EFER_LMA };

	(void)st;
	memset(mem, 0, 0x10000);
	/* va 0xff00000000000000 + 0x1abc: PML5[256] PML4[0] PDPT[0] PD[0] PT[1]. */
	put64(0x1000 + 256 * 8, 0x2000 | P);
	put64(0x2000, 0x3000 | P);
	put64(0x3000, 0x4000 | P);
	put64(0x4000, 0x5000 | P);
	put64(0x5000 + 8, 0x9000 | P);
	expect(&pg, 0xff00000000001abcull, 0x9abc, 0x1000 - 0xabc);
	/* Canonical for 4 levels, not for 5: bit 56 set, bit 57 clear. */
	expect_fault(&pg, 0x0100000000000000ull);
}

static void test_pae(void **st)
{
	struct gdb_paging pg = { .cr0 = CR0_PG | 1, .cr3 = 0x5020, .cr4 = 1 << 5 };

	(void)st;
	memset(mem, 0, 0x10000);
	put64(0x5020 + 3 * 8, 0x6000 | P);        /* PDPTE[3] -> PD 0x6000 */
	put64(0x6000, 0x400000 | P | PS);         /* PD[0]: a 2 MiB page */
	put64(0x6000 + 8, 0x7000 | P);            /* PD[1] -> PT */
	put64(0x7000 + 2 * 8, 0xa000 | P);
	expect(&pg, 0xc0001234, 0x401234, 0x200000 - 0x1234);
	expect(&pg, 0xc0202345, 0xa345, 0x1000 - 0x345);
	expect_fault(&pg, 0x00001000);            /* PDPTE[0] absent */
}

static void test_32bit(void **st)
{
	struct gdb_paging pg = { .cr0 = CR0_PG | 1, .cr3 = 0x7000, .cr4 = 1 << 4 };

	(void)st;
	memset(mem, 0, 0x10000);
	put32(0x7000 + 0x300 * 4, 0x800000 | P | PS);            /* a 4 MiB page */
	put32(0x7000 + 1 * 4, 0x8000 | P);                        /* PDE[1] -> PT 0x8000 */
	put32(0x8000 + 2 * 4, 0x9000 | P);
	put32(0x7000 + 2 * 4, 0x00400000 | (1u << 13) | P | PS); /* PSE-36: base 1_00400000 */
	expect(&pg, 0xc0012345, 0x812345, 0x400000 - 0x12345);
	expect(&pg, 0x402abc, 0x9abc, 0x1000 - 0xabc);
	expect(&pg, 0x800010, 0x100400010ull, 0x400000 - 0x10);
	expect_fault(&pg, 0x403000);              /* PTE[3] absent */
	/* Without CR4.PSE the PS bit means nothing: PDE[0x300] is then a PT pointer. */
	pg.cr4 = 0;
	expect_fault(&pg, 0xc0012345);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paging_off),
		cmocka_unit_test(test_long_mode),
		cmocka_unit_test(test_five_level),
		cmocka_unit_test(test_pae),
		cmocka_unit_test(test_32bit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
