/* pvh.c - PVH loader: ELF64 vmlinux with a Xen PHYS32 entry note, hvm_start_info. */
#include "boot/boot.h"
#include "boot/e820.h"
#include "core/layout.h"
#include "util/log.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

/* The PVH boot ABI, as documented in Xen's public/arch-x86/hvm/start_info.h
 * (version 1: with the memory map). Fixed little-endian layout. */
#define PVH_START_MAGIC          0x336ec578
#define PVH_START_VERSION        1
#define PVH_XEN_ELFNOTE_PHYS32   18 /* XEN_ELFNOTE_PHYS32_ENTRY */
#define PVH_MAX_PHDRS            64

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

static uint32_t pvh_get32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int pvh_check_ehdr(const Elf64_Ehdr *eh, size_t len, const char *name)
{
	uint64_t ph_bytes;

	if (eh->e_ident[EI_CLASS] != ELFCLASS64) {
		log_err("%s: ELF class %u is not ELFCLASS64 (a 32-bit vmlinux?); mvm boots "
			"64-bit x86 kernels only", name, eh->e_ident[EI_CLASS]);
		return -EINVAL;
	}
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB) {
		log_err("%s: ELF data encoding %u is not little-endian", name,
			eh->e_ident[EI_DATA]);
		return -EINVAL;
	}
	if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT) {
		log_err("%s: ELF version %u/%u, expected 1", name, eh->e_ident[EI_VERSION],
			eh->e_version);
		return -EINVAL;
	}
	if (eh->e_type != ET_EXEC) {
		log_err("%s: ELF e_type %u is not ET_EXEC", name, eh->e_type);
		return -EINVAL;
	}
	if (eh->e_machine != EM_X86_64) {
		log_err("%s: ELF e_machine %u is not x86-64 (%u)", name, eh->e_machine,
			EM_X86_64);
		return -EINVAL;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr)) {
		log_err("%s: ELF e_phentsize %u, expected %zu", name, eh->e_phentsize,
			sizeof(Elf64_Phdr));
		return -EINVAL;
	}
	if (eh->e_phnum == 0 || eh->e_phnum > PVH_MAX_PHDRS) {
		log_err("%s: ELF e_phnum %u is not within 1..%d", name, eh->e_phnum,
			PVH_MAX_PHDRS);
		return -EINVAL;
	}
	ph_bytes = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (eh->e_phoff > len || ph_bytes > len - eh->e_phoff) {
		log_err("%s: ELF program headers at e_phoff 0x%llx (%u x %zu bytes) run past "
			"the end of the file (%zu bytes)", name,
			(unsigned long long)eh->e_phoff, eh->e_phnum, sizeof(Elf64_Phdr), len);
		return -EINVAL;
	}
	return 0;
}

/* A segment's file bytes must lie in the file: [off, off+filesz). */
static int pvh_check_file_range(const Elf64_Phdr *ph, int i, size_t len, const char *name)
{
	if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset) {
		log_err("%s: program header %d: p_offset 0x%llx + p_filesz 0x%llx is past the "
			"end of the file (%zu bytes)", name, i, (unsigned long long)ph->p_offset,
			(unsigned long long)ph->p_filesz, len);
		return -EINVAL;
	}
	return 0;
}

static int pvh_check_load(const struct gmem *m, const Elf64_Phdr *ph, int i, size_t len,
			  const char *name)
{
	uint64_t start = ph->p_paddr, end;
	int ret = pvh_check_file_range(ph, i, len, name);

	if (ret)
		return ret;
	if (ph->p_filesz > ph->p_memsz) {
		log_err("%s: program header %d: p_filesz 0x%llx > p_memsz 0x%llx", name, i,
			(unsigned long long)ph->p_filesz, (unsigned long long)ph->p_memsz);
		return -EINVAL;
	}
	if (ph->p_memsz > UINT64_MAX - start) {
		log_err("%s: program header %d: p_paddr 0x%llx + p_memsz 0x%llx overflows",
			name, i, (unsigned long long)start, (unsigned long long)ph->p_memsz);
		return -EINVAL;
	}
	end = start + ph->p_memsz;
	if (start < LAYOUT_HIMEM_START) {
		log_err("%s: program header %d: p_paddr 0x%llx is below 1 MiB, where mvm keeps "
			"its boot structures", name, i, (unsigned long long)start);
		return -EINVAL;
	}
	if (!gmem_ptr(m, start, ph->p_memsz)) {
		int in_hole = start < LAYOUT_MMIO_HOLE_END && end > LAYOUT_MMIO_HOLE_START &&
			      gmem_low_end(m) == LAYOUT_MMIO_HOLE_START;

		log_err("%s: program header %d: 0x%llx-0x%llx %s (guest RAM: %llu MiB)%s", name,
			i, (unsigned long long)start, (unsigned long long)end,
			in_hole ? "reaches into the MMIO hole 0xc0000000-0xffffffff"
				: "is not inside guest RAM",
			(unsigned long long)(m->ram_size >> 20),
			in_hole ? "" : "; give --mem more");
		return -EINVAL;
	}
	return 0;
}

/* Walk the notes of one PT_NOTE segment looking for the PVH entry.
 * 1 found (*entry set), 0 not there, -EINVAL malformed (logged). */
