/* test_vcpu_state.c - vCPU and VM state without KVM: corrupted states refused, MSR list helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/vcpu_state.h"
#include "core/vm_state.h"
#include "util/log.h"

/* The last message logged, and how many. */
struct caught {
	char msg[512];
	int n;
};

static void catch_sink(enum log_level level, const char *msg, void *ctx)
{
	struct caught *c = ctx;

	(void)level;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
	c->n++;
}

static struct caught caught;

static int setup(void **state)
{
	memset(&caught, 0, sizeof(caught));
	log_set_sink(catch_sink, &caught);
	return 0;
}

static int teardown(void **state)
{
	log_set_sink(NULL, NULL);
	return 0;
}

/* A vcpu_state that passes vcpu_state_check(); heap, it is ~40 KiB. */
static struct vcpu_state *good_vcpu(void)
{
	struct vcpu_state *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->version = VCPU_STATE_VERSION;
	s->flags = VCPU_STATE_F_SREGS2;
	s->cpuid_nent = 3;
	s->nmsrs = 10;
	s->xsave_size = 4096;
	s->xcrs.nr_xcrs = 1;
	return s;
}

/* Each corruption: refused with -EINVAL and a message naming the field. The
 * restore is given fd -1: had it reached an ioctl, the answer would be EBADF
 * and the message would name the ioctl. */
static void expect_refused(struct vcpu_state *s, const char *field)
{
	caught.n = 0;
	assert_int_equal(vcpu_state_check(s), -EINVAL);
	assert_non_null(strstr(caught.msg, field));
	assert_int_equal(vcpu_state_restore(-1, s), -EINVAL);
	assert_non_null(strstr(caught.msg, field));
	assert_null(strstr(caught.msg, "KVM_SET"));
	assert_int_equal(caught.n, 2);
}

static void test_check_accepts_good(void **state)
{
	struct vcpu_state *s = good_vcpu();

	assert_int_equal(vcpu_state_check(s), 0);
	s->nmsrs = VCPU_STATE_MAX_MSRS;
	s->cpuid_nent = VCPU_STATE_MAX_CPUID;
	s->xsave_size = VCPU_STATE_XSAVE_MAX;
	s->xcrs.nr_xcrs = KVM_MAX_XCRS;
	assert_int_equal(vcpu_state_check(s), 0);
	assert_int_equal(caught.n, 0);
	/* Good, so the restore goes as far as the first ioctl, on fd -1. */
	assert_int_equal(vcpu_state_restore(-1, s), -EBADF);
	assert_non_null(strstr(caught.msg, "KVM_SET_CPUID2"));
	free(s);
}

static void test_check_refuses_corrupt(void **state)
{
	struct vcpu_state *s = good_vcpu();

	s->version = VCPU_STATE_VERSION + 1;
	expect_refused(s, "version 2");
	s->version = VCPU_STATE_VERSION;

	s->flags = 0x80;
	expect_refused(s, "flags");
	s->flags = 0;

	s->nmsrs = VCPU_STATE_MAX_MSRS + 1;
	expect_refused(s, "nmsrs 513");
	s->nmsrs = 0xffffffffu;
	expect_refused(s, "nmsrs");
	s->nmsrs = 0;

	s->cpuid_nent = VCPU_STATE_MAX_CPUID + 1;
	expect_refused(s, "cpuid_nent 257");
	s->cpuid_nent = 0;
	expect_refused(s, "cpuid_nent 0");
	s->cpuid_nent = 1;

	s->xsave_size = VCPU_STATE_XSAVE_MAX + 4;
	expect_refused(s, "xsave_size 16388");
	s->xsave_size = 4095;
	expect_refused(s, "xsave_size 4095");
	s->xsave_size = 4098;
	expect_refused(s, "xsave_size 4098");
	s->xsave_size = 4096;

	s->xcrs.nr_xcrs = KVM_MAX_XCRS + 1;
	expect_refused(s, "nr_xcrs 17");
	free(s);
}

