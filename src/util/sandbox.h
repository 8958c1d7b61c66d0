/* sandbox.h - seccomp-bpf allow-lists, one per kind of mvm thread (libseccomp).
 *
 * Contract: sandbox_setup() is called once by the main thread, before any
 * other thread exists: it records the mode (off, log, kill), installs the
 * SIGSYS handler a violation under kill reaches, and fills the table of
 * syscall names that handler prints from. Then each thread calls
 * sandbox_enter(KIND) on itself before it first runs guest-driven code; the
 * filter is per thread (no TSYNC) and idempotent per thread (a second call
 * does nothing). A thread inherits its creator's filter and the kernel
 * runs both, so the main thread's list holds its own syscalls plus those of
 * the threads it starts after its filter (vCPUs, console, metrics).
 *
 * Modes: off installs nothing; log lets everything through and has the
 * kernel log each syscall outside the list (SCMP_ACT_LOG: dmesg/audit,
 * type=1326); kill (the default) traps it: the handler writes ONE line to
 * stderr with write(2) naming the thread and the syscall, then _exit()s
 * with SANDBOX_EXIT_STATUS. sandbox_enter() that cannot load its filter
 * ends the process with status 1 (fail closed) after saying why.
 *
 * Argument checks: ioctl requests (KVM per thread kind, the TUN and
 * terminal requests), socket families (none outside slirp's AF_INET and
 * AF_INET6), mmap/mprotect never with PROT_EXEC, clone only for threads
 * (clone3 answers ENOSYS so glibc falls back to clone, whose flags a
 * filter can read).
 *
 * An AddressSanitizer build turns kill into log: LeakSanitizer's exit check
 * ptrace()s every thread from a cloned tracer, which no allow-list holds.
 *
 * Test hook: with MVM_SECCOMP_TEST=KIND in the environment (a name from
 * sandbox_kind_name(), e.g. vcpu), the first thread of that kind makes one
 * forbidden syscall (personality(0xffffffff), a harmless query) right after
 * its filter is in, so tests can watch the kill path end to end.
 */
#ifndef MVM_UTIL_SANDBOX_H
#define MVM_UTIL_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#define SANDBOX_EXIT_STATUS 5   /* a thread made a syscall outside its list (kill mode) */

enum sandbox_mode { SANDBOX_KILL = 0, SANDBOX_LOG, SANDBOX_OFF };

enum sandbox_kind {
	SANDBOX_VCPU,        /* mvm-vcpuN: KVM_RUN, exits, a tiny guest's hypercalls */
	SANDBOX_BLK,         /* mvm-blk: io_uring */
	SANDBOX_NET_TAP,     /* mvm-net / mvm-hcnet on a tap */
	SANDBOX_NET_USER,    /* mvm-net / mvm-hcnet on libslirp */
	SANDBOX_DEVICE,      /* mvm-rng, mvm-console, mvm-balloon: the other device workers */
	SANDBOX_VSOCK,       /* mvm-vsock: Unix sockets of the vsock connections */
	SANDBOX_API,         /* mvm-api, once the VM is built */
	SANDBOX_CONSOLE,     /* host stdin -> the guest */
	SANDBOX_METRICS,     /* mvm-metrics */
	SANDBOX_OUTQ,        /* mvm-com1-out: an output queue's writer (util/outq.c) */
	SANDBOX_MAIN,        /* the main thread after the VM is built */
	SANDBOX_GDB,         /* mvm-gdb: the gdb stub's socket (--gdb) */
	SANDBOX_KINDS
};

/* "off", "log", "kill" -> *mode: 0, or -EINVAL. */
int sandbox_parse_mode(const char *s, enum sandbox_mode *mode);
const char *sandbox_mode_name(enum sandbox_mode mode);
/* "vcpu", "blk", "net-tap", "net-user", "device", "vsock", "api", "console", "metrics",
 * "outq", "main". */
const char *sandbox_kind_name(enum sandbox_kind kind);

/* Once, on the main thread, before any other thread: 0 or -errno (logged). */
int sandbox_setup(enum sandbox_mode mode);
enum sandbox_mode sandbox_mode(void);
/* This thread's filter (nothing when off or already in). */
void sandbox_enter(enum sandbox_kind kind);
/* Compile KIND's filter now, so that the first thread of the kind only loads
 * it (each kind is compiled once per process, by its first sandbox_enter or
 * this): 0 or -errno. Any thread; nothing when off. */
int sandbox_prepare(enum sandbox_kind kind);
/* The same for N kinds, in that order, on a short-lived thread of its own
 * (mvm-seccomp, unfiltered: it runs libseccomp and nothing else), so that
 * compiling overlaps the VM's build: 0 or -errno (nothing compiled then;
 * each kind is compiled when first entered). After sandbox_setup(). */
int sandbox_prepare_async(const enum sandbox_kind *kinds, size_t n);
/* Build KIND's filter in MODE without loading it: the number of syscalls it
 * allows (any argument), or -errno. For tests and the README's counts. */
int sandbox_check_kind(enum sandbox_kind kind, enum sandbox_mode mode);

#endif
