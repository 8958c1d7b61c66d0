/* state_checks.c - the KVM state round-trip test's checks: what the guest left, and save vs. save. */
#include <stdio.h>
#include <string.h>

#include "state_roundtrip.h"

#define XSAVE_XMM3  (160 + 3 * 16) /* legacy area: XMM0 at byte 160 */
#define APIC_IRR_40 0x220          /* IRR word of vectors 0x40..0x5f */
#define APIC_LVTT   0x320
#define MS          1000000ull

static uint32_t apic_reg(const struct vcpu_state *s, unsigned off)
{
	uint32_t v;

	memcpy(&v, &s->lapic.regs[off], 4);
	return v;
}

static uint64_t msr(const struct vcpu_state *s, uint32_t index)
{
	uint64_t v = 0;

	return vcpu_state_msr_get(s, index, &v) == 0 ? v : 0xdead0000dead0000ull;
}

void check_source_state(const struct vcpu_state_host *host, const struct vcpu_state *s,
			const struct vm_kvm_state *v)
{
	uint64_t xmm3;
	const struct kvm_pit_channel_state *ch2 = &v->pit.channels[2];
	const struct kvm_pic_state *pic = &v->pic_master.chip.pic;

	memcpy(&xmm3, (const uint8_t *)s->xsave + XSAVE_XMM3, 8);
	check(s->regs.rbx == 3, "saved rbx is 3 (%llu)", (unsigned long long)s->regs.rbx);
	check(!!(s->flags & VCPU_STATE_F_SREGS2) == !!host->has_sregs2,
	      "special registers saved with %s, as KVM offers",
	      host->has_sregs2 ? "KVM_GET_SREGS2" : "KVM_GET_SREGS");
	check(s->nmsrs >= 30 && s->nmsrs + s->nmsrs_refused == host->nmsrs,
	      "%u MSRs saved, %u refused, of %u asked", s->nmsrs, s->nmsrs_refused, host->nmsrs);
	check(msr(s, VCPU_MSR_LSTAR) == 0xffffffff81234567ull, "saved LSTAR is the guest's (%#llx)",
	      (unsigned long long)msr(s, VCPU_MSR_LSTAR));
	check(msr(s, VCPU_MSR_KERNEL_GS_BASE) == 0x0000112255667788ull,
	      "saved KERNEL_GS_BASE is the guest's (%#llx)",
	      (unsigned long long)msr(s, VCPU_MSR_KERNEL_GS_BASE));
	check(msr(s, VCPU_MSR_IA32_TSC) != 0 && msr(s, VCPU_MSR_IA32_TSC) != 0xdead0000dead0000ull,
	      "IA32_TSC saved (%llu), TSC %u kHz", (unsigned long long)msr(s, VCPU_MSR_IA32_TSC),
	      s->tsc_khz);
	check(xmm3 == 0x1122334455667788ull, "saved XMM3 is the guest's (%#llx)",
	      (unsigned long long)xmm3);
	check(apic_reg(s, APIC_IRR_40) & 1, "LAPIC: the self-IPI (vector 0x40) is pending in IRR");
	check((apic_reg(s, APIC_LVTT) >> 17 & 3) == 2 && s->regs.r13 &&
	      msr(s, VCPU_MSR_IA32_TSC_DEADLINE) == s->regs.r13,
	      "LAPIC timer in TSC-deadline mode, IA32_TSC_DEADLINE saved as the guest wrote it (%#llx)",
	      (unsigned long long)msr(s, VCPU_MSR_IA32_TSC_DEADLINE));
	check(ch2->count == 0x1234 && ch2->mode == 3, "PIT channel 2: count %#x mode %u",
	      ch2->count, ch2->mode);
	check(pic->imr == 0xfb && pic->irq_base == 0x20, "PIC master: imr %#x, vectors from %#x",
	      pic->imr, pic->irq_base);
	check((uint32_t)v->ioapic.chip.ioapic.redirtbl[4].bits == 0x10044,
	      "IOAPIC pin 4: %#llx", (unsigned long long)v->ioapic.chip.ioapic.redirtbl[4].bits);
	check(s->debugregs.db[0] == 0x5000 && s->debugregs.db[1] == 0x6000, "DR0 %#llx DR1 %#llx",
	      (unsigned long long)s->debugregs.db[0], (unsigned long long)s->debugregs.db[1]);
}

