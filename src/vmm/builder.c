/* builder.c - vm_create: the VM assembled from its config in one fixed order. */
#include "vmm/vm.h"
#include "board/console.h"
#include "board/uart8250.h"
#include "boot/acpi/acpi.h"
#include "core/cpu.h"
#include "core/hyperv.h"
#include "core/layout.h"
#include "core/vm_state.h"
#include "obs/exit_trace.h"
#include "obs/metrics.h"
#include "obs/profile.h"
#include "util/bench_probe.h"
#include "util/err.h"
#include "util/log.h"
#include "virtio/console.h"
#include "vmm/devices.h"
#include "vmm/sleep.h"
#include "vmm/snapshot.h"
#include "snap/memfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void vm_irq_set(void *ctx, uint32_t gsi, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0)
		log_debug_rl("KVM_IRQ_LINE gsi %u level %d: %s", gsi, level, strerror(errno));
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

/* KVM_(UN)REGISTER_COALESCED_MMIO for ports: writes queued in KVM's ring. */
static int vm_coalesce_pio(void *ctx, uint64_t port, uint32_t len, bool on)
{
	struct vm *vm = ctx;

	return coalesce_pio(&vm->coalesce, port, len, on);
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

static void vm_sleep_request_cb(void *ctx, int state)
{
	vm_sleep_request(ctx, state);
}

static struct vm_stopper vm_stopper_of(struct vm *vm)
{
	return (struct vm_stopper){ .request = vm_stop_request_cb, .ctx = vm,
				    .request_exit = vm_stop_request_exit_cb,
				    .request_sleep = vm_sleep_request_cb };
}

static int vm_check_config(const struct vm_config *cfg)
{
	if (cfg->nr_cpus < 1 || cfg->nr_cpus > VM_MAX_CPUS) {
		log_err("--cpus %d: must be between 1 and %d", cfg->nr_cpus, VM_MAX_CPUS);
		return -EINVAL;
	}
	return 0;
}

/* vm_load_guest for a snapshot: guest RAM is the memory file (the ACPI tables
 * and the kernel are in it), the plan must be the saved one. Takes cmdline. */
static int vm_load_restored(struct vm *vm, const struct vm_config *cfg,
			    const struct vm_config *dev_cfg, const struct vm_restore *rs, char *cmdline)
{
	char err[512] = "";
	int ret;

	free(cmdline);
	/* No snapshot yet (a migration's VM, built as its RAM arrives): the
	 * plan and the size are checked by vm_restore_into() at the end. */
	if (rs->snap && (ret = vm_snapshot_check_plan(vm, rs->snap)))
		return err_usage(ret);
	if (rs->snap && dev_cfg->mem_size != rs->snap->machine.mem_size) {
		log_err("%s: section machine: %llu MiB of RAM, its configuration says %llu MiB",
			rs->snap->path, (unsigned long long)(rs->snap->machine.mem_size >> 20),
			(unsigned long long)(dev_cfg->mem_size >> 20));
		return err_usage(-EINVAL);
	}
	if (rs->ram) {
		/* A migration's RAM, filled as its pages arrived. */
		if (rs->ram->ram_size != dev_cfg->mem_size) {
			log_err("migration: %llu MiB of RAM received, the configuration says %llu MiB",
				(unsigned long long)(rs->ram->ram_size >> 20),
				(unsigned long long)(dev_cfg->mem_size >> 20));
			return err_usage(-EINVAL);
		}
		vm->mem = *rs->ram;
		memset(rs->ram, 0, sizeof(*rs->ram));
		goto mapped;
	}
	ret = gmem_init(&vm->mem, dev_cfg->mem_size);
	if (ret) {
		log_err("%llu MiB: cannot map guest RAM: %s",
			(unsigned long long)(dev_cfg->mem_size >> 20), strerror(-ret));
		return ret;
	}
	/* Private: pages come from the file on first touch, and the guest's
	 * writes never reach it (two restores of one snapshot run side by side). */
	int fd = snap_mem_open(rs->mem_path, vm->mem.ram_size, err, sizeof(err));

	/* From here a page never faulted in reads the file, not zeros: a
	 * migration must read every page (memory.h). Set before the map, so
	 * no moment exists where the file is there and the flag is not. */
	vm->mem.file_mapped = true;
	if (fd < 0 || (ret = snap_mem_map(fd, 0, vm->mem.base, vm->mem.ram_size, err, sizeof(err)))) {
		log_err("%s", err);
		if (fd >= 0)
			close(fd);
		return fd < 0 ? fd : ret;
	}
	close(fd);
mapped:
	if (vm->track_dirty) {
		if ((ret = gmem_dirty_enable(&vm->mem)))
			return ret;
		/* RAM is that snapshot's, so far (a migration's has no snapshot on disk) */
		vm->snap_base_id = rs->ram || !rs->snap ? 0 : rs->snap->machine.id;
	}
	ret = vm_devices_create(vm->devices, dev_cfg, &vm->denv);
	/* The platform's own host resources (a tiny guest's --net), as a boot opens them. */
	if (!ret && vm->platform.ops->open)
		ret = vm->platform.ops->open(&vm->platform, cfg);
	return ret;
}

/* Guest RAM, device plan, ACPI tables, kernel, boot page tables, backends:
 * everything that reads user input, done before KVM is touched so bad input
 * fails the same way on every host. */
static int vm_load_guest(struct vm *vm, const struct vm_config *cfg, const struct vm_restore *rs,
			 struct cpu_entry *entry, enum err_class *fb)
{
	struct vm_config dev_cfg = *cfg;
	struct acpi_cfg acpi = { .nr_cpus = cfg->nr_cpus };
	struct platform_load load = { .cfg = cfg };
	char *cmdline;
	int ret;

	/* The kernel's files are opened and their format read once, here: a
	 * missing or unusable kernel or initrd fails before anything else. */
	*fb = ERR_USAGE;
	if (rs) {
		/* A restored VM has no kernel to probe: its platform is the saved one. */
		if ((ret = platform_select_named(&vm->platform, rs->snap ? rs->snap->machine.platform
						 : "linux", &vm->mem)))
			return ret;
	} else if ((ret = platform_select(&vm->platform, cfg, &vm->mem))) {
		return ret;
	}
	vm->platform.ops->keep_devices(cfg, &dev_cfg);
	/* fw_cfg for a multiboot kernel (kvm-unit-tests reads its vCPU count
	 * there); a restored VM has it when its snapshot does. */
	dev_cfg.fw_cfg = !rs ? vm->platform.image.format == BOOT_FORMAT_MULTIBOOT
			     : rs->snap ? vm_snapshot_has_device(rs->snap, "fw_cfg") : rs->fw_cfg;
	/* So do the legacy ACPI PM1 blocks and S3 (board/acpi_pm1.h), as
	 * SeaBIOS's tables give kvm-unit-tests' s3 test under QEMU. */
	dev_cfg.legacy_pm = !rs ? vm->platform.image.format == BOOT_FORMAT_MULTIBOOT
				: rs->snap ? vm_snapshot_has_device(rs->snap, "acpi_pm1") : rs->legacy_pm;
	/* The devices' windows and GSIs go into the DSDT and the command line. */
	vm->devices = calloc(1, sizeof(*vm->devices));
	cmdline = malloc(LAYOUT_CMDLINE_MAX);
	if (!vm->devices || !cmdline) {
		free(cmdline);
		log_err("out of memory for the device plan");
		return err_host(-ENOMEM);
	}
	*fb = ERR_USAGE;   /* the plan and the command line are the user's */
	if ((ret = vm_devices_plan(vm->devices, &dev_cfg)))
		goto out;
	/* Only a board with S3 needs its hooks: vm_run's loop, pause and
	 * resume of any other VM stay as they were. A restored one too: its
	 * guest may sleep after the restore. */
	if (dev_cfg.legacy_pm) {
		vm_sleep_init(&vm->sleep);
		vm->sleep_ops = &vm_sleep_ops;
	}
	if (rs)
		return vm_load_restored(vm, cfg, &dev_cfg, rs, cmdline);
	acpi.mmio_devs = vm->devices->acpi;
	acpi.nr_mmio_devs = vm->devices->nr_windows;
	acpi.legacy_pm = dev_cfg.legacy_pm;
	if (vm->platform.image.format == BOOT_FORMAT_MULTIBOOT) {
		/* QEMU's "<kernel path> <args>": argv[0] first, no Linux defaults. */
		if (multiboot_cmdline(cfg->kernel_path, cfg->cmdline, cmdline, LAYOUT_CMDLINE_MAX)) {
			log_err("--cmdline: too long with the kernel path in front (a multiboot "
				"kernel's argv[0]; at most %llu bytes)",
				(unsigned long long)LAYOUT_CMDLINE_MAX - 1);
			ret = -EINVAL;
			goto out;
		}
	} else if (vm_devices_cmdline(vm->devices, cfg->cmdline ? cfg->cmdline : VM_DEFAULT_CMDLINE,
				      cmdline, LAYOUT_CMDLINE_MAX)) {
		log_err("--cmdline: too long with the virtio_mmio.device= entries added "
			"(at most %llu bytes)", (unsigned long long)LAYOUT_CMDLINE_MAX - 1);
		ret = -EINVAL;
		goto out;
	}
	load.cmdline = cmdline;

	*fb = ERR_HOST;    /* gmem_init marks a size it refuses as the user's */
	ret = gmem_init(&vm->mem, cfg->mem_size);
	if (!ret && vm->track_dirty)
		ret = gmem_dirty_enable(&vm->mem);
	if (ret) {
		log_err("--mem %llu MiB: cannot map guest RAM: %s",
			(unsigned long long)(cfg->mem_size >> 20), strerror(-ret));
		goto out;
	}
	ret = acpi_build(&vm->mem, &acpi, &load.rsdp_gpa);
	if (ret) {
		log_err("building ACPI tables: %s", strerror(-ret));
		goto out;
	}
	/* The kernel and initrd, then disk images, taps and slirp: the user's
	 * input; where the host fails them (no memory, a read error, a lock
	 * another process holds) the failing code says so (util/err.h). */
	*fb = ERR_USAGE;
	ret = vm->platform.ops->load(&vm->platform, &load, entry);
	if (!ret)
		ret = vm_devices_create(vm->devices, &dev_cfg, &vm->denv);
	if (!ret && vm->platform.ops->open)
		ret = vm->platform.ops->open(&vm->platform, cfg);
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
			.flags = vm->track_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		};

		ret = vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&slot,
			       "KVM_SET_USER_MEMORY_REGION");
		if (ret)
			return ret;
	}
	return 0;
}

