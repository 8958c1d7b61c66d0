/* test_bzimage.c - bzImage loader on crafted images, plus the real Debian kernel's header. */
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
#include <sys/mman.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/e820.h"
#include "core/layout.h"
#include "core/memory.h"
#include "image_fixture.h"
#include "util/log.h"

#define MIB (1ULL << 20)
#define RAM (256 * MIB)
#define SETUP_SECTS 4
#define PM_OFF ((SETUP_SECTS + 1) * 512)
#define PM_SIZE 4096
#define IMG_LEN (PM_OFF + PM_SIZE)
#define REAL_KERNEL "/tmp/dl/x/boot/vmlinuz-6.1.0-56-cloud-amd64"

static uint16_t rd16(const uint8_t *p) { return p[0] | p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, v); wr16(p + 2, v >> 16); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, v); wr32(p + 4, v >> 32); }

/* A minimal protocol-2.15 bzImage: 4 setup sectors, 4 KiB protected-mode part. */
static void make_bzimage(uint8_t *img)
{
	memset(img, 0, IMG_LEN);
	img[0x1f1] = SETUP_SECTS;
	wr32(img + 0x1f4, PM_SIZE / 16);   /* syssize */
	wr16(img + 0x1fe, 0xaa55);         /* boot_flag */
	img[0x200] = 0xeb;                 /* jmp to 0x26c: header end */
	img[0x201] = 0x6a;
	memcpy(img + 0x202, "HdrS", 4);
	wr16(img + 0x206, 0x020f);         /* version */
	img[0x211] = 0x01;                 /* loadflags: LOADED_HIGH */
	wr32(img + 0x22c, 0x7fffffff);     /* initrd_addr_max */
	wr32(img + 0x230, 0x200000);       /* kernel_alignment */
	img[0x234] = 1;                    /* relocatable_kernel */
	wr16(img + 0x236, 0x0003);         /* xloadflags: KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
	wr32(img + 0x238, 0x7ff);          /* cmdline_size */
	wr64(img + 0x258, 0x1000000);      /* pref_address */
	wr32(img + 0x260, 0x400000);       /* init_size */
	for (int i = 0; i < PM_SIZE; i++)
		img[PM_OFF + i] = (uint8_t)(i * 7 + 1);
}

static int setup(void **state)
{
	struct fixture *f = fx_new(RAM, IMG_LEN);

	if (!f)
		return -1;
	make_bzimage(f->img);
	f->cfg = (struct boot_cfg){ .kernel_path = "bzImage", .initrd_path = "initrd.img",
				    .cmdline = "console=ttyS0 root=/dev/vda",
				    .rsdp_gpa = LAYOUT_ACPI_START };
	*state = f;
	return 0;
}

/* The loader on buffer sources: kernel labelled "bzImage", initrd "initrd.img". */
static int load_buf(struct fixture *f, const uint8_t *img, size_t len, const uint8_t *initrd,
		    size_t initrd_len)
{
	return fx_load_buf(f, bzimage_load, "bzImage", img, len, "initrd.img", initrd, initrd_len);
}

