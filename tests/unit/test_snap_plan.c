/* test_snap_plan.c - vm_snapshot_plan(): which device sections a snapshot writes, decided
 * without KVM. A device whose state cannot be saved refuses the whole save by name; an
 * instance that is not there, or a stateless one, gets no section; every kind in the
 * registry is either saved or stateless. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/device.h"
#include "core/vm_config.h"
#include "snap/format.h"
#include "vmm/devices.h"
#include "vmm/snap_plan.h"

/* ---- kinds made for the test: the plan calls none of their hooks ---- */

static int never_save(void *dev, void *state, size_t len)
{
	(void)dev;
	(void)state;
	(void)len;
	fail_msg("the plan must not call save");
	return -EIO;
}

static int never_restore(void *dev, const void *state, size_t len)
{
	(void)dev;
	(void)state;
	(void)len;
	fail_msg("the plan must not call restore");
	return -EIO;
}

static const struct device_kind saved_kind = {
	.name = "fake-saved", .short_name = "saved", .state_size = 24, .state_version = 3,
	.save = never_save, .restore = never_restore,
};
static const struct device_kind stateless_kind = {
	.name = "fake-stateless", .short_name = "none", .stateless = true,
};
/* State, but no way to save it (what pc-testdev was). */
static const struct device_kind unsaved_kind = {
	.name = "fake-unsaved", .short_name = "unsaved",
};
/* Half a pair: a save with no restore could write what nothing reads back. */
static const struct device_kind half_kind = {
	.name = "fake-half", .short_name = "half", .state_size = 8, .state_version = 1,
	.save = never_save,
};
static const struct device_kind sizeless_kind = {
	.name = "fake-sizeless", .short_name = "sizeless", .save = never_save,
	.restore = never_restore,
};
static const struct device_kind long_kind = {
	.name = "fake-long", .short_name = "twelve_chars", .state_size = 8, .state_version = 1,
	.save = never_save, .restore = never_restore,
};

static int instance;   /* what a slot's dev points at: the plan only looks at NULL or not */

static void add(struct vm_devices *d, const struct device_kind *kind, int index, bool present)
{
	struct vm_device *s = &d->slots[d->nr_slots];

	*s = (struct vm_device){ .kind = kind, .index = index, .dev = present ? &instance : NULL,
				 .base = 0xd0000000ull + 0x1000ull * (uint64_t)d->nr_slots,
				 .gsi = 5 + (uint32_t)d->nr_slots };
	d->nr_slots++;
}

static struct vm_devices devs;

static int setup(void **state)
{
	(void)state;
	memset(&devs, 0, sizeof(devs));
	return 0;
}

/* Saved kinds get their section; a stateless instance and a missing one get none; every
 * slot is in the plan with its window and GSI. */
static void test_sections(void **state)
{
	struct vm_snap_device plan[8];
	char err[256] = "", name[SNAP_NAME_LEN + 1];

	(void)state;
	add(&devs, &saved_kind, 0, true);
	add(&devs, &stateless_kind, 0, true);
	add(&devs, &saved_kind, 1, false);      /* a kind with save, no instance: skipped */
	add(&devs, &unsaved_kind, 0, false);    /* no instance: nothing to lose */
	add(&devs, &saved_kind, 2, true);
	memset(plan, 0xa5, sizeof(plan));
	assert_int_equal(vm_snapshot_plan(&devs, plan, err, sizeof(err)), 0);
	assert_string_equal(err, "");

	assert_string_equal(plan[0].kind, "saved");
	assert_int_equal(plan[0].index, 0);
	assert_int_equal(plan[0].state_version, 3);
	assert_int_equal(plan[0].state_size, 24);
	assert_int_equal(plan[0].base, 0xd0000000ull);
	assert_int_equal(plan[0].gsi, 5);
	assert_int_equal(vm_snap_device_section(&plan[0], name, sizeof(name)), 0);
	assert_string_equal(name, "dev.saved0");

	assert_string_equal(plan[1].kind, "none");
	assert_int_equal(plan[1].state_size, 0);
	assert_int_equal(plan[1].state_version, 0);
	assert_string_equal(plan[2].kind, "saved");
	assert_int_equal(plan[2].index, 1);
	assert_int_equal(plan[2].state_size, 0);
	assert_int_equal(plan[2].gsi, 7);
	assert_string_equal(plan[3].kind, "unsaved");
	assert_int_equal(plan[3].state_size, 0);
	assert_int_equal(plan[4].index, 2);
	assert_int_equal(plan[4].state_size, 24);
	assert_int_equal(plan[4].base, 0xd0004000ull);
	/* The kind field is NUL-padded: the file holds no stack bytes. */
	for (size_t i = strlen("saved"); i < sizeof(plan[0].kind); i++)
		assert_int_equal(plan[0].kind[i], 0);
	/* Without a plan to fill, the same decision. */
	assert_int_equal(vm_snapshot_plan(&devs, NULL, err, sizeof(err)), 0);
}

