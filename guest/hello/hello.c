/* hello.c - mvm's built-in demo: what a tiny guest sees, a few exits, a timed hypercall. */
#include "mvm_guest.h"

#define RTC_INDEX 0x70
#define RTC_DATA  0x71
#define UNCLAIMED_MMIO 0xc0000000ULL /* the MMIO hole's start: nothing lives there */

static unsigned rtc_read(uint8_t reg)
{
	outb(RTC_INDEX, reg);
	return inb(RTC_DATA);
}

int mvm_main(const struct mvm_bootinfo *bi)
{
	uint16_t cs = read_cs();
	uint64_t rflags = read_rflags(), t0, t1, best = ~0ULL;
	uint32_t v;

	mvm_printf("Hello from a tiny mvm guest (ABI %u)!\n", bi->version);
	mvm_printf("  mode: 64-bit long mode, paging on (running at virtual %p), CPL %u (CS 0x%x), "
		   "IOPL %u\n", (void *)&mvm_main, cs & 3, cs, (unsigned)(rflags >> 12) & 3);
	mvm_printf("  memory: %lu MiB, command line: \"%s\"\n",
		   (unsigned long)(bi->mem_size >> 20), (const char *)(uintptr_t)bi->cmdline);
	mvm_printf("  devices: %u virtio-mmio window%s\n", bi->nr_devices, bi->nr_devices == 1 ? "" : "s");

	/* Port I/O exits: the CMOS RTC, emulated by mvm. */
	unsigned s = rtc_read(0x00), m = rtc_read(0x02), h = rtc_read(0x04);
	mvm_printf("  port I/O: CMOS RTC says %02x:%02x:%02x UTC (6 exits: 3 OUT 0x70, 3 IN 0x71)\n", h, m, s);

	/* MMIO exits: a virtio-mmio magic value if there is a device, else the hole. */
	if (bi->nr_devices) {
		v = mmio_read32(bi->devices[0].base + VIRTIO_MMIO_MAGIC_VALUE);
		mvm_printf("  MMIO: virtio-mmio at 0x%lx reads magic 0x%x (device id %u)\n",
			   (unsigned long)bi->devices[0].base, v,
			   mmio_read32(bi->devices[0].base + VIRTIO_MMIO_DEVICE_ID));
	} else {
		v = mmio_read32(UNCLAIMED_MMIO);
		mvm_printf("  MMIO: unclaimed 0x%lx reads 0x%x (2 exits with the next one)\n",
			   (unsigned long)UNCLAIMED_MMIO, v);
		mmio_write32(UNCLAIMED_MMIO, 0x1234);
	}

	/* Hypercall round trip, timed with the monotonic clock (itself a hypercall). */
	for (int i = 0; i < 8; i++) {
		t0 = mvm_time_mono_ns();
		t1 = mvm_time_mono_ns();
		if (t1 - t0 < best)
			best = t1 - t0;
	}
	mvm_printf("  hypercall round trip: %lu ns (best of 8)\n", (unsigned long)best);
	mvm_printf("  wall clock: %lu s since 1970\n", (unsigned long)(mvm_time_wall_ns() / 1000000000ULL));
	mvm_printf("Goodbye: exiting with status 0 through the exit hypercall.\n");
	return 0;
}
