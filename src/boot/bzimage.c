/* bzimage.c - Linux bzImage loader: setup header checks, zero page, 64-bit entry. */
#include "boot/boot.h"
#include "boot/e820.h"
#include "boot/boot_priv.h"
#include "core/layout.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

/* Setup header offsets in the image (and in boot_params, which embeds the
 * header at the same offset), from Documentation/arch/x86/boot.rst. */
#define BZ_SETUP_SECTS       0x1f1
#define BZ_SYSSIZE           0x1f4
#define BZ_VID_MODE          0x1fa
#define BZ_BOOT_FLAG         0x1fe
#define BZ_JUMP              0x200
#define BZ_HEADER            0x202
#define BZ_VERSION           0x206
#define BZ_TYPE_OF_LOADER    0x210
#define BZ_LOADFLAGS         0x211
#define BZ_CODE32_START      0x214
#define BZ_RAMDISK_IMAGE     0x218
#define BZ_RAMDISK_SIZE      0x21c
#define BZ_HEAP_END_PTR      0x224
#define BZ_CMD_LINE_PTR      0x228
#define BZ_INITRD_ADDR_MAX   0x22c
#define BZ_KERNEL_ALIGNMENT  0x230
#define BZ_RELOCATABLE       0x234
#define BZ_XLOADFLAGS        0x236
#define BZ_CMDLINE_SIZE      0x238
#define BZ_PREF_ADDRESS      0x258
#define BZ_INIT_SIZE         0x260
#define BZ_HDR_212_END       0x268 /* end of the last field protocol 2.12 defines */
#define BZ_HDR_MAX_END       0x290 /* boot_params puts edd_mbr_sig_buffer here */

/* boot_params fields outside the setup header (zero-page.rst). */
#define ZP_ACPI_RSDP_ADDR    0x070
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE  0x0c4
#define ZP_EXT_CMD_LINE_PTR  0x0c8
#define ZP_E820_ENTRIES      0x1e8
#define ZP_E820_TABLE        0x2d0
#define ZP_E820_MAX          128
#define ZP_E820_ENTRY_SIZE   20
#define ZP_SIZE              4096

#define BZ_MAGIC             0x53726448 /* "HdrS" */
#define BZ_BOOT_FLAG_MAGIC   0xaa55
#define BZ_JMP_SHORT         0xeb
#define BZ_MIN_VERSION       0x020c
#define BZ_LOADED_HIGH       0x01
#define BZ_CAN_USE_HEAP      0x80
#define BZ_XLF_KERNEL_64     0x01
#define BZ_LOADER_UNDEFINED  0xff
#define BZ_VID_NORMAL        0xffff
/* Heap end as the protocol's example loader sets it (setup at 0x90000,
 * heap/stack to 0x9e00): only the 16-bit setup code uses it, which the
 * 64-bit entry skips, but a kernel may still sanity-check the field. */
#define BZ_HEAP_END          (0xe000 - 0x200)
#define BZ_INITRD_MAX_OLD    0x37ffffffULL /* initrd_addr_max before 2.03 */
#define BZ_ENTRY64_OFFSET    0x200
#define BZ_MAX_ALIGNMENT     (1ULL << 30)

static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
static void put64(uint8_t *p, uint64_t v) { put32(p, v); put32(p + 4, v >> 32); }

/* What the checks decided; nothing is written until all of it is known. */
struct bz_plan {
	uint16_t version;
	size_t hdr_end;       /* setup header is image[0x1f1, hdr_end) */
	uint64_t pm_offset;   /* protected-mode kernel in the file */
	uint64_t pm_size;
	uint64_t load;        /* gpa of the protected-mode kernel */
	uint64_t span;        /* bytes the kernel needs from run_base (init_size) */
	uint64_t run_base;    /* where it decompresses: load, or pref_address if higher */
	uint64_t end;         /* first byte the kernel never touches */
	uint64_t initrd_gpa;
};

/* img is the file's first min(len, BZ_HDR_MAX_END) bytes, zero-padded to
 * BZ_HDR_MAX_END; len is the whole file's size. */
