/* api.h - `mvm run --api-sock PATH`: the VM configured and started through the API.
 *
 * Contract: api_open() binds the socket (server.h says how) with cfg as the
 * pre-boot configuration (the command-line flags, or a --config-file, are
 * its starting point) and starts the API thread; with start_now (a
 * --config-file was given, as Firecracker does) the VM is created before the
 * API answers anything. api_wait_for_start() blocks the calling (main)
 * thread until PUT /actions InstanceStart has created the VM in *vm (0), or
 * until SIGINT/SIGTERM/SIGHUP (-EINTR); the caller then runs vm_run() while
 * the API thread keeps serving (pause, resume, Ctrl-Alt-Del, metrics), and
 * calls api_close() once vm_run() returned, before vm_destroy(): the API
 * thread is joined, so nothing touches the VM afterwards. api_close() is
 * safe on a zeroed struct api.
 *
 * With cfg->incoming (`mvm run --incoming URI --api-sock PATH`), api_open()
 * binds the socket and serves it at once, but the API neither configures
 * nor starts the VM: api_incoming() then waits for the migration on the
 * calling (main) thread while GET /, /version, /machine-config, /vm/config
 * and /balloon answer (state "Not started", "mvm_incoming": "waiting" or
 * "receiving") and every other route is refused with a 400 that says an
 * incoming migration owns the VM; once it handed over, the API serves the
 * running VM as after InstanceStart. On failure the caller api_close()s.
 */
#ifndef MVM_API_API_H
#define MVM_API_API_H

#include <pthread.h>
#include <stdbool.h>

#include "api/server.h"
#include "core/vm_config.h"

struct vm;

struct api {
	struct api_server server;
	struct api_vmm vmm;
	struct vm *vm;
	int start_efd;             /* written once the VM exists */
	int create_status;         /* vm_create()'s exit status after a failed start */
	pthread_mutex_t cfg_lock;  /* vmm.cfg while an incoming migration fills it */
	bool opened;
};

/* 0, or -errno (logged) with *exit_status set. */
/* restore: --restore DIR with --api-sock: the VM comes from that snapshot
 * before the API answers (start_now is then ignored). */
struct api_snapshot_load;
int api_open(struct api *api, const char *path, struct vm_config *cfg, struct vm *vm,
	     bool start_now, const struct api_snapshot_load *restore, int *exit_status);
int api_wait_for_start(struct api *api);
/* The incoming migration (api/migrate.h) with the API serving meanwhile:
 * 0 with the VM running in *vm and adopted by the API, or -errno with
 * *exit_status set (logged). */
int api_incoming(struct api *api, int *exit_status);
void api_close(struct api *api);

#endif
