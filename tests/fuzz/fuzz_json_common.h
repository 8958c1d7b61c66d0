/* fuzz_json_common.h - checks fuzz_config and fuzz_api share: the error
 * line contract of api/fc_config.h and the GET /vm/config round trip. */
#ifndef MVM_TESTS_FUZZ_JSON_COMMON_H
#define MVM_TESTS_FUZZ_JSON_COMMON_H

#include <errno.h>
#include <string.h>

#include "api/fc_config.h"
#include "core/vm_config.h"
#include "fuzz_common.h"

#define FZ_ERRLEN 256

/* A refusal: a negative errno and one line of message, NUL-terminated
 * inside the buffer (the canary after it untouched). */
static inline void fz_check_err(int r, const char *err, size_t errlen)
{
	FZ_CHECK(r < 0 && r != -ENOMEM);
	FZ_CHECK(err[0] != 0);
	FZ_CHECK(memchr(err, 0, errlen) != NULL);
	FZ_CHECK(strchr(err, '\n') == NULL);
}

/* "fc_config_parse() of the result gives back the same vm_config": the
 * configuration as JSON, parsed again into a fresh one, emits the same
 * JSON. (GET /vm/config and a snapshot's configuration rely on it.) */
static inline void fz_check_roundtrip(const struct vm_config *cfg)
{
	struct vm_config again;
	char err[FZ_ERRLEN];
	char *j1 = fc_config_to_json(cfg), *j2;
	int r;

	FZ_CHECK(j1 != NULL);
	fc_config_defaults(&again);
	err[0] = 0;
	r = fc_config_parse(j1, strlen(j1), &again, err, sizeof(err));
	if (r) {
		fprintf(stderr, "emitted configuration refused: %s\n%s\n", err, j1);
		FZ_CHECK(r == 0);
	}
	j2 = fc_config_to_json(&again);
	FZ_CHECK(j2 != NULL);
	if (strcmp(j1, j2)) {
		fprintf(stderr, "round trip differs:\n%s\n%s\n", j1, j2);
		FZ_CHECK(!"GET /vm/config round trip");
	}
	free(j1);
	free(j2);
	vm_config_release(&again);
}

#endif
