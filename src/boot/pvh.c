/* pvh.c - PVH loader: ELF64 vmlinux with a Xen PHYS32 entry note, hvm_start_info. */
#include "boot/boot.h"
#include "boot/e820.h"
#include "core/layout.h"
#include "util/log.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The PVH boot ABI, as documented in Xen's public/arch-x86/hvm/start_info.h
 * (version 1: with the memory map). Fixed little-endian layout. */
#define PVH_START_MAGIC          0x336ec578
#define PVH_START_VERSION        1
#define PVH_XEN_ELFNOTE_PHYS32   18 /* XEN_ELFNOTE_PHYS32_ENTRY */
#define PVH_MAX_PHDRS            64
/* PT_NOTE contents are read into a host buffer to walk them. A vmlinux has
 * well under 1 KiB of notes; the cap keeps a hostile file from costing
 * host memory the RSS budget does not have. */
#define PVH_MAX_NOTE_BYTES       (64 * 1024)

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

static int pvh_check_ehdr(const Elf64_Ehdr *eh, uint64_t len, const char *name)
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
			"the end of the file (%llu bytes)", name,
			(unsigned long long)eh->e_phoff, eh->e_phnum, sizeof(Elf64_Phdr),
			(unsigned long long)len);
		return -EINVAL;
	}
	return 0;
}

/* A segment's file bytes must lie in the file: [off, off+filesz). */
static int pvh_check_file_range(const Elf64_Phdr *ph, int i, uint64_t len, const char *name)
{
	if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset) {
		log_err("%s: program header %d: p_offset 0x%llx + p_filesz 0x%llx is past the "
			"end of the file (%llu bytes)", name, i, (unsigned long long)ph->p_offset,
			(unsigned long long)ph->p_filesz, (unsigned long long)len);
		return -EINVAL;
	}
	return 0;
}

