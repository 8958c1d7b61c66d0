/* test_elf64.c - the ELF64 tiny-guest loader on crafted images, and the ring-3 tables it needs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "core/layout.h"
#include "core/memory.h"
#include "platform/ring3.h"
#include "image_fixture.h"
#include "mvm/abi.h"
#include "util/log.h"

#define MIB (1ULL << 20)
#define RAM (64 * MIB)
#define IMG_LEN 0x3000
#define TEXT 0x100000ULL
#define DATA 0x101000ULL
#define ENTRY (TEXT + 0x10)

static Elf64_Ehdr *ehdr(struct fixture *f) { return (Elf64_Ehdr *)f->img; }
static Elf64_Phdr *phdr(struct fixture *f, int i) { return fx_phdr64(f->img, i); }

/* Two PT_LOADs, as guest/link.ld makes: text (RX, 4 KiB at 1 MiB) and data
 * (RW, 0x100 bytes of file, 8 KiB in memory), plus a PT_GNU_STACK. */
static void make_elf(struct fixture *f)
{
	memset(f->img, 0, IMG_LEN);
	fx_elf64(f->img, ENTRY, 3);
	*phdr(f, 0) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0x1000,
				    .p_vaddr = TEXT, .p_paddr = TEXT, .p_filesz = 0x1000,
				    .p_memsz = 0x1000, .p_align = 0x1000 };
	*phdr(f, 1) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W, .p_offset = 0x2000,
				    .p_vaddr = DATA, .p_paddr = DATA, .p_filesz = 0x100,
				    .p_memsz = 0x2000, .p_align = 0x1000 };
	*phdr(f, 2) = (Elf64_Phdr){ .p_type = PT_GNU_STACK, .p_flags = PF_R | PF_W };
	memset(f->img + 0x1000, 0x90, 0x1000);
	memset(f->img + 0x2000, 0xab, 0x100);
	f->len = IMG_LEN;
}

static int setup(void **state)
{
	struct fixture *f = fx_new(RAM, IMG_LEN);

	assert_non_null(f);
	f->cfg = (struct boot_cfg){ .kernel_path = "guest.elf", .cmdline = "hello=1" };
	make_elf(f);
	*state = f;
	return 0;
}

static int load(struct fixture *f)
{
	struct boot_src k;

	f->err[0] = '\0';
	boot_src_buf(&k, "kernel", "guest.elf", f->img, f->len);
	return elf64_load(&f->m, &k, NULL, &f->cfg, &f->out);
}

/* Refused with -EINVAL, the message names what, and nothing was loaded. */
static void expect_refused(struct fixture *f, const char *what)
{
	uint8_t *text = gmem_ptr(&f->m, TEXT, 16);

	assert_int_equal(load(f), -EINVAL);
	if (!strstr(f->err, what))
		fail_msg("error \"%s\" does not mention \"%s\"", f->err, what);
	assert_int_equal(text[0], 0);
}

static void test_valid(void **state)
{
	struct fixture *f = *state;
	const uint8_t *text = gmem_ptr(&f->m, TEXT, 0x1000), *data = gmem_ptr(&f->m, DATA, 0x2000);
	const struct mvm_bootinfo *bi = gmem_ptr(&f->m, LAYOUT_R3_BOOTINFO, sizeof(*bi));

	memset(gmem_ptr(&f->m, DATA, 0x2000), 0x55, 0x2000); /* bss must be zeroed */
	assert_int_equal(load(f), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_ELF64);
	assert_int_equal(f->out.entry, ENTRY);
	assert_int_equal(f->out.boot_info, LAYOUT_R3_BOOTINFO);
	assert_int_equal(text[0], 0x90);
	assert_int_equal(text[0xfff], 0x90);
	assert_int_equal(data[0xff], 0xab);
	assert_int_equal(data[0x100], 0);
	assert_int_equal(data[0x1fff], 0);
	assert_int_equal(bi->magic, MVM_BOOTINFO_MAGIC);
	assert_int_equal(bi->version, MVM_ABI_VERSION);
	assert_int_equal(bi->mem_size, RAM);
	assert_int_equal(bi->low_mem_end, RAM);
	assert_int_equal(bi->image_end, DATA + 0x2000);
	assert_int_equal(bi->stack_top, LAYOUT_R3_STACK_TOP);
	assert_int_equal(bi->hc_port_base, MVM_HC_PORT_BASE);
	assert_int_equal(bi->nr_devices, 0);
	assert_int_equal(bi->cmdline_len, 7);
	assert_string_equal((const char *)gmem_ptr(&f->m, bi->cmdline, 8), "hello=1");
}

