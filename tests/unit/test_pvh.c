/* test_pvh.c - PVH ELF loader on crafted ELF images (and a real vmlinux when given). */
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
#define IMG_LEN 0x2000
#define NOTE_OFF 0x400
#define SEG_OFF 0x1000
#define SEG_PADDR 0x1000000ULL
#define ENTRY (SEG_PADDR + 0x10)

/* Xen's public/arch-x86/hvm/start_info.h layout, written out independently
 * of pvh.c so a mistake there is not mirrored here. */
struct si {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct mod { uint64_t paddr, size, cmdline_paddr, reserved; };
struct mm { uint64_t addr, size; uint32_t type, reserved; };

static Elf64_Ehdr *ehdr(struct fixture *f) { return (Elf64_Ehdr *)f->img; }
static Elf64_Phdr *phdr(struct fixture *f, int i) { return fx_phdr64(f->img, i); }

static size_t put_note(uint8_t *p, const char *name, uint32_t type, const void *desc,
		       uint32_t descsz)
{
	uint32_t namesz = strlen(name) + 1;
	size_t name_pad = (namesz + 3) & ~3u, desc_pad = (descsz + 3) & ~3u;

	memcpy(p, &namesz, 4);
	memcpy(p + 4, &descsz, 4);
	memcpy(p + 8, &type, 4);
	memcpy(p + 12, name, namesz);
	memcpy(p + 12 + name_pad, desc, descsz);
	return 12 + name_pad + desc_pad;
}

/* ELF64 x86-64 ET_EXEC: one PT_LOAD (4 KiB of file, 12 KiB in memory at
 * 16 MiB), one PT_NOTE holding two unrelated notes and then the PVH entry
 * (descsz 4 or 8, as different Linux versions emit). */
static void make_elf(struct fixture *f, uint64_t entry, uint32_t entry_descsz)
{
	uint8_t *n = f->img + NOTE_OFF;
	size_t nlen = 0;

	memset(f->img, 0, IMG_LEN);
	f->len = IMG_LEN;
	fx_elf64(f->img, 0xffffffff81000000ULL, 2);
	*phdr(f, 0) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
				    .p_offset = SEG_OFF, .p_vaddr = 0xffffffff81000000ULL,
				    .p_paddr = SEG_PADDR, .p_filesz = 0x1000, .p_memsz = 0x3000,
				    .p_align = 0x1000 };
	nlen += put_note(n + nlen, "Xen", 6, "linux", 6);
	nlen += put_note(n + nlen, "GNU", 3, "0123456789abcdefghij", 20);
	nlen += put_note(n + nlen, "Xen", 18, &entry, entry_descsz);
	*phdr(f, 1) = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = NOTE_OFF,
				    .p_filesz = nlen, .p_memsz = nlen, .p_align = 4 };
	for (int i = 0; i < 0x1000; i++)
		f->img[SEG_OFF + i] = (uint8_t)(i * 13 + 5);
}

static int setup_ram(void **state, uint64_t ram)
{
	struct fixture *f = fx_new(ram, IMG_LEN);

	if (!f)
		return -1;
	make_elf(f, ENTRY, 4);
	f->cfg = (struct boot_cfg){ .kernel_path = "vmlinux", .initrd_path = "initrd.img",
				    .cmdline = "console=ttyS0", .rsdp_gpa = LAYOUT_ACPI_START };
	*state = f;
	return 0;
}

static int setup(void **state) { return setup_ram(state, 256 * MIB); }
static int setup_4g(void **state) { return setup_ram(state, 4 * GIB); }

/* The loader on buffer sources: kernel labelled "vmlinux", initrd "initrd.img". */
static int load_img(struct fixture *f, const uint8_t *img, size_t len, const uint8_t *initrd,
		    size_t initrd_len)
{
	return fx_load_buf(f, pvh_load, "vmlinux", img, len, "initrd.img", initrd, initrd_len);
}

static int load(struct fixture *f, const uint8_t *initrd, size_t initrd_len)
{
	return load_img(f, f->img, f->len, initrd, initrd_len);
}

static void expect_reject(struct fixture *f, const char *text)
{
	f->err[0] = 0;
	assert_int_equal(load(f, NULL, 0), -EINVAL);
	if (!strstr(f->err, text))
		fail_msg("expected error containing \"%s\", got \"%s\"", text, f->err);
}

