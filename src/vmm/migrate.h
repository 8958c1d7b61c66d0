/* migrate.h - live migration: a running VM moved to another mvm over a stream (pre-copy).
 *
 * Contract, source: vm_migrate_start() checks the URI, then runs the
 * migration on its own thread and returns at once (the API keeps answering
 * vm_migrate_status()). The thread connects, sends the configuration,
 * turns on dirty logging (the memslots re-registered with
 * KVM_MEM_LOG_DIRTY_PAGES and gmem's bitmap enabled, in a short pause, when
 * the VM was not started with track_dirty_pages), sends all RAM (zero pages
 * as ZERO runs; pages the kernel says were never populated, gmem_untouched,
 * as zeros without reading them), then the dirty pages again and again (KVM's log + gmem's
 * marks) until what is left fits in max_downtime_ms at the measured rate,
 * or VM_MIGRATE_MAX_ROUNDS rounds (then it says so and stops anyway). Then
 * it pauses the VM (vm_pause quiesces the devices), sends the last dirty
 * pages and the state (vm_snapshot_state_blob) and hands over:
 *
 *   source                                   destination
 *   ... STATE, END                 ->        loads it all, builds the VM
 *                                            (disk images opened, not locked)
 *                                  <-        READY
 *   fdatasync + unlock every disk,
 *   RELEASED                       ->        locks every disk image
 *                                  <-        GO, runs the guest
 *   stops the VM, exits 0 ("migrated")
 *
 * Before RELEASED a failure (connection lost, ERROR from the destination,
 * a timeout) resumes the guest on the source (unless it was paused before)
 * and the state says why. After RELEASED without GO, the flocks decide: if
 * the source gets every lock back, the destination did not take them (it
 * exits with an error) and the guest resumes on the source; otherwise the
 * destination holds the disks and the source stops without running the
 * guest again (exit 1, "handed over, unconfirmed"). A VM with no disk has
 * nothing to decide with: the source then stops as well, unless the
 * destination said ERROR (it will not run the guest).
 * The memslots stay in logging mode after a failed migration only when
 * track_dirty_pages asked for it; a Diff snapshot after any migration
 * needs a Full one first (the migration took the dirty log).
 *
 * Destination: vm_migrate_incoming() listens on the URI only (tcp:HOST:PORT
 * or unix:PATH), takes one connection, builds the VM from the stream (the
 * caller's parse() turns the configuration into cfg, or checks it against
 * the destination's own: vmm/config_match.h) and does its half of
 * the hand-over; then the caller runs the VM. On failure it sends ERROR
 * when it can, leaves nothing behind, and gives the exit status from the
 * class its failure recorded (util/err.h): 2 for a malformed --incoming
 * URI, a refused bind (the port taken, an address not this host's), a
 * stream or configuration that does not fit this destination; 1 for the
 * host or the transport (socket() or listen() refused, the source closing
 * the stream early, a timeout, no memory).
 */
#ifndef MVM_VMM_MIGRATE_H
#define MVM_VMM_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/vm_config.h"

struct vm;

#define VM_MIGRATE_MAX_ROUNDS     30
#define VM_MIGRATE_DEFAULT_DOWNTIME_MS 30
#define VM_MIGRATE_URI_MAX        256
#define VM_MIGRATE_READY_TIMEOUT_MS 60000   /* the destination loads and builds the VM */
#define VM_MIGRATE_IO_TIMEOUT_MS    30000   /* a peer that stops reading or writing */

struct vm_migrate_params {
	char uri[VM_MIGRATE_URI_MAX];
	uint32_t max_downtime_ms;   /* 0: the default */
	uint64_t bandwidth;         /* bytes/s; 0: as fast as the link goes */
	bool auto_converge;         /* throttle a guest that dirties faster than the link */
};

enum vm_migrate_state {
	VM_MIGRATE_NONE = 0,
	VM_MIGRATE_ACTIVE,
	VM_MIGRATE_COMPLETED,
	VM_MIGRATE_FAILED,
};

struct vm_migrate_status {
	enum vm_migrate_state state;
	const char *phase;          /* "connecting", "precopy", "stop-and-copy", "handover", ... */
	int round;                  /* 0: the first pass over all RAM */
	bool round_limit;           /* stopped iterating at VM_MIGRATE_MAX_ROUNDS */
	unsigned throttle_pct;      /* auto-converge: the vCPUs' share of time asleep */
	uint64_t bytes_sent;
	uint64_t pages_sent, zero_pages;
	uint64_t untouched_pages;   /* of zero_pages: never populated, sent unread (round 0) */
	uint64_t dirty_pages_per_s; /* in the last round */
	uint64_t remaining_bytes;   /* dirty at the last look */
	uint64_t rate;              /* bytes/s measured */
	double expected_downtime_ms;
	double downtime_ms;         /* pause to GO (completed) */
	double total_ms;
	uint32_t max_downtime_ms;   /* the limits in force (vm_migrate_tune changes them) */
	uint64_t bandwidth;
	bool auto_converge;
	char error[512];
};

/* What PATCH /mvm/migrate changes in a running migration (QEMU's
 * migrate_set_parameter): each has_* field says whether to set it. */
struct vm_migrate_tune {
	bool has_downtime, has_bandwidth, has_auto_converge;
	uint32_t max_downtime_ms;   /* 1..60000 */
	uint64_t bandwidth;         /* bytes/s; 0: unlimited */
	bool auto_converge;         /* false also lifts a throttle already set */
};

/* -EBUSY when a migration is running, -EINVAL for a bad URI or a VM that
 * cannot migrate (err says why). config_json is copied. */
int vm_migrate_start(struct vm *vm, const char *config_json, const struct vm_migrate_params *p,
		     char *err, size_t errlen);
/* Change a migration's limits while it pre-copies: the next round uses the
 * downtime budget and auto-converge setting, the next record the bandwidth
 * (counted afresh from that moment, so a lower limit does not wait out the
 * bytes sent faster before). -EINVAL with err when no migration is in its
 * pre-copy phase. */
int vm_migrate_tune(struct vm *vm, const struct vm_migrate_tune *t, char *err, size_t errlen);
/* The last or current migration's progress (state NONE: none yet). */
void vm_migrate_get_status(struct vm *vm, struct vm_migrate_status *st);
/* vm_destroy(): stop a running migration and wait for its thread. */
void vm_migrate_cleanup(struct vm *vm);

/* "tcp:HOST:PORT" or "unix:PATH": 0, or -EINVAL with err. */
int vm_migrate_uri_check(const char *uri, char *err, size_t errlen);

/* The destination. parse(ctx, ...) runs when the stream's configuration
 * arrives, before anything is built: it makes cfg the configuration to build
 * (the stream's, or the destination's own once it has checked the stream's
 * fits it) or refuses with -EINVAL and the reason in err (sent to the source
 * as ERROR; exit status 2). 0 with the VM built from cfg and the disks locked
 * (vm_run() next), or -errno with the message printed and *exit_status set
 * (nothing left). */
typedef int (*vm_migrate_parse_fn)(void *ctx, const char *json, size_t len,
				   struct vm_config *cfg, char *err, size_t errlen);
int vm_migrate_incoming(struct vm *vm, struct vm_config *cfg, const char *uri,
			vm_migrate_parse_fn parse, void *ctx, int *exit_status);

#endif