static void test_truncated_header(void **state)
{
	struct fixture *f = *state;

	f->len = 40;
	expect_refused(f, "truncated ELF header");
}

static void test_bad_magic(void **state)
{
	struct fixture *f = *state;

	f->img[1] = 'X';
	expect_refused(f, "no ELF magic");
}

static void test_bad_class(void **state)
{
	struct fixture *f = *state;

	f->img[EI_CLASS] = 7;
	expect_refused(f, "EI_CLASS 7");
}

/* A real ELF32 header given to the 64-bit path. */
static void test_elf32(void **state)
{
	struct fixture *f = *state;
	memset(f->img, 0, 0x100);
	fx_elf32(f->img, 0, 0);
	expect_refused(f, "32-bit ELF");
}

static void test_big_endian(void **state)
{
	struct fixture *f = *state;

	f->img[EI_DATA] = ELFDATA2MSB;
	expect_refused(f, "little-endian");
}

static void test_bad_machine(void **state)
{
	struct fixture *f = *state;

	ehdr(f)->e_machine = EM_386;
	expect_refused(f, "e_machine 3");
}

static void test_bad_type(void **state)
{
	struct fixture *f = *state;

	ehdr(f)->e_type = ET_DYN;
	expect_refused(f, "-static -no-pie");
	ehdr(f)->e_type = ET_REL;
	expect_refused(f, "not ET_EXEC");
}

static void test_huge_phnum(void **state)
{
	struct fixture *f = *state;

	ehdr(f)->e_phnum = 0xffff;
	expect_refused(f, "e_phnum 65535");
	ehdr(f)->e_phnum = 0;
	expect_refused(f, "e_phnum 0");
}

static void test_phdrs_past_eof(void **state)
{
	struct fixture *f = *state;

	ehdr(f)->e_phoff = IMG_LEN - 8;
	expect_refused(f, "program headers");
	ehdr(f)->e_phoff = ~0ULL - 8; /* the sum would wrap */
	expect_refused(f, "program headers");
}

static void test_bad_phentsize(void **state)
{
	struct fixture *f = *state;

	ehdr(f)->e_phentsize = 32;
	expect_refused(f, "e_phentsize");
}

static void test_load_past_ram(void **state)
{
	struct fixture *f = *state;

	phdr(f, 1)->p_paddr = phdr(f, 1)->p_vaddr = RAM - 0x1000;
	expect_refused(f, "outside guest RAM");
	phdr(f, 1)->p_paddr = phdr(f, 1)->p_vaddr = ~0ULL - 0xfff; /* end wraps */
	expect_refused(f, "program header 1: p_paddr 0xfffffffffffff000 + p_memsz 0x2000 overflows");
}

/* Below 1 MiB sit mvm's page tables and ring-0 stub. */
static void test_load_below_1mib(void **state)
{
	struct fixture *f = *state;

	phdr(f, 1)->p_paddr = phdr(f, 1)->p_vaddr = LAYOUT_R3_GDT;
	expect_refused(f, "outside guest RAM");
}

static void test_overlap(void **state)
{
	struct fixture *f = *state;

	phdr(f, 1)->p_paddr = phdr(f, 1)->p_vaddr = TEXT + 0xfff;
	expect_refused(f, "overlap");
}

static void test_entry_outside(void **state)
{
	struct fixture *f = *state;

	ehdr(f)->e_entry = 0x900000;
	expect_refused(f, "e_entry 0x900000");
	/* Inside a segment, but not an executable one. */
	ehdr(f)->e_entry = DATA + 0x10;
	expect_refused(f, "executable");
}

