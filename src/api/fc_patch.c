/* fc_patch.c - PATCH /drives/{id} and PATCH /network-interfaces/{id} bodies. */
#include "api/fc_patch.h"
#include "api/fc_json.h"
#include "util/err.h"

#include <errno.h>
#include <string.h>

#include <json-c/json.h>

int fc_parse_drive_patch(const struct vm_config *cfg, const char *id, const char *body,
			 size_t len, struct json_object **doc, struct fc_drive_patch *p,
			 char *err, size_t errlen)
{
	static const char *const keys[] = { "drive_id", "path_on_host", "rate_limiter", NULL };
	const char *did;
	int ret;

	memset(p, 0, sizeof(*p));
	p->index = -1;
	if ((ret = fc_json_parse_object(body, len, "body", doc, err, errlen)) ||
	    (ret = fc_json_check_keys(*doc, "", keys, err, errlen)) ||
	    (ret = fc_json_string(*doc, "", "drive_id", true, &did, err, errlen)) < 0 ||
	    (ret = fc_json_path_id(id, did, "", "drive_id", err, errlen)) ||
	    (ret = fc_json_string(*doc, "", "path_on_host", false, &p->path, err, errlen)) < 0 ||
	    (p->path && (ret = fc_json_nonempty(p->path, "", "path_on_host", err, errlen))) ||
	    (ret = fc_json_rate_limiter(*doc, "", "rate_limiter", &p->rl, err, errlen)))
		return ret;
	for (int i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].drive_id && !strcmp(cfg->disks[i].drive_id, did))
			p->index = i;
	if (p->index < 0)
		return fc_json_err(err, errlen, "drive_id: no drive '%s' (drives are added with "
				   "PUT /drives/%s before InstanceStart)", did, did);
	return 0;
}

int fc_parse_net_patch(const struct vm_config *cfg, const char *id, const char *body,
		       size_t len, struct json_object **doc, struct fc_net_patch *p,
		       char *err, size_t errlen)
{
	static const char *const keys[] = { "iface_id", "rx_rate_limiter", "tx_rate_limiter",
					    NULL };
	const char *iid;
	int ret;

	memset(p, 0, sizeof(*p));
	p->index = -1;
	if ((ret = fc_json_parse_object(body, len, "body", doc, err, errlen)) ||
	    (ret = fc_json_check_keys(*doc, "", keys, err, errlen)) ||
	    (ret = fc_json_string(*doc, "", "iface_id", true, &iid, err, errlen)) < 0 ||
	    (ret = fc_json_path_id(id, iid, "", "iface_id", err, errlen)) ||
	    (ret = fc_json_rate_limiter(*doc, "", "rx_rate_limiter", &p->rx, err, errlen)) ||
	    (ret = fc_json_rate_limiter(*doc, "", "tx_rate_limiter", &p->tx, err, errlen)))
		return ret;
	for (int i = 0; i < cfg->nr_nets; i++)
		if (cfg->net_ids[i] && !strcmp(cfg->net_ids[i], iid))
			p->index = i;
	if (p->index < 0)
		return fc_json_err(err, errlen, "iface_id: no network interface '%s' (interfaces "
				   "are added with PUT /network-interfaces/%s before InstanceStart)",
				   iid, iid);
	return 0;
}

void fc_rlim_cfg_apply(struct rlim_cfg *c, const struct rlim_update *u)
{
	if (u->has_bandwidth)
		c->bandwidth = u->cfg.bandwidth;
	if (u->has_ops)
		c->ops = u->cfg.ops;
}

int fc_commit_drive_patch(struct vm_config *cfg, const struct fc_drive_patch *p)
{
	struct vm_disk_cfg *d = &cfg->disks[p->index];

	if (p->path && vm_config_set_string(cfg, &d->path, 0, p->path))
		return err_host(-ENOMEM);
	fc_rlim_cfg_apply(&d->rate_limiter, &p->rl);
	return 0;
}

void fc_commit_net_patch(struct vm_config *cfg, const struct fc_net_patch *p)
{
	fc_rlim_cfg_apply(&cfg->net_rx_rl[p->index], &p->rx);
	fc_rlim_cfg_apply(&cfg->net_tx_rl[p->index], &p->tx);
}
