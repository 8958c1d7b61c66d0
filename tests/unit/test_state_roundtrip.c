/* test_state_roundtrip.c - the devices whose state had no save-again check:
 * pc-testdev, fw_cfg, ACPI PM1, virtio-balloon and virtio-vsock. Each is
 * driven into a state a fresh device does not have, saved, restored into a
 * fresh instance and saved again: the two saves are byte-identical, the
 * restored device answers the guest as the original did, and a state a
 * file could corrupt is refused with a message naming the field. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "board/acpi_pm1.h"
#include "board/fw_cfg.h"
#include "board/pc_testdev.h"
#include "core/device.h"
#include "core/layout.h"
#include "util/evloop.h"
#include "util/log.h"
#include "virtio/balloon.h"
#include "virtio/vsock.h"
#include "virtio_fake_driver.h"

/* ---- log capture: a refusal must name the field ---- */

static char logbuf[8192];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void capture(enum log_level l, const char *m, void *c)
{
	(void)l;
	(void)c;
	pthread_mutex_lock(&log_lock);
	size_t n = strlen(logbuf);
	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", m);
	pthread_mutex_unlock(&log_lock);
}

static int setup(void **state)
{
	(void)state;
	logbuf[0] = 0;
	log_set_sink(capture, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	log_set_sink(NULL, NULL);
	return 0;
}

#define assert_refused(call, field) do {				\
	pthread_mutex_lock(&log_lock);					\
	logbuf[0] = 0;							\
	pthread_mutex_unlock(&log_lock);				\
	assert_int_equal((call), -EINVAL);				\
	assert_non_null(strstr(logbuf, field));				\
} while (0)

/* ---- pc-testdev ---- */

static uint32_t latch_rd(struct pc_testdev *t)
{
	uint32_t v = 0;

	pc_testdev_latch_io(t, 0, (uint8_t *)&v, 4, false);
	return v;
}

