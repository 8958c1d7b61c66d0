/* hcall.c - tiny-guest hypercall dispatcher: one port per call, a checked struct per call. */
#include "hcall/hcall.h"
#include "core/layout.h"
#include "util/log.h"
#include "util/upath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert(PORT_HCALL == MVM_HC_PORT_BASE && PORT_HCALL_LEN == MVM_HC_PORT_COUNT + 3,
	       "layout.h and mvm/abi.h disagree on the hypercall ports");

void hcall_cfg_init(struct hcall_cfg *cfg)
{
	*cfg = (struct hcall_cfg){ .console_fd = STDOUT_FILENO, .disk_fd = -1 };
}

int hcall_open_disk(struct hcall_cfg *cfg, const char *path, bool ro)
{
	char err[UPATH_ERR_MAX];
	struct upath_file f;
	int ret = upath_open(path, ro ? O_RDONLY : O_RDWR, UPATH_REG | UPATH_BLK, "--disk", &f,
			     err, sizeof(err));

	if (ret) {
		log_err("--disk %s: %s", path, err);
		return ret;
	}
	cfg->disk_fd = f.fd;
	cfg->disk_sectors = f.size / MVM_SECTOR_SIZE;
	cfg->disk_ro = ro;
	cfg->own_disk_fd = true;
	return 0;
}

void hcall_init(struct hcall *h, const struct hcall_cfg *cfg, const struct gmem *mem,
		struct vm_stopper stopper)
{
	memset(h, 0, sizeof(*h));
	h->cfg = *cfg;
	h->mem = mem;
	h->stopper = stopper;
}

int hcall_register(struct hcall *h, struct bus *pio)
{
	int ret = bus_add(pio, PORT_HCALL, PORT_HCALL_LEN, hcall_io, h, "hypercalls");

	if (ret) {
		log_err("registering the hypercall ports at %#x: %s", PORT_HCALL, strerror(-ret));
		return ret;
	}
	return h->cfg.net ? hcall_net_start(h->cfg.net) : 0;
}

void hcall_destroy(struct hcall *h)
{
	if (h->cfg.own_disk_fd && h->cfg.disk_fd >= 0)
		close(h->cfg.disk_fd);
	h->cfg.disk_fd = -1;
	h->cfg.own_disk_fd = false;
	hcall_net_destroy(h->cfg.net);
	h->cfg.net = NULL;
}

/* A guest range the guest's own ring-3 code may name: all RAM, and none of
 * mvm's supervisor-only pages (GDT, TSS, IDT, fault report, stub, page
 * tables). Ring 3 cannot touch those pages itself, so a hypercall must not
 * do it on its behalf (len 0 counts as 1 byte, like gmem_ptr). */
static void *hcall_guest_ptr(const struct hcall *h, uint64_t gpa, uint64_t len)
{
	uint64_t last = gpa + (len ? len : 1) - 1;

	if (last < gpa || (gpa < LAYOUT_R3_SYS_END && last >= LAYOUT_R3_SYS_START))
		return NULL;
	return gmem_ptr(h->mem, gpa, len);
}

/* A guest buffer, or NULL when [gpa, gpa+len) is not all RAM or overlaps
 * mvm's supervisor-only pages. */
static void *hcall_buf(const struct hcall *h, uint64_t gpa, uint64_t len)
{
	return hcall_guest_ptr(h, gpa, len);
}

static int64_t hc_console(struct hcall *h, void *arg)
{
	struct mvm_hc_console *a = arg;
	const uint8_t *buf;
	uint64_t done = 0;

	if (a->len == 0)
		return 0;
	if (a->len > MVM_CONSOLE_MAX)
		return -MVM_EINVAL;
	buf = hcall_buf(h, a->buf, a->len);
	if (!buf)
		return -MVM_EFAULT;
	while (done < a->len) {
		ssize_t n = write(h->cfg.console_fd, buf + done, a->len - done);

		/* EINTR is a stop kick: give up rather than block the vCPU. */
		if (n <= 0)
			return done ? (int64_t)done : -MVM_EIO;
		done += n;
	}
	return (int64_t)done;
}

static uint64_t hcall_clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int64_t hc_time(struct hcall *h, void *arg)
{
	struct mvm_hc_time *a = arg;

	a->mono_ns = hcall_clock_ns(CLOCK_MONOTONIC);
	a->wall_ns = hcall_clock_ns(CLOCK_REALTIME);
	return 0;
}

static int64_t hc_blkinfo(struct hcall *h, void *arg)
{
	struct mvm_hc_blkinfo *a = arg;

	if (h->cfg.disk_fd < 0)
		return -MVM_ENODEV;
	a->sectors = h->cfg.disk_sectors;
	a->sector_size = MVM_SECTOR_SIZE;
	a->read_only = h->cfg.disk_ro;
	return 0;
}

