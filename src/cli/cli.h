/* cli.h - command-line flags -> struct vm_config.
 *
 * Contract: cli_parse_run() accepts exactly the documented `mvm run` flags;
 * on a bad flag or value it prints one message naming the flag and returns
 * -EINVAL (mvm exits MVM_EXIT_USAGE). It returns 1 after printing help.
 * --config-file FILE fills cfg from Firecracker-style JSON (api/fc_config.h)
 * and refuses the flags that describe the VM (--kernel, --disk, ...).
 */
#ifndef MVM_CLI_CLI_H
#define MVM_CLI_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "core/vm_config.h"

/* "256M", "4G", "1048576K", plain numbers are MiB (as QEMU's -m). */
int cli_parse_size(const char *s, uint64_t *out);
/* A decimal integer in [min, max]. */
int cli_parse_int(const char *s, long min, long max, long *out);

/* FILE[,ro|,rw][,id=NAME] -> *d (path and id are heap copies). */
int cli_parse_disk(const char *arg, struct vm_disk_cfg *d);

/* cid=N,uds=PATH -> cfg->vsock_cid, cfg->vsock_uds (a heap copy). */
int cli_parse_vsock(const char *arg, struct vm_config *cfg);

int cli_parse_run(int argc, char **argv, struct vm_config *cfg);
/* Free what cli_parse_run() allocated (vm_config_release()). */
void cli_free_run(struct vm_config *cfg);
void cli_usage(FILE *out);

#endif
