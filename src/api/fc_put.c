/* fc_put.c - the API's PUT of boot-source, drives and metrics: the fc_apply_*() mapping plus
 * the checks Firecracker makes when the request arrives, not when the VM is built. */
#include "api/fc_config.h"
#include "api/fc_json.h"
#include "util/upath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

/* A string field of o naming a file that must open with `flags` and be of `types`.
 * A field that is absent, null or not a string is left to the schema checks. */
static int check_file(struct json_object *o, const char *key, int flags, unsigned types,
		      char *err, size_t errlen)
{
	char msg[UPATH_ERR_MAX] = "";
	struct json_object *v;
	struct upath_file f;
	const char *path;
	int ret;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return 0;
	path = json_object_get_string(v);
	if (!*path)
		return 0;
	ret = upath_open(path, flags, types, key, &f, msg, sizeof(msg));
	if (ret)
		return fc_json_err(err, errlen, "%s: %s: %s", key, path, msg);
	close(f.fd);
	return 0;
}

static int parse(const char *body, size_t len, struct json_object **o, char *err,
		 size_t errlen)
{
	if (len > FC_CONFIG_MAX_BYTES)
		return fc_json_err(err, errlen, "body: larger than %u bytes", FC_CONFIG_MAX_BYTES);
	return fc_json_parse_object(body, len, "body", o, err, errlen);
}

int fc_put_boot_source(struct vm_config *cfg, const char *body, size_t len, char *err,
		       size_t errlen)
{
	struct json_object *o;
	int ret;

	if ((ret = parse(body, len, &o, err, errlen)))
		return ret;
	if (!(ret = check_file(o, "kernel_image_path", O_RDONLY, UPATH_REG, err, errlen)))
		ret = check_file(o, "initrd_path", O_RDONLY, UPATH_REG, err, errlen);
	json_object_put(o);
	return ret ? ret : fc_apply_boot_source(cfg, body, len, err, errlen);
}

int fc_put_drive(struct vm_config *cfg, const char *id, const char *body, size_t len,
		 char *err, size_t errlen)
{
	struct json_object *o, *ro;
	int ret, flags = O_RDWR;

	if ((ret = parse(body, len, &o, err, errlen)))
		return ret;
	/* Firecracker opens the file read-write unless the drive is read-only. */
	if (json_object_object_get_ex(o, "is_read_only", &ro) &&
	    json_object_is_type(ro, json_type_boolean) && json_object_get_boolean(ro))
		flags = O_RDONLY;
	ret = check_file(o, "path_on_host", flags, UPATH_REG | UPATH_BLK, err, errlen);
	json_object_put(o);
	return ret ? ret : fc_apply_drive(cfg, id, body, len, err, errlen);
}

/* The metrics file opens as metrics_create() will open it (a FIFO without waiting for a
 * reader; anything else created 0600 and appended to), so a path that cannot be written is
 * refused now, as Firecracker refuses it, not at InstanceStart. */
static int check_metrics_path(const char *body, size_t len, char *err, size_t errlen)
{
	struct json_object *o, *v;
	const char *path;
	struct stat st;
	int fd, ret;

	if ((ret = parse(body, len, &o, err, errlen)))
		return ret;
	if (json_object_object_get_ex(o, "metrics_path", &v) &&
	    json_object_is_type(v, json_type_string) && *(path = json_object_get_string(v))) {
		fd = !stat(path, &st) && S_ISFIFO(st.st_mode)
		     ? open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
		     : open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
			    0600);
		if (fd < 0)
			ret = fc_json_err(err, errlen, "metrics_path: %s: cannot open it for writing: %s",
					  path, strerror(errno));
		else
			close(fd);
	}
	json_object_put(o);
	return ret;
}

int fc_put_metrics(struct vm_config *cfg, const char *body, size_t len, char *err,
		   size_t errlen)
{
	int ret;

	/* Firecracker's metrics system is initialized once per process. */
	if (cfg->metrics_path)
		return fc_json_err(err, errlen, "the metrics system is already initialized "
				   "(metrics_path %s): it is set once", cfg->metrics_path);
	if ((ret = check_metrics_path(body, len, err, errlen)))
		return ret;
	return fc_apply_metrics(cfg, body, len, err, errlen);
}