/* An instance whose state cannot be saved refuses the save, named, wherever it is. */
static void test_refused_by_name(void **state)
{
	char err[256] = "";

	(void)state;
	add(&devs, &saved_kind, 0, true);
	add(&devs, &stateless_kind, 0, true);
	add(&devs, &unsaved_kind, 1, true);
	assert_int_equal(vm_snapshot_plan(&devs, NULL, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "fake-unsaved 1 (dev.unsaved1) keeps guest state this mvm cannot "
			    "save: the VM cannot be snapshotted or migrated");

	memset(&devs, 0, sizeof(devs));
	add(&devs, &half_kind, 0, true);
	assert_int_equal(vm_snapshot_plan(&devs, NULL, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "fake-half 0 (dev.half0)"));

	memset(&devs, 0, sizeof(devs));
	add(&devs, &sizeless_kind, 0, true);
	assert_int_equal(vm_snapshot_plan(&devs, NULL, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "fake-sizeless 0"));
}

/* A section name that would be cut to the file's 16 bytes is refused, not shortened. */
static void test_names(void **state)
{
	struct vm_snap_device e = { .kind = "blk", .index = 7 };
	char name[SNAP_NAME_LEN + 1], err[256] = "";

	(void)state;
	assert_int_equal(vm_snap_device_section(&e, name, sizeof(name)), 0);
	assert_string_equal(name, "dev.blk7");
	snprintf(e.kind, sizeof(e.kind), "pc_testdev");
	e.index = 0;
	assert_int_equal(vm_snap_device_section(&e, name, sizeof(name)), 0);
	assert_string_equal(name, "dev.pc_testdev0");      /* 15 bytes */
	e.index = 10;
	assert_int_equal(vm_snap_device_section(&e, name, sizeof(name)), 0);   /* 16: fits */
	e.index = 100;
	assert_int_equal(vm_snap_device_section(&e, name, sizeof(name)), -ENAMETOOLONG);
	memset(e.kind, 'k', sizeof(e.kind));                /* no NUL: not a name */
	assert_int_equal(vm_snap_device_section(&e, name, sizeof(name)), -ENAMETOOLONG);

	add(&devs, &long_kind, 0, true);
	assert_int_equal(vm_snapshot_plan(&devs, NULL, err, sizeof(err)), -ENAMETOOLONG);
	assert_non_null(strstr(err, "fake-long 0"));
	assert_non_null(strstr(err, "dev.twelve_chars0"));
}

/* The registry itself: with every kind asked for, each instance is saved or stateless, so
 * no VM mvm can build is refused or loses a device's state; pc-testdev is saved. */
static void test_registry(void **state)
{
	struct vm_config cfg;
	struct vm_snap_device plan[VM_MAX_DEVICES];
	char err[256] = "", name[SNAP_NAME_LEN + 1];
	bool pc_testdev = false, debug_exit = false;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.nr_cpus = 1;
	cfg.nr_disks = VM_MAX_DISKS;
	/* Two interfaces short of the most: the four single virtio kinds then fit the GSIs. */
	cfg.nr_nets = VM_MAX_NETS - 2;
	cfg.rng = true;
	cfg.vsock_uds = "/tmp/v.sock";
	cfg.balloon.enabled = true;
	cfg.console = VM_CONSOLE_VIRTIO;
	cfg.debug_exit = true;
	cfg.pc_testdev = true;
	cfg.fw_cfg = true;
	cfg.legacy_pm = true;
	assert_int_equal(vm_devices_plan(&devs, &cfg), 0);
	for (int i = 0; i < devs.nr_slots; i++)
		devs.slots[i].dev = &instance;
	assert_int_equal(vm_snapshot_plan(&devs, plan, err, sizeof(err)), 0);
	for (int i = 0; i < devs.nr_slots; i++) {
		const struct device_kind *k = devs.slots[i].kind;

		assert_int_equal(vm_snap_device_section(&plan[i], name, sizeof(name)), 0);
		if (k->stateless) {
			assert_null(k->save);
			assert_int_equal(plan[i].state_size, 0);
		} else {
			assert_int_equal(plan[i].state_size, k->state_size);
			assert_int_equal(plan[i].state_version, k->state_version);
		}
		pc_testdev |= !strcmp(plan[i].kind, "pc_testdev") && plan[i].state_size > 0;
		debug_exit |= !strcmp(plan[i].kind, "debug_exit");
	}
	assert_true(pc_testdev);
	assert_true(debug_exit);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, NULL)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_sections),
		T(test_refused_by_name),
		T(test_names),
		T(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
