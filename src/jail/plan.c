/* plan.c - which host file goes where in the jail; mvm run's words and config file rewritten. */
#include "jail/jail.h"
#include "util/err.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A refusal of the user's words or config file: -EINVAL, the user's (util/err.h). */
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return err_usage(-EINVAL);
}

/* No memory: -ENOMEM, the host's. */
static int oom(char *err, size_t errlen)
{
	snprintf(err, errlen, "out of memory");
	return err_host(-ENOMEM);
}

void jail_plan_init(struct jail_plan *plan, const char *const *reserved)
{
	int n = 0;

	memset(plan, 0, sizeof(*plan));
	plan->config = -1;
	while (reserved && reserved[n] && n < JAIL_MAX_RESERVED) {
		plan->reserved[n] = reserved[n];
		n++;
	}
}

void jail_plan_free(struct jail_plan *plan)
{
	for (int i = 0; i < plan->nr_files; i++)
		free(plan->files[i].host);
	for (int i = 0; plan->argv && i < plan->argc; i++)
		free(plan->argv[i]);
	free(plan->argv);
	plan->argv = NULL;
	plan->argc = plan->nr_files = 0;
}

static bool name_taken(const struct jail_plan *plan, const char *name)
{
	for (int i = 0; plan->reserved[i]; i++) {
		if (!strcmp(plan->reserved[i], name))
			return true;
	}
	for (int i = 0; i < plan->nr_files; i++) {
		if (!strcmp(plan->files[i].name, name))
			return true;
	}
	return false;
}

/* The jail name of host path `host` of this kind: the file's own name, or "N-name" when another
 * file (or the jail itself) has it. The same path twice is one file; a path both read and
 * written is written. Returns its index or -EINVAL. */
static int plan_add(struct jail_plan *plan, const char *host, enum jail_file_kind kind,
		    const char *flag, char *err, size_t errlen)
{
	const char *slash = strrchr(host, '/');
	const char *base = slash ? slash + 1 : host;
	struct jail_file *f;

	if (!*host)
		return fail(err, errlen, "%s: empty path", flag);
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return fail(err, errlen, "%s '%s': expected a file, not a directory", flag, host);
	if (strlen(base) > NAME_MAX - 4)
		return fail(err, errlen, "%s '%s': the file name is too long", flag, host);
	for (int i = 0; i < plan->nr_files; i++) {
		f = &plan->files[i];
		if (strcmp(f->host, host))
			continue;
		if (f->kind == kind || (f->kind == JAIL_FILE_RW && kind == JAIL_FILE_IN))
			return i;
		if (f->kind == JAIL_FILE_IN && kind == JAIL_FILE_RW) {
			f->kind = JAIL_FILE_RW;
			return i;
		}
		return fail(err, errlen, "%s '%s': the same path is used for two different things",
			    flag, host);
	}
	if (plan->nr_files == JAIL_MAX_FILES)
		return fail(err, errlen, "%s '%s': at most %d files can be jailed", flag, host,
			    JAIL_MAX_FILES);
	f = &plan->files[plan->nr_files];
	snprintf(f->name, sizeof(f->name), "%s", base);
	for (int n = 1; name_taken(plan, f->name); n++)
		snprintf(f->name, sizeof(f->name), "%d-%s", n, base);
	snprintf(f->what, sizeof(f->what), "%s", flag);
	f->host = strdup(host);
	if (!f->host)
		return oom(err, errlen);
	f->kind = kind;
	return plan->nr_files++;
}

/* The flags of mvm run (src/cli/cli.c): which take a value, and what the value is. */
enum run_arg { ARG_NONE, ARG_PLAIN, ARG_IN, ARG_OUT, ARG_SOCK, ARG_CONFIG, ARG_DISK, ARG_NET,
	       ARG_REFUSED };

static const struct run_flag {
	const char *name;
	enum run_arg arg;
} run_flags[] = {
	{ "kernel", ARG_IN }, { "initrd", ARG_IN }, { "cmdline", ARG_PLAIN },
	{ "cpus", ARG_PLAIN }, { "mem", ARG_PLAIN }, { "disk", ARG_DISK }, { "net", ARG_NET },
	{ "rng", ARG_NONE }, { "console", ARG_PLAIN }, { "debug", ARG_NONE },
	{ "stats", ARG_NONE }, { "trace-exits", ARG_NONE }, { "debug-exit", ARG_NONE },
	{ "pc-testdev", ARG_NONE }, { "cpu-hyperv", ARG_NONE },
	{ "dumpable", ARG_NONE }, { "seccomp", ARG_PLAIN }, { "metrics", ARG_OUT },
	{ "api-sock", ARG_SOCK }, { "config-file", ARG_CONFIG }, { "restore", ARG_REFUSED },
	{ "override-drive", ARG_REFUSED }, { "override-net", ARG_REFUSED }, { "incoming", ARG_REFUSED },
	{ "vsock", ARG_REFUSED },
};

