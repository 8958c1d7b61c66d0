/* fuzz_vsock.c - libFuzzer target for virtio-vsock (src/virtio/vsock*.c): a guest driver's tx
 * packets and rx buffers, and host clients of the Unix socket, as the fuzzer's bytes describe
 * them, through the real MMIO transport, worker thread and Unix sockets.
 *
 * Each input makes a device (CID 3) on a fresh socket path, with a host listener on its port 1
 * (so a guest REQUEST to port 1 connects), brings the driver up (rx, tx, event queues of 16),
 * then runs up to 24 actions, one byte each plus its operands:
 *   0 tx packet: a header (44 bytes from the input; src_cid and dst_cid forced to the right
 *     ones unless the action byte's bit 4 / bit 5 is set), then len (u16 % 2048) payload
 *     bytes in 1 or 2 segments, and a declared len that may lie
 *   1 rx buffer: 1..3 segments [len: u16 % 512][writable: bit] (readable ones break the rules)
 *   2 a host client: a CONNECT line to a port (u8) or, with bit 4, up to 40 raw bytes
 *   3 a host client writes up to 200 bytes;  4 the listener's side writes to a connection
 *   5 close a host client;  6 driver reset and re-init (every connection dropped)
 * Checked, from vsock.h:
 *  - the worker never hangs: every tx chain comes back within 5 s (or the device asks for a
 *    reset, which it must never do for a well-formed chain);
 *  - every rx used element fits its chain; one of >= 44 bytes holds a header from CID 2 to
 *    CID 3, type STREAM, an op of the spec, len == used - 44 <= 64 KiB, and a payload only on RW;
 *  - at most VSOCK_MAX_CONNS connections; after destroy the socket path is gone.
 *
 * Run: build/fuzz/fuzz_vsock tests/fuzz/corpus/vsock
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "virtio/vsock.h"
#include "virtio/vsock_proto.h"
#include "virtio_fake_driver.h"

#define CID      3
#define QS       16
#define RXQ      0
#define TXQ      1
#define AREA_TX  (FD_DATA_BASE)             /* tx headers and payloads */
#define AREA_RX  (FD_DATA_BASE + 0x10000)   /* rx buffers: 16 slots of 0x1000 */
#define NCLI     8

static struct fake_driver f;
static char dir[64], uds[108];
static uint32_t rx_writable[QS];
static uint16_t rx_checked, tx_posted;

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void check_rx(void)
{
	uint16_t used = fd_used_idx(&f, RXQ);

	for (; rx_checked != used; rx_checked++) {
		struct virtq_used_elem e = fd_used_elem(&f, RXQ, rx_checked);
		struct vsock_hdr h;

		FZ_CHECK(e.id < QS);
		FZ_CHECK(e.len <= rx_writable[e.id]);
		if (e.len < VSOCK_HDR_LEN) {
			FZ_CHECK(e.len == 0);
			continue;
		}
		/* The header went to the chain's first writable bytes: slot e.id's first segment. */
		memcpy(&h, fd_host(&f, AREA_RX + (uint64_t)e.id * 0x1000, VSOCK_HDR_LEN), sizeof(h));
		FZ_CHECK(h.src_cid == VSOCK_HOST_CID && h.dst_cid == CID);
		FZ_CHECK(h.type == VSOCK_TYPE_STREAM);
		FZ_CHECK(h.op >= VSOCK_OP_REQUEST && h.op <= VSOCK_OP_CREDIT_UPDATE);
		FZ_CHECK(h.len == e.len - VSOCK_HDR_LEN && h.len <= VSOCK_MAX_PAYLOAD);
		FZ_CHECK(h.op == VSOCK_OP_RW || h.len == 0);
	}
}