static int load(struct fixture *f, const uint8_t *initrd, size_t initrd_len)
{
	return load_buf(f, f->img, IMG_LEN, initrd, initrd_len);
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
	static const uint8_t initrd[10000] = { 0x30, 0x37, 0x30, 0x37 };
	uint8_t *zp = gmem_ptr(&f->m, LAYOUT_ZERO_PAGE, 4096);
	uint64_t rd_addr, rd_size, expect_rd = (RAM - sizeof(initrd)) & ~0xfffULL;
	struct e820_entry map[E820_MAX_ENTRIES];
	int n;

	assert_int_equal(load(f, initrd, sizeof(initrd)), 0);
	assert_int_equal(f->nr_err, 0);
	assert_int_equal(f->out.mode, BOOT_MODE_LINUX64);
	/* Relocatable: 1 MiB rounded up to kernel_alignment 2 MiB, + 0x200. */
	assert_int_equal(f->out.entry, 0x200000 + 0x200);
	assert_int_equal(f->out.boot_info, LAYOUT_ZERO_PAGE);
	assert_memory_equal(gmem_ptr(&f->m, 0x200000, PM_SIZE), f->img + PM_OFF, PM_SIZE);

	/* Header copied, loader fields set. */
	assert_memory_equal(zp + 0x202, "HdrS", 4);
	assert_int_equal(rd16(zp + 0x206), 0x020f);
	assert_int_equal(zp[0x1ef], 0); /* sentinel: nonzero makes the kernel wipe fields */
	assert_int_equal(zp[0x210], 0xff);
	assert_int_equal(zp[0x211], 0x81);
	assert_int_equal(rd16(zp + 0x1fa), 0xffff);
	assert_int_equal(rd32(zp + 0x228), LAYOUT_CMDLINE);
	assert_int_equal(rd32(zp + 0x0c8), 0);
	assert_string_equal((char *)gmem_ptr(&f->m, LAYOUT_CMDLINE, 1), f->cfg.cmdline);
	assert_int_equal(rd64(zp + 0x070), LAYOUT_ACPI_START);

	/* Initrd: highest 4 KiB-aligned place in low RAM. */
	rd_addr = rd32(zp + 0x218) | (uint64_t)rd32(zp + 0x0c0) << 32;
	rd_size = rd32(zp + 0x21c) | (uint64_t)rd32(zp + 0x0c4) << 32;
	assert_int_equal(rd_addr, expect_rd);
	assert_int_equal(rd_size, sizeof(initrd));
	assert_memory_equal(gmem_ptr(&f->m, rd_addr, rd_size), initrd, sizeof(initrd));

	/* e820 in the zero page is exactly e820_build's map. */
	n = e820_build(&f->m, map, E820_MAX_ENTRIES);
	assert_int_equal(zp[0x1e8], n);
	assert_int_equal(n, 4);
	for (int i = 0; i < n; i++) {
		const uint8_t *e = zp + 0x2d0 + i * 20;

		assert_int_equal(rd64(e), map[i].addr);
		assert_int_equal(rd64(e + 8), map[i].size);
		assert_int_equal(rd32(e + 16), map[i].type);
	}
}

static void test_no_initrd(void **state)
{
	struct fixture *f = *state;
	uint8_t *zp = gmem_ptr(&f->m, LAYOUT_ZERO_PAGE, 4096);

	f->cfg.initrd_path = NULL;
	assert_int_equal(load(f, NULL, 0), 0);
	assert_int_equal(rd32(zp + 0x218), 0);
	assert_int_equal(rd32(zp + 0x21c), 0);
}

static void test_not_relocatable_uses_pref_address(void **state)
{
	struct fixture *f = *state;

	f->img[0x234] = 0;
	assert_int_equal(load(f, NULL, 0), 0);
	assert_int_equal(f->out.entry, 0x1000000 + 0x200);
	assert_memory_equal(gmem_ptr(&f->m, 0x1000000, PM_SIZE), f->img + PM_OFF, PM_SIZE);
}

static void test_setup_sects_zero_means_four(void **state)
{
	struct fixture *f = *state;

	f->img[0x1f1] = 0;
	assert_int_equal(load(f, NULL, 0), 0);
	assert_memory_equal(gmem_ptr(&f->m, 0x200000, PM_SIZE), f->img + PM_OFF, PM_SIZE);
}

static void test_too_short(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load_buf(f, f->img, 0x100, NULL, 0), -EINVAL);
	assert_non_null(strstr(f->err, "bzImage: file is 256 bytes, too short"));
}

static void test_bad_boot_flag(void **state)
{
	struct fixture *f = *state;

	wr16(f->img + 0x1fe, 0x1234);
	expect_reject(f, "boot_flag at 0x1fe is 0x1234, expected 0xaa55");
}

static void test_no_hdrs(void **state)
{
	struct fixture *f = *state;

	memcpy(f->img + 0x202, "HdrX", 4);
	expect_reject(f, "no HdrS magic at 0x202");
}

static void test_old_version(void **state)
{
	struct fixture *f = *state;

	wr16(f->img + 0x206, 0x0205);
	expect_reject(f, "bzImage: boot protocol 2.05 is too old, need >= 2.12");
	wr16(f->img + 0x206, 0x020b);
	expect_reject(f, "boot protocol 2.11 is too old");
}

static void test_bad_header_jump(void **state)
{
	struct fixture *f = *state;

	f->img[0x201] = 0x10;
	expect_reject(f, "gives setup header end 0x212");
}

static void test_setup_sects_past_end(void **state)
{
	struct fixture *f = *state;

	f->img[0x1f1] = 20;
	expect_reject(f, "setup_sects 20 puts the protected-mode kernel at 0x2a00, at or past "
			 "the end of the file (6656 bytes)");
}