/* ",ro", ",rw", ",id=..." after a disk's path: the last of ro and rw wins, as in mvm run. */
static bool disk_read_only(const char *opts)
{
	bool ro = false;

	while (opts && *opts == ',') {
		const char *next = strchr(opts + 1, ',');
		size_t len = next ? (size_t)(next - opts - 1) : strlen(opts + 1);

		if (len == 2 && !strncmp(opts + 1, "ro", 2))
			ro = true;
		else if (len == 2 && !strncmp(opts + 1, "rw", 2))
			ro = false;
		opts = next;
	}
	return ro;
}

static char *jail_path(const struct jail_plan *plan, int idx, const char *rest)
{
	char *s;

	if (asprintf(&s, "/%s%s", plan->files[idx].name, rest ? rest : "") < 0)
		return NULL;
	return s;
}

/* The jail form of one flag's value into *out: 0, or -EINVAL (refused) or -ENOMEM with err. */
static int rewrite_value(struct jail_plan *plan, const struct run_flag *f, const char *val,
			 char **out, char *err, size_t errlen)
{
	static const enum jail_file_kind kinds[] = {
		[ARG_IN] = JAIL_FILE_IN, [ARG_OUT] = JAIL_FILE_OUT, [ARG_SOCK] = JAIL_FILE_SOCK,
		[ARG_CONFIG] = JAIL_FILE_CONFIG,
	};
	char flag[32], *path;
	const char *comma;
	int idx;

	snprintf(flag, sizeof(flag), "--%s", f->name);
	switch (f->arg) {
	case ARG_NET:
		if (!strncmp(val, "tap=", 4))
			plan->needs_tun = true;
		/* fall through */
	case ARG_PLAIN:
		*out = strdup(val);
		break;
	case ARG_DISK:
		comma = strchr(val, ',');
		path = strndup(val, comma ? (size_t)(comma - val) : strlen(val));
		if (!path)
			return oom(err, errlen);
		idx = plan_add(plan, path, disk_read_only(comma) ? JAIL_FILE_IN : JAIL_FILE_RW,
			       flag, err, errlen);
		free(path);
		if (idx < 0)
			return idx;
		*out = jail_path(plan, idx, comma);
		break;
	case ARG_CONFIG:
		if (plan->config >= 0)
			return fail(err, errlen, "--config-file given twice");
		/* fall through */
	case ARG_IN:
	case ARG_OUT:
	case ARG_SOCK:
		idx = plan_add(plan, val, kinds[f->arg], flag, err, errlen);
		if (idx < 0)
			return idx;
		if (f->arg == ARG_CONFIG)
			plan->config = idx;
		*out = jail_path(plan, idx, NULL);
		break;
	default:
		return fail(err, errlen, "--%s cannot be jailed yet (mvm jail links only the files "
			    "of --kernel, --initrd, --disk, --config-file, --metrics and --api-sock)",
			    f->name);
	}
	return *out ? 0 : oom(err, errlen);
}

int jail_plan_run(struct jail_plan *plan, int argc, char **argv, char *err, size_t errlen)
{
	int n = 0;

	plan->argv = calloc((size_t)argc + 3, sizeof(char *));
	if (!plan->argv)
		return oom(err, errlen);
	plan->argv[n++] = strdup("mvm");
	plan->argv[n++] = strdup("run");
	plan->argc = n;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *eq, *val = NULL;
		const struct run_flag *f = NULL;
		size_t len;
		char *nv = NULL, *word;
		int ret;

		if (strncmp(arg, "--", 2) || !arg[2])
			return fail(err, errlen, "mvm run argument '%s': mvm jail expects only --flags "
				    "(see mvm run --help)", arg);
		eq = strchr(arg, '=');
		len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		for (size_t k = 0; k < sizeof(run_flags) / sizeof(run_flags[0]); k++) {
			if (strlen(run_flags[k].name) == len && !strncmp(run_flags[k].name, arg + 2, len))
				f = &run_flags[k];
		}
		if (!f)
			return fail(err, errlen, "mvm run argument '%s': not an mvm run flag mvm jail "
				    "knows (write flags in full)", arg);
		if (f->arg == ARG_NONE) {
			if (eq)
				return fail(err, errlen, "mvm run argument '%s': --%s takes no value",
					    arg, f->name);
			plan->argv[plan->argc++] = strdup(arg);
			continue;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return fail(err, errlen, "mvm run argument --%s needs a value", f->name);
		if ((ret = rewrite_value(plan, f, val, &nv, err, errlen)))
			return ret;
		if (eq) {
			if (asprintf(&word, "--%s=%s", f->name, nv) < 0)
				word = NULL;
			free(nv);
			plan->argv[plan->argc++] = word;
		} else {
			plan->argv[plan->argc++] = strdup(arg);
			plan->argv[plan->argc++] = nv;
		}
	}
	for (int i = 0; i < plan->argc; i++) {
		if (!plan->argv[i])
			return oom(err, errlen);
	}
	return 0;
}

