/* elf64.c - loader for static ELF64 tiny guests (the guest/ SDK), entered in ring 3. */
#include "boot/boot.h"
#include "core/layout.h"
#include "mvm/abi.h"
#include "util/log.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ELF64_MAX_PHDRS     64
#define ELF64_MAX_NOTE      (64 * 1024) /* PT_NOTE bytes read to look for the PVH note */
#define ELF64_XEN_PHYS32    18          /* XEN_ELFNOTE_PHYS32_ENTRY */
#define ELF64_PAGE          0x1000ULL
#ifndef PT_GNU_PROPERTY
#define PT_GNU_PROPERTY     0x6474e553
#endif

_Static_assert(sizeof(struct mvm_bootinfo) <= LAYOUT_R3_SYS_START - LAYOUT_R3_BOOTINFO,
	       "boot info larger than its page");

/* The header checks, each naming the field. */
static int elf64_check_ehdr(const Elf64_Ehdr *eh, uint64_t len, const char *name)
{
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
		log_err("%s: no ELF magic", name);
		return -EINVAL;
	}
	if (eh->e_ident[EI_CLASS] != ELFCLASS64) {
		log_err("%s: a %s ELF (EI_CLASS %u): tiny guests must be 64-bit ELF (ELFCLASS64); "
			"32-bit kernels boot through multiboot", name,
			eh->e_ident[EI_CLASS] == ELFCLASS32 ? "32-bit" : "non-64-bit",
			eh->e_ident[EI_CLASS]);
		return -EINVAL;
	}
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB) {
		log_err("%s: ELF data encoding %u is not little-endian", name, eh->e_ident[EI_DATA]);
		return -EINVAL;
	}
	if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT) {
		log_err("%s: ELF version %u/%u, expected 1", name, eh->e_ident[EI_VERSION],
			eh->e_version);
		return -EINVAL;
	}
	if (eh->e_machine != EM_X86_64) {
		log_err("%s: e_machine %u is not x86-64 (%u)", name, eh->e_machine, EM_X86_64);
		return -EINVAL;
	}
	if (eh->e_type != ET_EXEC) {
		log_err("%s: e_type %u is not ET_EXEC%s", name, eh->e_type,
			eh->e_type == ET_DYN ? " (a PIE or shared object: link with -static -no-pie)" : "");
		return -EINVAL;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr)) {
		log_err("%s: e_phentsize %u, expected %zu", name, eh->e_phentsize, sizeof(Elf64_Phdr));
		return -EINVAL;
	}
	if (eh->e_phnum == 0 || eh->e_phnum > ELF64_MAX_PHDRS) {
		log_err("%s: e_phnum %u, expected 1 to %d", name, eh->e_phnum, ELF64_MAX_PHDRS);
		return -EINVAL;
	}
	/* phnum <= 64, so the product cannot overflow; the sum can. */
	if (eh->e_phoff > len || len - eh->e_phoff < (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)) {
		log_err("%s: program headers (e_phoff 0x%llx, %u entries) run past the end of the "
			"file (%llu bytes)", name, (unsigned long long)eh->e_phoff, eh->e_phnum,
			(unsigned long long)len);
		return -EINVAL;
	}
	return 0;
}

/* Header and program headers into *eh and a malloc'd *ph. */
static int elf64_read_headers(const struct boot_src *src, Elf64_Ehdr *eh, Elf64_Phdr **ph,
			      int quiet)
{
	int ret;

	*ph = NULL;
	if (src->len < sizeof(*eh)) {
		if (!quiet)
			log_err("%s: truncated ELF header (%llu bytes, need %zu)", src->name,
				(unsigned long long)src->len, sizeof(*eh));
		return -EINVAL;
	}
	ret = boot_src_read(src, 0, eh, sizeof(*eh));
	if (ret)
		return ret;
	if (quiet) {
		if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
		    eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
		    eh->e_phnum > ELF64_MAX_PHDRS || eh->e_phoff > src->len ||
		    src->len - eh->e_phoff < (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr))
			return -EINVAL;
	} else if ((ret = elf64_check_ehdr(eh, src->len, src->name))) {
		return ret;
	}
	*ph = calloc(eh->e_phnum, sizeof(**ph));
	if (!*ph)
		return -ENOMEM;
	ret = boot_src_read(src, eh->e_phoff, *ph, (uint64_t)eh->e_phnum * sizeof(**ph));
	if (ret) {
		free(*ph);
		*ph = NULL;
	}
	return ret;
}

