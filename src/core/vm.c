/* vm.c - VM lifecycle: assembly in a fixed order, run, stop, teardown. */
#include "core/vm.h"
#include "board/board.h"
#include "boot/acpi/acpi.h"
#include "boot/boot.h"
#include "core/cpu.h"
#include "core/exit_trace.h"
#include "core/layout.h"
#include "core/metrics.h"
#include "core/ring3.h"
#include "hcall/hcall.h"
#include "hcall/hcall_net.h"
#include "util/bench_probe.h"
#include "util/log.h"
#include "virtio/console.h"
#include "virtio/devices.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void vm_irq_set(void *ctx, uint32_t gsi, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0)
		log_debug("KVM_IRQ_LINE gsi %u level %d: %s", gsi, level, strerror(errno));
}

/* KVM_IOEVENTFD: a 4-byte write of datamatch at addr signals fd in the
 * kernel, without an exit to mvm (a virtio queue notification). */
static int vm_ioeventfd(void *ctx, uint64_t addr, uint32_t datamatch, int fd)
{
	struct vm *vm = ctx;
	struct kvm_ioeventfd io = {
		.datamatch = datamatch, .addr = addr, .len = 4, .fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};

	return ioctl(vm->fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* KVM_IRQFD: a write to fd raises an edge on gsi from any thread. */
static int vm_irqfd(void *ctx, uint32_t gsi, int fd)
{
	struct vm *vm = ctx;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };

	return ioctl(vm->fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

static void vm_stop_request_cb(void *ctx, enum vm_stop_reason reason)
{
	vm_request_stop(ctx, reason);
}

/* The status is recorded only by the request that wins, so a later
 * debug-exit write cannot change the status of an earlier stop. */
static void vm_stop_request_exit_cb(void *ctx, int status)
{
	struct vm *vm = ctx;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason == VM_STOP_NONE)
		vm->guest_exit_status = status;
	pthread_mutex_unlock(&vm->stop_lock);
	vm_request_stop(vm, VM_STOP_GUEST_EXIT);
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason == VM_STOP_NONE)
		vm->stop_reason = reason;
	pthread_mutex_unlock(&vm->stop_lock);
	atomic_store(&vm->stopping, true);
	/* A failed write means the counter is already non-zero: vm_run wakes either way. */
	(void)!write(vm->stop_efd, &one, sizeof(one));
}

static int vm_check_config(const struct vm_config *cfg)
{
	if (cfg->nr_cpus < 1 || cfg->nr_cpus > VM_MAX_CPUS) {
		log_err("--cpus %d: must be between 1 and %d", cfg->nr_cpus, VM_MAX_CPUS);
		return -EINVAL;
	}
	return 0;
}

/* Whether boot_load() will take the kernel as a tiny guest (no --kernel: the
 * built-in demo). Asked before the device plan, because a tiny guest's first
 * --net belongs to its net hypercalls and gets no virtio-net window.
 * Unreadable files say no; boot_load() reports them. */
static bool vm_kernel_is_tiny(const struct vm_config *cfg)
{
	struct boot_src src = { .what = "kernel", .name = cfg->kernel_path, .fd = -1 };
	struct stat st;
	uint64_t len;
	bool tiny = false;

	if (!cfg->kernel_path)
		return elf64_builtin_demo(&len) != NULL;
	src.fd = open(cfg->kernel_path, O_RDONLY | O_CLOEXEC);
	if (src.fd < 0)
		return false;
	if (fstat(src.fd, &st) == 0 && S_ISREG(st.st_mode)) {
		src.len = (uint64_t)st.st_size;
		tiny = elf64_is_tiny_guest(&src) == 1;
	}
	close(src.fd);
	return tiny;
}

/* Guest RAM, ACPI tables, kernel, boot page tables: everything that reads
 * user input, done before KVM is touched so bad input fails the same way on
 * every host. */
static int vm_load_guest(struct vm *vm, const struct vm_config *cfg,
			 struct boot_entry *entry, int *exit_status)
{
	/* A tiny guest's first --net is its net hypercalls' backend, not a
	 * virtio-net device (docs/guest-abi.md): the devices see the others. */
	bool tiny = vm_kernel_is_tiny(cfg);
	struct vm_config dev_cfg = *cfg;
	struct acpi_cfg acpi = { .nr_cpus = cfg->nr_cpus };
	struct boot_cfg boot = {
		.kernel_path = cfg->kernel_path,
		.initrd_path = cfg->initrd_path,
	};
	char *cmdline;
	int ret;

	/* The devices' windows and GSIs go into the DSDT and the command line. */
	vm->devices = calloc(1, sizeof(*vm->devices));
	cmdline = malloc(LAYOUT_CMDLINE_MAX);
	if (!vm->devices || !cmdline) {
		free(cmdline);
		log_err("out of memory for the device plan");
		*exit_status = MVM_EXIT_HOST;
		return -ENOMEM;
	}
	if (tiny && dev_cfg.nr_nets > 0) {
		memmove(dev_cfg.nets, dev_cfg.nets + 1, (dev_cfg.nr_nets - 1) * sizeof(dev_cfg.nets[0]));
		memmove(dev_cfg.net_ids, dev_cfg.net_ids + 1,
			(dev_cfg.nr_nets - 1) * sizeof(dev_cfg.net_ids[0]));
		dev_cfg.nr_nets--;
	}
	if ((ret = vm_devices_plan(vm->devices, &dev_cfg)))
		goto out;
	acpi.mmio_devs = vm->devices->acpi;
	acpi.nr_mmio_devs = vm->devices->nr_slots;
	if (vm_devices_cmdline(vm->devices, cfg->cmdline ? cfg->cmdline : VM_DEFAULT_CMDLINE,
			       cmdline, LAYOUT_CMDLINE_MAX)) {
		log_err("--cmdline: too long with the virtio_mmio.device= entries added "
			"(at most %llu bytes)", (unsigned long long)LAYOUT_CMDLINE_MAX - 1);
		ret = -EINVAL;
		goto out;
	}
	boot.cmdline = cmdline;

	ret = gmem_init(&vm->mem, cfg->mem_size);
	if (ret) {
		log_err("--mem %llu MiB: cannot map guest RAM: %s",
			(unsigned long long)(cfg->mem_size >> 20), strerror(-ret));
		*exit_status = ret == -EINVAL ? MVM_EXIT_USAGE : MVM_EXIT_HOST;
		goto out;
	}
	*exit_status = MVM_EXIT_HOST;
	ret = acpi_build(&vm->mem, &acpi, &boot.rsdp_gpa);
	if (ret) {
		log_err("building ACPI tables: %s", strerror(-ret));
		goto out;
	}
	ret = boot_load(&vm->mem, &boot, entry);
	if (ret) {
		/* Missing, unreadable or malformed kernel/initrd: the user's input. */
		*exit_status = ret == -ENOMEM ? MVM_EXIT_HOST : MVM_EXIT_USAGE;
		goto out;
	}
	*exit_status = MVM_EXIT_HOST;
	if ((entry->mode == BOOT_MODE_ELF64) != tiny) {
		log_err("%s changed while mvm was reading it", cfg->kernel_path);
		ret = -EIO;
		goto out;
	}
	ret = cpu_write_boot_tables(&vm->mem);
	if (!ret && entry->mode == BOOT_MODE_ELF64)
		ret = ring3_write_tables(&vm->mem);
	if (ret) {
		log_err("writing the boot page tables and GDT: %s", strerror(-ret));
		goto out;
	}
	/* Disk images, tap devices, slirp: the user's input too, checked before KVM. */
	ret = vm_devices_create(vm->devices, &dev_cfg, &vm->mem);
	if (!ret && tiny && cfg->nr_nets > 0)
		ret = hcall_net_open(&vm->hcall_net, cfg->nets[0]);
	if (ret)
		*exit_status = (ret == -ENOMEM || ret == -EIO) ? MVM_EXIT_HOST : MVM_EXIT_USAGE;
out:
	free(cmdline);
	return ret;
}

static int vm_ioctl(struct vm *vm, unsigned long req, unsigned long arg, const char *what)
{
	if (ioctl(vm->fd, req, arg) < 0) {
		int err = errno;

		log_err("%s: %s", what, strerror(err));
		return -err;
	}
	return 0;
}

static int vm_create_kvm_vm(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = LAYOUT_IDENTITY_MAP;
	int ret;

	do
		vm->fd = ioctl(vm->kvm.fd, KVM_CREATE_VM, 0);
	while (vm->fd < 0 && errno == EINTR);
	if (vm->fd < 0) {
		int err = errno;

		log_err("KVM_CREATE_VM: %s", strerror(err));
		return -err;
	}
	/* x86 needs both before the first vCPU exists (they sit in the MMIO hole). */
	if ((ret = vm_ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, (unsigned long)&identity,
			    "KVM_SET_IDENTITY_MAP_ADDR")) ||
	    (ret = vm_ioctl(vm, KVM_SET_TSS_ADDR, LAYOUT_TSS, "KVM_SET_TSS_ADDR")) ||
	    (ret = vm_ioctl(vm, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP")) ||
	    (ret = vm_ioctl(vm, KVM_CREATE_PIT2, (unsigned long)&pit, "KVM_CREATE_PIT2")))
		return ret;

	for (int i = 0; i < vm->mem.nr_regions; i++) {
		const struct gmem_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i, .guest_phys_addr = r->gpa, .memory_size = r->size,
			.userspace_addr = (uintptr_t)r->host,
		};

		ret = vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&slot,
			       "KVM_SET_USER_MEMORY_REGION");
		if (ret)
			return ret;
	}
	return 0;
}

