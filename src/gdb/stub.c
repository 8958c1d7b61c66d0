/* stub.c - the GDB remote protocol's commands: registers, memory by virtual address,
 * breakpoints, threads, resume and stop replies, over struct gdb_target_ops. */
#include "gdb/stub.h"
#include "gdb/stub_priv.h"
#include "gdb/walk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define INT3 0xcc
#define MEM_MAX ((GDB_PACKET_MAX - 4) / 2)   /* bytes an 'm' reply can carry */

void gdb_stub_init(struct gdb_stub *s, const struct gdb_target_ops *ops, void *t, int nr_cpus)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->t = t;
	s->nr_cpus = nr_cpus;
	s->cached_cpu = -1;
	snprintf(s->stop_reply, sizeof(s->stop_reply), "T05thread:1;");
}

static enum gdb_result reply(struct gdb_stub *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s->reply, sizeof(s->reply), fmt, ap);
	va_end(ap);
	s->reply_len = n < 0 ? 0 : (size_t)n < sizeof(s->reply) ? (size_t)n : sizeof(s->reply) - 1;
	return GDB_REPLY;
}

static enum gdb_result reply_err(struct gdb_stub *s, int err)
{
	return reply(s, "E%02x", (unsigned)(err < 0 ? -err : err) & 0xff);
}

/* ---- registers ------------------------------------------------------------------------------ */

static struct gdb_regs *regs_of(struct gdb_stub *s, int cpu)
{
	if (s->cached_cpu != cpu) {
		s->cached_cpu = -1;
		if (s->ops->get_regs(s->t, cpu, &s->regs))
			return NULL;
		s->cached_cpu = cpu;
	}
	return &s->regs;
}

static int regs_put(struct gdb_stub *s, int cpu, const struct gdb_regs *r)
{
	int ret = s->ops->set_regs(s->t, cpu, r);

	s->cached_cpu = -1;   /* KVM may have refused or adjusted some: read them again */
	return ret;
}

static enum gdb_result cmd_g(struct gdb_stub *s)
{
	struct gdb_regs *r = regs_of(s, s->g_cpu);
	size_t n = 0;

	if (!r)
		return reply_err(s, EIO);
	for (int i = 0; i < GDB_NR_REGS; i++) {
		gdb_hex_encode(s->reply + n, (const uint8_t *)r + gdb_reg_slots[i].off,
			       gdb_reg_slots[i].size);
		n += 2u * gdb_reg_slots[i].size;
	}
	s->reply_len = n;
	return GDB_REPLY;
}

static enum gdb_result cmd_G(struct gdb_stub *s, const char *hex, size_t len)
{
	struct gdb_regs r;
	size_t n = 0;

	if (len != 2 * GDB_REGS_BYTES || !regs_of(s, s->g_cpu))
		return reply_err(s, EINVAL);
	r = s->regs;
	for (int i = 0; i < GDB_NR_REGS; i++) {
		if (gdb_hex_decode((uint8_t *)&r + gdb_reg_slots[i].off, hex + n,
				   gdb_reg_slots[i].size))
			return reply_err(s, EINVAL);
		n += 2u * gdb_reg_slots[i].size;
	}
	return regs_put(s, s->g_cpu, &r) ? reply_err(s, EIO) : reply(s, "OK");
}

static enum gdb_result cmd_p(struct gdb_stub *s, const char *arg)
{
	uint64_t n;
	struct gdb_regs *r;

	if (gdb_parse_hex(&arg, &n) || *arg || n >= GDB_NR_REGS)
		return reply_err(s, EINVAL);
	if (!(r = regs_of(s, s->g_cpu)))
		return reply_err(s, EIO);
	gdb_hex_encode(s->reply, (const uint8_t *)r + gdb_reg_slots[n].off, gdb_reg_slots[n].size);
	s->reply_len = 2u * gdb_reg_slots[n].size;
	return GDB_REPLY;
}

static enum gdb_result cmd_P(struct gdb_stub *s, const char *arg)
{
	uint64_t n;
	struct gdb_regs r;

