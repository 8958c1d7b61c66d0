/* routes.c - Firecracker's API paths, methods, bodies and status codes, on struct api_vmm. */
#include "api/balloon.h"
#include "api/fc_balloon.h"
#include "api/fc_config.h"
#include "api/fc_patch.h"
#include "api/server.h"
#include "api/migrate.h"
#include "api/fc_missing.h"
#include "api/snapshot.h"
#include "vmm/snapshot.h"
#include "obs/metrics.h"
#include "vmm/state.h"
#include "vmm/update.h"
#include "vmm/vm.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#ifndef MVM_VERSION
#define MVM_VERSION "0.1.0"
#endif

#define API_ID_MAX 64

/* Firecracker's wording, so tools that match on it keep working. */
#define API_AFTER_START "The requested operation is not supported after starting the microVM."
#define API_BEFORE_START "The requested operation is not supported before starting the microVM."
#define API_INCOMING "An incoming migration owns this microVM (mvm run --incoming): it takes " \
	"no configuration and starts when the migration hands over; until then only GET /, " \
	"/version, /machine-config, /vm/config and /balloon answer."

enum api_when { API_ANYTIME, API_PRE_BOOT, API_POST_BOOT };

typedef void (*api_handler)(struct api_vmm *a, const char *id, const struct http_request *req,
			    struct api_response *r);

struct api_route_def {
	const char *path;          /* exact, or a prefix ending in '/' taking an id */
	bool takes_id;
	enum http_method method;
	enum api_when when;
	bool needs_body;
	api_handler fn;
};

static void api_fault(struct api_response *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void api_fault(struct api_response *r, int status, const char *fmt, ...)
{
	char msg[FC_ERR_MAX + 128];
	json_object *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->status = status;
	o = json_object_new_object();
	if (o) {
		json_object_object_add(o, "fault_message", json_object_new_string(msg));
		r->body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	}
}

/* A failed call's status from the class it recorded (util/err.h; api_route
 * resets it before each handler), else fallback's: the user's request 400,
 * the host's failure 500. */
static int api_class_status(enum err_class fallback)
{
	return err_class_or(fallback) == ERR_HOST ? 500 : 400;
}

static void api_json_reply(struct api_response *r, char *json)
{
	if (!json) {
		api_fault(r, 500, "out of memory");
		return;
	}
	r->status = 200;
	r->body = json;
}

/* A JSON object from the whole body, or NULL with a fault set. */
static json_object *api_parse_object(const struct http_request *req, struct api_response *r)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;

	if (!tok) {
		api_fault(r, 500, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, req->body.p, (int)req->body.len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) != req->body.len) {
		api_fault(r, 400, "the request body is not one JSON object: %s",
			  o ? "trailing bytes after the object"
			    : json_tokener_error_desc(json_tokener_get_error(tok)));
		json_object_put(o);
		json_tokener_free(tok);
		return NULL;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		api_fault(r, 400, "the request body must be a JSON object");
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* The one string field `key` of a body with no other field. */
static const char *api_single_string(json_object *o, const char *key, struct api_response *r)
{
	json_object *v = NULL;

	json_object_object_foreach(o, k, val) {
		(void)val;
		if (strcmp(k, key)) {
			api_fault(r, 400, "%s: unknown field", k);
			return NULL;
		}
	}
	if (!json_object_object_get_ex(o, key, &v)) {
		api_fault(r, 400, "%s: required", key);
		return NULL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		api_fault(r, 400, "%s: expected a string, got %s", key,
			  json_type_to_name(json_object_get_type(v)));
		return NULL;
	}
	return json_object_get_string(v);
}

static const char *api_state_name(struct api_vmm *a)
{
	if (!a->started)
		return "Not started";
	return vm_is_paused(a->vm) ? "Paused" : "Running";
}

static void h_root(struct api_vmm *a, const char *id, const struct http_request *req,
		   struct api_response *r)
{
	json_object *o = json_object_new_object();

	if (!o) {
		api_fault(r, 500, "out of memory");
		return;
	}
	json_object_object_add(o, "id", json_object_new_string(a->instance_id ? a->instance_id
									      : "anonymous-instance"));
	json_object_object_add(o, "state", json_object_new_string(api_state_name(a)));
	/* Firecracker's clients know three states; an incoming migration is
	 * "Not started" there and says where it is in a field of mvm's own. */
	if (!a->started && a->incoming != API_INCOMING_NONE)
		json_object_object_add(o, "mvm_incoming", json_object_new_string(
			a->incoming == API_INCOMING_WAITING ? "waiting" : "receiving"));
	json_object_object_add(o, "vmm_version", json_object_new_string(MVM_VERSION));
	json_object_object_add(o, "app_name", json_object_new_string("mvm"));
	api_json_reply(r, strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)));
	json_object_put(o);
}

