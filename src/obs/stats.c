/* stats.c - per-exit-reason counts and handler times, and KVM's own statistics, printed at exit. */
#include "obs/stats.h"
#include "obs/kvm_stats.h"
#include "obs/source.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void stats_print_kvm(FILE *out, const struct obs_source *vm);

/* The addresses of one bus's unclaimed table, most hit first, as
 * "    port I/O at: 0x2f9 r12 w3, ..." (nothing when the table is empty). */
static void stats_print_unclaimed(FILE *out, const char *what, const struct bus *b)
{
	struct { uint64_t addr; unsigned long r, w; } e[BUS_UNCLAIMED_SLOTS], t;
	int n = 0;

	for (int i = 0; i < BUS_UNCLAIMED_SLOTS; i++)
		if (bus_unclaimed_at(b, i, &e[n].addr, &e[n].r, &e[n].w))
			n++;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && e[j].r + e[j].w > e[j - 1].r + e[j - 1].w; j--)
			t = e[j], e[j] = e[j - 1], e[j - 1] = t;
	if (!n)
		return;
	fprintf(out, "    unclaimed %s at:", what);
	for (int i = 0; i < n; i++)
		fprintf(out, "%s %#" PRIx64 " r%lu w%lu", i ? "," : "", e[i].addr, e[i].r, e[i].w);
	fprintf(out, "\r\n");
}

void stats_print(FILE *out, const struct obs_source *vm)
{
	fprintf(out, "mvm: exits by reason (%d vCPU%s)\r\n", vm->nr_vcpus, vm->nr_vcpus > 1 ? "s" : "");
	fprintf(out, "  %-16s %12s %12s", "reason", "total", "handler-ns");
	for (int c = 0; c < vm->nr_vcpus && c < 8; c++)
		fprintf(out, "   vcpu%-5d", c);
	fprintf(out, "\r\n");
	for (uint32_t r = 0; r < VCPU_EXIT_REASONS; r++) {
		uint64_t total = 0, ns = 0;

		for (int c = 0; c < vm->nr_vcpus; c++) {
			total += vm->vcpus[c].exits[r];
			ns += vm->vcpus[c].exit_ns[r];
		}
		if (!total)
			continue;
		const char *name = vcpu_exit_name(r);
		char other[16];

		if (!name) {
			snprintf(other, sizeof(other), "reason %u", r);
			name = other;
		}
		fprintf(out, "  %-16s %12" PRIu64 " %12" PRIu64, name, total, ns / total);
		for (int c = 0; c < vm->nr_vcpus && c < 8; c++)
			fprintf(out, " %11" PRIu64, vm->vcpus[c].exits[r]);
		fprintf(out, "\r\n");
	}
	fprintf(out, "  unclaimed accesses: %lu port I/O, %lu MMIO\r\n",
		atomic_load(&vm->pio->unclaimed), atomic_load(&vm->mmio->unclaimed));
	stats_print_unclaimed(out, "port I/O", vm->pio);
	stats_print_unclaimed(out, "MMIO", vm->mmio);
	stats_print_kvm(out, vm);
}

/* The KVM counters worth a row when they are non-zero; the rest are counted
 * in the "N more" line (all of them go to --metrics). */
static const char *const stats_kvm_vcpu_rows[] = {
	"exits", "io_exits", "mmio_exits", "halt_exits", "irq_exits", "irq_window_exits",
	"signal_exits", "request_irq_exits", "irq_injections", "nmi_injections", "pf_fixed",
	"pf_guest", "pf_taken", "insn_emulation", "hypercalls", "halt_successful_poll",
	"halt_attempted_poll", "halt_wakeup", "halt_poll_success_ns", "halt_wait_ns",
};

static bool stats_kvm_listed(const char *name)
{
	for (size_t i = 0; i < sizeof(stats_kvm_vcpu_rows) / sizeof(stats_kvm_vcpu_rows[0]); i++)
		if (!strcmp(stats_kvm_vcpu_rows[i], name))
			return true;
	return false;
}

static void stats_print_kvm_vm(FILE *out, const struct kvm_stats *s)
{
	uint64_t *v = calloc(s->nr_items ? s->nr_items : 1, sizeof(*v));

	if (!v || kvm_stats_read(s, v)) {
		free(v);
		return;
	}
	fprintf(out, "mvm: KVM statistics of the VM (non-zero)\r\n");
	for (uint32_t i = 0; i < s->nr_items; i++)
		if (v[i])
			fprintf(out, "  %-24s %14" PRIu64 "\r\n", s->items[i].name, v[i]);
	free(v);
}

/* vCPU stats fds all describe the same layout: vCPU 0's names index every row. */
static void stats_print_kvm_vcpus(FILE *out, const struct obs_source *vm, const struct kvm_stats *s)
{
	uint32_t n = s[0].nr_items, more = 0;
	int ncpu = vm->nr_vcpus;
	uint64_t *v = calloc((size_t)n * ncpu + 1, sizeof(*v));

	if (!v)
		return;
	for (int c = 0; c < ncpu; c++)
		if (s[c].nr_items != n || kvm_stats_read(&s[c], v + (size_t)c * n)) {
			free(v);
			return;
		}
	fprintf(out, "mvm: KVM statistics of the vCPUs\r\n");
	fprintf(out, "  %-24s %14s", "counter", "total");
	for (int c = 0; c < ncpu && c < 8; c++)
		fprintf(out, "   vcpu%-5d", c);
	fprintf(out, "\r\n");
	for (uint32_t i = 0; i < n; i++) {
		uint64_t total = 0;

		for (int c = 0; c < ncpu; c++)
			total += v[(size_t)c * n + i];
		if (!total)
			continue;
		if (!stats_kvm_listed(s[0].items[i].name)) {
			more++;
			continue;
		}
		fprintf(out, "  %-24s %14" PRIu64, s[0].items[i].name, total);
		for (int c = 0; c < ncpu && c < 8; c++)
			fprintf(out, " %11" PRIu64, v[(size_t)c * n + i]);
		fprintf(out, "\r\n");
	}
	if (more)
		fprintf(out, "  (%u more non-zero KVM vCPU counters: see --metrics)\r\n", more);
	free(v);
}

static void stats_print_kvm(FILE *out, const struct obs_source *vm)
{
	struct kvm_stats vm_stats, *vcpu_stats;
	int ok = vm->kvm_fd >= 0 && vm->vm_fd >= 0 && kvm_stats_supported(vm->kvm_fd);

	if (!ok) {
		fprintf(out, "mvm: KVM statistics: not available (this KVM lacks "
			"KVM_CAP_BINARY_STATS_FD, Linux 5.14+)\r\n");
		return;
	}
	vcpu_stats = calloc(vm->nr_vcpus ? vm->nr_vcpus : 1, sizeof(*vcpu_stats));
	if (!vcpu_stats)
		return;
	for (int c = 0; c < vm->nr_vcpus; c++)
		vcpu_stats[c].fd = -1;
	if (!kvm_stats_open(&vm_stats, vm->vm_fd)) {
		stats_print_kvm_vm(out, &vm_stats);
		kvm_stats_close(&vm_stats);
	}
	for (int c = 0; c < vm->nr_vcpus; c++)
		if (kvm_stats_open(&vcpu_stats[c], vm->vcpus[c].fd))
			ok = 0;
	if (ok && vm->nr_vcpus > 0)
		stats_print_kvm_vcpus(out, vm, vcpu_stats);
	for (int c = 0; c < vm->nr_vcpus; c++)
		kvm_stats_close(&vcpu_stats[c]);
	free(vcpu_stats);
}
