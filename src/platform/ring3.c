/* ring3.c - GDT, TSS, IDT, ring-0 fault stub and page tables for ring-3 tiny guests. */
#include "util/err.h"
#include "platform/ring3.h"
#include "core/layout.h"
#include "mvm/abi.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PTE_P  0x1ULL
#define PTE_RW 0x2ULL
#define PTE_US 0x4ULL
#define PTE_PS 0x80ULL

#define CR0_PE 0x1ULL
#define CR0_MP 0x2ULL
#define CR0_ET 0x10ULL
#define CR0_NE 0x20ULL
#define CR0_WP 0x10000ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define CR4_OSFXSR 0x200ULL
#define CR4_OSXMMEXCPT 0x400ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

#define RING3_STUB_SLOT   16  /* bytes per vector entry */
#define RING3_STUB_COMMON (32 * RING3_STUB_SLOT)
#define RING3_TSS_LIMIT   0x67

_Static_assert(LAYOUT_R3_GDT + RING3_GDT_LEN <= LAYOUT_R3_TSS, "GDT overlaps the TSS");
_Static_assert(LAYOUT_R3_TSS + RING3_TSS_LIMIT + 1 <= LAYOUT_R3_FAULT_REPORT, "TSS overlaps the report");
_Static_assert(LAYOUT_R3_FAULT_REPORT + sizeof(struct mvm_fault_report) <= LAYOUT_R3_IDT,
	       "fault report overlaps the IDT");
_Static_assert(LAYOUT_R3_FAULT_REPORT < (1ULL << 31) && MVM_HC_PORT(MVM_HC_FAULT) < 0x10000,
	       "the stub encodes the report address in 32 bits");

/* Shared tail of every vector entry, entered on the ring-0 stack holding
 * [vector][error][RIP][CS][RFLAGS][RSP][SS]. Assembled by hand:
 *   mov %cr2,%rax; mov $REPORT,%edi; pop %rcx; mov %rcx,(%rdi) (vector);
 *   pop %rcx; mov %rcx,8(%rdi) (error); mov (%rsp),%rcx; mov %rcx,16(%rdi)
 *   (RIP); mov %rax,24(%rdi) (CR2); mov 8(%rsp),%rcx; mov %rcx,32(%rdi) (CS);
 *   mov 24(%rsp),%rcx; mov %rcx,40(%rdi) (RSP); mov 16(%rsp),%rcx;
 *   mov %rcx,48(%rdi) (RFLAGS); mov $PORT,%dx; mov %edi,%eax;
 *   out %eax,(%dx); 1: cli; hlt; jmp 1b
 * Bytes 4..7 (the report address) and 0x3a..0x3b (the port) are patched. */
static const uint8_t ring3_stub_common[] = {
	0x0f, 0x20, 0xd0, 0xbf, 0, 0, 0, 0, 0x59, 0x48, 0x89, 0x0f, 0x59, 0x48, 0x89, 0x4f,
	0x08, 0x48, 0x8b, 0x0c, 0x24, 0x48, 0x89, 0x4f, 0x10, 0x48, 0x89, 0x47, 0x18, 0x48,
	0x8b, 0x4c, 0x24, 0x08, 0x48, 0x89, 0x4f, 0x20, 0x48, 0x8b, 0x4c, 0x24, 0x18, 0x48,
	0x89, 0x4f, 0x28, 0x48, 0x8b, 0x4c, 0x24, 0x10, 0x48, 0x89, 0x4f, 0x30, 0x66, 0xba,
	0, 0, 0x89, 0xf8, 0xef, 0xfa, 0xf4, 0xeb, 0xfc,
};
#define RING3_STUB_ADDR_OFF 4
#define RING3_STUB_PORT_OFF 0x3a

