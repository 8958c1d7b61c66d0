/* test_multiboot.c - Multiboot v1 loader on crafted a.out-kludge and ELF32 images. */
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
#include <unistd.h>

#include "boot/boot.h"
#include "boot/e820.h"
#include "core/layout.h"
#include "core/memory.h"
#include "image_fixture.h"
#include "util/log.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define IMG_LEN 0x3000
#define HDR_OFF 0x40           /* header's file offset in the a.out images */
#define LOAD 0x200000ULL       /* load_addr of the a.out images */
#define SEG_OFF 0x1000         /* ELF: the segment's file offset */
#define SEG_PADDR 0x400000ULL  /* where kvm-unit-tests load */

/* The spec's multiboot_info layout, written out independently of multiboot.c. */
struct info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table;
	uint32_t boot_loader_name, apm_table;
};
struct mod { uint32_t start, end, string, reserved; };

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* Header with flags at off; fields are the 5 a.out address fields or NULL. */
static void put_header(uint8_t *img, size_t off, uint32_t flags, const uint32_t *fields)
{
	put32(img + off, MULTIBOOT_MAGIC);
	put32(img + off + 4, flags);
	put32(img + off + 8, -(MULTIBOOT_MAGIC + flags));
	for (int i = 0; fields && i < 5; i++)
		put32(img + off + 12 + 4 * i, fields[i]);
}

/* Flat image: file offset 0 loads at LOAD, the header at HDR_OFF, 0x2000
 * file bytes, bss to LOAD + 0x5000, entry at LOAD + 0x100. */
static void make_aout(struct fixture *f, uint32_t header_addr, uint32_t load_addr,
		      uint32_t load_end, uint32_t bss_end, uint32_t entry)
{
	uint32_t fields[5] = { header_addr, load_addr, load_end, bss_end, entry };

	memset(f->img, 0, IMG_LEN);
	for (size_t i = HDR_OFF + 32; i < 0x2000; i++)
		f->img[i] = (uint8_t)(i * 7 + 1);
	put_header(f->img, HDR_OFF, 1u << 16 | 3, fields);
	f->len = 0x2000;
}

static void make_good_aout(struct fixture *f)
{
	make_aout(f, LOAD + HDR_OFF, LOAD, LOAD + 0x2000, LOAD + 0x5000, LOAD + 0x100);
}

static Elf32_Ehdr *ehdr(struct fixture *f) { return (Elf32_Ehdr *)f->img; }
static Elf32_Phdr *phdr(struct fixture *f, int i) { return fx_phdr32(f->img, i); }

/* ELF32 i386: one PT_LOAD of 0x1000 file bytes, 0x3000 in memory at
 * SEG_PADDR (as objcopy -O elf32-i386 makes kvm-unit-tests' x86/ .flat files),
 * a flags-0 multiboot header at the start of the segment. */
static void make_elf(struct fixture *f)
{
	memset(f->img, 0, IMG_LEN);
	fx_elf32(f->img, SEG_PADDR + 0x20, 2);
	*phdr(f, 0) = (Elf32_Phdr){ .p_type = PT_LOAD, .p_offset = SEG_OFF, .p_paddr = SEG_PADDR,
			    .p_vaddr = SEG_PADDR, .p_filesz = 0x1000, .p_memsz = 0x3000 };
	*phdr(f, 1) = (Elf32_Phdr){ .p_type = PT_NULL };
	for (size_t i = SEG_OFF; i < SEG_OFF + 0x1000; i++)
		f->img[i] = (uint8_t)(i * 3 + 5);
	put_header(f->img, SEG_OFF, 0, NULL);
	f->len = SEG_OFF + 0x1000;
}

static int setup(void **state)
{
	struct fixture *f = fx_new(64 * MIB, IMG_LEN);

	if (!f)
		return -1;
	f->cfg.kernel_path = "mb-kernel";
	f->cfg.cmdline = "mvmtest arg";
	*state = f;
	return 0;
}

static int load(struct fixture *f, const uint8_t *initrd, size_t initrd_len)
{
	struct boot_src k, i;

	f->err[0] = 0;
	memset(gmem_ptr(&f->m, 0, 64 * MIB), 0xee, 64 * MIB); /* bss must be zeroed */
	boot_src_buf(&k, "kernel", f->cfg.kernel_path, f->img, f->len);
	boot_src_buf(&i, "initrd", f->cfg.initrd_path, initrd, initrd_len);
	return multiboot_load(&f->m, &k, initrd ? &i : NULL, &f->cfg, &f->out);
}

