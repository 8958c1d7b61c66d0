/* fc_json.h - checked field access on json-c objects for the Firecracker
 * mapping (internal to src/api).
 *
 * Contract: every function names the offending field by its full path
 * ("drives[1].is_read_only") in err and returns -EINVAL on bad input. The
 * getters return 1 when the field is present, 0 when it is absent or JSON
 * null and optional (serde's Option semantics, as Firecracker's), negative
 * errno on error; they never change *out unless they return 1. Strings
 * returned are borrowed from the json object: copy before freeing it.
 */
#ifndef MVM_API_FC_JSON_H
#define MVM_API_FC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/tbucket.h"

struct json_object;

/* Parse text (len bytes, strict JSON, UTF-8, no NUL, whole input) into an
 * object. what names the input for messages ("config file", "body"). */
int fc_json_parse_object(const char *text, size_t len, const char *what,
			 struct json_object **out, char *err, size_t errlen);

/* Refuse any key of obj not in known (NULL-terminated). */
int fc_json_check_keys(struct json_object *obj, const char *path, const char *const known[],
		       char *err, size_t errlen);

int fc_json_string(struct json_object *obj, const char *path, const char *key, bool required,
		   const char **out, char *err, size_t errlen);
int fc_json_bool(struct json_object *obj, const char *path, const char *key, bool required,
		 bool *out, char *err, size_t errlen);
int fc_json_int(struct json_object *obj, const char *path, const char *key, bool required,
		int64_t min, int64_t max, int64_t *out, char *err, size_t errlen);
/* An object or array member (type checked), borrowed. */
int fc_json_object(struct json_object *obj, const char *path, const char *key,
		   struct json_object **out, char *err, size_t errlen);
int fc_json_array(struct json_object *obj, const char *path, const char *key,
		  struct json_object **out, char *err, size_t errlen);

/* Firecracker's id rule (drive_id, iface_id): [A-Za-z0-9_]{1,64}. */
int fc_json_id(const char *id, const char *path, const char *key, char *err, size_t errlen);
/* The id in an API path must be the one in the body; want NULL: no path. */
int fc_json_path_id(const char *want, const char *got, const char *path, const char *key,
		    char *err, size_t errlen);
int fc_json_nonempty(const char *s, const char *path, const char *key, char *err, size_t errlen);
/* The index of s in words (NULL-terminated), or -EINVAL naming them all. */
int fc_json_one_of(const char *s, const char *const words[], const char *path, const char *key,
		   char *err, size_t errlen);
/* A rate limiter (Firecracker's RateLimiter) into *out: has_bandwidth and
 * has_ops say which buckets were given (absent, null: not given; cfg's
 * bucket is then zero, i.e. off). Always fills *out; 0 or -EINVAL. */
int fc_json_rate_limiter(struct json_object *o, const char *path, const char *key,
			 struct rlim_update *out, char *err, size_t errlen);

/* Room for a field's full name. */
#define FC_JSON_NAME_LEN 160

/* "path.key" (or "key" for an empty path) into buf. */
const char *fc_json_name(char *buf, size_t len, const char *path, const char *key);
/* "expected an integer, got string" style type name. */
const char *fc_json_type_name(struct json_object *v);
/* printf into err; always returns -EINVAL (for `return fc_json_err(...)`). */
int fc_json_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
