/* test_cpuid.c - per-vCPU APIC IDs and topology leaves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core/cpuid.h"
#include "core/hyperv.h"

/* A made-up "supported" table shaped like KVM's on an AMD host with 0xB. */
static struct kvm_cpuid2 *fake_supported(void)
{
	static const struct kvm_cpuid_entry2 e[] = {
		{ .function = 0, .eax = 0x10 },
		{ .function = 1, .eax = 0x830f10, .ebx = 0x00000800, .ecx = 0x7ed8320b, .edx = 0x178bfbff },
		{ .function = 0xb, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0xb, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0xb, .index = 2, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b, .ecx = 0x564b4d56, .edx = 0x4d },
		{ .function = 0x40000001, .eax = 0x01007afb },
		{ .function = 0x80000001, .ecx = 0x1 },
		{ .function = 0x80000008, .ecx = 0x3007 },
		{ .function = 0x8000001e, .eax = 7, .ebx = 0x107, .ecx = 0x3 },
		{ .function = 4, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x121 },
		{ .function = 4, .index = 3, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x163 },
		{ .function = 0x8000001d, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x121 | (1u << 14) },
		{ .function = 0x8000001d, .index = 3, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x163 | (15u << 14) },
	};
	const int n = sizeof(e) / sizeof(e[0]);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(e[0]));

	c->nent = n;
	for (int i = 0; i < n; i++)
		c->entries[i] = e[i];
	return c;
}

static void test_apic_ids_and_counts(void **state)
{
	struct kvm_cpuid2 *sup = fake_supported();

	for (int n = 1; n <= 4; n++) {
		for (int i = 0; i < n; i++) {
			struct kvm_cpuid2 *c = cpuid_build(sup, i, n);
			struct kvm_cpuid_entry2 *l1 = cpuid_find(c, 1, 0);

			assert_non_null(c);
			assert_int_equal(l1->ebx >> 24, i);
			assert_int_equal((l1->ebx >> 16) & 0xff, n);
			assert_int_equal((l1->ebx >> 8) & 0xff, 8); /* CLFLUSH size kept */
			assert_true(l1->ecx & (1u << 31));           /* hypervisor */
			assert_int_equal(!!(l1->edx & (1u << 28)), n > 1);
			assert_int_equal(cpuid_find(c, 0xb, 0)->edx, i);
			assert_int_equal(cpuid_find(c, 0xb, 1)->edx, i);
			assert_int_equal(cpuid_find(c, 0xb, 1)->ebx, n);
			assert_int_equal((cpuid_find(c, 0xb, 1)->ecx >> 8) & 0xff, 2);
			assert_int_equal(cpuid_find(c, 0xb, 0)->ebx, 1);
			assert_int_equal(cpuid_find(c, 0xb, 2)->ecx, 2); /* invalid level */
			assert_int_equal(cpuid_find(c, 0x80000008, 0)->ecx & 0xff, n - 1);
			assert_int_equal(cpuid_find(c, 0x8000001e, 0)->eax, i);
			free(c);
		}
	}
	free(sup);
}

static void test_core_shift_covers_count(void **state)
{
	struct kvm_cpuid2 *sup = fake_supported();
	const int counts[] = { 1, 2, 3, 4, 5, 8, 9, 64, 255 };
	const unsigned shifts[] = { 0, 1, 2, 2, 3, 3, 4, 6, 8 };

	for (unsigned k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		struct kvm_cpuid2 *c = cpuid_build(sup, 0, counts[k]);

		assert_int_equal(cpuid_find(c, 0xb, 1)->eax, shifts[k]);
		free(c);
	}
	free(sup);
}

static void test_kvm_leaves_pass_through(void **state)
{
	struct kvm_cpuid2 *sup = fake_supported();
	struct kvm_cpuid2 *c = cpuid_build(sup, 1, 2);

	assert_int_equal(cpuid_find(c, 0x40000000, 0)->ebx, 0x4b4d564b); /* "KVMK" */
	assert_int_equal(cpuid_find(c, 0x40000001, 0)->eax, 0x01007afb); /* kvm-clock bits */
	free(c);
	free(sup);
}

/* Cache-sharing fields: per core below L3, the package at L3; leaf 4's
 * 6-bit core count saturates instead of spilling into other bits. */
