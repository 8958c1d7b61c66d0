/* boot_priv.h - boot's private interface: one boot format as a table entry { name, probe, load }, and the helpers every loader shares.
 *
 * Contract: boot.c walks boot_loaders[] in order and gives the kernel to the
 * first entry whose probe() says 1; adding a format is its own file, one
 * line in that table and a value of enum boot_format (boot.h).
 *  - probe(kernel, head, head_len): head is the file's first head_len bytes
 *    (min(file size, BOOT_HEAD_LEN)). 1: this format takes the file; 0: not
 *    this format (nothing logged); -EINVAL/-errno: it is this format but
 *    cannot be loaded, logged naming the file and field. A probe reads only
 *    headers, never guest RAM (there is none yet when the builder probes).
 *  - load(): as bzimage_load() in boot.h: checks everything first, then
 *    writes guest RAM through gmem_ptr/gmem_write only.
 * The helpers (place.c) return 0 or -EINVAL/-EFAULT after a log_err naming
 * the file; they are pure functions of their arguments and guest RAM.
 */
#ifndef MVM_BOOT_BOOT_PRIV_H
#define MVM_BOOT_BOOT_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"

/* Enough of the file's start to tell the formats apart: "HdrS" ends at
 * 0x206, a multiboot header lies within the first 8 KiB. */
#define BOOT_HEAD_LEN MULTIBOOT_SEARCH_LEN

struct boot_loader {
	const char *name;        /* "bzImage", ... as messages say it */
	enum boot_format format;
	enum boot_mode mode;     /* what load() puts in boot_entry.mode */
	int (*probe)(const struct boot_src *kernel, const uint8_t *head, size_t head_len);
	int (*load)(const struct gmem *m, const struct boot_src *kernel,
		    const struct boot_src *initrd, const struct boot_cfg *cfg,
		    struct boot_entry *out);
};

extern const struct boot_loader bzimage_loader;
extern const struct boot_loader elf64_loader;
extern const struct boot_loader multiboot_loader;
extern const struct boot_loader pvh_loader;

/* Little-endian fields of a file's bytes, whatever the host's alignment. */
static inline uint16_t boot_get16(const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static inline uint32_t boot_get32(const uint8_t *p)
{
	return boot_get16(p) | (uint32_t)boot_get16(p + 2) << 16;
}
static inline uint64_t boot_get64(const uint8_t *p)
{
	return boot_get32(p) | (uint64_t)boot_get32(p + 4) << 32;
}

/* Highest 4 KiB-aligned gpa for len bytes ending at or below top and starting
 * at or above floor; -EINVAL (logged, naming the initrd, its size, limit and
 * RAM) when it does not fit. limit_name/limit say what capped top (e.g.
 * "initrd_addr_max", 0x7fffffff) for the message. */
int boot_place_initrd(const struct gmem *m, const struct boot_cfg *cfg, size_t len,
		      uint64_t floor, uint64_t top, const char *limit_name, uint64_t limit,
		      uint64_t *gpa);

/* [start, end) of a kernel's image (what: "program header 2:", "multiboot
 * load_addr..bss_end_addr") must start at or above 1 MiB (below are mvm's
 * boot structures) and lie in one RAM region; the message says when it
 * reaches into the MMIO hole. end > start is required. */
int boot_check_ram(const struct gmem *m, const char *name, const char *what, uint64_t start,
		   uint64_t end);

/* Check the command line against max_len (bytes without the NUL; the
 * caller's limit, e.g. cmdline_size), naming limit_name in the error.
 * Also checks mvm's own LAYOUT_CMDLINE_MAX. */
int boot_check_cmdline(const struct boot_cfg *cfg, const char *name, uint64_t max_len,
		       const char *limit_name);

/* Write the command line with its NUL at LAYOUT_CMDLINE. */
int boot_write_cmdline(const struct gmem *m, const struct boot_cfg *cfg);

#endif