static int elf64_note_is_pvh(const uint8_t *p, uint64_t len)
{
	uint64_t off = 0;

	while (len - off >= 12) {
		uint32_t namesz, descsz, type;

		memcpy(&namesz, p + off, 4);
		memcpy(&descsz, p + off + 4, 4);
		memcpy(&type, p + off + 8, 4);
		uint64_t name_pad = ((uint64_t)namesz + 3) & ~3ULL;
		uint64_t desc_pad = ((uint64_t)descsz + 3) & ~3ULL;

		if (name_pad + desc_pad > len - off - 12)
			return 0;
		if (type == ELF64_XEN_PHYS32 && namesz == 4 && memcmp(p + off + 12, "Xen", 4) == 0)
			return 1;
		off += 12 + name_pad + desc_pad;
	}
	return 0;
}

int elf64_is_tiny_guest(const struct boot_src *src)
{
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	int tiny;

	if (elf64_read_headers(src, &eh, &ph, 1))
		return 0;
	tiny = eh.e_type == ET_EXEC && eh.e_machine == EM_X86_64;
	for (int i = 0; tiny && i < eh.e_phnum; i++) {
		uint8_t *buf;

		if (ph[i].p_type != PT_NOTE || ph[i].p_filesz == 0 ||
		    ph[i].p_filesz > ELF64_MAX_NOTE || ph[i].p_offset > src->len ||
		    src->len - ph[i].p_offset < ph[i].p_filesz)
			continue;
		buf = malloc(ph[i].p_filesz);
		if (!buf)
			break;
		if (boot_src_read(src, ph[i].p_offset, buf, ph[i].p_filesz) == 0 &&
		    elf64_note_is_pvh(buf, ph[i].p_filesz))
			tiny = 0;
		free(buf);
	}
	free(ph);
	return tiny;
}

/* Every PT_LOAD checked against RAM, the file and the others, before any load. */
static int elf64_check_segments(const struct gmem *m, const struct boot_src *src,
				const Elf64_Ehdr *eh, const Elf64_Phdr *ph, uint64_t *image_end)
{
	const char *name = src->name;
	uint64_t low_end = gmem_low_end(m), end_max = 0;
	int entry_ok = 0, nr_load = 0;

	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		switch (p->p_type) {
		case PT_NULL: case PT_NOTE: case PT_GNU_STACK: case PT_GNU_PROPERTY:
			continue;
		case PT_LOAD:
			break;
		default:
			log_err("%s: program header %d has type 0x%x; a tiny guest has only PT_LOAD "
				"(and PT_NOTE/PT_GNU_STACK): link it static, without an interpreter",
				name, i, p->p_type);
			return -EINVAL;
		}
		if (p->p_memsz == 0)
			continue;
		if (p->p_filesz > p->p_memsz) {
			log_err("%s: segment %d: p_filesz 0x%llx > p_memsz 0x%llx", name, i,
				(unsigned long long)p->p_filesz, (unsigned long long)p->p_memsz);
			return -EINVAL;
		}
		if (p->p_offset > src->len || src->len - p->p_offset < p->p_filesz) {
			log_err("%s: segment %d: file bytes [0x%llx, +0x%llx) run past the end of "
				"the file (%llu bytes)", name, i, (unsigned long long)p->p_offset,
				(unsigned long long)p->p_filesz, (unsigned long long)src->len);
			return -EINVAL;
		}
		if (p->p_vaddr != p->p_paddr) {
			log_err("%s: segment %d: p_vaddr 0x%llx != p_paddr 0x%llx; mvm identity-maps "
				"a tiny guest (link it at its physical address)", name, i,
				(unsigned long long)p->p_vaddr, (unsigned long long)p->p_paddr);
			return -EINVAL;
		}
		if (p->p_paddr < LAYOUT_HIMEM_START || p->p_paddr > low_end ||
		    low_end - p->p_paddr < p->p_memsz || !gmem_ptr(m, p->p_paddr, p->p_memsz)) {
			log_err("%s: segment %d [0x%llx, +0x%llx) is outside guest RAM [0x%llx, 0x%llx) "
				"(tiny guests load at or above 1 MiB, below the MMIO hole); link it "
				"lower or give --mem more", name, i, (unsigned long long)p->p_paddr,
				(unsigned long long)p->p_memsz, (unsigned long long)LAYOUT_HIMEM_START,
				(unsigned long long)low_end);
			return -EINVAL;
		}
		for (int j = 0; j < i; j++) {
			const Elf64_Phdr *q = &ph[j];

			if (q->p_type != PT_LOAD || q->p_memsz == 0)
				continue;
			/* Both ranges are known not to wrap (inside RAM). */
			if (p->p_paddr < q->p_paddr + q->p_memsz && q->p_paddr < p->p_paddr + p->p_memsz) {
				log_err("%s: segments %d [0x%llx, +0x%llx) and %d [0x%llx, +0x%llx) overlap",
					name, j, (unsigned long long)q->p_paddr,
					(unsigned long long)q->p_memsz, i, (unsigned long long)p->p_paddr,
					(unsigned long long)p->p_memsz);
				return -EINVAL;
			}
		}
		if ((p->p_flags & PF_X) && eh->e_entry >= p->p_paddr &&
		    eh->e_entry - p->p_paddr < p->p_memsz)
			entry_ok = 1;
		if (p->p_paddr + p->p_memsz > end_max)
			end_max = p->p_paddr + p->p_memsz;
		nr_load++;
	}
	if (!nr_load) {
		log_err("%s: no PT_LOAD segment with bytes in memory", name);
		return -EINVAL;
	}
	if (!entry_ok) {
		log_err("%s: entry point e_entry 0x%llx is not inside an executable (PF_X) PT_LOAD "
			"segment", name, (unsigned long long)eh->e_entry);
		return -EINVAL;
	}
	*image_end = (end_max + ELF64_PAGE - 1) & ~(ELF64_PAGE - 1);
	return 0;
}

