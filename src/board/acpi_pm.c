/* acpi_pm.c - ACPI sleep/reset registers: S5 powers off, reset reboots. */
#include "board/acpi_pm.h"
#include "core/device.h"
#include "core/layout.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { OFF_SLEEP_CTL = 0, OFF_SLEEP_STS = 1, OFF_RESET = 2 };

void acpi_pm_init(struct acpi_pm *p, struct vm_stopper stop)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->stop = stop;
}

void acpi_pm_destroy(struct acpi_pm *p)
{
	pthread_mutex_destroy(&p->lock);
}

/* Returns the stop reason a write asks for, or VM_STOP_NONE. */
static enum vm_stop_reason write_reg(struct acpi_pm *p, uint64_t off, uint8_t v)
{
	struct acpi_pm_regs *r = &p->regs;

	switch (off) {
	case OFF_SLEEP_CTL:
		if (!(v & ACPI_PM_SLP_EN))
			return VM_STOP_NONE;
		if (ACPI_PM_SLP_TYP(v) == ACPI_S5_SLP_TYP)
			return VM_STOP_POWEROFF;
		/* Once per VM: a guest looping on this must not flood the host's log. */
		if (!p->sleep_warned)
			log_info_rl("guest asked for ACPI sleep type %u, which mvm does not "
				    "implement; resuming it at once", ACPI_PM_SLP_TYP(v));
		p->sleep_warned = true;
		r->sleep_sts |= ACPI_PM_WAK_STS;
		return VM_STOP_NONE;
	case OFF_SLEEP_STS:
		r->sleep_sts &= ~v;
		return VM_STOP_NONE;
	case OFF_RESET:
		return v == ACPI_RESET_VALUE ? VM_STOP_RESET : VM_STOP_NONE;
	}
	return VM_STOP_NONE;
}

void acpi_pm_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		bool is_write)
{
	struct acpi_pm *p = opaque;
	enum vm_stop_reason why = VM_STOP_NONE;
	uint32_t i;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < len; i++) {
		uint64_t reg = off + i;

		if (reg < off || reg >= PORT_ACPI_PM_LEN) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (!is_write) {
			data[i] = reg == OFF_SLEEP_STS ? p->regs.sleep_sts : 0;
			continue;
		}
		enum vm_stop_reason r = write_reg(p, reg, data[i]);

		if (why == VM_STOP_NONE)
			why = r;
	}
	pthread_mutex_unlock(&p->lock);
	if (why != VM_STOP_NONE)
		vm_stopper_request(&p->stop, why);
}

int acpi_pm_save(struct acpi_pm *p, struct acpi_pm_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&p->lock);
	s->regs = p->regs;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int acpi_pm_restore(struct acpi_pm *p, const struct acpi_pm_state *s)
{
	if (s->regs.sleep_sts & ~ACPI_PM_WAK_STS) {
		log_err("acpi_pm state: sleep_sts = %#x has bits other than WAK_STS (%#x); "
			"state refused", s->regs.sleep_sts, ACPI_PM_WAK_STS);
		return -EINVAL;
	}
	pthread_mutex_lock(&p->lock);
	p->regs = s->regs;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */


static int acpi_pm_kind_create(void **dev, const struct vm_config *cfg, int index,
			     const struct device_env *env)
{
	struct acpi_pm *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	acpi_pm_init(k, env->stopper);
	*dev = k;
	return 0;
}

static int acpi_pm_kind_attach(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi)
{
	struct acpi_pm *k = dev;

	return device_claim_ports(env, PORT_ACPI_SLEEP_CTL, PORT_ACPI_PM_LEN, acpi_pm_io, k,
				  "ACPI PM");
}

static int acpi_pm_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct acpi_pm_state) ? acpi_pm_save(dev, state) : -EINVAL;
}

static int acpi_pm_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct acpi_pm_state) ? acpi_pm_restore(dev, state) : -EINVAL;
}

static void acpi_pm_kind_destroy(void *dev)
{
	struct acpi_pm *k = dev;

	acpi_pm_destroy(k);
	free(k);
}

const struct device_kind acpi_pm_kind = {
	.name = "ACPI PM",
	.short_name = "acpi_pm",
	.create = acpi_pm_kind_create,
	.attach = acpi_pm_kind_attach,
	.state_size = sizeof(struct acpi_pm_state),
	.state_version = ACPI_PM_STATE_VERSION,
	.save = acpi_pm_kind_save,
	.restore = acpi_pm_kind_restore,
	.destroy = acpi_pm_kind_destroy,
};
