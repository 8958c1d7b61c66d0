/* bench_probe.c - exec -> first KVM_RUN and RSS beyond guest RAM, on request. */
#include "util/bench_probe.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_probe_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

uint64_t bench_probe_t0(void)
{
	const char *s = getenv("MVM_T0_NS");

	return s ? strtoull(s, NULL, 10) : 0;
}

/* Peak RSS (VmHWM) and the RSS of the guest RAM mappings (madvise can split
 * the one mapping into several): guest RAM only grows, so its RSS at exit
 * is its peak, and the difference is mvm's own. */
void bench_probe_report(uint64_t t0_ns, uint64_t first_run_ns, const void *guest_base,
			uint64_t guest_size)
{
	unsigned long long hwm_kb = 0, guest_kb = 0, start, end, kb;
	bool in_guest = false;
	char line[256];
	FILE *f;

	if (!t0_ns)
		return;
	f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "VmHWM: %llu kB", &hwm_kb);
	if (f)
		fclose(f);
	f = fopen("/proc/self/smaps", "r");
	while (f && fgets(line, sizeof(line), f)) {
		/* Mapping header lines are "start-end perms offset dev inode path"
		 * (the dev field has a ':' too); field lines are "Name: value",
		 * where no '-' comes before the first space. */
		char *dash = strchr(line, '-'), *space = strchr(line, ' ');

		if (dash && space && dash < space && sscanf(line, "%llx-%llx ", &start, &end) == 2)
			in_guest = start >= (uintptr_t)guest_base &&
				   end <= (uintptr_t)guest_base + guest_size;
		else if (in_guest && sscanf(line, "Rss: %llu kB", &kb) == 1)
			guest_kb += kb;
	}
	if (f)
		fclose(f);
	fprintf(stderr, "mvm-bench: exec_to_first_kvm_run_us=%.1f peak_rss_kb=%llu guest_rss_kb=%llu "
		"overhead_kb=%llu\n",
		first_run_ns > t0_ns ? (first_run_ns - t0_ns) / 1000.0 : -1.0,
		hwm_kb, guest_kb, hwm_kb > guest_kb ? hwm_kb - guest_kb : 0);
}