static int64_t hc_blkio(struct hcall *h, struct mvm_hc_blkio *a, bool write)
{
	uint64_t nsec, done = 0;
	uint8_t *buf;

	if (h->cfg.disk_fd < 0)
		return -MVM_ENODEV;
	if (write && h->cfg.disk_ro)
		return -MVM_EROFS;
	if (a->len == 0 || a->len > MVM_BLK_MAX || a->len % MVM_SECTOR_SIZE)
		return -MVM_EINVAL;
	nsec = a->len / MVM_SECTOR_SIZE;
	if (a->sector > h->cfg.disk_sectors || h->cfg.disk_sectors - a->sector < nsec)
		return -MVM_EINVAL;
	buf = hcall_buf(h, a->buf, a->len);
	if (!buf)
		return -MVM_EFAULT;
	while (done < a->len) {
		off_t off = (off_t)(a->sector * MVM_SECTOR_SIZE + done);
		ssize_t n = write ? pwrite(h->cfg.disk_fd, buf + done, a->len - done, off)
				  : pread(h->cfg.disk_fd, buf + done, a->len - done, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) /* an error, or the image shrank under us */
			return -MVM_EIO;
		done += n;
	}
	return (int64_t)done;
}

static int64_t hc_blkread(struct hcall *h, void *arg) { return hc_blkio(h, arg, false); }
static int64_t hc_blkwrite(struct hcall *h, void *arg) { return hc_blkio(h, arg, true); }

static int64_t hc_netinfo(struct hcall *h, void *arg)
{
	struct mvm_hc_netinfo *a = arg;

	if (!h->cfg.net)
		return -MVM_ENODEV;
	hcall_net_mac(h->cfg.net, a->mac);
	memset(a->pad, 0, sizeof(a->pad));
	a->mtu = HCALL_NET_MTU;
	return 0;
}

static int64_t hc_netwrite(struct hcall *h, void *arg)
{
	struct mvm_hc_netio *a = arg;
	const uint8_t *buf;
	int ret;

	if (!h->cfg.net)
		return -MVM_ENODEV;
	if (a->len < 14 || a->len > MVM_NET_MAX) /* at least an ethernet header */
		return -MVM_EINVAL;
	buf = hcall_buf(h, a->buf, a->len);
	if (!buf)
		return -MVM_EFAULT;
	ret = hcall_net_write(h->cfg.net, buf, a->len);
	if (ret == -EAGAIN)
		return -MVM_EAGAIN;
	return ret ? -MVM_EIO : (int64_t)a->len;
}

/* len is the buffer's size; only the first MVM_NET_MAX bytes can ever be
 * written, so only they must be RAM. */
static int64_t hc_netread(struct hcall *h, void *arg)
{
	struct mvm_hc_netio *a = arg;
	uint64_t cap = a->len < MVM_NET_MAX ? a->len : MVM_NET_MAX;
	uint8_t *buf;
	int ret;

	if (!h->cfg.net)
		return -MVM_ENODEV;
	if (cap == 0)
		return -MVM_EINVAL;
	buf = hcall_buf(h, a->buf, cap);
	if (!buf)
		return -MVM_EFAULT;
	ret = hcall_net_read(h->cfg.net, buf, cap);
	if (ret == -EAGAIN)
		return -MVM_EAGAIN;
	if (ret < 0) /* -EMSGSIZE: the waiting frame is longer than the buffer; it stays */
		return -MVM_EINVAL;
	return ret;
}

static int64_t hc_exit(struct hcall *h, void *arg)
{
	struct mvm_hc_exit *a = arg;

	log_debug_rl("guest asked to exit with status %llu", (unsigned long long)a->status);
	vm_stopper_request_exit(&h->stopper, (int)(a->status & 0xff));
	return 0;
}

static const char *const hcall_vector_names[32] = {
	"#DE (divide error)", "#DB (debug)", "NMI", "#BP (breakpoint)", "#OF (overflow)",
	"#BR (bound range)", "#UD (invalid opcode)", "#NM (device not available)",
	"#DF (double fault)", "coprocessor segment overrun", "#TS (invalid TSS)",
	"#NP (segment not present)", "#SS (stack fault)", "#GP (general protection)",
	"#PF (page fault)", "vector 15", "#MF (x87 error)", "#AC (alignment check)",
	"#MC (machine check)", "#XM (SIMD error)", "#VE", "#CP (control protection)",
};

/* The ring-0 stub stored the report in mvm's supervisor page; the OUT's
 * value is ignored, so a ring-3 guest cannot make mvm read its own forgery. */
