/* sandbox.c - the seccomp allow-list of each kind of mvm thread, and the SIGSYS report. */
#include "util/sandbox.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/sysinfo.h>
#include <linux/fs.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* One kind's list: syscalls allowed with any argument, ioctl requests,
 * socket families; mmap/mprotect without PROT_EXEC are in every list. */
struct sb_list {
	const int *sys;
	size_t nsys;
	const unsigned long *ioctls;
	size_t nioctls;
	const int *families;
	size_t nfamilies;
	bool threads;          /* may create threads: clone(CLONE_THREAD) */
	bool open_write;       /* openat may create and write files */
};

/* Designated, so a field added later starts false/empty everywhere. */
#define SB_SYSCALLS(s)  .sys = (s), .nsys = ARRAY_LEN(s)
#define SB_IOCTLS(i)    .ioctls = (i), .nioctls = ARRAY_LEN(i)
#define SB_FAMILIES(f)  .families = (f), .nfamilies = ARRAY_LEN(f)
#define SB_LIST(s, i, f, t) { SB_SYSCALLS(s), SB_IOCTLS(i), SB_FAMILIES(f), .threads = (t) }
#define SB_SYS(s)           { SB_SYSCALLS(s) }

/* Every thread: memory, locks, time, signals, exit, its own log lines. */
static const int sys_base[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(writev), SCMP_SYS(close),
	SCMP_SYS(futex), SCMP_SYS(munmap), SCMP_SYS(madvise), SCMP_SYS(brk),
	SCMP_SYS(mremap), SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep), SCMP_SYS(gettid), SCMP_SYS(getpid), SCMP_SYS(tgkill),
	SCMP_SYS(sched_yield), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group),
};

/* An epoll worker (util/evloop.c): its loop and eventfds. */
static const int sys_worker[] = {
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
	SCMP_SYS(timerfd_settime),   /* a rate limiter's wake-up (virtio/limiter.c) */
};

/* vCPU: KVM_RUN and exits (eventfd writes, the UART's stdout), the state a
 * snapshot reads and writes on the vCPU's own thread, a tiny guest's disk
 * hypercalls (pread/pwrite on the first --disk). */
static const int sys_vcpu[] = {
	SCMP_SYS(ioctl), SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(fdatasync),
	SCMP_SYS(fsync),
};
static const unsigned long ioctl_vcpu[] = {
	KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS,
	KVM_GET_SREGS2, KVM_SET_SREGS2, KVM_GET_FPU, KVM_SET_FPU,
	KVM_GET_MSRS, KVM_SET_MSRS, KVM_GET_LAPIC, KVM_SET_LAPIC,
	KVM_GET_XSAVE, KVM_GET_XSAVE2, KVM_SET_XSAVE, KVM_GET_XCRS, KVM_SET_XCRS,
	KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_GET_MP_STATE, KVM_SET_MP_STATE,
	KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, KVM_GET_CPUID2, KVM_SET_CPUID2,
	KVM_GET_TSC_KHZ, KVM_SET_TSC_KHZ, KVM_HAS_DEVICE_ATTR, KVM_GET_DEVICE_ATTR,
	KVM_SET_DEVICE_ATTR, KVM_CHECK_EXTENSION, KVM_GET_MSR_INDEX_LIST,
	KVM_TRANSLATE, KVM_IRQ_LINE, KVM_GET_STATS_FD,
	KVM_REGISTER_COALESCED_MMIO, KVM_UNREGISTER_COALESCED_MMIO, /* COM1's IER writes */
	KVM_SET_GUEST_DEBUG,   /* --gdb: breakpoints and single step, set on the vCPU's thread */
};

/* virtio-blk: io_uring submissions and completions. */
static const int sys_blk[] = {
	SCMP_SYS(io_uring_enter), SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(fdatasync),
	SCMP_SYS(fsync), SCMP_SYS(fallocate),
};

/* virtio-net on a tap: frames in and out, offloads as the driver negotiates. */
static const int sys_tap[] = {
	SCMP_SYS(readv), SCMP_SYS(ioctl),
};
static const unsigned long ioctl_tap[] = { TUNSETOFFLOAD };

