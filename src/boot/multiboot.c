/* multiboot.c - Multiboot v1 loader: a.out-kludge or ELF32 images, multiboot_info. */
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

/* The Multiboot Specification 0.6.96, section 3: header and info layout. */
#define MB_FLAG_PAGE_ALIGN   (1u << 0)  /* modules on 4 KiB boundaries */
#define MB_FLAG_MEMORY_INFO  (1u << 1)  /* mem_* and mmap_* wanted */
#define MB_FLAG_VIDEO_MODE   (1u << 2)  /* graphics fields: not supported */
#define MB_FLAG_AOUT_KLUDGE  (1u << 16) /* address fields valid */
#define MB_FLAGS_REQUIRED    0x0000ffffu /* bits a loader must understand */
#define MB_FLAGS_KNOWN       (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO)

#define MB_INFO_MEM          (1u << 0)
#define MB_INFO_CMDLINE      (1u << 2)
#define MB_INFO_MODS         (1u << 3)
#define MB_INFO_MMAP         (1u << 6)
#define MB_INFO_LOADER_NAME  (1u << 9)

#define MB_MAX_SEGS          BOOT_ELF_MAX_PHDRS
#define MB_LOADER_NAME       "mvm"

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table;
	uint32_t boot_loader_name, apm_table;
	uint32_t vbe[4];
	uint8_t framebuffer[24];
	uint32_t pad[4];
};

struct mb_module {
	uint32_t mod_start, mod_end, string, reserved;
};

