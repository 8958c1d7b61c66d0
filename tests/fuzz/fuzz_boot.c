/* fuzz_boot.c - libFuzzer target for the kernel loaders (src/boot/): format
 * detection and bzImage, PVH ELF, multiboot (ELF32 and a.out kludge) and
 * ELF64 tiny-guest loading, exactly as `mvm run --kernel FILE` does them.
 *
 * Input: one byte of options (bit 0: an initrd; bit 1: a 2 KiB command
 * line instead of a short one), then the kernel file. The file is a memfd
 * given to boot_probe() by its /proc/self/fd path, so the real open, fstat
 * and pread paths run. Guest RAM (32 MiB) has a guard page on each side.
 * What boot.h promises, checked:
 *  - a loader writes only guest RAM (the guard pages fault otherwise);
 *  - all validation happens before the first byte is written: when probe
 *    or load refuses the file (-EINVAL), guest RAM is still all zeroes;
 *  - on success the mode is the one probe announced, and the entry point
 *    and the boot info structure (zero page, hvm_start_info,
 *    multiboot_info, mvm_bootinfo) are guest RAM;
 *  - any other error is one the file system gave (none here: -EIO or
 *    -errno would be a loader reading outside the file).
 *
 * Run: build/fuzz/fuzz_boot -max_len=65536 tests/fuzz/corpus/boot
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/boot.h"
#include "fuzz_common.h"

#define RAM (32ULL << 20)   /* the seeds load at 16 MiB, as Linux prefers */

static struct gmem m;
static int kfd = -1, ifd = -1;
static char kpath[64], ipath[64], longcmd[2048];

/* Did anything write guest RAM? mincore() finds the pages touched since
 * the last fz_gmem_zero() (RAM is otherwise not resident), and only those
 * are read; touched pages are dropped again for the next input. */
static unsigned char vec[RAM / 4096];

static bool ram_written(void)
{
	bool written = false, touched = false;

	FZ_CHECK(mincore(m.base, RAM, vec) == 0);
	for (size_t i = 0; i < RAM / 4096; i++) {
		if (!(vec[i] & 1))
			continue;
		const uint64_t *p = (const uint64_t *)(m.base + i * 4096);
		for (size_t j = 0; j < 512 && !written; j++)
			written = p[j] != 0;
		touched = true;
	}
	if (touched)
		fz_gmem_zero(&m);
	return written;
}

static void setup(void)
{
	static uint8_t initrd[4096];

	fz_logs_off();
	fz_gmem_init(&m, RAM);
	kfd = memfd_create("fuzz-kernel", 0);
	ifd = memfd_create("fuzz-initrd", 0);
	FZ_CHECK(kfd >= 0 && ifd >= 0);
	memset(initrd, 0x5a, sizeof(initrd));
	FZ_CHECK(write(ifd, initrd, sizeof(initrd)) == (ssize_t)sizeof(initrd));
	snprintf(kpath, sizeof(kpath), "/proc/self/fd/%d", kfd);
	snprintf(ipath, sizeof(ipath), "/proc/self/fd/%d", ifd);
	memset(longcmd, 'c', sizeof(longcmd) - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct boot_cfg cfg = { .cmdline = "console=ttyS0" };
	struct boot_image img;
	struct boot_entry out;
	uint8_t opt;
	int r;

	if (kfd < 0)
		setup();
	if (size < 1)
		return 0;
	opt = data[0];
	FZ_CHECK(ftruncate(kfd, 0) == 0);
	if (size > 1)
		FZ_CHECK(pwrite(kfd, data + 1, size - 1, 0) == (ssize_t)(size - 1));
	cfg.kernel_path = kpath;
	cfg.initrd_path = opt & 1 ? ipath : NULL;
	if (opt & 2)
		cfg.cmdline = longcmd;

	memset(&img, 0, sizeof(img));
	r = boot_probe(&cfg, &img);
	if (r) {
		/* An empty file, an unknown format, a bad header: nothing loaded. */
		FZ_CHECK(r == -EINVAL);
		FZ_CHECK(!ram_written());
		return 0;
	}
	memset(&out, 0, sizeof(out));
	r = boot_image_load(&m, &img, &cfg, &out);
	if (r) {
		FZ_CHECK(r == -EINVAL);
		FZ_CHECK(!ram_written());
	} else {
		FZ_CHECK(out.mode == img.mode);
		FZ_CHECK(out.entry < RAM);
		FZ_CHECK(out.boot_info < RAM);
		switch (img.format) {
		case BOOT_FORMAT_BZIMAGE:
			FZ_CHECK(out.mode == BOOT_MODE_LINUX64);
			break;
		case BOOT_FORMAT_PVH:
			FZ_CHECK(out.mode == BOOT_MODE_PVH32);
			break;
		case BOOT_FORMAT_MULTIBOOT:
			FZ_CHECK(out.mode == BOOT_MODE_MULTIBOOT32);
			break;
		case BOOT_FORMAT_ELF64:
			FZ_CHECK(out.mode == BOOT_MODE_ELF64 && !cfg.initrd_path);
			break;
		default:
			FZ_CHECK(!"a kernel file probed as the built-in demo");
		}
		ram_written();
	}
	boot_image_close(&img);
	return 0;
}