/* Vectors for which the CPU pushes an error code. */
static int ring3_has_error_code(int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* Per vector: [push $0] push $v; jmp common. */
static void ring3_write_stub(uint8_t *stub)
{
	uint32_t addr = (uint32_t)LAYOUT_R3_FAULT_REPORT;
	uint16_t port = MVM_HC_PORT(MVM_HC_FAULT);

	memset(stub, 0xcc, 4096); /* int3 between entries: never reached */
	for (int v = 0; v < 32; v++) {
		uint8_t *p = stub + v * RING3_STUB_SLOT;
		int n = 0;

		if (!ring3_has_error_code(v)) {
			p[n++] = 0x6a;
			p[n++] = 0;
		}
		p[n++] = 0x6a;
		p[n++] = (uint8_t)v;
		p[n++] = 0xe9;
		put32(p + n, (uint32_t)(RING3_STUB_COMMON - (v * RING3_STUB_SLOT + n + 4)));
	}
	memcpy(stub + RING3_STUB_COMMON, ring3_stub_common, sizeof(ring3_stub_common));
	put32(stub + RING3_STUB_COMMON + RING3_STUB_ADDR_OFF, addr);
	memcpy(stub + RING3_STUB_COMMON + RING3_STUB_PORT_OFF, &port, 2);
}

/* flags: G/DB/L in the top nibble, then P/DPL/S/type (as cpu.c). */
static uint64_t ring3_seg(uint16_t flags)
{
	return ((uint64_t)(flags & 0xf0ff) << 40) | (0xfULL << 48) | 0xffffULL;
}

static void ring3_write_gdt(uint64_t *gdt)
{
	uint64_t tss = LAYOUT_R3_TSS;

	memset(gdt, 0, RING3_GDT_LEN);
	gdt[RING3_SEL_KCODE >> 3] = ring3_seg(0xa09b); /* 64-bit code, DPL 0 */
	gdt[RING3_SEL_KDATA >> 3] = ring3_seg(0xc093); /* data, DPL 0 */
	gdt[RING3_SEL_UDATA >> 3] = ring3_seg(0xc0f3); /* data, DPL 3 */
	gdt[RING3_SEL_UCODE >> 3] = ring3_seg(0xa0fb); /* 64-bit code, DPL 3 */
	/* 64-bit TSS descriptor (busy, type 0xb), 16 bytes. */
	gdt[RING3_SEL_TSS >> 3] = RING3_TSS_LIMIT | ((tss & 0xffffff) << 16) |
				  (0x8bULL << 40) | (((tss >> 24) & 0xff) << 56);
	gdt[(RING3_SEL_TSS >> 3) + 1] = tss >> 32;
}

static void ring3_write_idt(uint64_t *idt)
{
	memset(idt, 0, 4096);
	for (int v = 0; v < 32; v++) {
		uint64_t off = LAYOUT_R3_STUB + v * RING3_STUB_SLOT;

		/* Interrupt gate, present, DPL 0, IST 0: `int n` from ring 3 is a #GP. */
		idt[2 * v] = (off & 0xffff) | ((uint64_t)RING3_SEL_KCODE << 16) |
			     (0x8eULL << 40) | (((off >> 16) & 0xffff) << 48);
		idt[2 * v + 1] = off >> 32;
	}
}

static void ring3_write_paging(uint64_t *pml4, uint64_t *pdpt, uint64_t *pd, uint64_t *pt)
{
	const uint64_t user = PTE_P | PTE_RW | PTE_US;

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = LAYOUT_R3_PDPT | user;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_R3_PD + i * 4096) | user;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | user | PTE_PS;
	pd[0] = LAYOUT_R3_PT | user;
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t a = i << 12;

		if (a >= LAYOUT_R3_SYS_START && a < LAYOUT_R3_SYS_END)
			pt[i] = a | PTE_P | PTE_RW;  /* mvm's: supervisor-only */
		else
			pt[i] = a | user;
	}
	pt[0] = 0; /* NULL faults */
}

int ring3_write_tables(const struct gmem *m)
{
	uint64_t *gdt = gmem_ptr(m, LAYOUT_R3_GDT, RING3_GDT_LEN);
	uint8_t *tss = gmem_ptr(m, LAYOUT_R3_TSS, RING3_TSS_LIMIT + 1);
	uint64_t *idt = gmem_ptr(m, LAYOUT_R3_IDT, 4096);
	uint8_t *stub = gmem_ptr(m, LAYOUT_R3_STUB, 4096);
	uint8_t *report = gmem_ptr(m, LAYOUT_R3_FAULT_REPORT, sizeof(struct mvm_fault_report));
	uint64_t *pml4 = gmem_ptr(m, LAYOUT_R3_PML4, 4096);
	uint64_t *pdpt = gmem_ptr(m, LAYOUT_R3_PDPT, 4096);
	uint64_t *pd = gmem_ptr(m, LAYOUT_R3_PD, 4 * 4096);
	uint64_t *pt = gmem_ptr(m, LAYOUT_R3_PT, 4096);
	uint64_t rsp0 = LAYOUT_R3_STACK0_TOP;

	if (!gdt || !tss || !idt || !stub || !report || !pml4 || !pdpt || !pd || !pt)
		return -EFAULT;
	ring3_write_gdt(gdt);
	memset(tss, 0, RING3_TSS_LIMIT + 1);
	memcpy(tss + 4, &rsp0, 8);                    /* RSP0 */
	tss[102] = RING3_TSS_LIMIT + 1;               /* no I/O bitmap: IOPL 3 rules */
	memset(report, 0, sizeof(struct mvm_fault_report));
	ring3_write_idt(idt);
	ring3_write_stub(stub);
	ring3_write_paging(pml4, pdpt, pd, pt);
	return 0;
}