	if (gdb_parse_hex(&arg, &n) || *arg++ != '=' || n >= GDB_NR_REGS ||
	    strlen(arg) != 2u * gdb_reg_slots[n].size)
		return reply_err(s, EINVAL);
	if (!regs_of(s, s->g_cpu))
		return reply_err(s, EIO);
	r = s->regs;
	if (gdb_hex_decode((uint8_t *)&r + gdb_reg_slots[n].off, arg, gdb_reg_slots[n].size))
		return reply_err(s, EINVAL);
	return regs_put(s, s->g_cpu, &r) ? reply_err(s, EIO) : reply(s, "OK");
}

/* ---- memory ----------------------------------------------------------------------------------- */

static int read_phys(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct gdb_stub *s = ctx;

	return s->ops->read_phys(s->t, gpa, buf, len);
}

static int translate(struct gdb_stub *s, uint64_t va, uint64_t *pa, uint64_t *room)
{
	struct gdb_regs *r = regs_of(s, s->g_cpu);
	struct gdb_paging pg;

	if (!r)
		return -EIO;
	pg = (struct gdb_paging){ .cr0 = r->cr0, .cr3 = r->cr3, .cr4 = r->cr4, .efer = r->efer };
	return gdb_walk(&pg, va, read_phys, s, pa, room);
}

int gdb_stub_read_virt(struct gdb_stub *s, uint64_t va, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		uint64_t pa, room;
		size_t n;

		if (translate(s, va + done, &pa, &room))
			break;
		n = len - done < room ? len - done : (size_t)room;
		if (s->ops->read_phys(s->t, pa, buf + done, n))
			break;
		/* Show the bytes our int3s replaced. */
		for (int i = 0; i < s->nr_sw; i++)
			if (s->sw[i].pa >= pa && s->sw[i].pa - pa < n)
				buf[done + (s->sw[i].pa - pa)] = s->sw[i].orig;
		done += n;
	}
	return done ? (int)done : -EFAULT;
}

/* Write guest-virtual memory; a byte under one of our int3s becomes its new original. */
static int write_virt(struct gdb_stub *s, uint64_t va, const uint8_t *buf, size_t len)
{
	static const uint8_t int3 = INT3;
	size_t done = 0;

	while (done < len) {
		uint64_t pa, room;
		size_t n;

		if (translate(s, va + done, &pa, &room))
			return -EFAULT;
		n = len - done < room ? len - done : (size_t)room;
		if (s->ops->write_phys(s->t, pa, buf + done, n))
			return -EFAULT;
		for (int i = 0; i < s->nr_sw; i++) {
			if (s->sw[i].pa >= pa && s->sw[i].pa - pa < n) {
				s->sw[i].orig = buf[done + (s->sw[i].pa - pa)];
				s->ops->write_phys(s->t, s->sw[i].pa, &int3, 1);
			}
		}
		done += n;
	}
	return 0;
}

/* "ADDR,LEN" then the character end (':' or NUL); len at most max. */
static int parse_addr_len(const char **p, uint64_t *addr, uint64_t *len, uint64_t max)
{
	if (gdb_parse_hex(p, addr) || *(*p)++ != ',' || gdb_parse_hex(p, len) || *len > max)
		return -1;
	return 0;
}

static enum gdb_result cmd_m(struct gdb_stub *s, const char *arg)
{
	uint8_t buf[MEM_MAX];
	uint64_t addr, len;
	int n;

	if (parse_addr_len(&arg, &addr, &len, MEM_MAX) || *arg)
		return reply_err(s, EINVAL);
	if (len == 0)
		return reply(s, "");
	n = gdb_stub_read_virt(s, addr, buf, (size_t)len);
	if (n < 0)
		return reply_err(s, EFAULT);
	gdb_hex_encode(s->reply, buf, (size_t)n);
	s->reply_len = 2u * (size_t)n;
	return GDB_REPLY;
}

/* M (hex) and X (binary) writes. */
static enum gdb_result cmd_write(struct gdb_stub *s, const char *arg, size_t len, bool binary)
{
	uint8_t buf[GDB_PACKET_MAX];
	const char *data, *end = arg + len;
	uint64_t addr, n;

