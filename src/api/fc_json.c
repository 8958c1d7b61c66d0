/* fc_json.c - strict JSON parsing and typed, path-named field access. */
#include "api/fc_json.h"
#include "util/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <ctype.h>
#include <string.h>

#include <json-c/json.h>

/* Firecracker's rule for drive_id and iface_id: they become file names
 * and metric keys, so only [A-Za-z0-9_], at most 64 characters. */
#define FC_ID_MAX 64

/* Our schema nests four levels (drives[i].rate_limiter.bandwidth); a
 * little room past that, and no more, for hostile input. */
#define FC_JSON_MAX_DEPTH 8

int fc_json_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		/* Keys and values from the document are echoed: one line, and no
		 * terminal control sequences, whatever escapes they held. */
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	return -EINVAL;
}

const char *fc_json_name(char *buf, size_t len, const char *path, const char *key)
{
	snprintf(buf, len, "%s%s%s", path, *path ? "." : "", key);
	return buf;
}

const char *fc_json_type_name(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:    return "null";
	case json_type_boolean: return "boolean";
	case json_type_double:  return "number";
	case json_type_int:     return "integer";
	case json_type_object:  return "object";
	case json_type_array:   return "array";
	case json_type_string:  return "string";
	}
	return "unknown";
}

/* What json-c 0.16 accepts even in strict mode and RFC 8259 does not:
 * single-quoted strings, NaN/Infinity, raw control characters inside
 * strings. The offset of the first such byte, or len. */
static size_t lenient_spot(const char *text, size_t len)
{
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (in_str) {
			if (c < 0x20)
				return i;
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '\'' || (((c | 0x20) >= 'a' && (c | 0x20) <= 'z') &&
					  !strchr("truefalsnE", c))) {
			return i;
		}
	}
	return len;
}

int fc_json_parse_object(const char *text, size_t len, const char *what,
			 struct json_object **out, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *obj;
	enum json_tokener_error jerr;
	size_t end;

	*out = NULL;
	if (len > 0x7fffffff)
		return fc_json_err(err, errlen, "%s: too large", what);
	if (len && memchr(text, 0, len))
		return fc_json_err(err, errlen, "%s: contains a NUL byte", what);
	end = 0;
	while (end < len && strchr(" \t\r\n", text[end]))
		end++;
	if (end == len)
		return fc_json_err(err, errlen, "%s: empty (expected a JSON object)", what);
	if ((end = lenient_spot(text, len)) != len)
		return fc_json_err(err, errlen, "%s: not valid JSON at byte %zu: unexpected character",
				   what, end);
	tok = json_tokener_new_ex(FC_JSON_MAX_DEPTH);
	if (!tok)
		return err_host(-ENOMEM);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (!obj || jerr != json_tokener_success) {
		/* json_tokener_continue: the text ended inside a value. */
		int ret = fc_json_err(err, errlen, "%s: not valid JSON at byte %zu: %s", what, end,
				      jerr == json_tokener_continue ? "unexpected end of input"
								    : json_tokener_error_desc(jerr));
		json_object_put(obj);
		json_tokener_free(tok);
		return ret;
	}
	json_tokener_free(tok);
	while (end < len && strchr(" \t\r\n", text[end]))
		end++;
	if (end != len) {
		json_object_put(obj);
		return fc_json_err(err, errlen, "%s: not valid JSON at byte %zu: text after the value",
				   what, end);
	}
	if (!json_object_is_type(obj, json_type_object)) {
		int ret = fc_json_err(err, errlen, "%s: expected a JSON object, got %s", what,
				      fc_json_type_name(obj));
		json_object_put(obj);
		return ret;
	}
	*out = obj;
	return 0;
}

int fc_json_check_keys(struct json_object *obj, const char *path, const char *const known[],
		       char *err, size_t errlen)
{
	char name[160];

	json_object_object_foreach(obj, key, val) {
		size_t i;

		(void)val;
		for (i = 0; known[i] && strcmp(known[i], key); i++)
			;
		if (!known[i])
			return fc_json_err(err, errlen, "%s: unknown field",
					   fc_json_name(name, sizeof(name), path, key));
	}
	return 0;
}