/* One supervisor structure as mvm wrote it, for ring3_check_tables. */
struct ring3_part {
	const char *name;
	uint64_t gpa;
	size_t len;
	bool paging; /* entries whose Accessed/Dirty bits the CPU sets */
};

static const struct ring3_part ring3_parts[] = {
	{ "GDT", LAYOUT_R3_GDT, RING3_GDT_LEN, false },
	{ "TSS", LAYOUT_R3_TSS, RING3_TSS_LIMIT + 1, false },
	{ "IDT", LAYOUT_R3_IDT, 4096, false },
	{ "exception stub", LAYOUT_R3_STUB, 4096, false },
	{ "PML4", LAYOUT_R3_PML4, 4096, true },
	{ "PDPT", LAYOUT_R3_PDPT, 4096, true },
	{ "page directory", LAYOUT_R3_PD, 4 * 4096, true },
	{ "page table", LAYOUT_R3_PT, 4096, true },
};

int ring3_check_tables(const struct gmem *m, char *what, size_t len)
{
	const uint64_t ad = 0x60; /* Accessed, Dirty */
	size_t span = LAYOUT_R3_SYS_END - LAYOUT_R3_SYS_START;
	uint8_t *want = calloc(1, span);
	struct gmem shadow;
	int ret = 0;

	if (!want)
		return err_host(-ENOMEM);
	/* The tables rebuilt in a private copy of the supervisor range. */
	shadow = (struct gmem){ .ram_size = span, .base = want, .nr_regions = 1 };
	shadow.regions[0] = (struct gmem_region){
		.gpa = LAYOUT_R3_SYS_START, .size = span, .host = want,
	};
	if (ring3_write_tables(&shadow) != 0) {
		free(want);
		return -EFAULT;
	}
	for (size_t i = 0; i < sizeof(ring3_parts) / sizeof(ring3_parts[0]) && !ret; i++) {
		const struct ring3_part *p = &ring3_parts[i];
		const uint8_t *got = gmem_ptr(m, p->gpa, p->len);
		const uint8_t *exp = want + (p->gpa - LAYOUT_R3_SYS_START);

		if (!got) {
			ret = -EFAULT;
			break;
		}
		for (size_t off = 0; off < p->len; off += 8) {
			uint64_t g, e;

			memcpy(&g, got + off, 8);
			memcpy(&e, exp + off, 8);
			if (p->paging) {
				g &= ~ad;
				e &= ~ad;
			}
			if (g != e) {
				snprintf(what, len, "%s at %#llx holds %#llx, mvm wrote %#llx", p->name,
					 (unsigned long long)(p->gpa + off), (unsigned long long)g,
					 (unsigned long long)e);
				ret = 1;
				break;
			}
		}
	}
	free(want);
	return ret;
}

static void ring3_seg_reg(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t dpl,
			  uint8_t l, uint8_t db)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type, .present = 1,
		.dpl = dpl, .db = db, .s = 1, .l = l, .g = 1,
	};
}

void ring3_set_sregs(struct kvm_sregs *s)
{
	ring3_seg_reg(&s->cs, RING3_SEL_UCODE, 0xb, 3, 1, 0);
	ring3_seg_reg(&s->ss, RING3_SEL_UDATA, 0x3, 3, 0, 1);
	s->ds = s->es = s->fs = s->gs = s->ss;
	s->tr = (struct kvm_segment){
		.base = LAYOUT_R3_TSS, .limit = RING3_TSS_LIMIT, .selector = RING3_SEL_TSS,
		.type = 0xb, .present = 1,
	};
	s->ldt = (struct kvm_segment){ .type = 0x2, .present = 1, .unusable = 1 };
	s->gdt.base = LAYOUT_R3_GDT;
	s->gdt.limit = RING3_GDT_LEN - 1;
	s->idt.base = LAYOUT_R3_IDT;
	s->idt.limit = 4096 - 1;
	s->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	s->cr3 = LAYOUT_R3_PML4;
	s->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	s->efer = EFER_LME | EFER_LMA;
}
