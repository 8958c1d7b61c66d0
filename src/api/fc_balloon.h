/* fc_balloon.h - Firecracker's balloon resource: the "balloon" object of a
 * config file and PUT /balloon, the PATCH bodies, and its JSON shapes.
 *
 * Contract: as fc_config.h (0, -EINVAL with one line in err naming the
 * field, or -ENOMEM; cfg unchanged on error). Field rules are
 * Firecracker's: amount_mib (required, u32) and deflate_on_oom (required)
 * and stats_polling_interval_s (u16, default 0) in Balloon; amount_mib
 * alone in BalloonUpdate; stats_polling_interval_s alone in
 * BalloonStatsUpdate; free_page_reporting (default false). free_page_hinting
 * is accepted only as false (mvm does not offer it). Whether the amount
 * fits in guest RAM is checked when the device is made (and on PATCH).
 */
#ifndef MVM_API_FC_BALLOON_H
#define MVM_API_FC_BALLOON_H

#include <stddef.h>
#include <stdint.h>

#include "core/vm_config.h"

struct json_object;

/* The "balloon" object (path: "balloon" in a file, "" for a body). */
int fc_res_balloon(struct vm_config *cfg, struct json_object *o, const char *path,
		   char *err, size_t errlen);
/* PUT /balloon. */
int fc_apply_balloon(struct vm_config *cfg, const char *body, size_t len, char *err,
		     size_t errlen);
/* PATCH /balloon and PATCH /balloon/statistics bodies. */
int fc_parse_balloon_update(const char *body, size_t len, uint32_t *amount_mib, char *err,
			    size_t errlen);
int fc_parse_balloon_stats_update(const char *body, size_t len, uint16_t *interval_s,
				  char *err, size_t errlen);
/* The Balloon object of b (GET /balloon, GET /vm/config); NULL on ENOMEM. */
struct json_object *fc_balloon_to_json(const struct vm_balloon_cfg *b);

#endif