static void test_filesz_over_memsz(void **state)
{
	struct fixture *f = *state;

	phdr(f, 1)->p_memsz = 0x80;
	expect_refused(f, "p_filesz 0x100 > p_memsz 0x80");
}

static void test_segment_past_eof(void **state)
{
	struct fixture *f = *state;

	phdr(f, 1)->p_offset = IMG_LEN - 0x10;
	expect_refused(f, "past the end of the file");
}

static void test_interp_refused(void **state)
{
	struct fixture *f = *state;

	phdr(f, 2)->p_type = PT_INTERP;
	expect_refused(f, "type 0x3");
	phdr(f, 2)->p_type = PT_DYNAMIC;
	expect_refused(f, "type 0x2");
}

static void test_vaddr_ne_paddr(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_vaddr = 0xffffffff80100000ULL;
	expect_refused(f, "identity-maps");
}

static void test_initrd_refused(void **state)
{
	struct fixture *f = *state;
	struct boot_src k, rd;
	uint8_t b[16] = { 0 };

	boot_src_buf(&k, "kernel", "guest.elf", f->img, f->len);
	boot_src_buf(&rd, "initrd", "rd", b, sizeof(b));
	assert_int_equal(elf64_load(&f->m, &k, &rd, &f->cfg, &f->out), -EINVAL);
	assert_non_null(strstr(f->err, "initrd"));
}

static void test_detection(void **state)
{
	struct fixture *f = *state;
	struct boot_src k;
	uint32_t note[4] = { 4, 4, 18, 0 }; /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */

	boot_src_buf(&k, "kernel", "guest.elf", f->img, f->len);
	assert_true(elf64_is_tiny_guest(&k));
	/* A PVH note makes it a Linux vmlinux. */
	memcpy(&note[3], "Xen", 4);
	memcpy(f->img + 0x400, note, sizeof(note));
	memset(f->img + 0x410, 0, 4);
	*phdr(f, 2) = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x400, .p_filesz = 20 };
	assert_false(elf64_is_tiny_guest(&k));
	make_elf(f);
	ehdr(f)->e_type = ET_DYN;
	assert_false(elf64_is_tiny_guest(&k));
	boot_src_buf(&k, "kernel", "guest.elf", f->img, 20);
	assert_false(elf64_is_tiny_guest(&k));
}

static void test_add_device(void **state)
{
	struct fixture *f = *state;
	const struct mvm_bootinfo *bi = gmem_ptr(&f->m, LAYOUT_R3_BOOTINFO, sizeof(*bi));

	assert_int_equal(load(f), 0);
	for (int i = 0; i < MVM_BOOTINFO_MAX_DEVS; i++)
		assert_int_equal(elf64_add_device(&f->m, LAYOUT_R3_BOOTINFO,
						  LAYOUT_VIRTIO_MMIO_BASE + i * 0x1000, 0x1000, 5 + i, 2), 0);
	assert_int_equal(elf64_add_device(&f->m, LAYOUT_R3_BOOTINFO, 0, 0x1000, 0, 2), -ENOSPC);
	assert_int_equal(elf64_add_device(&f->m, RAM, 0, 0x1000, 0, 2), -EFAULT);
	assert_int_equal(bi->nr_devices, MVM_BOOTINFO_MAX_DEVS);
	assert_int_equal(bi->devices[1].base, LAYOUT_VIRTIO_MMIO_BASE + 0x1000);
	assert_int_equal(bi->devices[1].gsi, 6);
	assert_int_equal(bi->devices[1].device_id, 2);
}