	if (parse_addr_len(&arg, &addr, &n, sizeof(buf)) || *arg++ != ':')
		return reply_err(s, EINVAL);
	data = arg;
	if (binary) {
		if (gdb_unescape(buf, sizeof(buf), data, (size_t)(end - data)) != (int)n)
			return reply_err(s, EINVAL);
	} else if ((size_t)(end - data) != 2 * n || gdb_hex_decode(buf, data, (size_t)n)) {
		return reply_err(s, EINVAL);
	}
	if (n && write_virt(s, addr, buf, (size_t)n))
		return reply_err(s, EFAULT);
	return reply(s, "OK");
}

/* ---- breakpoints -------------------------------------------------------------------------------- */

static int sw_find(struct gdb_stub *s, uint64_t va)
{
	for (int i = 0; i < s->nr_sw; i++)
		if (s->sw[i].va == va)
			return i;
	return -1;
}

static int sw_insert(struct gdb_stub *s, uint64_t va)
{
	static const uint8_t int3 = INT3;
	struct gdb_swbp bp = { .va = va };
	uint64_t room;

	if (sw_find(s, va) >= 0)
		return 0;
	if (s->nr_sw == GDB_MAX_SWBP)
		return -ENOSPC;
	if (translate(s, va, &bp.pa, &room) || s->ops->read_phys(s->t, bp.pa, &bp.orig, 1))
		return -EFAULT;
	for (int i = 0; i < s->nr_sw; i++)
		if (s->sw[i].pa == bp.pa)   /* another address of the same byte: keep its original */
			bp.orig = s->sw[i].orig;
	if (s->ops->write_phys(s->t, bp.pa, &int3, 1))
		return -EFAULT;
	s->sw[s->nr_sw++] = bp;
	return 0;
}

static void sw_remove_at(struct gdb_stub *s, int i)
{
	bool shared = false;

	for (int j = 0; j < s->nr_sw; j++)
		if (j != i && s->sw[j].pa == s->sw[i].pa)
			shared = true;
	if (!shared)
		s->ops->write_phys(s->t, s->sw[i].pa, &s->sw[i].orig, 1);
	s->sw[i] = s->sw[--s->nr_sw];
}

static int hw_insert(struct gdb_stub *s, int type, uint64_t addr, uint64_t len)
{
	int free_slot = -1;

	if (type == 1)
		len = 1;
	else if ((len != 1 && len != 2 && len != 4 && len != 8) || (addr & (len - 1)))
		return -EINVAL;   /* x86 watches 1, 2, 4 or 8 aligned bytes */
	for (int i = GDB_NR_HWBP - 1; i >= 0; i--) {
		if (s->hw[i].used && s->hw[i].type == type && s->hw[i].addr == addr &&
		    s->hw[i].len == len)
			return 0;
		if (!s->hw[i].used)
			free_slot = i;
	}
	if (free_slot < 0)
		return -ENOSPC;
	s->hw[free_slot] = (struct gdb_hwbp){ .used = true, .type = type, .addr = addr,
					      .len = (unsigned)len };
	return 0;
}

static void hw_remove(struct gdb_stub *s, int type, uint64_t addr)
{
	for (int i = 0; i < GDB_NR_HWBP; i++)
		if (s->hw[i].used && s->hw[i].type == type && s->hw[i].addr == addr)
			s->hw[i].used = false;
}

void gdb_stub_debug(const struct gdb_stub *s, struct gdb_debug *dbg)
{
	memset(dbg, 0, sizeof(*dbg));
	dbg->step_cpu = -1;
	dbg->dr7 = 1ull << 10;   /* reserved, reads as 1 */
	for (int i = 0; i < GDB_NR_HWBP; i++) {
		const struct gdb_hwbp *h = &s->hw[i];
		/* R/W: 00 execute, 01 write, 11 read or write (x86 has no read-only);
		 * LEN: 00 1 byte, 01 2, 11 4, 10 8. */
		uint64_t rw = h->type == 1 ? 0 : h->type == 2 ? 1 : 3;
		uint64_t ln = h->type == 1 || h->len == 1 ? 0 : h->len == 2 ? 1 : h->len == 4 ? 3 : 2;

		if (!h->used)
			continue;
		dbg->hw = true;
		dbg->dr[i] = h->addr;
		dbg->dr7 |= (1ull << (2 * i)) | rw << (16 + 4 * i) | ln << (18 + 4 * i);
	}
}

