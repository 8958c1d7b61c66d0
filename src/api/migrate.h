/* migrate.h - the API and command-line side of live migration (vmm/migrate.h does the work).
 *
 * Contract: fc_parse_migrate() checks a PUT /mvm/migrate body ({"uri":
 * "tcp:HOST:PORT"|"unix:PATH", "max_downtime_ms": N, "bandwidth_mbps": N},
 * MB/s, 0 = unlimited; unknown fields refused); fc_parse_migrate_tune() a PATCH
 * /mvm/migrate body (any of max_downtime_ms, bandwidth_mbps, auto_converge;
 * at least one); api_migrate_start() starts
 * it with the VM's configuration as Firecracker JSON; api_migrate_status_json()
 * is GET /mvm/migrate's body; api_migrate_incoming() is `mvm run --incoming
 * URI`: without the VM's flags or a config file (cfg->vm_described false)
 * the VM is built from the stream's configuration, which fc_config_parse()
 * reads into cfg; with them, cfg is the destination's own and the stream's
 * must fit it (vmm/config_match.h: a difference is refused before anything
 * is built, exit status 2, and the source is told why). a: the API serving
 * meanwhile (api/api.h), or NULL.
 */
#ifndef MVM_API_MIGRATE_H
#define MVM_API_MIGRATE_H

#include <stddef.h>

#include "core/vm_config.h"
#include "vmm/migrate.h"

struct vm;

int fc_parse_migrate(const char *body, size_t len, struct vm_migrate_params *p, char *err,
		     size_t errlen);
int fc_parse_migrate_tune(const char *body, size_t len, struct vm_migrate_tune *t, char *err,
			  size_t errlen);
int api_migrate_start(struct vm *vm, const struct vm_config *cfg,
		      const struct vm_migrate_params *p, char *err, size_t errlen);
/* malloc'd JSON, or NULL (out of memory). */
char *api_migrate_status_json(struct vm *vm);
struct api_vmm;
int api_migrate_incoming(struct vm *vm, struct vm_config *cfg, const char *uri,
			 struct api_vmm *a, int *exit_status);
/* What api_migrate_incoming() does when the stream's configuration (json)
 * arrives: cfg becomes the configuration to build, or -EINVAL with err
 * (vmm/migrate.h's vm_migrate_parse_fn; ctx is the struct api_vmm or NULL). */
int api_migrate_take_config(void *ctx, const char *json, size_t len, struct vm_config *cfg,
			    char *err, size_t errlen);

#endif