/* virtio-net on libslirp: the host sockets of the guest's flows. */
static const int sys_user[] = {
	SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(sendto), SCMP_SYS(recvfrom),
	SCMP_SYS(sendmsg), SCMP_SYS(recvmsg), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(bind), SCMP_SYS(listen),
	SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(shutdown), SCMP_SYS(fcntl),
	SCMP_SYS(ioctl), SCMP_SYS(readv), SCMP_SYS(poll),   /* timerfd_settime: every worker */
	SCMP_SYS(openat), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
};
static const unsigned long ioctl_user[] = { FIONREAD, FIONBIO };
static const int family_user[] = { AF_INET, AF_INET6 };

/* virtio-rng, virtio-console, virtio-balloon (its statistics timer). */
static const int sys_device[] = { SCMP_SYS(getrandom), SCMP_SYS(readv), SCMP_SYS(timerfd_settime) };

/* virtio-vsock: the listener on uds_path, clients, connections out to uds_path_PORT. */
static const int sys_vsock[] = {
	SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(accept4), SCMP_SYS(sendmsg),
	SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(readv), SCMP_SYS(shutdown),
	SCMP_SYS(timerfd_settime),   /* handshake timeouts */
};
static const int family_vsock[] = { AF_UNIX };

/* API: connections on the listener main opened, pause/resume (kicks),
 * stats, snapshot files. */
static const int sys_api[] = {
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(shutdown),
	SCMP_SYS(getrandom), SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg), SCMP_SYS(fcntl), SCMP_SYS(openat), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(lseek), SCMP_SYS(pread64), SCMP_SYS(pwrite64),
	SCMP_SYS(ftruncate), SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(rename),
	SCMP_SYS(renameat), SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(ioctl),
	/* Live migration's source (vmm/migrate.c): the API starts its thread,
	 * which connects to the destination, re-registers the memslots for
	 * dirty logging and unlocks the disks at the hand-over. */
	SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(flock), SCMP_SYS(prctl), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(sigaltstack),
};
static const int family_api[] = { AF_UNIX, AF_INET, AF_INET6 };
static const unsigned long ioctl_api[] = {
	KVM_GET_DIRTY_LOG, KVM_GET_IRQCHIP, KVM_GET_PIT2, KVM_GET_CLOCK, KVM_GET_STATS_FD,
	KVM_CHECK_EXTENSION, KVM_IRQ_LINE,   /* stats; Ctrl-Alt-Del into the i8042 */
	KVM_SET_IRQCHIP,                     /* resuming a VM in ACPI S3 wakes it (vmm/sleep.c) */
	KVM_GET_MSR_INDEX_LIST,              /* the vCPU state probe (snapshot, /mvm/vcpus) */
	KVM_SET_USER_MEMORY_REGION,          /* migration: dirty logging on a running VM */
	KVM_ENABLE_CAP, KVM_CLEAR_DIRTY_LOG, /* migration: the manual dirty log (vmm/migrate.c) */
	BLKGETSIZE64,                        /* PATCH /drives path_on_host: a block device's size */
	KVM_REGISTER_COALESCED_MMIO, KVM_UNREGISTER_COALESCED_MMIO, /* COM1 state restored */
};

/* Console: stdin -> the guest (COM1 raises its IRQ line), the terminal. */
static const int sys_console[] = { SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(ioctl) };
static const unsigned long ioctl_tty[] = { TCGETS, TCSETS, TCSETSW, TCSETSF, KVM_IRQ_LINE };

/* Metrics: a JSON line every interval, KVM's statistics. */
static const int sys_metrics[] = {
	SCMP_SYS(getrandom), SCMP_SYS(pread64), SCMP_SYS(ioctl), SCMP_SYS(fstat), SCMP_SYS(lseek),
};
static const unsigned long ioctl_metrics[] = { KVM_GET_STATS_FD };

/* An output queue's writer (util/outq.c): the fd it drains (write, or
 * sendto with MSG_DONTWAIT on a socket), poll for room and its stop
 * eventfd (read is in the base list), and its room callback: COM1 raises
 * its THR-empty interrupt there. Started during the build, before any
 * creator's filter, so this list is all it has. */
