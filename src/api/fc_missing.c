/* fc_missing.c - the paths of Firecracker's API (firecracker.yaml) that mvm does not serve. */
#include "api/fc_missing.h"

#include <stdbool.h>
#include <string.h>

static const struct {
	const char *path;          /* exact, or a prefix ending in '/' */
	const char *feature;
} fc_missing[] = {
	{ "/mmds", "MMDS (the metadata service)" },
	{ "/mmds/config", "MMDS (the metadata service)" },
	{ "/cpu-config", "custom CPU templates (mvm passes the host's CPUID through)" },
	{ "/serial", "serial output to a file (the serial console goes to mvm's stdout)" },
	{ "/pmem/", "virtio-pmem devices" },
	{ "/hotplug/memory", "memory hotplug (virtio-mem)" },
	{ "/vsock", "vsock devices" },
	{ "/balloon", "the balloon device" },
	{ "/balloon/", "the balloon device" },
};

static bool matches(const char *want, const char *path, size_t len)
{
	size_t n = strlen(want);

	if (want[n - 1] == '/')
		return len > n && !memcmp(path, want, n);
	return len == n && !memcmp(path, want, n);
}

const char *fc_missing_feature(const char *path, size_t len)
{
	for (size_t i = 0; i < sizeof(fc_missing) / sizeof(fc_missing[0]); i++)
		if (matches(fc_missing[i].path, path, len))
			return fc_missing[i].feature;
	return NULL;
}
