/* snapshot.h - a paused VM written out as a state file and a memory file, and read back.
 *
 * Contract: vm_snapshot_save() wants a VM paused by vm_pause() (-EBUSY
 * otherwise, with a message). It reads every vCPU on its own thread and the
 * VM's irqchip, PIT and clock (vmm/state.h), asks every device instance for
 * its state (device_kind save; the pause has quiesced them), and writes the
 * state file (snap/format.h: a header with the mvm and format versions and
 * the host's CPU vendor, then one checksummed section per piece):
 *   "config"      the VM's configuration as Firecracker JSON (the caller's
 *                 text: vmm/ does not know the config format)
 *   "machine"     struct vm_snap_machine: vCPUs, RAM size, platform, devices
 *   "devices"     the device plan: kind, index, window, GSI, state layout
 *   "kvm"         struct vm_kvm_state (irqchip, PIT, kvm-clock)
 *   "vcpu<N>"     struct vcpu_state, one per vCPU
 *   "dev.<s><i>"  each device's state (e.g. dev.blk0), its kind's layout;
 *                 which devices get one is vm_snapshot_plan()'s decision
 *                 (vmm/snap_plan.h): a device whose state cannot be saved
 *                 refuses the whole save, naming it
 * Guest RAM goes to the memory file, the whole RAM in guest-physical order
 * of its one host mapping, sparse (pages that are all zero are holes). A
 * failed save leaves no file under either name.
 *
 * Restore is two steps, because the configuration inside the file is parsed
 * by the caller: vm_snapshot_open() reads and checks the whole state file
 * (format, versions, checksums, the CPU vendor, every section present and
 * of the right size) and hands out the config text; vm_create_restored()
 * (builder.c) then builds the VM from that configuration without a kernel:
 * guest RAM is the memory file mapped MAP_PRIVATE (pages load on first
 * touch; the file is never written), the device plan must equal the saved
 * one, and the KVM, vCPU and device states are put back before any vCPU
 * runs. Every refusal names the file and the section.
 */
#ifndef MVM_VMM_SNAPSHOT_H
#define MVM_VMM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/vcpu_state.h"
#include "snap/format.h"
#include "vmm/snap_plan.h"
#include "vmm/vm.h"

#define VM_SNAP_PLATFORM_MAX 16

/* "machine": what the rest of the file is laid out for. */
struct vm_snap_machine {
	uint32_t nr_vcpus;
	uint32_t nr_devices;
	uint64_t mem_size;
	char platform[VM_SNAP_PLATFORM_MAX];   /* platform_ops name, NUL-padded */
	uint64_t realtime_ns;     /* the host's CLOCK_REALTIME when the state was read */
	uint64_t id;              /* random: names this snapshot */
	uint64_t parent_id;       /* a Diff: the snapshot it is relative to; else 0 */
};
#define VM_SNAP_MACHINE_VERSION 1

/* What a save wrote and how long it took (for mvm ctl and the benchmark). */
struct vm_snapshot_info {
	uint64_t state_bytes;     /* the state file's size */
	uint64_t mem_bytes;       /* the memory file's size (the guest's RAM) */
	uint64_t mem_written;     /* bytes of RAM written (not holes) */
	bool diff;
	double state_ms, mem_ms;  /* reading and writing each */
};

/* diff: only the pages written since the last snapshot (or the restore),
 * from KVM's dirty log and gmem's marks; needs track_dirty_pages and a base
 * (-EINVAL with a message otherwise). The state file is flagged SNAP_F_DIFF
 * and names its base (machine.parent_id); it restores only once merged
 * into the base (vm_snapshot_merge). With tracking on, every snapshot
 * starts a new dirty log, and a save that fails after that leaves no base
 * (the next Diff is refused until a Full one is taken). */
int vm_snapshot_save(struct vm *vm, const char *state_path, const char *mem_path,
		     const char *config_json, bool diff, struct vm_snapshot_info *info,
		     char *err, size_t errlen);

/* `mvm snapshot-merge BASE DIFF`: the Diff snapshot in diff_state/diff_mem
 * applied onto the Full one in base_state/base_mem, which then is the diff's
 * state, Full (the memory's data pages copied in place, the state file
 * replaced). The diff must be taken on top of the base (machine.parent_id
 * == the base's id). 0 or -errno with err naming the files. */
int vm_snapshot_merge(const char *base_state, const char *base_mem, const char *diff_state,
		      const char *diff_mem, char *err, size_t errlen);

