/* harden.h - process-wide protections mvm sets before a guest runs.
 *
 * Contract: harden_process(dumpable) turns the process's "dumpable" flag off
 * (PR_SET_DUMPABLE 0) unless dumpable is true: no core dump is written (it
 * would hold guest RAM, disk and network data), and processes of the same
 * user can neither ptrace mvm nor read its /proc/PID/mem, environ or maps.
 * `mvm run --dumpable` keeps the default for debugging; guest RAM is left out
 * of core dumps anyway (MADV_DONTDUMP, core/memory.c). The flag is the
 * process's: every thread, present and future. 0 or -errno (logged).
 */
#ifndef MVM_UTIL_HARDEN_H
#define MVM_UTIL_HARDEN_H

#include <stdbool.h>

int harden_process(bool dumpable);

#endif
