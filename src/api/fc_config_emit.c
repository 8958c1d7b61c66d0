/* fc_config_emit.c - a vm_config as Firecracker's JSON (GET /vm/config,
 * GET /machine-config). */
#include "api/fc_config.h"
#include "api/fc_balloon.h"
#include "api/fc_resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* json-c's adders fail only on allocation; one flag collects them. */
struct emit {
	bool oom;
};

static void add(struct emit *e, struct json_object *o, const char *key, struct json_object *v)
{
	/* A NULL v from a failed constructor is indistinguishable from JSON
	 * null, so every caller passes a value that must not be NULL unless
	 * null is meant: the *_or_null helpers below say which. */
	if (json_object_object_add(o, key, v))
		e->oom = true;
}

static struct json_object *str(struct emit *e, const char *s)
{
	struct json_object *v = json_object_new_string(s);

	if (!v)
		e->oom = true;
	return v;
}

static struct json_object *str_or_null(struct emit *e, const char *s)
{
	return s ? str(e, s) : NULL;
}

static struct json_object *obj(struct emit *e)
{
	struct json_object *v = json_object_new_object();

	if (!v)
		e->oom = true;
	return v;
}

/* A rate limiter as configured, or NULL (left out) when it limits nothing. */
static struct json_object *limiter(struct emit *e, const struct rlim_cfg *rl)
{
	const struct tbucket_cfg *b[2] = { &rl->bandwidth, &rl->ops };
	static const char *const names[2] = { "bandwidth", "ops" };
	struct json_object *o;

	if (!rlim_cfg_on(rl) || !(o = obj(e)))
		return NULL;
	for (int i = 0; i < 2; i++) {
		struct json_object *t;

		if (!tbucket_cfg_on(b[i]) || !(t = obj(e)))
			continue;
		add(e, t, "size", json_object_new_int64((int64_t)b[i]->size));
		add(e, t, "one_time_burst", json_object_new_int64((int64_t)b[i]->one_time_burst));
		add(e, t, "refill_time", json_object_new_int64((int64_t)b[i]->refill_time_ms));
		add(e, o, names[i], t);
	}
	return o;
}

static void add_limiter(struct emit *e, struct json_object *o, const char *key,
			const struct rlim_cfg *rl)
{
	struct json_object *v = limiter(e, rl);

	if (v)
		add(e, o, key, v);
}

static struct json_object *machine(struct emit *e, const struct vm_config *cfg)
{
	struct json_object *m = obj(e);

	if (!m)
		return NULL;
	add(e, m, "vcpu_count", json_object_new_int(cfg->nr_cpus));
	add(e, m, "mem_size_mib", json_object_new_int64((int64_t)(cfg->mem_size >> 20)));
	add(e, m, "smt", json_object_new_boolean(0));
	add(e, m, "track_dirty_pages", json_object_new_boolean(cfg->track_dirty_pages));
	add(e, m, "huge_pages", str(e, "None"));
	return m;
}

/* The --net value we built (or the user typed) back into Firecracker's
 * fields: "tap=IF[,mac=M]" or "user[,mac=M][,restrict=on][,host-loopback=off]
 * [,max-flows=N][,hostfwd=R]...". */
static struct json_object *net(struct emit *e, const struct vm_config *cfg, int i)
{
	struct json_object *n = obj(e), *fwd = NULL, *user = NULL;
	char idbuf[16], *spec, *save = NULL;

	if (!n || !(spec = strdup(cfg->nets[i] ? cfg->nets[i] : ""))) {
		e->oom = true;
		json_object_put(n);
		return NULL;
	}
	snprintf(idbuf, sizeof(idbuf), "net%d", i);
	add(e, n, "iface_id", str(e, cfg->net_ids[i] ? cfg->net_ids[i] : idbuf));
	for (char *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "tap=", 4)) {
			add(e, n, "host_dev_name", str(e, tok + 4));
		} else if (!strncmp(tok, "mac=", 4)) {
			add(e, n, "guest_mac", str(e, tok + 4));
		} else if (!strcmp(tok, "user")) {
			struct json_object *u = obj(e);

			fwd = json_object_new_array();
			if (!fwd)
				e->oom = true;
			if (u)
				add(e, u, "hostfwd", fwd);
			add(e, n, "mvm_user", u);
			user = u;
		} else if (!strncmp(tok, "hostfwd=", 8) && fwd) {
			if (json_object_array_add(fwd, str(e, tok + 8)))
				e->oom = true;
		} else if (user && !strcmp(tok, "restrict=on")) {
			add(e, user, "restrict", json_object_new_boolean(1));
		} else if (user && !strcmp(tok, "host-loopback=off")) {
			add(e, user, "host_loopback", json_object_new_boolean(0));
		} else if (user && !strncmp(tok, "max-flows=", 10)) {
			add(e, user, "max_flows", json_object_new_int(atoi(tok + 10)));
		}
	}
	free(spec);
	add_limiter(e, n, "rx_rate_limiter", &cfg->net_rx_rl[i]);
	add_limiter(e, n, "tx_rate_limiter", &cfg->net_tx_rl[i]);
	return n;
}

static struct json_object *drive(struct emit *e, const struct vm_config *cfg, int i)
{
	const struct vm_disk_cfg *d = &cfg->disks[i];
	struct json_object *o = obj(e);
	char idbuf[16];