static void test_syssize_past_end(void **state)
{
	struct fixture *f = *state;

	wr32(f->img + 0x1f4, PM_SIZE / 16 + 1);
	expect_reject(f, "syssize claims 4112 bytes of protected-mode kernel but the file "
			 "holds only 4096");
	wr32(f->img + 0x1f4, 0xffffffff);
	expect_reject(f, "syssize claims 68719476720 bytes");
	wr32(f->img + 0x1f4, 0);
	expect_reject(f, "syssize is 0");
}

static void test_no_loaded_high(void **state)
{
	struct fixture *f = *state;

	f->img[0x211] = 0;
	expect_reject(f, "loadflags 0x00 lacks LOADED_HIGH");
}

static void test_no_kernel_64(void **state)
{
	struct fixture *f = *state;

	wr16(f->img + 0x236, 0x0002);
	expect_reject(f, "xloadflags 0x0002 lacks XLF_KERNEL_64");
}

static void test_cmdline_too_long(void **state)
{
	struct fixture *f = *state;
	char line[40];

	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = 0;
	f->cfg.cmdline = line;
	wr32(f->img + 0x238, 39);
	assert_int_equal(load(f, NULL, 0), 0); /* cmdline_size excludes the NUL */
	wr32(f->img + 0x238, 38);
	expect_reject(f, "command line is 39 bytes, longer than cmdline_size 38");
}

static void test_initrd_too_big(void **state)
{
	struct fixture *f = *state;
	size_t len = 300 * MIB;
	/* Never read: the size check comes first. Mapped anyway so the pointer is honest. */
	uint8_t *big = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			    -1, 0);

	assert_true(big != MAP_FAILED);
	assert_int_equal(load(f, big, len), -EINVAL);
	assert_non_null(strstr(f->err, "initrd.img (300 MiB) does not fit below initrd_addr_max "
				       "0x7fffffff"));
	assert_non_null(strstr(f->err, "in 256 MiB of RAM; give --mem more"));
	munmap(big, len);
}

static void test_initrd_capped_by_initrd_addr_max(void **state)
{
	struct fixture *f = *state;
	static const uint8_t initrd[5000];
	uint8_t *zp = gmem_ptr(&f->m, LAYOUT_ZERO_PAGE, 4096);

	wr32(f->img + 0x22c, 0x01ffffff); /* last usable byte: just below 32 MiB */
	assert_int_equal(load(f, initrd, sizeof(initrd)), 0);
	assert_int_equal(rd32(zp + 0x218), (0x2000000 - sizeof(initrd)) & ~0xfffULL);
	/* ...but not if that pushes it into the kernel, which decompresses at
	 * pref_address 16 MiB and uses init_size 4 MiB from there. */
	wr32(f->img + 0x22c, 0x013fffff);
	assert_int_equal(load(f, initrd, sizeof(initrd)), -EINVAL);
	assert_non_null(strstr(f->err, "initrd.img (5000 bytes) does not fit below "
				       "initrd_addr_max 0x13fffff and above the kernel's end 0x1400000"));
	wr32(f->img + 0x22c, 0x01400fff);
	assert_int_equal(load(f, initrd, 4096), 0);
	assert_int_equal(rd32(zp + 0x218), 0x1400000);
}

static void test_init_size_past_ram(void **state)
{
	struct fixture *f = *state;

	wr32(f->img + 0x260, 0xf0000000);
	expect_reject(f, "bzImage: kernel needs RAM up to 0xf1000000 (init_size 0xf0000000 from "
			 "0x1000000, the higher of its load address and pref_address) but RAM "
			 "below the MMIO hole ends at 0x10000000; give --mem more");
	/* Not relocatable: counted from pref_address, which is the load address. */
	f->img[0x234] = 0;
	wr64(f->img + 0x258, 0x100000);
	expect_reject(f, "kernel needs RAM up to 0xf0100000 (init_size 0xf0000000 from 0x100000");
}

static void test_bad_alignment(void **state)
{
	struct fixture *f = *state;

	wr32(f->img + 0x230, 0x300000);
	expect_reject(f, "kernel_alignment 0x300000 is not a power of two");
}

static void test_pref_address_low(void **state)
{
	struct fixture *f = *state;

	f->img[0x234] = 0;
	wr64(f->img + 0x258, 0x10000);
	expect_reject(f, "pref_address 0x10000 is below 1 MiB");
}

#define TMP_TEMPLATE "/tmp/mvm-test-boot-XXXXXX"