static void test_pc_testdev(void **state)
{
	struct irq_line lines[PC_TESTDEV_NR_IRQS] = { { 0 } };
	struct pc_testdev *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct pc_testdev_state *s1 = malloc(sizeof(*s1)), *s2 = malloc(sizeof(*s2));
	struct pc_testdev_state *bad = malloc(sizeof(*bad));
	uint8_t w[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, r[8];
	uint32_t v = 0xdeadbeef;

	(void)state;
	assert_true(a && b && s1 && s2 && bad);
	pc_testdev_init(a, NULL, lines);
	pc_testdev_init(b, NULL, lines);
	pc_testdev_latch_io(a, 0, (uint8_t *)&v, 4, true);
	pc_testdev_iomem_io(a, 0, w, 8, true);
	pc_testdev_iomem_io(a, PC_TESTDEV_IOMEM_LEN - 2, w, 2, true);   /* the last bytes */
	memset(s1, 0xee, sizeof(*s1));                                   /* save fills it all */
	assert_int_equal(pc_testdev_save(a, s1), 0);
	assert_int_equal(s1->latch, 0xdeadbeef);
	assert_int_equal(s1->pad, 0);
	assert_memory_equal(s1->iomem, w, 8);

	/* A non-zero pad is refused and takes nothing. */
	memcpy(bad, s1, sizeof(*bad));
	bad->pad = 1;
	assert_refused(pc_testdev_restore(b, bad), "pad");
	assert_int_equal(latch_rd(b), 0);

	assert_int_equal(pc_testdev_restore(b, s1), 0);
	memset(s2, 0x11, sizeof(*s2));
	assert_int_equal(pc_testdev_save(b, s2), 0);
	assert_memory_equal(s1, s2, sizeof(*s1));
	/* The guest reads back what it wrote before the save. */
	assert_int_equal(latch_rd(b), 0xdeadbeef);
	pc_testdev_iomem_io(b, 0, r, 8, false);
	assert_memory_equal(r, w, 8);
	pc_testdev_iomem_io(b, PC_TESTDEV_IOMEM_LEN - 2, r, 2, false);
	assert_memory_equal(r, w, 2);

	/* Through the registry's hooks: the size is checked. */
	assert_int_equal(pc_testdev_kind.state_size, sizeof(struct pc_testdev_state));
	assert_int_equal(pc_testdev_kind.state_version, PC_TESTDEV_STATE_VERSION);
	assert_int_equal(pc_testdev_kind.save(b, s2, sizeof(*s2) - 1), -EINVAL);
	assert_int_equal(pc_testdev_kind.restore(b, s1, sizeof(*s1) + 1), -EINVAL);
	assert_int_equal(pc_testdev_kind.save(b, s2, sizeof(*s2)), 0);
	assert_int_equal(pc_testdev_kind.restore(a, s2, sizeof(*s2)), 0);
	pc_testdev_destroy(a);
	pc_testdev_destroy(b);
	free(a);
	free(b);
	free(s1);
	free(s2);
	free(bad);
}

/* ---- fw_cfg ---- */

static void fw_sel(struct fw_cfg *f, uint16_t key)
{
	uint8_t d[2] = { (uint8_t)key, (uint8_t)(key >> 8) };

	fw_cfg_io(f, 0, d, 2, true);
}

static uint8_t fw_rd(struct fw_cfg *f)
{
	uint8_t v = 0xff;

	fw_cfg_io(f, 1, &v, 1, false);
	return v;
}

static void test_fw_cfg(void **state)
{
	struct fw_cfg a, b;
	struct fw_cfg_state s1, s2, bad;

	(void)state;
	fw_cfg_init(&a, 3, 64ULL << 20);
	fw_cfg_init(&b, 3, 64ULL << 20);
	fw_sel(&a, FW_CFG_RAM_SIZE);
	fw_rd(&a);
	fw_rd(&a);
	fw_rd(&a);                                  /* 3 of RAM_SIZE's 8 bytes read */
	memset(&s1, 0xee, sizeof(s1));
	fw_cfg_save(&a, &s1);
	assert_int_equal(s1.regs.key, FW_CFG_RAM_SIZE);
	assert_int_equal(s1.regs.offset, 3);

	bad = s1;
	bad.regs.pad = 1;
	assert_refused(fw_cfg_restore(&b, &bad), "pad");
	bad = s1;
	bad.regs.offset = 9;
	assert_refused(fw_cfg_restore(&b, &bad), "offset");
	bad = s1;
	bad.regs.key = 0x0002;
	assert_refused(fw_cfg_restore(&b, &bad), "no such item");
	assert_int_equal(fw_rd(&b), 0);             /* still nothing selected */

	assert_int_equal(fw_cfg_restore(&b, &s1), 0);
	memset(&s2, 0x11, sizeof(s2));
	fw_cfg_save(&b, &s2);
	assert_memory_equal(&s1, &s2, sizeof(s1));
	/* Both go on with byte 3 of RAM_SIZE (64 MiB: 0x04000000, little-endian). */
	assert_int_equal(fw_rd(&b), 0x04);
	assert_int_equal(fw_rd(&a), 0x04);
	fw_cfg_destroy(&a);
	fw_cfg_destroy(&b);
}

/* ---- ACPI PM1 ---- */

static void pm1_wr16(struct acpi_pm1 *p, uint64_t off, uint16_t v)
{
	uint8_t d[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	acpi_pm1_io(p, off, d, 2, true);
}

static uint16_t pm1_rd16(struct acpi_pm1 *p, uint64_t off)
{
	uint8_t d[2] = { 0 };

	acpi_pm1_io(p, off, d, 2, false);
	return (uint16_t)(d[0] | d[1] << 8);
}

static void test_acpi_pm1(void **state)
{
	struct acpi_pm1 a, b;
	struct acpi_pm1_state s1, s2, bad;

	(void)state;
	acpi_pm1_init(&a, (struct vm_stopper){ 0 });
	acpi_pm1_init(&b, (struct vm_stopper){ 0 });
	pm1_wr16(&a, 2, ACPI_PM1_RTC | ACPI_PM1_PWRBTN);          /* PM1_EN */
	pm1_wr16(&a, 4, 5 << 10);                                 /* SLP_TYP 5, no SLP_EN */
	acpi_pm1_wake(&a, ACPI_PM1_RTC);
	memset(&s1, 0xee, sizeof(s1));
	assert_int_equal(acpi_pm1_save(&a, &s1), 0);
	assert_int_equal(s1.regs.en, ACPI_PM1_RTC | ACPI_PM1_PWRBTN);
	assert_int_equal(s1.regs.slp_typ, 5);
	assert_int_equal(s1.regs.pad, 0);

	bad = s1;
	bad.regs.pad = 2;
	assert_refused(acpi_pm1_restore(&b, &bad), "pad");
	bad = s1;
	bad.regs.slp_typ = 8;
	assert_refused(acpi_pm1_restore(&b, &bad), "slp_typ");
	assert_int_equal(pm1_rd16(&b, 2), 0);

	assert_int_equal(acpi_pm1_restore(&b, &s1), 0);
	memset(&s2, 0x11, sizeof(s2));
	assert_int_equal(acpi_pm1_save(&b, &s2), 0);
	assert_memory_equal(&s1, &s2, sizeof(s1));
	assert_int_equal(pm1_rd16(&b, 2), pm1_rd16(&a, 2));
	assert_int_equal(pm1_rd16(&b, 4), pm1_rd16(&a, 4));
	assert_int_equal(pm1_rd16(&b, 0) & ~ACPI_PM1_TMR_STS,
			 ACPI_PM1_WAK_STS | ACPI_PM1_RTC);
	acpi_pm1_destroy(&a);
	acpi_pm1_destroy(&b);
}

/* ---- virtio devices: A on the fake driver's bus, B reached directly ---- */

static struct virtio_env env_nobus(struct fake_driver *f)
{
	struct virtio_env e = f->env;

	e.mmio = NULL;
	return e;
}

static int vsetup(void **state)
{
	struct fake_driver *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(fd_setup(f), 0);
	setup(state);
	*state = f;
	return 0;
}

static int vteardown(void **state)
{
	struct fake_driver *f = *state;

	teardown(state);
	fd_teardown(f);
	free(f);
	return 0;
}

/* One statistics entry (virtio 1.2 5.5.6.3: le16 tag, le64 value, packed). */
static uint32_t balloon_stat(struct fake_driver *f, uint64_t gpa, uint16_t tag, uint64_t val)
{
	uint8_t *p = fd_host(f, gpa, 10);

	memcpy(p, &tag, 2);
	memcpy(p + 2, &val, 8);
	return 10;
}

static void test_balloon(void **state)
{
	struct fake_driver *f = *state;
	struct virtio_env e2 = env_nobus(f);
	struct virtio_balloon_cfg cfg = { .deflate_on_oom = true, .stats_polling_interval_s = 3600 };
	struct virtio_balloon *a, *b;
	struct virtio_balloon_state *s1 = calloc(1, sizeof(*s1)), *s2 = calloc(1, sizeof(*s2));
	struct virtio_balloon_state *bad = calloc(1, sizeof(*bad));
	struct fd_seg seg = { FD_DATA_BASE, 0, false };
	struct virtio_balloon_info i;
	uint32_t actual = 42;

	assert_int_equal(virtio_balloon_create(&a, &cfg, &f->mem), 0);
	assert_int_equal(virtio_balloon_attach(a, &f->env, FD_MMIO_BASE, 5), 0);
	f->t = virtio_balloon_transport(a);
	assert_int_equal(fd_init(f, 3, 64, VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ)) &
			 VIRTIO_STATUS_NEEDS_RESET, 0);
	/* The driver's first statistics buffer: the device reads it and holds it. */
	seg.len = balloon_stat(f, FD_DATA_BASE, 4, 1234);
	fd_add_chain(f, VIRTIO_BALLOON_STATSQ, &seg, 1);
	fd_notify(f, VIRTIO_BALLOON_STATSQ);
	for (int k = 0; k < 2000; k++) {
		virtio_balloon_info(a, &i);
		if (i.stats_valid)
			break;
		usleep(1000);
	}
	assert_true(i.stats_valid);
	assert_int_equal(virtio_balloon_set_target(a, 3), 0);
	virtio_mmio_io(f->t, VIRTIO_MMIO_CONFIG + 4, (uint8_t *)&actual, 4, true);

	evloop_pause(virtio_balloon_loop(a));
	assert_int_equal(virtio_balloon_save(a, s1), 0);
	evloop_resume(virtio_balloon_loop(a));
	assert_int_equal(s1->num_pages, 3 * 256);
	assert_int_equal(s1->actual, 42);
	assert_int_equal(s1->stats_polling_interval_s, 3600);

	assert_int_equal(virtio_balloon_create(&b, &cfg, &f->mem), 0);
	assert_int_equal(virtio_balloon_attach(b, &e2, FD_MMIO_BASE, 5), 0);
	memcpy(bad, s1, sizeof(*bad));
	bad->pad[5] = 1;
	assert_refused(virtio_balloon_restore(b, bad), "pad");
	memcpy(bad, s1, sizeof(*bad));
	bad->num_pages = 17 * 256;                        /* past the 16 MiB of guest RAM */
	assert_refused(virtio_balloon_restore(b, bad), "num_pages");
	memcpy(bad, s1, sizeof(*bad));
	bad->stats_polling_interval_s = 0;
	assert_refused(virtio_balloon_restore(b, bad), "stats_polling_interval_s");

	assert_int_equal(virtio_balloon_restore(b, s1), 0);
	/* Held or not yet taken again, the held buffer saves as "not taken". */
	evloop_pause(virtio_balloon_loop(b));
	assert_int_equal(virtio_balloon_save(b, s2), 0);
	evloop_resume(virtio_balloon_loop(b));
	assert_memory_equal(s1, s2, sizeof(*s1));
	virtio_balloon_info(b, &i);
	assert_int_equal(i.target_pages, 3 * 256);
	assert_int_equal(i.actual_pages, 42);
	virtio_balloon_destroy(a);
	virtio_balloon_destroy(b);
	free(s1);
	free(s2);
	free(bad);
}

#define VS_CID 42

static void test_vsock(void **state)
{
	struct fake_driver *f = *state;
	struct virtio_env e2 = env_nobus(f);
	char dir[] = "/tmp/mvm-state-vsock-XXXXXX", ua[64], ub[64];
	struct virtio_vsock_cfg cfg = { .guest_cid = VS_CID };
	struct virtio_vsock *a, *b;
	struct virtio_vsock_state *s1 = calloc(1, sizeof(*s1)), *s2 = calloc(1, sizeof(*s2));
	struct virtio_vsock_state *bad = calloc(1, sizeof(*bad));
	struct fd_seg rx = { FD_DATA_BASE, 4096, true }, ev = { FD_DATA_BASE + 0x2000, 8, true };

	assert_non_null(mkdtemp(dir));
	snprintf(ua, sizeof(ua), "%s/a.sock", dir);
	snprintf(ub, sizeof(ub), "%s/b.sock", dir);
	cfg.uds_path = ua;
	assert_int_equal(virtio_vsock_create(&a, &cfg, &f->mem), 0);
	assert_int_equal(virtio_vsock_attach(a, &f->env, FD_MMIO_BASE, 5), 0);
	f->t = virtio_vsock_transport(a);
	assert_int_equal(fd_init(f, 3, 64, 0) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* rx buffers posted (the device takes none until it has a packet); no event buffer
	 * yet, so the restored device's TRANSPORT_RESET waits and the save is unchanged. */
	for (int k = 0; k < 4; k++)
		fd_add_chain(f, 0, &rx, 1);
	fd_notify(f, 0);

	evloop_pause(virtio_vsock_loop(a));
	assert_int_equal(virtio_vsock_save(a, s1), 0);
	evloop_resume(virtio_vsock_loop(a));
	assert_int_equal(s1->guest_cid, VS_CID);
	assert_int_equal(s1->transport.vq[0].size, 64);

	cfg.uds_path = ub;
	assert_int_equal(virtio_vsock_create(&b, &cfg, &f->mem), 0);
	assert_int_equal(virtio_vsock_attach(b, &e2, FD_MMIO_BASE, 5), 0);
	memcpy(bad, s1, sizeof(*bad));
	bad->guest_cid = VS_CID + 1;
	assert_refused(virtio_vsock_restore(b, bad), "guest_cid");

	assert_int_equal(virtio_vsock_restore(b, s1), 0);
	evloop_pause(virtio_vsock_loop(b));
	assert_int_equal(virtio_vsock_save(b, s2), 0);
	evloop_resume(virtio_vsock_loop(b));
	assert_memory_equal(s1, s2, sizeof(*s1));

	/* B goes on: the first event buffer carries the transport reset. */
	f->t = virtio_vsock_transport(b);
	memset(fd_host(f, ev.gpa, 8), 0xff, 8);
	fd_add_chain(f, 2, &ev, 1);
	fd_notify(f, 2);
	assert_true(fd_wait_used(f, 2, 1, 2000));
	assert_int_equal(fd_used_elem(f, 2, 0).len, 4);
	virtio_vsock_destroy(a);
	virtio_vsock_destroy(b);
	rmdir(dir);
	free(s1);
	free(s2);
	free(bad);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define V(f) cmocka_unit_test_setup_teardown(f, vsetup, vteardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pc_testdev),
		T(test_fw_cfg),
		T(test_acpi_pm1),
		V(test_balloon),
		V(test_vsock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