static void test_valid(void **state)
{
	struct fixture *f = *state;
	static const uint8_t initrd[6000] = { 0x30, 0x37, 0x30, 0x37 };
	struct e820_entry map[E820_MAX_ENTRIES];
	uint8_t *seg = gmem_ptr(&f->m, SEG_PADDR, 0x3000);
	struct si si;
	struct mod mod;
	struct mm mm;
	int n;

	memset(seg, 0xaa, 0x3000); /* the bss must come back zeroed */
	assert_int_equal(load(f, initrd, sizeof(initrd)), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_PVH32);
	assert_int_equal(f->out.entry, ENTRY);
	assert_int_equal(f->out.boot_info, LAYOUT_PVH_START_INFO);
	assert_memory_equal(seg, f->img + SEG_OFF, 0x1000);
	for (int i = 0x1000; i < 0x3000; i++)
		assert_int_equal(seg[i], 0);

	assert_int_equal(gmem_read(&f->m, LAYOUT_PVH_START_INFO, &si, sizeof(si)), 0);
	assert_int_equal(si.magic, 0x336ec578);
	assert_int_equal(si.version, 1);
	assert_int_equal(si.flags, 0);
	assert_int_equal(si.nr_modules, 1);
	assert_int_equal(si.modlist_paddr, LAYOUT_PVH_MODLIST);
	assert_int_equal(si.cmdline_paddr, LAYOUT_CMDLINE);
	assert_int_equal(si.rsdp_paddr, LAYOUT_ACPI_START);
	assert_int_equal(si.memmap_paddr, LAYOUT_PVH_MEMMAP);
	assert_string_equal((char *)gmem_ptr(&f->m, LAYOUT_CMDLINE, 1), "console=ttyS0");

	n = e820_build(&f->m, map, E820_MAX_ENTRIES);
	assert_int_equal(si.memmap_entries, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(gmem_read(&f->m, LAYOUT_PVH_MEMMAP + i * sizeof(mm), &mm,
					   sizeof(mm)), 0);
		assert_int_equal(mm.addr, map[i].addr);
		assert_int_equal(mm.size, map[i].size);
		assert_int_equal(mm.type, map[i].type);
		assert_int_equal(mm.reserved, 0);
	}

	assert_int_equal(gmem_read(&f->m, LAYOUT_PVH_MODLIST, &mod, sizeof(mod)), 0);
	assert_int_equal(mod.paddr, (256 * MIB - sizeof(initrd)) & ~0xfffULL);
	assert_int_equal(mod.size, sizeof(initrd));
	assert_int_equal(mod.cmdline_paddr, 0);
	assert_memory_equal(gmem_ptr(&f->m, mod.paddr, mod.size), initrd, sizeof(initrd));
}

static void test_no_initrd(void **state)
{
	struct fixture *f = *state;
	struct si si;

	f->cfg.initrd_path = NULL;
	assert_int_equal(load(f, NULL, 0), 0);
	assert_int_equal(gmem_read(&f->m, LAYOUT_PVH_START_INFO, &si, sizeof(si)), 0);
	assert_int_equal(si.nr_modules, 0);
	assert_int_equal(si.modlist_paddr, 0);
}

static void test_entry_note_8_bytes(void **state)
{
	struct fixture *f = *state;

	make_elf(f, ENTRY + 4, 8);
	assert_int_equal(load(f, NULL, 0), 0);
	assert_int_equal(f->out.entry, ENTRY + 4);
	make_elf(f, 0x100000000ULL | ENTRY, 8);
	expect_reject(f, "XEN_ELFNOTE_PHYS32_ENTRY note has a 8-byte descriptor that is not a "
			 "32-bit address");
}

static void test_missing_note(void **state)
{
	struct fixture *f = *state;

	phdr(f, 1)->p_type = PT_NULL;
	expect_reject(f, "vmlinux: ELF vmlinux has no XEN_ELFNOTE_PHYS32_ENTRY note");
	/* A PT_NOTE with only other notes is no better. */
	phdr(f, 1)->p_type = PT_NOTE;
	phdr(f, 1)->p_filesz = 12 + 4 + 8; /* just the first note */
	expect_reject(f, "has no XEN_ELFNOTE_PHYS32_ENTRY note");
}

static void test_malformed_note(void **state)
{
	struct fixture *f = *state;
	uint32_t huge = 0xfffffff0;

	memcpy(f->img + NOTE_OFF + 4, &huge, 4);
	expect_reject(f, "program header 1: note at file offset 0x400 (namesz 4, descsz "
			 "4294967280) runs past its segment");
}

