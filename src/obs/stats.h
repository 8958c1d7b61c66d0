/* stats.h - the exit-statistics table `mvm run --stats` prints at exit.
 *
 * Contract: stats_print() reads the per-vCPU counters after every vCPU
 * thread has been joined (no locking) and writes one row per exit reason
 * that occurred: total, per vCPU, and the mean time mvm's handler took.
 * Then KVM's binary statistics (obs/kvm_stats.h), read while the VM and
 * vCPU fds are still open: every non-zero VM counter, and for the vCPUs a
 * chosen list of ~20 counters (exits, io_exits, mmio_exits, halt_exits,
 * irq_injections, pf_fixed, halt_poll_success_ns, ...) when non-zero, with
 * a count of the other non-zero ones. Without KVM_CAP_BINARY_STATS_FD it
 * says so in one line.
 */
#ifndef MVM_OBS_STATS_H
#define MVM_OBS_STATS_H

#include <stdio.h>

struct obs_source;

void stats_print(FILE *out, const struct obs_source *src);

#endif
