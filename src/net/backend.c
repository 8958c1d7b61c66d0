/* backend.c - the --net option parser, MAC generation and backend dispatch. */
#include "net/backend.h"
#include "util/hex.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "net/user_addr.h"
#include "util/log.h"

void net_random_mac(uint8_t mac[6])
{
	if (getrandom(mac, 6, GRND_NONBLOCK) != 6) {
		/* No entropy yet (early boot): still unique enough per process. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 20;
		for (int i = 0; i < 6; i++)
			mac[i] = (uint8_t)(x >> (8 * i));
	}
	/* Locally administered (bit 1) unicast (bit 0 clear): never collides
	 * with a vendor's address and never looks like a multicast group. */
	mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02);
}

/* "xx:xx:xx:xx:xx:xx" exactly (len bytes of s). */
static int parse_mac(const char *s, size_t len, uint8_t mac[6])
{
	if (len != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Decimal port 1..65535 in [s, s+len). */
static int parse_port(const char *s, size_t len, uint16_t *port)
{
	if (len == 0 || len > 5)
		return -EINVAL;
	unsigned v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* Dotted IPv4 in [s, s+len); empty gives def. Result in network order. */
static int parse_addr(const char *s, size_t len, uint32_t def, uint32_t *addr)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	if (len == 0) {
		*addr = def;
		return 0;
	}
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	*addr = a.s_addr;
	return 0;
}

/* PROTO:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT */
static int parse_hostfwd(const char *arg, const char *s, size_t len, struct net_hostfwd *f)
{
	const char *end = s + len, *p, *c1, *dash, *c2;

	memset(f, 0, sizeof(*f));
	c1 = memchr(s, ':', len);
	if (!c1) {
		log_err("--net '%s': hostfwd '%.*s' has no protocol: write tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT",
			arg, (int)len, s);
		return -EINVAL;
	}
	if (c1 - s == 3 && !memcmp(s, "tcp", 3)) {
		f->udp = false;
	} else if (c1 - s == 3 && !memcmp(s, "udp", 3)) {
		f->udp = true;
	} else {
		log_err("--net '%s': hostfwd protocol '%.*s' is not tcp or udp", arg, (int)(c1 - s), s);
		return -EINVAL;
	}
	p = c1 + 1;
	dash = memchr(p, '-', (size_t)(end - p));
	if (!dash) {
		log_err("--net '%s': hostfwd '%.*s' has no '-' between the host and guest sides",
			arg, (int)len, s);
		return -EINVAL;
	}
	/* Host side: [HOSTADDR]:HOSTPORT */
	c2 = memrchr(p, ':', (size_t)(dash - p));
	if (!c2) {
		log_err("--net '%s': hostfwd host side '%.*s' is not [HOSTADDR]:HOSTPORT",
			arg, (int)(dash - p), p);
		return -EINVAL;
	}
	if (parse_addr(p, (size_t)(c2 - p), htonl(INADDR_LOOPBACK), &f->host_addr)) {
		log_err("--net '%s': hostfwd host address '%.*s' is not an IPv4 address",
			arg, (int)(c2 - p), p);
		return -EINVAL;
	}
	if (parse_port(c2 + 1, (size_t)(dash - c2 - 1), &f->host_port)) {
		log_err("--net '%s': hostfwd host port '%.*s' is not a number in 1..65535",
			arg, (int)(dash - c2 - 1), c2 + 1);
		return -EINVAL;
	}
	/* Guest side: [GUESTADDR]:GUESTPORT */
	p = dash + 1;
	c2 = memrchr(p, ':', (size_t)(end - p));
	if (!c2) {
		log_err("--net '%s': hostfwd guest side '%.*s' is not [GUESTADDR]:GUESTPORT",
			arg, (int)(end - p), p);
		return -EINVAL;
	}
	if (parse_addr(p, (size_t)(c2 - p), htonl(NET_USER_GUEST_ADDR), &f->guest_addr)) {
		log_err("--net '%s': hostfwd guest address '%.*s' is not an IPv4 address",
			arg, (int)(c2 - p), p);
		return -EINVAL;
	}
	if (parse_port(c2 + 1, (size_t)(end - c2 - 1), &f->guest_port)) {
		log_err("--net '%s': hostfwd guest port '%.*s' is not a number in 1..65535",
			arg, (int)(end - c2 - 1), c2 + 1);
		return -EINVAL;
	}
	return 0;
}

/* on|off in [s, s+len) for option name (user networking only). */
static int parse_onoff(const char *arg, const char *name, const char *s, size_t len, bool *out)
{
	if (len == 2 && !memcmp(s, "on", 2)) {
		*out = true;
	} else if (len == 3 && !memcmp(s, "off", 3)) {
		*out = false;
	} else {
		log_err("--net '%s': %s '%.*s' is not on or off", arg, name, (int)len, s);
		return -EINVAL;
	}
	return 0;
}

static int parse_max_flows(const char *arg, const char *s, size_t len, unsigned *out)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; i < len && i < 7 && s[i] >= '0' && s[i] <= '9'; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (len == 0 || i != len || v < NET_USER_FLOWS_MIN || v > NET_USER_FLOWS_MAX) {
		log_err("--net '%s': max-flows '%.*s' is not a number in %d..%d", arg, (int)len, s,
			NET_USER_FLOWS_MIN, NET_USER_FLOWS_MAX);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static bool ifname_ok(const char *s, size_t len)
{
	if (len == 0 || len > 15)
		return false;
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '/' || s[i] == ':' || s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

int net_cfg_parse(const char *arg, struct net_cfg *cfg)
{
	const char *s = arg, *end, *comma;
	size_t len;

	memset(cfg, 0, sizeof(*cfg));
	if (!arg || !*arg) {
		log_err("--net: empty value: write tap=IFNAME or user");
		return -EINVAL;
	}
	comma = strchr(s, ',');
	len = comma ? (size_t)(comma - s) : strlen(s);
	if (len == 4 && !memcmp(s, "user", 4)) {
		cfg->kind = NET_USER;
	} else if (len >= 4 && !memcmp(s, "tap=", 4)) {
		cfg->kind = NET_TAP;
		if (!ifname_ok(s + 4, len - 4)) {
			log_err("--net '%s': tap interface name '%.*s' must be 1-15 characters without '/', ':' or spaces",
				arg, (int)(len - 4), s + 4);
			return -EINVAL;
		}
		memcpy(cfg->ifname, s + 4, len - 4);
	} else if (len == 3 && !memcmp(s, "tap", 3)) {
		log_err("--net '%s': tap needs an interface name: tap=IFNAME", arg);
		return -EINVAL;
	} else {
		log_err("--net '%s': backend '%.*s' is unknown: write tap=IFNAME or user", arg, (int)len, s);
		return -EINVAL;
	}

	while (comma) {
		s = comma + 1;
		comma = strchr(s, ',');
		end = comma ? comma : s + strlen(s);
		len = (size_t)(end - s);
		if (len > 4 && !memcmp(s, "mac=", 4)) {
			if (cfg->mac_set) {
				log_err("--net '%s': mac given twice", arg);
				return -EINVAL;
			}
			if (parse_mac(s + 4, len - 4, cfg->mac)) {
				log_err("--net '%s': mac '%.*s' is not xx:xx:xx:xx:xx:xx", arg, (int)(len - 4), s + 4);
				return -EINVAL;
			}
			if (cfg->mac[0] & 1) {
				log_err("--net '%s': mac '%.*s' is a multicast address (first byte odd); a NIC needs a unicast one",
					arg, (int)(len - 4), s + 4);
				return -EINVAL;
			}
			static const uint8_t zero[6];
			if (!memcmp(cfg->mac, zero, 6)) {
				log_err("--net '%s': mac 00:00:00:00:00:00 is not a usable address", arg);
				return -EINVAL;
			}
			cfg->mac_set = true;
		} else if (cfg->kind == NET_USER && len >= 9 && !memcmp(s, "restrict=", 9)) {
			if (parse_onoff(arg, "restrict", s + 9, len - 9, &cfg->restrict_on))
				return -EINVAL;
		} else if (cfg->kind == NET_USER && len >= 14 && !memcmp(s, "host-loopback=", 14)) {
			bool on;
			if (parse_onoff(arg, "host-loopback", s + 14, len - 14, &on))
				return -EINVAL;
			cfg->no_host_loopback = !on;
		} else if (cfg->kind == NET_USER && len >= 10 && !memcmp(s, "max-flows=", 10)) {
			if (parse_max_flows(arg, s + 10, len - 10, &cfg->max_flows))
				return -EINVAL;
		} else if (len > 8 && !memcmp(s, "hostfwd=", 8)) {
			if (cfg->kind != NET_USER) {
				log_err("--net '%s': hostfwd works only with user networking", arg);
				return -EINVAL;
			}
			if (cfg->nr_hostfwd == NET_MAX_HOSTFWD) {
				log_err("--net '%s': at most %d hostfwd rules", arg, NET_MAX_HOSTFWD);
				return -EINVAL;
			}
			struct net_hostfwd *f = &cfg->hostfwd[cfg->nr_hostfwd];
			int r = parse_hostfwd(arg, s + 8, len - 8, f);
			if (r)
				return r;
			for (int i = 0; i < cfg->nr_hostfwd; i++) {
				const struct net_hostfwd *g = &cfg->hostfwd[i];
				if (g->udp == f->udp && g->host_port == f->host_port &&
				    (g->host_addr == f->host_addr || !g->host_addr || !f->host_addr)) {
					log_err("--net '%s': hostfwd %s host port %u is forwarded twice",
						arg, f->udp ? "udp" : "tcp", f->host_port);
					return -EINVAL;
				}
			}
			cfg->nr_hostfwd++;
		} else {
			log_err("--net '%s': option '%.*s' is unknown (known: mac=MAC%s)", arg, (int)len, s,
				cfg->kind == NET_USER ? ", hostfwd=..., restrict=on|off, "
				"host-loopback=on|off, max-flows=N" : "");
			return -EINVAL;
		}
	}
	if (!cfg->mac_set)
		net_random_mac(cfg->mac);
	return 0;
}

void net_backend_close(struct net_backend *be)
{
	if (!be)
		return;
	net_backend_stop(be);
	be->ops->close(be);
}
