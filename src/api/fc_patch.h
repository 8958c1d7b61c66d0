/* fc_patch.h - Firecracker's PATCH /drives/{id} and PATCH /network-interfaces/{id}
 * bodies: parsed against the running VM's configuration, committed to it
 * once the VM took the change.
 *
 * Contract: the parsers check the whole body (Firecracker's PartialDrive:
 * drive_id required and equal to the path's id, path_on_host, rate_limiter;
 * PartialNetworkInterface: iface_id, rx_rate_limiter, tx_rate_limiter; no
 * other field) and find the drive or interface by id. 0, or -EINVAL with
 * one line in err naming the field ("drive_id: no drive 'x'"), -ENOMEM.
 * *doc holds the parsed body (p->path points into it): the caller frees it
 * with json_object_put() in every case. A bucket given in a limiter
 * replaces the configured one (size or refill_time 0 turns it off); one
 * left out stays. The commit functions store a change into cfg.
 */
#ifndef MVM_API_FC_PATCH_H
#define MVM_API_FC_PATCH_H

#include <stddef.h>

#include "core/vm_config.h"
#include "util/tbucket.h"

struct json_object;

struct fc_drive_patch {
	int index;                 /* in cfg->disks */
	const char *path;          /* new path_on_host, or NULL */
	struct rlim_update rl;     /* buckets to replace (none: has_* false) */
};

struct fc_net_patch {
	int index;                 /* in cfg->nets */
	struct rlim_update rx, tx;
};

int fc_parse_drive_patch(const struct vm_config *cfg, const char *id, const char *body,
			 size_t len, struct json_object **doc, struct fc_drive_patch *p,
			 char *err, size_t errlen);
int fc_parse_net_patch(const struct vm_config *cfg, const char *id, const char *body,
		       size_t len, struct json_object **doc, struct fc_net_patch *p,
		       char *err, size_t errlen);
/* 0 or -ENOMEM (cfg unchanged). */
int fc_commit_drive_patch(struct vm_config *cfg, const struct fc_drive_patch *p);
void fc_commit_net_patch(struct vm_config *cfg, const struct fc_net_patch *p);
/* The buckets u names, into c. */
void fc_rlim_cfg_apply(struct rlim_cfg *c, const struct rlim_update *u);

#endif