static void test_segment_past_ram(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_paddr = 256 * MIB - 0x1000;
	expect_reject(f, "program header 0: 0xffff000-0x10002000 is not inside guest RAM "
			 "(guest RAM: 256 MiB); give --mem more");
}

static void test_segment_into_mmio_hole(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_paddr = LAYOUT_MMIO_HOLE_START - 0x1000;
	expect_reject(f, "program header 0: 0xbffff000-0xc0002000 reaches into the MMIO hole");
}

static void test_segment_above_4g(void **state)
{
	struct fixture *f = *state;
	static const uint8_t initrd[100];
	uint64_t high = LAYOUT_HIGH_RAM_START + 1 * GIB - 0x1000;
	struct mod mod;

	/* High RAM is loadable; the initrd still goes to the top of low RAM. */
	ehdr(f)->e_phnum = 3;
	*phdr(f, 2) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = SEG_OFF, .p_paddr = high,
				    .p_filesz = 0x1000, .p_memsz = 0x1000 };
	assert_int_equal(load(f, initrd, sizeof(initrd)), 0);
	assert_memory_equal(gmem_ptr(&f->m, high, 0x1000), f->img + SEG_OFF, 0x1000);
	assert_int_equal(gmem_read(&f->m, LAYOUT_PVH_MODLIST, &mod, sizeof(mod)), 0);
	assert_int_equal(mod.paddr, LAYOUT_MMIO_HOLE_START - 0x1000);
	/* One byte more and it crosses the end of RAM. */
	phdr(f, 2)->p_memsz = 0x1001;
	expect_reject(f, "program header 2: 0x13ffff000-0x140000001 is not inside guest RAM "
			 "(guest RAM: 4096 MiB)");
}

static void test_segment_below_1m(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_paddr = 0x9000;
	expect_reject(f, "program header 0: 0x9000-0xc000 starts below 1 MiB");
}

static void test_filesz_gt_memsz(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_memsz = 0x800;
	expect_reject(f, "program header 0: p_filesz 0x1000 > p_memsz 0x800");
}

static void test_offset_past_eof(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_offset = 0x1800;
	expect_reject(f, "program header 0: p_offset 0x1800 + p_filesz 0x1000 is past the end "
			 "of the file (8192 bytes)");
	phdr(f, 0)->p_offset = 0xffffffffffffff00ULL;
	expect_reject(f, "is past the end of the file");
	make_elf(f, ENTRY, 4);
	phdr(f, 1)->p_offset = IMG_LEN; /* the note segment too */
	expect_reject(f, "program header 1: p_offset 0x2000");
}

static void test_elf32_rejected(void **state)
{
	struct fixture *f = *state;

	ehdr(f)->e_ident[EI_CLASS] = ELFCLASS32;
	expect_reject(f, "vmlinux: ELF EI_CLASS 1 (a 32-bit ELF) is not ELFCLASS64");
}

static void test_wrong_machine(void **state)
{
	struct fixture *f = *state;

	ehdr(f)->e_machine = EM_386;
	expect_reject(f, "ELF e_machine 3 is not x86-64 (62)");
	ehdr(f)->e_machine = EM_AARCH64;
	expect_reject(f, "ELF e_machine 183 is not x86-64");
}

static void test_other_header_fields(void **state)
{
	struct fixture *f = *state;

	ehdr(f)->e_type = ET_DYN;
	expect_reject(f, "ELF e_type 3 is not ET_EXEC");
	make_elf(f, ENTRY, 4);
	ehdr(f)->e_ident[EI_DATA] = ELFDATA2MSB;
	expect_reject(f, "not little-endian");
	make_elf(f, ENTRY, 4);
	ehdr(f)->e_phoff = IMG_LEN - 64;
	expect_reject(f, "ELF program headers at e_phoff 0x1fc0 (2 x 56 bytes) run past the end");
	make_elf(f, ENTRY, 4);
	ehdr(f)->e_phentsize = 32;
	expect_reject(f, "ELF e_phentsize 32, expected 56");
	make_elf(f, ENTRY, 4);
	ehdr(f)->e_phnum = 0;
	expect_reject(f, "ELF e_phnum 0 is not within 1..64");
	f->len = 40;
	expect_reject(f, "vmlinux: truncated ELF header (40 bytes, need 64)");
}

