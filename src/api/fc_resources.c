/* fc_resources.c - Firecracker's machine-config, boot-source, entropy, logger
 * and metrics resources checked into a vm_config. */
#include "api/fc_resources.h"
#include "api/fc_json.h"
#include "core/layout.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#define NAME_LEN FC_JSON_NAME_LEN

/* strdup that tells "absent" (NULL in, NULL out) from out of memory. */
static int dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (s && !(*out = strdup(s)))
		return err_host(-ENOMEM);
	return 0;
}

/* ---- machine-config ---- */

int fc_res_machine(struct vm_config *cfg, struct json_object *o, const char *path, bool partial,
		   char *err, size_t errlen)
{
	static const char *const keys[] = { "vcpu_count", "mem_size_mib", "smt",
		"track_dirty_pages", "cpu_template", "huge_pages", NULL };
	static const char *const templates[] = { "None", "C3", "T2", "T2S", "T2CL", "T2A",
		"V1N1", NULL };
	static const char *const huge[] = { "None", "2M", "Transparent", NULL };
	char name[NAME_LEN];
	int64_t cpus = cfg->nr_cpus, mib = (int64_t)(cfg->mem_size >> 20);
	bool smt = false, dirty = partial ? cfg->track_dirty_pages : false;
	const char *s;
	int ret;

	if ((ret = fc_json_check_keys(o, path, keys, err, errlen)))
		return ret;
	if ((ret = fc_json_int(o, path, "vcpu_count", !partial, 1, VM_MAX_CPUS, &cpus,
			       err, errlen)) < 0)
		return ret;
	if ((ret = fc_json_int(o, path, "mem_size_mib", !partial, VM_MIN_MEM >> 20,
			       VM_MAX_MEM >> 20, &mib, err, errlen)) < 0)
		return ret;
	if ((ret = fc_json_bool(o, path, "smt", false, &smt, err, errlen)) < 0)
		return ret;
	/* mvm describes every vCPU as its own core (one thread per core). */
	if (smt)
		return fc_json_err(err, errlen, "%s: true is not supported (mvm gives each vCPU "
				   "its own core; set false or leave it out)",
				   fc_json_name(name, sizeof(name), path, "smt"));
	if ((ret = fc_json_bool(o, path, "track_dirty_pages", false, &dirty, err, errlen)) < 0)
		return ret;
	if ((ret = fc_json_string(o, path, "cpu_template", false, &s, err, errlen)) < 0)
		return ret;
	if (ret && (ret = fc_json_one_of(s, templates, path, "cpu_template", err, errlen)) != 0)
		return ret < 0 ? ret : fc_json_err(err, errlen, "%s: '%s' is not supported (mvm "
						   "passes the host's CPUID through; use \"None\")",
						   fc_json_name(name, sizeof(name), path,
								"cpu_template"), s);
	if ((ret = fc_json_string(o, path, "huge_pages", false, &s, err, errlen)) < 0)
		return ret;
	if (ret && (ret = fc_json_one_of(s, huge, path, "huge_pages", err, errlen)) != 0)
		return ret < 0 ? ret : fc_json_err(err, errlen, "%s: '%s' is not supported (mvm "
						   "backs guest RAM with 4K pages; use \"None\")",
						   fc_json_name(name, sizeof(name), path,
								"huge_pages"), s);
	cfg->nr_cpus = (int)cpus;
	cfg->mem_size = (uint64_t)mib << 20;
	cfg->track_dirty_pages = dirty;
	return 0;
}

/* ---- boot-source ---- */

int fc_res_boot(struct vm_config *cfg, struct json_object *o, const char *path,
		char *err, size_t errlen)
{
	static const char *const keys[] = { "kernel_image_path", "initrd_path", "boot_args", NULL };
	const char *kernel, *initrd = NULL, *args = NULL;
	char name[NAME_LEN], *k = NULL, *i = NULL, *a = NULL;
	int ret;

	if ((ret = fc_json_check_keys(o, path, keys, err, errlen)) ||
	    (ret = fc_json_string(o, path, "kernel_image_path", true, &kernel, err, errlen)) < 0 ||
	    (ret = fc_json_nonempty(kernel, path, "kernel_image_path", err, errlen)) ||
	    (ret = fc_json_string(o, path, "initrd_path", false, &initrd, err, errlen)) < 0 ||
	    (initrd && (ret = fc_json_nonempty(initrd, path, "initrd_path", err, errlen))) ||
	    (ret = fc_json_string(o, path, "boot_args", false, &args, err, errlen)) < 0)
		return ret;
	/* Room is left for the virtio_mmio.device= entries and root=. */
	if (args && strlen(args) > LAYOUT_CMDLINE_MAX / 2)
		return fc_json_err(err, errlen, "%s: longer than %llu bytes",
				   fc_json_name(name, sizeof(name), path, "boot_args"),
				   LAYOUT_CMDLINE_MAX / 2);
	if (dup_opt(kernel, &k) || dup_opt(initrd, &i) || dup_opt(args, &a)) {
		free(k), free(i), free(a);
		return err_host(-ENOMEM);
	}
	vm_config_put_string(cfg, &cfg->kernel_path, VM_OWN_KERNEL, k);
	vm_config_put_string(cfg, &cfg->initrd_path, VM_OWN_INITRD, i);
	vm_config_put_string(cfg, &cfg->cmdline, VM_OWN_CMDLINE, a);
	return 0;
}