struct mb_mmap_entry {
	uint32_t size; /* of the rest of the entry: 20 */
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

/* A piece of the image to place: file bytes, then zeroes up to memsz. */
struct mb_seg {
	uint64_t off, filesz, gpa, memsz;
};

_Static_assert(sizeof(struct mb_info) == 0x80, "multiboot_info size");
_Static_assert(sizeof(struct mb_mmap_entry) == 24, "multiboot mmap entry");
_Static_assert(LAYOUT_MB_INFO + sizeof(struct mb_info) <= LAYOUT_MB_MODS, "info/mods");
_Static_assert(LAYOUT_MB_MODS + sizeof(struct mb_module) <= LAYOUT_MB_LOADER_NAME, "mods/name");
_Static_assert(LAYOUT_MB_LOADER_NAME + sizeof(MB_LOADER_NAME) <= LAYOUT_MB_MMAP, "name/mmap");
_Static_assert(LAYOUT_MB_MMAP + E820_MAX_ENTRIES * sizeof(struct mb_mmap_entry) <=
	       LAYOUT_MB_MODSTR, "mmap/module string");
_Static_assert(LAYOUT_MB_END <= LAYOUT_HIMEM_START, "multiboot area below every segment");
_Static_assert(LAYOUT_IDT + 8 <= LAYOUT_MB_LOW_START, "the boot GDT/IDT below low segments");

int multiboot_find_header(const uint8_t *buf, size_t len, uint64_t *off, int *checksum_ok)
{
	size_t lim = len < MULTIBOOT_SEARCH_LEN ? len : MULTIBOOT_SEARCH_LEN;
	int found = 0;

	for (size_t o = 0; o + 12 <= lim; o += 4) {
		uint32_t magic = boot_get32(buf + o), flags = boot_get32(buf + o + 4);

		if (magic != MULTIBOOT_MAGIC)
			continue;
		if ((uint32_t)(magic + flags + boot_get32(buf + o + 8)) == 0) {
			*off = o;
			*checksum_ok = 1;
			return 1;
		}
		if (!found) { /* remember the first bad one for the message */
			*off = o;
			*checksum_ok = 0;
			found = 1;
		}
	}
	return found;
}

int multiboot_cmdline(const char *kernel_path, const char *args, char *buf, size_t len)
{
	int n;

	if (!kernel_path)
		return -EINVAL;
	if (args && *args)
		n = snprintf(buf, len, "%s %s", kernel_path, args);
	else
		n = snprintf(buf, len, "%s", kernel_path);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* Where a multiboot segment may go: RAM at or above 1 MiB, or low RAM
 * between LAYOUT_MB_LOW_START and the EBDA outside the command line and the
 * multiboot info (kvm-unit-tests' realmode.flat loads at 32 KiB). */
static int mb_check_place(const struct gmem *m, const char *name, const char *what,
			  uint64_t start, uint64_t end)
{
	if (start >= LAYOUT_HIMEM_START)
		return boot_check_ram(m, name, what, start, end);
	if (start < LAYOUT_MB_LOW_START || end > LAYOUT_EBDA_START || end <= start) {
		log_err("%s: %s 0x%llx-0x%llx is below 1 MiB but not within 0x%llx-0x%llx, where "
			"mvm lets a multiboot kernel load", name, what, (unsigned long long)start,
			(unsigned long long)end, (unsigned long long)LAYOUT_MB_LOW_START,
			(unsigned long long)LAYOUT_EBDA_START);
		return -EINVAL;
	}
	if (start < LAYOUT_MB_END && end > LAYOUT_CMDLINE) {
		log_err("%s: %s 0x%llx-0x%llx overlaps mvm's command line and multiboot info at "
			"0x%llx-0x%llx", name, what, (unsigned long long)start,
			(unsigned long long)end, (unsigned long long)LAYOUT_CMDLINE,
			(unsigned long long)LAYOUT_MB_END);
		return -EINVAL;
	}
	return gmem_ptr(m, start, end - start) ? 0 : -EINVAL;
}

/* Flag bit 16: the header's address fields say where the file goes. */
static int mb_plan_aout(const struct gmem *m, const struct boot_src *k, const struct mb_header *h,
			uint64_t hdr_off, struct mb_seg *seg, uint32_t *entry)
{
	const char *name = k->name;
	uint64_t load_off, load_len, mem_end;
	int ret;

	if (h->load_addr > h->header_addr) {
		log_err("%s: multiboot load_addr 0x%x is above header_addr 0x%x", name,
			h->load_addr, h->header_addr);
		return -EINVAL;
	}
	if (h->header_addr - h->load_addr > hdr_off) {
		log_err("%s: multiboot header_addr 0x%x - load_addr 0x%x is more than the "
			"header's file offset 0x%llx (load would start before the file)", name,
			h->header_addr, h->load_addr, (unsigned long long)hdr_off);
		return -EINVAL;
	}
	load_off = hdr_off - (h->header_addr - h->load_addr);
	if (h->load_end_addr == 0) {
		load_len = k->len - load_off;
	} else {
		if (h->load_end_addr <= h->load_addr) {
			log_err("%s: multiboot load_end_addr 0x%x is not above load_addr 0x%x",
				name, h->load_end_addr, h->load_addr);
			return -EINVAL;
		}
		load_len = h->load_end_addr - h->load_addr;
		if (load_len > k->len - load_off) {
			log_err("%s: multiboot load_end_addr 0x%x: 0x%llx bytes from file offset "
				"0x%llx run past the end of the file (%llu bytes)", name,
				h->load_end_addr, (unsigned long long)load_len,
				(unsigned long long)load_off, (unsigned long long)k->len);
			return -EINVAL;
		}
	}
	mem_end = h->load_addr + load_len;
	if (h->bss_end_addr) {
		if (h->bss_end_addr < mem_end) {
			log_err("%s: multiboot bss_end_addr 0x%x is below the end of the loaded "
				"image 0x%llx", name, h->bss_end_addr, (unsigned long long)mem_end);
			return -EINVAL;
		}
		mem_end = h->bss_end_addr;
	}
	ret = mb_check_place(m, name, "multiboot load_addr..bss_end_addr", h->load_addr,
			     mem_end);
	if (ret)
		return ret;
	if (h->entry_addr < h->load_addr || h->entry_addr - h->load_addr >= load_len) {
		log_err("%s: multiboot entry_addr 0x%x is outside the loaded image "
			"0x%x-0x%llx", name, h->entry_addr, h->load_addr,
			(unsigned long long)(h->load_addr + load_len));
		return -EINVAL;
	}
	*seg = (struct mb_seg){ load_off, load_len, h->load_addr, mem_end - h->load_addr };
	*entry = h->entry_addr;
	return 0;
}

static const struct boot_elf_rules mb_elf_rules = {
	.class = ELFCLASS32,
	.machine = EM_386,
	.machine_name = "i386",
	.class_hint = "a 64-bit ELF needs a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)",
};

/* No flag 16: an ELF32 i386 executable, PT_LOAD segments at p_paddr. */
static int mb_plan_elf(const struct gmem *m, const struct boot_src *k, const uint8_t *head,
		       size_t head_len, struct mb_seg *segs, int *nr, uint32_t *entry)
{
	const char *name = k->name;
	struct boot_elf elf;
	int ret;
	char what[40];

	if (head_len < SELFMAG || memcmp(head, ELFMAG, SELFMAG) != 0) {
		log_err("%s: multiboot header without flag 16 (a.out kludge), but the file is "
			"not ELF", name);
		return -EINVAL;
	}
	ret = boot_elf_parse(k, &mb_elf_rules, &elf);
	if (ret)
		return ret;
	*nr = 0;
	for (int i = 0; i < elf.phnum; i++) {
		const struct boot_elf_seg *s = &elf.seg[i];

		if (s->type != PT_LOAD || s->memsz == 0)
			continue;
		snprintf(what, sizeof(what), "program header %d:", i);
		ret = mb_check_place(m, name, what, s->paddr, s->paddr + s->memsz);
		if (ret)
			return ret;
		segs[(*nr)++] = (struct mb_seg){ s->offset, s->filesz, s->paddr, s->memsz };
	}
	if (*nr == 0) {
		log_err("%s: ELF has no PT_LOAD segment to load", name);
		return -EINVAL;
	}
	if (boot_elf_seg_at(&elf, elf.entry, true, 0) < 0) {
		log_err("%s: ELF e_entry 0x%llx lies in no loaded segment", name,
			(unsigned long long)elf.entry);
		return -EINVAL;
	}
	*entry = (uint32_t)elf.entry;
	return 0;
}

static int mb_check_flags(const char *name, uint32_t flags)
{
	uint32_t unknown = flags & MB_FLAGS_REQUIRED & ~MB_FLAGS_KNOWN;

	if (flags & MB_FLAG_VIDEO_MODE) {
		log_err("%s: multiboot header asks for a video mode (flag bit 2); mvm has no "
			"graphics", name);
		return -EINVAL;
	}
	if (unknown) {
		log_err("%s: multiboot header requires features mvm does not know (flags "
			"0x%x, unknown required bits 0x%x)", name, flags, unknown);
		return -EINVAL;
	}
	return 0;
}

static int mb_write_info(const struct gmem *m, const struct boot_cfg *cfg, bool has_mod,
			 uint64_t initrd_gpa, uint64_t initrd_len)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct mb_mmap_entry mm[E820_MAX_ENTRIES];
	struct mb_info info = {
		.flags = MB_INFO_MEM | MB_INFO_CMDLINE | MB_INFO_MMAP | MB_INFO_LOADER_NAME,
		.cmdline = LAYOUT_CMDLINE,
		.mmap_addr = LAYOUT_MB_MMAP,
		.boot_loader_name = LAYOUT_MB_LOADER_NAME,
	};
	int n = e820_build(m, map, E820_MAX_ENTRIES), ret;

	if (n < 0) {
		log_err("boot: cannot build the memory map: %s", strerror(-n));
		return n;
	}
	for (int i = 0; i < n; i++) {
		mm[i] = (struct mb_mmap_entry){ sizeof(mm[i]) - 4, map[i].addr, map[i].size,
						map[i].type };
		/* mem_lower: RAM from 0 (max 640 KiB); mem_upper: RAM from 1 MiB
		 * up to the first hole, as the spec defines them. */
		if (map[i].type == E820_TYPE_RAM && map[i].addr == 0)
			info.mem_lower = map[i].size >= 0xa0000 ? 640 : map[i].size >> 10;
		if (map[i].type == E820_TYPE_RAM && map[i].addr == LAYOUT_HIMEM_START)
			info.mem_upper = map[i].size >> 10;
	}
	info.mmap_length = n * sizeof(mm[0]);
	ret = gmem_write(m, LAYOUT_MB_MMAP, mm, info.mmap_length);
	if (!ret)
		ret = gmem_write(m, LAYOUT_MB_LOADER_NAME, MB_LOADER_NAME, sizeof(MB_LOADER_NAME));
	if (!ret && has_mod) {
		const char *s = cfg->initrd_path ? cfg->initrd_path : "initrd";
		struct mb_module mod = { initrd_gpa, initrd_gpa + initrd_len, LAYOUT_MB_MODSTR, 0 };

		info.flags |= MB_INFO_MODS;
		info.mods_count = 1;
		info.mods_addr = LAYOUT_MB_MODS;
		ret = gmem_write(m, LAYOUT_MB_MODS, &mod, sizeof(mod));
		if (!ret)
			ret = gmem_write(m, LAYOUT_MB_MODSTR, s, strlen(s) + 1);
	}
	if (!ret)
		ret = gmem_write(m, LAYOUT_MB_INFO, &info, sizeof(info));
	if (ret)
		log_err("boot: cannot write the multiboot info at 0x%llx",
			(unsigned long long)LAYOUT_MB_INFO);
	return ret;
}

int multiboot_load(const struct gmem *m, const struct boot_src *kernel,
		   const struct boot_src *initrd, const struct boot_cfg *cfg,
		   struct boot_entry *out)
{
	const char *name = kernel->name;
	uint64_t initrd_len = initrd ? initrd->len : 0, initrd_gpa = 0, hdr_off = 0, top;
	uint8_t probe[MULTIBOOT_SEARCH_LEN];
	uint64_t probe_len = kernel->len < sizeof(probe) ? kernel->len : sizeof(probe);
	struct mb_seg segs[MB_MAX_SEGS];
	struct mb_header h;
	uint32_t entry = 0;
	int nr = 1, ok = 0, ret;

	ret = boot_src_read(kernel, 0, probe, probe_len);
	if (ret)
		return ret;
	if (!multiboot_find_header(probe, probe_len, &hdr_off, &ok)) {
		log_err("%s: no multiboot header (magic 0x%x) in the first %d bytes", name,
			MULTIBOOT_MAGIC, MULTIBOOT_SEARCH_LEN);
		return -EINVAL;
	}
	if (!ok) {
		log_err("%s: multiboot header at offset 0x%llx has a bad checksum (magic + flags "
			"+ checksum must be 0)", name, (unsigned long long)hdr_off);
		return -EINVAL;
	}
	memset(&h, 0, sizeof(h));
	memcpy(&h, probe + hdr_off, probe_len - hdr_off < sizeof(h) ? probe_len - hdr_off
								     : sizeof(h));
	ret = mb_check_flags(name, h.flags);
	if (ret)
		return ret;
	if (h.flags & MB_FLAG_AOUT_KLUDGE) {
		if (probe_len - hdr_off < sizeof(h)) {
			log_err("%s: multiboot header at offset 0x%llx has flag 16 (a.out kludge) "
				"but its address fields run past the end of the file", name,
				(unsigned long long)hdr_off);
			return -EINVAL;
		}
		ret = mb_plan_aout(m, kernel, &h, hdr_off, &segs[0], &entry);
	} else {
		ret = mb_plan_elf(m, kernel, probe, probe_len, segs, &nr, &entry);
	}
	if (!ret)
		ret = boot_check_cmdline(cfg, name, LAYOUT_CMDLINE_MAX - 1, "mvm's limit");
	if (!ret && initrd) {
		const char *s = cfg->initrd_path ? cfg->initrd_path : "initrd";

		if (strlen(s) + 1 > LAYOUT_MB_END - LAYOUT_MB_MODSTR) {
			log_err("%s: initrd path is %zu bytes, longer than mvm's multiboot module "
				"string limit of %llu", name, strlen(s),
				(unsigned long long)(LAYOUT_MB_END - LAYOUT_MB_MODSTR - 1));
			return -EINVAL;
		}
		/* Above every segment below 4 GiB; page aligned, so flag bit 0
		 * (page-align modules) always holds. */
		top = LAYOUT_HIMEM_START;
		for (int i = 0; i < nr; i++)
			if (segs[i].gpa + segs[i].memsz > top && segs[i].gpa < LAYOUT_MMIO_HOLE_START)
				top = segs[i].gpa + segs[i].memsz;
		if (initrd_len)
			ret = boot_place_initrd(m, cfg, initrd_len, top, gmem_low_end(m),
						"the end of low RAM", gmem_low_end(m), &initrd_gpa);
		else    /* an empty module: start == end, on the page after the image */
			initrd_gpa = (top + 0xfff) & ~0xfffULL;
	}
	if (ret)
		return ret;

	/* Everything checked; from here only I/O can fail. */
	for (int i = 0; i < nr && !ret; i++) {
		uint8_t *dst = gmem_ptr(m, segs[i].gpa, segs[i].memsz);

		if (!dst)
			return -EFAULT;
		if (segs[i].filesz)
			ret = boot_src_to_guest(m, kernel, segs[i].off, segs[i].gpa, segs[i].filesz);
		memset(dst + segs[i].filesz, 0, segs[i].memsz - segs[i].filesz);
	}
	if (!ret && initrd_len)
		ret = boot_src_to_guest(m, initrd, 0, initrd_gpa, initrd_len);
	if (!ret)
		ret = mb_write_info(m, cfg, initrd != NULL, initrd_gpa, initrd_len);
	if (!ret)
		ret = boot_write_cmdline(m, cfg);
	if (ret)
		return ret;
	out->mode = BOOT_MODE_MULTIBOOT32;
	out->entry = entry;
	out->boot_info = LAYOUT_MB_INFO;
	log_debug("%s: multiboot %s, entry 0x%x, initrd at 0x%llx", name,
		  (h.flags & MB_FLAG_AOUT_KLUDGE) ? "a.out kludge" : "ELF32", entry,
		  (unsigned long long)initrd_gpa);
	return 0;
}

/* A multiboot header in a file that is not ELF64 (an ELF64 goes to PVH or
 * the tiny-guest loader, boot.c). */
static int multiboot_probe(const struct boot_src *kernel, const uint8_t *head, size_t len)
{
	uint64_t off;
	int ok;

	if (len > EI_CLASS && memcmp(head, ELFMAG, SELFMAG) == 0 && head[EI_CLASS] == ELFCLASS64)
		return 0;
	return multiboot_find_header(head, len, &off, &ok);
}

const struct boot_loader multiboot_loader = {
	.name = "multiboot",
	.format = BOOT_FORMAT_MULTIBOOT,
	.mode = BOOT_MODE_MULTIBOOT32,
	.probe = multiboot_probe,
	.load = multiboot_load,
};
