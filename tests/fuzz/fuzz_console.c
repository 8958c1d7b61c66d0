/* fuzz_console.c - libFuzzer target for virtio-console (src/virtio/console.c):
 * transmit chains a hostile driver posts (guest output) and receive chains
 * it offers for host input, through the real MMIO transport and worker.
 *
 * Input: [ntx: 1 byte][nrx: 1 byte][host input length: le16], then for each
 * tx chain and then each rx chain: [nseg: 1 byte] and per segment
 * [offset: le16][len: le16][writable: 1 byte, 0xff = yes]; then the host
 * input bytes (up to VIRTIO_CONSOLE_RX_BUF); the rest fills the data area
 * the segments point into. Each input makes a fresh device writing to a
 * memfd (a regular file: writes never block). Checked, from console.h:
 *  - the device returns every tx chain, and every rx chain while input is
 *    staged, or asks for a reset; it never hangs (5 s);
 *  - the output file is exactly the readable bytes of the returned tx
 *    chains, in order (writable segments ignored); every tx chain comes
 *    back with used length 0;
 *  - an rx chain with a readable segment comes back empty; the others
 *    carry at most their writable room, and all of them together are the
 *    staged input from its start, in order, with nothing lost: what was
 *    not delivered is still staged for the next buffers (compared byte by
 *    byte where no later buffer overwrote them: the driver may offer
 *    overlapping buffers).
 *
 * Run: build/fuzz/fuzz_console tests/fuzz/corpus/console
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "virtio/console.h"
#include "virtio_fake_driver.h"

#define RXQ     0
#define TXQ     1
#define QSIZE   16
#define MAXC    4            /* chains per queue: 4 x 4 segments fill a queue */
#define AREA    0x20000      /* data area: FD_DATA_BASE + [0, AREA) */
#define TX_AREA FD_DATA_BASE
#define RX_AREA (FD_DATA_BASE + 0x40000)   /* rx buffers, apart from tx data */

struct plan {
	int n;
	struct fd_seg s[4];
};

static struct fake_driver f;
static int out_fd = -1;
static uint8_t expect_out[MAXC * 4 * 0xffff];
static uint8_t got_out[MAXC * 4 * 0xffff + 1];
static uint8_t host_in[VIRTIO_CONSOLE_RX_BUF];

static void read_plan(struct fz_in *in, struct plan *p, uint64_t base)
{
	p->n = 1 + fz_u8(in) % 4;
	for (int i = 0; i < p->n; i++) {
		uint16_t off = fz_u16(in), len = fz_u16(in);

		p->s[i] = (struct fd_seg){ base + off, len, fz_u8(in) == 0xff };
	}
}

