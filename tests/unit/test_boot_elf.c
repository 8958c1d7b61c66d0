/* test_boot_elf.c - the shared ELF32/ELF64 validator (boot/elf.c) on crafted headers: each bad field refused, named. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "boot/elf.h"
#include "image_fixture.h"

#define IMG_LEN  0x2000
#define SEG_OFF  0x1000
#define NOTE_OFF 0x400
#define PADDR    0x200000ULL

static const struct boot_elf_rules rules64 = {
	.class = ELFCLASS64, .machine = EM_X86_64, .machine_name = "x86-64",
	.class_hint = "HINT64", .dyn_hint = "DYNHINT",
};
static const struct boot_elf_rules rules32 = {
	.class = ELFCLASS32, .machine = EM_386, .machine_name = "i386", .class_hint = "HINT32",
};

/* One PT_LOAD (0x800 file bytes, 0x1000 in memory) and one PT_NOTE holding
 * a "Xen" note of type 18, in the class the test runs. */
static void make(struct fixture *f, uint8_t class)
{
	static const uint32_t note[5] = { 4, 4, 18, 0x006e6558 /* "Xen\0" */, 0x1234567 };

	memset(f->img, 0, IMG_LEN);
	f->len = IMG_LEN;
	memcpy(f->img + NOTE_OFF, note, sizeof(note));
	if (class == ELFCLASS64) {
		fx_elf64(f->img, PADDR + 0x10, 2);
		*fx_phdr64(f->img, 0) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
						      .p_offset = SEG_OFF, .p_vaddr = PADDR,
						      .p_paddr = PADDR, .p_filesz = 0x800,
						      .p_memsz = 0x1000, .p_align = 0x1000 };
		*fx_phdr64(f->img, 1) = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = NOTE_OFF,
						      .p_filesz = sizeof(note), .p_align = 4 };
	} else {
		fx_elf32(f->img, PADDR + 0x10, 2);
		*fx_phdr32(f->img, 0) = (Elf32_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
						      .p_offset = SEG_OFF, .p_vaddr = PADDR,
						      .p_paddr = PADDR, .p_filesz = 0x800,
						      .p_memsz = 0x1000, .p_align = 0x1000 };
		*fx_phdr32(f->img, 1) = (Elf32_Phdr){ .p_type = PT_NOTE, .p_offset = NOTE_OFF,
						      .p_filesz = sizeof(note), .p_align = 4 };
	}
}

static int setup(void **state)
{
	struct fixture *f = fx_new(16 << 20, IMG_LEN);

	if (!f)
		return -1;
	*state = f;
	return 0;
}

static Elf64_Ehdr *eh64(struct fixture *f) { return (Elf64_Ehdr *)f->img; }
static Elf32_Ehdr *eh32(struct fixture *f) { return (Elf32_Ehdr *)f->img; }

static int parse(struct fixture *f, const struct boot_elf_rules *r, struct boot_elf *elf)
{
	struct boot_src src;

	f->err[0] = 0;
	f->nr_err = 0;
	boot_src_buf(&src, "kernel", "img", f->img, f->len);
	return boot_elf_parse(&src, r, elf);
}

/* Refused with -EINVAL and exactly one message, which names the file and
 * contains needle (the field); then the image is rebuilt for the next case. */
static void expect_bad(struct fixture *f, const struct boot_elf_rules *r, const char *needle)
{
	struct boot_elf elf;

	assert_int_equal(parse(f, r, &elf), -EINVAL);
	assert_int_equal(f->nr_err, 1);
	if (!strstr(f->err, needle) || strncmp(f->err, "img: ", 5) != 0)
		fail_msg("error \"%s\" does not name the file and \"%s\"", f->err, needle);
	make(f, r->class);
}