/* The member, or NULL when absent or null; required ones say so. */
static int member(struct json_object *obj, const char *path, const char *key, bool required,
		  struct json_object **out, char *err, size_t errlen)
{
	struct json_object *v = NULL;
	char name[160];

	if (!json_object_object_get_ex(obj, key, &v) || !v) {
		if (required)
			return fc_json_err(err, errlen, "%s: required",
					   fc_json_name(name, sizeof(name), path, key));
		return 0;
	}
	*out = v;
	return 1;
}

static int wrong_type(struct json_object *v, const char *path, const char *key,
		      const char *expected, char *err, size_t errlen)
{
	char name[160];

	return fc_json_err(err, errlen, "%s: expected %s, got %s",
			   fc_json_name(name, sizeof(name), path, key), expected,
			   fc_json_type_name(v));
}

int fc_json_string(struct json_object *obj, const char *path, const char *key, bool required,
		   const char **out, char *err, size_t errlen)
{
	struct json_object *v;
	int ret = member(obj, path, key, required, &v, err, errlen);

	if (ret <= 0)
		return ret;
	if (!json_object_is_type(v, json_type_string))
		return wrong_type(v, path, key, "a string", err, errlen);
	*out = json_object_get_string(v);
	return 1;
}

int fc_json_bool(struct json_object *obj, const char *path, const char *key, bool required,
		 bool *out, char *err, size_t errlen)
{
	struct json_object *v;
	int ret = member(obj, path, key, required, &v, err, errlen);

	if (ret <= 0)
		return ret;
	if (!json_object_is_type(v, json_type_boolean))
		return wrong_type(v, path, key, "a boolean", err, errlen);
	*out = json_object_get_boolean(v);
	return 1;
}

int fc_json_int(struct json_object *obj, const char *path, const char *key, bool required,
		int64_t min, int64_t max, int64_t *out, char *err, size_t errlen)
{
	struct json_object *v;
	char name[160];
	int64_t n;
	int ret = member(obj, path, key, required, &v, err, errlen);

	if (ret <= 0)
		return ret;
	if (!json_object_is_type(v, json_type_int))
		return wrong_type(v, path, key, "an integer", err, errlen);
	/* json-c keeps values past INT64_MAX as uint64: get_int64 clamps them. */
	errno = 0;
	n = json_object_get_int64(v);
	if (n < min || n > max)
		return fc_json_err(err, errlen, "%s: %s is out of range (%lld to %lld)",
				   fc_json_name(name, sizeof(name), path, key),
				   json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
				   (long long)min, (long long)max);
	*out = n;
	return 1;
}

int fc_json_object(struct json_object *obj, const char *path, const char *key,
		   struct json_object **out, char *err, size_t errlen)
{
	struct json_object *v;
	int ret = member(obj, path, key, false, &v, err, errlen);

	if (ret <= 0)
		return ret;
	if (!json_object_is_type(v, json_type_object))
		return wrong_type(v, path, key, "an object", err, errlen);
	*out = v;
	return 1;
}

int fc_json_array(struct json_object *obj, const char *path, const char *key,
		  struct json_object **out, char *err, size_t errlen)
{
	struct json_object *v;
	int ret = member(obj, path, key, false, &v, err, errlen);

	if (ret <= 0)
		return ret;
	if (!json_object_is_type(v, json_type_array))
		return wrong_type(v, path, key, "an array", err, errlen);
	*out = v;
	return 1;
}

int fc_json_id(const char *id, const char *path, const char *key, char *err, size_t errlen)
{
	char name[FC_JSON_NAME_LEN];
	size_t n = strlen(id);

	fc_json_name(name, sizeof(name), path, key);
	if (n == 0 || n > FC_ID_MAX)
		return fc_json_err(err, errlen, "%s: must be 1 to %d characters", name, FC_ID_MAX);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '_')
			return fc_json_err(err, errlen,
					   "%s: '%s' may only hold letters, digits and '_'", name, id);
	return 0;
}

