/* cli.c - parsing of `mvm run` flags into a vm_config. */
#include "cli/cli.h"
#include "api/fc_config.h"
#include "obs/profile.h"
#include "util/log.h"
#include "util/sandbox.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v, shift = 20;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if ((*end == 'i' || *end == 'I') && (end[1] == 'b' || end[1] == 'B'))
		end += 2;
	else if (*end == 'b' || *end == 'B')
		end++;
	if (*end || v > (~0ULL >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

int cli_parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* FILE[,ro|,rw][,id=NAME]: the path is everything before the first comma
 * (a path containing a comma is not accepted; rename or link it). */
int cli_parse_disk(const char *arg, struct vm_disk_cfg *d)
{
	const char *comma = strchr(arg, ',');
	size_t plen = comma ? (size_t)(comma - arg) : strlen(arg);

	memset(d, 0, sizeof(*d));
	if (plen == 0) {
		log_err("--disk '%s': expected FILE[,ro][,id=NAME]", arg);
		return -EINVAL;
	}
	while (comma) {
		const char *opt = comma + 1, *next = strchr(opt, ',');
		size_t len = next ? (size_t)(next - opt) : strlen(opt);

		if (len == 2 && !strncmp(opt, "ro", 2)) {
			d->read_only = true;
		} else if (len == 2 && !strncmp(opt, "rw", 2)) {
			d->read_only = false;
		} else if (len > 3 && !strncmp(opt, "id=", 3)) {
			free((char *)d->id);
			/* virtio-blk's GET_ID answers with at most 20 bytes. */
			if (len - 3 > 20) {
				log_err("--disk '%s': id is longer than 20 characters", arg);
				goto bad;
			}
			d->id = strndup(opt + 3, len - 3);
		} else {
			log_err("--disk '%s': unknown option '%.*s' (expected ro, rw or id=NAME)",
				arg, (int)len, opt);
			goto bad;
		}
		comma = next;
	}
	d->path = strndup(arg, plen);
	if (!d->path || (d->id == NULL && strstr(arg, ",id=")))
		goto bad;
	return 0;
bad:
	free((char *)d->id);
	d->id = NULL;
	return -EINVAL;
}

void cli_free_run(struct vm_config *cfg)
{
	vm_config_release(cfg);
}

void cli_usage(FILE *out)
{
	fprintf(out,
		"usage: mvm run [--kernel FILE] [--initrd FILE] [--cmdline STR] [--cpus N] [--mem SIZE]\n"
		"               [--disk FILE[,ro][,id=NAME]]... [--net tap=IFNAME|user[,...]]...\n"
		"               [--rng] [--vsock cid=N,uds=PATH] [--console serial|virtio]\n"
		"               [--debug-exit] [--pc-testdev] [--cpu-hyperv] [--stats] [--debug]\n"
		"               [--trace-exits] [--metrics PATH] [--api-sock PATH] [--dumpable]\n"
		"               [--seccomp off|log|kill] [--gdb tcp:HOST:PORT|unix:PATH [--gdb-wait]]\n"
		"               [--profile PATH[,hz=N]]\n"
		"       mvm run --config-file FILE [--api-sock PATH] [--stats] [--debug] [--trace-exits]\n"
		"                                  [--profile PATH[,hz=N]]\n"
		"       mvm run --restore DIR [--override-drive ID=PATH]... [--override-net ID=TAP]...\n"
		"                             [--api-sock PATH] [--stats]\n"
		"       mvm run --incoming tcp:HOST:PORT|unix:PATH [VM flags|--config-file FILE]\n"
		"               [--api-sock PATH] [--stats] [--debug]\n"
		"       mvm ctl --api-sock PATH pause|resume|stop|stat|vcpus|config|info|snapshot DIR\n"
		"       mvm ctl --api-sock PATH migrate tcp:HOST:PORT [--max-downtime MS] [--bandwidth MB/s]\n"
		"       mvm ctl --api-sock PATH migrate-set [--max-downtime MS] [--bandwidth MB/s] [...]\n"
		"       mvm jail --id ID --uid U --gid G --chroot-base DIR [...] -- mvm run ARGS\n"
		"                         run mvm chrooted, namespaced, unprivileged (mvm jail --help)\n"
		"       mvm check [--kvm PATH]   can this host run mvm? (PASS/WARN/FAIL per item)\n"
		"       mvm snapshot-merge BASE_DIR DIFF_DIR   apply a Diff snapshot onto its base\n"
		"       mvm version\n"
		"\n"
		"  --config-file FILE\n"
		"                  the VM from a Firecracker-style JSON file (README: Config file);\n"
		"                  the flags that describe the VM are refused with it\n"
		"  --kernel FILE   bzImage, ELF vmlinux with a PVH entry note, multiboot kernel or\n"
		"                  static ELF64 tiny guest (guest/ SDK); none: the built-in hello demo\n"
		"  --initrd FILE   initial ramdisk\n"
		"  --cmdline STR   kernel command line (default: \"%s\")\n"
		"  --cpus N        number of vCPUs (default 1, at most what KVM allows)\n"
		"  --mem SIZE      guest RAM with K/M/G suffix, plain numbers are MiB (default 256M)\n"
		"  --disk FILE[,ro][,id=NAME]\n"
		"                  virtio-blk disk on a raw image (repeatable; the first is /dev/vda)\n"
		"  --net tap=IFNAME[,mac=MAC]\n"
		"                  virtio-net on an existing or new TAP device (needs CAP_NET_ADMIN)\n"
		"  --net user[,mac=MAC][,restrict=on][,host-loopback=off][,max-flows=N]\n"
		"           [,hostfwd=tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...\n"
		"                  virtio-net with user-mode networking (libslirp, no root): DHCP\n"
		"                  gives 10.0.2.15, the host is 10.0.2.2, DNS 10.0.2.3;\n"
		"                  restrict=on: the guest reaches nothing (hostfwd still works);\n"
		"                  host-loopback=off: 10.0.2.2 does not lead to the host's\n"
		"                  127.0.0.1; max-flows: host sockets slirp may hold (1024)\n"
		"  --rng           virtio-rng fed from getrandom()\n"
		"  --vsock cid=N,uds=PATH\n"
		"                  virtio-vsock, guest CID N, Firecracker's Unix-socket backend on\n"
		"                  PATH (README: vsock)\n"
		"  --console serial|virtio\n"
		"                  where stdin goes: COM1/ttyS0 (default) or virtio-console/hvc0\n"
		"  --debug-exit    QEMU's isa-debug-exit port 0xf4: a guest write of v ends mvm with\n"
		"                  status (v << 1) | 1 (test kernels); without it the port is unclaimed\n"
		"  --pc-testdev    QEMU's pc-testdev for kvm-unit-tests (ports 0xe0, 0xe4, 0x2000+n,\n"
		"                  64 KiB at 0xff000000); a test device, refused beside virtio devices\n"
		"  --cpu-hyperv    KVM's Hyper-V enlightenments (CPUID 0x40000000.., SynIC, synthetic\n"
		"                  timers), as QEMU's -cpu hv_passthrough; no snapshot or migration\n"
		"  --debug         verbose messages (unclaimed port/MMIO accesses, ...)\n"
		"  --stats         print exit counts per reason and vCPU, and handler times, at exit,\n"
		"                  and KVM's own statistics of the VM and each vCPU\n"
		"  --trace-exits   log every vCPU exit on stderr (reason, port/address, size, data);\n"
		"                  at most 1000 lines/s (MVM_TRACE_EXITS_RATE), drops are counted\n"
		"  --profile PATH[,hz=N]\n"
		"                  sample where each vCPU is, N times a second (default 250), into\n"
		"                  PATH; scripts/profile-report.sh names the functions (README:\n"
		"                  Profiling a guest)\n"
		"  --dumpable      allow core dumps and ptrace by the same user (off by default:\n"
		"                  mvm's memory holds guest data; guest RAM is never dumped)\n"
		"  --gdb tcp:HOST:PORT|unix:PATH\n"
		"                  a gdb stub (GDB remote protocol) on that socket: registers,\n"
		"                  memory, breakpoints, watchpoints, steps, every vCPU a thread\n"
		"                  (README: Debugging with gdb)\n"
		"  --gdb-wait      with --gdb: hold the VM at its first instruction until gdb continues\n"
		"  --seccomp off|log|kill\n"
		"                  per-thread syscall allow-lists (README: Seccomp): kill (default)\n"
		"                  ends mvm with status 5 on a syscall outside them, log only has\n"
		"                  the kernel log it (dmesg), off installs none\n"
		"  --metrics PATH  append a JSON line of exit counts, KVM statistics and device\n"
		"                  counters to PATH (file or FIFO) every 60 s\n"
		"                  (MVM_METRICS_INTERVAL_MS) and when mvm stops\n"
		"  --api-sock PATH serve Firecracker's HTTP API on the Unix socket PATH; the flags\n"
		"                  above are the starting configuration, the VM starts on\n"
		"                  PUT /actions {\"action_type\": \"InstanceStart\"} and mvm exits\n"
		"                  when it stops (README: API)\n"
		"  --incoming URI  wait on URI (tcp:HOST:PORT or unix:PATH) for one live migration\n"
		"                  (mvm ctl migrate on the source) and run the VM it brings; with\n"
		"                  the source's VM flags or --config-file, the stream must match\n"
		"                  them (vCPUs, RAM, devices) and host paths come from them;\n"
		"                  --api-sock answers GETs while it waits (README: Live migration)\n"
		"  --restore DIR   the VM from DIR's snapshot (DIR/vmstate and DIR/memory, written\n"
		"                  by mvm ctl snapshot DIR): it continues where it was saved\n"
		"  --override-drive ID=PATH\n"
		"                  with --restore: drive ID (disk0, ... for --disk) on another image\n"
		"                  of the same size (a clone's own copy)\n"
		"  --override-net ID=TAP\n"
		"                  with --restore: interface ID (net0, ... for --net) on another\n"
		"                  tap device (Firecracker's network_overrides)\n"
		"\n"
		"The guest's serial console is on stdin/stdout; on a terminal, Ctrl-A x quits.\n"
		"Exit status: 0 guest powered off or rebooted, 1 host error, 2 bad usage or input,\n"
		"3 guest panic, 4 triple fault or KVM internal error, 5 a syscall outside mvm's\n"
		"seccomp allow-lists.\n",
		VM_DEFAULT_CMDLINE);
}

/* --config-file: mixing it with flags that describe the VM is refused, as
 * Firecracker has one source of truth per VM; flags about mvm itself
 * (--debug, --stats, --trace-exits, --api-sock) combine with it. */
static int cli_load_config(const char *path, const char *vm_flag, bool debug,
			   struct vm_config *cfg)
{
	char err[FC_ERR_MAX];

	if (vm_flag) {
		log_err("--config-file cannot be combined with --%s: put it in the file "
			"(see the README, Config file)", vm_flag);
		return -EINVAL;
	}
	if (fc_config_load(path, cfg, err, sizeof(err))) {
		log_err("--config-file %s", err);
		return -EINVAL;
	}
	/* logger.level from the file, unless --debug asked for more. */
	if (cfg->log_level_set && !debug)
		log_set_level((enum log_level)cfg->log_level);
	if (cfg->log_path) {
		int ret = log_set_file(cfg->log_path, cfg->log_show_level);

		if (ret) {
			log_err("--config-file: logger.log_path %s: %s", cfg->log_path,
				log_file_strerror(ret));
			return -EINVAL;
		}
	}
	return 0;
}

int cli_parse_vsock(const char *arg, struct vm_config *cfg)
{
	unsigned long long cid = 0;
	const char *uds = NULL, *p = arg;
	size_t uds_len = 0;
	bool have_cid = false;

	while (*p) {
		const char *next = strchr(p, ',');
		size_t len = next ? (size_t)(next - p) : strlen(p);
		char *end;

		if (len > 4 && !strncmp(p, "cid=", 4)) {
			errno = 0;
			cid = strtoull(p + 4, &end, 10);
			if (errno || end != p + len || p[4] == '-' || p[4] == '+' ||
			    cid < 3 || cid >= 0xffffffffULL) {
				log_err("--vsock '%s': cid must be a number from 3 to 4294967294", arg);
				return -EINVAL;
			}
			have_cid = true;
		} else if (len > 4 && !strncmp(p, "uds=", 4)) {
			uds = p + 4;
			uds_len = len - 4;
		} else {
			log_err("--vsock '%s': unknown option '%.*s' (expected cid=N,uds=PATH)",
				arg, (int)len, p);
			return -EINVAL;
		}
		p = next ? next + 1 : p + len;
	}
	if (!have_cid || !uds) {
		log_err("--vsock '%s': expected cid=N,uds=PATH (both)", arg);
		return -EINVAL;
	}
	free((char *)cfg->vsock_uds);
	cfg->vsock_uds = strndup(uds, uds_len);
	cfg->vsock_cid = cid;
	return cfg->vsock_uds ? 0 : -ENOMEM;
}

int cli_parse_run(int argc, char **argv, struct vm_config *cfg)
{
	static const struct option opts[] = {
		{ "kernel",  required_argument, NULL, 'k' },
		{ "initrd",  required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "cpus",    required_argument, NULL, 'n' },
		{ "mem",     required_argument, NULL, 'm' },
		{ "disk",    required_argument, NULL, 'D' },
		{ "net",     required_argument, NULL, 'N' },
		{ "rng",     no_argument,       NULL, 'r' },
		{ "vsock",   required_argument, NULL, 'V' },
		{ "console", required_argument, NULL, 'C' },
		{ "debug",   no_argument,       NULL, 'd' },
		{ "stats",   no_argument,       NULL, 's' },
		{ "trace-exits", no_argument,   NULL, 'T' },
		{ "profile", required_argument, NULL, 'Q' },
		{ "debug-exit", no_argument,    NULL, 'E' },
		{ "pc-testdev", no_argument,    NULL, 'P' },
		{ "cpu-hyperv", no_argument,    NULL, 'H' },
		{ "dumpable", no_argument,      NULL, 'u' },
		{ "seccomp",  required_argument, NULL, 'Z' },
		{ "gdb",      required_argument, NULL, 'G' },
		{ "gdb-wait", no_argument,       NULL, 'W' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "api-sock", required_argument, NULL, 'A' },
		{ "config-file", required_argument, NULL, 'F' },
		{ "restore", required_argument, NULL, 'R' },
		{ "override-drive", required_argument, NULL, 'O' },
		{ "override-net", required_argument, NULL, 'X' },
		{ "incoming", required_argument, NULL, 'I' },
		{ "help",    no_argument,       NULL, 'h' },
		{ 0 },
	};
	const char *config_file = NULL, *vm_flag = NULL;
	bool debug = false;
	long n;
	int c, idx;

	memset(cfg, 0, sizeof(*cfg));
	cfg->nr_cpus = 1;
	cfg->mem_size = VM_DEFAULT_MEM;
	optind = 1;
	opterr = 0;
	while ((idx = -1, c = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
		/* Flags that describe the VM: a config file describes it whole. */
		if (idx >= 0 && strchr("kicnmDNrCMEVPH", c) && !vm_flag)
			vm_flag = opts[idx].name;
		switch (c) {
		case 'F': config_file = optarg; break;
		case 'R': cfg->restore_dir = optarg; break;
		case 'O':
			if (cfg->nr_restore_drives == VM_MAX_DISKS) {
				log_err("--override-drive '%s': at most %d", optarg, VM_MAX_DISKS);
				return -EINVAL;
			}
			cfg->restore_drives[cfg->nr_restore_drives++] = optarg;
			break;
		case 'X':
			if (cfg->nr_restore_nets == VM_MAX_NETS) {
				log_err("--override-net '%s': at most %d", optarg, VM_MAX_NETS);
				return -EINVAL;
			}
			cfg->restore_nets[cfg->nr_restore_nets++] = optarg;
			break;
		case 'I': cfg->incoming = optarg; break;
		case 'k': cfg->kernel_path = optarg; break;
		case 'i': cfg->initrd_path = optarg; break;
		case 'c': cfg->cmdline = optarg; break;
		case 'd': log_set_level(LOG_DEBUG); debug = true; break;
		case 'r': cfg->rng = true; break;
		case 'V':
			if (cli_parse_vsock(optarg, cfg))
				return -EINVAL;
			break;
		case 'D':
			if (cfg->nr_disks == VM_MAX_DISKS) {
				log_err("--disk '%s': at most %d disks", optarg, VM_MAX_DISKS);
				return -EINVAL;
			}
			if (cli_parse_disk(optarg, &cfg->disks[cfg->nr_disks]))
				return -EINVAL;
			cfg->nr_disks++;
			break;
		case 'N':
			if (cfg->nr_nets == VM_MAX_NETS) {
				log_err("--net '%s': at most %d network devices", optarg, VM_MAX_NETS);
				return -EINVAL;
			}
			cfg->nets[cfg->nr_nets++] = optarg;
			break;
		case 'C':
			if (!strcmp(optarg, "serial")) {
				cfg->console = VM_CONSOLE_SERIAL;
			} else if (!strcmp(optarg, "virtio")) {
				cfg->console = VM_CONSOLE_VIRTIO;
			} else {
				log_err("--console '%s': expected serial or virtio", optarg);
				return -EINVAL;
			}
			break;
		case 's': cfg->stats = true; break;
		case 'T': cfg->trace_exits = true; break;
		case 'Q': {
			size_t path_len;
			unsigned hz;

			if (profile_parse_arg(optarg, &path_len, &hz)) {
				log_err("--profile '%s': expected PATH or PATH,hz=N (N from 1 to %d)",
					optarg, PROFILE_HZ_MAX);
				return -EINVAL;
			}
			/* The path is argv's own text, ended at the comma: no copy to keep. */
			optarg[path_len] = '\0';
			cfg->profile_path = optarg;
			cfg->profile_hz = hz;
			break;
		}
		case 'E': cfg->debug_exit = true; break;
		case 'P': cfg->pc_testdev = true; break;
		case 'H': cfg->cpu_hyperv = true; break;
		case 'u': cfg->dumpable = true; break;
		case 'G': cfg->gdb = optarg; break;
		case 'W': cfg->gdb_wait = true; break;
		case 'Z': {
			enum sandbox_mode mode;

			if (sandbox_parse_mode(optarg, &mode)) {
				log_err("--seccomp '%s': expected off, log or kill", optarg);
				return -EINVAL;
			}
			cfg->seccomp = mode;
			break;
		}
		case 'A': cfg->api_sock = optarg; break;
		case 'M':
			if (!*optarg || vm_config_set_string(cfg, &cfg->metrics_path, 0, optarg)) {
				log_err("--metrics '%s': expected a file or FIFO path", optarg);
				return -EINVAL;
			}
			break;
		case 'n':
			if (cli_parse_int(optarg, 1, VM_MAX_CPUS, &n)) {
				log_err("--cpus '%s': expected a whole number from 1 to %d", optarg,
					VM_MAX_CPUS);
				return -EINVAL;
			}
			cfg->nr_cpus = (int)n;
			break;
		case 'm':
			if (cli_parse_size(optarg, &cfg->mem_size)) {
				log_err("--mem '%s': expected a size such as 512M or 4G", optarg);
				return -EINVAL;
			}
			if (cfg->mem_size < VM_MIN_MEM || cfg->mem_size > VM_MAX_MEM) {
				log_err("--mem '%s': must be between 16M and 1T", optarg);
				return -EINVAL;
			}
			if (cfg->mem_size & 0xfff) {
				log_err("--mem '%s': must be a multiple of 4K", optarg);
				return -EINVAL;
			}
			break;
		case 'h':
			cli_usage(stdout);
			return 1;
		case ':':
			log_err("%s needs a value (see mvm run --help)", argv[optind - 1]);
			return -EINVAL;
		default:
			log_err("unknown option '%s' (see mvm run --help)", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s' (see mvm run --help)", argv[optind]);
		return -EINVAL;
	}
	if (cfg->gdb_wait && !cfg->gdb) {
		log_err("--gdb-wait goes with --gdb ADDRESS (where the debugger connects)");
		return -EINVAL;
	}
	if (cfg->nr_restore_drives && !cfg->restore_dir) {
		log_err("--override-drive goes with --restore DIR (another image for a drive of "
			"the snapshot)");
		return -EINVAL;
	}
	if (cfg->nr_restore_nets && !cfg->restore_dir) {
		log_err("--override-net goes with --restore DIR (another tap for an interface of "
			"the snapshot)");
		return -EINVAL;
	}
	if (cfg->restore_dir && (vm_flag || config_file)) {
		log_err("--restore cannot be combined with --%s: the snapshot holds the VM's "
			"configuration", vm_flag ? vm_flag : "config-file");
		return -EINVAL;
	}
	if (cfg->incoming && cfg->restore_dir) {
		log_err("--incoming cannot be combined with --restore: the VM comes from the "
			"migration stream");
		return -EINVAL;
	}
	/* --incoming with these: the stream must fit them (vmm/config_match.h). */
	cfg->vm_described = vm_flag || config_file;
	/* A VM described in Firecracker's terms only (a config file, or the API with no flag
	 * that describes the VM) starts from Firecracker's defaults: 128 MiB, not mvm's 256. */
	if ((config_file || cfg->api_sock) && !vm_flag && !cfg->restore_dir && !cfg->incoming)
		cfg->mem_size = FC_DEFAULT_MEM;
	if (config_file) {
		int ret = cli_load_config(config_file, vm_flag, debug, cfg);

		cfg->config_file = config_file;
		return ret;
	}
	/* No --kernel: vm_create boots the built-in hello demo (docs/guest-abi.md). */
	return 0;
}