static int bz_check_header(const uint8_t *img, uint64_t len, const char *name,
			   struct bz_plan *p)
{
	unsigned setup_sects;
	uint64_t pm_claim;

	if (len < BZ_HDR_212_END) {
		log_err("%s: file is %llu bytes, too short for a bzImage setup header "
			"(need >= %d)", name, (unsigned long long)len, BZ_HDR_212_END);
		return -EINVAL;
	}
	if (boot_get16(img + BZ_BOOT_FLAG) != BZ_BOOT_FLAG_MAGIC) {
		log_err("%s: boot_flag at 0x1fe is 0x%04x, expected 0xaa55 (not a bzImage)",
			name, boot_get16(img + BZ_BOOT_FLAG));
		return -EINVAL;
	}
	if (boot_get32(img + BZ_HEADER) != BZ_MAGIC) {
		log_err("%s: no HdrS magic at 0x202 (not a bzImage)", name);
		return -EINVAL;
	}
	p->version = boot_get16(img + BZ_VERSION);
	if (p->version < BZ_MIN_VERSION) {
		log_err("%s: boot protocol %u.%02u is too old, need >= 2.12 "
			"(xloadflags, for the 64-bit entry)", name, p->version >> 8,
			p->version & 0xff);
		return -EINVAL;
	}
	/* The header's length is encoded by the short jump over it. */
	p->hdr_end = BZ_HEADER + img[BZ_JUMP + 1];
	if (img[BZ_JUMP] != BZ_JMP_SHORT || p->hdr_end < BZ_HDR_212_END ||
	    p->hdr_end > BZ_HDR_MAX_END) {
		log_err("%s: jump at 0x200 (%02x %02x) gives setup header end 0x%zx, "
			"expected a short jump to within [0x%x, 0x%x]", name, img[BZ_JUMP],
			img[BZ_JUMP + 1], p->hdr_end, BZ_HDR_212_END, BZ_HDR_MAX_END);
		return -EINVAL;
	}

	setup_sects = img[BZ_SETUP_SECTS] ? img[BZ_SETUP_SECTS] : 4;
	p->pm_offset = (uint64_t)(setup_sects + 1) * 512;
	if (p->pm_offset >= len) {
		log_err("%s: setup_sects %u puts the protected-mode kernel at 0x%llx, at or "
			"past the end of the file (%llu bytes)", name, setup_sects,
			(unsigned long long)p->pm_offset, (unsigned long long)len);
		return -EINVAL;
	}
	pm_claim = (uint64_t)boot_get32(img + BZ_SYSSIZE) * 16;
	if (pm_claim == 0) {
		log_err("%s: syssize is 0 (no protected-mode kernel)", name);
		return -EINVAL;
	}
	/* Signed kernels carry a signature after syssize*16; only the claimed
	 * part is kernel, but less than the claim means a truncated file. */
	if (pm_claim > len - p->pm_offset) {
		log_err("%s: syssize claims %llu bytes of protected-mode kernel but the file "
			"holds only %llu after the setup (truncated file?)", name,
			(unsigned long long)pm_claim, (unsigned long long)(len - p->pm_offset));
		return -EINVAL;
	}
	p->pm_size = pm_claim;

	if (!(img[BZ_LOADFLAGS] & BZ_LOADED_HIGH)) {
		log_err("%s: loadflags 0x%02x lacks LOADED_HIGH (zImage kernels loaded at "
			"0x10000 are not supported)", name, img[BZ_LOADFLAGS]);
		return -EINVAL;
	}
	if (!(boot_get16(img + BZ_XLOADFLAGS) & BZ_XLF_KERNEL_64)) {
		log_err("%s: xloadflags 0x%04x lacks XLF_KERNEL_64 (no 64-bit entry point; "
			"mvm boots 64-bit kernels only)", name, boot_get16(img + BZ_XLOADFLAGS));
		return -EINVAL;
	}
	return 0;
}

static int bz_place_kernel(const struct gmem *m, const uint8_t *img, const char *name,
			   struct bz_plan *p)
{
	uint64_t low_end = gmem_low_end(m);
	uint32_t init_size = boot_get32(img + BZ_INIT_SIZE);

