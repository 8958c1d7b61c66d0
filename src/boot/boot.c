/* boot.c - format detection, boot_load, and helpers shared by the loaders. */
#include "boot/boot.h"
#include "core/layout.h"
#include "util/log.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BOOT_PAGE_MASK 0xfffULL
#define MIB            (1ULL << 20)

/* Enough of the file's start to tell the formats apart: "HdrS" ends at
 * 0x206, a multiboot header lies within the first 8 KiB. */
#define BOOT_PROBE_LEN MULTIBOOT_SEARCH_LEN

static int boot_is_bzimage(const uint8_t *img, size_t len)
{
	return len >= 0x206 && memcmp(img + 0x202, "HdrS", 4) == 0;
}

static int boot_is_elf(const uint8_t *img, size_t len)
{
	return len >= 4 && memcmp(img, "\x7f" "ELF", 4) == 0;
}

static int boot_is_elf64(const uint8_t *img, size_t len)
{
	return boot_is_elf(img, len) && len > EI_CLASS && img[EI_CLASS] == ELFCLASS64;
}

int boot_load(const struct gmem *m, const struct boot_cfg *cfg, struct boot_entry *out)
{
	struct boot_src kernel = { .fd = -1 }, initrd = { .fd = -1 };
	uint8_t probe[BOOT_PROBE_LEN];
	size_t probe_len;
	uint64_t mb_off;
	int ret, mb, mb_ok;

	if (!cfg->cmdline) {
		log_err("boot: no command line given");
		return -EINVAL;
	}
	if (!cfg->kernel_path) {
		/* No --kernel: the hello demo linked into mvm (elf64.c). */
		uint64_t demo_len;
		const uint8_t *demo = elf64_builtin_demo(&demo_len);

		if (!demo) {
			log_err("no kernel given and this mvm has no built-in demo: use --kernel FILE");
			return -EINVAL;
		}
		boot_src_buf(&kernel, "kernel", "built-in hello demo", demo, demo_len);
		if (cfg->initrd_path) {
			log_err("--initrd needs --kernel (the built-in demo takes no initrd)");
			return -EINVAL;
		}
		return elf64_load(m, &kernel, NULL, cfg, out);
	}
	ret = boot_src_open(&kernel, "kernel", cfg->kernel_path, m->ram_size);
	if (ret)
		return ret;
	if (cfg->initrd_path) {
		ret = boot_src_open(&initrd, "initrd", cfg->initrd_path, m->ram_size);
		if (ret)
			goto out;
	}
	probe_len = kernel.len < sizeof(probe) ? kernel.len : sizeof(probe);
	ret = boot_src_read(&kernel, 0, probe, probe_len);
	if (ret)
		goto out;

	/* Precedence (boot.h): bzImage, ELF64 tiny guest, ELF64 (PVH), multiboot,
	 * other ELF. */
	mb = multiboot_find_header(probe, probe_len, &mb_off, &mb_ok);
	if (boot_is_bzimage(probe, probe_len)) {
		ret = bzimage_load(m, &kernel, cfg->initrd_path ? &initrd : NULL, cfg, out);
	} else if (boot_is_elf64(probe, probe_len) && elf64_is_tiny_guest(&kernel)) {
		/* ELF64 ET_EXEC x86-64 without a PVH note: an SDK guest. */
		ret = elf64_load(m, &kernel, cfg->initrd_path ? &initrd : NULL, cfg, out);
		if (ret == -EINVAL && mb)
			log_err("%s: it also has a multiboot header, but mvm loads multiboot "
				"kernels only as ELF32 or a.out-kludge images (32-bit entry); a "
				"64-bit ELF is an mvm tiny guest, or PVH with a PVH note",
				cfg->kernel_path);
	} else if (boot_is_elf64(probe, probe_len)) {
		ret = pvh_load(m, &kernel, cfg->initrd_path ? &initrd : NULL, cfg, out);
		if (ret == -EINVAL && mb)
			log_err("%s: it also has a multiboot header, but mvm loads multiboot "
				"kernels only as ELF32 or a.out-kludge images (32-bit entry); a "
				"64-bit ELF needs a PVH note", cfg->kernel_path);
	} else if (mb) {
		ret = multiboot_load(m, &kernel, cfg->initrd_path ? &initrd : NULL, cfg, out);
	} else if (boot_is_elf(probe, probe_len)) {
		ret = pvh_load(m, &kernel, cfg->initrd_path ? &initrd : NULL, cfg, out);
	} else {
		/* The first sentence is what tests and scripts match on. */
		log_err("%s: not a bzImage or ELF vmlinux (no HdrS magic at 0x202, no ELF "
			"magic), nor a multiboot kernel (no header in the first 8192 bytes)",
			cfg->kernel_path);
		ret = -EINVAL;
	}
	/* A file that grew or shrank under us may have been loaded half old,
	 * half new: refuse to boot it. */
	if (!ret)
		ret = boot_src_check_size(&kernel);
	if (!ret)
		ret = boot_src_check_size(&initrd);
out:
	boot_src_close(&kernel);
	boot_src_close(&initrd);
	return ret;
}

static void boot_fmt_size(char *buf, size_t n, uint64_t bytes)
{
	if (bytes >= MIB)
		snprintf(buf, n, "%llu MiB", (unsigned long long)((bytes + MIB - 1) / MIB));
	else
		snprintf(buf, n, "%llu bytes", (unsigned long long)bytes);
}

int boot_place_initrd(const struct gmem *m, const struct boot_cfg *cfg, size_t len,
		      uint64_t floor, uint64_t top, const char *limit_name, uint64_t limit,
		      uint64_t *gpa)
{
	const char *name = cfg->initrd_path ? cfg->initrd_path : "initrd";
	uint64_t low_end = gmem_low_end(m), addr;
	char size[32];

	if (top > low_end)
		top = low_end;
	/* Round the start down, never the end up: the end must stay <= top. */
	if (len <= top && ((top - len) & ~BOOT_PAGE_MASK) >= floor) {
		addr = (top - len) & ~BOOT_PAGE_MASK;
		if (gmem_ptr(m, addr, len)) {
			*gpa = addr;
			return 0;
		}
	}
	boot_fmt_size(size, sizeof(size), len);
	log_err("%s (%s) does not fit below %s 0x%llx and above the kernel's end 0x%llx in "
		"%llu MiB of RAM; give --mem more", name, size, limit_name,
		(unsigned long long)limit, (unsigned long long)floor,
		(unsigned long long)(m->ram_size / MIB));
	return -EINVAL;
}

int boot_check_cmdline(const struct boot_cfg *cfg, const char *name, uint64_t max_len,
		       const char *limit_name)
{
	size_t len = strlen(cfg->cmdline);

	if (len > max_len) {
		log_err("%s: command line is %zu bytes, longer than %s %llu", name, len,
			limit_name, (unsigned long long)max_len);
		return -EINVAL;
	}
	if (len + 1 > LAYOUT_CMDLINE_MAX) {
		log_err("%s: command line is %zu bytes, longer than mvm's limit of %llu",
			name, len, (unsigned long long)(LAYOUT_CMDLINE_MAX - 1));
		return -EINVAL;
	}
	return 0;
}

int boot_write_cmdline(const struct gmem *m, const struct boot_cfg *cfg)
{
	int ret = gmem_write(m, LAYOUT_CMDLINE, cfg->cmdline, strlen(cfg->cmdline) + 1);

	if (ret)
		log_err("boot: cannot write the command line at 0x%llx",
			(unsigned long long)LAYOUT_CMDLINE);
	return ret;
}
