/* linux.c - the Linux board platform: a bzImage, PVH vmlinux or multiboot kernel. */
#include "platform/platform.h"
#include "boot/boot.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

static bool linux_probe(const struct boot_image *img)
{
	return true;
}

static void linux_keep_devices(const struct vm_config *cfg, struct vm_config *dev_cfg)
{
	/* Every device the user asked for is a virtio device. */
}

static int linux_load(struct platform *p, const struct platform_load *l, struct cpu_entry *entry)
{
	struct boot_entry be;
	int ret;

	if ((ret = platform_load_image(p, l, &be)))
		return ret;
	switch (be.mode) {
	case BOOT_MODE_LINUX64:
		entry->mode = CPU_ENTRY_LINUX64;
		break;
	case BOOT_MODE_PVH32:
		entry->mode = CPU_ENTRY_PVH32;
		break;
	case BOOT_MODE_MULTIBOOT32:
		entry->mode = CPU_ENTRY_MULTIBOOT32;
		break;
	default:
		/* The tiny platform claims ELF64 guests. */
		log_err("%s: a tiny guest on the Linux platform", l->cfg->kernel_path);
		return err_host(-EIO);
	}
	entry->rip = be.entry;
	entry->info = be.boot_info;
	/* Multiboot enters with paging off, and its kernel may lie where the
	 * page tables would go (kvm-unit-tests' realmode.flat loads at 32 KiB). */
	if ((ret = be.mode == BOOT_MODE_MULTIBOOT32 ? cpu_write_boot_gdt(p->mem)
						    : cpu_write_boot_tables(p->mem)))
		log_err("writing the boot page tables and GDT: %s", strerror(-ret));
	return ret;
}

const struct platform_ops platform_linux_ops = {
	.name = "linux",
	.probe = linux_probe,
	.keep_devices = linux_keep_devices,
	.load = linux_load,
};