static void test_valid_both_classes(void **state)
{
	struct fixture *f = *state;
	struct boot_elf elf;

	make(f, ELFCLASS64);
	assert_int_equal(parse(f, &rules64, &elf), 0);
	assert_int_equal(f->nr_err, 0);
	assert_int_equal(elf.class, ELFCLASS64);
	assert_int_equal(elf.phnum, 2);
	assert_int_equal(elf.entry, PADDR + 0x10);
	assert_int_equal(elf.seg[0].type, PT_LOAD);
	assert_int_equal(elf.seg[0].offset, SEG_OFF);
	assert_int_equal(elf.seg[0].paddr, PADDR);
	assert_int_equal(elf.seg[0].filesz, 0x800);
	assert_int_equal(elf.seg[0].memsz, 0x1000);
	assert_int_equal(elf.seg[0].flags, PF_R | PF_X);
	assert_int_equal(elf.seg[1].type, PT_NOTE);

	make(f, ELFCLASS32);
	assert_int_equal(parse(f, &rules32, &elf), 0);
	assert_int_equal(elf.class, ELFCLASS32);
	assert_int_equal(elf.machine, EM_386);
	assert_int_equal(elf.seg[0].paddr, PADDR);
	assert_int_equal(elf.seg[0].memsz, 0x1000);
	assert_int_equal(elf.seg[1].offset, NOTE_OFF);
}

/* e_ident: magic, class (with the loader's hint), data, version; short files. */
static void test_ident(void **state)
{
	struct fixture *f = *state;

	for (int c = 0; c < 2; c++) {
		const struct boot_elf_rules *r = c ? &rules32 : &rules64;

		make(f, r->class);
		f->img[1] = 'X';
		expect_bad(f, r, "no ELF magic (e_ident[EI_MAG0..EI_MAG3]");
		f->img[EI_CLASS] = c ? ELFCLASS64 : ELFCLASS32;
		expect_bad(f, r, c ? "EI_CLASS 2 (a 64-bit ELF) is not ELFCLASS32; HINT32"
				   : "EI_CLASS 1 (a 32-bit ELF) is not ELFCLASS64; HINT64");
		f->img[EI_CLASS] = 9;
		expect_bad(f, r, "EI_CLASS 9 (no valid class)");
		f->img[EI_DATA] = ELFDATA2MSB;
		expect_bad(f, r, "EI_DATA 2 is not little-endian");
		f->img[EI_VERSION] = 0;
		expect_bad(f, r, "EI_VERSION 0, expected 1");
		f->len = 10;
		expect_bad(f, r, "truncated ELF header (10 bytes");
		f->len = c ? sizeof(Elf32_Ehdr) - 1 : sizeof(Elf64_Ehdr) - 1;
		expect_bad(f, r, c ? "truncated ELF header (51 bytes, need 52)"
				   : "truncated ELF header (63 bytes, need 64)");
	}
}

static void test_header_fields_64(void **state)
{
	struct fixture *f = *state;

	make(f, ELFCLASS64);
	eh64(f)->e_type = ET_DYN;
	expect_bad(f, &rules64, "ELF e_type 3 is not ET_EXEC (2); DYNHINT");
	eh64(f)->e_type = ET_REL;
	expect_bad(f, &rules64, "ELF e_type 1 is not ET_EXEC (2)");
	eh64(f)->e_machine = EM_AARCH64;
	expect_bad(f, &rules64, "ELF e_machine 183 is not x86-64 (62)");
	eh64(f)->e_version = 7;
	expect_bad(f, &rules64, "ELF e_version 7, expected 1");
	eh64(f)->e_ehsize = 52;
	expect_bad(f, &rules64, "ELF e_ehsize 52, expected 64");
	eh64(f)->e_phentsize = 32;
	expect_bad(f, &rules64, "ELF e_phentsize 32, expected 56");
	eh64(f)->e_phnum = 0;
	expect_bad(f, &rules64, "ELF e_phnum 0 is not within 1..64");
	eh64(f)->e_phnum = 65;
	expect_bad(f, &rules64, "ELF e_phnum 65 is not within 1..64");
	eh64(f)->e_phnum = PN_XNUM;
	expect_bad(f, &rules64, "ELF e_phnum 65535");
	eh64(f)->e_phoff = IMG_LEN - 100;
	expect_bad(f, &rules64, "program headers at e_phoff 0x1f9c (2 x 56 bytes) run past the "
				"end of the file (8192 bytes)");
	eh64(f)->e_phoff = ~0ULL - 50; /* the sum would wrap */
	expect_bad(f, &rules64, "e_phoff 0xffffffffffffffcd");
}

