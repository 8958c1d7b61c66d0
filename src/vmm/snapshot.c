/* snapshot.c - a paused VM's state into a state file and a memory file, and back. */
#include "vmm/snapshot.h"
#include "platform/platform.h"
#include "core/cpuid.h"
#include "snap/memfile.h"
#include "util/bench_probe.h"
#include "util/log.h"
#include "vmm/devices.h"
#include "vmm/state.h"

#include <cpuid.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MVM_VERSION
#define MVM_VERSION "0.1.0"
#endif

static int snap_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int snap_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* The host CPU's vendor string (CPUID leaf 0): a snapshot moves only between
 * CPUs of one vendor (the guest's CPUID and MSRs name it). */
static void host_cpu_vendor(char out[SNAP_VENDOR_LEN + 1])
{
	unsigned a, b, c, d;

	memset(out, 0, SNAP_VENDOR_LEN + 1);
	if (!__get_cpuid(0, &a, &b, &c, &d))
		return;
	memcpy(out, &b, 4);
	memcpy(out + 4, &d, 4);
	memcpy(out + 8, &c, 4);
}

static uint64_t realtime_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vm_snapshot_clock_forward(struct kvm_clock_data *clock, uint64_t saved_realtime_ns,
			       uint64_t now_realtime_ns)
{
	if ((clock->flags & KVM_CLOCK_REALTIME) || !saved_realtime_ns ||
	    now_realtime_ns <= saved_realtime_ns)
		return;
	clock->clock += now_realtime_ns - saved_realtime_ns;
}

void vm_snapshot_tsc_forward(struct vcpu_state *st, uint64_t away_ns)
{
	if (!st->tsc_khz || !away_ns)
		return;
	for (uint32_t i = 0; i < st->nmsrs && i < VCPU_STATE_MAX_MSRS; i++) {
		if (st->msrs[i].index != VCPU_MSR_IA32_TSC)
			continue;
		/* kHz * ns / 1e6 = ticks; split to stay within 64 bits for long absences. */
		st->msrs[i].data += (away_ns / 1000000) * st->tsc_khz +
				    (away_ns % 1000000) * st->tsc_khz / 1000000;
		return;
	}
}

static uint64_t snapshot_new_id(void)
{
	uint64_t id = 0;

	while (!id && getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = realtime_now_ns();
	return id;
}

/* Pages written since the last take: KVM's dirty log of every memslot (the
 * vCPUs' writes; reading it starts a new one) and gmem's marks (mvm's
 * threads), one bit per page of the RAM mapping, into bitmap. */
int vm_take_dirty_log(struct vm *vm, uint64_t *bitmap, char *err, size_t errlen)
{
	for (int i = 0; i < vm->mem.nr_regions; i++) {
		const struct gmem_region *r = &vm->mem.regions[i];
		size_t words = (size_t)((r->size / 4096 + 63) / 64);
		uint64_t first = (uint64_t)(r->host - vm->mem.base) / 4096;
		uint64_t *log = calloc(words, sizeof(uint64_t));
		struct kvm_dirty_log dl = { .slot = (uint32_t)i, .dirty_bitmap = log };

		if (!log)
			return snap_fail(err, errlen, -ENOMEM, "out of memory for the dirty log");
		if (ioctl(vm->fd, KVM_GET_DIRTY_LOG, &dl) < 0) {
			int e = -errno;

			free(log);
			return snap_fail(err, errlen, e, "KVM_GET_DIRTY_LOG (slot %d): %s", i,
					 strerror(-e));
		}
		/* Regions start on 64-page boundaries of the mapping (the MMIO
		 * hole is 1 GiB aligned): whole words line up. */
		for (size_t w = 0; w < words; w++)
			bitmap[first / 64 + w] |= log[w];
		free(log);
	}
	gmem_dirty_take(&vm->mem, bitmap);
	return 0;
}

int vm_clear_dirty_log(struct vm *vm, const uint64_t *bits, uint64_t first, uint64_t n)
{
	for (int i = 0; i < vm->mem.nr_regions; i++) {
		const struct gmem_region *r = &vm->mem.regions[i];
		uint64_t r_first = (uint64_t)(r->host - vm->mem.base) / 4096, r_n = r->size / 4096;
		uint64_t lo = first > r_first ? first : r_first;
		uint64_t hi = first + n < r_first + r_n ? first + n : r_first + r_n;

		if (lo >= hi)
			continue;
		/* Regions start on 64-page boundaries of the mapping, so lo - first
		 * is whole words, and lo - r_first the multiple of 64 KVM wants. */
		struct kvm_clear_dirty_log cl = {
			.slot = (uint32_t)i, .first_page = lo - r_first, .num_pages = (uint32_t)(hi - lo),
			.dirty_bitmap = (void *)(bits + (lo - first) / 64),
		};

		if (ioctl(vm->fd, KVM_CLEAR_DIRTY_LOG, &cl) < 0)
			return -errno;
	}
	return 0;
}

/* The section of a slot's state (vm_snapshot_plan() has checked that it fits). */
static int dev_section_name(const struct vm_device *d, char *name, size_t len)
{
	struct vm_snap_device e = { .index = (uint32_t)d->index };

	snprintf(e.kind, sizeof(e.kind), "%s", d->kind->short_name);
	return vm_snap_device_section(&e, name, len);
}

static void vcpu_section_name(int i, char *name, size_t len)
{
	snprintf(name, len, "vcpu%d", i);
}

/* ---- save ---------------------------------------------------------------------------------- */

/* The device whose save took longest (where a migration's "devices saved" time goes). */
struct dev_save_timing {
	char slowest[SNAP_NAME_LEN + 1];
	double slowest_ms;
};

/* Every section vm_snapshot_plan() decides on; the plan goes into "devices". */

static int save_devices(struct vm *vm, struct snap_writer *w, struct dev_save_timing *t,
			char *err, size_t errlen)
{
	struct vm_devices *d = vm->devices;
	struct vm_snap_device *plan = calloc((size_t)d->nr_slots + 1, sizeof(*plan));
	int ret = 0;

	if (!plan)
		return snap_fail(err, errlen, -ENOMEM, "out of memory for the device plan");
	if ((ret = vm_snapshot_plan(d, plan, err, errlen))) {
		free(plan);
		return ret;
	}
	for (int i = 0; i < d->nr_slots && !ret; i++) {
		const struct vm_device *s = &d->slots[i];
		const struct vm_snap_device *p = &plan[i];
		char name[SNAP_NAME_LEN + 1];
		void *state;

		if (!p->state_size)
			continue;
		state = calloc(1, s->kind->state_size);
		if (!state) {
			ret = snap_fail(err, errlen, -ENOMEM, "out of memory for %s %d's state",
					s->kind->name, s->index);
			break;
		}
		vm_snap_device_section(p, name, sizeof(name));
		uint64_t t0 = bench_probe_now_ns();

		ret = s->kind->save(s->dev, state, s->kind->state_size);
		double ms = (bench_probe_now_ns() - t0) / 1e6;

		if (t && ms > t->slowest_ms) {
			t->slowest_ms = ms;
			snprintf(t->slowest, sizeof(t->slowest), "%s", name);
		}
		if (ret)
			snap_fail(err, errlen, ret, "%s %d: cannot save its state: %s", s->kind->name,
				  s->index, strerror(-ret));
		else if ((ret = snap_write_section(w, name, p->state_version, state,
						   s->kind->state_size)))
			snap_fail(err, errlen, ret, "writing section %s: %s", name, strerror(-ret));
		free(state);
	}
	if (!ret && (ret = snap_write_section(w, "devices", VM_SNAP_DEVICES_VERSION, plan,
					      (size_t)d->nr_slots * sizeof(*plan))))
		snap_fail(err, errlen, ret, "writing section devices: %s", strerror(-ret));
	free(plan);
	return ret;
}

static void state_header(struct snap_header_info *hi, const struct vm_snap_machine *mach)
{
	char vendor[SNAP_VENDOR_LEN + 1];

	*hi = (struct snap_header_info){ .mvm_version = MVM_VERSION,
					 .flags = mach->parent_id ? SNAP_F_DIFF : 0 };
	host_cpu_vendor(vendor);
	memcpy(hi->cpu_vendor, vendor, SNAP_VENDOR_LEN);
}

/* Every section of a state file into w (opened by the caller); aborts w on failure. */
static int write_state_sections(struct vm *vm, struct snap_writer *w, const char *config_json,
				const struct vcpu_state *vcpus,
				const struct vm_kvm_state *kvm_state,
				const struct vm_snap_machine *mach, struct dev_save_timing *t,
				char *err, size_t errlen)
{
	struct vm_snap_machine m = *mach;
	char name[SNAP_NAME_LEN + 1];
	int ret;

	m.realtime_ns = realtime_now_ns();
	ret = snap_write_section(w, "config", 1, config_json, strlen(config_json));
	if (!ret)
		ret = snap_write_section(w, "machine", VM_SNAP_MACHINE_VERSION, &m, sizeof(m));
	if (!ret)
		ret = snap_write_section(w, "kvm", VM_STATE_VERSION, kvm_state, sizeof(*kvm_state));
	for (int i = 0; !ret && i < vm->nr_vcpus; i++) {
		vcpu_section_name(i, name, sizeof(name));
		ret = snap_write_section(w, name, VCPU_STATE_VERSION, &vcpus[i], sizeof(vcpus[i]));
	}
	if (ret) {
		snap_fail(err, errlen, ret, "%s", snap_writer_msg(w));
		snap_writer_abort(w);
		return ret;
	}
	if ((ret = save_devices(vm, w, t, err, errlen))) {
		snap_writer_abort(w);
		return ret;
	}
	return 0;
}

static int save_state_file(struct vm *vm, const char *path, const char *config_json,
			   const struct vcpu_state *vcpus, const struct vm_kvm_state *kvm_state,
			   const struct vm_snap_machine *mach, char *err, size_t errlen)
{
	struct snap_header_info hi;
	struct snap_writer w;
	int ret;

	state_header(&hi, mach);
	if ((ret = snap_writer_open(&w, path, &hi)))
		return snap_fail(err, errlen, ret, "%s", snap_writer_msg(&w));
	if ((ret = write_state_sections(vm, &w, config_json, vcpus, kvm_state, mach, NULL,
					 err, errlen)))
		return ret;
	if ((ret = snap_writer_commit(&w))) {
		snap_fail(err, errlen, ret, "%s", snap_writer_msg(&w));
		snap_writer_abort(&w);
		return ret;
	}
	return 0;
}

int vm_snapshot_save(struct vm *vm, const char *state_path, const char *mem_path,
		     const char *config_json, bool diff, struct vm_snapshot_info *info,
		     char *err, size_t errlen)
{
	struct vm_snap_machine m = {
		.nr_vcpus = (uint32_t)vm->nr_vcpus, .nr_devices = (uint32_t)vm->devices->nr_slots,
		.mem_size = vm->mem.ram_size, .id = snapshot_new_id(),
		.parent_id = diff ? vm->snap_base_id : 0,
	};
	struct vcpu_state *vcpus = NULL;
	struct vm_kvm_state *kvm_state = NULL;
	struct snap_mem_stats ms = { 0 };
	uint64_t *dirty = NULL;
	struct stat st;
	uint64_t t0, t1;
	int ret;

	memset(info, 0, sizeof(*info));
	if (!vm_is_paused(vm))
		return snap_fail(err, errlen, -EBUSY, "the VM is running: pause it first "
				 "(PATCH /vm {\"state\": \"Paused\"})");
	if (vm->hyperv)
		return snap_fail(err, errlen, -ENOTSUP, "the VM runs with --cpu-hyperv: mvm does "
				 "not save KVM's Hyper-V SynIC and synthetic timer state, so it "
				 "cannot be snapshotted");
	if (vm->sleep_ops && vm->sleep_ops->is_asleep(vm))
		return snap_fail(err, errlen, -EBUSY, "the guest is in ACPI S3 sleep: mvm does not "
				 "save a sleeping VM (resume it to wake it, then snapshot)");
	/* Before the dirty log is taken: a refusal here loses nothing. */
	if ((ret = vm_snapshot_plan(vm->devices, NULL, err, errlen)))
		return ret;
	if (diff && !vm->track_dirty)
		return snap_fail(err, errlen, -EINVAL, "a Diff snapshot needs dirty page tracking "
				 "(machine-config track_dirty_pages, or enable_diff_snapshots on "
				 "load)");
	if (diff && !vm->snap_base_id)
		return snap_fail(err, errlen, -EINVAL, "a Diff snapshot needs a base: take a Full "
				 "snapshot first (or restore from one)");
	snprintf(m.platform, sizeof(m.platform), "%s", vm->platform.ops->name);
	vcpus = calloc((size_t)vm->nr_vcpus, sizeof(*vcpus));
	kvm_state = calloc(1, sizeof(*kvm_state));
	dirty = vm->track_dirty ? calloc(gmem_dirty_words(&vm->mem), sizeof(uint64_t)) : NULL;
	if (!vcpus || !kvm_state || (vm->track_dirty && !dirty)) {
		ret = snap_fail(err, errlen, -ENOMEM, "out of memory for the vCPU states");
		goto out;
	}
	t0 = bench_probe_now_ns();
	/* From here a failure loses what was dirty since the base. */
	if (vm->track_dirty) {
		vm->snap_base_id = 0;
		if ((ret = vm_take_dirty_log(vm, dirty, err, errlen)))
			goto out;
	}
	if ((ret = vm_state_read(vm, vcpus, kvm_state))) {
		snap_fail(err, errlen, ret, "reading the vCPUs' and the VM's state from KVM: %s",
			  strerror(-ret));
		goto out;
	}
	if ((ret = save_state_file(vm, state_path, config_json, vcpus, kvm_state, &m, err, errlen)))
		goto out;
	t1 = bench_probe_now_ns();
	struct snap_mem_region ram = { .host = vm->mem.base, .len = vm->mem.ram_size,
				       .dirty = diff ? dirty : NULL };

	ret = snap_mem_save(mem_path, vm->mem.ram_size, &ram, 1, &ms, err, errlen);
	if (ret) {
		unlink(state_path);   /* half a snapshot is no snapshot */
		goto out;
	}
	if (vm->track_dirty)
		vm->snap_base_id = m.id;
	info->diff = diff;
	info->state_ms = (t1 - t0) / 1e6;
	info->mem_ms = (bench_probe_now_ns() - t1) / 1e6;
	info->mem_bytes = vm->mem.ram_size;
	info->mem_written = ms.bytes_written;
	info->state_bytes = stat(state_path, &st) ? 0 : (uint64_t)st.st_size;
	log_info("%s snapshot: %s (%llu bytes, %.1f ms) and %s (%llu MiB of RAM, %llu KiB written, "
		 "%.1f ms)", diff ? "Diff" : "Full", state_path,
		 (unsigned long long)info->state_bytes, info->state_ms, mem_path,
		 (unsigned long long)(info->mem_bytes >> 20),
		 (unsigned long long)(info->mem_written >> 10), info->mem_ms);
out:
	free(vcpus);
	free(kvm_state);
	free(dirty);
	return ret;
}

int vm_snapshot_state_blob(struct vm *vm, const char *config_json, uint8_t **buf, size_t *len,
			   char *err, size_t errlen)
{
	struct vm_snap_machine m = {
		.nr_vcpus = (uint32_t)vm->nr_vcpus, .nr_devices = (uint32_t)vm->devices->nr_slots,
		.mem_size = vm->mem.ram_size, .id = snapshot_new_id(),
	};
	struct vcpu_state *vcpus = calloc((size_t)vm->nr_vcpus, sizeof(*vcpus));
	struct vm_kvm_state *kvm_state = calloc(1, sizeof(*kvm_state));
	struct dev_save_timing dt = { .slowest_ms = 0 };
	struct snap_header_info hi;
	struct snap_writer w;
	uint64_t t0, t_read;
	int ret;

	*buf = NULL;
	*len = 0;
	snprintf(m.platform, sizeof(m.platform), "%s", vm->platform.ops->name);
	if (!vcpus || !kvm_state) {
		ret = snap_fail(err, errlen, -ENOMEM, "out of memory for the vCPU states");
		goto out;
	}
	if (!vm_is_paused(vm)) {
		ret = snap_fail(err, errlen, -EBUSY, "the VM is running");
		goto out;
	}
	/* Checked again here, paused: a guest can go to sleep after the caller's
	 * first look (a migration's pre-copy runs it), and its state would
	 * resume past the sleep write with no wake. */
	if (vm->sleep_ops && vm->sleep_ops->is_asleep(vm)) {
		ret = snap_fail(err, errlen, -EBUSY, "the guest went into ACPI S3 sleep: mvm does "
				"not save a sleeping VM");
		goto out;
	}
	t0 = bench_probe_now_ns();
	if ((ret = vm_state_read(vm, vcpus, kvm_state))) {
		snap_fail(err, errlen, ret, "reading the vCPUs' and the VM's state from KVM: %s",
			  strerror(-ret));
		goto out;
	}
	t_read = bench_probe_now_ns();
	state_header(&hi, &m);
	if ((ret = snap_writer_open_mem(&w, "(migration state)", &hi))) {
		snap_fail(err, errlen, ret, "%s", snap_writer_msg(&w));
		goto out;
	}
	if ((ret = write_state_sections(vm, &w, config_json, vcpus, kvm_state, &m, &dt,
					err, errlen)))
		goto out;
	if ((ret = snap_writer_take(&w, buf, len)))
		snap_fail(err, errlen, ret, "%s", snap_writer_msg(&w));
	else    /* where a migration's "state built" time goes (docs/performance.md) */
		log_info("migration: state: %d vCPUs and the VM read from KVM in %.1f ms, devices "
			 "saved and sections written in %.1f ms (%zu bytes; slowest device %s, "
			 "%.1f ms)", vm->nr_vcpus, (t_read - t0) / 1e6,
			 (bench_probe_now_ns() - t_read) / 1e6, *len,
			 dt.slowest[0] ? dt.slowest : "none", dt.slowest_ms);
out:
	free(vcpus);
	free(kvm_state);
	return ret;
}

/* ---- open and check ------------------------------------------------------------------------ */

/* Section name of exactly the given version and size; else a message. */
static int want_section(struct vm_snapshot *s, const char *name, uint32_t version,
			size_t size, const void **data, char *err, size_t errlen)
{
	uint32_t v;
	size_t len;

	if (snap_find(&s->reader, name, &v, data, &len))
		return snap_fail(err, errlen, -EINVAL, "%s: section %s is missing", s->path, name);
	if (v != version)
		return snap_fail(err, errlen, -EINVAL, "%s: section %s has version %u; this mvm "
				 "reads version %u", s->path, name, v, version);
	if (size && len != size)
		return snap_fail(err, errlen, -EINVAL, "%s: section %s is %zu bytes, expected %zu",
				 s->path, name, len, size);
	return 0;
}

static int snapshot_check(struct vm_snapshot *s, const char *path, bool allow_diff, char *err,
			  size_t errlen);

static int snapshot_open(struct vm_snapshot *s, const char *path, bool allow_diff, char *err,
			 size_t errlen)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->path = path;
	if ((ret = snap_reader_open(&s->reader, path, err, errlen)))
		return ret;
	s->open = true;
	return snapshot_check(s, path, allow_diff, err, errlen);
}

int vm_snapshot_open_buf(struct vm_snapshot *s, const void *buf, size_t len, const char *name,
			 char *err, size_t errlen)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->path = name;
	if ((ret = snap_reader_parse(&s->reader, buf, len, name, err, errlen)))
		return ret;
	s->open = true;
	return snapshot_check(s, name, false, err, errlen);
}

