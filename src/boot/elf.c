/* elf.c - ELF32/ELF64 header and program header validation, and the PT_NOTE walk. */
#include "boot/elf.h"
#include "util/err.h"
#include "util/log.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Every failure goes through here, so quiet probing costs one flag. */
#define ELF_FAIL(r, ...)                    \
	do {                                \
		if (!(r)->quiet)            \
			log_err(__VA_ARGS__); \
		return -EINVAL;             \
	} while (0)

/* The fields both classes share, read from either header layout. */
struct elf_hdr {
	uint16_t type, machine, ehsize, phentsize, phnum;
	uint32_t version;
	uint64_t entry, phoff;
};

static const char *elf_class_name(uint8_t class)
{
	return class == ELFCLASS32 ? "a 32-bit ELF" : class == ELFCLASS64 ? "a 64-bit ELF"
									 : "no valid class";
}

/* e_ident: magic, class, data encoding, version. */
static int elf_check_ident(const struct boot_src *src, const uint8_t *id, uint64_t have,
			   const struct boot_elf_rules *r)
{
	const char *name = src->name;
	size_t need = r->class == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);

	if (have >= SELFMAG && memcmp(id, ELFMAG, SELFMAG) != 0)
		ELF_FAIL(r, "%s: no ELF magic (e_ident[EI_MAG0..EI_MAG3] is not \\x7fELF)", name);
	if (have < EI_NIDENT)
		ELF_FAIL(r, "%s: truncated ELF header (%llu bytes, need %zu)", name,
			 (unsigned long long)src->len, need);
	if (id[EI_CLASS] != r->class)
		ELF_FAIL(r, "%s: ELF EI_CLASS %u (%s) is not %s%s%s", name, id[EI_CLASS],
			 elf_class_name(id[EI_CLASS]),
			 r->class == ELFCLASS64 ? "ELFCLASS64" : "ELFCLASS32",
			 r->class_hint ? "; " : "", r->class_hint ? r->class_hint : "");
	if (id[EI_DATA] != ELFDATA2LSB)
		ELF_FAIL(r, "%s: ELF EI_DATA %u is not little-endian (ELFDATA2LSB)", name,
			 id[EI_DATA]);
	if (id[EI_VERSION] != EV_CURRENT)
		ELF_FAIL(r, "%s: ELF EI_VERSION %u, expected %u (EV_CURRENT)", name,
			 id[EI_VERSION], EV_CURRENT);
	if (src->len < need)
		ELF_FAIL(r, "%s: truncated ELF header (%llu bytes, need %zu)", name,
			 (unsigned long long)src->len, need);
	return 0;
}

static int elf_check_hdr(const struct boot_src *src, const struct elf_hdr *h,
			 const struct boot_elf_rules *r)
{
	const char *name = src->name;
	size_t ehsize = r->class == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsize = r->class == ELFCLASS64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	uint64_t table;

	if (h->type != ET_EXEC)
		ELF_FAIL(r, "%s: ELF e_type %u is not ET_EXEC (%u)%s%s", name, h->type, ET_EXEC,
			 h->type == ET_DYN && r->dyn_hint ? "; " : "",
			 h->type == ET_DYN && r->dyn_hint ? r->dyn_hint : "");
	if (h->machine != r->machine)
		ELF_FAIL(r, "%s: ELF e_machine %u is not %s (%u)", name, h->machine,
			 r->machine_name, r->machine);
	if (h->version != EV_CURRENT)
		ELF_FAIL(r, "%s: ELF e_version %u, expected %u (EV_CURRENT)", name, h->version,
			 EV_CURRENT);
	if (h->ehsize != ehsize)
		ELF_FAIL(r, "%s: ELF e_ehsize %u, expected %zu", name, h->ehsize, ehsize);
	if (h->phentsize != phsize)
		ELF_FAIL(r, "%s: ELF e_phentsize %u, expected %zu", name, h->phentsize, phsize);
	if (h->phnum == 0 || h->phnum > BOOT_ELF_MAX_PHDRS)
		ELF_FAIL(r, "%s: ELF e_phnum %u is not within 1..%d", name, h->phnum,
			 BOOT_ELF_MAX_PHDRS);
	/* phnum <= 64 keeps the product small; the sum is what can wrap. */
	table = (uint64_t)h->phnum * phsize;
	if (h->phoff > src->len || table > src->len - h->phoff)
		ELF_FAIL(r, "%s: ELF program headers at e_phoff 0x%llx (%u x %zu bytes) run past "
			 "the end of the file (%llu bytes)", name, (unsigned long long)h->phoff,
			 h->phnum, phsize, (unsigned long long)src->len);
	return 0;
}

