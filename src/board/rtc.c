/* rtc.c - CMOS clock reading host UTC time, with a guest-set offset. */
#include "board/rtc.h"
#include "core/device.h"
#include "core/layout.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct rtc_regs) == 1 + RTC_CMOS_SIZE + 7 + 8, "rtc_regs has hidden padding");

enum {
	REG_SEC = 0x00, REG_SEC_ALARM = 0x01, REG_MIN = 0x02, REG_MIN_ALARM = 0x03,
	REG_HOUR = 0x04, REG_HOUR_ALARM = 0x05, REG_WDAY = 0x06, REG_MDAY = 0x07,
	REG_MON = 0x08, REG_YEAR = 0x09, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c,
	REG_D = 0x0d,
};

#define A_UIP   0x80
#define A_DV_MASK 0x70
#define A_DV_RUN  0x20 /* 32.768 kHz time base, oscillator on, not in reset */
#define B_SET   0x80
#define B_AIE   0x20
#define C_IRQF  0x80
#define C_AF    0x20
#define B_DM    0x04 /* 1 = binary, 0 = BCD */
#define B_24H   0x02
#define D_VRT   0x80
#define HOUR_PM 0x80

/* CLOCK_REALTIME itself, not time(): glibc's time() reads the coarse clock,
 * which lags the second boundary by up to a tick, and register A's
 * update-in-progress bit must agree with the seconds register. */
static uint64_t host_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * RTC_NS + (uint64_t)ts.tv_nsec;
}

static time_t host_sec(const struct rtc *r)
{
	return (time_t)(r->now_ns() / RTC_NS);
}

void rtc_init(struct rtc *r, struct irq_line irq)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->irq = irq;
	r->now_ns = host_now_ns;
	r->regs.cmos[REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
	r->regs.cmos[REG_B] = B_24H;
	r->regs.cmos[REG_D] = D_VRT;
}

void rtc_destroy(struct rtc *r)
{
	pthread_mutex_destroy(&r->lock);
}

void rtc_cmos_set(struct rtc *r, uint8_t index, uint8_t value)
{
	pthread_mutex_lock(&r->lock);
	r->regs.cmos[index & 0x7f] = value;
	pthread_mutex_unlock(&r->lock);
}

static bool is_time_reg(unsigned reg)
{
	return reg == REG_SEC || reg == REG_MIN || reg == REG_HOUR ||
	       reg == REG_WDAY || reg == REG_MDAY || reg == REG_MON ||
	       reg == REG_YEAR || reg == RTC_CENTURY;
}

