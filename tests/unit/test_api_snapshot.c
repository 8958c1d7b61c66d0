/* test_api_snapshot.c - PUT /snapshot/create and /snapshot/load bodies (Firecracker's
 * fields, what mvm refuses by name), and vm_snapshot_open()'s checks of a state file
 * (vendor, versions, sections, sizes) without KVM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cpuid.h>
#include <cmocka.h>
#include <stdbool.h>
#include <json-c/json.h>

#include "api/snapshot.h"
#include "snap/format.h"
#include "util/log.h"
#include "core/vcpu_state.h"
#include "core/vm_state.h"
#include "vmm/snapshot.h"

static char err[1024];

static void quiet(enum log_level l, const char *m, void *c)
{
	(void)l; (void)m; (void)c;
}

static int setup(void **state)
{
	(void)state;
	err[0] = 0;
	log_set_sink(quiet, NULL);
	return 0;
}

static int create(const char *body, struct api_snapshot_create *req, json_object **doc)
{
	return fc_parse_snapshot_create(body, strlen(body), doc, req, err, sizeof(err));
}

static int load(const char *body, struct api_snapshot_load *req, json_object **doc)
{
	return fc_parse_snapshot_load(body, strlen(body), doc, req, err, sizeof(err));
}

static void test_create_full(void **state)
{
	struct api_snapshot_create req;
	json_object *doc = NULL;

	(void)state;
	assert_int_equal(create("{\"snapshot_type\": \"Full\", \"snapshot_path\": \"/a/s\", "
				"\"mem_file_path\": \"/a/m\"}", &req, &doc), 0);
	assert_string_equal(req.snapshot_path, "/a/s");
	assert_string_equal(req.mem_file_path, "/a/m");
	assert_false(req.diff);
	json_object_put(doc);
	/* snapshot_type defaults to Full, as Firecracker's. */
	assert_int_equal(create("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\"}", &req, &doc), 0);
	json_object_put(doc);
}

static void test_create_refusals(void **state)
{
	struct api_snapshot_create req;
	json_object *doc = NULL;

	(void)state;
	assert_int_equal(create("{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"s\", "
				"\"mem_file_path\": \"m\"}", &req, &doc), 0);
	assert_true(req.diff);
	json_object_put(doc);
	assert_int_equal(create("{\"snapshot_type\": \"Half\", \"snapshot_path\": \"s\", "
				"\"mem_file_path\": \"m\"}", &req, &doc), -EINVAL);
	assert_non_null(strstr(err, "snapshot_type"));
	assert_int_equal(create("{\"snapshot_path\": \"s\"}", &req, &doc), -EINVAL);
	assert_non_null(strstr(err, "mem_file_path"));
	assert_int_equal(create("{\"snapshot_path\": \"\", \"mem_file_path\": \"m\"}", &req, &doc),
			 -EINVAL);
	assert_non_null(strstr(err, "snapshot_path"));
	assert_int_equal(create("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", \"x\": 1}",
				&req, &doc), -EINVAL);
	assert_non_null(strstr(err, "x"));
	assert_int_equal(create("[1]", &req, &doc), -EINVAL);
}

static void test_load_backends(void **state)
{
	struct api_snapshot_load req;
	json_object *doc = NULL;

	(void)state;
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_backend\": {\"backend_type\": "
			      "\"File\", \"backend_path\": \"m\"}, \"resume_vm\": true}", &req, &doc), 0);
	assert_string_equal(req.mem_path, "m");
	assert_true(req.resume_vm);
	assert_false(req.track_dirty_pages);
	json_object_put(doc);
	/* The older mem_file_path and enable_diff_snapshots. */
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m2\", "
			      "\"enable_diff_snapshots\": true}", &req, &doc), 0);
	assert_string_equal(req.mem_path, "m2");
	assert_false(req.resume_vm);
	assert_true(req.track_dirty_pages);
	json_object_put(doc);
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_backend\": {\"backend_type\": "
			      "\"Uffd\", \"backend_path\": \"/sock\"}}", &req, &doc), -EINVAL);
	assert_non_null(strstr(err, "Uffd"));
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", \"mem_backend\": "
			      "{\"backend_type\": \"File\", \"backend_path\": \"m\"}}", &req, &doc), -EINVAL);
	assert_non_null(strstr(err, "not both"));
	assert_int_equal(load("{\"snapshot_path\": \"s\"}", &req, &doc), -EINVAL);
	assert_non_null(strstr(err, "mem_backend"));
	/* Firecracker's newer clock_realtime and huge_pages: what mvm does is taken, the rest
	 * refused by name. */
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", "
			      "\"clock_realtime\": true, \"huge_pages\": \"Snapshot\"}", &req, &doc), 0);
	json_object_put(doc);
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", "
			      "\"huge_pages\": \"None\", \"clock_realtime\": null}", &req, &doc), 0);
	json_object_put(doc);
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", "
			      "\"clock_realtime\": false}", &req, &doc), -EINVAL);
	assert_non_null(strstr(err, "clock_realtime: false is not supported"));
	assert_null(doc);
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", "
			      "\"huge_pages\": \"2M\"}", &req, &doc), -EINVAL);
	assert_string_equal(err, "huge_pages: '2M' is not one of Snapshot, None");
}

