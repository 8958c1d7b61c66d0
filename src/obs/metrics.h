/* metrics.h - `--metrics PATH`: JSON lines of exit counts, KVM stats and device counters.
 *
 * Contract: metrics_create() opens PATH (a FIFO: O_RDWR|O_NONBLOCK, so the
 * open never waits for a reader and a full pipe never blocks mvm; anything
 * else: created 0600 if missing, opened for append) and opens KVM's binary
 * stats of the VM and every vCPU (absent on old kernels: said once, the
 * lines carry "kvm_stats_available": false). metrics_start() starts a thread
 * that writes one line every interval (interval_ms; 0: $MVM_METRICS_INTERVAL_MS
 * or 60 s). metrics_flush() writes a line now, from any thread (the API's
 * FlushMetrics); lines never interleave. metrics_stop() ends the thread and
 * writes a last line (called once the vCPUs have stopped, so that line holds
 * the final counts). A line a full FIFO cannot take within 100 ms is dropped
 * and counted, never half-written on purpose.
 * metrics_snapshot_json() returns the same JSON object as a malloc'd string
 * for a VM with or without --metrics (`mvm ctl stat`).
 *
 * Line keys (plus id and properties, see metrics_set_labels()): timestamp_ms (realtime), uptime_ms (since vm_run), vcpus[]
 * ({id, exits{REASON: n}, exit_handler_ns{REASON: ns}, kvm{name: value}}),
 * exits{REASON: total}, kvm_vm{name: value}, kvm_stats_available,
 * unclaimed{port_io, mmio}, devices{netN: {tx_frames, ...}}. Per-vCPU exit
 * counters are read while the vCPUs run: each number is exact, the set is
 * not one instant.
 */
#ifndef MVM_OBS_METRICS_H
#define MVM_OBS_METRICS_H

#include <stdint.h>

#define METRICS_INTERVAL_MS 60000

struct obs_source;
struct kvm_stats;
struct json_object;
struct metrics;

/* 0 or -errno (logged, naming --metrics PATH). */
int metrics_create(struct metrics **out, const struct obs_source *src, const char *path, uint64_t interval_ms);
/* Before metrics_start(): every line also carries "id": id and "properties": the object
 * given as JSON text (Firecracker's emit_id and properties); NULL: that key is left out.
 * 0, -ENOMEM, or -EINVAL when properties is not a JSON object. */
int metrics_set_labels(struct metrics *m, const char *id, const char *properties);
/* NULL-safe. 0 or -errno. */
int metrics_start(struct metrics *m);
/* Write one line now. 0, -ENODEV when m is NULL (no metrics configured), -EAGAIN when dropped. */
int metrics_flush(struct metrics *m);
/* NULL-safe: stop the thread, then write the final line. */
void metrics_stop(struct metrics *m);
/* NULL-safe: stops first if needed, closes the file and the stats fds. */
void metrics_destroy(struct metrics *m);

/* The JSON of one line (no newline), malloc'd; NULL when out of memory. */
char *metrics_snapshot_json(const struct obs_source *src);

/* The object itself, from given KVM stats handles (vm_stats NULL or
 * vcpu_stats NULL: that part is left out). Exposed for tests. */
struct json_object *metrics_build(const struct obs_source *src, const struct kvm_stats *vm_stats,
				  const struct kvm_stats *vcpu_stats, uint64_t now_ns);

#endif