static const int sys_outq[] = { SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(sendto), SCMP_SYS(ioctl) };
static const unsigned long ioctl_outq[] = { KVM_IRQ_LINE };

/* Main, after the build: start the threads, wait for a stop (poll, the
 * signalfd), tear the VM down, print the report. */
static const int sys_main[] = {
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(signalfd4), SCMP_SYS(rt_sigaction),
	SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(sigaltstack), SCMP_SYS(ioctl),
	SCMP_SYS(epoll_ctl), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(unlink),
	SCMP_SYS(pread64), SCMP_SYS(io_uring_enter), SCMP_SYS(lseek), SCMP_SYS(fcntl),
	SCMP_SYS(eventfd2), SCMP_SYS(timerfd_settime), SCMP_SYS(getrandom), SCMP_SYS(seccomp),
	SCMP_SYS(prctl), SCMP_SYS(openat),   /* read-only: libslirp's teardown with --net user */
	SCMP_SYS(shutdown),                  /* a migration's socket, closed at teardown */
};
/* The gdb stub (gdb/server.c): one client on a socket opened before the filter; it pauses the
 * VM (kicks, device quiesce through eventfds) and reads guest RAM directly. */
static const int sys_gdb[] = {
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(recvfrom),
	SCMP_SYS(sendto), SCMP_SYS(shutdown), SCMP_SYS(setsockopt),
};
/* Its continue resumes the VM, which wakes one in ACPI S3: the PIC as a BIOS resumes it. */
static const unsigned long ioctl_gdb[] = { KVM_GET_IRQCHIP, KVM_SET_IRQCHIP };
/* Teardown: a stopped device's reset runs on the caller (TUNSETOFFLOAD 0). */
static const unsigned long ioctl_main[] = {
	TCGETS, TCSETS, TCSETSW, TCSETSF, KVM_IRQFD, KVM_IOEVENTFD, KVM_GET_STATS_FD,
	TUNSETOFFLOAD, KVM_REGISTER_COALESCED_MMIO, KVM_UNREGISTER_COALESCED_MMIO,
	KVM_GET_IRQCHIP, KVM_SET_IRQCHIP,   /* an ACPI S3 wake: the PIC as a BIOS resumes it */
};

static const struct sb_list lists[SANDBOX_KINDS] = {
	[SANDBOX_VCPU] = { SB_SYSCALLS(sys_vcpu), SB_IOCTLS(ioctl_vcpu) },
	[SANDBOX_BLK] = SB_SYS(sys_blk),
	[SANDBOX_NET_TAP] = { SB_SYSCALLS(sys_tap), SB_IOCTLS(ioctl_tap) },
	[SANDBOX_NET_USER] = SB_LIST(sys_user, ioctl_user, family_user, false),
	[SANDBOX_DEVICE] = SB_SYS(sys_device),
	[SANDBOX_VSOCK] = { SB_SYSCALLS(sys_vsock), SB_FAMILIES(family_vsock) },
	[SANDBOX_API] = { SB_SYSCALLS(sys_api), SB_IOCTLS(ioctl_api), SB_FAMILIES(family_api),
			  .threads = true, .open_write = true },
	[SANDBOX_CONSOLE] = { SB_SYSCALLS(sys_console), SB_IOCTLS(ioctl_tty) },
	[SANDBOX_METRICS] = { SB_SYSCALLS(sys_metrics), SB_IOCTLS(ioctl_metrics) },
	[SANDBOX_OUTQ] = { SB_SYSCALLS(sys_outq), SB_IOCTLS(ioctl_outq) },
	[SANDBOX_MAIN] = { SB_SYSCALLS(sys_main), SB_IOCTLS(ioctl_main), .threads = true },
	[SANDBOX_GDB] = { SB_SYSCALLS(sys_gdb), SB_IOCTLS(ioctl_gdb) },
};

