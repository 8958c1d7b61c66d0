/* snapshot.c - PUT /snapshot/create and /snapshot/load bodies, and a snapshot's
 * configuration between Firecracker JSON and the VM. */
#include "api/snapshot.h"
#include "api/fc_config.h"
#include "api/fc_json.h"
#include "util/err.h"
#include "util/log.h"
#include "vmm/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

int fc_parse_snapshot_create(const char *body, size_t len, struct json_object **doc,
			     struct api_snapshot_create *req, char *err, size_t errlen)
{
	static const char *const known[] = { "snapshot_type", "snapshot_path", "mem_file_path",
					     "version", NULL };
	static const char *const types[] = { "Full", "Diff", NULL };
	const char *type = "Full";
	int ret;

	memset(req, 0, sizeof(*req));
	if ((ret = fc_json_parse_object(body, len, "body", doc, err, errlen)))
		return ret;
	if ((ret = fc_json_check_keys(*doc, "", known, err, errlen)) ||
	    (ret = fc_json_string(*doc, "", "snapshot_path", true, &req->snapshot_path, err,
				  errlen)) < 0 ||
	    (ret = fc_json_string(*doc, "", "mem_file_path", true, &req->mem_file_path, err,
				  errlen)) < 0 ||
	    (ret = fc_json_nonempty(req->snapshot_path, "", "snapshot_path", err, errlen)) ||
	    (ret = fc_json_nonempty(req->mem_file_path, "", "mem_file_path", err, errlen)) ||
	    (ret = fc_json_string(*doc, "", "snapshot_type", false, &type, err, errlen)) < 0 ||
	    (ret = fc_json_one_of(type, types, "", "snapshot_type", err, errlen)) < 0)
		goto fail;
	req->diff = ret == 1;
	return 0;
fail:
	json_object_put(*doc);
	*doc = NULL;
	return ret < 0 ? ret : -EINVAL;
}

/* KEY: an array of at most MAX objects {ID_KEY: an id, VAL_KEY: a non-empty
 * string} into out[] (*n entries). */
static int parse_override_list(struct json_object *doc, const char *key, const char *id_key,
			       const char *val_key, int max, struct api_override *out, int *n,
			       char *err, size_t errlen)
{
	const char *const known[] = { id_key, val_key, NULL };
	struct json_object *arr;
	char path[48];
	int ret;

	if ((ret = fc_json_array(doc, "", key, &arr, err, errlen)) <= 0)
		return ret;
	if (json_object_array_length(arr) > (size_t)max)
		return fc_json_err(err, errlen, "%s: at most %d entries", key, max);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		struct api_override *ov = &out[*n];

		snprintf(path, sizeof(path), "%s[%zu]", key, i);
		if (!json_object_is_type(o, json_type_object))
			return fc_json_err(err, errlen, "%s: expected an object", path);
		if ((ret = fc_json_check_keys(o, path, known, err, errlen)) ||
		    (ret = fc_json_string(o, path, id_key, true, &ov->id, err, errlen)) < 0 ||
		    (ret = fc_json_string(o, path, val_key, true, &ov->value, err, errlen)) < 0 ||
		    (ret = fc_json_id(ov->id, path, id_key, err, errlen)) ||
		    (ret = fc_json_nonempty(ov->value, path, val_key, err, errlen)))
			return ret < 0 ? ret : -EINVAL;
		(*n)++;
	}
	return 0;
}

static int parse_overrides(struct json_object *doc, struct api_snapshot_load *req,
			   char *err, size_t errlen)
{
	int ret = parse_override_list(doc, "network_overrides", "iface_id", "host_dev_name",
				      VM_MAX_NETS, req->overrides, &req->nr_overrides, err, errlen);

	for (int i = 0; !ret && i < req->nr_overrides; i++) {
		const char *name = req->overrides[i].value;

		if (strlen(name) >= API_SNAP_IFNAME_MAX || strpbrk(name, ",=/ "))
			return fc_json_err(err, errlen, "network_overrides[%d].host_dev_name: '%s' "
					   "is not an interface name", i, name);
	}
	return ret;
}