	if (!o)
		return NULL;
	snprintf(idbuf, sizeof(idbuf), "disk%d", i);
	add(e, o, "drive_id", str(e, d->drive_id ? d->drive_id : idbuf));
	add(e, o, "path_on_host", str(e, d->path));
	add(e, o, "is_root_device", json_object_new_boolean(d->is_root));
	add(e, o, "is_read_only", json_object_new_boolean(d->read_only));
	if (d->partuuid)
		add(e, o, "partuuid", str(e, d->partuuid));
	add(e, o, "cache_type", str(e, fc_cache_types[d->fc_cache < 2 ? d->fc_cache : 0]));
	add(e, o, "io_engine", str(e, fc_io_engines[d->fc_engine < 2 ? d->fc_engine : 0]));
	add_limiter(e, o, "rate_limiter", &d->rate_limiter);
	return o;
}

static char *finish(struct emit *e, struct json_object *root)
{
	char *out = NULL;

	if (root && !e->oom) {
		const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE);

		out = s ? strdup(s) : NULL;
	}
	json_object_put(root);
	return out;
}

char *fc_machine_config_to_json(const struct vm_config *cfg)
{
	struct emit e = { 0 };

	return finish(&e, machine(&e, cfg));
}

char *fc_config_to_json(const struct vm_config *cfg)
{
	struct emit e = { 0 };
	struct json_object *root = obj(&e), *boot = NULL, *drives, *nets, *v;

	if (!root)
		return NULL;
	/* No kernel: the built-in demo boots; Firecracker's shape has no
	 * word for that, so boot-source is null. */
	if (cfg->kernel_path && (boot = obj(&e))) {
		add(&e, boot, "kernel_image_path", str(&e, cfg->kernel_path));
		add(&e, boot, "initrd_path", str_or_null(&e, cfg->initrd_path));
		add(&e, boot, "boot_args", str_or_null(&e, cfg->cmdline));
	}
	add(&e, root, "boot-source", boot);
	add(&e, root, "machine-config", machine(&e, cfg));
	/* Firecracker's keys for what mvm has none of, as Firecracker prints them: a client
	 * that reads them finds them (and the file still parses back). */
	add(&e, root, "cpu-config", NULL);
	add(&e, root, "mmds-config", NULL);
	add(&e, root, "memory-hotplug", NULL);
	v = json_object_new_array();
	if (!v)
		e.oom = true;
	add(&e, root, "pmem", v);
	drives = json_object_new_array();
	nets = json_object_new_array();
	if (!drives || !nets)
		e.oom = true;
	for (int i = 0; drives && i < cfg->nr_disks; i++)
		if (json_object_array_add(drives, drive(&e, cfg, i)))
			e.oom = true;
	for (int i = 0; nets && i < cfg->nr_nets; i++)
		if (json_object_array_add(nets, net(&e, cfg, i)))
			e.oom = true;
	add(&e, root, "drives", drives);
	add(&e, root, "network-interfaces", nets);
	v = cfg->rng ? obj(&e) : NULL;
	if (v)
		add_limiter(&e, v, "rate_limiter", &cfg->rng_rl);
	add(&e, root, "entropy", v);
	v = NULL;
	if (cfg->log_path || cfg->log_level_set || cfg->log_show_level || cfg->log_show_origin) {
		if ((v = obj(&e))) {
			if (cfg->log_path)
				add(&e, v, "log_path", str(&e, cfg->log_path));
			if (cfg->log_level_set)
				add(&e, v, "level", str(&e, fc_log_level_name(cfg->log_level)));
			add(&e, v, "show_level", json_object_new_boolean(cfg->log_show_level));
			add(&e, v, "show_log_origin", json_object_new_boolean(cfg->log_show_origin));
		}
	}
	add(&e, root, "logger", v);
	v = NULL;
	if (cfg->metrics_path && (v = obj(&e))) {
		add(&e, v, "metrics_path", str(&e, cfg->metrics_path));
		add(&e, v, "emit_id", json_object_new_boolean(cfg->metrics_emit_id));
		if (cfg->metrics_properties) {
			struct json_object *p = json_tokener_parse(cfg->metrics_properties);

			if (!p)
				e.oom = true;
			add(&e, v, "properties", p);
		}
	}
	add(&e, root, "metrics", v);
	v = NULL;
	if (cfg->vsock_uds && (v = obj(&e))) {
		if (cfg->vsock_id)
			add(&e, v, "vsock_id", str(&e, cfg->vsock_id));
		add(&e, v, "guest_cid", json_object_new_int64((int64_t)cfg->vsock_cid));
		add(&e, v, "uds_path", str(&e, cfg->vsock_uds));
	}
	add(&e, root, "vsock", v);
	v = NULL;
	if (cfg->balloon.enabled && !(v = fc_balloon_to_json(&cfg->balloon)))
		e.oom = true;
	add(&e, root, "balloon", v);
	if (cfg->console == VM_CONSOLE_VIRTIO)
		add(&e, root, "mvm-console", str(&e, "virtio"));
	if (cfg->debug_exit)
		add(&e, root, "mvm-debug-exit", json_object_new_boolean(true));
	if (cfg->pc_testdev)
		add(&e, root, "mvm-pc-testdev", json_object_new_boolean(true));
	return finish(&e, root);
}