/* First differing byte of two regions, or -1. */
static long first_diff(const void *a, const void *b, size_t len)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < len; i++)
		if (x[i] != y[i])
			return (long)i;
	return -1;
}

static void same(const char *who, const char *what, const void *a, const void *b, size_t len)
{
	long d = first_diff(a, b, len);

	check(d < 0, "%s%s%s equal after the round trip%s", who, *who ? ": " : "", what,
	      d < 0 ? "" : " (differs)");
	if (d >= 0)
		printf("#   %s: first difference at byte %#lx of %zu\n", what, d, len);
}

static void same_msrs(const char *who, const struct vcpu_state *a, const struct vcpu_state *b)
{
	uint32_t bad = 0;

	for (uint32_t i = 0; i < a->nmsrs && i < b->nmsrs; i++) {
		if (a->msrs[i].index != b->msrs[i].index || a->msrs[i].data != b->msrs[i].data) {
			if (bad++ < 8)
				printf("#   MSR %#x: %#llx, after the round trip %#x: %#llx\n",
				       a->msrs[i].index, (unsigned long long)a->msrs[i].data,
				       b->msrs[i].index, (unsigned long long)b->msrs[i].data);
		}
	}
	check(a->nmsrs == b->nmsrs && bad == 0, "%s: MSRs equal after the round trip (%u, %u differ)",
	      who, a->nmsrs, bad);
}

static void same_lapic(const char *who, const struct vcpu_state *a, const struct vcpu_state *b)
{
	int bad = 0;

	for (unsigned off = 0; off < sizeof(a->lapic.regs); off += 16) {
		if (apic_reg(a, off) != apic_reg(b, off) && bad++ < 8)
			printf("#   LAPIC register %#x: %#x, after the round trip %#x\n", off,
			       apic_reg(a, off), apic_reg(b, off));
	}
	same(who, "LAPIC", &a->lapic, &b->lapic, sizeof(a->lapic));
}

