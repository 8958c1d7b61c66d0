/* netflood.c - a guest that opens thousands of UDP flows through user networking.
 *
 * Each datagram leaves from a new source port to 10.0.2.2 (the host, through
 * libslirp), so each one asks mvm for a host socket of its own: what a guest
 * does to exhaust mvm's file descriptors. The frames go out through the net
 * hypercall (the tiny guest's first --net). Command line: flows=N (default
 * 4000), batch=B datagrams between pauses of pause_ms=MS (default 500, 400),
 * after a quiet start_ms (default 1500, then "ADV-MARK netflood starting"),
 * so the harness can watch mvm's fds and its API while the flood runs.
 * Passes when every write was taken (a full backend may answer -EAGAIN:
 * retried, bounded) and mvm kept running; what mvm did with the flows is
 * checked from the host (tests/adversarial/run.sh, case hcall-udp-flood).
 */
#include "adv.h"

#define ETH_HLEN 14
#define IP_HLEN  20
#define UDP_HLEN 8
#define PAYLOAD  16

static uint8_t frame[ETH_HLEN + IP_HLEN + UDP_HLEN + PAYLOAD];

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static uint16_t ip_checksum(const uint8_t *h, int len)
{
	uint32_t sum = 0;

	for (int i = 0; i < len; i += 2)
		sum += (uint32_t)h[i] << 8 | h[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Ethernet to slirp's gateway MAC, IPv4 10.0.2.15 -> 10.0.2.2, UDP sport -> 9. */
static void build(const uint8_t mac[6], uint16_t sport, uint16_t id)
{
	static const uint8_t gw[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };
	uint8_t *ip = frame + ETH_HLEN, *udp = ip + IP_HLEN;

	memcpy(frame, gw, 6);
	memcpy(frame + 6, mac, 6);
	put16(frame + 12, 0x0800);
	memset(ip, 0, IP_HLEN);
	ip[0] = 0x45;
	put16(ip + 2, IP_HLEN + UDP_HLEN + PAYLOAD);
	put16(ip + 4, id);
	ip[8] = 64;
	ip[9] = 17;
	ip[12] = 10; ip[13] = 0; ip[14] = 2; ip[15] = 15;
	ip[16] = 10; ip[17] = 0; ip[18] = 2; ip[19] = 2;
	put16(ip + 10, ip_checksum(ip, IP_HLEN));
	put16(udp, sport);
	put16(udp + 2, 9);
	put16(udp + 4, UDP_HLEN + PAYLOAD);
	put16(udp + 6, 0);   /* no checksum */
	memset(udp + UDP_HLEN, 'F', PAYLOAD);
}

static void pause_ms(uint64_t ms)
{
	uint64_t until = mvm_time_mono_ns() + ms * 1000000ULL;

	while (mvm_time_mono_ns() < until)
		cpu_relax();
}

int mvm_main(const struct mvm_bootinfo *bi)
{
	struct mvm_hc_netinfo info;
	uint64_t flows = mvm_cmdline_u64(bi, "flows", 4000);
	uint64_t batch = mvm_cmdline_u64(bi, "batch", 500);
	uint64_t pause = mvm_cmdline_u64(bi, "pause_ms", 400);
	uint64_t sent = 0, retries = 0;

	if (flows > 60000)
		flows = 60000;
	if (!batch)
		batch = 1;
	ADV_CHECK(mvm_net_info(&info) == 0, "net info: no net hypercall backend");
	if (adv_failures)
		return adv_finish("netflood");
	/* A quiet start, so the host can count mvm's fds before the first flow. */
	pause_ms(mvm_cmdline_u64(bi, "start_ms", 1500));
	mvm_printf("ADV-MARK netflood starting: %llu flows\n", (unsigned long long)flows);
	for (uint64_t i = 0; i < flows; i++) {
		int64_t r;

		build(info.mac, (uint16_t)(1024 + i), (uint16_t)i);
		while ((r = mvm_net_write(frame, sizeof(frame))) == -MVM_EAGAIN && retries < 100000)
			retries++;
		ADV_CHECK(r >= 0, "datagram %llu: net write returned %lld",
			  (unsigned long long)i, (long long)r);
		if (r < 0)
			break;
		sent++;
		if (sent % batch == 0) {
			mvm_printf("ADV-MARK netflood %llu datagrams from as many ports\n",
				   (unsigned long long)sent);
			pause_ms(pause);
		}
	}
	mvm_printf("ADV-MARK netflood done: %llu datagrams, %llu retries\n",
		   (unsigned long long)sent, (unsigned long long)retries);
	return adv_finish("netflood");
}
