/* bench_probe.h - figures bench/boot.sh reads from mvm's stderr.
 *
 * Contract: when the benchmark launcher sets MVM_T0_NS (CLOCK_MONOTONIC at
 * its exec), bench_probe_t0() returns it and bench_probe_report() prints one
 * line: exec -> first KVM_RUN, and peak RSS beyond guest RAM. Off (0) for
 * everyone else; nothing here changes how a VM runs.
 */
#ifndef MVM_UTIL_BENCH_PROBE_H
#define MVM_UTIL_BENCH_PROBE_H

#include <stdint.h>

uint64_t bench_probe_now_ns(void);
uint64_t bench_probe_t0(void);
void bench_probe_report(uint64_t t0_ns, uint64_t first_run_ns, const void *guest_base,
			uint64_t guest_size);

#endif
