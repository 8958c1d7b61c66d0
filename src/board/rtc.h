/* rtc.h - MC146818 CMOS real-time clock and its 128 bytes of CMOS RAM.
 *
 * Contract: rtc_init() then register rtc_io for [PORT_RTC, +2) with the
 * struct rtc as opaque: offset 0 is the index port (bit 7, the NMI mask,
 * is dropped; reads return 0xff), offset 1 the data port. Callbacks may
 * run on several vCPUs at once (a mutex guards the state).
 *
 * Behaviour: the time registers (seconds, minutes, hours, day of week,
 * day, month, year, century at RTC_CENTURY) show the host's UTC time plus
 * a guest offset, computed on every read, in BCD or binary and 12- or
 * 24-hour form per register B. Register A never shows update-in-progress,
 * C reads 0 (and would clear), D reads VRT (battery good). Guest writes to
 * the time registers are kept: while register B's SET bit is on, writes
 * land in a latched copy that reads back as written; clearing SET (or any
 * time write with SET off) turns the latched time into an offset from host
 * time, which lasts for the life of the VM (not saved across runs).
 * Register A shows update-in-progress as the MC146818 does, from
 * RTC_UIP_BEFORE_NS before each second boundary to RTC_UIP_AFTER_NS after
 * it, while the divider runs (register A's DV bits 010) and SET is off.
 * The alarm (bytes 1, 3, 5; 0xc0-0xff = don't care) with AIE on is a wake
 * source only: rtc_alarm_next() tells when it next rings, and the S3 wake
 * (vmm/sleep.c) calls rtc_alarm_ring(), which sets IRQF|AF in register C.
 * Not implemented: the interrupts themselves (periodic, alarm and
 * update-ended do not raise IRQ 8 while the guest runs; the irq line is
 * kept for when they do).
 *
 * State: the CMOS bytes, the index and the guest's offset from host time.
 * The clock itself is the host's: a restored guest reads host time plus
 * the saved offset, so its wall clock follows the host it runs on (time
 * spent in the snapshot passes for it too), as after a suspend. rtc_restore()
 * refuses (-EINVAL, logging the field) an index past 127, register A with
 * update-in-progress set, register C with flags other than IRQF|AF (only
 * the alarm's wake sets any), an offset beyond +-10000 years (host time plus it must not
 * overflow) and non-zero padding.
 */
#ifndef MVM_BOARD_RTC_H
#define MVM_BOARD_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/irq.h"

#define RTC_CMOS_SIZE 128
#define RTC_CENTURY   0x32
#define RTC_NS        1000000000ull
#define RTC_UIP_BEFORE_NS 244000ull  /* UIP rises this long before an update */
#define RTC_UIP_AFTER_NS  1984000ull /* and the update cycle lasts this long */

/* Guest-visible state: plain data. */
struct rtc_regs {
	uint8_t index;                /* selected CMOS byte, 0-127 */
	uint8_t cmos[RTC_CMOS_SIZE];  /* time bytes hold the latch while SET is on */
	uint8_t pad[7];               /* always 0: states compare bytewise */
	int64_t offset_s;             /* guest time minus host time, seconds */
};

struct rtc {
	struct rtc_regs regs;
	pthread_mutex_t lock;
	struct irq_line irq;          /* IRQ_RTC; unused until interrupts exist */
	uint64_t (*now_ns)(void);     /* host UTC in ns; CLOCK_REALTIME by default */
};

#define RTC_STATE_VERSION 1

struct rtc_state {
	struct rtc_regs regs;
};

/* 0. */
int rtc_save(struct rtc *r, struct rtc_state *s);
/* 0 or -EINVAL (logged, naming the field; r unchanged). */
int rtc_restore(struct rtc *r, const struct rtc_state *s);

void rtc_init(struct rtc *r, struct irq_line irq);
void rtc_destroy(struct rtc *r);

/* bus_io_fn for the 2 ports; opaque is the struct rtc. */
void rtc_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	    bool is_write);

/* When the alarm next rings after the second of after_ns (host UTC ns; 0:
 * now): 0 and *host_ns (host UTC ns, a second boundary), or -ENOENT when it
 * cannot (AIE off, clock stopped, or no time within a day matches). */
int rtc_alarm_next(struct rtc *r, uint64_t after_ns, uint64_t *host_ns);
/* The alarm rang (an S3 wake): IRQF and AF in register C, cleared by reading it. */
void rtc_alarm_ring(struct rtc *r);

/* For the builder, before the VM runs: plain CMOS bytes from 0x0e up (e.g.
 * memory size at 0x34/0x35). Index is masked to 0-127; bytes 0x00-0x0d
 * and the century are clock registers and should not be set this way. */
void rtc_cmos_set(struct rtc *r, uint8_t index, uint8_t value);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind rtc_kind;

#endif
