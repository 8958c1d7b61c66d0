/* fc_vsock.c - Firecracker's "vsock" resource (config file and PUT /vsock). */
#include "api/fc_config.h"
#include "api/fc_json.h"
#include "api/fc_resources.h"
#include "util/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <json-c/json.h>

int fc_res_vsock(struct vm_config *cfg, struct json_object *o, const char *path,
		 char *err, size_t errlen)
{
	static const char *const keys[] = { "vsock_id", "guest_cid", "uds_path", NULL };
	struct sockaddr_un sa;
	const char *uds, *id = NULL;
	char name[FC_JSON_NAME_LEN];
	char *uds_copy, *id_copy = NULL;
	int64_t cid;
	int ret;

	/* vsock_id: Firecracker still accepts it (deprecated) and ignores it. */
	if ((ret = fc_json_check_keys(o, path, keys, err, errlen)) ||
	    (ret = fc_json_string(o, path, "vsock_id", false, &id, err, errlen)) < 0 ||
	    (ret = fc_json_int(o, path, "guest_cid", true, 3, 0xfffffffe, &cid, err, errlen)) < 0 ||
	    (ret = fc_json_string(o, path, "uds_path", true, &uds, err, errlen)) < 0 ||
	    (ret = fc_json_nonempty(uds, path, "uds_path", err, errlen)))
		return ret;
	/* Room for the guest's connections out: "<uds_path>_<port>". */
	if (strlen(uds) + 11 >= sizeof(sa.sun_path))
		return fc_json_err(err, errlen, "%s: longer than %zu bytes (a Unix socket path "
				   "with room for _<port>)",
				   fc_json_name(name, sizeof(name), path, "uds_path"),
				   sizeof(sa.sun_path) - 12);
	if (!(uds_copy = strdup(uds)) || (id && !(id_copy = strdup(id)))) {
		free(uds_copy);
		return err_host(-ENOMEM);
	}
	vm_config_put_string(cfg, &cfg->vsock_uds, 0, uds_copy);
	vm_config_put_string(cfg, &cfg->vsock_id, 0, id_copy);
	cfg->vsock_cid = (uint64_t)cid;
	return 0;
}
