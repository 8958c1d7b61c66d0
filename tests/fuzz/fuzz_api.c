/* fuzz_api.c - libFuzzer target for the API request bodies: the fc_apply_*
 * functions behind PUT/PATCH /machine-config, /boot-source, /drives/{id},
 * /network-interfaces/{id}, /entropy, /logger, /metrics
 * (src/api/fc_config.c), and fc_parse_snapshot_create/load behind
 * PUT /snapshot/create and /snapshot/load (src/api/snapshot.c).
 *
 * Input: up to 8 requests applied in turn to one configuration, each
 * [op: 1 byte][id length: 1 byte][id][body length: le16][body]; the id is
 * the {id} of the path (drives, network interfaces). Bodies are exact-size
 * heap copies (no NUL), so reading past one is caught. Checked, from
 * fc_config.h and snapshot.h:
 *  - a refusal is a negative errno with one line naming the field, and
 *    leaves the configuration as it was (compared as GET /vm/config JSON);
 *  - after an accepted request the configuration's JSON parses back to the
 *    same configuration;
 *  - an accepted snapshot request has its required paths non-empty and its
 *    network overrides well-formed interface names.
 *
 * Run: build/fuzz/fuzz_api -dict=tests/fuzz/config.dict tests/fuzz/corpus/api
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/snapshot.h"
#include "fuzz_json_common.h"

enum { OP_MACHINE, OP_MACHINE_PATCH, OP_BOOT, OP_DRIVE, OP_NET, OP_ENTROPY, OP_LOGGER,
       OP_METRICS, OP_SNAP_CREATE, OP_SNAP_LOAD, OP_COUNT };

static void snapshot_request(int op, const char *body, size_t len)
{
	struct json_object *doc = NULL;
	char err[FZ_ERRLEN];
	int r;

	err[0] = 0;
	if (op == OP_SNAP_CREATE) {
		struct api_snapshot_create c;

		r = fc_parse_snapshot_create(body, len, &doc, &c, err, sizeof(err));
		if (!r)
			FZ_CHECK(doc && c.snapshot_path && *c.snapshot_path && c.mem_file_path &&
				 *c.mem_file_path);
	} else {
		struct api_snapshot_load l;

		r = fc_parse_snapshot_load(body, len, &doc, &l, err, sizeof(err));
		if (!r) {
			FZ_CHECK(doc && l.snapshot_path && *l.snapshot_path && l.mem_path && *l.mem_path);
			FZ_CHECK(l.nr_overrides >= 0 && l.nr_overrides <= VM_MAX_NETS);
			for (int i = 0; i < l.nr_overrides; i++) {
				const char *n = l.overrides[i].value;

				FZ_CHECK(l.overrides[i].id && *l.overrides[i].id);
				FZ_CHECK(n && *n && strlen(n) < API_SNAP_IFNAME_MAX && !strpbrk(n, ",=/ "));
			}
		}
	}
	if (r) {
		fz_check_err(r, err, sizeof(err));
		FZ_CHECK(doc == NULL);
	}
	json_object_put(doc);
}

static int apply(struct vm_config *cfg, int op, const char *id, const char *body, size_t len,
		 char *err, size_t errlen)
{
	switch (op) {
	case OP_MACHINE: return fc_apply_machine_config(cfg, body, len, err, errlen);
	case OP_MACHINE_PATCH: return fc_patch_machine_config(cfg, body, len, err, errlen);
	case OP_BOOT: return fc_apply_boot_source(cfg, body, len, err, errlen);
	case OP_DRIVE: return fc_apply_drive(cfg, id, body, len, err, errlen);
	case OP_NET: return fc_apply_network_interface(cfg, id, body, len, err, errlen);
	case OP_ENTROPY: return fc_apply_entropy(cfg, body, len, err, errlen);
	case OP_LOGGER: return fc_apply_logger(cfg, body, len, err, errlen);
	default: return fc_apply_metrics(cfg, body, len, err, errlen);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size, 0 };
	struct vm_config cfg;

	fz_logs_off();
	fc_config_defaults(&cfg);
	for (int n = 0; n < 8 && in.off < in.len; n++) {
		int op = fz_u8(&in) % OP_COUNT;
		char id[256], err[FZ_ERRLEN];
		size_t idlen = fz_u8(&in), len;
		char *body, *before, *after;
		int r;

		fz_bytes(&in, id, idlen);
		id[idlen < sizeof(id) ? idlen : sizeof(id) - 1] = 0;
		len = fz_u16(&in);
		if (len > in.len - in.off)
			len = in.len - in.off;
		body = malloc(len ? len : 1);
		FZ_CHECK(body != NULL);
		fz_bytes(&in, body, len);

		if (op == OP_SNAP_CREATE || op == OP_SNAP_LOAD) {
			snapshot_request(op, body, len);
			free(body);
			continue;
		}
		before = fc_config_to_json(&cfg);
		FZ_CHECK(before != NULL);
		err[0] = 0;
		r = apply(&cfg, op, id, body, len, err, sizeof(err));
		after = fc_config_to_json(&cfg);
		FZ_CHECK(after != NULL);
		if (r) {
			fz_check_err(r, err, sizeof(err));
			if (strcmp(before, after)) {
				fprintf(stderr, "refused (%s) but changed:\n%s\n%s\n", err, before, after);
				FZ_CHECK(!"a refused request changed the configuration");
			}
		} else if (cfg.kernel_path) {
			/* GET /vm/config's JSON is a config file only with a boot source. */
			fz_check_roundtrip(&cfg);
		}
		free(before);
		free(after);
		free(body);
	}
	vm_config_release(&cfg);
	return 0;
}