static void test_header_fields_32(void **state)
{
	struct fixture *f = *state;

	make(f, ELFCLASS32);
	eh32(f)->e_type = ET_DYN;
	expect_bad(f, &rules32, "ELF e_type 3 is not ET_EXEC (2)");
	assert_null(strstr(f->err, "DYNHINT"));
	eh32(f)->e_machine = EM_X86_64;
	expect_bad(f, &rules32, "ELF e_machine 62 is not i386 (3)");
	eh32(f)->e_version = 0;
	expect_bad(f, &rules32, "ELF e_version 0, expected 1");
	eh32(f)->e_ehsize = 64;
	expect_bad(f, &rules32, "ELF e_ehsize 64, expected 52");
	eh32(f)->e_phentsize = 56;
	expect_bad(f, &rules32, "ELF e_phentsize 56, expected 32");
	eh32(f)->e_phnum = 0;
	expect_bad(f, &rules32, "ELF e_phnum 0 is not within 1..64");
	eh32(f)->e_phnum = 300;
	expect_bad(f, &rules32, "ELF e_phnum 300 is not within 1..64");
	eh32(f)->e_phoff = IMG_LEN - 40;
	expect_bad(f, &rules32, "program headers at e_phoff 0x1fd8 (2 x 32 bytes) run past");
	eh32(f)->e_phoff = 0xffffffff; /* 32-bit field: the 64-bit sum does not wrap, still past */
	expect_bad(f, &rules32, "e_phoff 0xffffffff");
}

static void test_segments_64(void **state)
{
	struct fixture *f = *state;

	make(f, ELFCLASS64);
	fx_phdr64(f->img, 0)->p_offset = IMG_LEN - 0x100; /* a segment past the file's end */
	expect_bad(f, &rules64, "program header 0: p_offset 0x1f00 + p_filesz 0x800 is past the "
				"end of the file (8192 bytes)");
	fx_phdr64(f->img, 0)->p_offset = ~0ULL - 0x10; /* p_offset + p_filesz overflows */
	expect_bad(f, &rules64, "program header 0: p_offset 0xffffffffffffffef + p_filesz 0x800");
	fx_phdr64(f->img, 1)->p_filesz = IMG_LEN; /* any type, not only PT_LOAD */
	expect_bad(f, &rules64, "program header 1: p_offset 0x400 + p_filesz 0x2000 is past");
	fx_phdr64(f->img, 0)->p_memsz = 0x7ff;
	expect_bad(f, &rules64, "program header 0: p_filesz 0x800 > p_memsz 0x7ff");
	fx_phdr64(f->img, 0)->p_paddr = ~0ULL - 0xfff;
	expect_bad(f, &rules64, "program header 0: p_paddr 0xfffffffffffff000 + p_memsz 0x1000 "
				"overflows");
	fx_phdr64(f->img, 0)->p_vaddr = ~0ULL - 0x7ff;
	expect_bad(f, &rules64, "program header 0: p_vaddr 0xfffffffffffff800 + p_memsz 0x1000 "
				"overflows");
	fx_phdr64(f->img, 0)->p_align = 0x1800;
	expect_bad(f, &rules64, "program header 0: p_align 0x1800 is not a power of two");
	/* The checks on PT_LOAD fields leave other types alone. */
	fx_phdr64(f->img, 1)->p_align = 3;
	fx_phdr64(f->img, 1)->p_memsz = 0;
	{
		struct boot_elf elf;

		assert_int_equal(parse(f, &rules64, &elf), 0);
	}
}