/* The platform's own ports (a tiny guest's hypercalls), given the device windows. */
static int vm_attach_platform(struct vm *vm, const struct vm_config *cfg)
{
	struct platform_dev devs[VM_MAX_DEVICES];
	struct platform_attach a = {
		.pio = &vm->pio, .stopper = vm_stopper_of(vm), .devs = devs,
		.disk_path = cfg->nr_disks > 0 ? cfg->disks[0].path : NULL,
		.disk_read_only = cfg->nr_disks > 0 && cfg->disks[0].read_only,
	};

	if (!vm->platform.ops->attach)
		return 0;
	for (int i = 0; i < vm->devices->nr_slots; i++) {
		const struct vm_device *d = &vm->devices->slots[i];

		if (!d->device_id)
			continue;
		devs[a.nr_devs++] = (struct platform_dev){
			.base = d->base, .size = LAYOUT_VIRTIO_MMIO_SIZE, .gsi = d->gsi,
			.device_id = d->device_id,
		};
	}
	return vm->platform.ops->attach(&vm->platform, &a);
}

static void vm_device_stats(void *ctx, struct json_object *out)
{
	vm_devices_stats(ctx, out);
}

static void vm_trace_exit(void *ctx, struct vcpu *v)
{
	struct vm *vm = ctx;

	exit_trace_log(vm->trace, v->index, v->run, bench_probe_now_ns());
}

