/* source.h - what observability may read of a VM: its narrow view.
 *
 * Contract: the builder fills one struct obs_source per VM once its vCPUs
 * exist (run_start_ns when vm_run starts them) and hands it to the metrics
 * writer, the --stats table and the API's snapshot. obs/ reads the vCPUs'
 * counters, the buses' unclaimed counts and KVM's stats fds through it and
 * asks for device counters through device_stats; it never sees struct vm.
 */
#ifndef MVM_OBS_SOURCE_H
#define MVM_OBS_SOURCE_H

#include <stdint.h>

#include "core/bus.h"
#include "core/vcpu.h"

struct json_object;
struct metrics;

struct obs_source {
	struct vcpu *vcpus;
	int nr_vcpus;
	int kvm_fd;                /* /dev/kvm; -1: none */
	int vm_fd;                 /* KVM_CREATE_VM; -1: none */
	struct bus *pio;
	struct bus *mmio;
	uint64_t run_start_ns;     /* CLOCK_MONOTONIC when the vCPUs started; 0: not yet */
	/* Add each device's counters to devices ({"net0": {...}}); NULL: none. */
	void (*device_stats)(void *ctx, struct json_object *devices);
	void *device_ctx;
	struct metrics *metrics;   /* --metrics, or NULL */
};

#endif
