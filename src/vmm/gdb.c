/* gdb.c - the gdb stub's target: halt and resume through vm_pause/vm_resume, vCPU registers
 * and guest debug on each vCPU's own thread, guest RAM through gmem, KVM_EXIT_DEBUG. */
#include "vmm/gdb.h"
#include "gdb/server.h"
#include "gdb/stub.h"
#include "util/err.h"
#include "util/log.h"
#include "vmm/devices.h"
#include "vmm/vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#ifndef KVM_GUESTDBG_BLOCKIRQ
#define KVM_GUESTDBG_BLOCKIRQ 0x00100000
#endif

struct gdb_pending {
	bool set;
	uint32_t exception;
	uint64_t dr6, pc;
};

struct vm_gdb {
	struct vm *vm;
	struct gdb_server srv;
	int efd;                         /* a vCPU stopped for the debugger */
	pthread_mutex_t lock;            /* pending[] */
	struct gdb_pending *pending;     /* per vCPU */
	int next;                        /* round robin over pending vCPUs */
	bool blockirq_refused;           /* KVM without KVM_GUESTDBG_BLOCKIRQ */
};

/* ---- the vCPU side ------------------------------------------------------------------------- */

/* On a vCPU's thread, after KVM_EXIT_DEBUG: note why, wake the stub, and wait for its pause
 * so the vCPU parks instead of running on (it parks at the top of its loop). */
static void gdb_debug_exit(void *ctx, struct vcpu *v)
{
	struct vm *vm = ctx;
	struct vm_gdb *g = vm->gdb;
	uint64_t one = 1;

	pthread_mutex_lock(&g->lock);
	g->pending[v->index] = (struct gdb_pending){
		.set = true, .exception = v->run->debug.arch.exception,
		.dr6 = v->run->debug.arch.dr6, .pc = v->run->debug.arch.pc,
	};
	pthread_mutex_unlock(&g->lock);
	(void)!write(g->efd, &one, sizeof(one));
	pthread_mutex_lock(&vm->pause_lock);
	while (!atomic_load(&vm->paused) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
}

/* vm_pause() returns at once on a VM paused already (--gdb-wait, or the vCPUs not started
 * yet): wait until every vCPU has parked, where vm_vcpus_call can reach it. */
static int wait_parked(struct vm *vm)
{
	struct timespec until;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += VM_PAUSE_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->nr_parked < vm->nr_vcpus && !atomic_load(&vm->stopping) && !ret)
		ret = pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &until);
	if (atomic_load(&vm->stopping))
		ret = ESHUTDOWN;
	pthread_mutex_unlock(&vm->pause_lock);
	return -ret;
}

/* One call on the chosen vCPU's own thread. */
struct on_cpu {
	int cpu;
	int (*fn)(struct vcpu *v, void *arg);
	void *arg;
	int ret;
};

static void on_cpu_fn(struct vcpu *v, void *arg)
{
	struct on_cpu *c = arg;

	if (v->index == c->cpu || c->cpu < 0) {
		int ret = c->fn(v, c->arg);

		if (ret && !c->ret)
			c->ret = ret;
	}
}

static int run_on(struct vm *vm, int cpu, int (*fn)(struct vcpu *, void *), void *arg)
{
	struct on_cpu c = { .cpu = cpu, .fn = fn, .arg = arg };
	int ret;

	if ((ret = wait_parked(vm)) || (ret = vm_vcpus_call(vm, on_cpu_fn, &c)))
		return ret;
	return c.ret;
}

/* ---- registers ----------------------------------------------------------------------------- */