/* Kinds that run an epoll loop (util/evloop.c). */
static bool sb_is_worker(enum sandbox_kind k)
{
	return k == SANDBOX_BLK || k == SANDBOX_NET_TAP || k == SANDBOX_NET_USER ||
	       k == SANDBOX_DEVICE || k == SANDBOX_VSOCK;
}

static const char *const kind_names[SANDBOX_KINDS] = {
	[SANDBOX_VCPU] = "vcpu", [SANDBOX_BLK] = "blk", [SANDBOX_NET_TAP] = "net-tap",
	[SANDBOX_NET_USER] = "net-user", [SANDBOX_DEVICE] = "device", [SANDBOX_VSOCK] = "vsock",
	[SANDBOX_API] = "api", [SANDBOX_CONSOLE] = "console", [SANDBOX_METRICS] = "metrics",
	[SANDBOX_OUTQ] = "outq", [SANDBOX_MAIN] = "main", [SANDBOX_GDB] = "gdb",
};

/* ---- process state, set by sandbox_setup() before any other thread ------------------------- */

/* LeakSanitizer checks at exit from a cloned tracer that ptrace()s every
 * thread: no allow-list can hold that, so an ASan build only logs. */
#if defined(__SANITIZE_ADDRESS__)
#define SB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SB_ASAN 1
#endif
#endif

#define SB_NAMES    512   /* syscall numbers the report can name */
#define SB_NAME_LEN 24

static enum sandbox_mode sb_mode = SANDBOX_OFF;
static int sb_test_kind = -1;          /* MVM_SECCOMP_TEST */
static atomic_bool sb_test_done;
static char sb_names[SB_NAMES][SB_NAME_LEN];
static __thread char sb_thread[16];    /* this thread's name, for the handler */
static __thread bool sb_in;
static __thread const char *sb_kind;  /* this thread's filter */

/* Each kind's BPF program, compiled once by libseccomp and then loaded by
 * every thread of that kind (compiling costs 0.4-3 ms a kind natively and
 * several times that in an emulated CPU; loading is one syscall). */
static pthread_mutex_t sb_prog_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sock_filter *sb_prog[SANDBOX_KINDS];
static unsigned short sb_prog_len[SANDBOX_KINDS];
static int sb_pipe[2] = { -1, -1 };

int sandbox_parse_mode(const char *s, enum sandbox_mode *mode)
{
	for (int m = SANDBOX_KILL; m <= SANDBOX_OFF; m++) {
		if (!strcmp(s, sandbox_mode_name(m))) {
			*mode = m;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sandbox_mode_name(enum sandbox_mode mode)
{
	return mode == SANDBOX_KILL ? "kill" : mode == SANDBOX_LOG ? "log" : "off";
}

const char *sandbox_kind_name(enum sandbox_kind kind)
{
	return kind < SANDBOX_KINDS ? kind_names[kind] : "?";
}

enum sandbox_mode sandbox_mode(void)
{
	return sb_mode;
}

/* ---- the SIGSYS report: async-signal-safe only ---------------------------------------------- */

static size_t sb_put(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at + 1 < cap)
		buf[at++] = *s++;
	return at;
}

static size_t sb_put_num(char *buf, size_t at, size_t cap, long v)
{
	char tmp[24];
	int n = 0;
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u && n < (int)sizeof(tmp));
	if (v < 0 && at + 1 < cap)
		buf[at++] = '-';
	while (n > 0 && at + 1 < cap)
		buf[at++] = tmp[--n];
	return at;
}

static void sb_sigsys(int sig, siginfo_t *si, void *uc)
{
	char line[256];
	size_t n = 0;
	int nr = si->si_syscall;

	n = sb_put(line, n, sizeof(line), "mvm: seccomp: thread ");
	n = sb_put(line, n, sizeof(line), sb_thread[0] ? sb_thread : "?");
	if (sb_kind) {
		n = sb_put(line, n, sizeof(line), " (");
		n = sb_put(line, n, sizeof(line), sb_kind);
		n = sb_put(line, n, sizeof(line), " filter)");
	}
	n = sb_put(line, n, sizeof(line), " made syscall ");
	n = sb_put_num(line, n, sizeof(line), nr);
	if (nr >= 0 && nr < SB_NAMES && sb_names[nr][0]) {
		n = sb_put(line, n, sizeof(line), " (");
		n = sb_put(line, n, sizeof(line), sb_names[nr]);
		n = sb_put(line, n, sizeof(line), ")");
	}
	n = sb_put(line, n, sizeof(line), ", outside its allow-list; exiting with status ");
	n = sb_put_num(line, n, sizeof(line), SANDBOX_EXIT_STATUS);
	n = sb_put(line, n, sizeof(line), "\n");
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nothing more to do: the exit status still tells */
	}
	_exit(SANDBOX_EXIT_STATUS);
}

