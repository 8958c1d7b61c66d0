/* pvh.c - PVH loader: ELF64 vmlinux with a Xen PHYS32 entry note, hvm_start_info. */
#include "boot/boot.h"
#include "boot/e820.h"
#include "boot/elf.h"
#include "boot/boot_priv.h"
#include "core/layout.h"
#include "util/log.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The PVH boot ABI, as documented in Xen's public/arch-x86/hvm/start_info.h
 * (version 1: with the memory map). Fixed little-endian layout. */
#define PVH_START_MAGIC          0x336ec578
#define PVH_START_VERSION        1
#define PVH_XEN_ELFNOTE_PHYS32   18 /* XEN_ELFNOTE_PHYS32_ENTRY */

struct pvh_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct pvh_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct pvh_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct pvh_start_info) == 56, "hvm_start_info ABI");
_Static_assert(sizeof(struct pvh_modlist_entry) == 32, "hvm_modlist_entry ABI");
_Static_assert(sizeof(struct pvh_memmap_entry) == 24, "hvm_memmap_table_entry ABI");
_Static_assert(LAYOUT_PVH_START_INFO + sizeof(struct pvh_start_info) <= LAYOUT_PVH_MEMMAP,
	       "start_info overlaps the memory map");
_Static_assert(LAYOUT_PVH_MEMMAP + E820_MAX_ENTRIES * sizeof(struct pvh_memmap_entry) <=
	       LAYOUT_PVH_MODLIST, "memory map overlaps the module list");
_Static_assert(LAYOUT_PVH_MODLIST + sizeof(struct pvh_modlist_entry) <= LAYOUT_ZERO_PAGE,
	       "module list overlaps the zero page");

static const struct boot_elf_rules pvh_rules = {
	.class = ELFCLASS64,
	.machine = EM_X86_64,
	.machine_name = "x86-64",
	.class_hint = "mvm boots 64-bit x86 kernels only (a 32-bit vmlinux?)",
};

/* Any ELF not claimed before (boot.c's table order): PVH is the last ELF
 * format, so its load names what the file lacks. */
static int pvh_probe(const struct boot_src *kernel, const uint8_t *head, size_t len)
{
	return len >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0;
}

/* The PVH entry from XEN_ELFNOTE_PHYS32_ENTRY. Linux emits .quad on x86-64
 * before 6.x and .long since; both hold a 32-bit physical address. */
static int pvh_find_entry(const struct boot_src *kernel, const struct boot_elf *elf,
			  uint32_t *entry)
{
	uint8_t desc[8];
	uint32_t descsz = 0;
	int ret = boot_elf_find_note(kernel, elf, "Xen", PVH_XEN_ELFNOTE_PHYS32, desc,
				     sizeof(desc), &descsz, false);

	if (ret < 0)
		return ret;
	if (ret == 0) {
		log_err("%s: ELF vmlinux has no XEN_ELFNOTE_PHYS32_ENTRY note (kernel built "
			"without CONFIG_PVH?); boot its bzImage instead", kernel->name);
		return -EINVAL;
	}
	if (descsz != 4 && (descsz != 8 || boot_get32(desc + 4) != 0)) {
		log_err("%s: XEN_ELFNOTE_PHYS32_ENTRY note has a %u-byte descriptor that is not a "
			"32-bit address", kernel->name, descsz);
		return -EINVAL;
	}
	*entry = boot_get32(desc);
	return 0;
}

/* PVH's rules on top of the validator's: every PT_LOAD at or above 1 MiB
 * in RAM, the entry in file bytes we load. No writes. Fills the entry and
 * the end of the highest loaded byte below 4 GiB (where the initrd may start). */
static int pvh_check(const struct gmem *m, const struct boot_src *kernel,
		     const struct boot_elf *elf, uint32_t *entry, uint64_t *low_top)
{
	const char *name = kernel->name;
	int ret, nr_load = 0;
	char what[40];

	*low_top = LAYOUT_HIMEM_START;
	for (int i = 0; i < elf->phnum; i++) {
		const struct boot_elf_seg *s = &elf->seg[i];

		if (s->type != PT_LOAD || s->memsz == 0)
			continue;
		snprintf(what, sizeof(what), "program header %d:", i);
		ret = boot_check_ram(m, name, what, s->paddr, s->paddr + s->memsz);
		if (ret)
			return ret;
		nr_load++;
		if (s->paddr < LAYOUT_MMIO_HOLE_START && s->paddr + s->memsz > *low_top)
			*low_top = s->paddr + s->memsz;
	}
	if (nr_load == 0) {
		log_err("%s: ELF has no PT_LOAD segment to load", name);
		return -EINVAL;
	}
	ret = pvh_find_entry(kernel, elf, entry);
	if (ret)
		return ret;
	/* The entry must be code we load from the file, not bss or nothing. */
	if (boot_elf_seg_at(elf, *entry, true, 0) < 0) {
		log_err("%s: PVH entry 0x%x (XEN_ELFNOTE_PHYS32_ENTRY) lies in no loaded "
			"segment", name, *entry);
		return -EINVAL;
	}
	return 0;
}

