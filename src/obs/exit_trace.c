/* exit_trace.c - `--trace-exits`: format one line per exit, under a token bucket. */
#include "obs/exit_trace.h"
#include "core/vcpu.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_TRACE_REPORT_NS 1000000000ull  /* "not traced" at most once a second */
#define EXIT_TRACE_ITEMS     4              /* string I/O: data of the first few items */

int exit_trace_init(struct exit_trace *t, uint64_t rate, int out_fd, uint64_t now_ns)
{
	memset(t, 0, sizeof(*t));
	if (!rate) {
		const char *env = getenv("MVM_TRACE_EXITS_RATE");
		char *end;

		rate = EXIT_TRACE_RATE;
		if (env && *env) {
			unsigned long long v = strtoull(env, &end, 10);

			if (*end || v == 0)
				return -EINVAL;
			rate = v;
		}
	}
	ratelimit_init(&t->bucket, rate, rate, now_ns);
	t->last_report_ns = now_ns;
	t->out_fd = out_fd;
	return -pthread_mutex_init(&t->lock, NULL);
}

/* size bytes at p as a little-endian number (sizes 1..8). */
static uint64_t exit_trace_value(const uint8_t *p, uint32_t size)
{
	uint64_t v = 0;

	for (uint32_t i = size; i-- > 0;)
		v = (v << 8) | p[i];
	return v;
}

/* A line under construction: appends stop at the end of the buffer. */
struct exit_trace_buf {
	char *p;
	size_t len, n;
};

__attribute__((format(printf, 2, 3)))
static void exit_trace_add(struct exit_trace_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (b->n + 1 >= b->len)
		return;
	va_start(ap, fmt);
	r = vsnprintf(b->p + b->n, b->len - b->n, fmt, ap);
	va_end(ap);
	if (r > 0)
		b->n = b->n + (size_t)r >= b->len ? b->len - 1 : b->n + (size_t)r;
}

static void exit_trace_io(struct exit_trace_buf *b, const struct kvm_run *run)
{
	/* data_offset and size come from KVM: the items lie inside the kvm_run page. */
	const uint8_t *data = (const uint8_t *)run + run->io.data_offset;
	uint32_t size = run->io.size > 8 ? 8 : run->io.size;

	exit_trace_add(b, " %s port 0x%04x size %u", run->io.direction == KVM_EXIT_IO_OUT ?
		       "out" : "in", run->io.port, run->io.size);
	if (run->io.count != 1)
		exit_trace_add(b, " count %u", run->io.count);
	exit_trace_add(b, " data");
	for (uint32_t i = 0; i < run->io.count && i < EXIT_TRACE_ITEMS; i++)
		exit_trace_add(b, " 0x%0*" PRIx64, 2 * (int)size,
			       exit_trace_value(data + (size_t)i * run->io.size, size));
	if (run->io.count > EXIT_TRACE_ITEMS)
		exit_trace_add(b, " ...");
}

int exit_trace_format(char *buf, size_t len, int vcpu, const struct kvm_run *run)
{
	struct exit_trace_buf b = { .p = buf, .len = len };
	const char *name = vcpu_exit_name(run->exit_reason);

	if (!len)
		return 0;
	buf[0] = '\0';
	if (name)
		exit_trace_add(&b, "exit vcpu%d %s", vcpu, name);
	else
		exit_trace_add(&b, "exit vcpu%d reason %u", vcpu, run->exit_reason);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		exit_trace_io(&b, run);
		break;
	case KVM_EXIT_MMIO: {
		uint32_t size = run->mmio.len > 8 ? 8 : run->mmio.len;

		exit_trace_add(&b, " %s %#" PRIx64 " size %u data 0x%0*" PRIx64,
			       run->mmio.is_write ? "write" : "read", (uint64_t)run->mmio.phys_addr,
			       run->mmio.len, 2 * (int)size, exit_trace_value(run->mmio.data, size));
		break;
	}
	case KVM_EXIT_SYSTEM_EVENT:
		exit_trace_add(&b, " type %u", run->system_event.type);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		exit_trace_add(&b, " suberror %u", run->internal.suberror);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		exit_trace_add(&b, " hardware reason %#llx",
			       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	}
	return (int)b.n;
}

static void exit_trace_write(struct exit_trace *t, const char *line, size_t len)
{
	/* One write per line: lines of several vCPUs never interleave. A full
	 * stderr pipe loses the line rather than failing the vCPU. */
	(void)!write(t->out_fd, line, len);
}

/* Called with t->lock held. */
static void exit_trace_report(struct exit_trace *t, uint64_t now_ns)
{
	char line[96];
	int n;

	if (!t->dropped)
		return;
	n = snprintf(line, sizeof(line), "mvm: %" PRIu64 " exits not traced (over %" PRIu64
		     " lines/s)\r\n", t->dropped, t->bucket.rate);
	exit_trace_write(t, line, (size_t)n);
	t->dropped = 0;
	t->last_report_ns = now_ns;
}

void exit_trace_log(struct exit_trace *t, int vcpu, const struct kvm_run *run, uint64_t now_ns)
{
	char line[256];
	bool pass;
	int n;

	pthread_mutex_lock(&t->lock);
	if (t->dropped && now_ns - t->last_report_ns >= EXIT_TRACE_REPORT_NS)
		exit_trace_report(t, now_ns);
	pass = ratelimit_take(&t->bucket, now_ns);
	if (pass) {
		t->traced++;
	} else {
		t->dropped++;
		t->dropped_total++;
	}
	pthread_mutex_unlock(&t->lock);
	if (!pass)
		return;
	memcpy(line, "mvm: ", 5);
	n = 5 + exit_trace_format(line + 5, sizeof(line) - 7, vcpu, run);
	memcpy(line + n, "\r\n", 2);
	exit_trace_write(t, line, (size_t)n + 2);
}

void exit_trace_finish(struct exit_trace *t)
{
	pthread_mutex_lock(&t->lock);
	exit_trace_report(t, t->last_report_ns);
	pthread_mutex_unlock(&t->lock);
}

void exit_trace_destroy(struct exit_trace *t)
{
	pthread_mutex_destroy(&t->lock);
}