static void to_gdb(struct gdb_regs *r, const struct kvm_regs *k, const struct kvm_sregs *s,
		   const struct kvm_fpu *f)
{
	const uint64_t gpr[16] = { k->rax, k->rbx, k->rcx, k->rdx, k->rsi, k->rdi, k->rbp, k->rsp,
				   k->r8, k->r9, k->r10, k->r11, k->r12, k->r13, k->r14, k->r15 };

	memset(r, 0, sizeof(*r));
	memcpy(r->gpr, gpr, sizeof(gpr));
	r->rip = k->rip;
	r->eflags = (uint32_t)k->rflags;
	r->seg[0] = s->cs.selector; r->seg[1] = s->ss.selector; r->seg[2] = s->ds.selector;
	r->seg[3] = s->es.selector; r->seg[4] = s->fs.selector; r->seg[5] = s->gs.selector;
	for (int i = 0; i < 8; i++)
		memcpy(r->st[i], f->fpr[i], 10);
	r->fctrl = f->fcw;
	r->fstat = f->fsw;
	r->ftag = gdb_ftag_full(f->ftwx, f->fsw, r->st);
	r->fioff = (uint32_t)f->last_ip;
	r->fiseg = (uint32_t)(f->last_ip >> 32);
	r->fooff = (uint32_t)f->last_dp;
	r->foseg = (uint32_t)(f->last_dp >> 32);
	r->fop = f->last_opcode;
	memcpy(r->xmm, f->xmm, sizeof(r->xmm));
	r->mxcsr = f->mxcsr;
	r->fs_base = s->fs.base;
	r->gs_base = s->gs.base;
	r->cr0 = s->cr0; r->cr2 = s->cr2; r->cr3 = s->cr3; r->cr4 = s->cr4; r->cr8 = s->cr8;
	r->efer = s->efer;
}

static void from_gdb(const struct gdb_regs *r, struct kvm_regs *k, struct kvm_sregs *s,
		     struct kvm_fpu *f)
{
	__u64 *gpr[16] = { &k->rax, &k->rbx, &k->rcx, &k->rdx, &k->rsi, &k->rdi, &k->rbp,
			      &k->rsp, &k->r8, &k->r9, &k->r10, &k->r11, &k->r12, &k->r13,
			      &k->r14, &k->r15 };

	for (int i = 0; i < 16; i++)
		*gpr[i] = r->gpr[i];
	k->rip = r->rip;
	k->rflags = (k->rflags & ~0xffffffffull) | r->eflags;
	s->cs.selector = (uint16_t)r->seg[0]; s->ss.selector = (uint16_t)r->seg[1];
	s->ds.selector = (uint16_t)r->seg[2]; s->es.selector = (uint16_t)r->seg[3];
	s->fs.selector = (uint16_t)r->seg[4]; s->gs.selector = (uint16_t)r->seg[5];
	for (int i = 0; i < 8; i++)
		memcpy(f->fpr[i], r->st[i], 10);
	f->fcw = (uint16_t)r->fctrl;
	f->fsw = (uint16_t)r->fstat;
	f->ftwx = gdb_ftag_abridged((uint16_t)r->ftag);
	f->last_ip = (uint64_t)r->fiseg << 32 | r->fioff;
	f->last_dp = (uint64_t)r->foseg << 32 | r->fooff;
	f->last_opcode = (uint16_t)r->fop;
	memcpy(f->xmm, r->xmm, sizeof(r->xmm));
	f->mxcsr = r->mxcsr;
	s->fs.base = r->fs_base;
	s->gs.base = r->gs_base;
	s->cr0 = r->cr0; s->cr2 = r->cr2; s->cr3 = r->cr3; s->cr4 = r->cr4; s->cr8 = r->cr8;
	s->efer = r->efer;
}

struct regs_io {
	struct gdb_regs *get;
	const struct gdb_regs *set;
};

static int regs_fn(struct vcpu *v, void *arg)
{
	struct regs_io *io = arg;
	struct kvm_regs k, k2;
	struct kvm_sregs s, s2;
	struct kvm_fpu f, f2;

	if (ioctl(v->fd, KVM_GET_REGS, &k) || ioctl(v->fd, KVM_GET_SREGS, &s) ||
	    ioctl(v->fd, KVM_GET_FPU, &f))
		return -errno;
	if (io->get) {
		to_gdb(io->get, &k, &s, &f);
		return 0;
	}
	k2 = k; s2 = s; f2 = f;
	from_gdb(io->set, &k2, &s2, &f2);
	/* Only what changed goes back: a write of rax must not reload segments. */
	if ((memcmp(&k, &k2, sizeof(k)) && ioctl(v->fd, KVM_SET_REGS, &k2)) ||
	    (memcmp(&s, &s2, sizeof(s)) && ioctl(v->fd, KVM_SET_SREGS, &s2)) ||
	    (memcmp(&f, &f2, sizeof(f)) && ioctl(v->fd, KVM_SET_FPU, &f2)))
		return -errno;
	return 0;
}

