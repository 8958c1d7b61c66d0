/* config_match.h - does a migration stream's VM fit the configuration this mvm was given?
 *
 * Contract: `mvm run --incoming URI` with the VM's flags (or --config-file)
 * builds its VM from its own configuration, not the stream's; before it
 * builds anything, vm_config_match() compares the two on what the guest sees
 * and the saved device state needs: RAM size, vCPU count, and per device kind
 * how many there are and each one's guest-visible properties (a drive's
 * read-only flag, a network interface's backend kind and its MAC when both
 * sides name one, the vsock guest CID, the console kind, the balloon's
 * features, rng, debug-exit and pc-testdev present or not). Host-side resources may
 * differ and are the destination's: image paths, tap names, the vsock socket
 * path, log and metrics files, rate limiters (host policy; PATCH changes
 * them on a running VM too), user networking's host forwards and limits. The
 * kernel, initrd and command line are not compared: the guest's kernel is in
 * its RAM.
 *
 * 0 when they fit; -EINVAL with the first difference in err, in the words
 * "the stream's VM has 2 vCPUs; this mvm was given 1 (--cpus)" or "drive
 * disk0: read-only in the stream, read-write here (--disk ...,ro)". The flag
 * named is the config file's key when here->config_file is set.
 */
#ifndef MVM_VMM_CONFIG_MATCH_H
#define MVM_VMM_CONFIG_MATCH_H

#include <stddef.h>

#include "core/vm_config.h"

int vm_config_match(const struct vm_config *stream, const struct vm_config *here, char *err,
		    size_t errlen);

#endif