static void test_load_overrides(void **state)
{
	struct api_snapshot_load req;
	json_object *doc = NULL;

	(void)state;
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", "
			      "\"network_overrides\": [{\"iface_id\": \"eth0\", \"host_dev_name\": "
			      "\"tap7\"}]}", &req, &doc), 0);
	assert_int_equal(req.nr_overrides, 1);
	assert_string_equal(req.overrides[0].id, "eth0");
	assert_string_equal(req.overrides[0].value, "tap7");
	json_object_put(doc);
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", "
			      "\"network_overrides\": [{\"iface_id\": \"eth0\", \"host_dev_name\": "
			      "\"tap7,mac=x\"}]}", &req, &doc), -EINVAL);
	assert_non_null(strstr(err, "host_dev_name"));
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", "
			      "\"network_overrides\": [{\"iface_id\": \"eth0\"}]}", &req, &doc), -EINVAL);
	assert_non_null(strstr(err, "host_dev_name"));
}

static void test_load_drive_overrides(void **state)
{
	struct api_snapshot_load req;
	json_object *doc = NULL;

	(void)state;
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", "
			      "\"drive_overrides\": [{\"drive_id\": \"disk0\", \"path_on_host\": "
			      "\"/c/a.img\"}]}", &req, &doc), 0);
	assert_int_equal(req.nr_drives, 1);
	assert_string_equal(req.drives[0].id, "disk0");
	assert_string_equal(req.drives[0].value, "/c/a.img");
	json_object_put(doc);
	assert_int_equal(load("{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", "
			      "\"drive_overrides\": [{\"drive_id\": \"disk0\"}]}", &req, &doc), -EINVAL);
	assert_non_null(strstr(err, "path_on_host"));
	/* The command line's form. */
	memset(&req, 0, sizeof(req));
	assert_int_equal(api_parse_drive_override("rootfs=/x/y.img", &req, err, sizeof(err)), 0);
	assert_string_equal(req.drives[0].id, "rootfs");
	assert_string_equal(req.drives[0].value, "/x/y.img");
	assert_int_equal(api_parse_drive_override("=/x", &req, err, sizeof(err)), -EINVAL);
	assert_int_equal(api_parse_drive_override("disk0=", &req, err, sizeof(err)), -EINVAL);
	assert_int_equal(api_parse_drive_override("disk0", &req, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "DRIVE_ID=PATH"));
	assert_int_equal(api_parse_drive_override("bad id=/x", &req, err, sizeof(err)), -EINVAL);
	/* --override-net: network_overrides' entry, its interface name checked the same way. */
	assert_int_equal(api_parse_net_override("net0=tap7", &req, err, sizeof(err)), 0);
	assert_int_equal(req.nr_overrides, 1);
	assert_string_equal(req.overrides[0].id, "net0");
	assert_string_equal(req.overrides[0].value, "tap7");
	assert_int_equal(api_parse_net_override("net1=tap/7", &req, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an interface name"));
	assert_int_equal(api_parse_net_override("net1=0123456789abcdef", &req, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(api_parse_net_override("net1", &req, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "IFACE_ID=TAP"));
	assert_int_equal(req.nr_overrides, 1);
}

/* ---- vm_snapshot_open on files written here ---- */

static char dir[] = "/tmp/mvm-test-snap-XXXXXX";

static void host_vendor(char v[SNAP_VENDOR_LEN])
{
	unsigned a, b, c, d;

	memset(v, 0, SNAP_VENDOR_LEN);
	if (__get_cpuid(0, &a, &b, &c, &d)) {
		memcpy(v, &b, 4);
		memcpy(v + 4, &d, 4);
		memcpy(v + 8, &c, 4);
	}
}

/* A state file with the given vendor and machine section (NULL: none). */
static void write_state(const char *path, const char *vendor, const struct vm_snap_machine *m,
			uint32_t machine_version)
{
	struct snap_header_info hi = { .mvm_version = "test" };
	struct snap_writer w;

	if (vendor)
		memcpy(hi.cpu_vendor, vendor, SNAP_VENDOR_LEN);
	else
		host_vendor(hi.cpu_vendor);
	assert_int_equal(snap_writer_open(&w, path, &hi), 0);
	assert_int_equal(snap_write_section(&w, "config", 1, "{}", 2), 0);
	if (m)
		assert_int_equal(snap_write_section(&w, "machine", machine_version, m, sizeof(*m)), 0);
	assert_int_equal(snap_writer_commit(&w), 0);
}

static void test_open_refusals(void **state)
{
	struct vm_snap_machine m = { .nr_vcpus = 1, .mem_size = 256 << 20, .platform = "linux" };
	struct vm_snapshot s;
	char path[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vmstate", dir);

	write_state(path, "NotARealCPU!", &m, VM_SNAP_MACHINE_VERSION);
	assert_int_equal(vm_snapshot_open(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NotARealCPU!"));
	assert_non_null(strstr(err, path));

	write_state(path, NULL, NULL, 0);
	assert_int_equal(vm_snapshot_open(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "section machine is missing"));

	write_state(path, NULL, &m, VM_SNAP_MACHINE_VERSION + 1);
	assert_int_equal(vm_snapshot_open(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "section machine has version"));

	m.nr_vcpus = 0;
	write_state(path, NULL, &m, VM_SNAP_MACHINE_VERSION);
	assert_int_equal(vm_snapshot_open(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "out of range"));

	m.nr_vcpus = 1;
	snprintf(m.platform, sizeof(m.platform), "nonesuch");
	write_state(path, NULL, &m, VM_SNAP_MACHINE_VERSION);
	assert_int_equal(vm_snapshot_open(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "platform 'nonesuch' is not one this mvm has"));

	/* A tiny guest's snapshot is one this mvm restores: past the machine section. */
	snprintf(m.platform, sizeof(m.platform), "tiny");
	write_state(path, NULL, &m, VM_SNAP_MACHINE_VERSION);
	assert_int_equal(vm_snapshot_open(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "section kvm is missing"));

	/* A valid machine but no kvm section: named. */
	snprintf(m.platform, sizeof(m.platform), "linux");
	write_state(path, NULL, &m, VM_SNAP_MACHINE_VERSION);
	assert_int_equal(vm_snapshot_open(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "section kvm is missing"));
	unlink(path);
	rmdir(dir);
}

/* A state file vm_snapshot_open takes, plus the extra section when given. */
static void write_full_state(const char *path, const char *extra, bool drop_dev)
{
	struct snap_header_info hi = { .mvm_version = "test" };
	struct vm_snap_machine m = { .nr_vcpus = 1, .nr_devices = 1, .mem_size = 256 << 20,
				     .platform = "linux" };
	struct vm_snap_device dev = { .kind = "uart", .state_version = 3, .state_size = 8 };
	static struct vm_kvm_state ks;
	static struct vcpu_state vs;
	struct snap_writer w;
	uint64_t devstate = 0;

	memset(&ks, 0, sizeof(ks));
	ks.version = VM_STATE_VERSION;
	ks.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	ks.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	ks.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	memset(&vs, 0, sizeof(vs));
	vs.version = VCPU_STATE_VERSION;
	vs.xsave_size = VCPU_STATE_XSAVE_MIN;
	vs.cpuid_nent = 1;
	host_vendor(hi.cpu_vendor);
	assert_int_equal(snap_writer_open(&w, path, &hi), 0);
	assert_int_equal(snap_write_section(&w, "config", 1, "{}", 2), 0);
	assert_int_equal(snap_write_section(&w, "machine", VM_SNAP_MACHINE_VERSION, &m, sizeof(m)), 0);
	assert_int_equal(snap_write_section(&w, "kvm", VM_STATE_VERSION, &ks, sizeof(ks)), 0);
	assert_int_equal(snap_write_section(&w, "vcpu0", VCPU_STATE_VERSION, &vs, sizeof(vs)), 0);
	assert_int_equal(snap_write_section(&w, "devices", VM_SNAP_DEVICES_VERSION, &dev,
					    sizeof(dev)), 0);
	if (!drop_dev)
		assert_int_equal(snap_write_section(&w, "dev.uart0", 3, &devstate, 8), 0);
	if (extra)
		assert_int_equal(snap_write_section(&w, extra, 1, "x", 1), 0);
	assert_int_equal(snap_writer_commit(&w), 0);
}

static void test_open_sections(void **state)
{
	char d[] = "/tmp/mvm-test-snap2-XXXXXX", path[64];
	struct vm_snapshot s;

	(void)state;
	assert_non_null(mkdtemp(d));
	snprintf(path, sizeof(path), "%s/vmstate", d);
	write_full_state(path, NULL, false);
	if (vm_snapshot_open(&s, path, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(s.machine.nr_vcpus, 1);
	assert_int_equal(s.config_len, 2);
	vm_snapshot_close(&s);
	/* A section this mvm does not know: refused by name. */
	write_full_state(path, "balloon0", false);
	assert_int_equal(vm_snapshot_open(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "section balloon0 is unknown"));
	/* A device state the plan lists but the file lacks. */
	write_full_state(path, NULL, true);
	assert_int_equal(vm_snapshot_open(&s, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "section dev.uart0 is missing"));
	unlink(path);
	rmdir(d);
}

static void test_restore_needs_empty_config(void **state)
{
	struct vm_config cfg = { .nr_cpus = 1, .kernel_path = "/vmlinuz" };
	struct api_snapshot_load req = { .snapshot_path = "/nonexistent", .mem_path = "/x" };
	int status = 0;

	(void)state;
	assert_true(api_config_has_vm(&cfg));
	assert_int_equal(api_snapshot_restore(NULL, &cfg, &req, &status, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not allowed after configuring"));
	assert_int_equal(status, 2);
	cfg.kernel_path = NULL;
	assert_false(api_config_has_vm(&cfg));
	/* A missing state file: named, the user's. */
	assert_int_not_equal(api_snapshot_restore(NULL, &cfg, &req, &status, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "/nonexistent"));
	assert_int_equal(status, 2);
}

static void test_clock_forward(void **state)
{
	struct kvm_clock_data c = { .clock = 1000 };

	(void)state;
	vm_snapshot_clock_forward(&c, 5000000000ull, 8000000000ull);
	assert_int_equal(c.clock, 1000 + 3000000000ull);
	/* The host's clock went back: nothing added. */
	c.clock = 1000;
	vm_snapshot_clock_forward(&c, 8000000000ull, 5000000000ull);
	assert_int_equal(c.clock, 1000);
	/* KVM_CLOCK_REALTIME: KVM adds the elapsed time itself. */
	c.flags = KVM_CLOCK_REALTIME;
	vm_snapshot_clock_forward(&c, 5000000000ull, 8000000000ull);
	assert_int_equal(c.clock, 1000);
	/* No saved real time (an older file): nothing to go by. */
	c.flags = 0;
	vm_snapshot_clock_forward(&c, 0, 8000000000ull);
	assert_int_equal(c.clock, 1000);
}

static void test_tsc_forward(void **state)
{
	static struct vcpu_state st;

	(void)state;
	memset(&st, 0, sizeof(st));
	st.tsc_khz = 2000000;   /* 2 GHz */
	st.nmsrs = 2;
	st.msrs[0].index = VCPU_MSR_LSTAR;
	st.msrs[0].data = 7;
	st.msrs[1].index = VCPU_MSR_IA32_TSC;
	st.msrs[1].data = 1000;
	vm_snapshot_tsc_forward(&st, 3000000000ull);          /* 3 s away */
	assert_int_equal(st.msrs[1].data, 1000 + 6000000000ull);
	assert_int_equal(st.msrs[0].data, 7);
	/* A day away at 4 GHz does not overflow the arithmetic. */
	st.tsc_khz = 4000000;
	st.msrs[1].data = 0;
	vm_snapshot_tsc_forward(&st, 86400ull * 1000000000ull);
	assert_int_equal(st.msrs[1].data, 86400ull * 4000000000ull);
	/* No frequency known: left alone. */
	st.tsc_khz = 0;
	st.msrs[1].data = 5;
	vm_snapshot_tsc_forward(&st, 1000000000ull);
	assert_int_equal(st.msrs[1].data, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_create_full, setup),
		cmocka_unit_test_setup(test_create_refusals, setup),
		cmocka_unit_test_setup(test_load_backends, setup),
		cmocka_unit_test_setup(test_load_overrides, setup),
		cmocka_unit_test_setup(test_load_drive_overrides, setup),
		cmocka_unit_test_setup(test_open_refusals, setup),
		cmocka_unit_test_setup(test_restore_needs_empty_config, setup),
		cmocka_unit_test_setup(test_clock_forward, setup),
		cmocka_unit_test_setup(test_open_sections, setup),
		cmocka_unit_test_setup(test_tsc_forward, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