static int elf_check_seg(const struct boot_src *src, const struct boot_elf_seg *s, int i,
			 const struct boot_elf_rules *r)
{
	const char *name = src->name;

	if (s->offset > src->len || s->filesz > src->len - s->offset)
		ELF_FAIL(r, "%s: program header %d: p_offset 0x%llx + p_filesz 0x%llx is past the "
			 "end of the file (%llu bytes)", name, i, (unsigned long long)s->offset,
			 (unsigned long long)s->filesz, (unsigned long long)src->len);
	if (s->type != PT_LOAD)
		return 0;
	if (s->filesz > s->memsz)
		ELF_FAIL(r, "%s: program header %d: p_filesz 0x%llx > p_memsz 0x%llx", name, i,
			 (unsigned long long)s->filesz, (unsigned long long)s->memsz);
	if (s->memsz > UINT64_MAX - s->paddr)
		ELF_FAIL(r, "%s: program header %d: p_paddr 0x%llx + p_memsz 0x%llx overflows",
			 name, i, (unsigned long long)s->paddr, (unsigned long long)s->memsz);
	if (s->memsz > UINT64_MAX - s->vaddr)
		ELF_FAIL(r, "%s: program header %d: p_vaddr 0x%llx + p_memsz 0x%llx overflows",
			 name, i, (unsigned long long)s->vaddr, (unsigned long long)s->memsz);
	if (s->align & (s->align - 1))
		ELF_FAIL(r, "%s: program header %d: p_align 0x%llx is not a power of two", name,
			 i, (unsigned long long)s->align);
	return 0;
}

/* Widen the raw table (class already checked) into elf->seg. */
static void elf_widen(const uint8_t *raw, struct boot_elf *elf)
{
	for (int i = 0; i < elf->phnum; i++) {
		struct boot_elf_seg *s = &elf->seg[i];

		if (elf->class == ELFCLASS64) {
			Elf64_Phdr p;

			memcpy(&p, raw + i * sizeof(p), sizeof(p));
			*s = (struct boot_elf_seg){ p.p_type, p.p_flags, p.p_offset, p.p_vaddr,
						    p.p_paddr, p.p_filesz, p.p_memsz, p.p_align };
		} else {
			Elf32_Phdr p;

			memcpy(&p, raw + i * sizeof(p), sizeof(p));
			*s = (struct boot_elf_seg){ p.p_type, p.p_flags, p.p_offset, p.p_vaddr,
						    p.p_paddr, p.p_filesz, p.p_memsz, p.p_align };
		}
	}
}

int boot_elf_parse(const struct boot_src *src, const struct boot_elf_rules *r,
		   struct boot_elf *elf)
{
	union { Elf32_Ehdr e32; Elf64_Ehdr e64; uint8_t b[sizeof(Elf64_Ehdr)]; } eh = { 0 };
	uint8_t raw[BOOT_ELF_MAX_PHDRS * sizeof(Elf64_Phdr)];
	uint64_t have = src->len < sizeof(eh) ? src->len : sizeof(eh);
	struct elf_hdr h;
	int ret;

	memset(elf, 0, sizeof(*elf));
	ret = boot_src_read(src, 0, eh.b, have);
	if (ret)
		return ret;
	ret = elf_check_ident(src, eh.b, have, r);
	if (ret)
		return ret;
	if (r->class == ELFCLASS64)
		h = (struct elf_hdr){ eh.e64.e_type, eh.e64.e_machine, eh.e64.e_ehsize,
				      eh.e64.e_phentsize, eh.e64.e_phnum, eh.e64.e_version,
				      eh.e64.e_entry, eh.e64.e_phoff };
	else
		h = (struct elf_hdr){ eh.e32.e_type, eh.e32.e_machine, eh.e32.e_ehsize,
				      eh.e32.e_phentsize, eh.e32.e_phnum, eh.e32.e_version,
				      eh.e32.e_entry, eh.e32.e_phoff };
	ret = elf_check_hdr(src, &h, r);
	if (ret)
		return ret;
	ret = boot_src_read(src, h.phoff, raw, (uint64_t)h.phnum * h.phentsize);
	if (ret)
		return ret;
	*elf = (struct boot_elf){ .class = r->class, .type = h.type, .machine = h.machine,
				  .entry = h.entry, .phnum = h.phnum };
	elf_widen(raw, elf);
	for (int i = 0; i < elf->phnum; i++) {
		ret = elf_check_seg(src, &elf->seg[i], i, r);
		if (ret)
			return ret;
	}
	return 0;
}

