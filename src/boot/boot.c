/* boot.c - the loader table: boot_probe picks a format once, boot_image_load loads it from the same files. */
#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "util/log.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

/* Probed in this order; the first to claim the file loads it. The tiny
 * guest comes before PVH (both are ELF64; a PVH note decides), multiboot
 * before PVH (so ELF32 with a multiboot header is multiboot, and PVH is left
 * with every other ELF, whose errors then say what a vmlinux lacks). */
static const struct boot_loader *const boot_loaders[] = {
	&bzimage_loader,
	&elf64_loader,
	&multiboot_loader,
	&pvh_loader,
};

#define BOOT_NR_LOADERS (sizeof(boot_loaders) / sizeof(boot_loaders[0]))

static int boot_head_is_elf64(const uint8_t *head, size_t len)
{
	return len > EI_CLASS && memcmp(head, ELFMAG, SELFMAG) == 0 &&
	       head[EI_CLASS] == ELFCLASS64;
}

static void boot_elf64_multiboot_hint(const struct boot_image *img)
{
	if (img->elf64_multiboot)
		log_err("%s: it also has a multiboot header, but mvm loads multiboot kernels only "
			"as ELF32 or a.out-kludge images (32-bit entry); a 64-bit ELF is an mvm "
			"tiny guest, or PVH with a PVH note", img->kernel.name);
}

/* No --kernel: the hello demo linked into mvm (elf64.c). */
static int boot_probe_demo(const struct boot_cfg *cfg, struct boot_image *img)
{
	uint64_t len;
	const uint8_t *demo = elf64_builtin_demo(&len);

	if (!demo) {
		log_err("no kernel given and this mvm has no built-in demo: use --kernel FILE");
		return -EINVAL;
	}
	if (cfg->initrd_path) {
		log_err("--initrd needs --kernel (the built-in demo takes no initrd)");
		return -EINVAL;
	}
	boot_src_buf(&img->kernel, "kernel", "built-in hello demo", demo, len);
	img->format = BOOT_FORMAT_DEMO;
	img->mode = BOOT_MODE_ELF64;
	img->format_name = "built-in demo";
	img->loader = &elf64_loader;
	return 0;
}

/* Offer the file to each loader in turn. */
static int boot_probe_file(struct boot_image *img)
{
	uint8_t head[BOOT_HEAD_LEN];
	size_t len = img->kernel.len < sizeof(head) ? img->kernel.len : sizeof(head);
	uint64_t mb_off;
	int ret, mb_ok;

	ret = boot_src_read(&img->kernel, 0, head, len);
	if (ret)
		return ret;
	img->elf64_multiboot = boot_head_is_elf64(head, len) &&
			       multiboot_find_header(head, len, &mb_off, &mb_ok);
	for (size_t i = 0; i < BOOT_NR_LOADERS; i++) {
		const struct boot_loader *l = boot_loaders[i];

		ret = l->probe(&img->kernel, head, len);
		if (ret < 0) {
			if (ret == -EINVAL)
				boot_elf64_multiboot_hint(img);
			return ret;
		}
		if (ret == 0)
			continue;
		img->loader = l;
		img->format = l->format;
		img->mode = l->mode;
		img->format_name = l->name;
		return 0;
	}
	/* The first sentence is what tests and scripts match on. */
	log_err("%s: not a bzImage or ELF vmlinux (no HdrS magic at 0x202, no ELF magic), nor a "
		"multiboot kernel (no header in the first 8192 bytes)", img->kernel.name);
	return -EINVAL;
}

int boot_probe(const struct boot_cfg *cfg, struct boot_image *img)
{
	int ret;

	memset(img, 0, sizeof(*img));
	img->kernel.fd = img->initrd.fd = -1;
	if (!cfg->kernel_path)
		return boot_probe_demo(cfg, img);
	/* No cap yet: guest RAM may not exist; boot_image_load checks it. */
	ret = boot_src_open(&img->kernel, "kernel", cfg->kernel_path, UINT64_MAX);
	if (!ret && cfg->initrd_path) {
		ret = boot_src_open_maybe_empty(&img->initrd, "initrd", cfg->initrd_path,
						UINT64_MAX, true);
		img->has_initrd = !ret;
	}
	if (!ret)
		ret = boot_probe_file(img);
	/* An empty module is a valid multiboot module (kvm-unit-tests' empty
	 * environment); a Linux kernel gets nothing from an empty initrd. */
	if (!ret && img->has_initrd && img->initrd.len == 0 &&
	    img->format != BOOT_FORMAT_MULTIBOOT) {
		log_err("initrd %s: file is empty (only a multiboot kernel takes an empty module)",
			cfg->initrd_path);
		ret = -EINVAL;
	}
	if (!ret && img->mode == BOOT_MODE_ELF64 && img->has_initrd) {
		log_err("%s: a tiny ELF64 guest takes no --initrd", img->kernel.name);
		ret = -EINVAL;
	}
	if (ret) {
		boot_src_close(&img->kernel);
		boot_src_close(&img->initrd);
		img->loader = NULL;
	}
	return ret;
}

int boot_image_load(const struct gmem *m, const struct boot_image *img,
		    const struct boot_cfg *cfg, struct boot_entry *out)
{
	const struct boot_src *initrd = img->has_initrd ? &img->initrd : NULL;
	int ret;

	if (!img->loader) {
		log_err("boot: no probed kernel to load (boot_probe failed or was not called)");
		return -EINVAL;
	}
	if (!cfg->cmdline) {
		log_err("boot: no command line given");
		return -EINVAL;
	}
	ret = boot_src_check_cap(&img->kernel, m->ram_size);
	if (!ret && initrd)
		ret = boot_src_check_cap(initrd, m->ram_size);
	if (ret)
		return ret;
	ret = img->loader->load(m, &img->kernel, initrd, cfg, out);
	if (ret == -EINVAL)
		boot_elf64_multiboot_hint(img);
	/* A file that grew or shrank under us may have been loaded half old,
	 * half new: refuse to boot it. */
	if (!ret)
		ret = boot_src_check_size(&img->kernel);
	if (!ret && initrd)
		ret = boot_src_check_size(initrd);
	return ret;
}

void boot_image_close(struct boot_image *img)
{
	if (!img->loader)
		return;
	boot_src_close(&img->kernel);
	boot_src_close(&img->initrd);
	img->has_initrd = 0;
	img->loader = NULL;
}

int boot_image_is_tiny(const struct boot_image *img)
{
	return img->loader && img->mode == BOOT_MODE_ELF64;
}

int boot_load(const struct gmem *m, const struct boot_cfg *cfg, struct boot_entry *out)
{
	struct boot_image img;
	int ret;

	if (!cfg->cmdline) {
		log_err("boot: no command line given");
		return -EINVAL;
	}
	ret = boot_probe(cfg, &img);
	if (ret)
		return ret;
	ret = boot_image_load(m, &img, cfg, out);
	boot_image_close(&img);
	return ret;
}