/* Firecracker answers its own version; mvm answers its own, in the same
 * field, plus a field that says which program it is. */
static void h_version(struct api_vmm *a, const char *id, const struct http_request *req,
		      struct api_response *r)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "{\"firecracker_version\":\"%s\",\"mvm_version\":\"%s\"}",
		 MVM_VERSION, MVM_VERSION);
	api_json_reply(r, strdup(buf));
}

static void h_get_machine(struct api_vmm *a, const char *id, const struct http_request *req,
			  struct api_response *r)
{
	api_json_reply(r, fc_machine_config_to_json(a->cfg));
}

static void h_get_vm_config(struct api_vmm *a, const char *id, const struct http_request *req,
			    struct api_response *r)
{
	api_json_reply(r, fc_config_to_json(a->cfg));
}

/* Without --metrics, the snapshot opens KVM's per-vCPU stats fds, and a
 * vCPU ioctl waits for that vCPU to leave KVM_RUN (an idle guest may stay
 * in for seconds): a short pause takes them out first. */
static void h_get_stats(struct api_vmm *a, const char *id, const struct http_request *req,
			struct api_response *r)
{
	bool pause = !a->vm->obs.metrics && !vm_is_paused(a->vm);
	char who[128];
	int ret = pause ? vm_pause(a->vm) : 0;

	if (ret == -ETIMEDOUT) {
		api_fault(r, 503, "pause for the vCPU counters: %s did not stop in time; the VM "
			  "keeps running", vm_pause_stuck(a->vm, who, sizeof(who)) ? who
			  : "a vCPU or device");
		return;
	}
	if (ret) {
		api_fault(r, 400, "the VM is stopping");
		return;
	}
	api_json_reply(r, metrics_snapshot_json(&a->vm->obs));
	if (pause)
		vm_resume(a->vm);
}

/* mvm's GET /mvm/vcpus: each vCPU's registers as KVM holds them, read on the
 * vCPU's own thread, on a paused VM (the state snapshot and migration save). */
static void h_get_vcpus(struct api_vmm *a, const char *id, const struct http_request *req,
			struct api_response *r)
{
	int err = 0;
	char *json = vm_state_vcpus_json(a->vm, &err);

	if (json)
		api_json_reply(r, json);
	else if (api_class_status(ERR_HOST) == 400)   /* the one the user causes: running */
		api_fault(r, 400, "the VM must be paused (PATCH /vm {\"state\": \"Paused\"})");
	else
		api_fault(r, 500, "reading the vCPUs' state: %s", strerror(-err));
}

/* The pre-boot resources: one fc_apply_*() each. */
static void api_applied(struct api_response *r, int ret, const char *err)
{
	if (ret == 0)
		r->status = 204;
	else
		api_fault(r, api_class_status(ERR_USAGE), "%s", err[0] ? err : strerror(-ret));
}

#define API_APPLY(name, call)                                                                  \
	static void name(struct api_vmm *a, const char *id, const struct http_request *req,    \
			 struct api_response *r)                                               \
	{                                                                                      \
		char err[FC_ERR_MAX] = "";                                                     \
		api_applied(r, call, err);                                                     \
	}

