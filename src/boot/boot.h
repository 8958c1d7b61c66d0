/* boot.h - loading a kernel (bzImage, PVH ELF vmlinux or Multiboot v1) and its initrd.
 *
 * Contract: boot_probe() opens the kernel (and initrd) files once and
 * detects the format from headers alone; boot_image_load() then loads
 * everything into guest RAM from those same open files, through
 * gmem_ptr/gmem_write only (boot_load() does both). Only headers are read
 * into small host buffers (bzImage: the setup header; ELF: the ELF header,
 * program headers and PT_NOTE contents); the
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
 *  - Multiboot v1: a header (magic 0x1BADB002, 4-byte aligned, in the first
 *    8192 bytes, magic + flags + checksum == 0). Flag bit 16 (a.out kludge):
 *    header_addr/load_addr/load_end_addr/bss_end_addr/entry_addr place the
 *    file; otherwise it must be an ELF32 i386 ET_EXEC (PT_LOAD at p_paddr,
 *    entry e_entry). Everything loads at or above 1 MiB. Flag bits 0/1 are
 *    honoured (modules are page aligned, memory info is always given); any
 *    other bit in 2..15 (e.g. 2, video mode) is refused. The multiboot_info
 *    (MEM, CMDLINE, MODS, MMAP, BOOT_LOADER_NAME "mvm") lives at
 *    LAYOUT_MB_INFO, the command line at LAYOUT_CMDLINE, the initrd is
 *    module 0 (its string the initrd path). Entry: 32-bit protected mode,
 *    paging off, EAX = 0x2BADB002, EBX = info.
 *
 * Formats: boot_probe() gives the kernel to the first loader of a table
 * (boot_priv.h) that claims it: "HdrS" at 0x202 -> bzImage; an ELF64 x86-64
 * ET_EXEC without a PVH note -> tiny guest (elf64_load); a multiboot header
 * in a file that is not ELF64 -> multiboot (ELF32 and flat a.out-kludge
 * images); any other ELF -> PVH (so an ELF64 with both a PVH note and a
 * multiboot header boots PVH, the better protocol for a 64-bit kernel; if a
 * 64-bit multiboot ELF cannot load, the error says mvm does not take those);
 * anything else is refused. No kernel path: the built-in hello demo.
 * Every ELF header goes through one validator (elf.h).
 *
 * Files: kernel and initrd are opened O_NONBLOCK (a FIFO or device must not
 * block mvm in open), fstat'ed, and refused at once unless they are
 * non-empty regular files, naming the flag and the path.
 *
 * All validation happens before the first byte is written to guest RAM;
 * only an I/O error (or a file that shrinks) can fail after that.
 * Errors: -EINVAL for a bad or unusable file, after a log_err naming the
 * file and the exact field or problem; -errno for I/O failures (logged too),
 * -EIO for a file that changed size while being read.
 */
#ifndef MVM_BOOT_BOOT_H
#define MVM_BOOT_BOOT_H

#include <stdbool.h>
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
	BOOT_MODE_MULTIBOOT32, /* like PVH32, plus EAX = MULTIBOOT_BOOTLOADER_MAGIC */
	BOOT_MODE_ELF64,    /* tiny guest: long mode, ring 3, RDI = struct mvm_bootinfo */
};

#define MULTIBOOT_MAGIC             0x1BADB002u /* in the kernel's header */
#define MULTIBOOT_BOOTLOADER_MAGIC  0x2BADB002u /* in EAX at entry */
#define MULTIBOOT_SEARCH_LEN        8192        /* the header lies within these bytes */

struct boot_entry {
	enum boot_mode mode;
	uint64_t entry;      /* RIP */
	uint64_t boot_info;  /* zero page (LINUX64), hvm_start_info (PVH32) or
			      * multiboot_info (MULTIBOOT32) gpa */
};

/* The kernel's format, as boot_probe() found it. */
enum boot_format {
	BOOT_FORMAT_BZIMAGE,   /* Linux bzImage -> BOOT_MODE_LINUX64 */
	BOOT_FORMAT_ELF64,     /* an mvm tiny guest file -> BOOT_MODE_ELF64 */
	BOOT_FORMAT_MULTIBOOT, /* -> BOOT_MODE_MULTIBOOT32 */
	BOOT_FORMAT_PVH,       /* ELF vmlinux with a PVH note -> BOOT_MODE_PVH32 */
	BOOT_FORMAT_DEMO,      /* no kernel path: the built-in demo -> BOOT_MODE_ELF64 */
};

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

struct boot_loader;

/* A probed kernel (and initrd): files open, format known, nothing loaded.
 * format, mode and format_name are for the caller to read; the rest is
 * boot's. */
struct boot_image {
	enum boot_format format;
	enum boot_mode mode;          /* the mode boot_image_load() will return */
	const char *format_name;      /* "bzImage", "PVH ELF vmlinux", "multiboot",
				       * "ELF64 tiny guest", "built-in demo" */
	const struct boot_loader *loader;
	struct boot_src kernel;
	struct boot_src initrd;       /* fd -1 when there is none */
	int has_initrd;
	int elf64_multiboot;          /* an ELF64 with a multiboot header: hint on failure */
};

/* Open cfg->kernel_path (and cfg->initrd_path) once and decide the format,
 * reading headers only; cfg->cmdline and cfg->rsdp_gpa are not used (may be
 * NULL/0 here). No kernel path: the built-in demo (no initrd allowed).
 * Refused here, before any guest RAM exists: a missing, non-regular or
 * empty file (an empty initrd is taken for a multiboot kernel: an empty
 * module), an unknown format, a tiny guest with an initrd, an ELF64
 * tiny guest whose headers fail the validator. 0 or -errno/-EINVAL
 * (logged); on failure nothing is left open. On success the caller must
 * call boot_image_close(), loaded or not. */