/* Hypercall ports for an ELF64 tiny guest; the first --disk is its block device. */
static int vm_create_hcall(struct vm *vm, const struct vm_config *cfg,
			   const struct boot_entry *entry, const struct vm_stopper *stopper)
{
	struct hcall_cfg hc;
	int ret;

	/* The guest finds its virtio-mmio windows in the boot info. */
	for (int i = 0; vm->devices && i < vm->devices->nr_slots; i++) {
		const struct vm_device_slot *d = &vm->devices->slots[i];

		if (elf64_add_device(&vm->mem, entry->boot_info, d->base, LAYOUT_VIRTIO_MMIO_SIZE,
				     d->gsi, d->device_id))
			log_warn("tiny guest: boot info lists only the first %d virtio devices", i);
	}
	hcall_cfg_init(&hc);
	if (cfg->nr_disks > 0 &&
	    (ret = hcall_open_disk(&hc, cfg->disks[0].path, cfg->disks[0].read_only)))
		return ret;
	hc.net = vm->hcall_net;   /* opened before KVM; the hypercalls own it now */
	vm->hcall_net = NULL;
	vm->hcall = calloc(1, sizeof(*vm->hcall));
	if (!vm->hcall) {
		hcall_destroy(&(struct hcall){ .cfg = hc });
		return -ENOMEM;
	}
	hcall_init(vm->hcall, &hc, &vm->mem, *stopper);
	return hcall_register(vm->hcall, &vm->pio);
}