int sandbox_setup(enum sandbox_mode mode)
{
	const char *test = getenv("MVM_SECCOMP_TEST");
	struct sigaction sa;

#ifdef SB_ASAN
	if (mode == SANDBOX_KILL)
		mode = SANDBOX_LOG;
#endif
	sb_mode = mode;
	sb_test_kind = -1;
	atomic_store(&sb_test_done, false);
	if (test && *test) {
		for (int k = 0; k < SANDBOX_KINDS; k++)
			if (!strcmp(test, kind_names[k]))
				sb_test_kind = k;
		if (sb_test_kind < 0)
			log_warn("MVM_SECCOMP_TEST=%s: not a thread kind; ignored", test);
	}
	if (mode == SANDBOX_OFF)
		return 0;
	/* libseccomp 2.5 exports a filter's BPF only to a file descriptor: this
	 * pipe carries each kind's program back (read, write: in every list). */
	if (sb_pipe[0] < 0 && pipe2(sb_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		int err = errno;

		log_err("seccomp: pipe2: %s", strerror(err));
		return -err;
	}
	/* glibc counts the CPUs (opening /sys/devices/system/cpu/online) when a
	 * thread's first malloc makes the 9th arena: fix the limit now, at its
	 * default, so no filtered thread ever does. */
	mallopt(M_ARENA_MAX, 8 * (get_nprocs() > 0 ? get_nprocs() : 1));
	/* gmtime_r (the CMOS RTC, on a vCPU) loads /etc/localtime on its first
	 * call in the process: load it now. */
	tzset();
	for (int nr = 0; nr < SB_NAMES; nr++) {
		char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		sb_names[nr][0] = '\0';
		if (s)
			strncat(sb_names[nr], s, SB_NAME_LEN - 1);
		free(s);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sb_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		int err = errno;

		log_err("seccomp: cannot install the SIGSYS handler: %s", strerror(err));
		return -err;
	}
	return 0;
}

/* ---- building a filter ---------------------------------------------------------------------- */

static int sb_add_list(scmp_filter_ctx ctx, const struct sb_list *l)
{
	int rc;

	for (size_t i = 0; i < l->nsys; i++) {
		if (l->sys[i] == SCMP_SYS(ioctl) || l->sys[i] == SCMP_SYS(socket))
			continue;   /* argument-checked below */
		if (l->sys[i] == SCMP_SYS(prctl)) {
			/* A new thread names itself and installs its own filter. */
			static const int ops[] = { PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS };

			for (size_t j = 0; j < ARRAY_LEN(ops); j++)
				if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
							   SCMP_A0(SCMP_CMP_EQ, ops[j], 0))))
					return rc;
			continue;
		}
		if (l->sys[i] == SCMP_SYS(openat) && !l->open_write) {
			/* Reading a file (libslirp: /etc/resolv.conf), never writing one. */
			if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
						   SCMP_A2(SCMP_CMP_MASKED_EQ,
							   O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY))))
				return rc;
			continue;
		}
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, l->sys[i], 0)))
			return rc;
	}
	for (size_t i = 0; i < l->nioctls; i++)
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
					   SCMP_A1(SCMP_CMP_EQ, l->ioctls[i], 0))))
			return rc;
	for (size_t i = 0; i < l->nfamilies; i++)
		if (l->families[i] >= 0 &&
		    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
					   SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)l->families[i], 0))))
			return rc;
	if (l->threads) {
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
					   SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD))))
			return rc;
	}
	return 0;
}