static void vm_profile_sample(void *ctx, struct vcpu *v)
{
	struct vm *vm = ctx;

	profile_take(vm->profile, v);
}

/* --trace-exits, --profile and --metrics, once the vCPUs exist (their stats fds are opened here). */
static int vm_create_observability(struct vm *vm, const struct vm_config *cfg, enum err_class *fb)
{
	int ret;

	vm->obs = (struct obs_source){
		.vcpus = vm->vcpus, .nr_vcpus = vm->nr_vcpus, .kvm_fd = vm->kvm.fd,
		.vm_fd = vm->fd, .pio = &vm->pio, .mmio = &vm->mmio,
		.device_stats = vm_device_stats, .device_ctx = vm->devices,
	};
	if (cfg->trace_exits) {
		vm->trace = calloc(1, sizeof(*vm->trace));
		if (!vm->trace)
			return err_host(-ENOMEM);
		if ((ret = exit_trace_init(vm->trace, 0, STDERR_FILENO, bench_probe_now_ns()))) {
			free(vm->trace);
			vm->trace = NULL;
			log_err("--trace-exits: MVM_TRACE_EXITS_RATE must be a positive number of lines/s");
			return err_usage(ret);
		}
		vm->vcpu_host.on_exit = vm_trace_exit;
	}
	if (cfg->profile_path) {
		*fb = ERR_USAGE;   /* --profile PATH: the user's */
		if ((ret = profile_create(&vm->profile, cfg->profile_path, cfg->profile_hz,
					  vm->nr_vcpus)))
			return ret;
		vm->vcpu_host.on_sample = vm_profile_sample;
	}
	*fb = ERR_USAGE;   /* --metrics PATH: the user's, unless metrics_create says */
	if (cfg->metrics_path &&
	    (ret = metrics_create(&vm->obs.metrics, &vm->obs, cfg->metrics_path,
				  cfg->metrics_interval_ms)))
		return ret;
	/* Firecracker's id when no jailer --id names the VM. */
	if (vm->obs.metrics &&
	    (ret = metrics_set_labels(vm->obs.metrics,
				      cfg->metrics_emit_id ? "anonymous-instance" : NULL,
				      cfg->metrics_properties))) {
		log_err("metrics: properties: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

/* The snapshot's KVM, vCPU and device states into the assembled VM; paused
 * as asked (vCPUs park before their first KVM_RUN, devices held). What a
 * snapshot holds is the user's input: a refusal is theirs. */
static int vm_restore_states(struct vm *vm, const struct vm_restore *rs, enum err_class *fb)
{
	int ret;

	*fb = ERR_USAGE;
	if (!rs->snap)
		return 0;   /* vm_restore_into() later */
	if ((ret = vm_snapshot_restore_state(vm, rs->snap)))
		return ret;
	if (!rs->paused)
		return 0;
	*fb = ERR_HOST;
	if ((ret = vm_devices_quiesce(vm->devices, VM_PAUSE_TIMEOUT_MS, NULL, 0)))
		return ret;
	atomic_store(&vm->paused, true);
	return 0;
}

/* vm_create's steps; *fb is the class of a failure no inner code marked. */
static int vm_assemble(struct vm *vm, const struct vm_config *cfg, const struct vm_restore *rs,
		       enum err_class *fb)
{
	struct cpu_entry entry;
	int ret;

	*fb = ERR_USAGE;
	if ((ret = vm_check_config(cfg)))
		return ret;
	vm->nr_vcpus = cfg->nr_cpus;
	vm->track_dirty = cfg->track_dirty_pages;
	vm->denv = (struct device_env){
		.mem = &vm->mem, .pio = &vm->pio, .mmio = &vm->mmio,
		.irq_set = vm_irq_set, .stopper = vm_stopper_of(vm), .stopping = &vm->stopping,
		.console_out_fd = STDOUT_FILENO,
		.ioeventfd = vm_ioeventfd, .irqfd = vm_irqfd, .coalesce_pio = vm_coalesce_pio,
		.ctx = vm,
	};
	uint64_t t0 = bench_probe_now_ns(), t_loaded, t_kvm;

	if ((ret = vm_load_guest(vm, cfg, rs, &entry, fb)))
		return ret;
	t_loaded = bench_probe_now_ns();

	*fb = ERR_HOST;
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
		return err_usage(-EINVAL);
	}
	vm->hyperv = cfg->cpu_hyperv;
	if (vm->hyperv && (ret = hyperv_check(vm->kvm.fd)))
		return ret;
	if ((ret = vm_create_kvm_vm(vm)))
		return ret;
	coalesce_init(&vm->coalesce, vm->fd, &vm->pio, &vm->mmio);
	t_kvm = bench_probe_now_ns();

	vm->vcpus = calloc(cfg->nr_cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		log_err("out of memory for the vCPUs");
		return -ENOMEM;
	}
	if ((ret = vm_devices_attach(vm->devices, &vm->denv)))
		return ret;
	/* Host input goes to the virtio console when there is one, else to COM1. */
	struct virtio_console *vcon = vm_devices_find(vm->devices, &virtio_console_kind, 0);
	struct uart8250 *com1 = vm_devices_find(vm->devices, &uart8250_kind, 0);

	if (vcon)
		vm->console_sink = virtio_console_sink(vcon);
	else if (com1)
		vm->console_sink = console_uart_sink(com1);
	if ((ret = vm_attach_platform(vm, cfg)))
		return ret;

	vm_fill_vcpu_host(vm);
	for (int i = 0; i < cfg->nr_cpus; i++)
		vm->vcpus[i].fd = -1;
	for (int i = 0; i < cfg->nr_cpus; i++) {
		if ((ret = vcpu_create(&vm->vcpu_host, &vm->vcpus[i], i)))
			return ret;
		vm->vcpus[i].time_exits = cfg->stats || cfg->metrics_path;
	}
	/* No coalescing without a ring to drain: COM1 (the one device that asks)
	 * takes its zone back while KVM still accepts that, then requests fail. */
	if (coalesce_attach_ring(&vm->coalesce, vm->vcpus[0].run, vm->vcpu_host.run_mmap_size)) {
		if (com1)
			uart8250_set_coalesce(com1, PORT_COM1, NULL, NULL);
		vm->coalesce.pio_ok = false;
	}
	if ((ret = vm_create_observability(vm, cfg, fb)))
		return ret;
	*fb = ERR_HOST;
	if (rs)
		ret = vm_restore_states(vm, rs, fb);
	else
		ret = cpu_set_entry(vm->vcpus[0].fd, &entry);
	/* A multiboot kernel finds the PIC as a BIOS-booted loader leaves it. */
	if (!rs && !ret && entry.mode == CPU_ENTRY_MULTIBOOT32)
		ret = vm_state_pic_bios(vm->fd);
	log_debug("assembly: guest RAM, ACPI and kernel %.2f ms, KVM VM %.2f ms, board and "
		  "vCPUs %.2f ms", (t_loaded - t0) / 1e6, (t_kvm - t_loaded) / 1e6,
		  (bench_probe_now_ns() - t_kvm) / 1e6);
	/* With MVM_T0_NS (bench/launch): what came before, from exec (the dynamic
	 * loader, option parsing, the process set-up). */
	if (cfg->bench_t0_ns && t0 > cfg->bench_t0_ns)
		log_debug("assembly began %.2f ms after exec", (t0 - cfg->bench_t0_ns) / 1e6);
	return ret;
}

static int vm_build(struct vm *vm, const struct vm_config *cfg, const struct vm_restore *rs,
		    int *exit_status)
{
	enum err_class fb = ERR_HOST;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->fd = vm->kvm.fd = vm->stop_efd = -1;
	vm->obs.kvm_fd = vm->obs.vm_fd = -1;
	vm->bench_t0_ns = cfg->bench_t0_ns;
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	bus_init(&vm->pio, "port I/O");
	bus_init(&vm->mmio, "MMIO");
	err_reset();
	ret = vm_assemble(vm, cfg, rs, &fb);
	/* The class the failing code recorded, else the step's. */
	*exit_status = !ret ? MVM_EXIT_OK : err_exit_status(fb);
	return ret;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, int *exit_status)
{
	return vm_build(vm, cfg, NULL, exit_status);
}

int vm_create_restored(struct vm *vm, const struct vm_config *cfg, const struct vm_restore *rs,
		       int *exit_status)
{
	return vm_build(vm, cfg, rs, exit_status);
}

int vm_restore_into(struct vm *vm, struct vm_snapshot *snap, int *exit_status)
{
	int ret;

	err_reset();
	*exit_status = MVM_EXIT_USAGE;
	if (snap->machine.mem_size != vm->mem.ram_size ||
	    (uint32_t)vm->nr_vcpus != snap->machine.nr_vcpus) {
		log_err("%s: %llu MiB and %u vCPUs; the VM has %llu MiB and %d", snap->path,
			(unsigned long long)(snap->machine.mem_size >> 20), snap->machine.nr_vcpus,
			(unsigned long long)(vm->mem.ram_size >> 20), vm->nr_vcpus);
		return -EINVAL;
	}
	if ((ret = vm_snapshot_check_plan(vm, snap)) ||
	    (ret = vm_snapshot_restore_state(vm, snap))) {
		*exit_status = err_exit_status(ERR_USAGE);
		return ret;
	}
	*exit_status = MVM_EXIT_OK;
	return 0;
}