static bool wait_tx(void)
{
	for (int i = 0; i < 50000; i++) {
		if (fd_used_idx(&f, TXQ) == tx_posted)
			return true;
		/* Well-formed chains only here: a reset request would be the device's bug. */
		FZ_CHECK(!(fd_rd(&f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
		usleep(100);
	}
	FZ_CHECK(!"the device kept a tx chain 5 s");
	return false;
}

static void driver_up(void)
{
	FZ_CHECK((fd_init(&f, 3, QS, 0) & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) ==
		 VIRTIO_STATUS_DRIVER_OK);
	rx_checked = tx_posted = 0;
	memset(rx_writable, 0, sizeof(rx_writable));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size, 0 };
	struct virtio_vsock_cfg cfg = { .guest_cid = CID };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct virtio_vsock *d;
	int cli[NCLI], acc[NCLI], ncli = 0, nacc = 0, lfd;
	uint8_t buf[2048];
	bool broken = false;

	if (!f.mem.base) {
		fz_logs_off();
		signal(SIGPIPE, SIG_IGN);   /* the harness's writes to clients mvm closed */
		FZ_CHECK(fd_setup(&f) == 0);
		strcpy(dir, "/tmp/mvm-fuzz-vsock-XXXXXX");
		FZ_CHECK(mkdtemp(dir));
		snprintf(uds, sizeof(uds), "%s/v", dir);
	}
	bus_free(&f.bus);
	bus_init(&f.bus, "mmio");
	cfg.uds_path = uds;
	FZ_CHECK(virtio_vsock_create(&d, &cfg, &f.mem) == 0);
	FZ_CHECK(virtio_vsock_attach(d, &f.env, FD_MMIO_BASE, 5) == 0);
	f.t = virtio_vsock_transport(d);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_1", uds);
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	FZ_CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 16) == 0);
	driver_up();

	for (int step = 0; step < 24 && in.off < in.len && !broken; step++) {
		uint8_t a = fz_u8(&in);
		int fd;

		switch (a % 7) {
		case 0: {   /* a tx packet */
			struct vsock_hdr h;
			uint16_t len = fz_u16(&in) % 2048, split = len ? fz_u16(&in) % (len + 1) : 0;
			struct fd_seg s[3] = {
				{ AREA_TX, VSOCK_HDR_LEN, false },
				{ AREA_TX + 0x1000, split, false },
				{ AREA_TX + 0x2000, (uint32_t)(len - split), false },
			};
			int n = 1;

			fz_bytes(&in, &h, sizeof(h));
			if (!(a & 0x10))
				h.src_cid = CID;
			if (!(a & 0x20))
				h.dst_cid = VSOCK_HOST_CID;
			if (!(a & 0x40))
				h.type = VSOCK_TYPE_STREAM;
			memcpy(fd_host(&f, AREA_TX, VSOCK_HDR_LEN), &h, sizeof(h));
			fz_bytes(&in, fd_host(&f, AREA_TX + 0x1000, 0x2000), len);
			memmove(fd_host(&f, AREA_TX + 0x2000, 0x1000),
				fd_host(&f, AREA_TX + 0x1000 + split, 0x1000), len - split);
			if (split)
				n = 2;
			if (len - split)
				s[n++] = s[2];
			if ((uint16_t)(tx_posted - fd_used_idx(&f, TXQ)) >= QS / 4)
				break;
			fd_add_chain(&f, TXQ, s, n);
			tx_posted++;
			fd_notify(&f, TXQ);
			broken = !wait_tx();
			break;
		}
		case 1: {   /* an rx buffer */
			uint8_t nseg = 1 + fz_u8(&in) % 3;
			struct fd_seg s[3];
			uint32_t w = 0;
			uint16_t head;

			if ((uint16_t)(f.q[RXQ].avail_idx - fd_used_idx(&f, RXQ)) >= QS / 3)
				break;   /* room: each chain takes up to 3 descriptors */
			for (int i = 0, nr = 0; i < nseg; i++) {
				uint16_t l = fz_u16(&in);
				struct fd_seg seg = { 0, (uint32_t)(l % 512) + 1, !(l & 0x8000) };

				/* Readable ones first, as the spec orders them (a readable
				 * segment still breaks the rx rules: returned unused). */
				if (!seg.writable) {
					memmove(&s[nr + 1], &s[nr], (size_t)(i - nr) * sizeof(s[0]));
					s[nr++] = seg;
				} else {
					s[i] = seg;
				}
			}
			/* The chain's id is its first descriptor: its slot of AREA_RX. */
			head = (uint16_t)(f.q[RXQ].next_desc % QS);
			for (int i = 0, off = 0; i < nseg; i++) {
				s[i].gpa = AREA_RX + (uint64_t)head * 0x1000 + (uint64_t)off;
				off += (int)s[i].len;
				if (s[i].writable)
					w += s[i].len;
			}
			/* All writable: the segments are contiguous, so check_rx reads
			 * a header split over them as one. */
			rx_writable[head] = w;
			fd_add_chain(&f, RXQ, s, nseg);
			fd_notify(&f, RXQ);
			break;
		}
		case 2:     /* a host client */
			if (ncli == NCLI || (fd = unix_connect(uds)) < 0)
				break;
			if (a & 0x10) {
				uint8_t n = fz_u8(&in) % 40;

				fz_bytes(&in, buf, n);
				(void)!write(fd, buf, n);
			} else {
				dprintf(fd, "CONNECT %u\n", fz_u8(&in));
			}
			cli[ncli++] = fd;
			break;
		case 3:     /* a host client writes */
			if (ncli) {
				uint8_t n = fz_u8(&in) % 200;

				fz_bytes(&in, buf, n);
				(void)!write(cli[fz_u8(&in) % ncli], buf, n);
			}
			break;
		case 4:     /* the guest-connected side: accept, write, read */
			if (nacc < NCLI && (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0)
				acc[nacc++] = fd;
			if (nacc) {
				uint8_t n = fz_u8(&in) % 200;

				fz_bytes(&in, buf, n);
				(void)!write(acc[nacc - 1], buf, n);
				(void)!read(acc[nacc - 1], buf, sizeof(buf));
			}
			break;
		case 5:     /* a client leaves */
			if (ncli)
				close(cli[--ncli]);
			break;
		case 6:     /* driver reset */
			fd_wr(&f, VIRTIO_MMIO_STATUS, 0);
			driver_up();
			break;
		}
		usleep(200);   /* let the worker run its socket events */
		check_rx();
	}
	FZ_CHECK(virtio_vsock_nr_conns(d) <= VSOCK_MAX_CONNS);
	check_rx();
	virtio_vsock_destroy(d);
	FZ_CHECK(access(uds, F_OK) < 0);
	while (ncli)
		close(cli[--ncli]);
	while (nacc)
		close(acc[--nacc]);
	close(lfd);
	unlink(sa.sun_path);
	return 0;
}
