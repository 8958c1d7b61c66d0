/* place.c - where a loader may put bytes in guest RAM, and the command line: helpers every loader shares. */
#include "boot/boot_priv.h"
#include "core/layout.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PLACE_PAGE_MASK 0xfffULL
#define MIB             (1ULL << 20)

static void place_fmt_size(char *buf, size_t n, uint64_t bytes)
{
	if (bytes >= MIB)
		snprintf(buf, n, "%llu MiB", (unsigned long long)((bytes + MIB - 1) / MIB));
	else
		snprintf(buf, n, "%llu bytes", (unsigned long long)bytes);
}

int boot_place_initrd(const struct gmem *m, const struct boot_cfg *cfg, size_t len,
		      uint64_t floor, uint64_t top, const char *limit_name, uint64_t limit,
		      uint64_t *gpa)
{
	const char *name = cfg->initrd_path ? cfg->initrd_path : "initrd";
	uint64_t low_end = gmem_low_end(m), addr;
	char size[32];

	if (top > low_end)
		top = low_end;
	/* Round the start down, never the end up: the end must stay <= top. */
	if (len <= top && ((top - len) & ~PLACE_PAGE_MASK) >= floor) {
		addr = (top - len) & ~PLACE_PAGE_MASK;
		if (gmem_ptr(m, addr, len)) {
			*gpa = addr;
			return 0;
		}
	}
	place_fmt_size(size, sizeof(size), len);
	log_err("%s (%s) does not fit below %s 0x%llx and above the kernel's end 0x%llx in "
		"%llu MiB of RAM; give --mem more", name, size, limit_name,
		(unsigned long long)limit, (unsigned long long)floor,
		(unsigned long long)(m->ram_size / MIB));
	return -EINVAL;
}

int boot_check_ram(const struct gmem *m, const char *name, const char *what, uint64_t start,
		   uint64_t end)
{
	if (start < LAYOUT_HIMEM_START) {
		log_err("%s: %s 0x%llx-0x%llx starts below 1 MiB, where mvm keeps its boot "
			"structures", name, what, (unsigned long long)start,
			(unsigned long long)end);
		return -EINVAL;
	}
	if (end <= start || !gmem_ptr(m, start, end - start)) {
		int in_hole = start < LAYOUT_MMIO_HOLE_END && end > LAYOUT_MMIO_HOLE_START &&
			      gmem_low_end(m) == LAYOUT_MMIO_HOLE_START;

		log_err("%s: %s 0x%llx-0x%llx %s (guest RAM: %llu MiB)%s", name, what,
			(unsigned long long)start, (unsigned long long)end,
			in_hole ? "reaches into the MMIO hole 0xc0000000-0xffffffff"
				: "is not inside guest RAM",
			(unsigned long long)(m->ram_size >> 20),
			in_hole ? "" : "; give --mem more");
		return -EINVAL;
	}
	return 0;
}

int boot_check_cmdline(const struct boot_cfg *cfg, const char *name, uint64_t max_len,
		       const char *limit_name)
{
	size_t len = strlen(cfg->cmdline);

	if (len > max_len) {
		log_err("%s: command line is %zu bytes, longer than %s %llu", name, len,
			limit_name, (unsigned long long)max_len);
		return -EINVAL;
	}
	if (len + 1 > LAYOUT_CMDLINE_MAX) {
		log_err("%s: command line is %zu bytes, longer than mvm's limit of %llu",
			name, len, (unsigned long long)(LAYOUT_CMDLINE_MAX - 1));
		return -EINVAL;
	}
	return 0;
}

int boot_write_cmdline(const struct gmem *m, const struct boot_cfg *cfg)
{
	int ret = gmem_write(m, LAYOUT_CMDLINE, cfg->cmdline, strlen(cfg->cmdline) + 1);

	if (ret)
		log_err("boot: cannot write the command line at 0x%llx",
			(unsigned long long)LAYOUT_CMDLINE);
	return ret;
}
