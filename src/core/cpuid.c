/* cpuid.c - per-vCPU CPUID: APIC IDs, topology and the hypervisor bit. */
#include "core/cpuid.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT        (1u << 28)
#define CPUID_80000001_ECX_CMP_LEGACY (1u << 1)
#define TOPO_LEVEL_SMT  1
#define TOPO_LEVEL_CORE 2

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned function, unsigned index)
{
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != function)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
			continue;
		return e;
	}
	return NULL;
}

/* Bits needed to number n things (0 for n == 1). */
static unsigned order_of(unsigned n)
{
	unsigned bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

/* Leaves 0xB and 0x1F: level 0 = SMT (1 thread per core), level 1 = core. */
static void fix_ext_topology(struct kvm_cpuid_entry2 *e, int apic_id, int nr_cpus)
{
	e->edx = apic_id;
	switch (e->index) {
	case 0:
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (TOPO_LEVEL_SMT << 8) | e->index;
		break;
	case 1:
		e->eax = order_of(nr_cpus);
		e->ebx = nr_cpus;
		e->ecx = (TOPO_LEVEL_CORE << 8) | e->index;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;
		break;
	}
}

static void fix_entry(struct kvm_cpuid_entry2 *e, int apic_id, int nr_cpus)
{
	switch (e->function) {
	case 1:
		/* EBX: [31:24] initial APIC ID, [23:16] logical processors per
		 * package, [15:8] CLFLUSH line size in 8-byte units. */
		e->ebx = ((unsigned)apic_id << 24) | ((unsigned)(nr_cpus & 0xff) << 16) |
			 (e->ebx & 0xffff);
		e->ecx |= CPUID_1_ECX_HYPERVISOR;
		if (nr_cpus > 1)
			e->edx |= CPUID_1_EDX_HTT;
		else
			e->edx &= ~CPUID_1_EDX_HTT;
		break;
	case 4:
		/* Intel deterministic cache: EAX[31:26] cores per package - 1,
		 * [25:14] logical processors sharing this cache - 1 (one per core,
		 * except the last level, shared by the package). */
		if ((e->eax & 0x1f) == 0)
			break;
		e->eax &= 0x3fff;
		e->eax |= (unsigned)(nr_cpus - 1 < 63 ? nr_cpus - 1 : 63) << 26; /* 6-bit field */
		if (((e->eax >> 5) & 7) >= 3)
			e->eax |= (unsigned)(nr_cpus - 1) << 14;
		break;
	case 0x8000001d:
		/* AMD cache topology: EAX[25:14] logical processors sharing the
		 * cache - 1: per core below L3, the whole package at L3. */
		if ((e->eax & 0x1f) == 0)
			break;
		e->eax &= ~(0xfffu << 14);
		if (((e->eax >> 5) & 7) >= 3)
			e->eax |= (unsigned)(nr_cpus - 1) << 14;
		break;
	case 0xb:
	case 0x1f:
		fix_ext_topology(e, apic_id, nr_cpus);
		break;
	case 0x80000001:
		if (nr_cpus > 1)
			e->ecx |= CPUID_80000001_ECX_CMP_LEGACY;
		else
			e->ecx &= ~CPUID_80000001_ECX_CMP_LEGACY;
		break;
	case 0x80000008:
		/* AMD: ECX[15:12] APIC ID bits for the core, [7:0] cores - 1. */
		e->ecx = (e->ecx & ~0xf0ffu) | (order_of(nr_cpus) << 12) | ((nr_cpus - 1) & 0xff);
		break;
	case 0x8000001e:
		/* AMD: extended APIC ID, compute unit (core) ID, 1 thread per unit, node 0. */
		e->eax = apic_id;
		e->ebx = apic_id & 0xff;
		e->ecx = 0;
		break;
	default:
		break;
	}
}

struct kvm_cpuid2 *cpuid_build(const struct kvm_cpuid2 *supported, int cpu_index, int nr_cpus)
{
	size_t size = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c;

	if (nr_cpus < 1 || cpu_index < 0 || cpu_index >= nr_cpus)
		return NULL;
	c = malloc(size);
	if (!c)
		return NULL;
	memcpy(c, supported, size);
	for (unsigned i = 0; i < c->nent; i++)
		fix_entry(&c->entries[i], cpu_index, nr_cpus);
	return c;
}