static int pvh_check_load(const struct gmem *m, const Elf64_Phdr *ph, int i, uint64_t len,
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

/* Walk the notes of one PT_NOTE segment (its file bytes in seg) looking for
 * the PVH entry. 1 found (*entry set), 0 not there, -EINVAL malformed (logged). */
static int pvh_walk_notes(const uint8_t *seg, const Elf64_Phdr *ph, int i, const char *name,
			  uint32_t *entry)
{
	const uint8_t *p = seg;
	uint64_t left = ph->p_filesz;

	while (left >= 12) {
		uint64_t namesz = pvh_get32(p), descsz = pvh_get32(p + 4);
		uint32_t type = pvh_get32(p + 8);
		uint64_t name_pad = (namesz + 3) & ~3ULL, desc_pad = (descsz + 3) & ~3ULL;
		const uint8_t *desc = p + 12 + name_pad;

		if (name_pad + desc_pad > left - 12) {
			log_err("%s: program header %d: note at file offset 0x%llx (namesz %llu, "
				"descsz %llu) runs past its segment", name, i,
				(unsigned long long)(ph->p_offset + (p - seg)),
				(unsigned long long)namesz,
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

/* Read one PT_NOTE segment (already range-checked against the file) into a
 * size-checked buffer and walk it. Same results as pvh_walk_notes. */
static int pvh_find_note(const struct boot_src *kernel, const Elf64_Phdr *ph, int i,
			 uint32_t *entry)
{
	uint8_t *seg;
	int ret;

	if (ph->p_filesz < 12)
		return 0; /* no room for a note header: nothing to find, as before */
	if (ph->p_filesz > PVH_MAX_NOTE_BYTES) {
		log_err("%s: program header %d: PT_NOTE p_filesz 0x%llx is larger than mvm "
			"reads (%u bytes)", kernel->name, i, (unsigned long long)ph->p_filesz,
			PVH_MAX_NOTE_BYTES);
		return -EINVAL;
	}
	seg = malloc(ph->p_filesz);
	if (!seg) {
		log_err("%s: cannot allocate %llu bytes for the notes of program header %d",
			kernel->name, (unsigned long long)ph->p_filesz, i);
		return -ENOMEM;
	}
	ret = boot_src_read(kernel, ph->p_offset, seg, ph->p_filesz);
	if (!ret)
		ret = pvh_walk_notes(seg, ph, i, kernel->name, entry);
	free(seg);
	return ret;
}

/* Every check on the (already checked) ELF header and its program headers,
 * no writes. Fills the PVH entry and the end of the highest loaded byte
 * below 4 GiB (where the initrd may start). */
static int pvh_check(const struct gmem *m, const struct boot_src *kernel, const Elf64_Phdr *phs,
		     int phnum, uint32_t *entry, uint64_t *low_top)
{
	const char *name = kernel->name;
	int ret, found = 0, nr_load = 0, entry_ok = 0;

	*low_top = LAYOUT_HIMEM_START;
	for (int i = 0; i < phnum; i++) {
		const Elf64_Phdr *ph = &phs[i];

		if (ph->p_type == PT_LOAD) {
			ret = pvh_check_load(m, ph, i, kernel->len, name);
			if (ret)
				return ret;
			if (ph->p_memsz == 0)
				continue;
			nr_load++;
			if (ph->p_paddr < LAYOUT_MMIO_HOLE_START &&
			    ph->p_paddr + ph->p_memsz > *low_top)
				*low_top = ph->p_paddr + ph->p_memsz;
		} else if (ph->p_type == PT_NOTE && !found) {
			ret = pvh_check_file_range(ph, i, kernel->len, name);
			if (ret)
				return ret;
			ret = pvh_find_note(kernel, ph, i, entry);
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
	for (int i = 0; i < phnum && !entry_ok; i++)
		entry_ok = phs[i].p_type == PT_LOAD && *entry >= phs[i].p_paddr &&
			   *entry - phs[i].p_paddr < phs[i].p_filesz;
	if (!entry_ok) {
		log_err("%s: PVH entry 0x%x (XEN_ELFNOTE_PHYS32_ENTRY) lies in no loaded "
			"segment", name, *entry);
		return -EINVAL;
	}
	return 0;
}

/* File bytes straight from the image into guest RAM, then the bss zeroed
 * there: no host copy of a segment ever exists. */
static int pvh_load_segments(const struct gmem *m, const struct boot_src *kernel,
			     const Elf64_Phdr *phs, int phnum)
{
	for (int i = 0; i < phnum; i++) {
		const Elf64_Phdr *ph = &phs[i];
		uint8_t *dst;
		int ret;

		if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
			continue;
		dst = gmem_ptr(m, ph->p_paddr, ph->p_memsz);
		if (!dst) {
			log_err("%s: program header %d: 0x%llx is not guest RAM", kernel->name, i,
				(unsigned long long)ph->p_paddr);
			return -EFAULT;
		}
		ret = boot_src_read(kernel, ph->p_offset, dst, ph->p_filesz);
		if (ret)
			return ret;
		memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
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
	Elf64_Phdr phs[PVH_MAX_PHDRS];
	uint32_t entry = 0;
	Elf64_Ehdr eh;
	int ret;

	if (kernel->len < sizeof(eh)) {
		log_err("%s: not an ELF file (%llu bytes, no ELF header)", name,
			(unsigned long long)kernel->len);
		return -EINVAL;
	}
	ret = boot_src_read(kernel, 0, &eh, sizeof(eh));
	if (ret)
		return ret;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
		log_err("%s: not an ELF file (%llu bytes, no ELF header)", name,
			(unsigned long long)kernel->len);
		return -EINVAL;
	}
	ret = pvh_check_ehdr(&eh, kernel->len, name);
	if (ret)
		return ret;
	/* e_phnum <= PVH_MAX_PHDRS and the table lies in the file: both checked. */
	ret = boot_src_read(kernel, eh.e_phoff, phs, (uint64_t)eh.e_phnum * sizeof(phs[0]));
	if (!ret)
		ret = pvh_check(m, kernel, phs, eh.e_phnum, &entry, &low_top);
	if (!ret)
		ret = boot_check_cmdline(cfg, name, LAYOUT_CMDLINE_MAX - 1, "mvm's limit");
	if (!ret && initrd_len)
		ret = boot_place_initrd(m, cfg, initrd_len, low_top, gmem_low_end(m),
					"the end of low RAM", gmem_low_end(m), &initrd_gpa);
	if (ret)
		return ret;

	/* Checked above; a failure now is an I/O error (logged) or a bug. */
	ret = pvh_load_segments(m, kernel, phs, eh.e_phnum);
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