static int parse_drive_overrides(struct json_object *doc, struct api_snapshot_load *req,
				 char *err, size_t errlen)
{
	return parse_override_list(doc, "drive_overrides", "drive_id", "path_on_host",
				   VM_MAX_DISKS, req->drives, &req->nr_drives, err, errlen);
}

/* "ID=VALUE" from the command line into the next of slots (ids keeps the ID
 * strings; VALUE stays in argv). FLAG and FORM name the option in errors. */
static int parse_cli_override(const char *arg, const char *flag, const char *form,
			      char (*ids)[65], struct api_override *slots, int *n, int max,
			      char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');

	if (*n == max)
		return fc_json_err(err, errlen, "%s: at most %d", flag, max);
	if (!eq || eq == arg || !eq[1] || (size_t)(eq - arg) >= sizeof(ids[0]))
		return fc_json_err(err, errlen, "%s '%s': expected %s", flag, arg, form);
	snprintf(ids[*n], sizeof(ids[0]), "%.*s", (int)(eq - arg), arg);
	if (fc_json_id(ids[*n], "", flag, err, errlen))
		return -EINVAL;
	slots[*n].id = ids[*n];
	slots[*n].value = eq + 1;
	(*n)++;
	return 0;
}

int api_parse_drive_override(const char *arg, struct api_snapshot_load *req, char *err,
			     size_t errlen)
{
	static char ids[VM_MAX_DISKS][65];

	return parse_cli_override(arg, "--override-drive", "DRIVE_ID=PATH (the drive_id as in "
				  "mvm ctl config: disk0, disk1, ... for --disk)", ids, req->drives,
				  &req->nr_drives, VM_MAX_DISKS, err, errlen);
}

int api_parse_net_override(const char *arg, struct api_snapshot_load *req, char *err,
			   size_t errlen)
{
	static char ids[VM_MAX_NETS][65];
	int i = req->nr_overrides;
	const char *name;

	if (parse_cli_override(arg, "--override-net", "IFACE_ID=TAP (the iface_id as in mvm "
			       "ctl config: net0, net1, ... for --net)", ids, req->overrides,
			       &req->nr_overrides, VM_MAX_NETS, err, errlen))
		return -EINVAL;
	/* The same rule as network_overrides' host_dev_name. */
	name = req->overrides[i].value;
	if (strlen(name) >= API_SNAP_IFNAME_MAX || strpbrk(name, ",=/ ")) {
		req->nr_overrides = i;
		return fc_json_err(err, errlen, "--override-net '%s': '%s' is not an interface name",
				   arg, name);
	}
	return 0;
}

/* mem_backend {"backend_type": "File", "backend_path": P}, or the older mem_file_path. */
static int parse_mem_backend(struct json_object *doc, struct api_snapshot_load *req,
			     char *err, size_t errlen)
{
	static const char *const known[] = { "backend_type", "backend_path", NULL };
	static const char *const types[] = { "File", "Uffd", NULL };
	struct json_object *mb = NULL;
	const char *type;
	int has_file, ret;

	if ((has_file = fc_json_string(doc, "", "mem_file_path", false, &req->mem_path, err,
				       errlen)) < 0)
		return has_file;
	if ((ret = fc_json_object(doc, "", "mem_backend", &mb, err, errlen)) < 0)
		return ret;
	if (has_file && mb)
		return fc_json_err(err, errlen, "mem_backend and mem_file_path: give one, not both");
	if (!mb) {
		if (!has_file)
			return fc_json_err(err, errlen, "mem_backend: required");
		return fc_json_nonempty(req->mem_path, "", "mem_file_path", err, errlen);
	}
	if ((ret = fc_json_check_keys(mb, "mem_backend", known, err, errlen)) ||
	    (ret = fc_json_string(mb, "mem_backend", "backend_type", true, &type, err, errlen)) < 0 ||
	    (ret = fc_json_one_of(type, types, "mem_backend", "backend_type", err, errlen)) < 0 ||
	    (ret == 1 ? fc_json_err(err, errlen, "mem_backend.backend_type: \"Uffd\" is not "
				    "supported by this mvm (use \"File\": pages load on first touch "
				    "from the file, mapped private)") : 0) ||
	    (ret = fc_json_string(mb, "mem_backend", "backend_path", true, &req->mem_path, err,
				  errlen)) < 0 ||
	    (ret = fc_json_nonempty(req->mem_path, "mem_backend", "backend_path", err, errlen)))
		return ret < 0 ? ret : -EINVAL;
	return 0;
}