API_APPLY(h_put_machine, fc_apply_machine_config(a->cfg, req->body.p, req->body.len, err, sizeof(err)))
API_APPLY(h_patch_machine, fc_patch_machine_config(a->cfg, req->body.p, req->body.len, err, sizeof(err)))
API_APPLY(h_put_boot, fc_put_boot_source(a->cfg, req->body.p, req->body.len, err, sizeof(err)))
API_APPLY(h_put_drive, fc_put_drive(a->cfg, id, req->body.p, req->body.len, err, sizeof(err)))
API_APPLY(h_put_net, fc_apply_network_interface(a->cfg, id, req->body.p, req->body.len, err, sizeof(err)))
API_APPLY(h_put_entropy, fc_apply_entropy(a->cfg, req->body.p, req->body.len, err, sizeof(err)))
/* PUT /logger takes effect at once, as in Firecracker: level and log_path. */
static int api_apply_logger(struct vm_config *cfg, const char *body, size_t len, char *err,
			    size_t errlen)
{
	int ret = fc_apply_logger(cfg, body, len, err, errlen);

	if (ret)
		return ret;
	if (cfg->log_level_set && log_get_level() != LOG_DEBUG)
		log_set_level((enum log_level)cfg->log_level);
	if (cfg->log_path && (ret = log_set_file(cfg->log_path, cfg->log_show_level))) {
		snprintf(err, errlen, "log_path %s: %s", cfg->log_path, log_file_strerror(ret));
		return ret;
	}
	return 0;
}

API_APPLY(h_put_logger, api_apply_logger(a->cfg, req->body.p, req->body.len, err, sizeof(err)))
API_APPLY(h_put_metrics, fc_put_metrics(a->cfg, req->body.p, req->body.len, err, sizeof(err)))

API_APPLY(h_put_balloon, fc_apply_balloon(a->cfg, req->body.p, req->body.len, err, sizeof(err)))

/* The balloon on a running VM (api/balloon.c): a status, and a body or a fault. */
static void api_balloon_answer(struct api_response *r, int status, char *json, const char *err)
{
	if (status == 200)
		api_json_reply(r, json);
	else if (status == 204)
		r->status = 204;
	else
		api_fault(r, status, "%s", status == 500 ? "out of memory" : err);
}

#define API_BALLOON(name, call)                                                                \
	static void name(struct api_vmm *a, const char *id, const struct http_request *req,    \
			 struct api_response *r)                                               \
	{                                                                                      \
		char err[FC_ERR_MAX] = "";                                                     \
		char *json = NULL;                                                             \
		int status = call;                                                             \
		api_balloon_answer(r, status, json, err);                                      \
	}

API_BALLOON(h_get_balloon, api_balloon_get(a, &json, err, sizeof(err)))
API_BALLOON(h_patch_balloon, api_balloon_patch(a, req->body.p, req->body.len, err, sizeof(err)))
API_BALLOON(h_get_balloon_stats, api_balloon_stats_get(a, &json, err, sizeof(err)))
API_BALLOON(h_patch_balloon_stats, api_balloon_stats_patch(a, req->body.p, req->body.len, err,
							   sizeof(err)))

API_APPLY(h_put_vsock, fc_apply_vsock(a->cfg, req->body.p, req->body.len, err, sizeof(err)))

static void h_actions(struct api_vmm *a, const char *id, const struct http_request *req,
		      struct api_response *r)
{
	json_object *o = api_parse_object(req, r);
	const char *action;
	char err[FC_ERR_MAX] = "";
	int ret;

