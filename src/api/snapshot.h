/* snapshot.h - Firecracker's snapshot requests, and the glue between a snapshot's
 * configuration (Firecracker JSON, api/fc_config.h) and vmm/snapshot.h.
 *
 * Contract:
 *  - fc_parse_snapshot_create()/fc_parse_snapshot_load() check a request
 *    body as Firecracker does (field names, types, unknown fields refused)
 *    and fill a request whose strings point into *doc (free it with
 *    json_object_put after use). What mvm does not do is refused with a
 *    message saying so: "Uffd" memory backends.
 *  - api_snapshot_save(): the paused VM of cfg to the two files.
 *  - api_snapshot_restore(): open and check the state file, parse its
 *    configuration into cfg (which must hold no VM resources yet: only
 *    flags about mvm itself), apply the network overrides (iface_id ->
 *    tap name), and build the VM (vm_create_restored). 0, or -errno with
 *    the message in err and the exit status class in *exit_status; on
 *    failure nothing of the VM is left (no vm_destroy() needed).
 *  - A snapshot directory (mvm ctl snapshot DIR, mvm run --restore DIR)
 *    holds API_SNAP_STATE_FILE and API_SNAP_MEM_FILE.
 */
#ifndef MVM_API_SNAPSHOT_H
#define MVM_API_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/vm_config.h"

struct json_object;
struct vm;
struct vm_snapshot_info;

#define API_SNAP_STATE_FILE "vmstate"
#define API_SNAP_MEM_FILE   "memory"
#define API_SNAP_IFNAME_MAX 16

struct api_snapshot_create {
	const char *snapshot_path;
	const char *mem_file_path;
	bool diff;
};

/* One entry of network_overrides (iface_id -> host_dev_name) or of mvm's
 * drive_overrides (drive_id -> path_on_host). */
struct api_override {
	const char *id;
	const char *value;
};

struct api_snapshot_load {
	const char *snapshot_path;
	const char *mem_path;
	bool resume_vm;
	bool track_dirty_pages;
	struct api_override overrides[VM_MAX_NETS];
	int nr_overrides;
	/* mvm's: another image for a drive (a clone restored beside the original
	 * needs its own disk copy); the capacity must be the saved one. */
	struct api_override drives[VM_MAX_DISKS];
	int nr_drives;
};

/* "ID=PATH" (mvm run --restore DIR --override-drive ID=PATH) into req. 0 or -EINVAL (err). */
int api_parse_drive_override(const char *arg, struct api_snapshot_load *req, char *err,
			     size_t errlen);
/* "IFACE_ID=TAP" (mvm run --restore DIR --override-net IFACE_ID=TAP): network_overrides'
 * entry from the command line. 0 or -EINVAL (err). */
int api_parse_net_override(const char *arg, struct api_snapshot_load *req, char *err,
			   size_t errlen);

int fc_parse_snapshot_create(const char *body, size_t len, struct json_object **doc,
			     struct api_snapshot_create *req, char *err, size_t errlen);
int fc_parse_snapshot_load(const char *body, size_t len, struct json_object **doc,
			   struct api_snapshot_load *req, char *err, size_t errlen);

int api_snapshot_save(struct vm *vm, const struct vm_config *cfg,
		      const struct api_snapshot_create *req, struct vm_snapshot_info *info,
		      char *err, size_t errlen);
int api_snapshot_restore(struct vm *vm, struct vm_config *cfg,
			 const struct api_snapshot_load *req, int *exit_status,
			 char *err, size_t errlen);

/* Does cfg already describe a VM (kernel, drives, network)? A snapshot load
 * needs an mvm with nothing configured, as Firecracker's. */
bool api_config_has_vm(const struct vm_config *cfg);

#endif
