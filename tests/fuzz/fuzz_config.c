/* fuzz_config.c - libFuzzer target for the Firecracker JSON config file
 * (fc_config_parse and fc_config_finalize in src/api/fc_config.c).
 *
 * The bytes are the document, any length, no NUL needed (an exact-size
 * heap copy, so a read past it is caught). Checked, from fc_config.h:
 * a refusal is a negative errno with one line naming the problem; an
 * accepted document's configuration emits JSON that parses back to the
 * same configuration (before and after finalize), and finalize is
 * idempotent.
 *
 * Run: build/fuzz/fuzz_config -dict=tests/fuzz/config.dict tests/fuzz/corpus/config
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_json_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config cfg;
	char err[FZ_ERRLEN];
	char *text = malloc(size ? size : 1), *j1, *j2;
	int r;

	if (!text)
		return 0;
	fz_logs_off();
	if (size)
		memcpy(text, data, size);
	fc_config_defaults(&cfg);
	err[0] = 0;
	r = fc_config_parse(text, size, &cfg, err, sizeof(err));
	if (r) {
		fz_check_err(r, err, sizeof(err));
	} else {
		fz_check_roundtrip(&cfg);
		r = fc_config_finalize(&cfg, err, sizeof(err));
		if (r) {
			fz_check_err(r, err, sizeof(err));
		} else {
			j1 = fc_config_to_json(&cfg);
			FZ_CHECK(fc_config_finalize(&cfg, err, sizeof(err)) == 0);
			j2 = fc_config_to_json(&cfg);
			FZ_CHECK(j1 && j2 && strcmp(j1, j2) == 0);
			free(j1);
			free(j2);
			fz_check_roundtrip(&cfg);
		}
	}
	vm_config_release(&cfg);
	free(text);
	return 0;
}
