/* acpi_pm1.c - PM1a event/control blocks and the PM timer; S3 and S5 through PM1_CNT. */
#include "board/acpi_pm1.h"
#include "core/device.h"
#include "core/layout.h"
#include "util/bench_probe.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct acpi_pm1_regs) == 8, "acpi_pm1_regs has hidden padding");

enum { OFF_STS = 0, OFF_EN = 2, OFF_CNT = 4, OFF_TMR = 8 };

/* What the device implements: the rest reads 0 and is refused in a state. */
#define STS_BITS (ACPI_PM1_TMR_STS | ACPI_PM1_PWRBTN | ACPI_PM1_RTC | ACPI_PM1_WAK_STS)
#define EN_BITS  (ACPI_PM1_TMR_STS | ACPI_PM1_PWRBTN | ACPI_PM1_RTC)

void acpi_pm1_init(struct acpi_pm1 *p, struct vm_stopper stop)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->stop = stop;
	p->now_ns = bench_probe_now_ns;   /* CLOCK_MONOTONIC */
}

void acpi_pm1_destroy(struct acpi_pm1 *p)
{
	pthread_mutex_destroy(&p->lock);
}

/* Ticks at 3.579545 MHz; split so that ns * HZ cannot overflow. The
 * register shows the low 24 bits. */
static uint64_t pm_ticks(const struct acpi_pm1 *p)
{
	uint64_t ns = p->now_ns();

	return (ns / 1000000000ull) * ACPI_PM_TIMER_HZ +
	       (ns % 1000000000ull) * ACPI_PM_TIMER_HZ / 1000000000ull;
}

/* TMR_STS: set whenever the timer's bit 23 has changed since the last
 * look (every 2^23 ticks, 2.34 s), as the hardware sets it on that carry.
 * Evaluated on each access, which is when a guest can see it. */
static void update_tmr_sts(struct acpi_pm1 *p, uint64_t ticks)
{
	uint64_t epoch = ticks >> 23;

	if (p->tmr_seen && epoch != p->tmr_epoch)
		p->regs.sts |= ACPI_PM1_TMR_STS;
	p->tmr_epoch = epoch;
	p->tmr_seen = true;
}

static uint8_t read_byte(struct acpi_pm1 *p, uint64_t reg, uint32_t tmr)
{
	const struct acpi_pm1_regs *r = &p->regs;
	uint16_t cnt = (uint16_t)(ACPI_PM1_SCI_EN | (r->slp_typ << 10));

	switch (reg) {
	case OFF_STS:     return (uint8_t)r->sts;
	case OFF_STS + 1: return (uint8_t)(r->sts >> 8);
	case OFF_EN:      return (uint8_t)r->en;
	case OFF_EN + 1:  return (uint8_t)(r->en >> 8);
	case OFF_CNT:     return (uint8_t)cnt;
	case OFF_CNT + 1: return (uint8_t)(cnt >> 8);
	case OFF_TMR: case OFF_TMR + 1: case OFF_TMR + 2: case OFF_TMR + 3:
		return (uint8_t)(tmr >> (8 * (reg - OFF_TMR)));
	}
	return 0xff;
}

/* PM1_CNT's high byte holds SLP_TYP and SLP_EN: what the write asks for. */
enum sleep_ask { ASK_NONE, ASK_POWEROFF, ASK_S3 };

static enum sleep_ask write_cnt_high(struct acpi_pm1 *p, uint8_t v)
{
	uint16_t cnt = (uint16_t)(v << 8);
	unsigned typ = ACPI_PM1_SLP_TYP(cnt);

	p->regs.slp_typ = (uint16_t)typ;
	if (!(cnt & ACPI_PM1_SLP_EN))
		return ASK_NONE;
	if (typ == ACPI_S5_SLP_TYP)
		return ASK_POWEROFF;
	if (typ == ACPI_S3_SLP_TYP) {
		p->regs.sts &= (uint16_t)~ACPI_PM1_WAK_STS;
		return ASK_S3;
	}
	/* Once per VM: a guest looping on this must not flood the host's log. */
	if (!p->sleep_warned)
		log_info_rl("guest asked for ACPI sleep type %u, which mvm does not implement "
			    "(S3 and S5 only); resuming it at once", typ);
	p->sleep_warned = true;
	p->regs.sts |= ACPI_PM1_WAK_STS;
	return ASK_NONE;
}

static enum sleep_ask write_byte(struct acpi_pm1 *p, uint64_t reg, uint8_t v)
{
	struct acpi_pm1_regs *r = &p->regs;