static void hcall_fault(struct hcall *h)
{
	struct mvm_fault_report r;
	const char *name;
	char pf[128] = "";

	if (atomic_exchange(&h->faulted, true))
		return;
	if (gmem_read(h->mem, LAYOUT_R3_FAULT_REPORT, &r, sizeof(r)))
		memset(&r, 0, sizeof(r));
	name = r.vector < 32 && hcall_vector_names[r.vector] ? hcall_vector_names[r.vector] : "exception";
	if (r.vector == 14)
		snprintf(pf, sizeof(pf), " (%s %s a %s page)", r.error_code & 4 ? "user" : "supervisor",
			 r.error_code & 0x10 ? "fetch from" : r.error_code & 2 ? "write to" : "read from",
			 r.error_code & 1 ? "supervisor-only" : "not-present");
	log_err_rl("guest fault: %s at RIP 0x%llx CR2 0x%llx error 0x%llx%s; RSP 0x%llx CS 0x%llx "
		   "RFLAGS 0x%llx", name, (unsigned long long)r.rip, (unsigned long long)r.cr2,
		   (unsigned long long)r.error_code, pf, (unsigned long long)r.rsp,
		   (unsigned long long)r.cs, (unsigned long long)r.rflags);
	vm_stopper_request_exit(&h->stopper, MVM_EXIT_CRASH);
}

struct hcall_op {
	int64_t (*fn)(struct hcall *h, void *arg);
	uint32_t size;
};

static const struct hcall_op hcall_ops[MVM_HC_PORT_COUNT] = {
	[MVM_HC_CONSOLE]  = { hc_console,  sizeof(struct mvm_hc_console) },
	[MVM_HC_TIME]     = { hc_time,     sizeof(struct mvm_hc_time) },
	[MVM_HC_BLKINFO]  = { hc_blkinfo,  sizeof(struct mvm_hc_blkinfo) },
	[MVM_HC_BLKREAD]  = { hc_blkread,  sizeof(struct mvm_hc_blkio) },
	[MVM_HC_BLKWRITE] = { hc_blkwrite, sizeof(struct mvm_hc_blkio) },
	[MVM_HC_NETINFO]  = { hc_netinfo,  sizeof(struct mvm_hc_netinfo) },
	[MVM_HC_NETWRITE] = { hc_netwrite, sizeof(struct mvm_hc_netio) },
	[MVM_HC_NETREAD]  = { hc_netread,  sizeof(struct mvm_hc_netio) },
	[MVM_HC_EXIT]     = { hc_exit,     sizeof(struct mvm_hc_exit) },
};

#define HCALL_MAX_STRUCT 64
_Static_assert(sizeof(struct mvm_hc_console) <= HCALL_MAX_STRUCT &&
	       sizeof(struct mvm_hc_blkio) <= HCALL_MAX_STRUCT &&
	       sizeof(struct mvm_hc_netinfo) <= HCALL_MAX_STRUCT, "argument struct too big");

void hcall_dispatch(struct hcall *h, uint32_t nr, uint64_t gpa)
{
	uint64_t arg[HCALL_MAX_STRUCT / 8];
	const struct hcall_op *op;
	void *g;
	int64_t ret;

	atomic_fetch_add(&h->calls, 1);
	if (nr == MVM_HC_FAULT) {
		hcall_fault(h);
		return;
	}
	op = nr < MVM_HC_PORT_COUNT ? &hcall_ops[nr] : NULL; /* 16..18: the 4-byte tail */
	if (!op || !op->fn) {
		/* Unknown call: say so in ret when there is a ret to write. */
		int64_t nosys = -MVM_ENOSYS;

		atomic_fetch_add(&h->bad_structs, 1);
		g = hcall_guest_ptr(h, gpa, sizeof(nosys));
		if (g)
			memcpy(g, &nosys, sizeof(nosys));
		return;
	}
	g = hcall_guest_ptr(h, gpa, op->size);
	if (!g) {
		atomic_fetch_add(&h->bad_structs, 1);
		log_debug_rl("hypercall %u: argument struct at 0x%llx is not in RAM; ignored", nr,
			     (unsigned long long)gpa);
		return;
	}
	/* Work on a copy: another vCPU may rewrite the struct meanwhile. */
	memcpy(arg, g, op->size);
	ret = op->fn(h, arg);
	memcpy(arg, &ret, sizeof(ret));
	memcpy(g, arg, op->size);
}

void hcall_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct hcall *h = opaque;
	uint32_t gpa;

	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	if (len != 4) {
		atomic_fetch_add(&h->bad_structs, 1);
		return;
	}
	memcpy(&gpa, data, 4);
	hcall_dispatch(h, (uint32_t)offset, gpa);
}