static void test_msr_candidates(void **state)
{
	const uint32_t kvm_list[] = { 0xc0000082, 0x10, 0x40000020, 0x4b564d01, 0x174,
				      0x400000ff, 0x40000000, 0x3b, 0xc0010117 };
	uint32_t out[VCPU_STATE_MAX_MSRS];
	int n = vcpu_state_msr_candidates(kvm_list, 9, out, VCPU_STATE_MAX_MSRS);

	assert_true(n > 9);
	for (int i = 1; i < n; i++)
		assert_true(out[i - 1] < out[i]); /* sorted, no duplicate */
	for (int i = 0; i < n; i++)
		assert_false(out[i] >= VCPU_MSR_HYPERV_FIRST && out[i] <= VCPU_MSR_HYPERV_LAST);
	/* KVM's own entry kept; must-haves added even when KVM's list lacks them. */
	const uint32_t want[] = { 0xc0010117, VCPU_MSR_IA32_TSC, VCPU_MSR_IA32_TSC_ADJUST,
				  VCPU_MSR_IA32_TSC_DEADLINE, VCPU_MSR_IA32_APIC_BASE, 0x12,
				  0x4b564d00, 0x4b564d01, 0x4b564d03, 0x4b564d04, 0xc0000080,
				  0xc0000084, VCPU_MSR_KERNEL_GS_BASE, 0x277, 0x1a0, 0x176 };

	for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		int found = 0;

		for (int i = 0; i < n; i++)
			found |= out[i] == want[w];
		if (!found)
			fail_msg("MSR %#x missing from the candidates", want[w]);
	}
	/* No room: refused, not truncated. */
	assert_int_equal(vcpu_state_msr_candidates(kvm_list, 9, out, 5), -E2BIG);
	assert_non_null(strstr(caught.msg, "VCPU_STATE_MAX_MSRS"));
	/* An empty KVM list still gives the must-haves. */
	assert_int_equal(vcpu_state_msr_candidates(NULL, 0, out, VCPU_STATE_MAX_MSRS), n - 1);
}

static void test_msr_restore_order(void **state)
{
	const struct kvm_msr_entry in[] = {
		{ .index = VCPU_MSR_IA32_TSC_DEADLINE, .data = 9 }, { .index = 0x174, .data = 1 },
		{ .index = VCPU_MSR_IA32_TSC, .data = 7 }, { .index = 0xc0000082, .data = 2 },
		{ .index = VCPU_MSR_IA32_TSC_ADJUST, .data = 3 },
	};
	struct kvm_msr_entry out[5];

	memset(out, 0xaa, sizeof(out));
	vcpu_state_msr_restore_order(in, 5, out);
	assert_int_equal(out[0].index, VCPU_MSR_IA32_TSC);
	assert_int_equal(out[0].data, 7);
	assert_int_equal(out[1].index, 0x174);
	assert_int_equal(out[2].index, 0xc0000082);
	assert_int_equal(out[3].index, VCPU_MSR_IA32_TSC_ADJUST);
	assert_int_equal(out[4].index, VCPU_MSR_IA32_TSC_DEADLINE);
	assert_int_equal(out[4].data, 9);
}

static void test_msr_get(void **state)
{
	struct vcpu_state *s = good_vcpu();
	uint64_t v = 0;

	s->nmsrs = 2;
	s->msrs[0] = (struct kvm_msr_entry){ .index = VCPU_MSR_LSTAR, .data = 0xffffffff81000000ull };
	s->msrs[1] = (struct kvm_msr_entry){ .index = VCPU_MSR_IA32_TSC, .data = 12345 };
	s->msrs[2] = (struct kvm_msr_entry){ .index = 0x174, .data = 5 }; /* past nmsrs */
	assert_int_equal(vcpu_state_msr_get(s, VCPU_MSR_IA32_TSC, &v), 0);
	assert_int_equal(v, 12345);
	assert_int_equal(vcpu_state_msr_get(s, 0x174, &v), -ENOENT);
	/* A corrupt count is bounded by the array, not trusted. */
	s->nmsrs = 0xffffffffu;
	assert_int_equal(vcpu_state_msr_get(s, 0xdeadbeef, &v), -ENOENT);
	free(s);
}

static struct vm_kvm_state good_vm(void)
{
	struct vm_kvm_state s = { .version = VM_STATE_VERSION };

	s.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	s.clock.flags = KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC;
	s.pit.flags = KVM_PIT_FLAGS_HPET_LEGACY;
	return s;
}