static void test_boot_load_files(void **state)
{
	struct fixture *f = *state;
	static const uint8_t initrd[3000] = { 1, 2, 3 };
	static const uint8_t junk[600] = { 'M', 'Z' };
	char kbuf[FX_PATH_LEN], ibuf[FX_PATH_LEN];
	const char *kpath = fx_tmp_file(kbuf, TMP_TEMPLATE, f->img, IMG_LEN);
	const char *ipath = fx_tmp_file(ibuf, TMP_TEMPLATE, initrd, sizeof(initrd));
	uint8_t *zp = gmem_ptr(&f->m, LAYOUT_ZERO_PAGE, 4096);

	f->cfg.kernel_path = kpath;
	f->cfg.initrd_path = ipath;
	assert_int_equal(boot_load(&f->m, &f->cfg, &f->out), 0);
	assert_int_equal(f->out.entry, 0x200200);
	assert_int_equal(rd32(zp + 0x21c), sizeof(initrd));
	assert_memory_equal(gmem_ptr(&f->m, rd32(zp + 0x218), sizeof(initrd)), initrd,
			    sizeof(initrd));
	unlink(kpath);

	kpath = fx_tmp_file(kbuf, TMP_TEMPLATE, junk, sizeof(junk));
	f->cfg.kernel_path = kpath;
	assert_int_equal(boot_load(&f->m, &f->cfg, &f->out), -EINVAL);
	assert_non_null(strstr(f->err, ": not a bzImage or ELF vmlinux (no HdrS magic at 0x202, "
				       "no ELF magic)"));
	unlink(kpath);
	unlink(ipath);

	f->cfg.kernel_path = "/nonexistent/mvm-kernel";
	assert_int_equal(boot_load(&f->m, &f->cfg, &f->out), -ENOENT);
	assert_non_null(strstr(f->err, "kernel /nonexistent/mvm-kernel: cannot open"));
}

/* Load img (+ initrd) from buffers into a fresh guest, and through temp
 * files with boot_load (the pread path) into another: the two guests' RAM
 * and entries must be identical. */
static void compare_fd_and_buffer(struct fixture *f, const uint8_t *img, size_t len,
				  const uint8_t *initrd, size_t initrd_len)
{
	char kpath[FX_PATH_LEN], ipath[FX_PATH_LEN];
	struct boot_cfg cfg = f->cfg;
	struct boot_entry out2 = { 0 };
	struct gmem m2;

	gmem_free(&f->m);
	assert_int_equal(gmem_init(&f->m, RAM), 0);
	assert_int_equal(load_buf(f, img, len, initrd, initrd_len), 0);

	assert_int_equal(gmem_init(&m2, RAM), 0);
	cfg.kernel_path = fx_tmp_file(kpath, TMP_TEMPLATE, img, len);
	cfg.initrd_path = initrd_len ? fx_tmp_file(ipath, TMP_TEMPLATE, initrd, initrd_len) : NULL;
	assert_int_equal(boot_load(&m2, &cfg, &out2), 0);
	unlink(cfg.kernel_path);
	if (cfg.initrd_path)
		unlink(cfg.initrd_path);

	assert_int_equal(out2.mode, f->out.mode);
	assert_int_equal(out2.entry, f->out.entry);
	assert_int_equal(out2.boot_info, f->out.boot_info);
	fx_same_ram(&f->m, &m2);
	gmem_free(&m2);
}

static void test_fd_path_matches_buffer(void **state)
{
	struct fixture *f = *state;
	static uint8_t initrd[3 * 4096 + 123];

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 31 + 7);
	compare_fd_and_buffer(f, f->img, IMG_LEN, initrd, sizeof(initrd));
	compare_fd_and_buffer(f, f->img, IMG_LEN, NULL, 0);
	/* A signed kernel: bytes after syssize*16 are never loaded either way. */
	{
		uint8_t big[IMG_LEN + 512];

		memcpy(big, f->img, IMG_LEN);
		memset(big + IMG_LEN, 0xee, 512);
		compare_fd_and_buffer(f, big, sizeof(big), initrd, sizeof(initrd));
		assert_int_equal(*(uint8_t *)gmem_ptr(&f->m, 0x200000 + PM_SIZE, 1), 0);
	}
}

/* The file behind an fd shorter than its source claims (it shrank after
 * fstat), or unreadable: the load fails naming the file, no crash. */