/* ---- entropy, logger, metrics ---- */

int fc_res_entropy(struct vm_config *cfg, struct json_object *o, const char *path,
		   char *err, size_t errlen)
{
	static const char *const keys[] = { "rate_limiter", NULL };
	struct rlim_update rl;
	int ret;

	if ((ret = fc_json_check_keys(o, path, keys, err, errlen)) ||
	    (ret = fc_json_rate_limiter(o, path, "rate_limiter", &rl, err, errlen)))
		return ret;
	cfg->rng = true;
	cfg->rng_rl = rl.cfg;
	return 0;
}

static const char *const level_names[] = { "Error", "Warning", "Info", "Debug", NULL };

const char *fc_log_level_name(int level)
{
	return level >= LOG_ERR && level <= LOG_DEBUG ? level_names[level] : "Info";
}

int fc_res_logger(struct vm_config *cfg, struct json_object *o, const char *path,
		  char *err, size_t errlen)
{
	static const char *const keys[] = { "log_path", "level", "show_level", "show_log_origin",
		"module", NULL };
	/* Firecracker's six levels onto mvm's four: Trace is Debug, and Off
	 * still lets errors through (mvm never hides why it stopped). */
	static const struct { const char *name; int level; } levels[] = {
		{ "Error", LOG_ERR }, { "Warning", LOG_WARN }, { "Info", LOG_INFO },
		{ "Debug", LOG_DEBUG }, { "Trace", LOG_DEBUG }, { "Off", LOG_ERR },
	};
	const char *logp = NULL, *lvl = NULL, *module = NULL;
	bool show_level = false, show_origin = false;
	char name[NAME_LEN], *copy;
	int ret, level = -1;

	if ((ret = fc_json_check_keys(o, path, keys, err, errlen)) ||
	    (ret = fc_json_string(o, path, "log_path", false, &logp, err, errlen)) < 0 ||
	    (logp && (ret = fc_json_nonempty(logp, path, "log_path", err, errlen))) ||
	    (ret = fc_json_string(o, path, "level", false, &lvl, err, errlen)) < 0 ||
	    (ret = fc_json_bool(o, path, "show_level", false, &show_level, err, errlen)) < 0 ||
	    (ret = fc_json_bool(o, path, "show_log_origin", false, &show_origin, err, errlen)) < 0 ||
	    (ret = fc_json_string(o, path, "module", false, &module, err, errlen)) < 0)
		return ret;
	if (lvl) {
		for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
			if (!strcasecmp(lvl, levels[i].name))
				level = levels[i].level;
		if (level < 0)
			return fc_json_err(err, errlen, "%s: '%s' is not one of Error, Warning, Info, "
					   "Debug, Trace, Off",
					   fc_json_name(name, sizeof(name), path, "level"), lvl);
	}
	if (dup_opt(logp, &copy))
		return err_host(-ENOMEM);
	vm_config_put_string(cfg, &cfg->log_path, 0, copy);
	cfg->log_level_set = level >= 0;
	cfg->log_level = level >= 0 ? level : 0;
	cfg->log_show_level = show_level;
	cfg->log_show_origin = show_origin;
	return 0;
}

int fc_res_metrics(struct vm_config *cfg, struct json_object *o, const char *path,
		   char *err, size_t errlen)
{
	static const char *const keys[] = { "metrics_path", "emit_id", "properties", NULL };
	struct json_object *props = NULL;
	char name[NAME_LEN], *copy, *pcopy = NULL;
	const char *p, *text;
	bool emit_id = false;
	int ret;

	if ((ret = fc_json_check_keys(o, path, keys, err, errlen)) ||
	    (ret = fc_json_string(o, path, "metrics_path", true, &p, err, errlen)) < 0 ||
	    (ret = fc_json_nonempty(p, path, "metrics_path", err, errlen)) ||
	    (ret = fc_json_bool(o, path, "emit_id", false, &emit_id, err, errlen)) < 0 ||
	    (ret = fc_json_object(o, path, "properties", &props, err, errlen)) < 0)
		return ret;
	fc_json_name(name, sizeof(name), path, "properties");
	if (props) {
		/* Operator labels, copied into every line: strings only, bounded. */
		json_object_object_foreach(props, k, v) {
			if (!json_object_is_type(v, json_type_string))
				return fc_json_err(err, errlen, "%s.%s: expected a string, got %s", name,
						   k, fc_json_type_name(v));
		}
		text = json_object_to_json_string_ext(props, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE);
		if (!text)
			return err_host(-ENOMEM);
		if (strlen(text) > FC_METRICS_PROPS_MAX)
			return fc_json_err(err, errlen, "%s: longer than %d bytes as JSON", name,
					   FC_METRICS_PROPS_MAX);
		if (!(pcopy = strdup(text)))
			return err_host(-ENOMEM);
	}
	if (!(copy = strdup(p))) {
		free(pcopy);
		return err_host(-ENOMEM);
	}
	vm_config_put_string(cfg, &cfg->metrics_path, 0, copy);
	vm_config_put_string(cfg, &cfg->metrics_properties, 0, pcopy);
	cfg->metrics_emit_id = emit_id;
	return 0;
}