static void expect_vm_refused(const struct vm_kvm_state *s, const char *field)
{
	assert_int_equal(vm_state_check(s), -EINVAL);
	assert_non_null(strstr(caught.msg, field));
	assert_int_equal(vm_state_restore(-1, s), -EINVAL);
	assert_non_null(strstr(caught.msg, field));
}

static void test_vm_check(void **state)
{
	struct vm_kvm_state s = good_vm();

	assert_int_equal(vm_state_check(&s), 0);
	assert_int_equal(caught.n, 0);
	assert_int_equal(vm_state_restore(-1, &s), -EBADF);
	assert_non_null(strstr(caught.msg, "KVM_SET_IRQCHIP (PIC master)"));

	s.version = 7;
	expect_vm_refused(&s, "version 7");
	s = good_vm();
	s.pic_slave.chip_id = KVM_IRQCHIP_IOAPIC;
	expect_vm_refused(&s, "pic_slave.chip_id 2");
	s = good_vm();
	s.ioapic.chip_id = 9;
	expect_vm_refused(&s, "ioapic.chip_id 9");
	s = good_vm();
	s.pit.flags = 0x10;
	expect_vm_refused(&s, "pit.flags");
	s = good_vm();
	s.clock.flags = 0x100;
	expect_vm_refused(&s, "clock.flags");
}

/* A multiboot kernel's PIC: vector bases 0x08/0x70, initialised in 8086 mode,
 * and what the guest or KVM set elsewhere (masks, lines, ELCR) left alone. */
static void test_pic_bios(void **state)
{
	struct kvm_pic_state m, s;

	memset(&m, 0, sizeof(m));  /* KVM's PIC as created: base 0, ICWs pending */
	m.init_state = 1;
	m.irr = 0x08;
	m.elcr_mask = 0xf8;
	s = m;
	s.elcr_mask = 0xde;
	s.imr = 0x5a;
	vm_state_pic_bios_fill(&m, 0);
	vm_state_pic_bios_fill(&s, 1);
	assert_int_equal(m.irq_base, 0x08);
	assert_int_equal(s.irq_base, 0x70);
	assert_int_equal(m.init_state, 0);
	assert_int_equal(m.init4, 1);
	assert_int_equal(s.init4, 1);
	assert_int_equal(m.auto_eoi, 0);
	assert_int_equal(m.irr, 0x08);
	assert_int_equal(m.imr, 0);
	assert_int_equal(s.imr, 0x5a);
	assert_int_equal(m.elcr_mask, 0xf8);
	assert_int_equal(s.elcr_mask, 0xde);
	/* Without a VM: the failed ioctl is reported, not ignored. */
	assert_int_equal(vm_state_pic_bios(-1), -EBADF);
	assert_non_null(strstr(caught.msg, "KVM_GET_IRQCHIP (PIC)"));
}

/* KVM_SET_CLOCK gets the saved value, plus the saved real time only when the
 * saving host vouched for it; never the flags that describe the saving host. */
static void test_clock_to_set(void **state)
{
	struct kvm_clock_data saved = { .clock = 123456789, .realtime = 1700000000000000000ull,
					.host_tsc = 999, .flags = KVM_CLOCK_TSC_STABLE |
					KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC };
	struct kvm_clock_data out;

	memset(&out, 0xaa, sizeof(out));
	vm_state_clock_to_set(&saved, &out);
	assert_int_equal(out.clock, 123456789);
	assert_int_equal(out.flags, KVM_CLOCK_REALTIME);
	assert_int_equal(out.realtime, 1700000000000000000ull);
	assert_int_equal(out.host_tsc, 0);
	assert_int_equal(out.pad0, 0);

	saved.flags = KVM_CLOCK_TSC_STABLE; /* host clocksource not the TSC: no real time */
	vm_state_clock_to_set(&saved, &out);
	assert_int_equal(out.clock, 123456789);
	assert_int_equal(out.flags, 0);
	assert_int_equal(out.realtime, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_check_accepts_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_refuses_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msr_candidates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msr_restore_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msr_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vm_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_to_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pic_bios, setup, teardown),
	};
	return cmocka_run_group_tests_name("vcpu_state", tests, NULL, NULL);
}
