/* fc_devices.c - Firecracker's drives and network-interfaces checked into a
 * vm_config (root device first, replace by id, --net specs for the backends). */
#include "api/fc_resources.h"
#include "api/fc_json.h"
#include "net/backend.h"
#include "util/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define NAME_LEN FC_JSON_NAME_LEN

/* ---- drives ---- */

/* Firecracker's defaults first (index 0 is what an absent field means). */
const char *const fc_cache_types[] = { "Unsafe", "Writeback", NULL };
const char *const fc_io_engines[] = { "Sync", "Async", NULL };

static void disk_free(struct vm_disk_cfg *d)
{
	free((char *)d->path);
	free((char *)d->id);
	free((char *)d->drive_id);
	free((char *)d->partuuid);
	memset(d, 0, sizeof(*d));
}

static int find_drive(const struct vm_config *cfg, const char *id)
{
	for (int i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].drive_id && !strcmp(cfg->disks[i].drive_id, id))
			return i;
	return -1;
}

/* A PARTUUID goes into the command line: no spaces, nothing but a UUID's
 * characters (and the "-NN" partition suffix MBR disks use). */
static int check_partuuid(const char *s, const char *path, char *err, size_t errlen)
{
	char name[NAME_LEN];
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) && s[i] != '-')
			n = 0;
	if (n == 0 || n > 64)
		return fc_json_err(err, errlen, "%s: '%s' is not a partition UUID",
				   fc_json_name(name, sizeof(name), path, "partuuid"), s);
	return 0;
}