static int snapshot_check(struct vm_snapshot *s, const char *path, bool allow_diff, char *err,
			  size_t errlen)
{
	char vendor[SNAP_VENDOR_LEN + 1];
	const void *p;
	uint32_t v;
	int ret;

	if ((s->reader.hdr.flags & SNAP_F_DIFF) && !allow_diff) {
		ret = snap_fail(err, errlen, -EINVAL, "%s is a Diff snapshot: it holds only the pages "
				"written since its base; merge it into the base first "
				"(mvm snapshot-merge BASE_DIR DIFF_DIR) and restore the base", path);
		goto fail;
	}
	host_cpu_vendor(vendor);
	if (strcmp(s->reader.hdr.cpu_vendor, vendor)) {
		ret = snap_fail(err, errlen, -EINVAL, "%s: taken on a %s CPU; this host's is %s "
				"(a snapshot moves only between CPUs of one vendor)", path,
				s->reader.hdr.cpu_vendor, vendor);
		goto fail;
	}
	if (snap_find(&s->reader, "config", &v, &p, &s->config_len) || v != 1) {
		ret = snap_fail(err, errlen, -EINVAL, "%s: section config is missing or of an "
				"unknown version", path);
		goto fail;
	}
	s->config_json = p;
	if ((ret = want_section(s, "machine", VM_SNAP_MACHINE_VERSION, sizeof(s->machine), &p,
				err, errlen)))
		goto fail;
	memcpy(&s->machine, p, sizeof(s->machine));
	if (s->machine.nr_vcpus < 1 || s->machine.nr_vcpus > VM_MAX_CPUS ||
	    s->machine.nr_devices > VM_MAX_DEVICES ||
	    memchr(s->machine.platform, 0, sizeof(s->machine.platform)) == NULL) {
		ret = snap_fail(err, errlen, -EINVAL, "%s: section machine: %u vCPUs, %u devices: "
				"out of range", path, s->machine.nr_vcpus, s->machine.nr_devices);
		goto fail;
	}
	if (!platform_known(s->machine.platform)) {
		ret = snap_fail(err, errlen, -EINVAL, "%s: section machine: platform '%s' is not "
				"one this mvm has (linux, tiny)", path, s->machine.platform);
		goto fail;
	}
	if ((ret = want_section(s, "kvm", VM_STATE_VERSION, sizeof(struct vm_kvm_state), &p,
				err, errlen)) ||
	    (ret = vm_state_check(p) ? snap_fail(err, errlen, -EINVAL, "%s: section kvm: "
						 "refused (mvm's log says why)", path) : 0))
		goto fail;
	for (uint32_t i = 0; i < s->machine.nr_vcpus; i++) {
		char name[SNAP_NAME_LEN + 1];

		vcpu_section_name((int)i, name, sizeof(name));
		if ((ret = want_section(s, name, VCPU_STATE_VERSION, sizeof(struct vcpu_state), &p,
					err, errlen)))
			goto fail;
		if (vcpu_state_check(p)) {
			ret = snap_fail(err, errlen, -EINVAL, "%s: section %s: refused (mvm's log says why)",
					path, name);
			goto fail;
		}
	}
	if ((ret = want_section(s, "devices", VM_SNAP_DEVICES_VERSION,
				s->machine.nr_devices * sizeof(struct vm_snap_device), &p,
				err, errlen)))
		goto fail;
	/* Every device state the plan lists, of the version and size it says. */
	for (uint32_t i = 0; i < s->machine.nr_devices; i++) {
		const struct vm_snap_device *e = (const struct vm_snap_device *)p + i;
		char name[SNAP_NAME_LEN + 1];
		const void *dp;

		if (e->index > VM_MAX_DEVICES || vm_snap_device_section(e, name, sizeof(name))) {
			ret = snap_fail(err, errlen, -EINVAL, "%s: section devices: entry %u is not "
					"a device", path, i);
			goto fail;
		}
		if (!e->state_size)
			continue;
		if ((ret = want_section(s, name, e->state_version, e->state_size, &dp, err, errlen)))
			goto fail;
	}
	/* A section this mvm does not know would be state it silently drops. */
	const struct snap_section *unknown = snap_reader_unclaimed(&s->reader);

	if (unknown) {
		ret = snap_fail(err, errlen, -EINVAL, "%s: section %s is unknown to this mvm "
				"(a snapshot from a newer mvm?)", path, unknown->name);
		goto fail;
	}
	return 0;
fail:
	vm_snapshot_close(s);
	return ret;
}

