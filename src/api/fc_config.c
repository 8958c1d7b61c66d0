/* fc_config.c - a Firecracker config document (file or API resource bodies)
 * into a vm_config, and the root device's command line. */
#include "api/fc_config.h"
#include "api/fc_balloon.h"
#include "api/fc_json.h"
#include "api/fc_resources.h"
#include "util/err.h"
#include "util/upath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

void fc_config_defaults(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nr_cpus = 1;
	cfg->mem_size = FC_DEFAULT_MEM;
	cfg->console = VM_CONSOLE_SERIAL;
}

/* Top-level keys Firecracker has and mvm does not implement: named, so the
 * user learns it is a missing feature and not a typo. null is accepted
 * (GET /vm/config of Firecracker prints them so). */
static const char *const unsupported[] = { "mmds-config", "cpu-config",
	"pmem", "memory-hotplug", "serial", NULL };

static int parse_array(struct vm_config *cfg, struct json_object *doc, const char *key,
		       int (*one)(struct vm_config *, struct json_object *, const char *,
				  const char *, bool, char *, size_t),
		       char *err, size_t errlen)
{
	struct json_object *arr;
	char path[64];
	int ret = fc_json_array(doc, "", key, &arr, err, errlen);

	if (ret <= 0)
		return ret;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);

		snprintf(path, sizeof(path), "%s[%zu]", key, i);
		if (!json_object_is_type(o, json_type_object))
			return fc_json_err(err, errlen, "%s: expected an object, got %s", path,
					   fc_json_type_name(o));
		if ((ret = one(cfg, o, path, NULL, false, err, errlen)))
			return ret;
	}
	return 0;
}

static int parse_one(struct vm_config *cfg, struct json_object *doc, const char *key,
		     int (*one)(struct vm_config *, struct json_object *, const char *,
				char *, size_t),
		     char *err, size_t errlen)
{
	struct json_object *o;
	int ret = fc_json_object(doc, "", key, &o, err, errlen);

	return ret <= 0 ? ret : one(cfg, o, key, err, errlen);
}

static int parse_machine(struct vm_config *cfg, struct json_object *o, const char *path,
			 char *err, size_t errlen)
{
	return fc_res_machine(cfg, o, path, false, err, errlen);
}

static int parse_doc(struct vm_config *cfg, struct json_object *doc, char *err, size_t errlen)
{
	static const char *const keys[] = { "boot-source", "machine-config", "drives",
		"network-interfaces", "entropy", "logger", "metrics", "mvm-console", "mvm-debug-exit",
		"mvm-pc-testdev", "vsock", "balloon", "mmds-config", "cpu-config", "pmem", "memory-hotplug",
		"serial", NULL };
	struct json_object *v;
	const char *console;
	int ret;

	if ((ret = fc_json_check_keys(doc, "", keys, err, errlen)))
		return ret;
	/* An empty list describes no device, as absent (Firecracker's own vm_config.json has
	 * "pmem": []). */
	for (int i = 0; unsupported[i]; i++)
		if (json_object_object_get_ex(doc, unsupported[i], &v) &&
		    json_object_is_type(v, json_type_array) && json_object_array_length(v) == 0)
			json_object_object_del(doc, unsupported[i]);

	for (int i = 0; unsupported[i]; i++)
		if (json_object_object_get_ex(doc, unsupported[i], &v) && v)
			return fc_json_err(err, errlen, "%s: not supported by mvm", unsupported[i]);
	if (!json_object_object_get_ex(doc, "boot-source", &v) || !v)
		return fc_json_err(err, errlen, "boot-source: required");
	if ((ret = parse_one(cfg, doc, "machine-config", parse_machine, err, errlen)) ||
	    (ret = parse_one(cfg, doc, "boot-source", fc_res_boot, err, errlen)) ||
	    (ret = parse_array(cfg, doc, "drives", fc_res_drive, err, errlen)) ||
	    (ret = parse_array(cfg, doc, "network-interfaces", fc_res_net, err, errlen)) ||
	    (ret = parse_one(cfg, doc, "entropy", fc_res_entropy, err, errlen)) ||
	    (ret = parse_one(cfg, doc, "logger", fc_res_logger, err, errlen)) ||
	    (ret = parse_one(cfg, doc, "metrics", fc_res_metrics, err, errlen)) ||
	    (ret = parse_one(cfg, doc, "balloon", fc_res_balloon, err, errlen)) ||
	    (ret = parse_one(cfg, doc, "vsock", fc_res_vsock, err, errlen)))
		return ret;
	/* mvm's extension: where stdin goes, as --console. */
	if ((ret = fc_json_string(doc, "", "mvm-console", false, &console, err, errlen)) < 0)
		return ret;
	if (ret) {
		if (!strcmp(console, "serial"))
			cfg->console = VM_CONSOLE_SERIAL;
		else if (!strcmp(console, "virtio"))
			cfg->console = VM_CONSOLE_VIRTIO;
		else
			return fc_json_err(err, errlen, "mvm-console: '%s' is not one of serial, virtio",
					   console);
	}
	/* mvm's extension: QEMU's isa-debug-exit port, as --debug-exit. */
	if ((ret = fc_json_bool(doc, "", "mvm-debug-exit", false, &cfg->debug_exit, err,
				errlen)) < 0)
		return ret;
	/* mvm's extension: QEMU's pc-testdev, as --pc-testdev (its state is in a
	 * snapshot, so the configuration a snapshot or a migration carries says it). */
	if ((ret = fc_json_bool(doc, "", "mvm-pc-testdev", false, &cfg->pc_testdev, err,
				errlen)) < 0)
		return ret;
	return 0;
}

