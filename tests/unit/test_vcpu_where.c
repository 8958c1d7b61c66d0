/* test_vcpu_where.c - the line mvm prints per vCPU when a VM is stopped from outside. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/vcpu.h"

static void test_halted_with_interrupts_on(void **state)
{
	struct vcpu v = { .last_valid = true, .last_rip = 0xffffffff81e3a1b2ULL,
			  .last_rflags = 0x246, .last_mp_state = KVM_MP_STATE_HALTED };
	char buf[128];

	vcpu_where(&v, buf, sizeof(buf));
	assert_string_equal(buf, "RIP 0xffffffff81e3a1b2, RFLAGS 0x246 (interrupts on), halted");
}

static void test_running_with_interrupts_off(void **state)
{
	struct vcpu v = { .last_valid = true, .last_rip = 0x100000, .last_rflags = 0x3002,
			  .last_mp_state = KVM_MP_STATE_RUNNABLE };
	char buf[128];

	vcpu_where(&v, buf, sizeof(buf));
	assert_string_equal(buf, "RIP 0x100000, RFLAGS 0x3002 (interrupts off), running");
}

static void test_unknown(void **state)
{
	struct vcpu v = { .last_valid = false };
	struct vcpu odd = { .last_valid = true, .last_rip = 1, .last_rflags = 2,
			    .last_mp_state = 1000 };
	char buf[128];

	vcpu_where(&v, buf, sizeof(buf));
	assert_string_equal(buf, "state unknown");
	vcpu_where(&odd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "other state"));
	vcpu_where(&odd, buf, 8);                 /* truncated, still terminated */
	assert_int_equal(strlen(buf), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_halted_with_interrupts_on),
		cmocka_unit_test(test_running_with_interrupts_off),
		cmocka_unit_test(test_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
