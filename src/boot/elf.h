/* elf.h - the one validator of ELF32/ELF64 headers and program headers, shared by every ELF loader.
 *
 * Contract: boot_elf_parse() reads the ELF header and the program header
 * table of a boot_src and checks every field a loader relies on, in this
 * order, stopping at the first failure with -EINVAL and one log_err that
 * names the file and the field (e.g. "vmlinux: ELF e_phentsize 32, expected
 * 56"):
 *   the file holds e_ident, e_ident[EI_MAG0..3] is "\x7fELF", EI_CLASS is the
 *   class asked for, EI_DATA is ELFDATA2LSB, EI_VERSION is EV_CURRENT, the
 *   file holds the whole header, e_type is ET_EXEC, e_machine is the machine
 *   asked for, e_version is EV_CURRENT, e_ehsize is the header's size,
 *   e_phentsize is the program header's size, e_phnum is 1..BOOT_ELF_MAX_PHDRS,
 *   the table [e_phoff, +e_phnum*e_phentsize) lies in the file (sums checked
 *   for overflow); then for every program header i, whatever its type,
 *   [p_offset, +p_filesz) lies in the file; and for every PT_LOAD, p_filesz
 *   <= p_memsz, p_paddr + p_memsz and p_vaddr + p_memsz do not pass 2^64, and
 *   p_align is 0 or a power of two.
 * Not checked because no loader reads them: EI_OSABI/EI_ABIVERSION (the
 * kernel and the tiny guests use 0, but nothing depends on it), e_flags (x86
 * defines none), the section header fields. e_entry and the placement of
 * segments in guest RAM are the loaders' business (each has its own rules),
 * and so is which segment types they accept.
 * On success *elf holds the header fields and every program header widened to
 * 64 bits, so ELF32 and ELF64 loaders walk the same structure. With
 * rules->quiet nothing is logged (for probing: "is this mine?").
 * Errors: -EINVAL (logged) for a bad file, -errno from boot_src_read (logged
 * there) for I/O.
 */
#ifndef MVM_BOOT_ELF_H
#define MVM_BOOT_ELF_H

#include <stdbool.h>
#include <stdint.h>

#include "boot/boot.h"

/* Real kernels have under 10 program headers; the cap bounds the table mvm
 * reads (it lives on the stack) whatever e_phnum says. */
#define BOOT_ELF_MAX_PHDRS 64

struct boot_elf_seg {
	uint32_t type;
	uint32_t flags;
	uint64_t offset;
	uint64_t vaddr;
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz;
	uint64_t align;
};

struct boot_elf {
	uint8_t class;      /* ELFCLASS32 or ELFCLASS64 */
	uint16_t type;
	uint16_t machine;
	uint64_t entry;
	int phnum;
	struct boot_elf_seg seg[BOOT_ELF_MAX_PHDRS];
};

/* What a loader accepts, and the advice its messages give. */
struct boot_elf_rules {
	uint8_t class;            /* ELFCLASS32 or ELFCLASS64 */
	uint16_t machine;         /* EM_386 or EM_X86_64 */
	const char *machine_name; /* "i386", "x86-64" */
	const char *class_hint;   /* appended to a wrong-class error, or NULL */
	const char *dyn_hint;     /* appended when e_type is ET_DYN, or NULL */
	bool quiet;               /* log nothing: probing */
};

int boot_elf_parse(const struct boot_src *src, const struct boot_elf_rules *rules,
		   struct boot_elf *elf);

/* Look through the PT_NOTE segments (each at most BOOT_ELF_MAX_NOTE bytes,
 * read into a host buffer) for the first note of this owner ("Xen") and
 * type. 1 when found: its descriptor size in *descsz and its first
 * min(descsz, desc_max) bytes in desc; 0 when absent; -EINVAL (logged unless
 * quiet) for a note that runs past its segment or a PT_NOTE too big to
 * read; -errno for I/O or allocation. Segments shorter than a note header
 * hold nothing. elf must come from boot_elf_parse (ranges checked). */
#define BOOT_ELF_MAX_NOTE (64 * 1024)
int boot_elf_find_note(const struct boot_src *src, const struct boot_elf *elf,
		       const char *owner, uint32_t type, void *desc, uint32_t desc_max,
		       uint32_t *descsz, bool quiet);

/* Index of a PT_LOAD segment holding addr (a physical address) within its
 * first p_filesz bytes (file_only) or p_memsz bytes, and having every flag
 * in need_flags (e.g. PF_X; 0 for any); -1 when none does. */
int boot_elf_seg_at(const struct boot_elf *elf, uint64_t addr, bool file_only,
		    uint32_t need_flags);

#endif
