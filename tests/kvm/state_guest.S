/* state_guest.S - the guest code of tests/kvm/state_roundtrip.c: 64-bit, CPL 0, copied to guest RAM.
 *
 * It leaves state in every part a save must carry: an SSE register, two MSRs,
 * the LAPIC enabled with its timer armed in TSC-deadline mode (r13 holds the
 * deadline) and a self-IPI pending (interrupts stay off, so it stays pending), the PIC master re-initialised
 * and masked, PIT channel 2 programmed (channel 0 stays off: its interrupts
 * would change the PIC between two saves), an IOAPIC entry, two debug
 * registers. Then it loops: rbx counts, OUT of bl to port 0xe9, r12 += rbx.
 * Position-independent: only relative jumps.
 */
	.text
	.code64
	.globl state_guest_start, state_guest_end, state_guest_loop_out
state_guest_start:
	mov %cr4, %rax
	or $0x600, %rax                 /* OSFXSR | OSXMMEXCPT: SSE allowed */
	mov %rax, %cr4
	mov $0x1122334455667788, %rax
	movq %rax, %xmm3

	mov $0xc0000082, %ecx           /* LSTAR = 0xffffffff81234567 */
	mov $0x81234567, %eax
	mov $0xffffffff, %edx
	wrmsr
	mov $0xc0000102, %ecx           /* KERNEL_GS_BASE = 0x0000112255667788 */
	mov $0x55667788, %eax
	mov $0x00001122, %edx
	wrmsr

	mov $0xfee00000, %edi           /* LAPIC */
	movl $0x1ff, 0xf0(%rdi)         /* SVR: software-enabled, spurious vector 0xff */
	movl $0x40041, 0x320(%rdi)      /* LVT timer: TSC-deadline mode, vector 0x41 */
	movl $0x40040, 0x300(%rdi)      /* ICR: self, fixed, vector 0x40 */
	rdtsc                           /* deadline = now + 2^40 cycles (minutes away) */
	shl $32, %rdx
	or %rax, %rdx
	mov $1, %r13
	shl $40, %r13
	add %rdx, %r13                  /* r13 keeps it for the host to check */
	mov %r13, %rax
	mov %r13, %rdx
	shr $32, %rdx
	mov $0x6e0, %ecx                /* IA32_TSC_DEADLINE */
	wrmsr

	mov $0x11, %al                  /* PIC master: ICW1..ICW4, vectors 0x20.. */
	out %al, $0x20
	mov $0x20, %al
	out %al, $0x21
	mov $0x04, %al
	out %al, $0x21
	mov $0x01, %al
	out %al, $0x21
	mov $0xfb, %al                  /* OCW1: all masked but the cascade */
	out %al, $0x21

	mov $0xb6, %al                  /* PIT channel 2, lo/hi, mode 3, count 0x1234 */
	out %al, $0x43
	mov $0x34, %al
	out %al, $0x42
	mov $0x12, %al
	out %al, $0x42

	mov $0xfec00000, %edi           /* IOAPIC pin 4: vector 0x44, masked */
	movl $0x18, (%rdi)
	movl $0x10044, 0x10(%rdi)

	mov $0x5000, %rax
	mov %rax, %db0
	mov $0x6000, %rax
	mov %rax, %db1

	xor %ebx, %ebx
	mov $0xabcdef, %r12
1:	inc %rbx
	mov %bl, %al
state_guest_loop_out:
	out %al, $0xe9
	add %rbx, %r12
	jmp 1b
state_guest_end:
	.section .note.GNU-stack, "", @progbits
