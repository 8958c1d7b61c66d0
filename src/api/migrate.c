/* migrate.c - PUT/GET /mvm/migrate bodies and `mvm run --incoming`'s configuration glue. */
#include "api/migrate.h"
#include "api/fc_config.h"
#include "api/fc_json.h"
#include "api/server.h"
#include "core/vmstop.h"
#include "util/log.h"
#include "vmm/config_match.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

int fc_parse_migrate(const char *body, size_t len, struct vm_migrate_params *p, char *err,
		     size_t errlen)
{
	static const char *const known[] = { "uri", "max_downtime_ms", "bandwidth_mbps",
					     "auto_converge", NULL };
	struct json_object *doc = NULL;
	const char *uri = NULL;
	int64_t v;
	int ret;

	memset(p, 0, sizeof(*p));
	if ((ret = fc_json_parse_object(body, len, "body", &doc, err, errlen)))
		return ret;
	if ((ret = fc_json_check_keys(doc, "", known, err, errlen)) ||
	    (ret = fc_json_string(doc, "", "uri", true, &uri, err, errlen)) < 0 ||
	    (ret = fc_json_nonempty(uri, "", "uri", err, errlen)))
		goto out;
	if ((ret = vm_migrate_uri_check(uri, err, errlen)))
		goto out;
	snprintf(p->uri, sizeof(p->uri), "%s", uri);
	if ((ret = fc_json_int(doc, "", "max_downtime_ms", false, 1, 60000, &v, err, errlen)) < 0)
		goto out;
	p->max_downtime_ms = ret == 1 ? (uint32_t)v : VM_MIGRATE_DEFAULT_DOWNTIME_MS;
	if ((ret = fc_json_int(doc, "", "bandwidth_mbps", false, 0, 1000000, &v, err, errlen)) < 0)
		goto out;
	p->bandwidth = ret == 1 ? (uint64_t)v * 1000000ull : 0;
	if ((ret = fc_json_bool(doc, "", "auto_converge", false, &p->auto_converge, err, errlen)) < 0)
		goto out;
	ret = 0;
out:
	json_object_put(doc);
	return ret < 0 ? ret : ret ? -EINVAL : 0;
}

int fc_parse_migrate_tune(const char *body, size_t len, struct vm_migrate_tune *t, char *err,
			  size_t errlen)
{
	static const char *const known[] = { "max_downtime_ms", "bandwidth_mbps", "auto_converge",
					     NULL };
	struct json_object *doc = NULL;
	int64_t v;
	int ret;

	memset(t, 0, sizeof(*t));
	if ((ret = fc_json_parse_object(body, len, "body", &doc, err, errlen)))
		return ret;
	if ((ret = fc_json_check_keys(doc, "", known, err, errlen)))
		goto out;
	if ((ret = fc_json_int(doc, "", "max_downtime_ms", false, 1, 60000, &v, err, errlen)) < 0)
		goto out;
	if ((t->has_downtime = ret == 1))
		t->max_downtime_ms = (uint32_t)v;
	if ((ret = fc_json_int(doc, "", "bandwidth_mbps", false, 0, 1000000, &v, err, errlen)) < 0)
		goto out;
	if ((t->has_bandwidth = ret == 1))
		t->bandwidth = (uint64_t)v * 1000000ull;
	if ((ret = fc_json_bool(doc, "", "auto_converge", false, &t->auto_converge, err,
				errlen)) < 0)
		goto out;
	t->has_auto_converge = ret == 1;
	ret = 0;
	if (!t->has_downtime && !t->has_bandwidth && !t->has_auto_converge) {
		snprintf(err, errlen, "body: give at least one of max_downtime_ms, bandwidth_mbps, "
			 "auto_converge");
		ret = -EINVAL;
	}
out:
	json_object_put(doc);
	return ret < 0 ? ret : ret ? -EINVAL : 0;
}

int api_migrate_start(struct vm *vm, const struct vm_config *cfg,
		      const struct vm_migrate_params *p, char *err, size_t errlen)
{
	char *json = fc_config_to_json(cfg);
	int ret;

	if (!json) {
		snprintf(err, errlen, "out of memory for the configuration");
		return -ENOMEM;
	}
	ret = vm_migrate_start(vm, json, p, err, errlen);
	free(json);
	return ret;
}