int fc_config_parse(const char *text, size_t len, struct vm_config *cfg,
		    char *err, size_t errlen)
{
	struct json_object *doc;
	int ret;

	if (len > FC_CONFIG_MAX_BYTES)
		return fc_json_err(err, errlen, "config: larger than %u bytes", FC_CONFIG_MAX_BYTES);
	if ((ret = fc_json_parse_object(text, len, "config", &doc, err, errlen)))
		return ret;
	ret = parse_doc(cfg, doc, err, errlen);
	json_object_put(doc);
	return ret;
}

/* Whole file into a heap buffer, bounded. A FIFO, directory or device is
 * refused before any read (err says why); so is a file past the bound. */
static int read_file(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
	size_t cap = 4096, len = 0;
	char *buf = NULL, *nb;
	struct upath_file f;
	ssize_t n;
	int fd, ret;

	ret = upath_open(path, O_RDONLY, UPATH_REG, "--config-file", &f, err, errlen);
	if (ret)
		return ret;
	fd = f.fd;
	for (;;) {
		if (len == cap || !buf) {
			if (buf)
				cap *= 2;
			if (cap > FC_CONFIG_MAX_BYTES + 1)
				cap = FC_CONFIG_MAX_BYTES + 1;
			if (!(nb = realloc(buf, cap))) {
				ret = err_host(-ENOMEM);
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > FC_CONFIG_MAX_BYTES) {
			ret = -EFBIG;
			break;
		}
	}
	close(fd);
	if (ret) {
		free(buf);
		return ret;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int fc_config_load(const char *path, struct vm_config *cfg, char *err, size_t errlen)
{
	char msg[FC_ERR_MAX] = "";
	size_t len = 0;
	char *text = NULL;
	int ret = read_file(path, &text, &len, msg, sizeof(msg));

	if (ret == -EFBIG)
		return fc_json_err(err, errlen, "%s: larger than %u bytes", path,
				   FC_CONFIG_MAX_BYTES);
	if (ret) {
		if (!*msg)
			snprintf(msg, sizeof(msg), "cannot read: %s", strerror(-ret));
		snprintf(err, errlen, "%s: %s", path, msg);
		return ret;
	}
	ret = fc_config_parse(text, len, cfg, msg, sizeof(msg));
	free(text);
	if (!ret)
		ret = fc_config_finalize(cfg, msg, sizeof(msg));
	if (ret) {
		/* "config: not valid JSON" reads better as "FILE: not valid JSON". */
		const char *m = strncmp(msg, "config: ", 8) ? msg : msg + 8;

		if (ret == -ENOMEM)
			m = "out of memory";
		snprintf(err, errlen, "%s: %s", path, m);
	}
	return ret;
}

/* Does the command line already name a root device? */
static bool has_root(const char *cmdline)
{
	for (const char *p = cmdline; (p = strstr(p, "root=")); p++)
		if (p == cmdline || p[-1] == ' ' || p[-1] == '\t')
			return true;
	return false;
}

int fc_config_finalize(struct vm_config *cfg, char *err, size_t errlen)
{
	const char *base = cfg->cmdline ? cfg->cmdline : VM_DEFAULT_CMDLINE;
	struct vm_disk_cfg *root = NULL;
	char *line;

	/* The apply functions keep the root drive first; this also holds a
	 * configuration assembled some other way to that rule. */
	for (int i = 0; i < cfg->nr_disks; i++) {
		if (!cfg->disks[i].is_root)
			continue;
		if (i) {
			struct vm_disk_cfg d = cfg->disks[i];

			memmove(&cfg->disks[1], &cfg->disks[0], (size_t)i * sizeof(d));
			cfg->disks[0] = d;
		}
		root = &cfg->disks[0];
		break;
	}
	if (!root || has_root(base))
		return 0;
	/* As Firecracker: root=/dev/vda (or the partition's UUID), ro or rw
	 * from is_read_only. */
	if (asprintf(&line, "%s%sroot=%s%s %s", base, *base ? " " : "",
		     root->partuuid ? "PARTUUID=" : "/dev/vda",
		     root->partuuid ? root->partuuid : "", root->read_only ? "ro" : "rw") < 0)
		return err_host(-ENOMEM);
	if (cfg->owned & VM_OWN_CMDLINE)
		free((char *)cfg->cmdline);
	cfg->cmdline = line;
	cfg->owned |= VM_OWN_CMDLINE;
	(void)err, (void)errlen;
	return 0;
}

/* ---- one resource per API request ---- */

typedef int (*fc_res_fn)(struct vm_config *, struct json_object *, const char *, char *, size_t);

static int apply_body(struct vm_config *cfg, const char *body, size_t len, fc_res_fn fn,
		      char *err, size_t errlen)
{
	struct json_object *o;
	int ret;

	if (len > FC_CONFIG_MAX_BYTES)
		return fc_json_err(err, errlen, "body: larger than %u bytes", FC_CONFIG_MAX_BYTES);
	if ((ret = fc_json_parse_object(body, len, "body", &o, err, errlen)))
		return ret;
	ret = fn(cfg, o, "", err, errlen);
	json_object_put(o);
	return ret;
}

static int patch_machine(struct vm_config *cfg, struct json_object *o, const char *path,
			 char *err, size_t errlen)
{
	/* Firecracker refuses a PATCH that changes nothing. */
	if (json_object_object_length(o) == 0)
		return fc_json_err(err, errlen, "Empty PATCH request: give at least one of "
				   "vcpu_count, mem_size_mib, smt, track_dirty_pages, cpu_template, "
				   "huge_pages");
	return fc_res_machine(cfg, o, path, true, err, errlen);
}

int fc_apply_machine_config(struct vm_config *cfg, const char *body, size_t len,
			    char *err, size_t errlen)
{
	return apply_body(cfg, body, len, parse_machine, err, errlen);
}

int fc_patch_machine_config(struct vm_config *cfg, const char *body, size_t len,
			    char *err, size_t errlen)
{
	return apply_body(cfg, body, len, patch_machine, err, errlen);
}

int fc_apply_boot_source(struct vm_config *cfg, const char *body, size_t len,
			 char *err, size_t errlen)
{
	return apply_body(cfg, body, len, fc_res_boot, err, errlen);
}

int fc_apply_entropy(struct vm_config *cfg, const char *body, size_t len,
		     char *err, size_t errlen)
{
	return apply_body(cfg, body, len, fc_res_entropy, err, errlen);
}

int fc_apply_logger(struct vm_config *cfg, const char *body, size_t len,
		    char *err, size_t errlen)
{
	return apply_body(cfg, body, len, fc_res_logger, err, errlen);
}

int fc_apply_metrics(struct vm_config *cfg, const char *body, size_t len,
		     char *err, size_t errlen)
{
	return apply_body(cfg, body, len, fc_res_metrics, err, errlen);
}

int fc_apply_vsock(struct vm_config *cfg, const char *body, size_t len, char *err, size_t errlen)
{
	return apply_body(cfg, body, len, fc_res_vsock, err, errlen);
}

typedef int (*fc_id_fn)(struct vm_config *, struct json_object *, const char *, const char *,
			bool, char *, size_t);

static int apply_with_id(struct vm_config *cfg, const char *id, const char *body, size_t len,
			 fc_id_fn fn, char *err, size_t errlen)
{
	struct json_object *o;
	int ret;

	if (!id || !*id)
		return fc_json_err(err, errlen, "the path needs an id");
	if (len > FC_CONFIG_MAX_BYTES)
		return fc_json_err(err, errlen, "body: larger than %u bytes", FC_CONFIG_MAX_BYTES);
	if ((ret = fc_json_parse_object(body, len, "body", &o, err, errlen)))
		return ret;
	ret = fn(cfg, o, "", id, true, err, errlen);
	json_object_put(o);
	return ret;
}

int fc_apply_drive(struct vm_config *cfg, const char *id, const char *body, size_t len,
		   char *err, size_t errlen)
{
	return apply_with_id(cfg, id, body, len, fc_res_drive, err, errlen);
}

int fc_apply_network_interface(struct vm_config *cfg, const char *id, const char *body,
			       size_t len, char *err, size_t errlen)
{
	return apply_with_id(cfg, id, body, len, fc_res_net, err, errlen);
}
