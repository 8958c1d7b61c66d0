/* elf64.c - loader for static ELF64 tiny guests (the guest/ SDK), entered in ring 3. */
#include "boot/boot.h"
#include "boot/elf.h"
#include "boot/boot_priv.h"
#include "core/layout.h"
#include "mvm/abi.h"
#include "util/log.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#define ELF64_XEN_PHYS32    18          /* XEN_ELFNOTE_PHYS32_ENTRY */
#define ELF64_PAGE          0x1000ULL
#ifndef PT_GNU_PROPERTY
#define PT_GNU_PROPERTY     0x6474e553
#endif

_Static_assert(sizeof(struct mvm_bootinfo) <= LAYOUT_R3_SYS_START - LAYOUT_R3_BOOTINFO,
	       "boot info larger than its page");

static const struct boot_elf_rules elf64_rules = {
	.class = ELFCLASS64,
	.machine = EM_X86_64,
	.machine_name = "x86-64",
	.class_hint = "tiny guests must be 64-bit ELF; 32-bit kernels boot through multiboot",
	.dyn_hint = "a PIE or shared object: link with -static -no-pie",
};

/* 1: an ELF64 x86-64 ET_EXEC whose headers pass the validator and that has
 * no PVH entry note (a tiny guest); 0: not one; -errno: it is ELF64 x86-64
 * ET_EXEC but broken (logged unless quiet; PVH would refuse it the same way). */
static int elf64_classify(const struct boot_src *src, const uint8_t *head, size_t len,
			  bool quiet)
{
	struct boot_elf_rules rules = elf64_rules;
	struct boot_elf elf;
	uint32_t desc, descsz;
	int ret;

	if (len < sizeof(Elf64_Ehdr) || memcmp(head, ELFMAG, SELFMAG) != 0 ||
	    head[EI_CLASS] != ELFCLASS64 || boot_get16(head + 16) != ET_EXEC ||
	    boot_get16(head + 18) != EM_X86_64)
		return 0;
	rules.quiet = quiet;
	ret = boot_elf_parse(src, &rules, &elf);
	if (ret)
		return ret;
	ret = boot_elf_find_note(src, &elf, "Xen", ELF64_XEN_PHYS32, &desc, sizeof(desc),
				 &descsz, quiet);
	if (ret < 0)
		return ret;
	return !ret;
}

static int elf64_probe(const struct boot_src *kernel, const uint8_t *head, size_t len)
{
	return elf64_classify(kernel, head, len, false);
}

int elf64_is_tiny_guest(const struct boot_src *src)
{
	uint8_t head[sizeof(Elf64_Ehdr)];
	size_t len = src->len < sizeof(head) ? src->len : sizeof(head);

	if (boot_src_read(src, 0, head, len))
		return 0;
	return elf64_classify(src, head, len, true) == 1;
}

/* The tiny guest's own rules on top of the validator's: only loadable and
 * harmless segment types, identity-mapped, in low RAM at or above 1 MiB,
 * not overlapping, the entry in an executable segment. */
