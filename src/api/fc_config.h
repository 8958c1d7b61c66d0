/* fc_config.h - Firecracker's JSON configuration schema <-> struct vm_config.
 *
 * Contract:
 *  - One mapping for both front ends: `mvm run --config-file FILE` parses a
 *    whole document with fc_config_parse()/fc_config_load(); the API applies
 *    one resource per request with the fc_apply_*() functions. Both run the
 *    same checks, so a file and the equivalent API calls give the same VM.
 *  - Every function that can fail returns 0 or a negative errno (-EINVAL for
 *    a bad document, -ENOMEM, -errno of a failed read) and writes one line to
 *    err (never NULL-terminated past errlen) naming the field by its full
 *    path: "drives[1].path_on_hots: unknown field",
 *    "machine-config.vcpu_count: expected an integer, got string",
 *    "boot-source.kernel_image_path: required". The API puts that line in
 *    {"fault_message": "..."}; the apply functions name fields relative to
 *    the request body ("vcpu_count: ...").
 *  - On failure cfg is unchanged (each resource is checked whole before it
 *    is stored); fc_config_parse() may have applied earlier resources of the
 *    document: the caller releases cfg (vm_config_release()) and stops.
 *  - Strings are copied out of the JSON: cfg owns them (vm_config.h says how)
 *    and vm_config_release() frees them.
 *  - Before vm_create(), call fc_config_finalize() once the configuration is
 *    complete (fc_config_load() does it): it appends "root=/dev/vda ro|rw"
 *    (or root=PARTUUID=...) to the command line for a root drive unless the
 *    boot arguments already hold a root=.
 *  - Bodies are untrusted bytes: any length, any content, no NUL needed.
 */
#ifndef MVM_API_FC_CONFIG_H
#define MVM_API_FC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/vm_config.h"

/* Room for any message these functions write. */
#define FC_ERR_MAX 256
/* A config file or request body larger than this is refused. */
#define FC_CONFIG_MAX_BYTES (1u << 20)

/* Firecracker's default memory (machine_config.rs): what a config file without
 * machine-config, or an API with no flag describing the VM, starts from. */
#define FC_DEFAULT_MEM (128ULL << 20)

/* Defaults for a configuration built from JSON (1 vCPU, FC_DEFAULT_MEM, serial
 * console): what the file and the API start from. */
void fc_config_defaults(struct vm_config *cfg);

/* A whole Firecracker config document (text, len bytes) applied to cfg:
 * "boot-source" is required, everything else optional. Does not finalize. */
int fc_config_parse(const char *text, size_t len, struct vm_config *cfg,
		    char *err, size_t errlen);
/* Read FILE, fc_config_parse() it, fc_config_finalize(). Messages start
 * with the file name. */
int fc_config_load(const char *path, struct vm_config *cfg, char *err, size_t errlen);
/* Root drive -> command line (see the contract). Idempotent. */
int fc_config_finalize(struct vm_config *cfg, char *err, size_t errlen);

/* One API resource each: body is the request body (JSON object text).
 * PUT semantics as Firecracker's: the resource is replaced whole (fields
 * left out take their defaults). */
int fc_apply_machine_config(struct vm_config *cfg, const char *body, size_t len,
			    char *err, size_t errlen);
/* PATCH /machine-config: only the fields present change. */
int fc_patch_machine_config(struct vm_config *cfg, const char *body, size_t len,
			    char *err, size_t errlen);
int fc_apply_boot_source(struct vm_config *cfg, const char *body, size_t len,
			 char *err, size_t errlen);
/* PUT /drives/{id}: id (from the path) must equal the body's drive_id; an
 * existing drive with that id is replaced, otherwise one is added. At most
 * one root device; the root device is always disks[0] (/dev/vda). */
int fc_apply_drive(struct vm_config *cfg, const char *id, const char *body, size_t len,
		   char *err, size_t errlen);
/* PUT /network-interfaces/{id}: same id rule and replace semantics. */
int fc_apply_network_interface(struct vm_config *cfg, const char *id, const char *body,
			       size_t len, char *err, size_t errlen);
int fc_apply_entropy(struct vm_config *cfg, const char *body, size_t len,
		     char *err, size_t errlen);
int fc_apply_logger(struct vm_config *cfg, const char *body, size_t len,
		    char *err, size_t errlen);
int fc_apply_metrics(struct vm_config *cfg, const char *body, size_t len,
		     char *err, size_t errlen);
/* PUT /vsock (fc_vsock.c): one vsock device; a second PUT replaces it. */
int fc_apply_vsock(struct vm_config *cfg, const char *body, size_t len, char *err, size_t errlen);

/* The API's PUT /boot-source, /drives/{id} and /metrics: the fc_apply_*() above plus what
 * Firecracker checks when the request arrives (a config file meets these when the VM is
 * built): the kernel and initrd open for reading, a drive's file for reading and writing
 * (reading only when is_read_only), each a regular file (or a block device for a drive);
 * the metrics file opens for writing (created if missing, as Firecracker and --metrics do)
 * and is set once (also refused when --metrics gave it). */
int fc_put_boot_source(struct vm_config *cfg, const char *body, size_t len,
		       char *err, size_t errlen);
int fc_put_drive(struct vm_config *cfg, const char *id, const char *body, size_t len,
		 char *err, size_t errlen);
int fc_put_metrics(struct vm_config *cfg, const char *body, size_t len,
		   char *err, size_t errlen);

/* GET /vm/config: the full configuration in Firecracker's shape (plus
 * mvm's extensions where they are not defaults). malloc'd, NULL on ENOMEM.
 * fc_config_parse() of the result gives back the same vm_config. */
char *fc_config_to_json(const struct vm_config *cfg);
/* GET /machine-config. malloc'd, NULL on ENOMEM. */
char *fc_machine_config_to_json(const struct vm_config *cfg);

#endif