static void test_fd_short_read_and_io_error(void **state)
{
	struct fixture *f = *state;
	static const uint8_t initrd[5000] = { 9 };
	char kbuf[FX_PATH_LEN];
	const char *kpath = fx_tmp_file(kbuf, TMP_TEMPLATE, f->img, IMG_LEN - 100);
	struct boot_src k = { .what = "kernel", .name = kpath, .len = IMG_LEN };
	struct boot_src i;

	k.fd = open(kpath, O_RDONLY);
	assert_true(k.fd >= 0);
	assert_int_equal(bzimage_load(&f->m, &k, NULL, &f->cfg, &f->out), -EIO);
	assert_non_null(strstr(f->err, "file shrank while being read"));
	assert_non_null(strstr(f->err, kpath));
	close(k.fd);
	unlink(kpath);

	/* A good kernel; the initrd's fd is a directory, so pread fails. */
	boot_src_buf(&k, "kernel", "bzImage", f->img, IMG_LEN);
	i = (struct boot_src){ .what = "initrd", .name = "/tmp", .len = sizeof(initrd),
			       .fd = open("/tmp", O_RDONLY | O_DIRECTORY) };
	assert_true(i.fd >= 0);
	assert_int_equal(bzimage_load(&f->m, &k, &i, &f->cfg, &f->out), -EISDIR);
	assert_non_null(strstr(f->err, "initrd /tmp: read of 5000 bytes at offset 0x0 failed"));
	close(i.fd);
}

static const char *real_kernel(void)
{
	const char *p = getenv("MVM_TEST_KERNEL");

	if (p && access(p, R_OK) == 0)
		return p;
	return access(REAL_KERNEL, R_OK) == 0 ? REAL_KERNEL : NULL;
}

/* The Debian 6.1 cloud kernel: protocol 2.15, relocatable, 2 MiB alignment,
 * a PE signature after syssize*16. */
static void test_real_kernel(void **state)
{
	struct fixture *f = *state;
	const char *path = real_kernel();
	static const uint8_t initrd[8192] = { 0x30, 0x37 };
	uint8_t *zp = gmem_ptr(&f->m, LAYOUT_ZERO_PAGE, 4096), *img;
	size_t len, pm_off;
	FILE *fp;

	if (!path)
		skip();
	fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	img = malloc(len);
	assert_non_null(img);
	assert_int_equal(fread(img, 1, len, fp), len);
	fclose(fp);

	assert_int_equal(load_buf(f, img, len, initrd, sizeof(initrd)), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_LINUX64);
	assert_int_equal(f->out.entry, 0x200000 + 0x200);
	pm_off = (size_t)((img[0x1f1] ? img[0x1f1] : 4) + 1) * 512;
	assert_memory_equal(gmem_ptr(&f->m, 0x200000, 4096), img + pm_off, 4096);
	assert_int_equal(zp[0x210], 0xff);
	assert_true(rd32(zp + 0x218) >= rd64(img + 0x258) + rd32(img + 0x260));
	assert_int_equal(rd32(zp + 0x21c), sizeof(initrd));
	assert_int_equal(rd64(zp + 0x070), LAYOUT_ACPI_START);
	assert_memory_equal(zp + 0x1f1, img + 0x1f1, 0x210 - 0x1f1);

	/* The same file cut short is refused, naming syssize. */
	assert_int_equal(load_buf(f, img, len / 2, NULL, 0), -EINVAL);
	assert_non_null(strstr(f->err, "syssize claims"));

	/* Through the file (fd path), guest RAM is the buffer path's, byte for byte. */
	compare_fd_and_buffer(f, img, len, initrd, sizeof(initrd));
	compare_fd_and_buffer(f, img, len, NULL, 0);
	free(img);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_valid),
		T(test_no_initrd),
		T(test_not_relocatable_uses_pref_address),
		T(test_setup_sects_zero_means_four),
		T(test_too_short),
		T(test_bad_boot_flag),
		T(test_no_hdrs),
		T(test_old_version),
		T(test_bad_header_jump),
		T(test_setup_sects_past_end),
		T(test_syssize_past_end),
		T(test_no_loaded_high),
		T(test_no_kernel_64),
		T(test_cmdline_too_long),
		T(test_initrd_too_big),
		T(test_initrd_capped_by_initrd_addr_max),
		T(test_init_size_past_ram),
		T(test_bad_alignment),
		T(test_pref_address_low),
		T(test_boot_load_files),
		T(test_fd_path_matches_buffer),
		T(test_fd_short_read_and_io_error),
		T(test_real_kernel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