/* KIND's filter in ctx; the main thread's holds the lists of the threads it starts. */
static int sb_build(scmp_filter_ctx ctx, enum sandbox_kind kind)
{
	const struct sb_list base = SB_SYS(sys_base), worker = SB_SYS(sys_worker);
	int rc;

	if ((rc = sb_add_list(ctx, &base)) || (rc = sb_add_list(ctx, &lists[kind])))
		return rc;
	if (sb_is_worker(kind) && (rc = sb_add_list(ctx, &worker)))
		return rc;
	if (kind == SANDBOX_MAIN) {
		static const enum sandbox_kind children[] = { SANDBOX_VCPU, SANDBOX_CONSOLE,
							      SANDBOX_METRICS };

		for (size_t i = 0; i < ARRAY_LEN(children); i++)
			if ((rc = sb_add_list(ctx, &lists[children[i]])))
				return rc;
	}
	/* glibc's thread start-up and exit, in the creator's filter too. */
	if (kind == SANDBOX_MAIN || kind == SANDBOX_API) {
		/* clone3's flags are behind a pointer: ENOSYS makes glibc use clone. */
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)))
			return rc;
	}
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				   SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				   SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))))
		return rc;
	return 0;
}

static scmp_filter_ctx sb_new(enum sandbox_kind kind, enum sandbox_mode mode, int *err)
{
	uint32_t deny = mode == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
	scmp_filter_ctx ctx = seccomp_init(deny);
	int rc;

	if (!ctx) {
		*err = -ENOMEM;
		return NULL;
	}
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, deny)) ||
	    (rc = sb_build(ctx, kind))) {
		seccomp_release(ctx);
		*err = rc;
		return NULL;
	}
	return ctx;
}

int sandbox_check_kind(enum sandbox_kind kind, enum sandbox_mode mode)
{
	bool seen[SB_NAMES] = { false };
	int err = 0, count = 0;
	scmp_filter_ctx ctx;

	if (kind >= SANDBOX_KINDS || mode == SANDBOX_OFF)
		return -EINVAL;
	ctx = sb_new(kind, mode, &err);
	if (!ctx)
		return err;
	seccomp_release(ctx);
	/* The count: the distinct syscalls the lists name (argument checks aside). */
	{
		const struct sb_list base = SB_SYS(sys_base), worker = SB_SYS(sys_worker);
		const struct sb_list *ls[6] = { &base, &lists[kind] };
		size_t n = 2;

		if (sb_is_worker(kind))
			ls[n++] = &worker;
		if (kind == SANDBOX_MAIN) {
			ls[n++] = &lists[SANDBOX_VCPU];
			ls[n++] = &lists[SANDBOX_CONSOLE];
			ls[n++] = &lists[SANDBOX_METRICS];
		}
		seen[SCMP_SYS(mmap)] = seen[SCMP_SYS(mprotect)] = true;
		for (size_t j = 0; j < n; j++) {
			for (size_t i = 0; i < ls[j]->nsys; i++)
				if (ls[j]->sys[i] >= 0 && ls[j]->sys[i] < SB_NAMES)
					seen[ls[j]->sys[i]] = true;
			if (ls[j]->nioctls)
				seen[SCMP_SYS(ioctl)] = true;
			if (ls[j]->nfamilies)
				seen[SCMP_SYS(socket)] = true;
			if (ls[j]->threads)
				seen[SCMP_SYS(clone)] = true;
		}
	}
	for (int i = 0; i < SB_NAMES; i++)
		count += seen[i];
	return count;
}

/* KIND's program into sb_prog (sb_prog_lock held): libseccomp builds it, exports it into the
 * pipe, and it is read back. */