static enum gdb_result cmd_z(struct gdb_stub *s, const char *arg, bool insert)
{
	uint64_t type, addr, kind;
	int ret = 0, i;

	if (gdb_parse_hex(&arg, &type) || type > 4 || *arg++ != ',' ||
	    gdb_parse_hex(&arg, &addr) || *arg++ != ',' || gdb_parse_hex(&arg, &kind) ||
	    (*arg && *arg != ';'))
		return reply_err(s, EINVAL);
	if (type == 0) {
		if (insert)
			ret = sw_insert(s, addr);
		else if ((i = sw_find(s, addr)) >= 0)
			sw_remove_at(s, i);
	} else if (insert) {
		ret = hw_insert(s, (int)type, addr, kind);
	} else {
		hw_remove(s, (int)type, addr);
	}
	return ret ? reply_err(s, ret) : reply(s, "OK");
}

void gdb_stub_clear(struct gdb_stub *s)
{
	while (s->nr_sw)
		sw_remove_at(s, s->nr_sw - 1);
	memset(s->hw, 0, sizeof(s->hw));
}

/* ---- threads, resume, stop ------------------------------------------------------------------------ */

/* A thread id: -1 (all), 0 (any) or 1..nr_cpus; *cpu gets the vCPU index (-1: all/any). */
static int parse_tid(struct gdb_stub *s, const char **p, int *cpu)
{
	uint64_t v;

	if ((*p)[0] == '-' && (*p)[1] == '1') {
		*p += 2;
		*cpu = -1;
		return 0;
	}
	if (gdb_parse_hex(p, &v) || v > (uint64_t)s->nr_cpus)
		return -1;
	*cpu = (int)v - 1;
	return 0;
}

static enum gdb_result cmd_H(struct gdb_stub *s, const char *arg)
{
	char which = *arg++;
	int cpu;

	if ((which != 'g' && which != 'c') || parse_tid(s, &arg, &cpu) || *arg)
		return reply_err(s, EINVAL);
	if (which == 'g')
		s->g_cpu = cpu < 0 ? s->g_cpu : cpu;
	else
		s->c_cpu = cpu;
	return reply(s, "OK");
}

static enum gdb_result resume(struct gdb_stub *s, int step_cpu)
{
	struct gdb_debug dbg;

	gdb_stub_debug(s, &dbg);
	dbg.step_cpu = step_cpu;
	s->cached_cpu = -1;
	if (s->ops->resume(s->t, &dbg))
		return reply_err(s, EIO);
	return GDB_RESUMED;
}

/* c/s/C/S with an optional "[sig;]addr" to resume from. */
static enum gdb_result cmd_resume(struct gdb_stub *s, char cmd, const char *arg)
{
	bool step = cmd == 's' || cmd == 'S';
	int cpu = step ? (s->c_cpu >= 0 ? s->c_cpu : s->g_cpu) : s->g_cpu;
	uint64_t v;

	if (cmd == 'C' || cmd == 'S') {   /* the signal means nothing to a VM */
		if (gdb_parse_hex(&arg, &v))
			return reply_err(s, EINVAL);
		if (*arg == ';')
			arg++;
		else if (*arg)
			return reply_err(s, EINVAL);
	}
	if (*arg) {
		struct gdb_regs r;

		if (gdb_parse_hex(&arg, &v) || *arg || !regs_of(s, cpu))
			return reply_err(s, EINVAL);
		r = s->regs;
		r.rip = v;
		if (regs_put(s, cpu, &r))
			return reply_err(s, EIO);
	}
	return resume(s, step ? cpu : -1);
}