	if (!o)
		return;
	action = api_single_string(o, "action_type", r);
	if (!action) {
		json_object_put(o);
		return;
	}
	if (!strcmp(action, "InstanceStart")) {
		if (a->started) {
			api_fault(r, 400, API_AFTER_START);
		} else if ((ret = a->start(a, err, sizeof(err)))) {
			api_fault(r, 400, "InstanceStart failed: %s", err[0] ? err : strerror(-ret));
		} else {
			r->status = 204;
		}
	} else if (!strcmp(action, "SendCtrlAltDel")) {
		if (!a->started)
			api_fault(r, 400, API_BEFORE_START);
		else if ((ret = vm_send_ctrl_alt_del(a->vm)))
			api_fault(r, 400, "SendCtrlAltDel failed: %s", ret == -ENOTSUP
				  ? "this VM has no i8042 keyboard" : strerror(-ret));
		else
			r->status = 204;
	} else if (!strcmp(action, "FlushMetrics")) {
		ret = a->started ? metrics_flush(a->vm->obs.metrics) : -ENODEV;
		if (ret == -ENODEV)
			api_fault(r, 400, a->started ? "FlushMetrics: no metrics file was configured "
				  "(PUT /metrics before InstanceStart, or --metrics)"
				  : "FlushMetrics: the metrics file opens at InstanceStart");
		else if (ret)
			api_fault(r, 400, "FlushMetrics: %s", ret == -EAGAIN
				  ? "the metrics FIFO is full; the line was dropped" : strerror(-ret));
		else
			r->status = 204;
	} else if (!strcmp(action, "MvmStop")) {
		/* mvm's own: stop at once, as SIGTERM would (mvm ctl stop's last resort). */
		if (!a->started) {
			api_fault(r, 400, API_BEFORE_START);
		} else {
			vm_request_stop(a->vm, VM_STOP_USER);
			r->status = 204;
		}
	} else {
		api_fault(r, 400, "action_type: unknown action '%s' (InstanceStart, SendCtrlAltDel, "
			  "FlushMetrics, MvmStop)", action);
	}
	json_object_put(o);
}

static void h_patch_vm(struct api_vmm *a, const char *id, const struct http_request *req,
		       struct api_response *r)
{
	json_object *o = api_parse_object(req, r);
	const char *state;
	char who[128];
	int ret = 0;

	if (!o)
		return;
	state = api_single_string(o, "state", r);
	if (!state) {
		json_object_put(o);
		return;
	}
	if (!strcmp(state, "Paused"))
		ret = vm_pause(a->vm);
	else if (!strcmp(state, "Resumed"))
		ret = vm_resume(a->vm);
	else
		ret = -EINVAL;
	if (ret == -EINVAL)
		api_fault(r, 400, "state: expected \"Paused\" or \"Resumed\", got \"%s\"", state);
	else if (ret == -ETIMEDOUT)
		api_fault(r, 503, "pause: %s did not stop in time; the pause is undone and the "
			  "VM keeps running", vm_pause_stuck(a->vm, who, sizeof(who)) ? who
			  : "a vCPU or device");
	else if (ret)
		api_fault(r, 400, "the VM is stopping");
	else
		r->status = 204;
	json_object_put(o);
}

/* PATCH /drives/{id}: a new image and/or rate limiter on the running VM. */
static void h_patch_drive(struct api_vmm *a, const char *id, const struct http_request *req,
			  struct api_response *r)
{
	struct fc_drive_patch p;
	json_object *doc = NULL;
	char err[FC_ERR_MAX + 256] = "";
	int ret;

	if ((ret = fc_parse_drive_patch(a->cfg, id, req->body.p, req->body.len, &doc, &p, err,
					sizeof(err))))
		api_fault(r, api_class_status(ERR_USAGE), "%s", err[0] ? err : strerror(-ret));
	else if ((ret = vm_drive_update(a->vm, a->cfg, p.index, p.path, &p.rl, err, sizeof(err))))
		api_fault(r, 400, "Drive update: %s", err[0] ? err : strerror(-ret));
	else if (fc_commit_drive_patch(a->cfg, &p))
		api_fault(r, 500, "out of memory");
	else
		r->status = 204;
	json_object_put(doc);
}