int fc_parse_snapshot_load(const char *body, size_t len, struct json_object **doc,
			   struct api_snapshot_load *req, char *err, size_t errlen)
{
	static const char *const known[] = { "snapshot_path", "mem_backend", "mem_file_path",
					     "enable_diff_snapshots", "track_dirty_pages",
					     "resume_vm", "network_overrides", "drive_overrides",
					     "clock_realtime", "huge_pages",
					     NULL };
	static const char *const pages[] = { "Snapshot", "None", NULL };
	const char *s;
	bool b;
	int ret;

	memset(req, 0, sizeof(*req));
	if ((ret = fc_json_parse_object(body, len, "body", doc, err, errlen)))
		return ret;
	if ((ret = fc_json_check_keys(*doc, "", known, err, errlen)) ||
	    (ret = fc_json_string(*doc, "", "snapshot_path", true, &req->snapshot_path, err,
				  errlen)) < 0 ||
	    (ret = fc_json_nonempty(req->snapshot_path, "", "snapshot_path", err, errlen)) ||
	    (ret = parse_mem_backend(*doc, req, err, errlen)) ||
	    (ret = fc_json_bool(*doc, "", "resume_vm", false, &req->resume_vm, err, errlen)) < 0 ||
	    (ret = fc_json_bool(*doc, "", "track_dirty_pages", false, &req->track_dirty_pages,
				err, errlen)) < 0 ||
	    (ret = fc_json_bool(*doc, "", "enable_diff_snapshots", false, &b, err, errlen)) < 0)
		goto fail;
	/* Firecracker's older name for track_dirty_pages. */
	if (ret == 1 && b)
		req->track_dirty_pages = true;
	/* mvm's restore always moves kvm-clock on by the time the VM was away (vm_state.h):
	 * Firecracker's clock_realtime true. Asking for the clock to stay behind is refused
	 * rather than ignored. */
	if ((ret = fc_json_bool(*doc, "", "clock_realtime", false, &b, err, errlen)) < 0)
		goto fail;
	if (ret == 1 && !b) {
		ret = fc_json_err(err, errlen, "clock_realtime: false is not supported (mvm's "
				  "restore always moves the guest clock on by the time away, as "
				  "true; leave it out or give true)");
		goto fail;
	}
	/* Guest RAM is always 4 KiB pages: the snapshot's own setting, which is None. */
	if ((ret = fc_json_string(*doc, "", "huge_pages", false, &s, err, errlen)) < 0 ||
	    (ret == 1 && (ret = fc_json_one_of(s, pages, "", "huge_pages", err, errlen)) < 0))
		goto fail;
	if ((ret = parse_overrides(*doc, req, err, errlen)) ||
	    (ret = parse_drive_overrides(*doc, req, err, errlen)))
		goto fail;
	return 0;
fail:
	json_object_put(*doc);
	*doc = NULL;
	return ret < 0 ? ret : -EINVAL;
}

bool api_config_has_vm(const struct vm_config *cfg)
{
	return cfg->kernel_path || cfg->initrd_path || cfg->nr_disks || cfg->nr_nets || cfg->rng ||
	       cfg->balloon.enabled;
}

int api_snapshot_save(struct vm *vm, const struct vm_config *cfg,
		      const struct api_snapshot_create *req, struct vm_snapshot_info *info,
		      char *err, size_t errlen)
{
	char *json = fc_config_to_json(cfg);
	int ret;

	if (!json) {
		snprintf(err, errlen, "out of memory for the configuration");
		return err_host(-ENOMEM);
	}
	ret = vm_snapshot_save(vm, req->snapshot_path, req->mem_file_path, json, req->diff, info,
			       err, errlen);
	free(json);
	return ret;
}