/* vCont;ACTION[:TID][;ACTION[:TID]]...: only 's' with a thread matters here (the others run). */
static enum gdb_result cmd_vcont(struct gdb_stub *s, const char *arg)
{
	int step_cpu = -1;

	if (!strcmp(arg, "?"))
		return reply(s, "vCont;c;C;s;S");
	while (*arg == ';') {
		char a = *++arg;
		uint64_t sig;
		int cpu = -1;

		if (a != 'c' && a != 's' && a != 'C' && a != 'S')
			return reply_err(s, EINVAL);
		arg++;
		if ((a == 'C' || a == 'S') && gdb_parse_hex(&arg, &sig))
			return reply_err(s, EINVAL);
		if (*arg == ':') {
			arg++;
			if (parse_tid(s, &arg, &cpu))
				return reply_err(s, EINVAL);
		}
		if ((a == 's' || a == 'S') && step_cpu < 0)
			step_cpu = cpu >= 0 ? cpu : s->g_cpu;
	}
	if (*arg)
		return reply_err(s, EINVAL);
	return resume(s, step_cpu);
}

bool gdb_stub_stopped(struct gdb_stub *s, const struct gdb_stop_info *st)
{
	static const char *const watch_names[] = { [2] = "watch", [3] = "rwatch", [4] = "awatch" };
	int cpu = st->cpu >= 0 && st->cpu < s->nr_cpus ? st->cpu : 0;
	int sig = st->why == GDB_STOP_INTERRUPT ? 2 : 5;
	char extra[48] = "";

	s->cached_cpu = -1;
	if (st->why == GDB_STOP_DEBUG && st->exception == 3 && sw_find(s, st->pc) < 0) {
		/* Not one of ours now. If an int3 is still there it is the guest's own (Linux
		 * patches code with them): hand it back. If not, it was ours, hit by a second
		 * vCPU before the client removed it: the vCPU is still at that address and
		 * runs the original instruction when resumed. */
		struct gdb_debug dbg;
		uint8_t byte = 0;
		int g = s->g_cpu;

		s->g_cpu = cpu;
		bool guests = gdb_stub_read_virt(s, st->pc, &byte, 1) == 1 && byte == INT3;

		s->g_cpu = g;
		gdb_stub_debug(s, &dbg);
		if ((!guests || !s->ops->inject_bp(s->t, cpu)) && !s->ops->resume(s->t, &dbg))
			return false;
	}
	if (st->why == GDB_STOP_DEBUG && st->exception == 1) {
		for (int i = 0; i < GDB_NR_HWBP; i++) {
			const struct gdb_hwbp *h = &s->hw[i];

			if ((st->dr6 & (1ull << i)) && h->used && h->type >= 2) {
				snprintf(extra, sizeof(extra), "%s:%llx;", watch_names[h->type],
					 (unsigned long long)h->addr);
				break;
			}
		}
	}
	s->g_cpu = s->c_cpu = cpu;
	snprintf(s->stop_reply, sizeof(s->stop_reply), "T%02x%sthread:%x;", sig, extra, cpu + 1);
	reply(s, "%s", s->stop_reply);
	return true;
}

/* ---- queries ------------------------------------------------------------------------------------- */

static enum gdb_result cmd_xfer_features(struct gdb_stub *s, const char *arg)
{
	static const char prefix[] = "target.xml:";
	size_t total = strlen(gdb_stub_target_xml);
	uint64_t off, len;

	if (strncmp(arg, prefix, sizeof(prefix) - 1))
		return reply_err(s, ENOENT);
	arg += sizeof(prefix) - 1;
	if (parse_addr_len(&arg, &off, &len, UINT64_MAX) || *arg)
		return reply_err(s, EINVAL);
	if (off >= total)
		return reply(s, "l");
	if (len > GDB_PACKET_MAX - 2)
		len = GDB_PACKET_MAX - 2;
	if (len > total - off)
		len = total - off;
	s->reply[0] = off + len < total ? 'm' : 'l';
	memcpy(s->reply + 1, gdb_stub_target_xml + off, (size_t)len);
	s->reply_len = 1 + (size_t)len;
	return GDB_REPLY;
}