/* PATCH /network-interfaces/{id}: rx/tx rate limiters on the running VM. */
static void h_patch_net(struct api_vmm *a, const char *id, const struct http_request *req,
			struct api_response *r)
{
	struct fc_net_patch p;
	json_object *doc = NULL;
	char err[FC_ERR_MAX + 256] = "";
	int ret;

	if ((ret = fc_parse_net_patch(a->cfg, id, req->body.p, req->body.len, &doc, &p, err,
				      sizeof(err))))
		api_fault(r, api_class_status(ERR_USAGE), "%s", err[0] ? err : strerror(-ret));
	else if ((ret = vm_net_update(a->vm, a->cfg, p.index, &p.rx, &p.tx, err, sizeof(err))))
		api_fault(r, 400, "Network interface update: %s", err[0] ? err : strerror(-ret));
	else {
		fc_commit_net_patch(a->cfg, &p);
		r->status = 204;
	}
	json_object_put(doc);
}

/* PUT /snapshot/create: on a paused VM, as Firecracker. */
static void h_snapshot_create(struct api_vmm *a, const char *id, const struct http_request *req,
			      struct api_response *r)
{
	struct api_snapshot_create sc;
	struct vm_snapshot_info info;
	json_object *doc = NULL;
	char err[FC_ERR_MAX + 256] = "";
	int ret;

	if (fc_parse_snapshot_create(req->body.p, req->body.len, &doc, &sc, err, sizeof(err))) {
		api_fault(r, 400, "%s", err);
		return;
	}
	if (!vm_is_paused(a->vm))
		api_fault(r, 400, "Create snapshot: the microVM is running: pause it first "
			  "(PATCH /vm {\"state\": \"Paused\"})");
	else if ((ret = api_snapshot_save(a->vm, a->cfg, &sc, &info, err, sizeof(err))))
		api_fault(r, 400, "Create snapshot: %s", err[0] ? err : strerror(-ret));
	else
		r->status = 204;
	json_object_put(doc);
}

/* PUT /snapshot/load: on an mvm with nothing configured; starts the VM. */
static void h_snapshot_load(struct api_vmm *a, const char *id, const struct http_request *req,
			    struct api_response *r)
{
	struct api_snapshot_load sl;
	json_object *doc = NULL;
	char err[FC_ERR_MAX + 256] = "";
	int ret;

	if (fc_parse_snapshot_load(req->body.p, req->body.len, &doc, &sl, err, sizeof(err))) {
		api_fault(r, 400, "%s", err);
		return;
	}
	if ((ret = a->restore(a, &sl, err, sizeof(err))))
		api_fault(r, 400, "Load snapshot: %s", err[0] ? err : strerror(-ret));
	else
		r->status = 204;
	json_object_put(doc);
}

/* PUT /mvm/migrate: start a live migration (vmm/migrate.h); it runs on its
 * own thread, GET /mvm/migrate follows it. */
static void h_put_migrate(struct api_vmm *a, const char *id, const struct http_request *req,
			  struct api_response *r)
{
	struct vm_migrate_params p;
	char err[FC_ERR_MAX + 256] = "";
	int ret;

	if (fc_parse_migrate(req->body.p, req->body.len, &p, err, sizeof(err))) {
		api_fault(r, 400, "%s", err);
		return;
	}
	if ((ret = api_migrate_start(a->vm, a->cfg, &p, err, sizeof(err))))
		api_fault(r, ret == -EBUSY ? 409 : 400, "Migrate: %s", err[0] ? err : strerror(-ret));
	else
		r->status = 204;
}

/* PATCH /mvm/migrate: new limits for the running migration. */
static void h_patch_migrate(struct api_vmm *a, const char *id, const struct http_request *req,
			    struct api_response *r)
{
	struct vm_migrate_tune t;
	char err[FC_ERR_MAX + 256] = "";
	int ret;