char *api_migrate_status_json(struct vm *vm)
{
	static const char *const states[] = {
		[VM_MIGRATE_NONE] = "none", [VM_MIGRATE_ACTIVE] = "active",
		[VM_MIGRATE_COMPLETED] = "completed", [VM_MIGRATE_FAILED] = "failed",
	};
	struct vm_migrate_status st;
	char *out = NULL;

	vm_migrate_get_status(vm, &st);
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "state", json_object_new_string(states[st.state]));
	json_object_object_add(o, "phase", json_object_new_string(st.phase ? st.phase : "none"));
	json_object_object_add(o, "round", json_object_new_int(st.round));
	json_object_object_add(o, "round_limit", json_object_new_boolean(st.round_limit));
	json_object_object_add(o, "throttle_pct", json_object_new_int((int)st.throttle_pct));
	json_object_object_add(o, "bytes_sent", json_object_new_int64((int64_t)st.bytes_sent));
	json_object_object_add(o, "pages_sent", json_object_new_int64((int64_t)st.pages_sent));
	json_object_object_add(o, "zero_pages", json_object_new_int64((int64_t)st.zero_pages));
	json_object_object_add(o, "untouched_pages",
			       json_object_new_int64((int64_t)st.untouched_pages));
	json_object_object_add(o, "dirty_pages_per_s",
			       json_object_new_int64((int64_t)st.dirty_pages_per_s));
	json_object_object_add(o, "remaining_bytes",
			       json_object_new_int64((int64_t)st.remaining_bytes));
	json_object_object_add(o, "rate_bytes_per_s", json_object_new_int64((int64_t)st.rate));
	json_object_object_add(o, "expected_downtime_ms",
			       json_object_new_double(st.expected_downtime_ms));
	json_object_object_add(o, "downtime_ms", json_object_new_double(st.downtime_ms));
	json_object_object_add(o, "max_downtime_ms", json_object_new_int64(st.max_downtime_ms));
	json_object_object_add(o, "bandwidth_mbps",
			       json_object_new_int64((int64_t)(st.bandwidth / 1000000ull)));
	json_object_object_add(o, "auto_converge", json_object_new_boolean(st.auto_converge));
	json_object_object_add(o, "total_ms", json_object_new_double(st.total_ms));
	if (st.error[0])
		json_object_object_add(o, "error", json_object_new_string(st.error));
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	if (s)
		out = strdup(s);
	json_object_put(o);
	return out;
}

static void cfg_lock(struct api_vmm *a, bool on)
{
	if (!a || !a->cfg_lock)
		return;
	if (on)
		pthread_mutex_lock(a->cfg_lock);
	else
		pthread_mutex_unlock(a->cfg_lock);
}

int api_migrate_take_config(void *ctx, const char *json, size_t len, struct vm_config *cfg,
			    char *err, size_t errlen)
{
	struct api_vmm *a = ctx;
	struct vm_config in;
	char cerr[FC_ERR_MAX];
	int ret;

	if (a)
		atomic_store(&a->incoming, API_INCOMING_RECEIVING);
	if (!cfg->vm_described) {
		/* No flags describe the VM: the stream's configuration is the one. */
		cfg_lock(a, true);
		ret = fc_config_parse(json, len, cfg, cerr, sizeof(cerr));
		cfg_lock(a, false);
		if (ret)
			snprintf(err, errlen, "the stream's configuration: %s", cerr);
		return ret;
	}
	fc_config_defaults(&in);
	if ((ret = fc_config_parse(json, len, &in, cerr, sizeof(cerr)))) {
		snprintf(err, errlen, "the stream's configuration: %s", cerr);
	} else if (!(ret = vm_config_match(&in, cfg, err, errlen))) {
		/* The balloon's target is the guest's state, not host policy: a PATCH
		 * on the source may have moved it since both were started. */
		cfg_lock(a, true);
		cfg->balloon.amount_mib = in.balloon.amount_mib;
		cfg_lock(a, false);
	}
	vm_config_release(&in);
	return ret;
}

int api_migrate_incoming(struct vm *vm, struct vm_config *cfg, const char *uri,
			 struct api_vmm *a, int *exit_status)
{
	return vm_migrate_incoming(vm, cfg, uri, api_migrate_take_config, a, exit_status);
}
