/* device.c - what every device kind shares: claiming its ports. */
#include "core/device.h"
#include "util/log.h"

#include <string.h>

int device_claim_ports(const struct device_env *env, uint64_t base, uint64_t len,
		       bus_io_fn fn, void *opaque, const char *name)
{
	int ret = bus_add(env->pio, base, len, fn, opaque, name);

	if (ret)
		log_err("registering %s at port %#llx: %s", name, (unsigned long long)base,
			strerror(-ret));
	return ret;
}
