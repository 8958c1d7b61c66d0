/* test_boot_probe.c - boot_probe/boot_image_load: one open, the format table's answers, FIFOs and directories refused at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot.h"
#include "core/layout.h"
#include "image_fixture.h"
#include "mvm/abi.h"

#define MIB      (1ULL << 20)
#define RAM      (16 * MIB)
#define IMG_LEN  0x3000
#define TEXT     0x100000ULL
#define TMPL     "/tmp/mvm-test-probe-XXXXXX"
/* A FIFO or directory must be refused at once; a hang is a failure. */
#define WATCHDOG 5

static int setup(void **state)
{
	struct fixture *f = fx_new(RAM, IMG_LEN);

	if (!f)
		return -1;
	f->cfg = (struct boot_cfg){ .cmdline = "probe=1" };
	*state = f;
	return 0;
}

/* A tiny guest: one RX PT_LOAD at 1 MiB. With pvh, a Xen PHYS32 note too
 * (then it is a PVH kernel, entered at the same address). */
static void make_elf64(struct fixture *f, int pvh)
{
	static const uint32_t note[5] = { 4, 4, 18, 0x006e6558 /* "Xen\0" */, (uint32_t)TEXT };

	memset(f->img, 0, IMG_LEN);
	fx_elf64(f->img, TEXT, 2);
	*fx_phdr64(f->img, 0) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
					      .p_offset = 0x1000, .p_vaddr = TEXT, .p_paddr = TEXT,
					      .p_filesz = 0x1000, .p_memsz = 0x1000 };
	*fx_phdr64(f->img, 1) = (Elf64_Phdr){ .p_type = pvh ? PT_NOTE : PT_GNU_STACK,
					      .p_offset = pvh ? 0x400 : 0,
					      .p_filesz = pvh ? sizeof(note) : 0 };
	if (pvh)
		memcpy(f->img + 0x400, note, sizeof(note));
	memset(f->img + 0x1000, 0xf4, 0x1000);
	f->len = IMG_LEN;
}

/* A flat multiboot a.out-kludge image loading at 1 MiB. */
static void make_multiboot(struct fixture *f)
{
	uint32_t h[8] = { MULTIBOOT_MAGIC, 1u << 16, -(MULTIBOOT_MAGIC + (1u << 16)),
			  TEXT, TEXT, 0, 0, TEXT + 0x40 };

	memset(f->img, 0, IMG_LEN);
	memcpy(f->img, h, sizeof(h));
	f->len = IMG_LEN;
}