/* --trace-exits and --metrics, once the vCPUs exist (their stats fds are opened here). */
static int vm_create_observability(struct vm *vm, const struct vm_config *cfg, int *exit_status)
{
	int ret;

	if (cfg->trace_exits) {
		vm->trace = calloc(1, sizeof(*vm->trace));
		if (!vm->trace)
			return -ENOMEM;
		if ((ret = exit_trace_init(vm->trace, 0, STDERR_FILENO, bench_probe_now_ns()))) {
			free(vm->trace);
			vm->trace = NULL;
			log_err("--trace-exits: MVM_TRACE_EXITS_RATE must be a positive number of lines/s");
			*exit_status = MVM_EXIT_USAGE;
			return ret;
		}
		for (int i = 0; i < vm->nr_vcpus; i++)
			vm->vcpus[i].trace = vm->trace;
	}
	if (cfg->metrics_path &&
	    (ret = metrics_create(&vm->metrics, vm, cfg->metrics_path, cfg->metrics_interval_ms))) {
		*exit_status = ret == -ENOMEM ? MVM_EXIT_HOST : MVM_EXIT_USAGE;
		return ret;
	}
	return 0;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, int *exit_status)
{
	struct boot_entry entry;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->fd = vm->kvm.fd = vm->stop_efd = -1;
	vm->bench_t0_ns = cfg->bench_t0_ns;
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	bus_init(&vm->pio, "port I/O");
	bus_init(&vm->mmio, "MMIO");
	*exit_status = MVM_EXIT_USAGE;
	if ((ret = vm_check_config(cfg)))
		return ret;
	vm->nr_vcpus = cfg->nr_cpus;
	uint64_t t0 = bench_probe_now_ns(), t_loaded, t_kvm;

	if ((ret = vm_load_guest(vm, cfg, &entry, exit_status)))
		return ret;
	t_loaded = bench_probe_now_ns();

	*exit_status = MVM_EXIT_HOST;
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0) {
		ret = -errno;
		log_err("eventfd: %s", strerror(-ret));
		return ret;
	}
	if ((ret = kvm_open(&vm->kvm, cfg->kvm_path ? cfg->kvm_path : "/dev/kvm")))
		return ret;
	if (cfg->nr_cpus > vm->kvm.max_vcpus) {
		log_err("--cpus %d: this host's KVM allows at most %d", cfg->nr_cpus, vm->kvm.max_vcpus);
		*exit_status = MVM_EXIT_USAGE;
		return -EINVAL;
	}
	if ((ret = vm_create_kvm_vm(vm)))
		return ret;
	t_kvm = bench_probe_now_ns();

	struct board_env env = {
		.pio = &vm->pio, .mmio = &vm->mmio,
		.irq_set = vm_irq_set, .irq_ctx = vm,
		.stopper = { .request = vm_stop_request_cb, .ctx = vm,
			     .request_exit = vm_stop_request_exit_cb },
		.stopping = &vm->stopping,
		.console_in_fd = STDIN_FILENO, .console_out_fd = STDOUT_FILENO,
	};
	vm->board = calloc(1, sizeof(*vm->board));
	vm->vcpus = calloc(cfg->nr_cpus, sizeof(*vm->vcpus));
	if (!vm->board || !vm->vcpus) {
		log_err("out of memory for the board and vCPUs");
		return -ENOMEM;
	}
	if ((ret = board_create(vm->board, &env)))
		return ret;
	struct virtio_env venv = {
		.mem = &vm->mem, .mmio = &vm->mmio,
		.ioeventfd = vm_ioeventfd, .irqfd = vm_irqfd, .ctx = vm,
	};
	if ((ret = vm_devices_attach(vm->devices, &venv)))
		return ret;
	if (vm->devices->console)
		board_set_console_sink(vm->board, virtio_console_sink(vm->devices->console));
	if (entry.mode == BOOT_MODE_ELF64 && (ret = vm_create_hcall(vm, cfg, &entry, &env.stopper)))
		return ret;

	for (int i = 0; i < cfg->nr_cpus; i++)
		vm->vcpus[i].fd = -1;
	for (int i = 0; i < cfg->nr_cpus; i++) {
		if ((ret = vcpu_create(vm, &vm->vcpus[i], i)))
			return ret;
		vm->vcpus[i].time_exits = cfg->stats || cfg->metrics_path;
	}
	if ((ret = vm_create_observability(vm, cfg, exit_status)))
		return ret;
	ret = cpu_set_entry(vm->vcpus[0].fd, &entry);
	log_debug("assembly: guest RAM, ACPI and kernel %.2f ms, KVM VM %.2f ms, board and "
		  "vCPUs %.2f ms", (t_loaded - t0) / 1e6, (t_kvm - t_loaded) / 1e6,
		  (bench_probe_now_ns() - t_kvm) / 1e6);
	return ret;
}