static int t_get_regs(void *t, int cpu, struct gdb_regs *r)
{
	struct vm_gdb *g = t;
	struct regs_io io = { .get = r };

	if (cpu < 0 || cpu >= g->vm->nr_vcpus)
		return -EINVAL;
	return run_on(g->vm, cpu, regs_fn, &io);
}

static int t_set_regs(void *t, int cpu, const struct gdb_regs *r)
{
	struct vm_gdb *g = t;
	struct regs_io io = { .set = r };

	if (cpu < 0 || cpu >= g->vm->nr_vcpus)
		return -EINVAL;
	return run_on(g->vm, cpu, regs_fn, &io);
}

/* ---- memory, debug state, resume ------------------------------------------------------------ */

static int t_read_phys(void *t, uint64_t gpa, void *buf, size_t len)
{
	struct vm_gdb *g = t;

	return gmem_read(&g->vm->mem, gpa, buf, len) ? -EFAULT : 0;
}

static int t_write_phys(void *t, uint64_t gpa, const void *buf, size_t len)
{
	struct vm_gdb *g = t;

	return gmem_write(&g->vm->mem, gpa, buf, len) ? -EFAULT : 0;
}

struct debug_io {
	struct vm_gdb *g;
	const struct gdb_debug *dbg;   /* NULL: debugging off */
};

static int debug_fn(struct vcpu *v, void *arg)
{
	struct debug_io *io = arg;
	struct kvm_guest_debug d;

	memset(&d, 0, sizeof(d));
	if (io->dbg) {
		d.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
		if (io->dbg->hw) {
			d.control |= KVM_GUESTDBG_USE_HW_BP;
			for (int i = 0; i < GDB_NR_HWBP; i++)
				d.arch.debugreg[i] = io->dbg->dr[i];
			d.arch.debugreg[7] = io->dbg->dr7;
		}
		if (io->dbg->step_cpu == v->index) {
			d.control |= KVM_GUESTDBG_SINGLESTEP;
			/* A step should not land in an interrupt handler. */
			if (!io->g->blockirq_refused) {
				d.control |= KVM_GUESTDBG_BLOCKIRQ;
				if (!ioctl(v->fd, KVM_SET_GUEST_DEBUG, &d))
					return 0;
				if (errno != EINVAL)
					return -errno;
				io->g->blockirq_refused = true;
				d.control &= ~(uint32_t)KVM_GUESTDBG_BLOCKIRQ;
			}
		}
	}
	return ioctl(v->fd, KVM_SET_GUEST_DEBUG, &d) ? -errno : 0;
}

static bool any_pending(struct vm_gdb *g)
{
	bool any = false;

	pthread_mutex_lock(&g->lock);
	for (int i = 0; i < g->vm->nr_vcpus; i++)
		any |= g->pending[i].set;
	pthread_mutex_unlock(&g->lock);
	return any;
}

static int set_debug_and_run(struct vm_gdb *g, const struct gdb_debug *dbg)
{
	struct debug_io io = { .g = g, .dbg = dbg };
	uint64_t one = 1;
	int ret = run_on(g->vm, -1, debug_fn, &io);

	if (ret) {
		log_err("gdb: KVM_SET_GUEST_DEBUG: %s", strerror(-ret));
		if (dbg)
			return ret;
	}
	/* Another vCPU stopped at the same time: report it before anything runs. */
	if (dbg && any_pending(g)) {
		(void)!write(g->efd, &one, sizeof(one));
		return 0;
	}
	ret = vm_resume(g->vm);
	return ret == -ESHUTDOWN ? 0 : ret;
}

static int t_resume(void *t, const struct gdb_debug *dbg)
{
	return set_debug_and_run(t, dbg);
}

static int inject_fn(struct vcpu *v, void *arg)
{
	struct kvm_vcpu_events ev;

	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev))
		return -errno;
	ev.exception.injected = 1;
	ev.exception.nr = 3;   /* #BP */
	ev.exception.has_error_code = 0;
	ev.exception.error_code = 0;
	return ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) ? -errno : 0;
}

static int t_inject_bp(void *t, int cpu)
{
	struct vm_gdb *g = t;

	return run_on(g->vm, cpu, inject_fn, NULL);
}

static void t_kill(void *t)
{
	struct vm_gdb *g = t;

	log_info("gdb: the client killed the VM");
	vm_request_stop(g->vm, VM_STOP_USER);
}

