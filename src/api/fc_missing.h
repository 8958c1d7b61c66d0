/* fc_missing.h - Firecracker's API paths that mvm does not serve, and why (internal to src/api).
 *
 * Contract: fc_missing_feature() names the feature behind a path of Firecracker's API that
 * mvm has no route for ("MMDS", "virtio-pmem devices", ...), or returns NULL for a path that
 * is not Firecracker's either. routes.c asks it only after no route matched, so a route
 * added later wins over this list. Paths are untrusted bytes (not NUL-terminated).
 */
#ifndef MVM_API_FC_MISSING_H
#define MVM_API_FC_MISSING_H

#include <stddef.h>

const char *fc_missing_feature(const char *path, size_t len);

#endif