static uint32_t elf_get32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Walk the notes in seg (the file bytes of program header i). Results as
 * boot_elf_find_note. */
static int elf_walk_notes(const struct boot_src *src, const uint8_t *seg,
			  const struct boot_elf_seg *s, int i, const char *owner, uint32_t type,
			  void *desc, uint32_t desc_max, uint32_t *descsz, bool quiet)
{
	uint64_t owner_sz = strlen(owner) + 1, left = s->filesz;
	const uint8_t *p = seg;

	while (left >= 12) {
		uint64_t namesz = elf_get32(p), dsz = elf_get32(p + 4);
		uint64_t name_pad = (namesz + 3) & ~3ULL, desc_pad = (dsz + 3) & ~3ULL;

		if (name_pad + desc_pad > left - 12) {
			if (!quiet)
				log_err("%s: program header %d: note at file offset 0x%llx (namesz "
					"%llu, descsz %llu) runs past its segment", src->name, i,
					(unsigned long long)(s->offset + (p - seg)),
					(unsigned long long)namesz, (unsigned long long)dsz);
			return -EINVAL;
		}
		if (elf_get32(p + 8) == type && namesz == owner_sz &&
		    memcmp(p + 12, owner, owner_sz) == 0) {
			memcpy(desc, p + 12 + name_pad, dsz < desc_max ? dsz : desc_max);
			*descsz = (uint32_t)dsz;
			return 1;
		}
		p += 12 + name_pad + desc_pad;
		left -= 12 + name_pad + desc_pad;
	}
	return 0;
}

int boot_elf_find_note(const struct boot_src *src, const struct boot_elf *elf,
		       const char *owner, uint32_t type, void *desc, uint32_t desc_max,
		       uint32_t *descsz, bool quiet)
{
	for (int i = 0; i < elf->phnum; i++) {
		const struct boot_elf_seg *s = &elf->seg[i];
		uint8_t *seg;
		int ret;

		if (s->type != PT_NOTE || s->filesz < 12)
			continue;
		/* Notes are read into host memory: a hostile size must not cost
		 * more than a vmlinux's notes ever need (well under 1 KiB). */
		if (s->filesz > BOOT_ELF_MAX_NOTE) {
			if (!quiet)
				log_err("%s: program header %d: PT_NOTE p_filesz 0x%llx is larger "
					"than mvm reads (%u bytes)", src->name, i,
					(unsigned long long)s->filesz, BOOT_ELF_MAX_NOTE);
			return -EINVAL;
		}
		seg = malloc(s->filesz);
		if (!seg) {
			log_err("%s: cannot allocate %llu bytes for the notes of program header %d",
				src->name, (unsigned long long)s->filesz, i);
			return err_host(-ENOMEM);
		}
		ret = boot_src_read(src, s->offset, seg, s->filesz);
		if (!ret)
			ret = elf_walk_notes(src, seg, s, i, owner, type, desc, desc_max, descsz,
					     quiet);
		free(seg);
		if (ret)
			return ret;
	}
	return 0;
}

int boot_elf_seg_at(const struct boot_elf *elf, uint64_t addr, bool file_only,
		    uint32_t need_flags)
{
	for (int i = 0; i < elf->phnum; i++) {
		const struct boot_elf_seg *s = &elf->seg[i];
		uint64_t size = file_only ? s->filesz : s->memsz;

		if (s->type == PT_LOAD && (s->flags & need_flags) == need_flags &&
		    addr >= s->paddr && addr - s->paddr < size)
			return i;
	}
	return -1;
}