	if (img[BZ_RELOCATABLE]) {
		uint64_t align = boot_get32(img + BZ_KERNEL_ALIGNMENT);

		if (align == 0 || (align & (align - 1)) || align > BZ_MAX_ALIGNMENT) {
			log_err("%s: kernel_alignment 0x%llx is not a power of two <= 1 GiB",
				name, (unsigned long long)align);
			return -EINVAL;
		}
		p->load = (LAYOUT_HIMEM_START + align - 1) & ~(align - 1);
	} else {
		p->load = boot_get64(img + BZ_PREF_ADDRESS);
		if (p->load < LAYOUT_HIMEM_START) {
			log_err("%s: kernel is not relocatable and its pref_address 0x%llx is "
				"below 1 MiB, where mvm keeps its boot structures", name,
				(unsigned long long)p->load);
			return -EINVAL;
		}
	}
	/* init_size covers the decompressor's work area; never trust it to be
	 * at least the bytes we copy. */
	p->span = init_size > p->pm_size ? init_size : p->pm_size;
	/* A relocatable Linux loaded below pref_address (its LOAD_PHYSICAL_ADDR)
	 * decompresses to pref_address instead, and uses init_size from there:
	 * the initrd must stay clear of that, not only of [load, load+init_size). */
	p->run_base = p->load;
	if (img[BZ_RELOCATABLE] && boot_get64(img + BZ_PREF_ADDRESS) > p->load)
		p->run_base = boot_get64(img + BZ_PREF_ADDRESS);
	if (p->run_base > low_end || p->span > low_end - p->run_base) {
		log_err("%s: kernel needs RAM up to 0x%llx (init_size 0x%llx from 0x%llx, the "
			"higher of its load address and pref_address) but RAM below the MMIO "
			"hole ends at 0x%llx; give --mem more", name,
			(unsigned long long)(p->run_base + p->span), (unsigned long long)p->span,
			(unsigned long long)p->run_base, (unsigned long long)low_end);
		return -EINVAL;
	}
	p->end = p->run_base + p->span;
	return 0;
}

static int bz_build_zero_page(const struct gmem *m, const uint8_t *img,
			      const struct bz_plan *p, uint64_t initrd_len,
			      const struct boot_cfg *cfg, uint8_t *zp)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	uint8_t loadflags;
	int n;

	n = e820_build(m, map, E820_MAX_ENTRIES);
	if (n < 0) {
		log_err("boot: cannot build the e820 map: %s", strerror(-n));
		return n;
	}
	memset(zp, 0, ZP_SIZE);
	/* The kernel reads its own header back from boot_params. */
	memcpy(zp + BZ_SETUP_SECTS, img + BZ_SETUP_SECTS, p->hdr_end - BZ_SETUP_SECTS);

	put16(zp + BZ_VID_MODE, BZ_VID_NORMAL);
	zp[BZ_TYPE_OF_LOADER] = BZ_LOADER_UNDEFINED;
	loadflags = zp[BZ_LOADFLAGS] | BZ_CAN_USE_HEAP;
	zp[BZ_LOADFLAGS] = loadflags;
	put16(zp + BZ_HEAP_END_PTR, BZ_HEAP_END);
	put32(zp + BZ_CODE32_START, (uint32_t)p->load);
	put32(zp + BZ_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	put32(zp + ZP_EXT_CMD_LINE_PTR, (uint32_t)(LAYOUT_CMDLINE >> 32));
	put32(zp + BZ_RAMDISK_IMAGE, initrd_len ? (uint32_t)p->initrd_gpa : 0);
	put32(zp + ZP_EXT_RAMDISK_IMAGE, initrd_len ? (uint32_t)(p->initrd_gpa >> 32) : 0);
	put32(zp + BZ_RAMDISK_SIZE, (uint32_t)initrd_len);
	put32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)initrd_len >> 32));
	/* acpi_rsdp_addr is read from 2.14 on; older kernels scan 0xe0000-0xfffff,
	 * which is where the RSDP is anyway. */
	if (p->version >= 0x020e && cfg->rsdp_gpa)
		put64(zp + ZP_ACPI_RSDP_ADDR, cfg->rsdp_gpa);

	zp[ZP_E820_ENTRIES] = (uint8_t)n;
	for (int i = 0; i < n && i < ZP_E820_MAX; i++) {
		uint8_t *e = zp + ZP_E820_TABLE + i * ZP_E820_ENTRY_SIZE;

		put64(e, map[i].addr);
		put64(e + 8, map[i].size);
		put32(e + 16, map[i].type);
	}
	return 0;
}

