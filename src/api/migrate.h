/* migrate.h - the API and command-line side of live migration (vmm/migrate.h does the work).
 *
 * Contract: fc_parse_migrate() checks a PUT /mvm/migrate body ({"uri":
 * "tcp:HOST:PORT"|"unix:PATH", "max_downtime_ms": N, "bandwidth_mbps": N},
 * MB/s, 0 = unlimited; unknown fields refused); fc_parse_migrate_tune() a PATCH
 * /mvm/migrate body (any of max_downtime_ms, bandwidth_mbps, auto_converge;
 * at least one); api_migrate_start() starts
 * it with the VM's configuration as Firecracker JSON; api_migrate_status_json()
 * is GET /mvm/migrate's body; api_migrate_incoming() is `mvm run --incoming
 * URI`: the VM built from the stream, whose configuration fc_config_parse()
 * reads into cfg (which must hold no VM resources).
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
int api_migrate_incoming(struct vm *vm, struct vm_config *cfg, const char *uri, int *exit_status);

#endif