	if (fc_parse_migrate_tune(req->body.p, req->body.len, &t, err, sizeof(err))) {
		api_fault(r, 400, "%s", err);
		return;
	}
	if ((ret = vm_migrate_tune(a->vm, &t, err, sizeof(err))))
		api_fault(r, 400, "Migrate: %s", err[0] ? err : strerror(-ret));
	else
		r->status = 204;
}

static void h_get_migrate(struct api_vmm *a, const char *id, const struct http_request *req,
			  struct api_response *r)
{
	api_json_reply(r, api_migrate_status_json(a->vm));
}

static const struct api_route_def api_routes[] = {
	{ "/",                    false, HTTP_GET,   API_ANYTIME,   false, h_root },
	{ "/version",             false, HTTP_GET,   API_ANYTIME,   false, h_version },
	{ "/machine-config",      false, HTTP_GET,   API_ANYTIME,   false, h_get_machine },
	{ "/machine-config",      false, HTTP_PUT,   API_PRE_BOOT,  true,  h_put_machine },
	{ "/machine-config",      false, HTTP_PATCH, API_PRE_BOOT,  true,  h_patch_machine },
	{ "/boot-source",         false, HTTP_PUT,   API_PRE_BOOT,  true,  h_put_boot },
	{ "/drives/",             true,  HTTP_PUT,   API_PRE_BOOT,  true,  h_put_drive },
	{ "/drives/",             true,  HTTP_PATCH, API_POST_BOOT, true,  h_patch_drive },
	{ "/network-interfaces/", true,  HTTP_PUT,   API_PRE_BOOT,  true,  h_put_net },
	{ "/network-interfaces/", true,  HTTP_PATCH, API_POST_BOOT, true,  h_patch_net },
	{ "/entropy",             false, HTTP_PUT,   API_PRE_BOOT,  true,  h_put_entropy },
	{ "/balloon",             false, HTTP_GET,   API_ANYTIME,   false, h_get_balloon },
	{ "/balloon",             false, HTTP_PUT,   API_PRE_BOOT,  true,  h_put_balloon },
	{ "/balloon",             false, HTTP_PATCH, API_POST_BOOT, true,  h_patch_balloon },
	{ "/balloon/statistics",  false, HTTP_GET,   API_POST_BOOT, false, h_get_balloon_stats },
	{ "/balloon/statistics",  false, HTTP_PATCH, API_POST_BOOT, true,  h_patch_balloon_stats },
	{ "/logger",              false, HTTP_PUT,   API_PRE_BOOT,  true,  h_put_logger },
	{ "/metrics",             false, HTTP_PUT,   API_PRE_BOOT,  true,  h_put_metrics },
	{ "/vsock",               false, HTTP_PUT,   API_PRE_BOOT,  true,  h_put_vsock },
	{ "/actions",             false, HTTP_PUT,   API_ANYTIME,   true,  h_actions },
	{ "/vm",                  false, HTTP_PATCH, API_POST_BOOT, true,  h_patch_vm },
	{ "/vm/config",           false, HTTP_GET,   API_ANYTIME,   false, h_get_vm_config },
	{ "/mvm/stats",           false, HTTP_GET,   API_POST_BOOT, false, h_get_stats },
	{ "/mvm/vcpus",           false, HTTP_GET,   API_POST_BOOT, false, h_get_vcpus },
	{ "/snapshot/create",     false, HTTP_PUT,   API_POST_BOOT, true,  h_snapshot_create },
	{ "/snapshot/load",       false, HTTP_PUT,   API_PRE_BOOT,  true,  h_snapshot_load },
	{ "/mvm/migrate",         false, HTTP_PUT,   API_POST_BOOT, true,  h_put_migrate },
	{ "/mvm/migrate",         false, HTTP_GET,   API_POST_BOOT, false, h_get_migrate },
	{ "/mvm/migrate",         false, HTTP_PATCH, API_POST_BOOT, true,  h_patch_migrate },
};