static void expect_err(struct fixture *f, const char *needle)
{
	assert_int_equal(load(f, NULL, 0), -EINVAL);
	if (!strstr(f->err, needle))
		fail_msg("error \"%s\" does not contain \"%s\"", f->err, needle);
}

static void check_info(struct fixture *f, int with_initrd)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	int n = e820_build(&f->m, map, E820_MAX_ENTRIES);
	struct info info;
	char name[8];

	assert_int_equal(f->out.mode, BOOT_MODE_MULTIBOOT32);
	assert_int_equal(f->out.boot_info, LAYOUT_MB_INFO);
	assert_int_equal(gmem_read(&f->m, LAYOUT_MB_INFO, &info, sizeof(info)), 0);
	assert_int_equal(info.flags, (1u << 0) | (1u << 2) | (1u << 6) | (1u << 9) |
				     (with_initrd ? 1u << 3 : 0));
	assert_int_equal(info.mem_lower, LAYOUT_EBDA_START >> 10); /* 639 KiB */
	assert_int_equal(info.mem_upper, (64 * MIB - MIB) >> 10);
	assert_string_equal((char *)gmem_ptr(&f->m, info.cmdline, 1), "mvmtest arg");
	assert_int_equal(gmem_read(&f->m, info.boot_loader_name, name, 4), 0);
	assert_string_equal(name, "mvm");
	assert_true(n > 0);
	assert_int_equal(info.mmap_length, n * 24);
	for (int i = 0; i < n; i++) {
		const uint8_t *e = gmem_ptr(&f->m, info.mmap_addr + 24 * i, 24);
		uint32_t size, type;
		uint64_t addr, len;

		memcpy(&size, e, 4);
		memcpy(&addr, e + 4, 8);
		memcpy(&len, e + 12, 8);
		memcpy(&type, e + 20, 4);
		assert_int_equal(size, 20);
		assert_int_equal(addr, map[i].addr);
		assert_int_equal(len, map[i].size);
		assert_int_equal(type, map[i].type);
	}
	if (!with_initrd)
		assert_int_equal(info.mods_count, 0);
}

static void test_aout_loads(void **state)
{
	struct fixture *f = *state;
	const uint8_t *p;

	make_good_aout(f);
	assert_int_equal(load(f, NULL, 0), 0);
	assert_int_equal(f->out.entry, LOAD + 0x100);
	p = gmem_ptr(&f->m, LOAD, 0x5000);
	assert_memory_equal(p, f->img, 0x2000);
	for (int i = 0x2000; i < 0x5000; i++)
		assert_int_equal(p[i], 0);
	check_info(f, 0);
}

/* load_end_addr 0: to the end of the file; bss_end_addr 0: no bss. The
 * load starts at a file offset > 0 (load_addr above the file's start). */
static void test_aout_defaults(void **state)
{
	struct fixture *f = *state;

	make_aout(f, LOAD + 0x10, LOAD, 0, 0, LOAD + 0x100);
	/* header at file 0x40 is at LOAD + 0x10: load starts at file offset 0x30 */
	assert_int_equal(load(f, NULL, 0), 0);
	assert_memory_equal(gmem_ptr(&f->m, LOAD, 0x2000 - 0x30), f->img + 0x30, 0x2000 - 0x30);
	assert_int_equal(*(uint8_t *)gmem_ptr(&f->m, LOAD + 0x2000 - 0x30, 1), 0xee);
}

static void test_aout_initrd_module(void **state)
{
	struct fixture *f = *state;
	uint8_t initrd[0x1800];
	struct info info;
	struct mod mod;

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	f->cfg.initrd_path = "/tmp/my-initrd.img";
	make_good_aout(f);
	assert_int_equal(load(f, initrd, sizeof(initrd)), 0);
	check_info(f, 1);
	assert_int_equal(gmem_read(&f->m, LAYOUT_MB_INFO, &info, sizeof(info)), 0);
	assert_int_equal(info.mods_count, 1);
	assert_int_equal(gmem_read(&f->m, info.mods_addr, &mod, sizeof(mod)), 0);
	assert_int_equal(mod.start & 0xfff, 0);           /* flag bit 0: page aligned */
	assert_true(mod.start >= LOAD + 0x5000);           /* above the image and its bss */
	assert_int_equal(mod.end, mod.start + sizeof(initrd));
	assert_memory_equal(gmem_ptr(&f->m, mod.start, sizeof(initrd)), initrd, sizeof(initrd));
	assert_string_equal((char *)gmem_ptr(&f->m, mod.string, 1), "/tmp/my-initrd.img");
}