	switch (reg) {
	case OFF_STS:
		r->sts &= (uint16_t)~v;
		break;
	case OFF_STS + 1:
		r->sts &= (uint16_t)~(v << 8);
		break;
	case OFF_EN:
		r->en = (uint16_t)((r->en & 0xff00) | (v & EN_BITS & 0xff));
		break;
	case OFF_EN + 1:
		r->en = (uint16_t)((r->en & 0x00ff) | ((v << 8) & EN_BITS & 0xff00));
		break;
	case OFF_CNT + 1:
		return write_cnt_high(p, v);
	}
	/* PM1_CNT's low byte: SCI_EN stays on, BM_RLD and GBL_RLS do nothing. */
	return ASK_NONE;
}

void acpi_pm1_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct acpi_pm1 *p = opaque;
	enum sleep_ask ask = ASK_NONE;
	uint64_t ticks;
	uint32_t tmr;

	pthread_mutex_lock(&p->lock);
	ticks = p->now_ns ? pm_ticks(p) : 0;    /* one sample for all four bytes */
	tmr = (uint32_t)(ticks & 0xffffff);
	update_tmr_sts(p, ticks);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t reg = off + i;

		if (reg < off || reg >= PORT_ACPI_PM1_LEN) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (!is_write) {
			data[i] = read_byte(p, reg, tmr);
			continue;
		}
		enum sleep_ask a = write_byte(p, reg, data[i]);

		if (a != ASK_NONE)
			ask = a;
	}
	pthread_mutex_unlock(&p->lock);
	if (ask == ASK_POWEROFF)
		vm_stopper_request(&p->stop, VM_STOP_POWEROFF);
	else if (ask == ASK_S3)
		vm_stopper_request_sleep(&p->stop, 3);
}

bool acpi_pm1_enabled(struct acpi_pm1 *p, uint16_t en_bit)
{
	bool on;

	pthread_mutex_lock(&p->lock);
	on = (p->regs.en & en_bit) != 0;
	pthread_mutex_unlock(&p->lock);
	return on;
}

void acpi_pm1_wake(struct acpi_pm1 *p, uint16_t sts_bits)
{
	pthread_mutex_lock(&p->lock);
	p->regs.sts |= (uint16_t)(ACPI_PM1_WAK_STS | (sts_bits & STS_BITS));
	pthread_mutex_unlock(&p->lock);
}

int acpi_pm1_save(struct acpi_pm1 *p, struct acpi_pm1_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&p->lock);
	s->regs = p->regs;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int acpi_pm1_restore(struct acpi_pm1 *p, const struct acpi_pm1_state *s)
{
	const struct acpi_pm1_regs *r = &s->regs;
	const char *field = NULL;
	unsigned val = 0;

	if (r->sts & ~STS_BITS)
		field = "sts", val = r->sts;
	else if (r->en & ~EN_BITS)
		field = "en", val = r->en;
	else if (r->slp_typ > 7)
		field = "slp_typ", val = r->slp_typ;
	else if (r->pad)
		field = "pad", val = r->pad;
	if (field) {
		log_err("acpi_pm1 state: %s = %#x has bits the device does not implement; "
			"state refused", field, val);
		return -EINVAL;
	}
	pthread_mutex_lock(&p->lock);
	p->regs = *r;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */

static int acpi_pm1_kind_count(const struct vm_config *cfg)
{
	return cfg->legacy_pm ? 1 : 0;
}

static int acpi_pm1_kind_create(void **dev, const struct vm_config *cfg, int index,
				const struct device_env *env)
{
	struct acpi_pm1 *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	acpi_pm1_init(p, env->stopper);
	*dev = p;
	return 0;
}

static int acpi_pm1_kind_attach(void *dev, const struct device_env *env, uint64_t base,
				uint32_t gsi)
{
	return device_claim_ports(env, PORT_ACPI_PM1_EVT, PORT_ACPI_PM1_LEN, acpi_pm1_io, dev,
				  "ACPI PM1");
}

static int acpi_pm1_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct acpi_pm1_state) ? acpi_pm1_save(dev, state) : -EINVAL;
}

static int acpi_pm1_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct acpi_pm1_state) ? acpi_pm1_restore(dev, state) : -EINVAL;
}

static void acpi_pm1_kind_destroy(void *dev)
{
	acpi_pm1_destroy(dev);
	free(dev);
}

const struct device_kind acpi_pm1_kind = {
	.name = "ACPI PM1",
	.short_name = "acpi_pm1",
	.count = acpi_pm1_kind_count,
	.create = acpi_pm1_kind_create,
	.attach = acpi_pm1_kind_attach,
	.state_size = sizeof(struct acpi_pm1_state),
	.state_version = ACPI_PM1_STATE_VERSION,
	.save = acpi_pm1_kind_save,
	.restore = acpi_pm1_kind_restore,
	.destroy = acpi_pm1_kind_destroy,
};