static enum gdb_result cmd_thread_info(struct gdb_stub *s)
{
	size_t n = 0;

	s->reply[n++] = 'm';
	for (int i = 0; i < s->nr_cpus && n + 4 < sizeof(s->reply); i++)
		n += (size_t)snprintf(s->reply + n, sizeof(s->reply) - n, "%s%x", i ? "," : "",
				      i + 1);
	s->reply_len = n;
	return GDB_REPLY;
}

static enum gdb_result cmd_extra_info(struct gdb_stub *s, const char *arg)
{
	char text[32];
	int cpu;

	if (parse_tid(s, &arg, &cpu) || *arg || cpu < 0)
		return reply_err(s, EINVAL);
	snprintf(text, sizeof(text), "vCPU %d", cpu);
	gdb_hex_encode(s->reply, (const uint8_t *)text, strlen(text));
	s->reply_len = 2 * strlen(text);
	return GDB_REPLY;
}

static enum gdb_result cmd_query(struct gdb_stub *s, const char *q)
{
	if (!strncmp(q, "qSupported", 10))
		return reply(s, "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;vContSupported+",
			     GDB_PACKET_MAX);
	if (!strncmp(q, "qXfer:features:read:", 20))
		return cmd_xfer_features(s, q + 20);
	if (!strcmp(q, "QStartNoAckMode")) {
		s->no_ack = true;
		return reply(s, "OK");
	}
	if (!strcmp(q, "qfThreadInfo"))
		return cmd_thread_info(s);
	if (!strcmp(q, "qsThreadInfo"))
		return reply(s, "l");
	if (!strcmp(q, "qC"))
		return reply(s, "QC%x", s->g_cpu + 1);
	if (!strncmp(q, "qThreadExtraInfo,", 17))
		return cmd_extra_info(s, q + 17);
	if (!strncmp(q, "qAttached", 9))
		return reply(s, "1");
	if (!strncmp(q, "qSymbol", 7))
		return reply(s, "OK");
	return reply(s, "");   /* not supported */
}

enum gdb_result gdb_stub_handle(struct gdb_stub *s, const char *pkt, size_t len)
{
	const char *arg = pkt + 1;
	int cpu;

	if (len == 0 || strlen(pkt) != len) {
		/* An empty packet, or a NUL inside one (only X carries binary). */
		if (len == 0 || pkt[0] != 'X')
			return reply(s, "");
	}
	switch (pkt[0]) {
	case '?':
		return reply(s, "%s", s->stop_reply);
	case 'g':
		return len == 1 ? cmd_g(s) : reply_err(s, EINVAL);
	case 'G':
		return cmd_G(s, arg, len - 1);
	case 'p':
		return cmd_p(s, arg);
	case 'P':
		return cmd_P(s, arg);
	case 'm':
		return cmd_m(s, arg);
	case 'M':
		return cmd_write(s, arg, len - 1, false);
	case 'X':
		return cmd_write(s, arg, len - 1, true);
	case 'Z':
		return cmd_z(s, arg, true);
	case 'z':
		return cmd_z(s, arg, false);
	case 'H':
		return cmd_H(s, arg);
	case 'T':
		return parse_tid(s, &arg, &cpu) || *arg || cpu < 0 ? reply_err(s, ESRCH)
								   : reply(s, "OK");
	case 'c': case 's': case 'C': case 'S':
		return cmd_resume(s, pkt[0], arg);
	case 'D':
		gdb_stub_clear(s);
		reply(s, "OK");
		return GDB_DETACHED;
	case 'k':
		gdb_stub_clear(s);
		s->ops->kill(s->t);
		return GDB_KILLED;
	case 'q': case 'Q':
		return cmd_query(s, pkt);
	case 'v':
		if (!strncmp(pkt, "vCont", 5))
			return cmd_vcont(s, pkt + 5);
		if (!strncmp(pkt, "vKill", 5)) {
			gdb_stub_clear(s);
			s->ops->kill(s->t);
			reply(s, "OK");
			return GDB_KILLED;
		}
		return reply(s, "");
	default:
		return reply(s, "");
	}
}
