/* balloon.h - the balloon routes on a running VM (PATCH /balloon, GET and
 * PATCH /balloon/statistics) and GET /balloon before and after boot.
 *
 * Contract: each returns the HTTP status to answer (200 with *json set,
 * malloc'd; 204; 400 with a message in err; 500 on ENOMEM) and runs on the
 * API thread. A PATCH of the target also updates a->cfg (GET /vm/config
 * and snapshots show the new target). Answers as Firecracker's: a VM
 * without a balloon, statistics asked of a balloon without them, or
 * statistics turned on or off after boot are 400s.
 */
#ifndef MVM_API_BALLOON_H
#define MVM_API_BALLOON_H

#include <stddef.h>

struct api_vmm;

int api_balloon_get(struct api_vmm *a, char **json, char *err, size_t errlen);
int api_balloon_patch(struct api_vmm *a, const char *body, size_t len, char *err,
		      size_t errlen);
int api_balloon_stats_get(struct api_vmm *a, char **json, char *err, size_t errlen);
int api_balloon_stats_patch(struct api_vmm *a, const char *body, size_t len, char *err,
			    size_t errlen);

#endif
