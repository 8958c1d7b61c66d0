/* main.c - command dispatch: run, ctl, check, version. */
#include "api/api.h"
#include "api/ctl.h"
#include "api/migrate.h"
#include "api/snapshot.h"
#include "check/check.h"
#include "jail/jail.h"
#include "cli/cli.h"
#include "obs/stats.h"
#include "vmm/gdb.h"
#include "vmm/snapshot.h"
#include "vmm/vm.h"
#include "core/vmstop.h"
#include "board/console.h"
#include "util/bench_probe.h"
#include "util/harden.h"
#include "util/log.h"
#include "util/sandbox.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MVM_VERSION
#define MVM_VERSION "0.1.0"
#endif

/* --restore DIR: the two files a snapshot directory holds. */
static void restore_request(const char *dir, struct api_snapshot_load *req, char *state,
			    char *mem, size_t len)
{
	snprintf(state, len, "%s/%s", dir, API_SNAP_STATE_FILE);
	snprintf(mem, len, "%s/%s", dir, API_SNAP_MEM_FILE);
	memset(req, 0, sizeof(*req));
	req->snapshot_path = state;
	req->mem_path = mem;
	req->resume_vm = true;
}

static int cmd_run(int argc, char **argv)
{
	struct api_snapshot_load restore;
	char state_path[4096], mem_path[4096], err[1024] = "";
	struct vm_config cfg;
	struct vm vm;
	struct api api = { 0 };
	enum vm_stop_reason reason;
	int ret, status;

	ret = cli_parse_run(argc, argv, &cfg);
	if (ret) {
		cli_free_run(&cfg);
		return ret > 0 ? MVM_EXIT_OK : MVM_EXIT_USAGE;
	}
	/* Before any guest data is in memory (the API may load it later). */
	if (harden_process(cfg.dumpable) || sandbox_setup(cfg.seccomp)) {
		cli_free_run(&cfg);
		return MVM_EXIT_HOST;
	}
	cfg.bench_t0_ns = bench_probe_t0();
	{
		/* The filters of the threads every run starts, compiled beside the
		 * build (in the test host: 3-36 ms each on the path to the first
		 * KVM_RUN otherwise); in the order the threads enter them, the API
		 * thread's last (only with --api-sock). */
		enum sandbox_kind kinds[] = { SANDBOX_OUTQ, SANDBOX_MAIN, SANDBOX_VCPU,
					      SANDBOX_CONSOLE, SANDBOX_API };
		size_t n = sizeof(kinds) / sizeof(kinds[0]) - !cfg.api_sock;

		sandbox_prepare_async(kinds, n);
	}
	if (cfg.restore_dir) {
		restore_request(cfg.restore_dir, &restore, state_path, mem_path, sizeof(state_path));
		for (int i = 0; i < cfg.nr_restore_drives; i++) {
			if (api_parse_drive_override(cfg.restore_drives[i], &restore, err,
						     sizeof(err))) {
				log_err("%s", err);
				cli_free_run(&cfg);
				vm_config_release(&cfg);
				return MVM_EXIT_USAGE;
			}
		}
		for (int i = 0; i < cfg.nr_restore_nets; i++) {
			if (api_parse_net_override(cfg.restore_nets[i], &restore, err, sizeof(err))) {
				log_err("%s", err);
				cli_free_run(&cfg);
				vm_config_release(&cfg);
				return MVM_EXIT_USAGE;
			}
		}
	}
	if (cfg.api_sock) {
		/* --api-sock: the VM is created by InstanceStart on the API thread,
		 * or at once from a --config-file, as Firecracker does. */
		ret = api_open(&api, cfg.api_sock, &cfg, &vm, cfg.config_file != NULL,
			       cfg.restore_dir ? &restore : NULL, &status);
		/* --incoming: the migration brings the VM; the API answers meanwhile. */
		if (!ret)
			ret = cfg.incoming ? api_incoming(&api, &status) : api_wait_for_start(&api);
		if (ret) {
			api_close(&api);
			vm_config_release(&cfg);
			return ret == -EINTR ? vm_stop_exit_status(VM_STOP_USER) : status;
		}
	} else if (cfg.incoming) {
		if (api_migrate_incoming(&vm, &cfg, cfg.incoming, NULL, &status)) {
			cli_free_run(&cfg);
			vm_config_release(&cfg);
			return status;
		}
	} else if (cfg.restore_dir) {
		if (api_snapshot_restore(&vm, &cfg, &restore, &status, err, sizeof(err))) {
			log_err("--restore %s: %s", cfg.restore_dir, err);
			cli_free_run(&cfg);
			vm_config_release(&cfg);
			return status;
		}
	} else if (vm_create(&vm, &cfg, &status)) {
		vm_destroy(&vm);
		cli_free_run(&cfg);
		return status;
	}
	/* --gdb: the socket opens before the filter; its thread takes its own. */
	if (cfg.gdb && vm_gdb_start(&vm, cfg.gdb, cfg.gdb_wait, &status)) {
		api_close(&api);
		vm_destroy(&vm);
		cli_free_run(&cfg);
		return status;
	}
	/* Last: the VM is built; the threads vm_run starts inherit this filter. */
	sandbox_enter(SANDBOX_MAIN);
	reason = vm_run(&vm);
	api_close(&api);   /* joined: the API touches the VM no more */
	bench_probe_report(vm.bench_t0_ns, vm.first_run_ns, vm.mem.base, vm.mem.ram_size);
	if (cfg.stats)
		stats_print(stderr, &vm.obs);
	status = reason == VM_STOP_GUEST_EXIT ? vm.guest_exit_status
					      : vm_stop_exit_status(reason);
	if (reason == VM_STOP_GUEST_EXIT)
		log_info("%s (exit status %d)", vm_stop_reason_name(reason), status);
	else if (status != MVM_EXIT_OK)
		log_err("%s (exit status %d)", vm_stop_reason_name(reason), status);
	else
		log_debug("%s", vm_stop_reason_name(reason));
	vm_gdb_stop(&vm, status);
	vm_destroy(&vm);
	cli_free_run(&cfg);
	vm_config_release(&cfg);
	return status;
}