static int elf64_write_bootinfo(const struct gmem *m, const struct boot_cfg *cfg,
				uint64_t image_end)
{
	struct mvm_bootinfo *bi = gmem_ptr(m, LAYOUT_R3_BOOTINFO, sizeof(*bi));

	if (!bi)
		return -EFAULT;
	memset(bi, 0, sizeof(*bi));
	bi->magic = MVM_BOOTINFO_MAGIC;
	bi->version = MVM_ABI_VERSION;
	bi->mem_size = m->ram_size;
	bi->low_mem_end = gmem_low_end(m);
	bi->cmdline = LAYOUT_CMDLINE;
	bi->cmdline_len = strlen(cfg->cmdline);
	bi->image_end = image_end;
	bi->free_end = gmem_low_end(m);
	bi->stack_top = LAYOUT_R3_STACK_TOP;
	bi->hc_port_base = MVM_HC_PORT_BASE;
	return 0;
}

int elf64_load(const struct gmem *m, const struct boot_src *kernel,
	       const struct boot_src *initrd, const struct boot_cfg *cfg,
	       struct boot_entry *out)
{
	Elf64_Ehdr eh;
	Elf64_Phdr *ph = NULL;
	uint64_t image_end = 0;
	int ret;

	if (initrd) {
		log_err("%s: a tiny ELF64 guest takes no --initrd", kernel->name);
		return -EINVAL;
	}
	ret = elf64_read_headers(kernel, &eh, &ph, 0);
	if (ret)
		goto out;
	ret = elf64_check_segments(m, kernel, &eh, ph, &image_end);
	if (ret)
		goto out;
	ret = boot_check_cmdline(cfg, kernel->name, LAYOUT_CMDLINE_MAX - 1, "mvm's limit");
	if (ret)
		goto out;
	/* Validated: from here only I/O can fail. */
	for (int i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		uint8_t *dst;

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		ret = boot_src_to_guest(m, kernel, p->p_offset, p->p_paddr, p->p_filesz);
		if (ret)
			goto out;
		dst = gmem_ptr(m, p->p_paddr, p->p_memsz);
		if (!dst) {
			ret = -EFAULT;
			goto out;
		}
		memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
	}
	ret = boot_write_cmdline(m, cfg);
	if (ret)
		goto out;
	ret = elf64_write_bootinfo(m, cfg, image_end);
	if (ret)
		goto out;
	out->mode = BOOT_MODE_ELF64;
	out->entry = eh.e_entry;
	out->boot_info = LAYOUT_R3_BOOTINFO;
out:
	free(ph);
	return ret;
}

int elf64_add_device(const struct gmem *m, uint64_t boot_info, uint64_t base,
		     uint64_t size, uint32_t gsi, uint32_t device_id)
{
	struct mvm_bootinfo *bi = gmem_ptr(m, boot_info, sizeof(*bi));

	if (!bi)
		return -EFAULT;
	if (bi->nr_devices >= MVM_BOOTINFO_MAX_DEVS)
		return -ENOSPC;
	bi->devices[bi->nr_devices++] = (struct mvm_bootinfo_dev){
		.base = base, .size = size, .gsi = gsi, .device_id = device_id,
	};
	return 0;
}

/* guest/embed.S defines these in mvm; weak so unit tests link without it. */
extern const uint8_t mvm_hello_elf_start[] __attribute__((weak));
extern const uint8_t mvm_hello_elf_end[] __attribute__((weak));

const uint8_t *elf64_builtin_demo(uint64_t *len)
{
	if (!mvm_hello_elf_start || !mvm_hello_elf_end) {
		*len = 0;
		return NULL;
	}
	*len = (uint64_t)(mvm_hello_elf_end - mvm_hello_elf_start);
	return mvm_hello_elf_start;
}