static void test_elf32_loads(void **state)
{
	struct fixture *f = *state;
	const uint8_t *p;

	make_elf(f);
	assert_int_equal(load(f, NULL, 0), 0);
	assert_int_equal(f->out.entry, SEG_PADDR + 0x20);
	p = gmem_ptr(&f->m, SEG_PADDR, 0x3000);
	assert_memory_equal(p, f->img + SEG_OFF, 0x1000);
	for (int i = 0x1000; i < 0x3000; i++)
		assert_int_equal(p[i], 0);
	check_info(f, 0);
}

static void test_find_header(void **state)
{
	struct fixture *f = *state;
	uint64_t off = 0;
	int ok = -1;

	memset(f->img, 0, IMG_LEN);
	assert_int_equal(multiboot_find_header(f->img, IMG_LEN, &off, &ok), 0);
	put_header(f->img, 0x101, 0, NULL); /* unaligned: not a header */
	assert_int_equal(multiboot_find_header(f->img, IMG_LEN, &off, &ok), 0);
	put_header(f->img, 0x200, 0, NULL);
	assert_int_equal(multiboot_find_header(f->img, IMG_LEN, &off, &ok), 1);
	assert_int_equal(off, 0x200);
	assert_int_equal(ok, 1);
	/* a header cut by the end of the buffer is not found */
	assert_int_equal(multiboot_find_header(f->img, 0x208, &off, &ok), 0);
}

static void test_bad_checksum(void **state)
{
	struct fixture *f = *state;

	make_good_aout(f);
	put32(f->img + HDR_OFF + 8, 0x12345678);
	expect_err(f, "mb-kernel: multiboot header at offset 0x40 has a bad checksum");
}

static void test_header_past_8192(void **state)
{
	struct fixture *f = *state;

	memset(f->img, 0, IMG_LEN);
	put_header(f->img, 8192, 0, NULL);
	f->len = IMG_LEN;
	expect_err(f, "no multiboot header (magic 0x1badb002) in the first 8192 bytes");
}

static void test_load_addr_above_header(void **state)
{
	struct fixture *f = *state;

	make_aout(f, LOAD, LOAD + 0x10, 0, 0, LOAD + 0x100);
	expect_err(f, "multiboot load_addr 0x200010 is above header_addr 0x200000");
	make_aout(f, LOAD + 0x1000, LOAD, 0, 0, LOAD + 0x100); /* before file start */
	expect_err(f, "is more than the header's file offset 0x40");
}

static void test_load_end_before_load(void **state)
{
	struct fixture *f = *state;

	make_aout(f, LOAD + HDR_OFF, LOAD, LOAD - 0x1000, 0, LOAD + 0x100);
	expect_err(f, "multiboot load_end_addr 0x1ff000 is not above load_addr 0x200000");
	make_aout(f, LOAD + HDR_OFF, LOAD, LOAD + 0x2001, 0, LOAD + 0x100);
	expect_err(f, "multiboot load_end_addr 0x202001: 0x2001 bytes from file offset 0x0 run "
		      "past the end of the file");
}

static void test_bss_end_before_load_end(void **state)
{
	struct fixture *f = *state;

	make_aout(f, LOAD + HDR_OFF, LOAD, LOAD + 0x2000, LOAD + 0x1000, LOAD + 0x100);
	expect_err(f, "multiboot bss_end_addr 0x201000 is below the end of the loaded image "
		      "0x202000");
}

static void test_aout_outside_ram(void **state)
{
	struct fixture *f = *state;

	/* past the end of 64 MiB of RAM */
	make_aout(f, 0x3fff000 + HDR_OFF, 0x3fff000, 0, 0x4001000, 0x3fff100);
	expect_err(f, "0x3fff000-0x4001000 is not inside guest RAM (guest RAM: 64 MiB); give "
		      "--mem more");
	/* into the info area below 1 MiB */
	make_aout(f, LAYOUT_MB_INFO + HDR_OFF, LAYOUT_MB_INFO, 0, 0, LAYOUT_MB_INFO + 0x100);
	expect_err(f, "multiboot load_addr..bss_end_addr 0x30000-0x32000 overlaps mvm's command "
		      "line and multiboot info at 0x20000-0x31000");
}

