/* fc_resources.h - one Firecracker resource (an already parsed JSON object)
 * checked and stored into a vm_config (internal to src/api).
 *
 * Contract: path is where the object sits, for messages ("" for an API
 * body, "drives[1]" in a config file). Each function checks the whole
 * object before changing cfg, so on any error cfg is unchanged. 0, -EINVAL
 * (err set) or -ENOMEM.
 */
#ifndef MVM_API_FC_RESOURCES_H
#define MVM_API_FC_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/vm_config.h"

struct json_object;

/* partial: PATCH semantics (nothing required, absent fields unchanged). */
int fc_res_machine(struct vm_config *cfg, struct json_object *o, const char *path, bool partial,
		   char *err, size_t errlen);
int fc_res_boot(struct vm_config *cfg, struct json_object *o, const char *path,
		char *err, size_t errlen);
/* want_id: the id the body must carry (API path), NULL in a file. replace:
 * an existing drive/interface with the same id is replaced (API PUT);
 * otherwise a repeated id is an error (a file lists each once). */
int fc_res_drive(struct vm_config *cfg, struct json_object *o, const char *path,
		 const char *want_id, bool replace, char *err, size_t errlen);
int fc_res_net(struct vm_config *cfg, struct json_object *o, const char *path,
	       const char *want_id, bool replace, char *err, size_t errlen);
int fc_res_entropy(struct vm_config *cfg, struct json_object *o, const char *path,
		   char *err, size_t errlen);
int fc_res_logger(struct vm_config *cfg, struct json_object *o, const char *path,
		  char *err, size_t errlen);
int fc_res_metrics(struct vm_config *cfg, struct json_object *o, const char *path,
		   char *err, size_t errlen);
/* fc_vsock.c: guest_cid (3..2^32-2), uds_path (fits a Unix socket address
 * with "_<port>" added), vsock_id (optional, kept, unused). */
int fc_res_vsock(struct vm_config *cfg, struct json_object *o, const char *path,
		 char *err, size_t errlen);

/* metrics.properties: at most this many bytes as JSON text (each line carries them). */
#define FC_METRICS_PROPS_MAX 4096

/* A drive's cache_type and io_engine names, indexed by vm_disk_cfg.fc_cache and
 * .fc_engine (NULL-terminated; index 0 is Firecracker's default). */
extern const char *const fc_cache_types[];
extern const char *const fc_io_engines[];

/* Log level names as Firecracker spells them (case-insensitive on input). */
const char *fc_log_level_name(int level);

#endif