static int elf64_check_segments(const struct gmem *m, const struct boot_src *src,
				const struct boot_elf *elf, uint64_t *image_end)
{
	const char *name = src->name;
	uint64_t low_end = gmem_low_end(m), end_max = 0;
	int nr_load = 0;

	for (int i = 0; i < elf->phnum; i++) {
		const struct boot_elf_seg *p = &elf->seg[i];

		switch (p->type) {
		case PT_NULL: case PT_NOTE: case PT_GNU_STACK: case PT_GNU_PROPERTY:
			continue;
		case PT_LOAD:
			break;
		default:
			log_err("%s: program header %d has type 0x%x; a tiny guest has only PT_LOAD "
				"(and PT_NOTE/PT_GNU_STACK): link it static, without an interpreter",
				name, i, p->type);
			return -EINVAL;
		}
		if (p->memsz == 0)
			continue;
		if (p->vaddr != p->paddr) {
			log_err("%s: program header %d: p_vaddr 0x%llx != p_paddr 0x%llx; mvm "
				"identity-maps a tiny guest (link it at its physical address)", name,
				i, (unsigned long long)p->vaddr, (unsigned long long)p->paddr);
			return -EINVAL;
		}
		if (p->paddr < LAYOUT_HIMEM_START || p->paddr > low_end ||
		    low_end - p->paddr < p->memsz || !gmem_ptr(m, p->paddr, p->memsz)) {
			log_err("%s: program header %d [0x%llx, +0x%llx) is outside guest RAM "
				"[0x%llx, 0x%llx) (tiny guests load at or above 1 MiB, below the MMIO "
				"hole); link it lower or give --mem more", name, i,
				(unsigned long long)p->paddr, (unsigned long long)p->memsz,
				(unsigned long long)LAYOUT_HIMEM_START, (unsigned long long)low_end);
			return -EINVAL;
		}
		for (int j = 0; j < i; j++) {
			const struct boot_elf_seg *q = &elf->seg[j];

			if (q->type != PT_LOAD || q->memsz == 0)
				continue;
			/* Both ranges are known not to wrap (inside RAM). */
			if (p->paddr < q->paddr + q->memsz && q->paddr < p->paddr + p->memsz) {
				log_err("%s: program headers %d [0x%llx, +0x%llx) and %d [0x%llx, "
					"+0x%llx) overlap", name, j, (unsigned long long)q->paddr,
					(unsigned long long)q->memsz, i, (unsigned long long)p->paddr,
					(unsigned long long)p->memsz);
				return -EINVAL;
			}
		}
		if (p->paddr + p->memsz > end_max)
			end_max = p->paddr + p->memsz;
		nr_load++;
	}
	if (!nr_load) {
		log_err("%s: no PT_LOAD segment with bytes in memory", name);
		return -EINVAL;
	}
	if (boot_elf_seg_at(elf, elf->entry, false, PF_X) < 0) {
		log_err("%s: entry point e_entry 0x%llx is not inside an executable (PF_X) PT_LOAD "
			"segment", name, (unsigned long long)elf->entry);
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
	struct boot_elf elf;
	uint64_t image_end = 0;
	int ret;

	if (initrd) {
		log_err("%s: a tiny ELF64 guest takes no --initrd", kernel->name);
		return -EINVAL;
	}
	ret = boot_elf_parse(kernel, &elf64_rules, &elf);
	if (!ret)
		ret = elf64_check_segments(m, kernel, &elf, &image_end);
	if (!ret)
		ret = boot_check_cmdline(cfg, kernel->name, LAYOUT_CMDLINE_MAX - 1, "mvm's limit");
	if (ret)
		return ret;
	/* Validated: from here only I/O can fail. */
	for (int i = 0; i < elf.phnum; i++) {
		const struct boot_elf_seg *p = &elf.seg[i];
		uint8_t *dst;

		if (p->type != PT_LOAD || p->memsz == 0)
			continue;
		ret = boot_src_to_guest(m, kernel, p->offset, p->paddr, p->filesz);
		if (ret)
			return ret;
		dst = gmem_ptr(m, p->paddr, p->memsz);
		if (!dst)
			return -EFAULT;
		memset(dst + p->filesz, 0, p->memsz - p->filesz);
	}
	ret = boot_write_cmdline(m, cfg);
	if (!ret)
		ret = elf64_write_bootinfo(m, cfg, image_end);
	if (ret)
		return ret;
	out->mode = BOOT_MODE_ELF64;
	out->entry = elf.entry;
	out->boot_info = LAYOUT_R3_BOOTINFO;
	return 0;
}

const struct boot_loader elf64_loader = {
	.name = "ELF64 tiny guest",
	.format = BOOT_FORMAT_ELF64,
	.mode = BOOT_MODE_ELF64,
	.probe = elf64_probe,
	.load = elf64_load,
};

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