int boot_probe(const struct boot_cfg *cfg, struct boot_image *img);

/* Load a probed image into m with the format probe chose, from the same
 * open files (no second open or detection); cfg gives the command line and
 * RSDP (cfg->cmdline must not be NULL). Files larger than guest RAM are
 * refused here (the RAM size is known only now). out->mode == img->mode on
 * success. A file that changed size while loading: -EIO. */
int boot_image_load(const struct gmem *m, const struct boot_image *img,
		    const struct boot_cfg *cfg, struct boot_entry *out);

/* Close what a successful boot_probe opened. Does nothing the second time,
 * after a failed probe, or on a zeroed image (its fds are not boot's). */
void boot_image_close(struct boot_image *img);

/* 1 when the image boots as a tiny ring-3 guest (BOOT_MODE_ELF64: the
 * builder gives its first --net to the net hypercalls, not virtio-net). */
int boot_image_is_tiny(const struct boot_image *img);

/* boot_probe + boot_image_load + boot_image_close, for callers that need
 * no answer before loading. */
int boot_load(const struct gmem *m, const struct boot_cfg *cfg, struct boot_entry *out);

/* source.c. */

/* A buffer source; never fails, needs no close. */
void boot_src_buf(struct boot_src *src, const char *what, const char *name,
		  const uint8_t *buf, uint64_t len);
/* Open path read-only and without blocking (O_NONBLOCK, cleared once the
 * file is known to be regular): must be a non-empty regular file of at most
 * cap bytes (guest RAM; UINT64_MAX: no cap yet). A FIFO, directory or
 * device is refused at once. 0 or -errno/-EINVAL, logged as "<what> <path>:
 * ..." (what "kernel" or "initrd" also names the flag, --kernel/--initrd). */
int boot_src_open(struct boot_src *src, const char *what, const char *path, uint64_t cap);
/* The same, taking an empty file too (len 0) when may_be_empty: a multiboot
 * module may be empty (boot_probe decides once the format is known). */
int boot_src_open_maybe_empty(struct boot_src *src, const char *what, const char *path,
			      uint64_t cap, bool may_be_empty);
/* -EINVAL (logged, "give --mem more") when src is larger than cap bytes. */
int boot_src_check_cap(const struct boot_src *src, uint64_t cap);
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
 * cfg->initrd_path (or "initrd"). initrd is NULL for none.
 * cfg->kernel_path and cfg->initrd_path are used only for messages. An
 * empty initrd (len 0) reaches only multiboot_load, as an empty module. */
int bzimage_load(const struct gmem *m, const struct boot_src *kernel,
		 const struct boot_src *initrd, const struct boot_cfg *cfg,
		 struct boot_entry *out);
int pvh_load(const struct gmem *m, const struct boot_src *kernel,
	     const struct boot_src *initrd, const struct boot_cfg *cfg,
	     struct boot_entry *out);
int multiboot_load(const struct gmem *m, const struct boot_src *kernel,
		   const struct boot_src *initrd, const struct boot_cfg *cfg,
		   struct boot_entry *out);
/* elf64.c: a static ELF64 x86-64 ET_EXEC tiny guest (docs/guest-abi.md).
 * PT_LOAD segments (p_vaddr == p_paddr) load at or above 1 MiB in low RAM,
 * never overlapping; PT_NOTE/PT_GNU_STACK/PT_GNU_PROPERTY are ignored, any
 * other type refused; the entry must lie in an executable segment. Writes
 * the command line and a struct mvm_bootinfo at LAYOUT_R3_BOOTINFO (no
 * devices: elf64_add_device adds them). initrd must be NULL. */
int elf64_load(const struct gmem *m, const struct boot_src *kernel,
	       const struct boot_src *initrd, const struct boot_cfg *cfg,
	       struct boot_entry *out);
/* 1 when src is an ELF64 x86-64 ET_EXEC whose headers pass the validator
 * (elf.h) and that has no Xen PVH entry note (a tiny guest), 0 otherwise
 * (including unreadable or malformed headers); logs nothing. What the
 * table's ELF64 probe decides, kept for callers that have only a boot_src;
 * new code asks boot_probe() instead. */
int elf64_is_tiny_guest(const struct boot_src *src);
/* Append a virtio-mmio window to the boot info elf64_load wrote at
 * boot_info. 0, -ENOSPC (MVM_BOOTINFO_MAX_DEVS reached) or -EFAULT. */
int elf64_add_device(const struct gmem *m, uint64_t boot_info, uint64_t base,
		     uint64_t size, uint32_t gsi, uint32_t device_id);
/* The hello demo linked into mvm (guest/hello), or NULL/0 in builds
 * without it (unit tests). boot_load boots it when kernel_path is NULL. */
const uint8_t *elf64_builtin_demo(uint64_t *len);

/* The command line a multiboot kernel gets, as QEMU builds it: the kernel
 * path, then a space and args when args is neither NULL nor empty (the
 * kernel takes the first word as argv[0]). No default arguments and no
 * virtio_mmio.device= entries: those are Linux's. 0, or -ENOSPC when it
 * does not fit in len bytes with its NUL. Pure. */
int multiboot_cmdline(const char *kernel_path, const char *args, char *buf, size_t len);

/* Scan buf[0..min(len, MULTIBOOT_SEARCH_LEN)) for the magic at 4-byte
 * aligned offsets. 1 when found: *off is the first header with a valid
 * checksum (*checksum_ok = 1) or else the first magic (*checksum_ok = 0);
 * 0 when there is no magic at all. Pure. */
int multiboot_find_header(const uint8_t *buf, size_t len, uint64_t *off, int *checksum_ok);

#endif