static uint8_t encode(const struct rtc_regs *s, unsigned v)
{
	if (s->cmos[REG_B] & B_DM)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* -1 when the byte is not a valid number in the current mode. */
static int decode(const struct rtc_regs *s, uint8_t v)
{
	if (s->cmos[REG_B] & B_DM)
		return v;
	if ((v >> 4) > 9 || (v & 0xf) > 9)
		return -1;
	return (v >> 4) * 10 + (v & 0xf);
}

static uint8_t encode_hour(const struct rtc_regs *s, int h)
{
	if (s->cmos[REG_B] & B_24H)
		return encode(s, h);
	/* 12-hour: 0 -> 12 AM, 12 -> 12 PM, PM flag in bit 7. */
	return encode(s, h % 12 ? h % 12 : 12) | (h >= 12 ? HOUR_PM : 0);
}

static int decode_hour(const struct rtc_regs *s, uint8_t v)
{
	int h;

	if (s->cmos[REG_B] & B_24H) {
		h = decode(s, v);
		return h <= 23 ? h : -1;
	}
	h = decode(s, v & ~HOUR_PM);
	if (h < 1 || h > 12)
		return -1;
	return h % 12 + ((v & HOUR_PM) ? 12 : 0);
}

static void guest_tm(struct rtc *r, struct tm *tm)
{
	time_t t = host_sec(r) + (time_t)r->regs.offset_s;

	if (!gmtime_r(&t, tm))
		memset(tm, 0, sizeof(*tm));
}

static uint8_t time_field(const struct rtc_regs *s, const struct tm *tm, unsigned reg)
{
	switch (reg) {
	case REG_SEC:     return encode(s, tm->tm_sec % 60); /* no leap second */
	case REG_MIN:     return encode(s, tm->tm_min);
	case REG_HOUR:    return encode_hour(s, tm->tm_hour);
	case REG_WDAY:    return encode(s, tm->tm_wday + 1); /* Sunday = 1 */
	case REG_MDAY:    return encode(s, tm->tm_mday);
	case REG_MON:     return encode(s, tm->tm_mon + 1);
	case REG_YEAR:    return encode(s, (unsigned)(tm->tm_year + 1900) % 100);
	case RTC_CENTURY: return encode(s, (unsigned)(tm->tm_year + 1900) / 100 % 100);
	}
	return 0;
}

/* Copy the running clock into the CMOS time bytes (the SET latch). */
static void latch(struct rtc *r)
{
	static const unsigned regs[] = { REG_SEC, REG_MIN, REG_HOUR, REG_WDAY,
					 REG_MDAY, REG_MON, REG_YEAR, RTC_CENTURY };
	struct tm tm;
	unsigned i;

	guest_tm(r, &tm);
	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		r->regs.cmos[regs[i]] = time_field(&r->regs, &tm, regs[i]);
}

/* Turn the latched time into the guest's offset from host time. */
static void commit(struct rtc *r)
{
	const struct rtc_regs *s = &r->regs;
	int sec = decode(s, s->cmos[REG_SEC]), min = decode(s, s->cmos[REG_MIN]);
	int hour = decode_hour(s, s->cmos[REG_HOUR]), mday = decode(s, s->cmos[REG_MDAY]);
	int mon = decode(s, s->cmos[REG_MON]), year = decode(s, s->cmos[REG_YEAR]);
	int cent = decode(s, s->cmos[RTC_CENTURY]);
	struct tm tm = { 0 };
	time_t t;

	if (sec < 0 || sec > 59 || min < 0 || min > 59 || hour < 0 || mday < 1 ||
	    mday > 31 || mon < 1 || mon > 12 || year < 0 || year > 99 ||
	    cent < 0 || cent > 99) {
		log_debug_rl("rtc: guest set an invalid time; keeping the clock as it was");
		return;
	}
	tm.tm_sec = sec;
	tm.tm_min = min;
	tm.tm_hour = hour;
	tm.tm_mday = mday;
	tm.tm_mon = mon - 1;
	tm.tm_year = cent * 100 + year - 1900;
	t = timegm(&tm);
	r->regs.offset_s = (int64_t)t - (int64_t)host_sec(r);
}

/* The clock updates once a second unless register A stops its divider or
 * register B's SET holds it. */
static bool clock_runs(const struct rtc_regs *s)
{
	return (s->cmos[REG_A] & A_DV_MASK) == A_DV_RUN && !(s->cmos[REG_B] & B_SET);
}

/* Update-in-progress as the MC146818 shows it: from RTC_UIP_BEFORE_NS before
 * each second boundary until the update cycle ends RTC_UIP_AFTER_NS after
 * it. Guests wait for its falling edge to learn where a second starts
 * (kvm-unit-tests' s3 test sets its alarm right after one). */
static bool update_in_progress(const struct rtc *r)
{
	uint64_t frac = r->now_ns() % RTC_NS;

	return clock_runs(&r->regs) &&
	       (frac >= RTC_NS - RTC_UIP_BEFORE_NS || frac < RTC_UIP_AFTER_NS);
}

static uint8_t data_read(struct rtc *r)
{
	struct rtc_regs *s = &r->regs;
	unsigned reg = s->index & 0x7f;
	uint8_t v;
	struct tm tm;

	if (is_time_reg(reg) && !(s->cmos[REG_B] & B_SET)) {
		guest_tm(r, &tm);
		return time_field(s, &tm, reg);
	}
	switch (reg) {
	case REG_A:
		return (uint8_t)((s->cmos[REG_A] & ~A_UIP) | (update_in_progress(r) ? A_UIP : 0));
	case REG_C:
		v = s->cmos[REG_C];
		s->cmos[REG_C] = 0;
		return v;
	case REG_D:
		return D_VRT;
	}
	return s->cmos[reg];
}

static void data_write(struct rtc *r, uint8_t v)
{
	struct rtc_regs *s = &r->regs;
	unsigned reg = s->index & 0x7f;
	uint8_t old_b;

	if (is_time_reg(reg)) {
		bool running = !(s->cmos[REG_B] & B_SET);

		if (running)
			latch(r);
		s->cmos[reg] = v;
		if (running)
			commit(r);
		return;
	}
	switch (reg) {
	case REG_A:
		s->cmos[REG_A] = v & ~A_UIP;
		return;
	case REG_B:
		old_b = s->cmos[REG_B];
		s->cmos[REG_B] = v;
		if (!(old_b & B_SET) && (v & B_SET))
			latch(r);
		else if ((old_b & B_SET) && !(v & B_SET))
			commit(r);
		return;
	case REG_C:
	case REG_D:
		return; /* read-only */
	}
	s->cmos[reg] = v;
}

void rtc_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	    bool is_write)
{
	struct rtc *r = opaque;
	uint32_t i;

	pthread_mutex_lock(&r->lock);
	/* A 16-bit "out 0x70" writes the index then the data, per byte. */
	for (i = 0; i < len; i++) {
		uint64_t port = off + i;

		if (port == 0) {
			if (is_write)
				r->regs.index = data[i] & 0x7f;
			else
				data[i] = 0xff;
		} else if (port == 1) {
			if (is_write)
				data_write(r, data[i]);
			else
				data[i] = data_read(r);
		} else if (!is_write) {
			data[i] = 0xff;
		}
	}
	pthread_mutex_unlock(&r->lock);
}