/* nets[i] with its tap= replaced by name ("tap=IF[,mac=M]"). */
static int override_tap(struct vm_config *cfg, int i, const char *name, char *err, size_t errlen)
{
	const char *spec = cfg->nets[i] ? cfg->nets[i] : "";
	const char *rest = strchr(spec, ',');
	size_t n = strlen(name) + (rest ? strlen(rest) : 0) + 8;
	char *out;

	if (strncmp(spec, "tap=", 4)) {
		snprintf(err, errlen, "network_overrides: interface %s uses user networking, not a "
			 "tap: there is no host device to override", cfg->net_ids[i]);
		return -EINVAL;
	}
	if (!(out = malloc(n)))
		return err_host(-ENOMEM);
	snprintf(out, n, "tap=%s%s", name, rest ? rest : "");
	vm_config_put_string(cfg, &cfg->nets[i], VM_OWN_NET(i), out);
	return 0;
}

int api_snapshot_restore(struct vm *vm, struct vm_config *cfg,
			 const struct api_snapshot_load *req, int *exit_status,
			 char *err, size_t errlen)
{
	struct vm_snapshot snap;
	struct vm_restore rs = { .snap = &snap, .mem_path = req->mem_path,
				 .paused = !req->resume_vm };
	char cerr[FC_ERR_MAX];
	int ret;

	/* Before the build, a failure is the snapshot's or the request's unless
	 * it recorded otherwise (no memory, say: the host's). */
	err_reset();
	*exit_status = MVM_EXIT_USAGE;
	if (api_config_has_vm(cfg)) {
		snprintf(err, errlen, "loading a snapshot is not allowed after configuring "
			 "boot-specific resources (kernel, drives, network, entropy, balloon)");
		return -EINVAL;
	}
	if ((ret = vm_snapshot_open(&snap, req->snapshot_path, err, errlen))) {
		*exit_status = err_exit_status(ERR_USAGE);
		return ret;
	}
	if ((ret = fc_config_parse(snap.config_json, snap.config_len, cfg, cerr, sizeof(cerr)))) {
		snprintf(err, errlen, "%s: section config: %s", req->snapshot_path, cerr);
		goto out;
	}
	if (req->track_dirty_pages)
		cfg->track_dirty_pages = true;
	for (int o = 0; o < req->nr_overrides; o++) {
		int i;

		for (i = 0; i < cfg->nr_nets; i++)
			if (cfg->net_ids[i] && !strcmp(cfg->net_ids[i], req->overrides[o].id))
				break;
		if (i == cfg->nr_nets) {
			snprintf(err, errlen, "network_overrides[%d].iface_id: the snapshot has no "
				 "interface '%s'", o, req->overrides[o].id);
			ret = -EINVAL;
			goto out;
		}
		if ((ret = override_tap(cfg, i, req->overrides[o].value, err, errlen)))
			goto out;
	}
	for (int o = 0; o < req->nr_drives; o++) {
		int i;

		for (i = 0; i < cfg->nr_disks; i++)
			if (cfg->disks[i].drive_id && !strcmp(cfg->disks[i].drive_id,
							      req->drives[o].id))
				break;
		if (i == cfg->nr_disks) {
			snprintf(err, errlen, "drive_overrides[%d].drive_id: the snapshot has no drive "
				 "'%s'", o, req->drives[o].id);
			ret = -EINVAL;
			goto out;
		}
		if ((ret = vm_config_set_string(cfg, &cfg->disks[i].path, 0,
						req->drives[o].value)))
			goto out;
	}
	ret = vm_create_restored(vm, cfg, &rs, exit_status);
	if (ret) {
		vm_destroy(vm);
		snprintf(err, errlen, "restoring %s: %s (mvm's log says more)", req->snapshot_path,
			 strerror(-ret));
	}
	vm_snapshot_close(&snap);
	return ret;
out:
	*exit_status = err_exit_status(ERR_USAGE);
	vm_snapshot_close(&snap);
	return ret;
}