int vm_snapshot_open(struct vm_snapshot *s, const char *path, char *err, size_t errlen)
{
	return snapshot_open(s, path, false, err, errlen);
}

void vm_snapshot_close(struct vm_snapshot *s)
{
	if (s->open)
		snap_reader_close(&s->reader);
	s->open = false;
	s->config_json = NULL;
}

/* ---- restore ------------------------------------------------------------------------------- */

bool vm_snapshot_has_device(struct vm_snapshot *s, const char *short_name)
{
	const struct vm_snap_device *plan;
	const void *p;
	uint32_t v;
	size_t len;

	/* vm_snapshot_open checked the section's size against nr_devices. */
	if (snap_find(&s->reader, "devices", &v, &p, &len))
		return false;
	plan = p;
	for (uint32_t i = 0; i < s->machine.nr_devices; i++)
		if (!strncmp(plan[i].kind, short_name, sizeof(plan[i].kind)))
			return true;
	return false;
}

int vm_snapshot_check_plan(struct vm *vm, struct vm_snapshot *s)
{
	const struct vm_snap_device *plan;
	const struct vm_devices *d = vm->devices;
	const void *p;
	uint32_t v;
	size_t len;

	if (snap_find(&s->reader, "devices", &v, &p, &len))
		return -EINVAL;
	plan = p;
	if ((uint32_t)d->nr_slots != s->machine.nr_devices) {
		log_err("%s: the saved VM has %u devices; its configuration gives %d", s->path,
			s->machine.nr_devices, d->nr_slots);
		return -EINVAL;
	}
	for (int i = 0; i < d->nr_slots; i++) {
		const struct vm_device *slot = &d->slots[i];
		const struct vm_snap_device *e = &plan[i];

		if (strncmp(e->kind, slot->kind->short_name, sizeof(e->kind)) ||
		    e->index != (uint32_t)slot->index || e->gsi != slot->gsi || e->base != slot->base) {
			log_err("%s: section devices: entry %d is %.16s %u at %#llx (GSI %u); this "
				"mvm plans %s %d at %#llx (GSI %u)", s->path, i, e->kind, e->index,
				(unsigned long long)e->base, e->gsi, slot->kind->short_name, slot->index,
				(unsigned long long)slot->base, slot->gsi);
			return -EINVAL;
		}
		if (!slot->kind->save ? e->state_size != 0
				      : (e->state_version != slot->kind->state_version ||
					 e->state_size != slot->kind->state_size)) {
			log_err("%s: section devices: %s %d's state is version %u, %u bytes; this mvm "
				"reads version %u, %zu bytes", s->path, slot->kind->name, slot->index,
				e->state_version, e->state_size, slot->kind->state_version,
				slot->kind->state_size);
			return -EINVAL;
		}
	}
	return 0;
}