/* File bytes straight from the image into guest RAM, then the bss zeroed
 * there: no host copy of a segment ever exists. */
static int pvh_load_segments(const struct gmem *m, const struct boot_src *kernel,
			     const struct boot_elf *elf)
{
	for (int i = 0; i < elf->phnum; i++) {
		const struct boot_elf_seg *s = &elf->seg[i];
		uint8_t *dst;
		int ret;

		if (s->type != PT_LOAD || s->memsz == 0)
			continue;
		dst = gmem_ptr(m, s->paddr, s->memsz);
		if (!dst) {
			log_err("%s: program header %d: 0x%llx is not guest RAM", kernel->name, i,
				(unsigned long long)s->paddr);
			return -EFAULT;
		}
		ret = boot_src_read(kernel, s->offset, dst, s->filesz);
		if (ret)
			return ret;
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}

static int pvh_write_start_info(const struct gmem *m, const struct boot_cfg *cfg,
				uint64_t initrd_gpa, uint64_t initrd_len)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct pvh_memmap_entry mm[E820_MAX_ENTRIES];
	struct pvh_modlist_entry mod = { .paddr = initrd_gpa, .size = initrd_len };
	struct pvh_start_info si = {
		.magic = PVH_START_MAGIC,
		.version = PVH_START_VERSION,
		.nr_modules = initrd_len ? 1 : 0,
		.modlist_paddr = initrd_len ? LAYOUT_PVH_MODLIST : 0,
		.cmdline_paddr = LAYOUT_CMDLINE,
		.rsdp_paddr = cfg->rsdp_gpa,
		.memmap_paddr = LAYOUT_PVH_MEMMAP,
	};
	int n = e820_build(m, map, E820_MAX_ENTRIES), ret;

	if (n < 0) {
		log_err("boot: cannot build the memory map: %s", strerror(-n));
		return n;
	}
	for (int i = 0; i < n; i++)
		mm[i] = (struct pvh_memmap_entry){ .addr = map[i].addr, .size = map[i].size,
						   .type = map[i].type };
	si.memmap_entries = n;
	ret = gmem_write(m, LAYOUT_PVH_MEMMAP, mm, n * sizeof(mm[0]));
	if (!ret && initrd_len)
		ret = gmem_write(m, LAYOUT_PVH_MODLIST, &mod, sizeof(mod));
	if (!ret)
		ret = gmem_write(m, LAYOUT_PVH_START_INFO, &si, sizeof(si));
	return ret;
}

int pvh_load(const struct gmem *m, const struct boot_src *kernel,
	     const struct boot_src *initrd, const struct boot_cfg *cfg,
	     struct boot_entry *out)
{
	const char *name = kernel->name;
	uint64_t low_top = 0, initrd_gpa = 0, initrd_len = initrd ? initrd->len : 0;
	struct boot_elf elf;
	uint32_t entry = 0;
	int ret;

	ret = boot_elf_parse(kernel, &pvh_rules, &elf);
	if (!ret)
		ret = pvh_check(m, kernel, &elf, &entry, &low_top);
	if (!ret)
		ret = boot_check_cmdline(cfg, name, LAYOUT_CMDLINE_MAX - 1, "mvm's limit");
	if (!ret && initrd_len)
		ret = boot_place_initrd(m, cfg, initrd_len, low_top, gmem_low_end(m),
					"the end of low RAM", gmem_low_end(m), &initrd_gpa);
	if (ret)
		return ret;

	/* Checked above; a failure now is an I/O error (logged) or a bug. */
	ret = pvh_load_segments(m, kernel, &elf);
	if (!ret && initrd_len)
		ret = boot_src_to_guest(m, initrd, 0, initrd_gpa, initrd_len);
	if (ret)
		return ret;
	ret = pvh_write_start_info(m, cfg, initrd_gpa, initrd_len);
	if (ret) {
		log_err("%s: cannot write start_info to guest RAM", name);
		return ret;
	}
	ret = boot_write_cmdline(m, cfg);
	if (ret)
		return ret;

	out->mode = BOOT_MODE_PVH32;
	out->entry = entry;
	out->boot_info = LAYOUT_PVH_START_INFO;
	log_debug("%s: PVH ELF, entry 0x%x, initrd at 0x%llx", name, entry,
		  (unsigned long long)initrd_gpa);
	return 0;
}

const struct boot_loader pvh_loader = {
	.name = "PVH ELF vmlinux",
	.format = BOOT_FORMAT_PVH,
	.mode = BOOT_MODE_PVH32,
	.probe = pvh_probe,
	.load = pvh_load,
};