/* ---- the alarm, as a wake source ---- */

/* An alarm byte of 0xc0-0xff matches any value ("don't care"); otherwise
 * it must equal the register as the clock shows it, in the same format. */
static bool alarm_byte_matches(uint8_t alarm, uint8_t now)
{
	return (alarm & 0xc0) == 0xc0 || alarm == now;
}

int rtc_alarm_next(struct rtc *r, uint64_t after_ns, uint64_t *host_ns)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&r->lock);
	const struct rtc_regs *s = &r->regs;

	if ((s->cmos[REG_B] & B_AIE) && clock_runs(s)) {
		time_t now = after_ns ? (time_t)(after_ns / RTC_NS) : host_sec(r);

		/* Every time of day comes round within a day (plus a leap second). */
		for (time_t k = 1; k <= 86401; k++) {
			time_t g = now + k + (time_t)s->offset_s;
			struct tm tm;

			if (!gmtime_r(&g, &tm))
				break;
			if (alarm_byte_matches(s->cmos[REG_SEC_ALARM], time_field(s, &tm, REG_SEC)) &&
			    alarm_byte_matches(s->cmos[REG_MIN_ALARM], time_field(s, &tm, REG_MIN)) &&
			    alarm_byte_matches(s->cmos[REG_HOUR_ALARM], time_field(s, &tm, REG_HOUR))) {
				*host_ns = (uint64_t)(now + k) * RTC_NS;
				ret = 0;
				break;
			}
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void rtc_alarm_ring(struct rtc *r)
{
	pthread_mutex_lock(&r->lock);
	r->regs.cmos[REG_C] |= C_IRQF | C_AF;
	pthread_mutex_unlock(&r->lock);
}

/* ---- state ---- */

/* Wider than any date a guest can set (years 0-9999), well inside time_t. */
#define RTC_OFFSET_MAX (10000LL * 366 * 86400)

static int rtc_refuse(const char *field, long long val, const char *why)
{
	log_err("rtc state: %s = %lld %s; state refused", field, val, why);
	return -EINVAL;
}

int rtc_save(struct rtc *r, struct rtc_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&r->lock);
	memcpy(&s->regs, &r->regs, sizeof(s->regs));
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int rtc_check(const struct rtc_regs *s)
{
	for (size_t i = 0; i < sizeof(s->pad); i++)
		if (s->pad[i])
			return rtc_refuse("pad", s->pad[i], "is not zero");
	if (s->index > 0x7f)
		return rtc_refuse("index", s->index, "is past the 128 CMOS bytes");
	if (s->cmos[REG_A] & A_UIP)
		return rtc_refuse("cmos[0x0a]", s->cmos[REG_A], "has update-in-progress set");
	if (s->cmos[REG_C] & ~(C_IRQF | C_AF))
		return rtc_refuse("cmos[0x0c]", s->cmos[REG_C],
				  "has interrupt flags other than the alarm's set");
	if ((s->cmos[REG_C] & C_IRQF) && !(s->cmos[REG_C] & C_AF))
		return rtc_refuse("cmos[0x0c]", s->cmos[REG_C],
				  "has IRQF set without the alarm flag that raises it");
	if (s->offset_s > RTC_OFFSET_MAX || s->offset_s < -RTC_OFFSET_MAX)
		return rtc_refuse("offset_s", s->offset_s, "is beyond 10000 years");
	return 0;
}

int rtc_restore(struct rtc *r, const struct rtc_state *s)
{
	int err = rtc_check(&s->regs);

	if (err)
		return err;
	pthread_mutex_lock(&r->lock);
	memcpy(&r->regs, &s->regs, sizeof(r->regs));
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */


static int rtc_kind_create(void **dev, const struct vm_config *cfg, int index,
			     const struct device_env *env)
{
	struct rtc *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	rtc_init(k, device_irq_line(env, IRQ_RTC));
	*dev = k;
	return 0;
}

static int rtc_kind_attach(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi)
{
	struct rtc *k = dev;

	return device_claim_ports(env, PORT_RTC, 2, rtc_io, k, "CMOS RTC");
}

static int rtc_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct rtc_state) ? rtc_save(dev, state) : -EINVAL;
}

static int rtc_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct rtc_state) ? rtc_restore(dev, state) : -EINVAL;
}

static void rtc_kind_destroy(void *dev)
{
	struct rtc *k = dev;

	rtc_destroy(k);
	free(k);
}

const struct device_kind rtc_kind = {
	.name = "CMOS RTC",
	.short_name = "rtc",
	.create = rtc_kind_create,
	.attach = rtc_kind_attach,
	.state_size = sizeof(struct rtc_state),
	.state_version = RTC_STATE_VERSION,
	.save = rtc_kind_save,
	.restore = rtc_kind_restore,
	.destroy = rtc_kind_destroy,
};