void compare_vcpu(const char *who, const struct vcpu_state *a, const struct vcpu_state *b,
		  uint64_t gap_ns)
{
	static struct vcpu_state m;
	uint64_t ta = msr(a, VCPU_MSR_IA32_TSC), tb = msr(b, VCPU_MSR_IA32_TSC);
	uint64_t max_cycles = (gap_ns / 1000 + 1000) * a->tsc_khz / 1000 * 2;
	uint64_t da = msr(a, VCPU_MSR_IA32_TSC_DEADLINE), db = msr(b, VCPU_MSR_IA32_TSC_DEADLINE);
	uint64_t slack = (uint64_t)a->tsc_khz * VCPU_STATE_TSC_SLACK_MS;
	int64_t d = (int64_t)(tb - ta);

	/* The TSC runs on from the saved value. KVM puts the vCPUs of a VM back
	 * on one offset, so a vCPU saved after the first may land behind its own
	 * saved value by the skew between the saves: within the slack. */
	check(d > -(int64_t)slack && d <= (int64_t)max_cycles,
	      "%s: IA32_TSC continued from the saved value: %+lld cycles (from -%llu to +%llu for "
	      "%.1f ms)", who, (long long)d, (unsigned long long)slack,
	      (unsigned long long)max_cycles, gap_ns / 1e6);
	/* KVM drops a deadline written while the LAPIC timer is not in
	 * deadline mode: this fails when MSRs go before the LAPIC. */
	check(db == da, "%s: TSC deadline %s after the round trip (%#llx, saved %#llx)", who,
	      da ? "still armed" : "still unarmed", (unsigned long long)db, (unsigned long long)da);

	m = *b;
	for (uint32_t i = 0; i < m.nmsrs && i < VCPU_STATE_MAX_MSRS; i++)
		if (m.msrs[i].index == VCPU_MSR_IA32_TSC)
			m.msrs[i].data = ta;

	check(m.version == a->version && m.flags == a->flags && m.tsc_khz == a->tsc_khz &&
	      m.xsave_size == a->xsave_size && m.nmsrs_refused == a->nmsrs_refused,
	      "%s: header (version, flags, TSC kHz, sizes) equal after the round trip", who);
	same(who, "registers", &a->regs, &m.regs, sizeof(a->regs));
	same(who, "special registers", &a->sregs2, &m.sregs2, sizeof(a->sregs2));
	same(who, "XSAVE area", a->xsave, m.xsave, a->xsave_size);
	same(who, "XCRs", &a->xcrs, &m.xcrs, sizeof(a->xcrs));
	same_msrs(who, a, &m);
	same_lapic(who, a, &m);
	same(who, "vCPU events", &a->events, &m.events, sizeof(a->events));
	same(who, "MP state", &a->mp_state, &m.mp_state, sizeof(a->mp_state));
	same(who, "debug registers", &a->debugregs, &m.debugregs, sizeof(a->debugregs));
	check(a->cpuid_nent == m.cpuid_nent, "%s: CPUID entry count equal (%u)", who, a->cpuid_nent);
	same(who, "CPUID", a->cpuid, m.cpuid, sizeof(a->cpuid));
	same(who, "whole struct vcpu_state (TSC masked)", a, &m, sizeof(m));
}

void compare_vm(const struct vm_kvm_state *a, const struct vm_kvm_state *b, uint64_t away_ns,
		uint64_t gap_ns)
{
	struct vm_kvm_state m = *b;
	int64_t d = (int64_t)(b->clock.clock - a->clock.clock);
	int load_ok = 1;

	if (a->clock.flags & KVM_CLOCK_REALTIME)
		/* KVM added the real time between the saves: the time away too. */
		check(d >= (int64_t)away_ns - (int64_t)MS && d <= (int64_t)(away_ns + gap_ns + 10 * MS),
		      "kvm-clock advanced by the real time elapsed: +%.3f ms (away %.3f ms)", d / 1e6,
		      away_ns / 1e6);
	else
		/* The saved value, then running only since the restore. */
		check(d >= 0 && d <= (int64_t)(gap_ns + 10 * MS),
		      "kvm-clock continued from the saved value: +%.3f ms (restore to save %.3f ms; "
		      "%.3f ms away not counted: no KVM_CLOCK_REALTIME)", d / 1e6, gap_ns / 1e6,
		      away_ns / 1e6);
	m.clock.clock = a->clock.clock;
	m.clock.realtime = a->clock.realtime;
	m.clock.host_tsc = a->clock.host_tsc;
	/* KVM_SET_PIT2 reloads each channel's count now: its load time is the
	 * restore's, on the same host monotonic clock. */
	for (int i = 0; i < 3; i++) {
		load_ok &= b->pit.channels[i].count_load_time >= a->pit.channels[i].count_load_time;
		m.pit.channels[i].count_load_time = a->pit.channels[i].count_load_time;
	}
	check(load_ok, "PIT count load times moved forward to the restore");
	check(m.clock.flags == a->clock.flags, "clock flags equal (%#x)", a->clock.flags);
	same("", "PIC master", &a->pic_master, &m.pic_master, sizeof(a->pic_master));
	same("", "PIC slave", &a->pic_slave, &m.pic_slave, sizeof(a->pic_slave));
	same("", "IOAPIC", &a->ioapic, &m.ioapic, sizeof(a->ioapic));
	same("", "PIT", &a->pit, &m.pit, sizeof(a->pit));
	same("", "whole struct vm_kvm_state (clock and PIT load times masked)", a, &m, sizeof(m));
}