int fc_res_drive(struct vm_config *cfg, struct json_object *o, const char *path,
		 const char *want_id, bool replace, char *err, size_t errlen)
{
	static const char *const keys[] = { "drive_id", "path_on_host", "is_root_device",
		"is_read_only", "partuuid", "cache_type", "io_engine", "rate_limiter", "socket",
		NULL };
	static const char *const caches[] = { "Unsafe", "Writeback", NULL };
	static const char *const engines[] = { "Sync", "Async", NULL };
	const char *id, *file, *partuuid = NULL, *s;
	bool root, ro = false;
	unsigned char cache = 0, engine = 0;
	char name[NAME_LEN];
	struct vm_disk_cfg d = { 0 };
	struct rlim_update rl;
	int ret, ex, other_root = -1;

	if ((ret = fc_json_check_keys(o, path, keys, err, errlen)) ||
	    (ret = fc_json_string(o, path, "drive_id", true, &id, err, errlen)) < 0 ||
	    (ret = fc_json_id(id, path, "drive_id", err, errlen)) ||
	    (ret = fc_json_path_id(want_id, id, path, "drive_id", err, errlen)))
		return ret;
	if ((ret = fc_json_string(o, path, "socket", false, &s, err, errlen)) != 0)
		return ret < 0 ? ret : fc_json_err(err, errlen, "%s: vhost-user block devices are "
						   "not supported by mvm (give path_on_host)",
						   fc_json_name(name, sizeof(name), path, "socket"));
	if ((ret = fc_json_string(o, path, "path_on_host", true, &file, err, errlen)) < 0 ||
	    (ret = fc_json_nonempty(file, path, "path_on_host", err, errlen)) ||
	    (ret = fc_json_bool(o, path, "is_root_device", true, &root, err, errlen)) < 0 ||
	    (ret = fc_json_bool(o, path, "is_read_only", false, &ro, err, errlen)) < 0 ||
	    (ret = fc_json_string(o, path, "partuuid", false, &partuuid, err, errlen)) < 0 ||
	    (partuuid && (ret = check_partuuid(partuuid, path, err, errlen))))
		return ret;
	/* Both cache modes flush on the guest's request (mvm always offers
	 * VIRTIO_BLK_F_FLUSH); both engines end in io_uring with a sync
	 * fallback: accepted for compatibility, kept only to be reported. */
	if ((ret = fc_json_string(o, path, "cache_type", false, &s, err, errlen)) < 0 ||
	    (ret && (ret = fc_json_one_of(s, caches, path, "cache_type", err, errlen)) < 0) ||
	    (ret = fc_json_string(o, path, "io_engine", false, &s, err, errlen)) < 0 ||
	    (ret && (ret = fc_json_one_of(s, engines, path, "io_engine", err, errlen)) < 0) ||
	    (ret = fc_json_rate_limiter(o, path, "rate_limiter", &rl, err, errlen)))
		return ret;

	/* Checked above: their index in Firecracker's lists, for GET /vm/config. */
	if (fc_json_string(o, path, "cache_type", false, &s, err, errlen) == 1)
		cache = (unsigned char)fc_json_one_of(s, fc_cache_types, path, "cache_type",
						      err, errlen);
	if (fc_json_string(o, path, "io_engine", false, &s, err, errlen) == 1)
		engine = (unsigned char)fc_json_one_of(s, fc_io_engines, path, "io_engine",
						       err, errlen);

	ex = find_drive(cfg, id);
	if (ex >= 0 && !replace)
		return fc_json_err(err, errlen, "%s: '%s' is given twice",
				   fc_json_name(name, sizeof(name), path, "drive_id"), id);
	for (int i = 0; i < cfg->nr_disks; i++)
		if (i != ex && cfg->disks[i].is_root)
			other_root = i;
	if (root && other_root >= 0)
		return fc_json_err(err, errlen, "%s: drive '%s' is already the root device "
				   "(only one may be)",
				   fc_json_name(name, sizeof(name), path, "is_root_device"),
				   cfg->disks[other_root].drive_id ? cfg->disks[other_root].drive_id
								   : "vda");
	if (ex < 0 && cfg->nr_disks >= VM_MAX_DISKS)
		return fc_json_err(err, errlen, "%s: at most %d drives", *path ? path : "drive_id",
				   VM_MAX_DISKS);

	d.fc_cache = cache;
	d.fc_engine = engine;
	d.read_only = ro;
	d.is_root = root;
	d.rate_limiter = rl.cfg;
	if (!(d.path = strdup(file)) || !(d.drive_id = strdup(id)) ||
	    (partuuid && !(d.partuuid = strdup(partuuid)))) {
		disk_free(&d);
		return err_host(-ENOMEM);
	}
	/* Same role: replaced in place, so it keeps its /dev/vdX name. */
	if (ex >= 0 && cfg->disks[ex].is_root == root) {
		disk_free(&cfg->disks[ex]);
		cfg->disks[ex] = d;
		return 0;
	}
	if (ex >= 0) {
		disk_free(&cfg->disks[ex]);
		memmove(&cfg->disks[ex], &cfg->disks[ex + 1],
			(size_t)(cfg->nr_disks - ex - 1) * sizeof(cfg->disks[0]));
		cfg->nr_disks--;
	}
	if (root) {
		/* The root device is /dev/vda: always the first disk. */
		memmove(&cfg->disks[1], &cfg->disks[0], (size_t)cfg->nr_disks * sizeof(cfg->disks[0]));
		cfg->disks[0] = d;
	} else {
		cfg->disks[cfg->nr_disks] = d;
	}
	cfg->nr_disks++;
	return 0;
}

/* ---- network-interfaces ---- */

static int check_mac(const char *s, const char *path, char *err, size_t errlen)
{
	char name[NAME_LEN];
	unsigned b[6];
	int n = -1;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &n) != 6 ||
	    n != 17)
		return fc_json_err(err, errlen, "%s: '%s' is not a MAC address (xx:xx:xx:xx:xx:xx)",
				   fc_json_name(name, sizeof(name), path, "guest_mac"), s);
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return fc_json_err(err, errlen, "%s: '%s' is not a MAC address "
					   "(xx:xx:xx:xx:xx:xx)",
					   fc_json_name(name, sizeof(name), path, "guest_mac"), s);
	if (b[0] & 1)
		return fc_json_err(err, errlen, "%s: '%s' is a multicast address (first byte odd)",
				   fc_json_name(name, sizeof(name), path, "guest_mac"), s);
	return 0;
}

static int find_net(const struct vm_config *cfg, const char *id)
{
	for (int i = 0; i < cfg->nr_nets; i++)
		if (cfg->net_ids[i] && !strcmp(cfg->net_ids[i], id))
			return i;
	return -1;
}

