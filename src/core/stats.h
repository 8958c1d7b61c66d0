/* stats.h - the exit-statistics table `mvm run --stats` prints at exit.
 *
 * Contract: stats_print() reads the per-vCPU counters after every vCPU
 * thread has been joined (no locking) and writes one row per exit reason
 * that occurred: total, per vCPU, and the mean time mvm's handler took.
 */
#ifndef MVM_CORE_STATS_H
#define MVM_CORE_STATS_H

#include <stdio.h>

struct vm;

void stats_print(FILE *out, const struct vm *vm);

#endif