/* Only what the probe looks at: "HdrS" at 0x202. */
static void make_bzimage_head(struct fixture *f)
{
	memset(f->img, 0, IMG_LEN);
	memcpy(f->img + 0x202, "HdrS", 4);
	f->len = IMG_LEN;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void expect_probe(struct fixture *f, enum boot_format format, enum boot_mode mode,
			 int tiny)
{
	char path[FX_PATH_LEN];
	struct boot_image img;

	f->cfg.kernel_path = fx_tmp_file(path, TMPL, f->img, f->len);
	assert_int_equal(boot_probe(&f->cfg, &img), 0);
	unlink(path);
	assert_int_equal(img.format, format);
	assert_int_equal(img.mode, mode);
	assert_non_null(img.format_name);
	assert_int_equal(boot_image_is_tiny(&img), tiny);
	boot_image_close(&img);
	assert_int_equal(boot_image_is_tiny(&img), 0);
}

static void test_formats(void **state)
{
	struct fixture *f = *state;

	make_bzimage_head(f);
	expect_probe(f, BOOT_FORMAT_BZIMAGE, BOOT_MODE_LINUX64, 0);
	make_elf64(f, 0);
	expect_probe(f, BOOT_FORMAT_ELF64, BOOT_MODE_ELF64, 1);
	make_elf64(f, 1);
	expect_probe(f, BOOT_FORMAT_PVH, BOOT_MODE_PVH32, 0);
	make_multiboot(f);
	expect_probe(f, BOOT_FORMAT_MULTIBOOT, BOOT_MODE_MULTIBOOT32, 0);
}

/* The load reads the fd the probe opened: the path can be gone by then. */
static void test_load_from_probed_fd(void **state)
{
	struct fixture *f = *state;
	char path[FX_PATH_LEN];
	struct boot_image img;

	make_elf64(f, 0);
	f->cfg.kernel_path = fx_tmp_file(path, TMPL, f->img, f->len);
	assert_int_equal(boot_probe(&f->cfg, &img), 0);
	unlink(path);
	assert_int_equal(boot_image_load(&f->m, &img, &f->cfg, &f->out), 0);
	assert_int_equal(f->out.mode, img.mode);
	assert_int_equal(f->out.entry, TEXT);
	assert_int_equal(*(uint8_t *)gmem_ptr(&f->m, TEXT + 0xfff, 1), 0xf4);
	boot_image_close(&img);
	boot_image_close(&img); /* twice is harmless */

	/* Closed: nothing to load any more. */
	assert_int_equal(boot_image_load(&f->m, &img, &f->cfg, &f->out), -EINVAL);
	assert_non_null(strstr(f->err, "no probed kernel to load"));

	/* A zeroed image's fds (0) are not boot's to close. */
	{
		struct boot_image zero;
		int before = count_fds();

		memset(&zero, 0, sizeof(zero));
		boot_image_close(&zero);
		assert_int_equal(count_fds(), before);
	}
}

/* A kernel that cannot be a boot image fails the probe and leaves no fd open. */
static void test_failures_close_everything(void **state)
{
	struct fixture *f = *state;
	char kpath[FX_PATH_LEN], ipath[FX_PATH_LEN];
	struct boot_image img;
	int before = count_fds();

	memset(f->img, 0x5a, IMG_LEN);
	f->cfg.kernel_path = fx_tmp_file(kpath, TMPL, f->img, IMG_LEN);
	f->cfg.initrd_path = fx_tmp_file(ipath, TMPL, f->img, 100);
	assert_int_equal(boot_probe(&f->cfg, &img), -EINVAL);
	assert_non_null(strstr(f->err, ": not a bzImage or ELF vmlinux"));
	assert_int_equal(count_fds(), before);

	/* A tiny guest with an initrd: refused at probe, before any RAM exists. */
	make_elf64(f, 0);
	unlink(kpath);
	f->cfg.kernel_path = fx_tmp_file(kpath, TMPL, f->img, f->len);
	assert_int_equal(boot_probe(&f->cfg, &img), -EINVAL);
	assert_non_null(strstr(f->err, "a tiny ELF64 guest takes no --initrd"));
	assert_int_equal(count_fds(), before);

	/* A broken ELF64 tiny guest: the validator's message at probe. */
	((Elf64_Ehdr *)f->img)->e_phentsize = 40;
	unlink(kpath);
	f->cfg.kernel_path = fx_tmp_file(kpath, TMPL, f->img, f->len);
	f->cfg.initrd_path = NULL;
	assert_int_equal(boot_probe(&f->cfg, &img), -EINVAL);
	assert_non_null(strstr(f->err, "ELF e_phentsize 40, expected 56"));
	assert_int_equal(count_fds(), before);
	unlink(kpath);
	unlink(ipath);
}

/* No kernel: the built-in demo, which unit-test builds do not link. */
static void test_no_kernel(void **state)
{
	struct fixture *f = *state;
	struct boot_image img;

	f->cfg.kernel_path = NULL;
	assert_int_equal(boot_probe(&f->cfg, &img), -EINVAL);
	assert_non_null(strstr(f->err, "no built-in demo: use --kernel FILE"));
}

/* The RAM cap is checked at load, when the RAM size is known. */
static void test_larger_than_ram(void **state)
{
	struct fixture *f = *state;
	char path[FX_PATH_LEN];
	struct boot_image img;

	make_elf64(f, 0);
	f->cfg.kernel_path = fx_tmp_file(path, TMPL, f->img, f->len);
	assert_int_equal(truncate(path, RAM + 1), 0);
	assert_int_equal(boot_probe(&f->cfg, &img), 0);
	assert_int_equal(boot_image_load(&f->m, &img, &f->cfg, &f->out), -EINVAL);
	assert_non_null(strstr(f->err, "is larger than guest RAM (16 MiB); give --mem more"));
	assert_non_null(strstr(f->err, path));
	boot_image_close(&img);
	unlink(path);
}

/* A FIFO with no writer as --kernel or --initrd: refused at once (open
 * would otherwise wait for a writer forever), the flag and path named. */
static void test_fifo_refused(void **state)
{
	struct fixture *f = *state;
	char dir[FX_PATH_LEN] = TMPL, fifo[FX_PATH_LEN + 8], kpath[FX_PATH_LEN], want[160];
	struct boot_image img;
	int before = count_fds();

	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(WATCHDOG);

	f->cfg.kernel_path = fifo;
	assert_int_equal(boot_probe(&f->cfg, &img), -EINVAL);
	snprintf(want, sizeof(want), "kernel %s: not a regular file (a FIFO); --kernel takes a "
		 "regular file", fifo);
	if (!strstr(f->err, want))
		fail_msg("\"%s\" lacks \"%s\"", f->err, want);

	make_elf64(f, 1);
	f->cfg.kernel_path = fx_tmp_file(kpath, TMPL, f->img, f->len);
	f->cfg.initrd_path = fifo;
	assert_int_equal(boot_probe(&f->cfg, &img), -EINVAL);
	snprintf(want, sizeof(want), "initrd %s: not a regular file (a FIFO); --initrd takes a "
		 "regular file", fifo);
	if (!strstr(f->err, want))
		fail_msg("\"%s\" lacks \"%s\"", f->err, want);
	/* boot_load (the old one-call path) goes through the same open. */
	assert_int_equal(boot_load(&f->m, &f->cfg, &f->out), -EINVAL);
	assert_non_null(strstr(f->err, want));

	alarm(0);
	assert_int_equal(count_fds(), before);
	unlink(kpath);
	unlink(fifo);
	rmdir(dir);
}

static void test_directory_refused(void **state)
{
	struct fixture *f = *state;
	char dir[FX_PATH_LEN] = TMPL, kpath[FX_PATH_LEN], want[160];
	struct boot_image img;

	assert_non_null(mkdtemp(dir));
	alarm(WATCHDOG);
	f->cfg.kernel_path = dir;
	assert_int_equal(boot_probe(&f->cfg, &img), -EINVAL);
	snprintf(want, sizeof(want), "kernel %s: not a regular file (a directory); --kernel", dir);
	if (!strstr(f->err, want))
		fail_msg("\"%s\" lacks \"%s\"", f->err, want);

	make_bzimage_head(f);
	f->cfg.kernel_path = fx_tmp_file(kpath, TMPL, f->img, f->len);
	f->cfg.initrd_path = dir;
	assert_int_equal(boot_probe(&f->cfg, &img), -EINVAL);
	snprintf(want, sizeof(want), "initrd %s: not a regular file (a directory); --initrd", dir);
	if (!strstr(f->err, want))
		fail_msg("\"%s\" lacks \"%s\"", f->err, want);
	/* A character device is no kernel either. */
	f->cfg.kernel_path = "/dev/null";
	f->cfg.initrd_path = NULL;
	assert_int_equal(boot_probe(&f->cfg, &img), -EINVAL);
	assert_non_null(strstr(f->err, "kernel /dev/null: not a regular file (a character device)"));
	alarm(0);
	unlink(kpath);
	rmdir(dir);
}

/* An empty --initrd is a multiboot kernel's empty module (kvm-unit-tests
 * passes an empty environment file), loaded as mods_count 1 with start ==
 * end; for every other format it stays refused, naming the file. */
static void test_empty_initrd(void **state)
{
	struct fixture *f = *state;
	char kpath[FX_PATH_LEN], ipath[FX_PATH_LEN], want[128];
	struct boot_image img;
	uint32_t info[7], mod[4];
	int before = count_fds();

	f->cfg.initrd_path = fx_tmp_file(ipath, TMPL, f->img, 0);
	make_multiboot(f);
	f->cfg.kernel_path = fx_tmp_file(kpath, TMPL, f->img, f->len);
	assert_int_equal(boot_probe(&f->cfg, &img), 0);
	assert_int_equal(img.format, BOOT_FORMAT_MULTIBOOT);
	assert_int_equal(boot_image_load(&f->m, &img, &f->cfg, &f->out), 0);
	boot_image_close(&img);
	assert_int_equal(gmem_read(&f->m, LAYOUT_MB_INFO, info, sizeof(info)), 0);
	assert_true(info[0] & (1u << 3));          /* MB_INFO_MODS */
	assert_int_equal(info[5], 1);              /* mods_count */
	assert_int_equal(gmem_read(&f->m, info[6], mod, sizeof(mod)), 0);
	assert_int_equal(mod[0], mod[1]);          /* empty: start == end */
	assert_int_equal(mod[0] & 0xfff, 0);
	assert_true(mod[0] >= TEXT + IMG_LEN && mod[0] < RAM);
	unlink(kpath);

	snprintf(want, sizeof(want), "initrd %s: file is empty", ipath);
	make_bzimage_head(f);
	f->cfg.kernel_path = fx_tmp_file(kpath, TMPL, f->img, f->len);
	assert_int_equal(boot_probe(&f->cfg, &img), -EINVAL);
	assert_non_null(strstr(f->err, want));
	unlink(kpath);
	make_elf64(f, 1);
	f->cfg.kernel_path = fx_tmp_file(kpath, TMPL, f->img, f->len);
	assert_int_equal(boot_probe(&f->cfg, &img), -EINVAL);
	assert_non_null(strstr(f->err, want));
	assert_int_equal(count_fds(), before);
	unlink(kpath);
	unlink(ipath);
	f->cfg.initrd_path = NULL;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_formats),
		T(test_load_from_probed_fd),
		T(test_failures_close_everything),
		T(test_no_kernel),
		T(test_larger_than_ram),
		T(test_fifo_refused),
		T(test_directory_refused),
		T(test_empty_initrd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