/* Wait for a stop request or a terminating signal. */
static void vm_wait_for_stop(struct vm *vm, int sig_fd)
{
	struct pollfd fds[2] = {
		{ .fd = vm->stop_efd, .events = POLLIN },
		{ .fd = sig_fd, .events = POLLIN },
	};

	while (!atomic_load(&vm->stopping)) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR) {
			log_err("waiting for the VM: poll: %s", strerror(errno));
			vm_request_stop(vm, VM_STOP_HOST_ERROR);
			break;
		}
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
				log_info("received %s, stopping the VM", strsignal(si.ssi_signo));
				vm_request_stop(vm, VM_STOP_USER);
			}
		}
	}
}

/* Kick until every vCPU thread has left: a vCPU can be inside a device's
 * blocking host call (a write to a full stdout pipe) that a kick turns into
 * EINTR, and a kick that lands just before such a call is lost. */
static void vm_stop_vcpus(struct vm *vm)
{
	/* Parked vCPUs wait for this to see stopping. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (int i = 0; i < vm->nr_vcpus; i++) {
		vcpu_kick(&vm->vcpus[i]);
		while (vcpu_join(&vm->vcpus[i], 100) == -ETIMEDOUT)
			vcpu_kick(&vm->vcpus[i]);
	}
}

enum vm_stop_reason vm_run(struct vm *vm)
{
	sigset_t block;
	int sig_fd;

	/* Every thread started from here inherits this mask: termination signals
	 * arrive only through the signalfd, the kick signal only on vCPU threads.
	 * The mask stays after the run: a SIGTERM arriving during teardown must
	 * not kill mvm before it reports why the VM stopped. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	sigdelset(&block, SIGUSR1);
	sig_fd = signalfd(-1, &block, SFD_CLOEXEC);
	if (sig_fd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return VM_STOP_HOST_ERROR;
	}

	if (vcpu_signal_setup() || board_start(vm->board)) {
		vm_request_stop(vm, VM_STOP_HOST_ERROR);
	} else {
		vm->run_start_ns = bench_probe_now_ns();
		if (metrics_start(vm->metrics))
			vm_request_stop(vm, VM_STOP_HOST_ERROR);
		for (int i = 0; i < vm->nr_vcpus; i++) {
			if (vcpu_start(&vm->vcpus[i])) {
				vm_request_stop(vm, VM_STOP_HOST_ERROR);
				break;
			}
		}
	}
	vm_wait_for_stop(vm, sig_fd);
	vm_stop_vcpus(vm);
	/* Stopped from outside: say where the guest was (a hung guest's last word). */
	if (vm->stop_reason == VM_STOP_USER) {
		char where[128];

		for (int i = 0; i < vm->nr_vcpus; i++) {
			vcpu_where(&vm->vcpus[i], where, sizeof(where));
			log_info("vCPU %d was at %s", i, where);
		}
	}
	/* The last metrics line and trace report hold the final counts. */
	metrics_stop(vm->metrics);
	if (vm->trace)
		exit_trace_finish(vm->trace);
	board_stop(vm->board);
	close(sig_fd);
	log_debug("accesses nobody claimed: %lu port I/O, %lu MMIO",
		  atomic_load(&vm->pio.unclaimed), atomic_load(&vm->mmio.unclaimed));
	return vm->stop_reason;
}