/* mvm snapshot-merge BASE_DIR DIFF_DIR: BASE_DIR becomes the diff's state, Full. */
static int cmd_snapshot_merge(int argc, char **argv)
{
	char bs[4096], bm[4096], ds[4096], dm[4096], err[1024] = "";

	if (argc != 3) {
		log_err("usage: mvm snapshot-merge BASE_DIR DIFF_DIR (a Diff snapshot's pages go "
			"into the Full snapshot it was taken on top of)");
		return MVM_EXIT_USAGE;
	}
	snprintf(bs, sizeof(bs), "%s/%s", argv[1], API_SNAP_STATE_FILE);
	snprintf(bm, sizeof(bm), "%s/%s", argv[1], API_SNAP_MEM_FILE);
	snprintf(ds, sizeof(ds), "%s/%s", argv[2], API_SNAP_STATE_FILE);
	snprintf(dm, sizeof(dm), "%s/%s", argv[2], API_SNAP_MEM_FILE);
	if (vm_snapshot_merge(bs, bm, ds, dm, err, sizeof(err))) {
		log_err("snapshot-merge: %s", err);
		return MVM_EXIT_USAGE;
	}
	printf("%s now holds %s's state (a Full snapshot)\n", argv[1], argv[2]);
	return MVM_EXIT_OK;
}

/* A crash must not leave the user's terminal raw: restore it, then let the
 * default action (core dump) happen. Only async-signal-safe calls here. */
static void fatal_signal(int sig)
{
	console_restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Every thread mvm starts (vCPUs, device loops, the API, the console) gets a
 * 1 MiB stack instead of glibc's 8 MiB default. None needs more (the largest
 * frames hold one network frame), and a mapping under 2 MiB cannot hold an
 * aligned huge page: with transparent huge pages "always", khugepaged may
 * otherwise back a mostly untouched 8 MiB stack with a whole 2 MiB page
 * (RSS beyond guest RAM, docs/performance.md). */
#define THREAD_STACK_SIZE (1u << 20)

static void set_thread_stack_default(void)
{
	pthread_attr_t a;

	if (pthread_attr_init(&a))
		return;
	if (!pthread_attr_setstacksize(&a, THREAD_STACK_SIZE))
		(void)pthread_setattr_default_np(&a);   /* advice: the 8 MiB default still works */
	pthread_attr_destroy(&a);
}

static void install_process_handlers(void)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGQUIT };

	/* A closed stdout pipe must not kill the VM: the UART drops the byte. */
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], fatal_signal);
	atexit(console_restore_terminal);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	install_process_handlers();
	set_thread_stack_default();
	if (getenv("MVM_DEBUG"))
		log_set_level(LOG_DEBUG);
	if (!cmd || !strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		cli_usage(cmd ? stdout : stderr);
		return cmd ? MVM_EXIT_OK : MVM_EXIT_USAGE;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("mvm %s\n", MVM_VERSION);
		return MVM_EXIT_OK;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "ctl"))
		return ctl_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "snapshot-merge"))
		return cmd_snapshot_merge(argc - 1, argv + 1);
	if (!strcmp(cmd, "jail"))
		return jail_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return check_main(argc - 1, argv + 1, stdout);
	log_err("unknown command '%s' (commands: run, ctl, jail, check, snapshot-merge, version)", cmd);
	return MVM_EXIT_USAGE;
}