static int s_halt(void *t, enum gdb_stop_why fallback, struct gdb_stop_info *st)
{
	struct vm_gdb *g = t;
	int n = g->vm->nr_vcpus, ret;

	if ((ret = vm_pause(g->vm)) || (ret = wait_parked(g->vm)))
		return ret;
	*st = (struct gdb_stop_info){ .cpu = 0, .why = fallback };
	pthread_mutex_lock(&g->lock);
	for (int k = 0; k < n; k++) {
		int i = (g->next + k) % n;

		if (g->pending[i].set) {
			*st = (struct gdb_stop_info){ .cpu = i, .why = GDB_STOP_DEBUG,
						      .exception = g->pending[i].exception,
						      .dr6 = g->pending[i].dr6,
						      .pc = g->pending[i].pc };
			g->pending[i].set = false;
			g->next = (i + 1) % n;
			break;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void s_release(void *t)
{
	struct vm_gdb *g = t;

	pthread_mutex_lock(&g->lock);
	for (int i = 0; i < g->vm->nr_vcpus; i++)
		g->pending[i].set = false;
	pthread_mutex_unlock(&g->lock);
	set_debug_and_run(g, NULL);
}

static const struct gdb_target_ops target_ops = {
	.get_regs = t_get_regs, .set_regs = t_set_regs, .read_phys = t_read_phys,
	.write_phys = t_write_phys, .resume = t_resume, .inject_bp = t_inject_bp, .kill = t_kill,
};

static const struct gdb_server_ops server_ops = { .halt = s_halt, .release = s_release };

/* ---- life ------------------------------------------------------------------------------------ */

static void gdb_free(struct vm_gdb *g)
{
	if (g->efd >= 0)
		close(g->efd);
	pthread_mutex_destroy(&g->lock);
	free(g->pending);
	free(g);
}

static int gdb_start(struct vm *vm, const char *addr, bool wait)
{
	struct vm_gdb *g = calloc(1, sizeof(*g));
	char err[256] = "";
	int ret;

	if (!g)
		return -ENOMEM;
	g->vm = vm;
	pthread_mutex_init(&g->lock, NULL);
	g->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	g->pending = calloc((size_t)vm->nr_vcpus, sizeof(*g->pending));
	if (g->efd < 0 || !g->pending) {
		ret = g->efd < 0 ? -errno : -ENOMEM;
		gdb_free(g);
		return ret;
	}
	ret = gdb_server_open(&g->srv, addr, err, sizeof(err));
	if (ret) {
		log_err("--gdb %s", err);
		gdb_free(g);
		return ret;
	}
	if (wait) {
		/* Hold every vCPU before its first KVM_RUN, as a paused restore does. */
		if (vm->devices && (ret = vm_devices_quiesce(vm->devices, VM_PAUSE_TIMEOUT_MS, NULL, 0))) {
			gdb_server_stop(&g->srv, 0);
			gdb_free(g);
			return ret;
		}
		atomic_store(&vm->paused, true);
	}
	vm->gdb = g;
	vm->vcpu_host.debug_exit = gdb_debug_exit;
	ret = gdb_server_start(&g->srv, &target_ops, &server_ops, g, vm->nr_vcpus, g->efd, wait);
	if (ret) {
		log_err("--gdb: starting the stub's thread: %s", strerror(-ret));
		vm->vcpu_host.debug_exit = NULL;
		vm->gdb = NULL;
		gdb_server_stop(&g->srv, 0);
		gdb_free(g);
		return ret;
	}
	log_info("gdb: waiting for a client on %s%s", addr,
		 wait ? " (the VM starts when it continues)" : "");
	return 0;
}

int vm_gdb_start(struct vm *vm, const char *addr, bool wait, int *exit_status)
{
	int ret;

	err_reset();
	ret = gdb_start(vm, addr, wait);
	/* What gdb/server.c marked (the address's or the host's); else the host's. */
	*exit_status = ret ? err_exit_status(ERR_HOST) : 0;
	return ret;
}

void vm_gdb_stop(struct vm *vm, int exit_status)
{
	struct vm_gdb *g = vm->gdb;

	if (!g)
		return;
	gdb_server_stop(&g->srv, exit_status);
	vm->vcpu_host.debug_exit = NULL;
	vm->gdb = NULL;
	gdb_free(g);
}
