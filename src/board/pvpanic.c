/* pvpanic.c - pvpanic port: guest panic -> VM stop, crash kernel -> log. */
#include "board/pvpanic.h"
#include "core/device.h"
#include "core/layout.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void pvpanic_init(struct pvpanic *p, struct vm_stopper stop)
{
	memset(p, 0, sizeof(*p));
	p->stop = stop;
}

void pvpanic_destroy(struct pvpanic *p)
{
	(void)p;
}

void pvpanic_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		bool is_write)
{
	struct pvpanic *p = opaque;
	uint8_t ev;

	if (!is_write) {
		memset(data, 0, len);
		if (off == 0 && len > 0)
			data[0] = PVPANIC_SUPPORTED;
		return;
	}
	if (off != 0 || len == 0)
		return;
	ev = data[0] & PVPANIC_SUPPORTED;
	if (!ev)
		return;
	/* Each event is reported once: a guest repeating it cannot flood the log. */
	ev &= ~__atomic_fetch_or(&p->regs.events_seen, ev, __ATOMIC_RELAXED);
	if (ev & PVPANIC_CRASH_LOADED)
		log_warn_rl("guest panicked; its crash kernel is loaded and takes over");
	if (ev & PVPANIC_PANICKED) {
		log_err_rl("guest reported a kernel panic (pvpanic); stopping the VM");
		vm_stopper_request(&p->stop, VM_STOP_PANIC);
	}
}

int pvpanic_save(struct pvpanic *p, struct pvpanic_state *s)
{
	memset(s, 0, sizeof(*s));
	s->regs.events_seen = __atomic_load_n(&p->regs.events_seen, __ATOMIC_RELAXED);
	return 0;
}

int pvpanic_restore(struct pvpanic *p, const struct pvpanic_state *s)
{
	uint8_t ev = s->regs.events_seen;

	if (ev & ~PVPANIC_SUPPORTED) {
		log_err("pvpanic state: events_seen = %#x has bits other than %#x; state refused",
			ev, PVPANIC_SUPPORTED);
		return -EINVAL;
	}
	__atomic_store_n(&p->regs.events_seen, ev, __ATOMIC_RELAXED);
	return 0;
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */


static int pvpanic_kind_create(void **dev, const struct vm_config *cfg, int index,
			     const struct device_env *env)
{
	struct pvpanic *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	pvpanic_init(k, env->stopper);
	*dev = k;
	return 0;
}

static int pvpanic_kind_attach(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi)
{
	struct pvpanic *k = dev;

	return device_claim_ports(env, PORT_PVPANIC, 1, pvpanic_io, k, "pvpanic");
}

static int pvpanic_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct pvpanic_state) ? pvpanic_save(dev, state) : -EINVAL;
}

static int pvpanic_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct pvpanic_state) ? pvpanic_restore(dev, state) : -EINVAL;
}

static void pvpanic_kind_destroy(void *dev)
{
	struct pvpanic *k = dev;

	pvpanic_destroy(k);
	free(k);
}

const struct device_kind pvpanic_kind = {
	.name = "pvpanic",
	.short_name = "pvpanic",
	.create = pvpanic_kind_create,
	.attach = pvpanic_kind_attach,
	.state_size = sizeof(struct pvpanic_state),
	.state_version = PVPANIC_STATE_VERSION,
	.save = pvpanic_kind_save,
	.restore = pvpanic_kind_restore,
	.destroy = pvpanic_kind_destroy,
};