int fc_json_nonempty(const char *s, const char *path, const char *key, char *err, size_t errlen)
{
	char name[FC_JSON_NAME_LEN];

	if (!*s)
		return fc_json_err(err, errlen, "%s: must not be empty",
				   fc_json_name(name, sizeof(name), path, key));
	return 0;
}

/* One of the listed words; returns its index, or -EINVAL naming them. */
int fc_json_one_of(const char *s, const char *const words[], const char *path, const char *key,
		  char *err, size_t errlen)
{
	char name[FC_JSON_NAME_LEN], list[128] = "";
	int i;

	for (i = 0; words[i]; i++)
		if (!strcmp(s, words[i]))
			return i;
	for (i = 0; words[i]; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 i ? ", " : "", words[i]);
	return fc_json_err(err, errlen, "%s: '%s' is not one of %s",
			   fc_json_name(name, sizeof(name), path, key), s, list);
}

/* A TokenBucket: {"size", "one_time_burst", "refill_time"}; absent or null
 * leaves *out alone and returns 0, present fills it and returns 1. */
static int fc_json_bucket(struct json_object *rl, const char *path, const char *key,
			  struct tbucket_cfg *out, char *err, size_t errlen)
{
	static const char *const keys[] = { "size", "one_time_burst", "refill_time", NULL };
	struct json_object *b;
	char name[FC_JSON_NAME_LEN];
	int64_t size, burst = 0, refill;
	int ret = fc_json_object(rl, path, key, &b, err, errlen);

	if (ret <= 0)
		return ret;
	fc_json_name(name, sizeof(name), path, key);
	if ((ret = fc_json_check_keys(b, name, keys, err, errlen)) ||
	    (ret = fc_json_int(b, name, "size", true, 0, INT64_MAX, &size, err, errlen)) < 0 ||
	    (ret = fc_json_int(b, name, "one_time_burst", false, 0, INT64_MAX, &burst, err,
			       errlen)) < 0 ||
	    (ret = fc_json_int(b, name, "refill_time", true, 0, INT64_MAX, &refill, err,
			       errlen)) < 0)
		return ret;
	*out = (struct tbucket_cfg){ .size = (uint64_t)size, .one_time_burst = (uint64_t)burst,
				     .refill_time_ms = (uint64_t)refill };
	return 1;
}

/* A RateLimiter: {"bandwidth": TokenBucket, "ops": TokenBucket}, each
 * optional; absent or null is no limit. */
int fc_json_rate_limiter(struct json_object *o, const char *path, const char *key,
			 struct rlim_update *out, char *err, size_t errlen)
{
	static const char *const keys[] = { "bandwidth", "ops", NULL };
	struct json_object *rl;
	char name[FC_JSON_NAME_LEN];
	int ret = fc_json_object(o, path, key, &rl, err, errlen);

	memset(out, 0, sizeof(*out));
	if (ret <= 0)
		return ret;
	fc_json_name(name, sizeof(name), path, key);
	if ((ret = fc_json_check_keys(rl, name, keys, err, errlen)) ||
	    (ret = fc_json_bucket(rl, name, "bandwidth", &out->cfg.bandwidth, err, errlen)) < 0)
		return ret;
	out->has_bandwidth = ret;
	if ((ret = fc_json_bucket(rl, name, "ops", &out->cfg.ops, err, errlen)) < 0)
		return ret;
	out->has_ops = ret;
	return 0;
}

/* The id in the request path must be the one in the body (Firecracker). */
int fc_json_path_id(const char *want, const char *got, const char *path, const char *key,
			 char *err, size_t errlen)
{
	char name[FC_JSON_NAME_LEN];

	if (want && strcmp(want, got))
		return fc_json_err(err, errlen, "%s: '%s' does not match the id '%s' in the path",
				   fc_json_name(name, sizeof(name), path, key), got, want);
	return 0;
}
