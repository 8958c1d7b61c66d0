/* config_match.c - a migration stream's VM against the destination's own configuration
 * (config_match.h): guest-visible properties must agree, host resources are the destination's. */
#include "vmm/config_match.h"
#include "net/backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct match {
	char *err;
	size_t errlen;
	bool file;                 /* here came from --config-file: name its keys, not flags */
};

static int differ(struct match *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int differ(struct match *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, m->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "--cpus" or "machine-config.vcpu_count": where the user changes it. */
static const char *where(const struct match *m, const char *flag, const char *key)
{
	return m->file ? key : flag;
}

static const char *plural(int n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static int count(struct match *m, const char *what_one, const char *what_many, int in_stream,
		 int here, const char *flag, const char *key)
{
	if (in_stream == here)
		return 0;
	return differ(m, "the stream's VM has %d %s; this mvm was given %d (%s)", in_stream,
		      plural(in_stream, what_one, what_many), here, where(m, flag, key));
}

static int present(struct match *m, const char *what, bool in_stream, bool here,
		   const char *flag, const char *key)
{
	if (in_stream == here)
		return 0;
	return differ(m, "the stream's VM has %s %s; this mvm was given %s (%s)",
		      in_stream ? "a" : "no", what, here ? "one" : "none", where(m, flag, key));
}

static const char *disk_name(const struct vm_config *stream, const struct vm_config *here,
			     int i, char *buf, size_t len)
{
	if (here->disks[i].drive_id)
		return here->disks[i].drive_id;
	if (stream->disks[i].drive_id)
		return stream->disks[i].drive_id;
	snprintf(buf, len, "disk%d", i);
	return buf;
}

static const char *net_name(const struct vm_config *stream, const struct vm_config *here, int i,
			    char *buf, size_t len)
{
	if (here->net_ids[i])
		return here->net_ids[i];
	if (stream->net_ids[i])
		return stream->net_ids[i];
	snprintf(buf, len, "net%d", i);
	return buf;
}

static void mac_text(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

static int match_nets(struct match *m, const struct vm_config *stream, const struct vm_config *here)
{
	static const char *const kinds[] = { [NET_TAP] = "a tap", [NET_USER] = "user networking" };
	char name[16], a[24], b[24];
	int ret;

	if ((ret = count(m, "network interface", "network interfaces", stream->nr_nets,
			 here->nr_nets, "--net", "network-interfaces")))
		return ret;
	for (int i = 0; i < here->nr_nets; i++) {
		struct net_cfg s, h;
		const char *n = net_name(stream, here, i, name, sizeof(name));

		if (net_cfg_parse(stream->nets[i] ? stream->nets[i] : "", &s))
			return differ(m, "network interface %s: the stream's '%s' is not a network "
				      "backend", n, stream->nets[i] ? stream->nets[i] : "");
		if (net_cfg_parse(here->nets[i] ? here->nets[i] : "", &h))
			return differ(m, "network interface %s: '%s' is not a network backend", n,
				      here->nets[i] ? here->nets[i] : "");
		/* The backend decides the offloads the device offers, which the guest's
		 * driver has negotiated already. */
		if (s.kind != h.kind)
			return differ(m, "network interface %s: %s in the stream, %s here (%s)", n,
				      kinds[s.kind], kinds[h.kind],
				      where(m, "--net tap=IFNAME|user", "host_dev_name or mvm_user"));
		/* Without mac= a side says nothing: the guest keeps the MAC its state holds. */
		if (s.mac_set && h.mac_set && memcmp(s.mac, h.mac, 6)) {
			mac_text(s.mac, a, sizeof(a));
			mac_text(h.mac, b, sizeof(b));
			return differ(m, "network interface %s: MAC %s in the stream, %s here (%s)", n,
				      a, b, where(m, "--net ...,mac=", "guest_mac"));
		}
	}
	return 0;
}

static int match_balloon(struct match *m, const struct vm_balloon_cfg *s,
			 const struct vm_balloon_cfg *h)
{
	int ret;

	if ((ret = present(m, "balloon", s->enabled, h->enabled, "a --config-file's balloon",
			   "balloon")))
		return ret;
	if (!s->enabled)
		return 0;
	if (s->deflate_on_oom != h->deflate_on_oom)
		return differ(m, "balloon: deflate_on_oom %s in the stream, %s here",
			      s->deflate_on_oom ? "true" : "false", h->deflate_on_oom ? "true" : "false");
	if (s->free_page_reporting != h->free_page_reporting)
		return differ(m, "balloon: free_page_reporting %s in the stream, %s here",
			      s->free_page_reporting ? "true" : "false",
			      h->free_page_reporting ? "true" : "false");
	/* The statistics queue exists or not; its interval is host policy. */
	if (!s->stats_polling_interval_s != !h->stats_polling_interval_s)
		return differ(m, "balloon: statistics %s in the stream, %s here "
			      "(stats_polling_interval_s)", s->stats_polling_interval_s ? "on" : "off",
			      h->stats_polling_interval_s ? "on" : "off");
	return 0;
}

int vm_config_match(const struct vm_config *stream, const struct vm_config *here, char *err,
		    size_t errlen)
{
	struct match m = { .err = err, .errlen = errlen, .file = here->config_file != NULL };
	char name[16];
	int ret;

	if (stream->mem_size != here->mem_size)
		return differ(&m, "the stream's VM has %llu MiB of RAM; this mvm was given %llu MiB "
			      "(%s)", (unsigned long long)(stream->mem_size >> 20),
			      (unsigned long long)(here->mem_size >> 20),
			      where(&m, "--mem", "machine-config.mem_size_mib"));
	if ((ret = count(&m, "vCPU", "vCPUs", stream->nr_cpus, here->nr_cpus, "--cpus",
			 "machine-config.vcpu_count")) ||
	    (ret = count(&m, "disk", "disks", stream->nr_disks, here->nr_disks, "--disk",
			 "drives")))
		return ret;
	for (int i = 0; i < here->nr_disks; i++)
		if (stream->disks[i].read_only != here->disks[i].read_only)
			return differ(&m, "drive %s: %s in the stream, %s here (%s)",
				      disk_name(stream, here, i, name, sizeof(name)),
				      stream->disks[i].read_only ? "read-only" : "read-write",
				      here->disks[i].read_only ? "read-only" : "read-write",
				      where(&m, "--disk FILE,ro", "is_read_only"));
	if ((ret = match_nets(&m, stream, here)) ||
	    (ret = present(&m, "vsock device", stream->vsock_uds, here->vsock_uds, "--vsock",
			   "vsock")))
		return ret;
	if (stream->vsock_uds && stream->vsock_cid != here->vsock_cid)
		return differ(&m, "vsock: guest CID %llu in the stream, %llu here (%s)",
			      (unsigned long long)stream->vsock_cid,
			      (unsigned long long)here->vsock_cid,
			      where(&m, "--vsock cid=", "vsock.guest_cid"));
	if ((ret = present(&m, "virtio-rng device", stream->rng, here->rng, "--rng", "entropy")) ||
	    (ret = match_balloon(&m, &stream->balloon, &here->balloon)) ||
	    (ret = present(&m, "debug-exit port", stream->debug_exit, here->debug_exit,
			   "--debug-exit", "mvm-debug-exit")) ||
	    (ret = present(&m, "pc-testdev", stream->pc_testdev, here->pc_testdev,
			   "--pc-testdev", "mvm-pc-testdev")))
		return ret;
	if (stream->console != here->console)
		return differ(&m, "console: %s in the stream, %s here (%s)",
			      stream->console == VM_CONSOLE_VIRTIO ? "virtio" : "serial",
			      here->console == VM_CONSOLE_VIRTIO ? "virtio" : "serial",
			      where(&m, "--console", "mvm-console"));
	return 0;
}
