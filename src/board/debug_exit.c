/* debug_exit.c - isa-debug-exit: a guest write ends the VM with (v << 1) | 1. */
#include "board/debug_exit.h"

#include <string.h>

#include "util/log.h"

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