static void test_elf_segment_bad(void **state)
{
	struct fixture *f = *state;

	make_elf(f);
	phdr(f, 0)->p_paddr = 0x800; /* over the boot GDT */
	expect_err(f, "program header 0: 0x800-0x3800 is below 1 MiB but not within "
		      "0x1000-0x9fc00, where mvm lets a multiboot kernel load");
	make_elf(f);
	phdr(f, 0)->p_paddr = 0x9e000; /* into the EBDA */
	expect_err(f, "program header 0: 0x9e000-0xa1000 is below 1 MiB but not within");
	make_elf(f);
	phdr(f, 0)->p_paddr = 0x1f000; /* into the command line */
	expect_err(f, "program header 0: 0x1f000-0x22000 overlaps mvm's command line");
	make_elf(f);
	phdr(f, 0)->p_paddr = 0x3fff000; /* out of RAM */
	expect_err(f, "program header 0: 0x3fff000-0x4002000 is not inside guest RAM");
	make_elf(f);
	phdr(f, 0)->p_filesz = 0x1001;
	expect_err(f, "program header 0: p_offset 0x1000 + p_filesz 0x1001 is past the end");
	make_elf(f);
	phdr(f, 0)->p_memsz = 0x800;
	expect_err(f, "program header 0: p_filesz 0x1000 > p_memsz 0x800");
	make_elf(f);
	ehdr(f)->e_machine = EM_X86_64;
	expect_err(f, "ELF e_machine 62 is not i386 (3)");
	make_elf(f);
	ehdr(f)->e_phnum = 300;
	expect_err(f, "ELF e_phnum 300 is not within 1..64");
}

/* kvm-unit-tests' realmode.flat: ELF32 segments at 32 KiB, where the 64-bit
 * boot page tables would go; they are not written for a multiboot entry. */
static void test_elf_low_segment(void **state)
{
	struct fixture *f = *state;
	const uint8_t *p;

	make_elf(f);
	ehdr(f)->e_entry = 0x8020;
	phdr(f, 0)->p_paddr = phdr(f, 0)->p_vaddr = 0x8000;
	assert_int_equal(load(f, NULL, 0), 0);
	assert_int_equal(f->out.entry, 0x8020);
	p = gmem_ptr(&f->m, 0x8000, 0x3000);
	assert_memory_equal(p, f->img + SEG_OFF, 0x1000);
	for (int i = 0x1000; i < 0x3000; i++)
		assert_int_equal(p[i], 0);
	check_info(f, 0);
}

/* With 4 GiB of RAM, a segment into 0xc0000000.. says "MMIO hole". */
static void test_mmio_hole(void **state)
{
	struct fixture *f = *state;
	struct gmem big;

	if (gmem_init(&big, 4 * GIB)) {
		skip();
		return;
	}
	make_aout(f, 0xbffff000 + HDR_OFF, 0xbffff000, 0, 0xc0001000, 0xbffff100);
	struct gmem small = f->m;
	f->m = big;
	f->err[0] = 0;
	{
		struct boot_src k;

		boot_src_buf(&k, "kernel", "mb-kernel", f->img, f->len);
		assert_int_equal(multiboot_load(&f->m, &k, NULL, &f->cfg, &f->out), -EINVAL);
	}
	f->m = small;
	gmem_free(&big);
	assert_non_null(strstr(f->err, "reaches into the MMIO hole 0xc0000000-0xffffffff"));
}

static void test_entry_outside(void **state)
{
	struct fixture *f = *state;

	make_aout(f, LOAD + HDR_OFF, LOAD, LOAD + 0x2000, LOAD + 0x5000, LOAD + 0x3000);
	expect_err(f, "multiboot entry_addr 0x203000 is outside the loaded image "
		      "0x200000-0x202000");
	make_elf(f);
	ehdr(f)->e_entry = SEG_PADDR + 0x2000; /* in bss */
	expect_err(f, "ELF e_entry 0x402000 lies in no loaded segment");
}

static void test_flags(void **state)
{
	struct fixture *f = *state;

	make_elf(f);
	put_header(f->img, SEG_OFF, 1u << 2, NULL);
	expect_err(f, "asks for a video mode (flag bit 2)");
	make_elf(f);
	put_header(f->img, SEG_OFF, 1u << 5, NULL);
	expect_err(f, "unknown required bits 0x20");
	/* bits 0 and 1 are honoured; optional bits (17..31) are ignored */
	make_elf(f);
	put_header(f->img, SEG_OFF, 3u | 1u << 20, NULL);
	assert_int_equal(load(f, NULL, 0), 0);
}

