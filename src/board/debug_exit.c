/* debug_exit.c - isa-debug-exit: a guest write ends the VM with (v << 1) | 1. */
#include "board/debug_exit.h"
#include "core/device.h"
#include "core/layout.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void debug_exit_init(struct debug_exit *d, struct vm_stopper stop)
{
	memset(d, 0, sizeof(*d));
	d->stop = stop;
}

void debug_exit_destroy(struct debug_exit *d)
{
	(void)d;
}

void debug_exit_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct debug_exit *d = opaque;
	uint64_t v = 0;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	/* The bus never hands a device more than 8 bytes; clamp anyway. */
	for (uint32_t i = 0; i < len && i < sizeof(v); i++)
		v |= (uint64_t)data[i] << (8 * i);
	(void)off;
	log_debug("guest wrote 0x%llx to the debug-exit port", (unsigned long long)v);
	vm_stopper_request_exit(&d->stop, (int)(((v << 1) | 1) & 0xff));
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */

/* Opt-in (--debug-exit): with the port present any guest picks mvm's exit
 * status, which an orchestrator must be able to trust. */
static int debug_exit_kind_count(const struct vm_config *cfg)
{
	return cfg->debug_exit ? 1 : 0;
}

static int debug_exit_kind_create(void **dev, const struct vm_config *cfg, int index,
			     const struct device_env *env)
{
	struct debug_exit *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	debug_exit_init(k, env->stopper);
	*dev = k;
	return 0;
}

static int debug_exit_kind_attach(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi)
{
	struct debug_exit *k = dev;

	return device_claim_ports(env, PORT_DEBUG_EXIT, PORT_DEBUG_EXIT_LEN, debug_exit_io, k,
				  "isa-debug-exit");
}

static void debug_exit_kind_destroy(void *dev)
{
	struct debug_exit *k = dev;

	debug_exit_destroy(k);
	free(k);
}

const struct device_kind debug_exit_kind = {
	.name = "isa-debug-exit",
	.short_name = "debug_exit",
	.count = debug_exit_kind_count,
	.create = debug_exit_kind_create,
	.attach = debug_exit_kind_attach,
	.stateless = true,       /* a write stops the VM; nothing stays behind */
	.destroy = debug_exit_kind_destroy,
};