static int pvh_find_note(const uint8_t *img, const Elf64_Phdr *ph, int i, const char *name,
			 uint32_t *entry)
{
	const uint8_t *p = img + ph->p_offset;
	uint64_t left = ph->p_filesz;

	while (left >= 12) {
		uint64_t namesz = pvh_get32(p), descsz = pvh_get32(p + 4);
		uint32_t type = pvh_get32(p + 8);
		uint64_t name_pad = (namesz + 3) & ~3ULL, desc_pad = (descsz + 3) & ~3ULL;
		const uint8_t *desc = p + 12 + name_pad;

		if (name_pad + desc_pad > left - 12) {
			log_err("%s: program header %d: note at file offset 0x%llx (namesz %llu, "
				"descsz %llu) runs past its segment", name, i,
				(unsigned long long)(p - img), (unsigned long long)namesz,
				(unsigned long long)descsz);
			return -EINVAL;
		}
		if (namesz == 4 && memcmp(p + 12, "Xen", 4) == 0 &&
		    type == PVH_XEN_ELFNOTE_PHYS32) {
			/* Linux emits .quad on x86-64 before 6.x and .long since; both
			 * hold a 32-bit physical address. */
			if (descsz == 4) {
				*entry = pvh_get32(desc);
				return 1;
			}
			if (descsz == 8 && pvh_get32(desc + 4) == 0) {
				*entry = pvh_get32(desc);
				return 1;
			}
			log_err("%s: XEN_ELFNOTE_PHYS32_ENTRY note has a %llu-byte descriptor "
				"that is not a 32-bit address", name, (unsigned long long)descsz);
			return -EINVAL;
		}
		p += 12 + name_pad + desc_pad;
		left -= 12 + name_pad + desc_pad;
	}
	return 0;
}

/* Every check, no writes. Fills the PVH entry and the end of the highest
 * loaded byte below 4 GiB (where the initrd may start). */
static int pvh_check(const struct gmem *m, const uint8_t *img, size_t len, const char *name,
		     const Elf64_Ehdr *eh, uint32_t *entry, uint64_t *low_top)
{
	int ret, found = 0, nr_load = 0, entry_ok = 0;
	Elf64_Phdr ph;

	ret = pvh_check_ehdr(eh, len, name);
	if (ret)
		return ret;

	*low_top = LAYOUT_HIMEM_START;
	for (int i = 0; i < eh->e_phnum; i++) {
		memcpy(&ph, img + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD) {
			ret = pvh_check_load(m, &ph, i, len, name);
			if (ret)
				return ret;
			if (ph.p_memsz == 0)
				continue;
			nr_load++;
			if (ph.p_paddr < LAYOUT_MMIO_HOLE_START &&
			    ph.p_paddr + ph.p_memsz > *low_top)
				*low_top = ph.p_paddr + ph.p_memsz;
		} else if (ph.p_type == PT_NOTE && !found) {
			ret = pvh_check_file_range(&ph, i, len, name);
			if (ret)
				return ret;
			ret = pvh_find_note(img, &ph, i, name, entry);
			if (ret < 0)
				return ret;
			found = ret;
		}
	}
	if (nr_load == 0) {
		log_err("%s: ELF has no PT_LOAD segment to load", name);
		return -EINVAL;
	}
	if (!found) {
		log_err("%s: ELF vmlinux has no XEN_ELFNOTE_PHYS32_ENTRY note (kernel built "
			"without CONFIG_PVH?); boot its bzImage instead", name);
		return -EINVAL;
	}
	/* The entry must be code we load from the file, not bss or nothing. */
	for (int i = 0; i < eh->e_phnum && !entry_ok; i++) {
		memcpy(&ph, img + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		entry_ok = ph.p_type == PT_LOAD && *entry >= ph.p_paddr &&
			   *entry - ph.p_paddr < ph.p_filesz;
	}
	if (!entry_ok) {
		log_err("%s: PVH entry 0x%x (XEN_ELFNOTE_PHYS32_ENTRY) lies in no loaded "
			"segment", name, *entry);
		return -EINVAL;
	}
	return 0;
}

static int pvh_load_segments(const struct gmem *m, const uint8_t *img, const Elf64_Ehdr *eh)
{
	Elf64_Phdr ph;

	for (int i = 0; i < eh->e_phnum; i++) {
		uint8_t *dst;

		memcpy(&ph, img + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		dst = gmem_ptr(m, ph.p_paddr, ph.p_memsz);
		if (!dst)
			return -EFAULT;
		memcpy(dst, img + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}
	return 0;
}

static int pvh_write_start_info(const struct gmem *m, const struct boot_cfg *cfg,
				uint64_t initrd_gpa, size_t initrd_len)
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

int pvh_load(const struct gmem *m, const uint8_t *img, size_t len, const char *name,
	     const uint8_t *initrd, size_t initrd_len, const struct boot_cfg *cfg,
	     struct boot_entry *out)
{
	uint64_t low_top = 0, initrd_gpa = 0;
	uint32_t entry = 0;
	Elf64_Ehdr eh;
	int ret;

	if (len < sizeof(eh) || memcmp(img, ELFMAG, SELFMAG) != 0) {
		log_err("%s: not an ELF file (%zu bytes, no ELF header)", name, len);
		return -EINVAL;
	}
	/* A copy: the image buffer need not be aligned for Elf64_Ehdr. */
	memcpy(&eh, img, sizeof(eh));
	ret = pvh_check(m, img, len, name, &eh, &entry, &low_top);
	if (!ret)
		ret = boot_check_cmdline(cfg, name, LAYOUT_CMDLINE_MAX - 1, "mvm's limit");
	if (!ret && initrd_len)
		ret = boot_place_initrd(m, cfg, initrd_len, low_top, gmem_low_end(m),
					"the end of low RAM", gmem_low_end(m), &initrd_gpa);
	if (ret)
		return ret;

	ret = pvh_load_segments(m, img, &eh);
	if (!ret && initrd_len)
		ret = gmem_write(m, initrd_gpa, initrd, initrd_len);
	if (!ret)
		ret = pvh_write_start_info(m, cfg, initrd_gpa, initrd_len);
	if (ret) {
		log_err("%s: cannot write the kernel, initrd or start_info to guest RAM", name);
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