static void test_segments_32(void **state)
{
	struct fixture *f = *state;

	make(f, ELFCLASS32);
	fx_phdr32(f->img, 0)->p_offset = IMG_LEN - 0x7ff;
	expect_bad(f, &rules32, "program header 0: p_offset 0x1801 + p_filesz 0x800 is past the "
				"end of the file");
	/* 32-bit fields: their sum wraps in 32 bits but not in the validator's 64. */
	fx_phdr32(f->img, 0)->p_offset = 0xfffff900;
	expect_bad(f, &rules32, "program header 0: p_offset 0xfffff900 + p_filesz 0x800 is past");
	fx_phdr32(f->img, 1)->p_offset = IMG_LEN;
	expect_bad(f, &rules32, "program header 1: p_offset 0x2000");
	fx_phdr32(f->img, 0)->p_memsz = 0x7f0;
	expect_bad(f, &rules32, "program header 0: p_filesz 0x800 > p_memsz 0x7f0");
	fx_phdr32(f->img, 0)->p_align = 6;
	expect_bad(f, &rules32, "program header 0: p_align 0x6 is not a power of two");
}

/* Probing must not log: every failure is silent with quiet set. */
static void test_quiet(void **state)
{
	struct fixture *f = *state;
	struct boot_elf_rules q = rules64;
	struct boot_elf elf;

	q.quiet = true;
	make(f, ELFCLASS64);
	eh64(f)->e_phentsize = 1;
	assert_int_equal(parse(f, &q, &elf), -EINVAL);
	make(f, ELFCLASS64);
	fx_phdr64(f->img, 0)->p_memsz = 1;
	assert_int_equal(parse(f, &q, &elf), -EINVAL);
	assert_int_equal(f->nr_err, 0);
	make(f, ELFCLASS64);
	assert_int_equal(parse(f, &q, &elf), 0);
}

static void test_notes_and_entry(void **state)
{
	struct fixture *f = *state;
	struct boot_src src;
	struct boot_elf elf;
	uint32_t desc = 0, descsz = 0;

	for (int c = 0; c < 2; c++) {
		const struct boot_elf_rules *r = c ? &rules32 : &rules64;

		make(f, r->class);
		assert_int_equal(parse(f, r, &elf), 0);
		boot_src_buf(&src, "kernel", "img", f->img, f->len);
		assert_int_equal(boot_elf_find_note(&src, &elf, "Xen", 18, &desc, sizeof(desc),
						    &descsz, false), 1);
		assert_int_equal(descsz, 4);
		assert_int_equal(desc, 0x1234567);
		assert_int_equal(boot_elf_find_note(&src, &elf, "Xen", 17, &desc, sizeof(desc),
						    &descsz, false), 0);
		assert_int_equal(boot_elf_find_note(&src, &elf, "GNU", 18, &desc, sizeof(desc),
						    &descsz, false), 0);
		/* The entry: in the file bytes, in the bss only by memsz, flags. */
		assert_int_equal(boot_elf_seg_at(&elf, PADDR + 0x10, true, PF_X), 0);
		assert_int_equal(boot_elf_seg_at(&elf, PADDR + 0x900, true, 0), -1);
		assert_int_equal(boot_elf_seg_at(&elf, PADDR + 0x900, false, 0), 0);
		assert_int_equal(boot_elf_seg_at(&elf, PADDR + 0x10, false, PF_W), -1);
		assert_int_equal(boot_elf_seg_at(&elf, PADDR - 1, false, 0), -1);
	}
	/* A note whose descsz runs past its segment: refused, named; quiet: silent. */
	make(f, ELFCLASS64);
	memcpy(f->img + NOTE_OFF + 4, &(uint32_t){ 0x100 }, 4);
	assert_int_equal(parse(f, &rules64, &elf), 0);
	boot_src_buf(&src, "kernel", "img", f->img, f->len);
	assert_int_equal(boot_elf_find_note(&src, &elf, "Xen", 18, &desc, sizeof(desc), &descsz,
					    false), -EINVAL);
	assert_non_null(strstr(f->err, "img: program header 1: note at file offset 0x400 "
				       "(namesz 4, descsz 256) runs past its segment"));
	f->nr_err = 0;
	assert_int_equal(boot_elf_find_note(&src, &elf, "Xen", 18, &desc, sizeof(desc), &descsz,
					    true), -EINVAL);
	assert_int_equal(f->nr_err, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_valid_both_classes),
		T(test_ident),
		T(test_header_fields_64),
		T(test_header_fields_32),
		T(test_segments_64),
		T(test_segments_32),
		T(test_quiet),
		T(test_notes_and_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
