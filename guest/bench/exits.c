/* exits.c - bench/exits.sh's tiny guest: ns per port-I/O, MMIO and hypercall exit.
 *
 * Command line: n=N (exits per batch, default 100000), rounds=R (default 3; the
 * best round counts, as the least disturbed). Each batch is timed with the
 * monotonic-time hypercall around it (two extra exits per batch: negligible
 * for large N). Also calibrates the TSC against that clock, so the
 * benchmark can convert the multiboot guest's rdtsc cycles (QEMU and mvm run
 * it) into ns. Prints one parseable line per figure and exits 0:
 *   EXITS pio_dev_ns=... pio_unclaimed_ns=... mmio_ns=... hcall_ns=... tsc_khz=...
 */
#include "mvm_guest.h"

#define PORT_DEV        0x3ff        /* COM1 scratch register: a cheap device port */
#define PORT_UNCLAIMED  0x3f0        /* nothing in mvm claims it */
#define MMIO_UNCLAIMED  0xc0000000UL /* MMIO hole, below the virtio windows */

enum kind { PIO_DEV, PIO_UNCLAIMED, MMIO, HCALL, NKINDS };
static const char *const names[NKINDS] = { "pio_dev", "pio_unclaimed", "mmio", "hcall" };

static uint64_t batch(enum kind k, uint64_t n)
{
	struct mvm_hc_time t;
	uint64_t t0 = mvm_time_mono_ns(), i;

	switch (k) {
	case PIO_DEV:
		for (i = 0; i < n; i++)
			outb(PORT_DEV, (uint8_t)i);
		break;
	case PIO_UNCLAIMED:
		for (i = 0; i < n; i++)
			outb(PORT_UNCLAIMED, (uint8_t)i);
		break;
	case MMIO:
		for (i = 0; i < n; i++)
			(void)mmio_read32(MMIO_UNCLAIMED);
		break;
	case HCALL:
		for (i = 0; i < n; i++)
			mvm_hypercall(MVM_HC_TIME, &t);
		break;
	default:
		break;
	}
	return mvm_time_mono_ns() - t0;
}

/* TSC ticks per ms over ~50 ms of the host's monotonic clock. */
static uint64_t tsc_khz(void)
{
	uint64_t c0 = rdtsc(), t0 = mvm_time_mono_ns(), t1, c1;

	do
		t1 = mvm_time_mono_ns();
	while (t1 - t0 < 50000000ULL);
	c1 = rdtsc();
	return (c1 - c0) * 1000000ULL / (t1 - t0);
}

int mvm_main(const struct mvm_bootinfo *bi)
{
	uint64_t n = mvm_cmdline_u64(bi, "n", 100000), rounds = mvm_cmdline_u64(bi, "rounds", 3);
	uint64_t best[NKINDS];
	char line[256];
	int len;

	if (n == 0)
		n = 1;
	if (rounds == 0)
		rounds = 1;
	mvm_printf("exits guest: %lu exits per batch, best of %lu rounds\n", (unsigned long)n,
		   (unsigned long)rounds);
	for (int k = 0; k < NKINDS; k++) {
		best[k] = ~0ULL;
		batch(k, n / 10 + 1); /* warm up: page tables, host caches */
		for (uint64_t r = 0; r < rounds; r++) {
			uint64_t ns = batch(k, n);

			if (ns < best[k])
				best[k] = ns;
		}
	}
	len = mvm_snprintf(line, sizeof(line), "EXITS");
	for (int k = 0; k < NKINDS; k++)
		len += mvm_snprintf(line + len, sizeof(line) - len, " %s_ns=%lu.%02lu", names[k],
				    (unsigned long)(best[k] / n),
				    (unsigned long)(best[k] % n * 100 / n));
	mvm_printf("%s tsc_khz=%lu\n", line, (unsigned long)tsc_khz());
	return 0;
}