static bool reset_asked(void)
{
	return fd_rd(&f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size, 0 };
	struct virtio_console_cfg cfg = { .cols = 80, .rows = 25 };
	struct virtio_console *d;
	struct plan tx[MAXC], rx[MAXC];
	uint16_t txh[MAXC], rxh[MAXC];
	int ntx, nrx;
	size_t nin, staged, expect_len = 0, delivered = 0;

	if (!f.mem.base) {
		fz_logs_off();
		FZ_CHECK(fd_setup(&f) == 0);
	}
	if (out_fd >= 0)
		close(out_fd);
	out_fd = memfd_create("fuzz-console-out", MFD_CLOEXEC);
	FZ_CHECK(out_fd >= 0);
	ntx = fz_u8(&in) % (MAXC + 1);
	nrx = fz_u8(&in) % (MAXC + 1);
	nin = fz_u16(&in) % (VIRTIO_CONSOLE_RX_BUF + 1);
	for (int c = 0; c < ntx; c++)
		read_plan(&in, &tx[c], TX_AREA);
	for (int c = 0; c < nrx; c++)
		read_plan(&in, &rx[c], RX_AREA);
	memset(host_in, 0, sizeof(host_in));
	fz_bytes(&in, host_in, in.len - in.off < nin ? in.len - in.off : nin);
	memset(fd_host(&f, FD_DATA_BASE, 0x80000), 0, 0x80000);
	fz_bytes(&in, fd_host(&f, TX_AREA, AREA), in.len - in.off < AREA ? in.len - in.off : AREA);

	bus_free(&f.bus);
	bus_init(&f.bus, "mmio");
	cfg.out_fd = out_fd;
	FZ_CHECK(virtio_console_create(&d, &cfg, &f.mem) == 0);
	FZ_CHECK(virtio_console_attach(d, &f.env, FD_MMIO_BASE, 6) == 0);
	f.t = virtio_console_transport(d);
	FZ_CHECK((fd_init(&f, 2, QSIZE, VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE)) &
		  (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) == VIRTIO_STATUS_DRIVER_OK);

	/* Guest output: what the file must hold if every chain comes back. */
	for (int c = 0; c < ntx; c++) {
		for (int i = 0; i < tx[c].n; i++)
			if (!tx[c].s[i].writable) {
				memcpy(expect_out + expect_len, fd_host(&f, tx[c].s[i].gpa, tx[c].s[i].len ? tx[c].s[i].len : 1),
				       tx[c].s[i].len);
				expect_len += tx[c].s[i].len;
			}
		txh[c] = fd_add_chain(&f, TXQ, tx[c].s, tx[c].n);
	}
	/* Host input is staged first, then the guest's buffers arrive. */
	staged = virtio_console_receive(d, host_in, nin);
	FZ_CHECK(staged == nin);
	for (int c = 0; c < nrx; c++)
		rxh[c] = fd_add_chain(&f, RXQ, rx[c].s, rx[c].n);
	fd_notify(&f, TXQ);
	fd_notify(&f, RXQ);

	/* Done: every tx chain back, and the rx side either out of buffers or
	 * out of input (then the remaining buffers stay with the device). */
	bool done = false;
	for (int i = 0; i < 50000 && !done; i++) {
		uint16_t ru = fd_used_idx(&f, RXQ);

		delivered = 0;
		for (uint16_t k = 0; k < ru; k++)
			delivered += fd_used_elem(&f, RXQ, k).len;
		done = reset_asked() ||
		       (fd_used_idx(&f, TXQ) == ntx && (ru == nrx || delivered == nin));
		if (!done)
			usleep(100);
	}
	FZ_CHECK(done);
	bool reset = reset_asked();
	virtio_console_destroy(d);   /* the worker stops: rings and file are still */

	/* Transmit: the returned chains' readable bytes, in order. */
	uint16_t tu = fd_used_idx(&f, TXQ);
	size_t want = 0;
	FZ_CHECK(tu <= ntx);
	for (uint16_t k = 0; k < tu; k++) {
		struct virtq_used_elem e = fd_used_elem(&f, TXQ, k);

		FZ_CHECK(e.id == txh[k] && e.len == 0);
		for (int i = 0; i < tx[k].n; i++)
			if (!tx[k].s[i].writable)
				want += tx[k].s[i].len;
	}
	ssize_t n = pread(out_fd, got_out, sizeof(got_out), 0);
	FZ_CHECK(n >= 0 && (size_t)n == want && !memcmp(got_out, expect_out, want));
	if (!reset)
		FZ_CHECK(tu == ntx);

	/* Receive: each used chain's bytes continue the input. */
	uint16_t ru = fd_used_idx(&f, RXQ);
	size_t pos = 0;
	FZ_CHECK(ru <= nrx);
	for (uint16_t k = 0; k < ru; k++) {
		struct virtq_used_elem e = fd_used_elem(&f, RXQ, k);
		bool readable = false;
		uint64_t room = 0, left;

		FZ_CHECK(e.id == rxh[k]);
		for (int i = 0; i < rx[k].n; i++) {
			if (rx[k].s[i].writable)
				room += rx[k].s[i].len;
			else
				readable = true;
		}
		FZ_CHECK(e.len <= room && (!readable || e.len == 0));
		left = e.len;
		/* The walk takes the writable segments in order; the data lands
		 * in each in turn (later segments may overlap earlier ones, and
		 * so may the segments of the chains used after this one, which
		 * were written later: only a chain whose segments overlap neither
		 * each other nor a later chain's writable ones is compared byte by
		 * byte). */
		bool disjoint = true;
		for (int i = 0; i < rx[k].n; i++) {
			for (int j = i + 1; j < rx[k].n; j++)
				if (rx[k].s[i].gpa < rx[k].s[j].gpa + rx[k].s[j].len &&
				    rx[k].s[j].gpa < rx[k].s[i].gpa + rx[k].s[i].len)
					disjoint = false;
			for (uint16_t k2 = k + 1; k2 < ru; k2++)
				for (int j = 0; j < rx[k2].n; j++)
					if (rx[k2].s[j].writable &&
					    rx[k].s[i].gpa < rx[k2].s[j].gpa + rx[k2].s[j].len &&
					    rx[k2].s[j].gpa < rx[k].s[i].gpa + rx[k].s[i].len)
						disjoint = false;
		}
		for (int i = 0; i < rx[k].n && left; i++) {
			uint64_t take;

			if (!rx[k].s[i].writable)
				continue;
			take = rx[k].s[i].len < left ? rx[k].s[i].len : left;
			if (disjoint && take)
				FZ_CHECK(!memcmp(fd_host(&f, rx[k].s[i].gpa, take), host_in + pos, take));
			pos += take;
			left -= take;
		}
		FZ_CHECK(left == 0);
	}
	FZ_CHECK(pos <= nin);
	if (!reset && ru < nrx)
		FZ_CHECK(pos == nin);   /* buffers left over: all input was delivered */
	return 0;
}