/* Append ",what" to spec; -EINVAL when it does not fit. */
static int spec_add(char *spec, size_t len, const char *what)
{
	size_t used = strlen(spec);
	int n = snprintf(spec + used, len - used, "%s%s", used ? "," : "", what);

	return n < 0 || (size_t)n >= len - used ? -EINVAL : 0;
}

/* mvm's extension "mvm_user": {"hostfwd": ["tcp::8080-:80", ...], "restrict": bool,
 * "host_loopback": bool, "max_flows": N} -> spec. */
static int user_spec(struct json_object *u, const char *path, char *spec, size_t len,
		     char *err, size_t errlen)
{
	static const char *const keys[] = { "hostfwd", "restrict", "host_loopback", "max_flows",
					    NULL };
	char upath[NAME_LEN], name[NAME_LEN + 32], one[160];
	struct json_object *fwd = NULL;
	struct net_cfg nc;
	bool restrict_on = false, loopback = true;
	int64_t max_flows = 0;
	size_t n;
	int ret;

	fc_json_name(upath, sizeof(upath), path, "mvm_user");
	if ((ret = fc_json_check_keys(u, upath, keys, err, errlen)) ||
	    (ret = fc_json_bool(u, upath, "restrict", false, &restrict_on, err, errlen)) < 0 ||
	    (ret = fc_json_bool(u, upath, "host_loopback", false, &loopback, err, errlen)) < 0 ||
	    (ret = fc_json_int(u, upath, "max_flows", false, NET_USER_FLOWS_MIN, NET_USER_FLOWS_MAX,
			       &max_flows, err, errlen)) < 0 ||
	    (ret = fc_json_array(u, upath, "hostfwd", &fwd, err, errlen)) < 0)
		return ret;
	if ((restrict_on && spec_add(spec, len, "restrict=on")) ||
	    (!loopback && spec_add(spec, len, "host-loopback=off")))
		return fc_json_err(err, errlen, "%s: too many options", upath);
	if (max_flows) {
		snprintf(one, sizeof(one), "max-flows=%lld", (long long)max_flows);
		if (spec_add(spec, len, one))
			return fc_json_err(err, errlen, "%s: too many options", upath);
	}
	if (!fwd)
		return 0;
	n = json_object_array_length(fwd);
	if (n > NET_MAX_HOSTFWD)
		return fc_json_err(err, errlen, "%s.hostfwd: at most %d rules", upath,
				   NET_MAX_HOSTFWD);
	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(fwd, i);
		const char *rule = json_object_get_string(r);

		snprintf(name, sizeof(name), "%s.hostfwd[%zu]", upath, i);
		if (!json_object_is_type(r, json_type_string))
			return fc_json_err(err, errlen, "%s: expected a string, got %s", name,
					   fc_json_type_name(r));
		/* One rule at a time through the --net parser names the bad one. */
		if (strchr(rule, ',') || strlen(rule) > 100 ||
		    snprintf(one, sizeof(one), "user,hostfwd=%s", rule) >= (int)sizeof(one) ||
		    net_cfg_parse(one, &nc))
			return fc_json_err(err, errlen, "%s: '%s' is not a forwarding rule "
					   "(tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT)",
					   name, rule);
		if (spec_add(spec, len, one + 5))
			return fc_json_err(err, errlen, "%s: too many rules", upath);
	}
	return 0;
}