void vm_destroy(struct vm *vm)
{
	metrics_destroy(vm->metrics);   /* its thread reads the vCPUs and devices */
	vm->metrics = NULL;
	if (vm->trace)
		exit_trace_destroy(vm->trace);
	free(vm->trace);
	vm->trace = NULL;
	for (int i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	/* Workers stop and in-flight disk I/O completes before guest RAM goes. */
	if (vm->devices)
		vm_devices_destroy(vm->devices);
	free(vm->devices);
	vm->devices = NULL;
	if (vm->hcall)
		hcall_destroy(vm->hcall);
	free(vm->hcall);
	vm->hcall = NULL;
	hcall_net_destroy(vm->hcall_net);
	vm->hcall_net = NULL;
	if (vm->board)
		board_destroy(vm->board);
	free(vm->board);
	vm->board = NULL;
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	kvm_close(&vm->kvm);
	gmem_free(&vm->mem);
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->pause_cond);
}

/* ---- pause and resume ---------------------------------------------------------------------- */

void vm_vcpu_park(struct vm *vm, struct vcpu *v)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->paused) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->nr_parked--;
	/* The pause kick left immediate_exit set; a stop kick after this point
	 * sets it again, and stopping is checked before the next KVM_RUN. */
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->pause_lock);
}

int vm_send_ctrl_alt_del(struct vm *vm)
{
	return vm->board ? i8042_send_ctrl_alt_del(&vm->board->i8042) : -ENODEV;
}

bool vm_is_paused(struct vm *vm)
{
	return atomic_load(&vm->paused);
}

int vm_pause(struct vm *vm)
{
	struct timespec until;

	pthread_mutex_lock(&vm->pause_lock);
	if (atomic_load(&vm->paused)) {
		pthread_mutex_unlock(&vm->pause_lock);
		return 0;
	}
	atomic_store(&vm->paused, true);
	/* A vCPU can sit in a device's blocking host call where one kick is
	 * lost (see vm_stop_vcpus): kick again every 50 ms until all park. */
	while (vm->nr_parked < vm->nr_vcpus && !atomic_load(&vm->stopping)) {
		for (int i = 0; i < vm->nr_vcpus; i++)
			vcpu_kick(&vm->vcpus[i]);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 50 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &until);
	}
	pthread_mutex_unlock(&vm->pause_lock);
	if (vm->devices)
		vm_devices_pause(vm->devices);
	return atomic_load(&vm->stopping) ? -ESHUTDOWN : 0;
}

int vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (!atomic_load(&vm->paused)) {
		pthread_mutex_unlock(&vm->pause_lock);
		return atomic_load(&vm->stopping) ? -ESHUTDOWN : 0;
	}
	/* Devices first: a vCPU's first kick after the pause finds its worker running. */
	if (vm->devices)
		vm_devices_resume(vm->devices);
	atomic_store(&vm->paused, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	return atomic_load(&vm->stopping) ? -ESHUTDOWN : 0;
}
