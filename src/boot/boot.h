/* boot.h - loading a Linux kernel (bzImage or PVH ELF vmlinux) and its initrd.
 *
 * Contract: boot_load() opens the kernel (and initrd) files, detects the
 * format and loads everything into guest RAM through gmem_ptr/gmem_write
 * only. Only headers are read into small host buffers (bzImage: the setup
 * header; ELF: the ELF header, program headers and PT_NOTE contents); the
 * kernel proper and the initrd go from the file straight into guest RAM
 * with pread, so mvm never holds a host copy of either (a big initrd would
 * otherwise cost its size twice). It writes the kernel, the initrd, the
 * command line (at LAYOUT_CMDLINE), the e820 map and either the zero page
 * (at LAYOUT_ZERO_PAGE) or the PVH hvm_start_info (at LAYOUT_PVH_START_INFO,
 * map at LAYOUT_PVH_MEMMAP, module list at LAYOUT_PVH_MODLIST). It writes no
 * page tables, GDT or registers: the caller sets the CPU up from *out.
 *
 *  - bzImage: the "HdrS" setup header at 0x202. Boot protocol >= 2.12 is
 *    required, because mvm enters at the 64-bit entry (load address + 0x200)
 *    and only 2.12+ can say it has one (xloadflags XLF_KERNEL_64); 2.12 also
 *    covers every field used here (cmdline_size 2.06, pref_address and
 *    init_size 2.10). The protected-mode part loads at LAYOUT_HIMEM_START
 *    rounded up to kernel_alignment (or at pref_address when not
 *    relocatable). The kernel is taken to occupy init_size bytes from the
 *    higher of its load address and pref_address (a relocatable Linux
 *    loaded lower decompresses at pref_address); that must fit in low RAM.
 *    The initrd goes as high as initrd_addr_max and low RAM allow, above it.
 *  - ELF64 vmlinux with a XEN_ELFNOTE_PHYS32_ENTRY note: PVH, entered in
 *    32-bit protected mode with paging off and EBX = hvm_start_info. PT_LOAD
 *    segments load at p_paddr (>= 1 MiB, inside one RAM region); the initrd
 *    is module 0, placed at the top of low RAM above every segment.
 *
 * All validation happens before the first byte is written to guest RAM;
 * only an I/O error (or a file that shrinks) can fail after that.
 * Errors: -EINVAL for a bad or unusable file, after a log_err naming the
 * file and the exact field or problem; -errno for I/O failures (logged too),
 * -EIO for a file that changed size while being read.
 */
#ifndef MVM_BOOT_BOOT_H
#define MVM_BOOT_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "core/memory.h"

struct boot_cfg {
	const char *kernel_path;
	const char *initrd_path;   /* NULL: none */
	const char *cmdline;       /* never NULL */
	uint64_t rsdp_gpa;         /* ACPI RSDP, already written by acpi_build; 0: none */
};

enum boot_mode {
	BOOT_MODE_LINUX64,  /* 64-bit boot protocol: long mode, RSI = zero page */
	BOOT_MODE_PVH32,    /* PVH: 32-bit protected mode, paging off, EBX = hvm_start_info */
};

struct boot_entry {
	enum boot_mode mode;
	uint64_t entry;      /* RIP */
	uint64_t boot_info;  /* zero page (LINUX64) or hvm_start_info (PVH32) gpa */
};

int boot_load(const struct gmem *m, const struct boot_cfg *cfg, struct boot_entry *out);

/* An image to load: an open regular file (fd >= 0, len from fstat) or a
 * buffer (fd < 0; what tests use). The loaders see only this, so the same
 * code runs on both. what ("kernel", "initrd") and name (the path) label
 * messages. */
struct boot_src {
	const char *what;
	const char *name;
	int fd;
	const uint8_t *buf;
	uint64_t len;
};

/* source.c. */

/* A buffer source; never fails, needs no close. */
void boot_src_buf(struct boot_src *src, const char *what, const char *name,
		  const uint8_t *buf, uint64_t len);
/* Open path read-only: must be a non-empty regular file of at most cap
 * bytes (guest RAM). 0 or -errno/-EINVAL, logged as "<what> <path>: ...". */
int boot_src_open(struct boot_src *src, const char *what, const char *path, uint64_t cap);
void boot_src_close(struct boot_src *src);
/* Exactly len bytes at off into dst. [off, off+len) must lie within
 * src->len (-EIO, logged, if not). A short read means the file shrank: -EIO;
 * a read error: -errno. Both logged naming the file. */
int boot_src_read(const struct boot_src *src, uint64_t off, void *dst, uint64_t len);
/* boot_src_read straight into guest RAM at gpa, through gmem_ptr; -EFAULT
 * (logged) when [gpa, gpa+len) is not all RAM. */
int boot_src_to_guest(const struct gmem *m, const struct boot_src *src, uint64_t off,
		      uint64_t gpa, uint64_t len);
/* -EIO (logged) when an open file's size is no longer src->len; 0 for buffers. */
int boot_src_check_size(const struct boot_src *src);

/* The loaders (what boot_load calls; tests call them on buffer sources).
 * kernel->name labels the kernel in messages; the initrd is labelled by
 * cfg->initrd_path (or "initrd"). initrd is NULL for none (never empty).
 * cfg->kernel_path and cfg->initrd_path are used only for messages. */
int bzimage_load(const struct gmem *m, const struct boot_src *kernel,
		 const struct boot_src *initrd, const struct boot_cfg *cfg,
		 struct boot_entry *out);
int pvh_load(const struct gmem *m, const struct boot_src *kernel,
	     const struct boot_src *initrd, const struct boot_cfg *cfg,
	     struct boot_entry *out);

/* Helpers shared by the loaders (boot.c). */

/* Highest 4 KiB-aligned gpa for len bytes ending at or below top and starting
 * at or above floor; -EINVAL (logged, naming the initrd, its size, limit and
 * RAM) when it does not fit. limit_name/limit say what capped top (e.g.
 * "initrd_addr_max", 0x7fffffff) for the message. */
int boot_place_initrd(const struct gmem *m, const struct boot_cfg *cfg, size_t len,
		      uint64_t floor, uint64_t top, const char *limit_name, uint64_t limit,
		      uint64_t *gpa);

/* Check the command line against max_len (bytes without the NUL; the
 * caller's limit, e.g. cmdline_size), naming limit_name in the error.
 * Also checks mvm's own LAYOUT_CMDLINE_MAX. 0 or -EINVAL (logged). */
int boot_check_cmdline(const struct boot_cfg *cfg, const char *name, uint64_t max_len,
		       const char *limit_name);

/* Write the command line with its NUL at LAYOUT_CMDLINE. 0 or -EFAULT. */
int boot_write_cmdline(const struct gmem *m, const struct boot_cfg *cfg);

#endif