/* An opened, checked state file. */
struct vm_snapshot {
	struct snap_reader reader;
	bool open;
	const char *path;
	const char *config_json;        /* inside reader: not NUL-terminated */
	size_t config_len;
	struct vm_snap_machine machine;
};

/* 0, or -EINVAL/-errno with err naming the file and the section (the user's input). */
int vm_snapshot_open(struct vm_snapshot *s, const char *path, char *err, size_t errlen);
/* The same checks over a state file in memory (a migration's STATE record;
 * borrowed: buf must outlive s); name stands for the file in messages. */
int vm_snapshot_open_buf(struct vm_snapshot *s, const void *buf, size_t len, const char *name,
			 char *err, size_t errlen);
void vm_snapshot_close(struct vm_snapshot *s);

/* A paused VM's state file, built in memory (a migration's STATE record):
 * the same sections vm_snapshot_save() writes, with no Diff base. *buf is
 * malloc'd. 0 or -errno with err. */
int vm_snapshot_state_blob(struct vm *vm, const char *config_json, uint8_t **buf, size_t *len,
			   char *err, size_t errlen);

/* Pages written since the last take: KVM's dirty log of every memslot (the
 * vCPUs' writes; reading it starts a new one) and gmem's marks (mvm's own
 * threads), ORed into bitmap (one bit per page of the RAM mapping,
 * gmem_dirty_words() words). The memslots must log dirty pages. */
int vm_take_dirty_log(struct vm *vm, uint64_t *bitmap, char *err, size_t errlen);
/* With vm->dirty_manual, vm_take_dirty_log() only reads KVM's log: the
 * pages whose bits are set in bits (words for pages [first, first+n) of the
 * RAM mapping; first a multiple of 64, n too unless the range ends at the
 * end of RAM) are cleared from it and write-protected again, so a write
 * after this call marks them anew. Call it just before copying them. */
int vm_clear_dirty_log(struct vm *vm, const uint64_t *bits, uint64_t first, uint64_t n);

/* What vm_create_restored() restores from. */
struct vm_restore {
	struct vm_snapshot *snap; /* NULL (with ram): build the VM now, its state comes
				   * later through vm_restore_into() (a migration) */
	const char *mem_path;
	struct gmem *ram;         /* instead of mem_path: RAM already filled (a migration),
				   * taken over by the VM (zeroed here) */
	bool paused;              /* stay paused (vm_resume() starts it) */
	bool fw_cfg, legacy_pm;   /* without snap: the board devices a multiboot kernel's
				   * VM has (a migration stream's CONFIG says) */
};

/* builder.c: the VM of cfg (parsed from snap's "config", with the caller's
 * overrides) with snap's state in it, ready for vm_run(). 0 or -errno, the
 * message printed and the exit status class in *exit_status. */
int vm_create_restored(struct vm *vm, const struct vm_config *cfg, const struct vm_restore *rs,
		       int *exit_status);

/* A VM built by vm_create_restored() without a snapshot: check snap's plan,
 * RAM size and vCPU count against it and put its states in. 0, or -errno
 * (logged) with *exit_status. */
int vm_restore_into(struct vm *vm, struct vm_snapshot *snap, int *exit_status);

/* The kvm-clock a restore sets: when KVM gave no KVM_CLOCK_REALTIME with the
 * saved clock (a host whose clocksource is not the TSC), mvm adds the real
 * time elapsed since the save itself, as KVM would, so the guest's date
 * moves on by the time it was away; a clock that went back adds nothing.
 * Pure. */
void vm_snapshot_clock_forward(struct kvm_clock_data *clock, uint64_t saved_realtime_ns,
			       uint64_t now_realtime_ns);

/* The TSC moves on with it: the saved IA32_TSC plus away_ns at the vCPU's
 * saved frequency (no frequency known: unchanged), so the guest's TSC and
 * kvm-clock agree after a restore and its clocksource watchdog sees no
 * skew. Pure. */
void vm_snapshot_tsc_forward(struct vcpu_state *st, uint64_t away_ns);

/* For the builder (snapshot.c): check the plan against the file, then put the
 * KVM, vCPU and device states back, in that order. 0 or -errno (logged). */
int vm_snapshot_check_plan(struct vm *vm, struct vm_snapshot *s);
/* Whether the opened snapshot's plan lists a device of that kind (short_name). */
bool vm_snapshot_has_device(struct vm_snapshot *s, const char *short_name);
int vm_snapshot_restore_state(struct vm *vm, struct vm_snapshot *s);

#endif