/* The saved CPUID must be one this mvm would give on this host: the feature
 * bits of leaves 1, 7.0 and 0x80000001 a subset of what this host's KVM
 * reports for the same vCPU once mvm set its CPUID (cpu_init's cpuid_seen;
 * cpuid_build() of KVM's supported table when that could not be read). A
 * guest that used AVX-512 there would fault here. Leaf 1 ECX bit 27
 * (OSXSAVE) mirrors the guest's CR4 and is not a feature. */
static int check_cpuid(const struct vm *vm, int index, const struct vcpu_state *st,
		       const char *path)
{
	static const uint32_t leaves[] = { 0x1, 0x7, 0x80000001 };
	struct kvm_cpuid2 *seen = vm->vcpus && vm->vcpus[index].cpuid_seen
				  ? vm->vcpus[index].cpuid_seen : NULL;
	struct kvm_cpuid2 *built = seen ? NULL : cpuid_build(vm->kvm.supported, index, vm->nr_vcpus);
	struct kvm_cpuid2 *mine = seen ? seen : built;
	int ret = 0;

	if (!mine)
		return -ENOMEM;
	for (uint32_t i = 0; i < st->cpuid_nent && !ret; i++) {
		const struct kvm_cpuid_entry2 *e = &st->cpuid[i];
		const struct kvm_cpuid_entry2 *h;
		bool checked = false;

		for (size_t l = 0; l < sizeof(leaves) / sizeof(leaves[0]); l++)
			checked |= e->function == leaves[l];
		if (!checked || e->index != 0 || !(h = cpuid_find(mine, e->function, 0)))
			continue;
		uint32_t extra_b = e->function == 0x1 ? 0 : e->ebx & ~h->ebx;
		uint32_t extra_c = e->ecx & ~h->ecx, extra_d = e->edx & ~h->edx;

		if (e->function == 0x1)
			extra_c &= ~(1u << 27);
		if (extra_b || extra_c || extra_d) {
			log_err("%s: vCPU %d saw CPUID leaf %#x features this host cannot offer "
				"(EBX %#x ECX %#x EDX %#x)", path, index, e->function, extra_b,
				extra_c, extra_d);
			ret = -EINVAL;
		}
	}
	free(built);
	return ret;
}