/* Through boot_load and a real file: an ELF64 with a multiboot header but
 * no PVH note is refused with both reasons. */
static void test_elf64_multiboot_refused(void **state)
{
	struct fixture *f = *state;
	char path[FX_PATH_LEN];

	memset(f->img, 0, IMG_LEN);
	fx_elf64(f->img, SEG_PADDR, 1);
	*fx_phdr64(f->img, 0) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = SEG_OFF,
					      .p_paddr = SEG_PADDR, .p_filesz = 0x1000,
					      .p_memsz = 0x1000 };
	put_header(f->img, SEG_OFF, 0, NULL);
	f->cfg.kernel_path = fx_tmp_file(path, "/tmp/mvm-test-mb-XXXXXX", f->img, SEG_OFF + 0x1000);
	assert_int_equal(boot_load(&f->m, &f->cfg, &f->out), -EINVAL);
	unlink(path);
	assert_non_null(strstr(f->err, "also has a multiboot header, but mvm loads multiboot "
				       "kernels only as ELF32 or a.out-kludge images"));
}

/* boot_load picks the multiboot loader for a flat a.out-kludge file. */
static void test_boot_load_detects(void **state)
{
	struct fixture *f = *state;
	char path[FX_PATH_LEN];

	make_good_aout(f);
	f->cfg.kernel_path = fx_tmp_file(path, "/tmp/mvm-test-mb-XXXXXX", f->img, f->len);
	assert_int_equal(boot_load(&f->m, &f->cfg, &f->out), 0);
	unlink(path);
	assert_int_equal(f->out.mode, BOOT_MODE_MULTIBOOT32);
	assert_int_equal(f->out.entry, LOAD + 0x100);
}

/* An empty module (an empty --initrd): listed, start == end, page aligned
 * above the image; nothing written. */
static void test_empty_module(void **state)
{
	struct fixture *f = *state;
	static const uint8_t none[1];
	struct info info;
	struct mod mod;

	f->cfg.initrd_path = "/tmp/empty-env";
	make_good_aout(f);
	assert_int_equal(load(f, none, 0), 0);
	check_info(f, 1);
	assert_int_equal(gmem_read(&f->m, LAYOUT_MB_INFO, &info, sizeof(info)), 0);
	assert_int_equal(info.mods_count, 1);
	assert_int_equal(gmem_read(&f->m, info.mods_addr, &mod, sizeof(mod)), 0);
	assert_int_equal(mod.start, mod.end);
	assert_int_equal(mod.start & 0xfff, 0);
	assert_true(mod.start >= LOAD + 0x5000 && mod.start < 64 * MIB);
	assert_string_equal((char *)gmem_ptr(&f->m, mod.string, 1), "/tmp/empty-env");
}

/* QEMU's multiboot command line: "<kernel path> <args>", argv[0] first. */
static void test_cmdline(void **state)
{
	char buf[32];

	(void)state;
	assert_int_equal(multiboot_cmdline("x86/vmexit.flat", "cpuid", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "x86/vmexit.flat cpuid");
	assert_int_equal(multiboot_cmdline("/k", NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/k");
	assert_int_equal(multiboot_cmdline("/k", "", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/k");
	/* Exactly full (31 bytes + NUL) fits; one more does not. */
	assert_int_equal(multiboot_cmdline("/k", "0123456789012345678901234567", buf,
					   sizeof(buf)), 0);
	assert_int_equal(strlen(buf), 31);
	assert_int_equal(multiboot_cmdline("/k", "01234567890123456789012345678", buf,
					   sizeof(buf)), -ENOSPC);
	assert_int_equal(multiboot_cmdline(NULL, "a", buf, sizeof(buf)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_aout_loads, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_aout_defaults, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_aout_initrd_module, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_elf32_loads, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_find_header, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_checksum, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_header_past_8192, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_addr_above_header, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_end_before_load, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bss_end_before_load_end, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_aout_outside_ram, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_elf_segment_bad, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_mmio_hole, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_entry_outside, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_flags, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_elf64_multiboot_refused, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_boot_load_detects, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_empty_module, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_elf_low_segment, setup, fx_teardown),
		cmocka_unit_test(test_cmdline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