static bool api_id_ok(const char *id)
{
	if (!*id)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return true;
}

/* Does path match route d? The id (for an id route) goes to id. */
static bool api_match(const struct api_route_def *d, struct http_str path, char *id)
{
	size_t n = strlen(d->path);

	if (!d->takes_id)
		return http_str_eq(path, d->path);
	if (path.len < n || memcmp(path.p, d->path, n))
		return false;
	if (path.len - n >= API_ID_MAX || memchr(path.p + n, '/', path.len - n))
		return false;
	memcpy(id, path.p + n, path.len - n);
	id[path.len - n] = 0;
	return true;
}

static const char *api_method_name(enum http_method m)
{
	switch (m) {
	case HTTP_GET: return "GET";
	case HTTP_PUT: return "PUT";
	case HTTP_PATCH: return "PATCH";
	default: return "?";
	}
}

void api_route(struct api_vmm *a, const struct http_request *req, struct api_response *r)
{
	static char allow[128];    /* the server thread is the only caller */
	const struct api_route_def *hit = NULL;
	char id[API_ID_MAX] = "";
	bool path_known = false, incoming;
	size_t n = 0;

	allow[0] = 0;
	for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		const struct api_route_def *d = &api_routes[i];

		if (!api_match(d, req->path, id))
			continue;
		path_known = true;
		n += (size_t)snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "Allow: ",
				      api_method_name(d->method));
		if (d->method == req->method)
			hit = d;
	}
	/* Firecracker answers 400 to any path or method it does not serve, and so does mvm
	 * (the Allow header still says what the path takes); a path of Firecracker's that mvm
	 * lacks names the missing feature. */
	if (!hit) {
		const char *missing = fc_missing_feature(req->path.p, req->path.len);

		if (path_known) {
			snprintf(allow + n, sizeof(allow) - n, "\r\n");
			r->extra = allow;
		}
		if (missing && !path_known)
			api_fault(r, 400, "%.*s: %s: not supported by mvm", (int)req->path.len,
				  req->path.p, missing);
		else
			api_fault(r, 400, "Invalid request method and/or path: %.*s %.*s.",
				  (int)req->method_str.len, req->method_str.p,
				  (int)req->path.len, req->path.p);
		return;
	}
	if (hit->takes_id && !api_id_ok(id)) {
		api_fault(r, 400, "%.*s: the id must be 1 to %d letters, digits, '_' or '-'",
			  (int)req->path.len, req->path.p, API_ID_MAX - 1);
		return;
	}
	/* incoming first: it turns NONE only after started turned true. */
	incoming = atomic_load(&a->incoming) != API_INCOMING_NONE && !atomic_load(&a->started);
	if (incoming && (hit->method != HTTP_GET || hit->when == API_POST_BOOT)) {
		api_fault(r, 400, API_INCOMING);
		return;
	}
	if (hit->when == API_PRE_BOOT && a->started) {
		api_fault(r, 400, API_AFTER_START);
		return;
	}
	if (hit->when == API_POST_BOOT && !a->started) {
		api_fault(r, 400, API_BEFORE_START);
		return;
	}
	if (hit->needs_body && req->body.len == 0) {
		api_fault(r, 400, "%s %.*s needs a JSON body (with a Content-Length)",
			  api_method_name(hit->method), (int)req->path.len, req->path.p);
		return;
	}
	if (!hit->needs_body && req->body.len) {
		api_fault(r, 400, "%s %.*s takes no body", api_method_name(hit->method),
			  (int)req->path.len, req->path.p);
		return;
	}
	if (incoming && a->cfg_lock)
		pthread_mutex_lock(a->cfg_lock);
	err_reset();   /* the handler's failure records its own class */
	hit->fn(a, hit->takes_id ? id : NULL, req, r);
	if (incoming && a->cfg_lock)
		pthread_mutex_unlock(a->cfg_lock);
}
