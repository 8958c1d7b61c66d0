/* dsdt.c - the DSDT's devices: COM1, CMOS RTC, PS/2 keyboard, pvpanic, virtio-mmio, \_S5 (and \_S3). */
#include "boot/acpi/dsdt.h"
#include "core/layout.h"

#include <errno.h>
#include <stdio.h>

/* Name(_CRS, ResourceTemplate () { ... }) from an unfinished template. */
static void name_crs(struct aml_buf *b, struct aml_buf *rt)
{
	aml_rt_end(rt);
	if (rt->err) {
		/* A template overflow is our bug, not a full region. */
		if (!b->err)
			b->err = rt->err == -ENOSPC ? -EINVAL : rt->err;
		return;
	}
	aml_name(b, "_CRS");
	aml_buffer(b, rt->data, rt->len);
}

/* An ISA-style device: fixed I/O ports and one legacy IRQ (edge, high). */
static void isa_device(struct aml_buf *b, const char *name, const char *eisaid,
		       unsigned uid, uint16_t port, uint8_t len, unsigned irq)
{
	uint8_t mem[32];
	struct aml_buf rt;
	size_t dev = aml_device_open(b, name);

	aml_name(b, "_HID");
	aml_eisaid(b, eisaid);
	aml_name(b, "_UID");
	aml_integer(b, uid);
	aml_init(&rt, mem, sizeof(mem));
	/* Alignment 1: the range is fixed (min == max), so it is not used. */
	aml_rt_io(&rt, port, port, 1, len);
	aml_rt_irq_noflags(&rt, irq);
	name_crs(b, &rt);
	aml_close(b, dev);
}

/* The PS/2 keyboard controller: Linux's i8042 driver finds it through
 * PNP0303 (data port, then command port, IRQ 1); no PNP0F13 mouse, so
 * Linux runs it with noaux. */
static void kbd_device(struct aml_buf *b)
{
	uint8_t mem[40];
	struct aml_buf rt;
	size_t dev = aml_device_open(b, "PS2K");

	aml_name(b, "_HID");
	aml_eisaid(b, "PNP0303");
	aml_init(&rt, mem, sizeof(mem));
	aml_rt_io(&rt, PORT_I8042_DATA, PORT_I8042_DATA, 1, 1);
	aml_rt_io(&rt, PORT_I8042_CMD, PORT_I8042_CMD, 1, 1);
	aml_rt_irq_noflags(&rt, IRQ_KBD);
	name_crs(b, &rt);
	aml_close(b, dev);
}

/* Linux's pvpanic-mmio driver matches QEMU0001 and takes either an MMIO or
 * an I/O resource; the port is the one QEMU's ISA pvpanic uses. */
static void pvpanic_device(struct aml_buf *b)
{
	uint8_t mem[16];
	struct aml_buf rt;
	size_t dev = aml_device_open(b, "PEVT");

	aml_name(b, "_HID");
	aml_string(b, "QEMU0001");
	aml_init(&rt, mem, sizeof(mem));
	aml_rt_io(&rt, PORT_PVPANIC, PORT_PVPANIC, 1, 1);
	name_crs(b, &rt);
	size_t sta = aml_method_open(b, "_STA", 0, 0);

	aml_return(b);
	aml_integer(b, 0x0f); /* present, enabled, shown, functioning */
	aml_close(b, sta);
	aml_close(b, dev);
}

/* A device with an MMIO window and one interrupt. Edge, active high,
 * exclusive, as Firecracker, Cloud Hypervisor and QEMU microvm declare
 * virtio-mmio: the VMM signals it through an irqfd edge. */
static void mmio_device(struct aml_buf *b, int idx, const struct acpi_mmio_dev *d)
{
	char name[8];
	uint8_t mem[32];
	struct aml_buf rt;

	snprintf(name, sizeof(name), "V%03X", (unsigned)idx & 0xfff);
	size_t dev = aml_device_open(b, name);

	aml_name(b, "_HID");
	aml_string(b, d->hid);
	aml_name(b, "_UID");
	aml_integer(b, d->uid);
	aml_init(&rt, mem, sizeof(mem));
	aml_rt_mem32_fixed(&rt, 1, (uint32_t)d->base, d->size);
	aml_rt_ext_irq(&rt, AML_IRQ_CONSUMER | AML_IRQ_EDGE, d->gsi);
	name_crs(b, &rt);
	aml_close(b, dev);
}

/* \_Sx: SLP_TYPa, SLP_TYPb, two reserved. ACPICA's HW-reduced sleep path
 * writes (SLP_TYPa << 2) | SLP_EN to the sleep control register, the legacy
 * one (SLP_TYPa << 10) | SLP_EN to PM1a_CNT. */
static void sleep_package(struct aml_buf *b, const char *name, unsigned slp_typ)
{
	aml_name(b, name);
	size_t pkg = aml_package_open(b, 4);

	aml_integer(b, slp_typ);
	aml_integer(b, 0);          /* no PM1b block */
	aml_integer(b, 0);
	aml_integer(b, 0);
	aml_close(b, pkg);
}

int acpi_dsdt_body(struct aml_buf *b, const struct acpi_cfg *cfg)
{
	size_t sb = aml_scope_open(b, "\\_SB");

	isa_device(b, "COM1", "PNP0501", 1, PORT_COM1, 8, IRQ_COM1);
	isa_device(b, "RTC", "PNP0B00", 0, PORT_RTC, 2, IRQ_RTC);
	kbd_device(b);
	pvpanic_device(b);
	for (int i = 0; i < cfg->nr_mmio_devs && !b->err; i++)
		mmio_device(b, i, &cfg->mmio_devs[i]);
	aml_close(b, sb);

	/* \_S3 with the legacy PM1 blocks only: a HW-reduced guest cannot
	 * sleep (board/acpi_pm.h resumes it at once). */
	if (cfg->legacy_pm)
		sleep_package(b, "\\_S3", ACPI_S3_SLP_TYP);
	sleep_package(b, "\\_S5", ACPI_S5_SLP_TYP);
	return aml_finish(b);
}
