/* stats.c - per-exit-reason counts and handler times, printed at exit. */
#include "core/stats.h"
#include "core/vm.h"

#include <inttypes.h>

void stats_print(FILE *out, const struct vm *vm)
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
		atomic_load(&vm->pio.unclaimed), atomic_load(&vm->mmio.unclaimed));
}