/* obj[key], a path string of the config file, joins the plan and is replaced by its jail path. */
static int config_path(struct jail_plan *plan, struct json_object *obj, const char *key,
		       enum jail_file_kind kind, const char *where, char *err, size_t errlen)
{
	struct json_object *v;
	char flag[128], *jp;
	int idx;

	if (!obj || !json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	snprintf(flag, sizeof(flag), "--config-file %s.%s", where, key);
	if (!json_object_is_type(v, json_type_string))
		return fail(err, errlen, "%s: expected a string", flag);
	idx = plan_add(plan, json_object_get_string(v), kind, flag, err, errlen);
	if (idx < 0)
		return idx;
	jp = jail_path(plan, idx, NULL);
	if (!jp)
		return oom(err, errlen);
	json_object_object_add(obj, key, json_object_new_string(jp));
	free(jp);
	return 0;
}

static bool json_true(struct json_object *obj, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(obj, key, &v) && json_object_get_boolean(v);
}

int jail_plan_config(struct jail_plan *plan, const char *json, char **out, char *err,
		     size_t errlen)
{
	struct json_object *doc, *o, *arr;
	enum json_tokener_error jerr;
	const char *text;
	int ret = 0;

	*out = NULL;
	doc = json_tokener_parse_verbose(json, &jerr);
	if (!doc || !json_object_is_type(doc, json_type_object)) {
		json_object_put(doc);
		return fail(err, errlen, "--config-file: not a JSON object (%s)",
			    doc ? "another type" : json_tokener_error_desc(jerr));
	}
	if (json_object_object_get_ex(doc, "boot-source", &o) &&
	    ((ret = config_path(plan, o, "kernel_image_path", JAIL_FILE_IN, "boot-source", err,
				errlen)) ||
	     (ret = config_path(plan, o, "initrd_path", JAIL_FILE_IN, "boot-source", err, errlen))))
		goto out;
	if (json_object_object_get_ex(doc, "drives", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			char where[32];

			o = json_object_array_get_idx(arr, i);
			snprintf(where, sizeof(where), "drives[%zu]", i);
			ret = config_path(plan, o, "path_on_host",
					  o && json_true(o, "is_read_only") ? JAIL_FILE_IN : JAIL_FILE_RW,
					  where, err, errlen);
			if (ret)
				goto out;
		}
	}
	if (json_object_object_get_ex(doc, "network-interfaces", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			o = json_object_array_get_idx(arr, i);
			if (o && json_object_is_type(o, json_type_object) &&
			    json_object_object_get_ex(o, "host_dev_name", NULL))
				plan->needs_tun = true;
		}
	}
	if ((json_object_object_get_ex(doc, "logger", &o) &&
	     (ret = config_path(plan, o, "log_path", JAIL_FILE_OUT, "logger", err, errlen))) ||
	    (json_object_object_get_ex(doc, "metrics", &o) &&
	     (ret = config_path(plan, o, "metrics_path", JAIL_FILE_OUT, "metrics", err, errlen))) ||
	    (json_object_object_get_ex(doc, "vsock", &o) &&
	     (ret = config_path(plan, o, "uds_path", JAIL_FILE_SOCK, "vsock", err, errlen))))
		goto out;
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
						   JSON_C_TO_STRING_NOSLASHESCAPE);
	*out = text ? strdup(text) : NULL;
	if (!*out)
		ret = oom(err, errlen);
out:
	json_object_put(doc);
	return ret;
}

bool jail_mode_allows(mode_t mode, uid_t owner, gid_t group, uid_t uid, gid_t gid, bool write)
{
	mode_t need = write ? 06 : 04;

	/* The kernel takes the first class that matches, even when a later one grants more. */
	if (uid == owner)
		return ((mode >> 6) & need) == need;
	if (gid == group)
		return ((mode >> 3) & need) == need;
	return (mode & need) == need;
}