static void test_paddr_overflow(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_paddr = 0xfffffffffffff000ULL;
	expect_reject(f, "program header 0: p_paddr 0xfffffffffffff000 + p_memsz 0x3000 "
			 "overflows");
}

static void test_entry_outside_segments(void **state)
{
	struct fixture *f = *state;

	make_elf(f, 0x2000000, 4);
	expect_reject(f, "vmlinux: PVH entry 0x2000000 (XEN_ELFNOTE_PHYS32_ENTRY) lies in no "
			 "loaded segment");
	make_elf(f, SEG_PADDR + 0x2000, 4); /* in the bss: nothing to run there */
	expect_reject(f, "PVH entry 0x1002000");
}

static void test_initrd_too_big(void **state)
{
	struct fixture *f = *state;
	size_t len = 240 * MIB + 1; /* 16 MiB + 12 KiB is the kernel's */
	uint8_t *big = calloc(1, len);

	assert_non_null(big);
	assert_int_equal(load(f, big, len), -EINVAL);
	assert_non_null(strstr(f->err, "initrd.img (241 MiB) does not fit below the end of low "
				       "RAM 0x10000000 and above the kernel's end 0x1003000"));
	assert_int_equal(load(f, big, len - 0x4000), 0);
	free(big);
}

static void test_boot_load_dispatches_elf(void **state)
{
	struct fixture *f = *state;
	char path[FX_PATH_LEN];

	f->cfg.kernel_path = fx_tmp_file(path, "/tmp/mvm-test-pvh-XXXXXX", f->img, f->len);
	f->cfg.initrd_path = NULL;
	assert_int_equal(boot_load(&f->m, &f->cfg, &f->out), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_PVH32);
	assert_int_equal(f->out.entry, ENTRY);
	unlink(path);
}

/* Load img (+ initrd) from buffers into a fresh guest, and through files
 * with boot_load (the pread path; img's own file when kfile is given, else
 * a temp copy) into another: RAM and entry must be identical. */
static void compare_img(struct fixture *f, const uint8_t *img, size_t len, const char *kfile,
			const uint8_t *initrd, size_t initrd_len)
{
	uint64_t ram = f->m.ram_size, low = gmem_low_end(&f->m);
	char kpath[FX_PATH_LEN], ipath[FX_PATH_LEN];
	struct boot_cfg cfg = f->cfg;
	struct boot_entry out2 = { 0 };
	struct gmem m2;

	gmem_free(&f->m);
	assert_int_equal(gmem_init(&f->m, ram), 0);
	assert_int_equal(load_img(f, img, len, initrd, initrd_len), 0);

	assert_int_equal(gmem_init(&m2, ram), 0);
	cfg.kernel_path = kfile ? kfile : fx_tmp_file(kpath, "/tmp/mvm-test-pvh-XXXXXX", img, len);
	cfg.initrd_path = initrd_len ? fx_tmp_file(ipath, "/tmp/mvm-test-pvh-rd-XXXXXX", initrd,
						   initrd_len) : NULL;
	assert_int_equal(boot_load(&m2, &cfg, &out2), 0);
	if (!kfile)
		unlink(kpath);
	if (initrd_len)
		unlink(ipath);

	assert_int_equal(out2.mode, f->out.mode);
	assert_int_equal(out2.entry, f->out.entry);
	assert_int_equal(out2.boot_info, f->out.boot_info);
	/* Every RAM region: low RAM, and RAM above 4 GiB when there is any. */
	fx_same_ram(&f->m, &m2);
	assert_int_equal(gmem_low_end(&m2), low);
	gmem_free(&m2);
}

static void compare_fd_and_buffer(struct fixture *f, const uint8_t *initrd, size_t initrd_len)
{
	compare_img(f, f->img, f->len, NULL, initrd, initrd_len);
}

static void test_fd_path_matches_buffer(void **state)
{
	struct fixture *f = *state;
	static uint8_t initrd[2 * 4096 + 77];

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 29 + 3);
	compare_fd_and_buffer(f, initrd, sizeof(initrd));
	compare_fd_and_buffer(f, NULL, 0);
	/* The bss was zeroed in guest RAM, not copied from the file. */
	assert_int_equal(*(uint8_t *)gmem_ptr(&f->m, SEG_PADDR + 0x2fff, 1), 0);
}

