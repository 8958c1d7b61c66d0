/* profile.h - `--profile PATH[,hz=N]`: a sampling profile of where the guest's vCPUs are.
 *
 * Why: in a guest the kernel's own clock and its tracers may not say where host time goes (a
 * nested or emulated host skews the guest's clock; a stock kernel has no profiler built for a
 * VM's boot); the VMM sees every vCPU from outside, needs nothing from the guest and counts host
 * time. Like `perf kvm record` without perf or host privileges.
 *
 * Contract: profile_create() opens PATH (created 0600 or truncated) and writes a header line.
 * profile_start() starts a thread (mvm-profile) that every 1/hz s asks each running vCPU for a
 * sample (vcpu_request_sample(): a flag and a kick); the vCPU, out of KVM_RUN on that kick, calls
 * profile_take() on its own thread, which reads RIP and CS (KVM_GET_REGS, KVM_GET_SREGS) into a
 * buffer under a mutex; the thread writes the buffer to PATH once per period. A vCPU halted in
 * the guest is sampled where it halted; one in an exit handler is sampled after that exit's
 * instruction, both as the guest sees them. A paused VM is not sampled. profile_stop() ends the
 * thread and writes what is left and a closing line. Each sample costs its vCPU one exit to mvm
 * and two ioctls (at the default 250 Hz, 250 exits a second per vCPU).
 *
 * File format (text): a header "# mvm profile v1 hz=N vcpus=N", one line per sample
 * "T VCPU RIP CPL" (T: microseconds since the vCPUs started, RIP in hex with 0x, CPL 0..3; 0
 * before the guest enables protected mode), and a closing line
 * "# end samples=N missed=N failed=N dropped=N": missed counts requests a vCPU had not yet
 * served when the next one came (a vCPU held up in a host call), failed the ioctls that failed,
 * dropped the samples a full buffer could not take. scripts/profile-report.sh turns it into a
 * table of functions given the guest's symbols (README: Profiling a guest).
 */
#ifndef MVM_OBS_PROFILE_H
#define MVM_OBS_PROFILE_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#define PROFILE_HZ_DEFAULT 250
#define PROFILE_HZ_MAX     10000
#define PROFILE_BUF        8192      /* samples between two writes */

struct vcpu;

struct profile_sample {
	uint64_t t_us;
	uint64_t rip;
	uint16_t vcpu;
	uint8_t cpl;
};

struct profile;

/* 0 or -errno (logged, naming --profile PATH). */
int profile_create(struct profile **out, const char *path, unsigned hz, int nr_vcpus);
/* Start sampling: t0_ns is when the vCPUs start (CLOCK_MONOTONIC ns); paused is the VM's flag.
 * NULL-safe. 0 or -errno. */
int profile_start(struct profile *p, struct vcpu *vcpus, int nr_vcpus, const atomic_bool *paused,
		  uint64_t t0_ns);
/* On vCPU v's thread: record where it is. */
void profile_take(struct profile *p, struct vcpu *v);
/* NULL-safe: end the thread (if started), write the rest and the closing line; once. */
void profile_stop(struct profile *p);
/* Samples taken so far. */
uint64_t profile_samples(struct profile *p);
/* NULL-safe: stops first if needed, closes the file. */
void profile_destroy(struct profile *p);

/* Parse "PATH[,hz=N]": the path is arg's first *path_len bytes. 0 or -EINVAL (nothing logged). */
int profile_parse_arg(const char *arg, size_t *path_len, unsigned *hz);
/* One sample as its line (with the newline); its length. */
int profile_format(char *buf, size_t len, const struct profile_sample *s);

#endif