static int sb_compile(enum sandbox_kind kind)
{
	const size_t cap = BPF_MAXINSNS * sizeof(struct sock_filter);
	uint8_t *buf;
	size_t len = 0;
	scmp_filter_ctx ctx;
	int err = 0;

	if (!(ctx = sb_new(kind, sb_mode, &err)))
		return err;
	err = seccomp_export_bpf(ctx, sb_pipe[1]);
	seccomp_release(ctx);
	if (err)
		return err;
	if (!(buf = malloc(cap + 1)))
		err = -ENOMEM;
	while (!err) {
		ssize_t n = read(sb_pipe[0], buf + len, cap + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			err = n < 0 ? -errno : -EIO;
		else if ((len += (size_t)n) > cap)
			err = -E2BIG;
	}
	if (!err && (len == 0 || len % sizeof(struct sock_filter)))
		err = -EPROTO;
	if (err) {
		uint8_t drain[256];

		/* Leave the pipe empty for the next kind. */
		while (read(sb_pipe[0], drain, sizeof(drain)) > 0)
			;
		free(buf);
		return err;
	}
	sb_prog[kind] = (struct sock_filter *)buf;
	sb_prog_len[kind] = (unsigned short)(len / sizeof(struct sock_filter));
	return 0;
}

int sandbox_prepare(enum sandbox_kind kind)
{
	int err = 0;

	if (sb_mode == SANDBOX_OFF || kind >= SANDBOX_KINDS)
		return 0;
	pthread_mutex_lock(&sb_prog_lock);
	if (!sb_prog[kind])
		err = sb_compile(kind);
	pthread_mutex_unlock(&sb_prog_lock);
	return err;
}

struct sb_prepare_job {
	enum sandbox_kind kinds[SANDBOX_KINDS];
	size_t n;
};

static void *sb_prepare_thread(void *arg)
{
	struct sb_prepare_job *job = arg;

	prctl(PR_SET_NAME, "mvm-seccomp", 0, 0, 0);
	for (size_t i = 0; i < job->n; i++)
		sandbox_prepare(job->kinds[i]);   /* a failure is sandbox_enter's to report */
	free(job);
	return NULL;
}

int sandbox_prepare_async(const enum sandbox_kind *kinds, size_t n)
{
	struct sb_prepare_job *job;
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;
	int err;

	if (sb_mode == SANDBOX_OFF || n == 0)
		return 0;
	if (n > SANDBOX_KINDS || !(job = calloc(1, sizeof(*job))))
		return n > SANDBOX_KINDS ? -EINVAL : -ENOMEM;
	memcpy(job->kinds, kinds, n * sizeof(*kinds));
	job->n = n;
	/* All signals blocked on it: a SIGTERM must reach the thread that
	 * handles it (vm_run's signalfd), not end mvm on this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, sb_prepare_thread, job);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		free(job);
		return -err;
	}
	return 0;
}

/* KIND's program on this thread: what libseccomp's seccomp_load does (no new
 * privileges, then the filter, no flags), from the compiled copy. */
static int sb_load(enum sandbox_kind kind)
{
	struct sock_fprog prog;
	int err = sandbox_prepare(kind);

	if (err)
		return err;
	prog.len = sb_prog_len[kind];
	prog.filter = sb_prog[kind];
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}

void sandbox_enter(enum sandbox_kind kind)
{
	sigset_t sys;
	bool test;
	int err = 0;

	if (sb_mode == SANDBOX_OFF || sb_in || kind >= SANDBOX_KINDS)
		return;
	if (prctl(PR_GET_NAME, sb_thread, 0, 0, 0) < 0)
		strcpy(sb_thread, kind_names[kind]);
	/* A blocked SIGSYS would kill without the report (workers block all). */
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	sb_kind = kind_names[kind];
	log_debug("seccomp: %s filter (%s) on thread %s", kind_names[kind],
		  sandbox_mode_name(sb_mode), sb_thread);
	test = (int)kind == sb_test_kind && !atomic_exchange(&sb_test_done, true);
	if (test)
		log_info("MVM_SECCOMP_TEST: thread %s makes a forbidden syscall (personality) "
			 "once its %s filter is in", sb_thread, kind_names[kind]);
	err = sb_load(kind);
	if (err) {
		log_err("seccomp: cannot install the %s filter on thread %s: %s (a host without "
			"seccomp needs --seccomp off)", kind_names[kind], sb_thread, strerror(-err));
		_exit(1);
	}
	sb_in = true;
	if (test)
		syscall(SYS_personality, 0xffffffffUL);
}