/* Same with a segment in RAM above 4 GiB (4 GiB guest: two regions). */
static void test_fd_path_matches_buffer_high(void **state)
{
	struct fixture *f = *state;
	static const uint8_t initrd[100] = { 0x30 };

	ehdr(f)->e_phnum = 3;
	*phdr(f, 2) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = SEG_OFF + 0x10,
				    .p_paddr = LAYOUT_HIGH_RAM_START + 0x5000,
				    .p_filesz = 0xff0, .p_memsz = 0x2000 };
	compare_fd_and_buffer(f, initrd, sizeof(initrd));
	compare_fd_and_buffer(f, NULL, 0);
}

/* The note segment is read into a host buffer: its size is checked first. */
static void test_note_segment_too_big(void **state)
{
	struct fixture *f = *state;
	size_t len = SEG_OFF + 0x1000 + 65 * 1024;
	uint8_t *img = calloc(1, len);
	struct boot_src k;

	assert_non_null(img);
	memcpy(img, f->img, IMG_LEN);
	fx_phdr64(img, 1)->p_filesz = 65 * 1024;
	boot_src_buf(&k, "kernel", "vmlinux", img, len);
	assert_int_equal(pvh_load(&f->m, &k, NULL, &f->cfg, &f->out), -EINVAL);
	assert_non_null(strstr(f->err, "vmlinux: program header 1: PT_NOTE p_filesz 0x10400 is "
				       "larger than mvm reads (65536 bytes)"));
	/* 64 KiB exactly is read; the PVH note is in its first bytes. */
	fx_phdr64(img, 1)->p_filesz = 64 * 1024;
	assert_int_equal(pvh_load(&f->m, &k, NULL, &f->cfg, &f->out), 0);
	assert_int_equal(f->out.entry, ENTRY);
	free(img);
}

/* A real vmlinux (tests/tools/extract-vmlinux.sh on the Debian bzImage):
 * skipped unless MVM_TEST_VMLINUX names one. */
static void test_real_vmlinux(void **state)
{
	struct fixture *f = *state;
	const char *path = getenv("MVM_TEST_VMLINUX");
	struct si si;

	if (!path || access(path, R_OK) != 0)
		skip();
	f->cfg.kernel_path = path;
	f->cfg.initrd_path = NULL;
	assert_int_equal(boot_load(&f->m, &f->cfg, &f->out), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_PVH32);
	assert_true(f->out.entry >= LAYOUT_HIMEM_START && f->out.entry < 256 * MIB);
	assert_int_equal(gmem_read(&f->m, LAYOUT_PVH_START_INFO, &si, sizeof(si)), 0);
	assert_int_equal(si.magic, 0x336ec578);

	/* Read whole into a buffer, it loads exactly as through the file. */
	{
		static const uint8_t initrd[5000] = { 0x30, 0x37 };
		FILE *fp = fopen(path, "rb");
		uint8_t *img;
		long len;

		assert_non_null(fp);
		fseek(fp, 0, SEEK_END);
		len = ftell(fp);
		rewind(fp);
		img = malloc(len);
		assert_non_null(img);
		assert_int_equal(fread(img, 1, len, fp), (size_t)len);
		fclose(fp);
		f->cfg.initrd_path = "initrd.img";
		compare_img(f, img, len, path, initrd, sizeof(initrd));
		compare_img(f, img, len, path, NULL, 0);
		free(img);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_valid),
		T(test_no_initrd),
		T(test_entry_note_8_bytes),
		T(test_missing_note),
		T(test_malformed_note),
		T(test_segment_past_ram),
		cmocka_unit_test_setup_teardown(test_segment_into_mmio_hole, setup_4g, fx_teardown),
		cmocka_unit_test_setup_teardown(test_segment_above_4g, setup_4g, fx_teardown),
		T(test_segment_below_1m),
		T(test_filesz_gt_memsz),
		T(test_offset_past_eof),
		T(test_elf32_rejected),
		T(test_wrong_machine),
		T(test_other_header_fields),
		T(test_paddr_overflow),
		T(test_entry_outside_segments),
		T(test_initrd_too_big),
		T(test_boot_load_dispatches_elf),
		T(test_fd_path_matches_buffer),
		cmocka_unit_test_setup_teardown(test_fd_path_matches_buffer_high, setup_4g, fx_teardown),
		T(test_note_segment_too_big),
		T(test_real_vmlinux),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