int bzimage_load(const struct gmem *m, const struct boot_src *kernel,
		 const struct boot_src *initrd, const struct boot_cfg *cfg,
		 struct boot_entry *out)
{
	const char *name = kernel->name;
	uint64_t initrd_len = initrd ? initrd->len : 0;
	/* Everything the loader reads from the setup lies below BZ_HDR_MAX_END:
	 * the 16-bit setup code itself is skipped by the 64-bit entry, so it is
	 * never read, and the protected-mode part goes straight to guest RAM. */
	uint8_t img[BZ_HDR_MAX_END] = { 0 };
	struct bz_plan p = { 0 };
	uint8_t zp[ZP_SIZE];
	int ret;

	ret = boot_src_read(kernel, 0, img, kernel->len < sizeof(img) ? kernel->len : sizeof(img));
	if (!ret)
		ret = bz_check_header(img, kernel->len, name, &p);
	if (!ret)
		ret = bz_place_kernel(m, img, name, &p);
	if (!ret)
		ret = boot_check_cmdline(cfg, name, boot_get32(img + BZ_CMDLINE_SIZE), "cmdline_size");
	if (ret)
		return ret;
	if (initrd_len) {
		uint64_t max = p.version >= 0x0203 ? boot_get32(img + BZ_INITRD_ADDR_MAX)
						    : BZ_INITRD_MAX_OLD;

		/* initrd_addr_max is the last byte the initrd may occupy. */
		ret = boot_place_initrd(m, cfg, initrd_len, p.end, max + 1,
					"initrd_addr_max", max, &p.initrd_gpa);
		if (ret)
			return ret;
	}
	ret = bz_build_zero_page(m, img, &p, initrd_len, cfg, zp);
	if (ret)
		return ret;

	/* Every range below was checked against RAM and the file above; a
	 * failure here is an I/O error (logged by boot_src) or a bug. */
	ret = boot_src_to_guest(m, kernel, p.pm_offset, p.load, p.pm_size);
	if (!ret && initrd_len)
		ret = boot_src_to_guest(m, initrd, 0, p.initrd_gpa, initrd_len);
	if (ret)
		return ret;
	ret = gmem_write(m, LAYOUT_ZERO_PAGE, zp, sizeof(zp));
	if (ret) {
		log_err("%s: cannot write the zero page to guest RAM at 0x%llx", name,
			(unsigned long long)LAYOUT_ZERO_PAGE);
		return ret;
	}
	ret = boot_write_cmdline(m, cfg);
	if (ret)
		return ret;

	out->mode = BOOT_MODE_LINUX64;
	out->entry = p.load + BZ_ENTRY64_OFFSET;
	out->boot_info = LAYOUT_ZERO_PAGE;
	log_debug("%s: bzImage protocol %u.%02u at 0x%llx (uses up to 0x%llx), entry 0x%llx",
		  name, p.version >> 8, p.version & 0xff, (unsigned long long)p.load,
		  (unsigned long long)p.end, (unsigned long long)out->entry);
	return 0;
}

static int bzimage_probe(const struct boot_src *kernel, const uint8_t *head, size_t len)
{
	return len >= BZ_HEADER + 4 && boot_get32(head + BZ_HEADER) == BZ_MAGIC;
}

const struct boot_loader bzimage_loader = {
	.name = "bzImage",
	.format = BOOT_FORMAT_BZIMAGE,
	.mode = BOOT_MODE_LINUX64,
	.probe = bzimage_probe,
	.load = bzimage_load,
};