int vm_snapshot_restore_state(struct vm *vm, struct vm_snapshot *s)
{
	const struct vm_devices *d = vm->devices;
	struct vm_kvm_state kvm_state;
	/* The time the VM was away: kvm-clock and the TSCs both move on by it. */
	uint64_t now = realtime_now_ns();
	uint64_t away_ns = s->machine.realtime_ns && now > s->machine.realtime_ns
			   ? now - s->machine.realtime_ns : 0;
	const void *p;
	uint32_t v;
	size_t len;
	int ret;

	for (int i = 0; i < vm->nr_vcpus; i++) {
		char name[SNAP_NAME_LEN + 1];

		vcpu_section_name(i, name, sizeof(name));
		if (snap_find(&s->reader, name, &v, &p, &len))
			return -EINVAL;
		if ((ret = check_cpuid(vm, i, p, s->path)))
			return ret;
	}
	if (snap_find(&s->reader, "kvm", &v, &p, &len))
		return -EINVAL;
	memcpy(&kvm_state, p, sizeof(kvm_state));
	vm_snapshot_clock_forward(&kvm_state.clock, s->machine.realtime_ns, now);
	if ((ret = vm_state_restore(vm->fd, &kvm_state))) {
		log_err("%s: section kvm: KVM refused the irqchip, PIT or clock state", s->path);
		return ret;
	}
	struct vcpu_state *st = malloc(sizeof(*st));

	if (!st)
		return -ENOMEM;
	for (int i = 0; i < vm->nr_vcpus; i++) {
		char name[SNAP_NAME_LEN + 1];

		vcpu_section_name(i, name, sizeof(name));
		if (snap_find(&s->reader, name, &v, &p, &len)) {
			free(st);
			return -EINVAL;
		}
		memcpy(st, p, sizeof(*st));
		vm_snapshot_tsc_forward(st, away_ns);
		if ((ret = vcpu_state_restore(vm->vcpus[i].fd, st))) {
			log_err("%s: section %s: KVM refused the vCPU's state", s->path, name);
			free(st);
			return ret;
		}
	}
	free(st);
	for (int i = 0; i < d->nr_slots; i++) {
		const struct vm_device *slot = &d->slots[i];
		char name[SNAP_NAME_LEN + 1];

		if (!slot->dev || !slot->kind->restore)
			continue;
		if (dev_section_name(slot, name, sizeof(name)) ||
		    snap_find(&s->reader, name, &v, &p, &len)) {
			log_err("%s: section %s is missing", s->path, name);
			return -EINVAL;
		}
		if (v != slot->kind->state_version || len != slot->kind->state_size) {
			log_err("%s: section %s: version %u, %zu bytes; this mvm reads version %u, "
				"%zu bytes", s->path, name, v, len, slot->kind->state_version,
				slot->kind->state_size);
			return -EINVAL;
		}
		if ((ret = slot->kind->restore(slot->dev, p, len))) {
			log_err("%s: section %s: %s %d refused its state", s->path, name,
				slot->kind->name, slot->index);
			return ret;
		}
	}
	return 0;
}

