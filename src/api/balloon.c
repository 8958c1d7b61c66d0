/* balloon.c - the balloon routes: the configuration before boot, the
 * device (target, actual, statistics) after. */
#include "api/balloon.h"
#include "api/fc_balloon.h"
#include "api/server.h"
#include "virtio/balloon.h"
#include "vmm/devices.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define NO_BALLOON "No balloon device found (configure one with PUT /balloon before InstanceStart)."

static struct virtio_balloon *api_balloon_dev(struct api_vmm *a)
{
	return a->started && a->vm ? vm_devices_find(a->vm->devices, &virtio_balloon_kind, 0)
				   : NULL;
}

/* The object into a malloc'd string; o is released. 200 or 500. */
static int api_balloon_reply(struct json_object *o, char **json)
{
	*json = o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) : NULL;
	json_object_put(o);
	return *json ? 200 : 500;
}

static bool api_balloon_add(struct json_object *o, const char *key, int64_t v)
{
	return json_object_object_add(o, key, json_object_new_int64(v)) == 0;
}

int api_balloon_get(struct api_vmm *a, char **json, char *err, size_t errlen)
{
	struct virtio_balloon *d = api_balloon_dev(a);
	struct virtio_balloon_info i;
	struct json_object *o;

	*json = NULL;
	if (!a->cfg->balloon.enabled) {
		snprintf(err, errlen, NO_BALLOON);
		return 400;
	}
	o = fc_balloon_to_json(&a->cfg->balloon);
	/* mvm's addition after boot: what the driver holds. */
	if (o && d) {
		virtio_balloon_info(d, &i);
		if (!api_balloon_add(o, "actual_mib", i.actual_pages / VIRTIO_BALLOON_PAGES_PER_MIB) ||
		    !api_balloon_add(o, "actual_pages", i.actual_pages)) {
			json_object_put(o);
			o = NULL;
		}
	}
	return api_balloon_reply(o, json);
}

int api_balloon_patch(struct api_vmm *a, const char *body, size_t len, char *err,
		      size_t errlen)
{
	struct virtio_balloon *d = api_balloon_dev(a);
	uint32_t mib;

	if (fc_parse_balloon_update(body, len, &mib, err, errlen))
		return 400;
	if (!d) {
		snprintf(err, errlen, NO_BALLOON);
		return 400;
	}
	if (virtio_balloon_set_target(d, mib)) {
		snprintf(err, errlen, "amount_mib: %u MiB is more than the guest's memory (%llu MiB)",
			 mib, (unsigned long long)(a->cfg->mem_size >> 20));
		return 400;
	}
	a->cfg->balloon.amount_mib = mib;
	return 204;
}

int api_balloon_stats_get(struct api_vmm *a, char **json, char *err, size_t errlen)
{
	struct virtio_balloon *d = api_balloon_dev(a);
	struct virtio_balloon_info i;
	struct json_object *o;
	bool ok;

	*json = NULL;
	if (!d) {
		snprintf(err, errlen, NO_BALLOON);
		return 400;
	}
	virtio_balloon_info(d, &i);
	if (!i.stats_polling_interval_s) {
		snprintf(err, errlen, "Received stats query when stats are disabled "
			 "(stats_polling_interval_s was 0 when the balloon was configured).");
		return 400;
	}
	if (!(o = json_object_new_object()))
		return 500;
	ok = api_balloon_add(o, "target_pages", i.target_pages) &&
	     api_balloon_add(o, "actual_pages", i.actual_pages) &&
	     api_balloon_add(o, "target_mib", i.target_pages / VIRTIO_BALLOON_PAGES_PER_MIB) &&
	     api_balloon_add(o, "actual_mib", i.actual_pages / VIRTIO_BALLOON_PAGES_PER_MIB);
	for (unsigned t = 0; ok && i.stats_valid && t < VIRTIO_BALLOON_S_NR; t++)
		if (i.stats.present & (1u << t))
			ok = api_balloon_add(o, balloon_stat_name(t), (int64_t)i.stats.val[t]);
	if (!ok) {
		json_object_put(o);
		return 500;
	}
	return api_balloon_reply(o, json);
}

int api_balloon_stats_patch(struct api_vmm *a, const char *body, size_t len, char *err,
			    size_t errlen)
{
	struct virtio_balloon *d = api_balloon_dev(a);
	uint16_t s;

	if (fc_parse_balloon_stats_update(body, len, &s, err, errlen))
		return 400;
	if (!d) {
		snprintf(err, errlen, NO_BALLOON);
		return 400;
	}
	if (virtio_balloon_set_stats_interval(d, s)) {
		snprintf(err, errlen, "Statistics cannot be enabled/disabled after activation "
			 "(this balloon was configured with statistics %s).",
			 a->cfg->balloon.stats_polling_interval_s ? "on" : "off");
		return 400;
	}
	a->cfg->balloon.stats_polling_interval_s = s;
	return 204;
}
