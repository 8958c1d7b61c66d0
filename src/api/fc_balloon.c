/* fc_balloon.c - Firecracker's balloon JSON <-> struct vm_balloon_cfg. */
#include "api/fc_balloon.h"
#include "api/fc_json.h"

#include <errno.h>
#include <stdbool.h>

#include <json-c/json.h>

/* A balloon body is a few fields: anything longer is not one. */
#define FC_BALLOON_BODY_MAX 4096

/* The features mvm does not offer: present only as false. */
static int balloon_refuse_true(struct json_object *o, const char *path, const char *key,
			       char *err, size_t errlen)
{
	char name[FC_JSON_NAME_LEN];
	bool on = false;
	int ret = fc_json_bool(o, path, key, false, &on, err, errlen);

	if (ret < 0)
		return ret;
	if (on)
		return fc_json_err(err, errlen, "%s: true is not supported by mvm (set false or "
				   "leave it out)", fc_json_name(name, sizeof(name), path, key));
	return 0;
}

int fc_res_balloon(struct vm_config *cfg, struct json_object *o, const char *path,
		   char *err, size_t errlen)
{
	static const char *const keys[] = { "amount_mib", "deflate_on_oom",
		"stats_polling_interval_s", "free_page_hinting", "free_page_reporting", NULL };
	int64_t mib = 0, interval = 0;
	bool oom = false, report = false;
	int ret;

	if ((ret = fc_json_check_keys(o, path, keys, err, errlen)) ||
	    (ret = fc_json_int(o, path, "amount_mib", true, 0, UINT32_MAX, &mib, err,
			       errlen)) < 0 ||
	    (ret = fc_json_bool(o, path, "deflate_on_oom", true, &oom, err, errlen)) < 0 ||
	    (ret = fc_json_int(o, path, "stats_polling_interval_s", false, 0, UINT16_MAX,
			       &interval, err, errlen)) < 0 ||
	    (ret = balloon_refuse_true(o, path, "free_page_hinting", err, errlen)) ||
	    (ret = fc_json_bool(o, path, "free_page_reporting", false, &report, err, errlen)) < 0)
		return ret < 0 ? ret : -EINVAL;
	cfg->balloon = (struct vm_balloon_cfg){
		.enabled = true,
		.amount_mib = (uint32_t)mib,
		.deflate_on_oom = oom,
		.stats_polling_interval_s = (uint16_t)interval,
		.free_page_reporting = report,
	};
	return 0;
}

int fc_apply_balloon(struct vm_config *cfg, const char *body, size_t len, char *err,
		     size_t errlen)
{
	struct json_object *o;
	int ret;

	if (len > FC_BALLOON_BODY_MAX)
		return fc_json_err(err, errlen, "body: larger than %u bytes", FC_BALLOON_BODY_MAX);
	if ((ret = fc_json_parse_object(body, len, "body", &o, err, errlen)))
		return ret;
	ret = fc_res_balloon(cfg, o, "", err, errlen);
	json_object_put(o);
	return ret;
}

/* A body with exactly one integer field key in [0, max]. */
static int balloon_one_int(const char *body, size_t len, const char *key, int64_t max,
			   int64_t *out, char *err, size_t errlen)
{
	const char *const keys[] = { key, NULL };
	struct json_object *o;
	int ret;

	if (len > FC_BALLOON_BODY_MAX)
		return fc_json_err(err, errlen, "body: larger than %u bytes", FC_BALLOON_BODY_MAX);
	if ((ret = fc_json_parse_object(body, len, "body", &o, err, errlen)))
		return ret;
	if (!(ret = fc_json_check_keys(o, "", keys, err, errlen)))
		ret = fc_json_int(o, "", key, true, 0, max, out, err, errlen);
	json_object_put(o);
	return ret < 0 ? ret : 0;
}

int fc_parse_balloon_update(const char *body, size_t len, uint32_t *amount_mib, char *err,
			    size_t errlen)
{
	int64_t v = 0;
	int ret = balloon_one_int(body, len, "amount_mib", UINT32_MAX, &v, err, errlen);

	if (!ret)
		*amount_mib = (uint32_t)v;
	return ret;
}

int fc_parse_balloon_stats_update(const char *body, size_t len, uint16_t *interval_s,
				  char *err, size_t errlen)
{
	int64_t v = 0;
	int ret = balloon_one_int(body, len, "stats_polling_interval_s", UINT16_MAX, &v, err,
				  errlen);

	if (!ret)
		*interval_s = (uint16_t)v;
	return ret;
}

struct json_object *fc_balloon_to_json(const struct vm_balloon_cfg *b)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (json_object_object_add(o, "amount_mib", json_object_new_int64(b->amount_mib)) ||
	    json_object_object_add(o, "deflate_on_oom", json_object_new_boolean(b->deflate_on_oom)) ||
	    json_object_object_add(o, "stats_polling_interval_s",
				   json_object_new_int(b->stats_polling_interval_s)) ||
	    json_object_object_add(o, "free_page_hinting", json_object_new_boolean(0)) ||
	    json_object_object_add(o, "free_page_reporting",
				   json_object_new_boolean(b->free_page_reporting))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}
