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
 */
#ifndef MVM_API_API_H
#define MVM_API_API_H

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
	bool opened;
};

/* 0, or -errno (logged) with *exit_status set. */
/* restore: --restore DIR with --api-sock: the VM comes from that snapshot
 * before the API answers (start_now is then ignored). */
struct api_snapshot_load;
int api_open(struct api *api, const char *path, struct vm_config *cfg, struct vm *vm,
	     bool start_now, const struct api_snapshot_load *restore, int *exit_status);
int api_wait_for_start(struct api *api);
void api_close(struct api *api);

#endif
