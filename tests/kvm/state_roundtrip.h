/* state_roundtrip.h - what the KVM state round-trip test's two files share.
 *
 * Contract: check() prints one "ok ..." or "not ok ..." line and counts it;
 * the check_* and compare_* functions (state_checks.c) only read the states
 * they are given and report through check().
 */
#ifndef MVM_TESTS_KVM_STATE_ROUNDTRIP_H
#define MVM_TESTS_KVM_STATE_ROUNDTRIP_H

#include <stdint.h>

#include "core/vcpu_state.h"
#include "core/vm_state.h"

void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The source's save holds what tests/kvm/state_guest.S left. */
void check_source_state(const struct vcpu_state_host *host, const struct vcpu_state *s,
			const struct vm_kvm_state *v);
/* The restored VM's save against the source's. gap_ns: from the start of the
 * restore to the end of the second save; away_ns: from the end of the first
 * save to the start of the restore. */
void compare_vcpu(const char *who, const struct vcpu_state *a, const struct vcpu_state *b,
		  uint64_t gap_ns);
void compare_vm(const struct vm_kvm_state *a, const struct vm_kvm_state *b, uint64_t away_ns,
		uint64_t gap_ns);

#endif