int fc_res_net(struct vm_config *cfg, struct json_object *o, const char *path,
	       const char *want_id, bool replace, char *err, size_t errlen)
{
	static const char *const keys[] = { "iface_id", "host_dev_name", "guest_mac",
		"rx_rate_limiter", "tx_rate_limiter", "mtu", "mvm_user", NULL };
	const char *id, *tap = NULL, *mac = NULL;
	struct json_object *user = NULL;
	struct rlim_update rx, tx;
	char name[NAME_LEN], spec[2048] = "", macopt[24], *sid, *sspec;
	struct net_cfg nc;
	int64_t mtu;
	int ret, ex;

	if ((ret = fc_json_check_keys(o, path, keys, err, errlen)) ||
	    (ret = fc_json_string(o, path, "iface_id", true, &id, err, errlen)) < 0 ||
	    (ret = fc_json_id(id, path, "iface_id", err, errlen)) ||
	    (ret = fc_json_path_id(want_id, id, path, "iface_id", err, errlen)) ||
	    (ret = fc_json_string(o, path, "host_dev_name", false, &tap, err, errlen)) < 0 ||
	    (ret = fc_json_object(o, path, "mvm_user", &user, err, errlen)) < 0 ||
	    (ret = fc_json_string(o, path, "guest_mac", false, &mac, err, errlen)) < 0 ||
	    (mac && (ret = check_mac(mac, path, err, errlen))) ||
	    (ret = fc_json_rate_limiter(o, path, "rx_rate_limiter", &rx, err, errlen)) ||
	    (ret = fc_json_rate_limiter(o, path, "tx_rate_limiter", &tx, err, errlen)))
		return ret;
	if ((ret = fc_json_int(o, path, "mtu", false, 0, INT64_MAX, &mtu, err, errlen)) != 0)
		return ret < 0 ? ret : fc_json_err(err, errlen, "%s: not supported by mvm",
						   fc_json_name(name, sizeof(name), path, "mtu"));
	if (tap && user)
		return fc_json_err(err, errlen, "%s: give host_dev_name (a TAP device) or mvm_user "
				   "(user networking), not both", *path ? path : "mvm_user");
	if (!tap && !user)
		return fc_json_err(err, errlen, "%s: required (or mvm_user for user networking)",
				   fc_json_name(name, sizeof(name), path, "host_dev_name"));
	if (tap) {
		/* IFNAMSIZ, and nothing the --net syntax would split on. */
		if (!*tap || strlen(tap) > 15 || strpbrk(tap, ",/ \t\n:"))
			return fc_json_err(err, errlen, "%s: '%s' is not a network interface name "
					   "(1 to 15 characters, no ',', '/', ':' or spaces)",
					   fc_json_name(name, sizeof(name), path, "host_dev_name"),
					   tap);
		snprintf(spec, sizeof(spec), "tap=%s", tap);
	} else {
		snprintf(spec, sizeof(spec), "user");
	}
	if (mac) {
		snprintf(macopt, sizeof(macopt), "mac=%s", mac);
		spec_add(spec, sizeof(spec), macopt);
	}
	if (user && (ret = user_spec(user, path, spec, sizeof(spec), err, errlen)))
		return ret;
	if (net_cfg_parse(spec, &nc))
		return fc_json_err(err, errlen, "%s: not a valid interface ('%s')",
				   *path ? path : "iface_id", spec);

	ex = find_net(cfg, id);
	if (ex >= 0 && !replace)
		return fc_json_err(err, errlen, "%s: '%s' is given twice",
				   fc_json_name(name, sizeof(name), path, "iface_id"), id);
	for (int i = 0; i < cfg->nr_nets; i++) {
		struct net_cfg other;

		if (i == ex || net_cfg_parse(cfg->nets[i], &other))
			continue;
		if (tap && other.kind == NET_TAP && !strcmp(other.ifname, tap))
			return fc_json_err(err, errlen, "%s: '%s' is already used by another interface",
					   fc_json_name(name, sizeof(name), path, "host_dev_name"),
					   tap);
		/* Two NICs with one MAC confuse every switch and ARP cache (Firecracker refuses). */
		if (mac && nc.mac_set && other.mac_set && !memcmp(nc.mac, other.mac, 6))
			return fc_json_err(err, errlen, "%s: '%s' is already the MAC of interface '%s'",
					   fc_json_name(name, sizeof(name), path, "guest_mac"), mac,
					   cfg->net_ids[i] ? cfg->net_ids[i] : "(--net)");
	}
	if (ex < 0 && cfg->nr_nets >= VM_MAX_NETS)
		return fc_json_err(err, errlen, "%s: at most %d network interfaces",
				   *path ? path : "iface_id", VM_MAX_NETS);
	if (!(sid = strdup(id)) || !(sspec = strdup(spec))) {
		free(sid);
		return err_host(-ENOMEM);
	}
	if (ex < 0)
		ex = cfg->nr_nets++;
	vm_config_put_string(cfg, &cfg->nets[ex], VM_OWN_NET(ex), sspec);
	vm_config_put_string(cfg, &cfg->net_ids[ex], 0, sid);
	cfg->net_rx_rl[ex] = rx.cfg;
	cfg->net_tx_rl[ex] = tx.cfg;
	return 0;
}