/* The tables mvm builds around the guest: what ring 3 may touch. */
static void test_ring3_tables(void **state)
{
	struct fixture *f = *state;
	const uint64_t *pd = gmem_ptr(&f->m, LAYOUT_R3_PD, 4096);
	const uint64_t *pt = gmem_ptr(&f->m, LAYOUT_R3_PT, 4096);
	const uint64_t *idt = gmem_ptr(&f->m, LAYOUT_R3_IDT, 4096);
	const uint8_t *stub = gmem_ptr(&f->m, LAYOUT_R3_STUB, 4096);
	const uint8_t *tss = gmem_ptr(&f->m, LAYOUT_R3_TSS, 104);
	uint64_t rsp0;

	assert_int_equal(ring3_write_tables(&f->m), 0);
	assert_int_equal(pt[0] & 1, 0);                                  /* NULL not mapped */
	assert_int_equal(pt[LAYOUT_R3_BOOTINFO >> 12] & 7, 7);            /* user RW */
	for (uint64_t a = LAYOUT_R3_SYS_START; a < LAYOUT_R3_SYS_END; a += 4096)
		assert_int_equal(pt[a >> 12] & 7, 3);                      /* supervisor */
	assert_int_equal(pt[TEXT >> 12] & 7, 7);
	assert_int_equal(pt[LAYOUT_R3_STACK_BOTTOM >> 12] & 7, 7);
	assert_int_equal(pd[0] & ~0xfffULL, LAYOUT_R3_PT);
	assert_int_equal(pd[1], (2 * MIB) | 0x87);                       /* 2 MiB, user */
	/* #PF gate: present, DPL 0, interrupt gate, kernel CS, to stub slot 14. */
	assert_int_equal((idt[28] >> 40) & 0xff, 0x8e);
	assert_int_equal((idt[28] >> 16) & 0xffff, RING3_SEL_KCODE);
	assert_int_equal((idt[28] & 0xffff) | ((idt[28] >> 32) & 0xffff0000), LAYOUT_R3_STUB + 14 * 16);
	assert_int_equal(stub[14 * 16], 0x6a);       /* #PF has an error code: push $14 */
	assert_int_equal(stub[14 * 16 + 1], 14);
	assert_int_equal(stub[6 * 16], 0x6a);        /* #UD has none: push $0 first */
	assert_int_equal(stub[6 * 16 + 1], 0);
	assert_int_equal(stub[6 * 16 + 3], 6);
	memcpy(&rsp0, tss + 4, 8);
	assert_int_equal(rsp0, LAYOUT_R3_STACK0_TOP);
}

/* A triple fault's diagnosis: the tables as written are intact; the bits the
 * CPU sets are not a change; a gate or a mapping that moved is named. */
static void test_ring3_check_tables(void **state)
{
	struct fixture *f = *state;
	uint64_t *pt = gmem_ptr(&f->m, LAYOUT_R3_PT, 4096);
	uint64_t *idt = gmem_ptr(&f->m, LAYOUT_R3_IDT, 4096);
	uint8_t *report = gmem_ptr(&f->m, LAYOUT_R3_FAULT_REPORT, 16);
	char what[160] = "";
	uint64_t saved;

	assert_int_equal(ring3_write_tables(&f->m), 0);
	assert_int_equal(ring3_check_tables(&f->m, what, sizeof(what)), 0);
	pt[5] |= 0x60;                    /* Accessed + Dirty, as a walk leaves them */
	memset(report, 0xab, 16);         /* the stub's report is meant to change */
	assert_int_equal(ring3_check_tables(&f->m, what, sizeof(what)), 0);
	saved = idt[28];
	idt[28] ^= 0x1000;                /* the #PF gate now points elsewhere */
	assert_int_equal(ring3_check_tables(&f->m, what, sizeof(what)), 1);
	assert_non_null(strstr(what, "IDT at 0x420e0"));
	idt[28] = saved;
	pt[LAYOUT_R3_PML4 >> 12] |= 4;    /* the PML4 page made user-writable */
	assert_int_equal(ring3_check_tables(&f->m, what, sizeof(what)), 1);
	assert_non_null(strstr(what, "page table at 0x4b228"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_truncated_header, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_magic, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_class, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_elf32, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_big_endian, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_machine, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_type, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_huge_phnum, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_phdrs_past_eof, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_phentsize, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_past_ram, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_below_1mib, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_overlap, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_entry_outside, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_filesz_over_memsz, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_segment_past_eof, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_interp_refused, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_vaddr_ne_paddr, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_initrd_refused, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_detection, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_add_device, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ring3_tables, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ring3_check_tables, setup, fx_teardown),
	};

	return cmocka_run_group_tests_name("elf64", tests, NULL, NULL);
}
