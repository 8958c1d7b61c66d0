/* e820.c - the guest memory map derived from the RAM regions of a gmem. */
#include "boot/e820.h"
#include "core/layout.h"

#include <errno.h>

/* Legacy VGA window: RAM below it ends here, whatever the EBDA start is. */
#define E820_LOW_RAM_TOP 0xa0000ULL

static int e820_add(struct e820_entry *out, int max, int *n,
		    uint64_t start, uint64_t end, uint32_t type)
{
	if (end <= start)
		return 0;
	if (*n >= max)
		return -ENOSPC;
	out[*n] = (struct e820_entry){ .addr = start, .size = end - start, .type = type };
	(*n)++;
	return 0;
}

int e820_build(const struct gmem *m, struct e820_entry *out, int max)
{
	uint64_t low_end;
	int n = 0, ret;

	if (m->nr_regions < 1 || m->regions[0].gpa != 0)
		return -EINVAL;
	low_end = m->regions[0].size;
	/* gmem guarantees >= 16 MiB, but a smaller region must still yield a
	 * truthful map rather than entries describing memory that is not there. */
	if (low_end < LAYOUT_ACPI_END)
		return -EINVAL;

	ret = e820_add(out, max, &n, 0, LAYOUT_EBDA_START, E820_TYPE_RAM);
	if (!ret)
		ret = e820_add(out, max, &n, LAYOUT_EBDA_START, E820_LOW_RAM_TOP,
			       E820_TYPE_RESERVED);
	if (!ret)
		ret = e820_add(out, max, &n, LAYOUT_ACPI_START, LAYOUT_ACPI_END,
			       E820_TYPE_RESERVED);
	if (!ret)
		ret = e820_add(out, max, &n, LAYOUT_HIMEM_START, low_end, E820_TYPE_RAM);
	for (int i = 1; !ret && i < m->nr_regions; i++)
		ret = e820_add(out, max, &n, m->regions[i].gpa,
			       m->regions[i].gpa + m->regions[i].size, E820_TYPE_RAM);
	return ret ? ret : n;
}