static void test_cache_topology(void **state)
{
	struct kvm_cpuid2 *sup = fake_supported();
	struct kvm_cpuid2 *c = cpuid_build(sup, 0, 4);

	assert_int_equal((cpuid_find(c, 0x8000001d, 0)->eax >> 14) & 0xfff, 0);
	assert_int_equal((cpuid_find(c, 0x8000001d, 3)->eax >> 14) & 0xfff, 3);
	assert_int_equal(cpuid_find(c, 0x8000001d, 3)->eax & 0x3fff, 0x163);
	assert_int_equal(cpuid_find(c, 4, 0)->eax >> 26, 3);
	assert_int_equal((cpuid_find(c, 4, 3)->eax >> 14) & 0xfff, 3);
	free(c);
	c = cpuid_build(sup, 0, 200);
	assert_int_equal(cpuid_find(c, 4, 0)->eax >> 26, 63);
	assert_int_equal(cpuid_find(c, 4, 0)->eax & 0x3fff, 0x121);
	free(c);
	free(sup);
}

static void test_bad_index_refused(void **state)
{
	struct kvm_cpuid2 *sup = fake_supported();

	assert_null(cpuid_build(sup, 2, 2));
	assert_null(cpuid_build(sup, 0, 0));
	assert_null(cpuid_build(sup, -1, 1));
	free(sup);
}

/* A table shaped like KVM_GET_SUPPORTED_HV_CPUID's on the test host's kvm_amd. */
static struct kvm_cpuid2 *fake_hv(unsigned extra)
{
	static const struct kvm_cpuid_entry2 e[] = {
		{ .function = 0x40000000, .eax = 0x40000082, .ebx = 0x756e694c, .ecx = 0x564b2078,
		  .edx = 0x7648204d },                                   /* "Linux KVM Hv" */
		{ .function = 0x40000001, .eax = 0x31237648 },           /* "Hv#1" */
		{ .function = 0x40000003, .eax = 0x2aff, .ebx = 0x830, .edx = 0x80d12 },
		{ .function = 0x40000004, .eax = 0x40e2c, .ebx = 0xfff },
		{ .function = 0x40000082, .eax = 2 },
		{ .function = 0x12345 },                                 /* not a Hyper-V leaf */
	};
	const unsigned n = sizeof(e) / sizeof(e[0]);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (n + extra) * sizeof(e[0]));

	c->nent = n + extra;
	for (unsigned i = 0; i < n; i++)
		c->entries[i] = e[i];
	return c;
}

/* --cpu-hyperv: Hyper-V's leaves at 0x40000000, KVM's own moved to 0x40000100
 * (its maximum leaf with them), the rest of the table as it was. */
static void test_hyperv_merge(void **state)
{
	struct kvm_cpuid2 *sup = fake_supported(), *hv = fake_hv(0), *c, *m;
	struct kvm_cpuid_entry2 *e;

	c = cpuid_build(sup, 1, 2);
	m = hyperv_cpuid_merge(c, hv);
	assert_non_null(m);
	assert_int_equal(m->nent, c->nent + 5);
	e = cpuid_find(m, 0x40000000, 0);
	assert_int_equal(e->eax, 0x40000082);
	assert_int_equal(e->ebx, 0x756e694c);
	assert_int_equal(cpuid_find(m, 0x40000001, 0)->eax, 0x31237648);
	assert_int_equal(cpuid_find(m, 0x40000003, 0)->eax & 0xe, 0xe); /* ref count, SynIC, timers */
	e = cpuid_find(m, 0x40000100, 0);
	assert_non_null(e);
	assert_int_equal(e->eax, 0x40000101);
	assert_int_equal(e->ebx, 0x4b4d564b);                      /* "KVMK" */
	assert_int_equal(cpuid_find(m, 0x40000101, 0)->eax, 0x01007afb);
	assert_null(cpuid_find(m, 0x12345, 0));
	assert_int_equal(cpuid_find(m, 1, 0)->ebx >> 24, 1);     /* the per-vCPU fixes stay */
	assert_int_equal(cpuid_find(m, 0xb, 1)->edx, 1);
	free(m);

	/* A leaf already at 0x40000100 would collide with KVM's: dropped. */
	c->entries[0].function = 0x40000150;
	m = hyperv_cpuid_merge(c, hv);
	assert_non_null(m);
	assert_int_equal(m->nent, c->nent - 1 + 5);
	assert_null(cpuid_find(m, 0x40000150, 0));
	free(m);
	free(hv);

	/* More leaves than KVM could have answered with: refused. */
	hv = fake_hv(HYPERV_MAX_LEAVES);
	assert_null(hyperv_cpuid_merge(c, hv));
	free(hv);
	free(c);
	free(sup);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apic_ids_and_counts),
		cmocka_unit_test(test_core_shift_covers_count),
		cmocka_unit_test(test_kvm_leaves_pass_through),
		cmocka_unit_test(test_cache_topology),
		cmocka_unit_test(test_bad_index_refused),
		cmocka_unit_test(test_hyperv_merge),
	};
	return cmocka_run_group_tests_name("cpuid", tests, NULL, NULL);
}