/* ---- merge --------------------------------------------------------------------------------- */

/* The diff's state file, every section as it is, written over base_state without the Diff flag. */
static int rewrite_as_full(struct vm_snapshot *diff, const char *base_state, char *err,
			   size_t errlen)
{
	struct snap_header_info hi = { .mvm_version = MVM_VERSION };
	struct snap_writer w;
	int ret;

	memcpy(hi.cpu_vendor, diff->reader.hdr.cpu_vendor, SNAP_VENDOR_LEN);
	if ((ret = snap_writer_open(&w, base_state, &hi)))
		return snap_fail(err, errlen, ret, "%s", snap_writer_msg(&w));
	for (uint32_t i = 0; i < diff->reader.nsec && !ret; i++) {
		const struct snap_section *sec = &diff->reader.sec[i];

		ret = snap_write_section(&w, sec->name, sec->version, sec->data, sec->len);
	}
	if (!ret)
		ret = snap_writer_commit(&w);
	if (ret) {
		snap_fail(err, errlen, ret, "%s", snap_writer_msg(&w));
		snap_writer_abort(&w);
	}
	return ret;
}

int vm_snapshot_merge(const char *base_state, const char *base_mem, const char *diff_state,
		      const char *diff_mem, char *err, size_t errlen)
{
	struct vm_snapshot base, diff;
	struct snap_mem_stats ms = { 0 };
	int ret;

	if ((ret = snapshot_open(&base, base_state, false, err, errlen)))
		return ret;
	if ((ret = snapshot_open(&diff, diff_state, true, err, errlen))) {
		vm_snapshot_close(&base);
		return ret;
	}
	if (!(diff.reader.hdr.flags & SNAP_F_DIFF)) {
		ret = snap_fail(err, errlen, -EINVAL, "%s is a Full snapshot, not a Diff: restore "
				"it as it is", diff_state);
	} else if (diff.machine.parent_id != base.machine.id) {
		ret = snap_fail(err, errlen, -EINVAL, "%s was not taken on top of %s (its base is "
				"snapshot %016llx; that one is %016llx): merge diffs in the order "
				"they were taken, onto the snapshot before them", diff_state,
				base_state, (unsigned long long)diff.machine.parent_id,
				(unsigned long long)base.machine.id);
	} else if (diff.machine.mem_size != base.machine.mem_size) {
		ret = snap_fail(err, errlen, -EINVAL, "%s and %s have different RAM sizes",
				diff_state, base_state);
	} else if (!(ret = snap_mem_merge(base_mem, diff_mem, &ms, err, errlen))) {
		ret = rewrite_as_full(&diff, base_state, err, errlen);
		if (!ret)
			log_info("merged %s into %s: %llu pages (%llu KiB)", diff_mem, base_mem,
				 (unsigned long long)ms.pages_written,
				 (unsigned long long)(ms.bytes_written >> 10));
	}
	vm_snapshot_close(&diff);
	vm_snapshot_close(&base);
	return ret;
}
