/* exits-mb.S - bench/exits.sh's multiboot guest: rdtsc cycles per port write and MMIO read.
 *
 * A Multiboot v1 ELF32 kernel (QEMU -kernel and mvm --kernel both boot it) entered in
 * 32-bit protected mode, paging off. It times EXITS_N (set with -D when assembling) writes
 * to the COM1 scratch register (port 0x3ff: a cheap emulated-device port in both VMMs) and
 * EXITS_N 4-byte reads of 0xc0000000 (no RAM, no device: an MMIO exit to the VMM), the best
 * of EXITS_ROUNDS rounds after a warm-up, prints on COM1
 *   MBEXITS n=<N, hex> pio_cycles=<hex> mmio_cycles=<hex>
 * and writes 0 to isa-debug-exit (port 0xf4): QEMU (-device isa-debug-exit) and mvm
 * (--debug-exit) both exit with status 1.
 */
#ifndef EXITS_N
#define EXITS_N 100000
#endif
#ifndef EXITS_ROUNDS
#define EXITS_ROUNDS 3
#endif
#define COM1 0x3f8

	.code32
	.section .text
	.globl _start
	.align 4
mb_header:
	.long 0x1BADB002               /* magic */
	.long 0x00000003               /* flags: page-aligned modules, memory info */
	.long -(0x1BADB002 + 0x00000003)

_start:
	mov $stack_top, %esp
	mov $kind_pio, %ebx            /* port writes */
	call best_of
	mov %eax, pio_lo
	mov %edx, pio_hi
	mov $kind_mmio, %ebx           /* MMIO reads */
	call best_of
	mov %eax, mmio_lo
	mov %edx, mmio_hi

	mov $msg_head, %esi
	call puts
	mov $EXITS_N, %eax
	xor %edx, %edx
	call puthex64
	mov $msg_pio, %esi
	call puts
	mov pio_lo, %eax
	mov pio_hi, %edx
	call puthex64
	mov $msg_mmio, %esi
	call puts
	mov mmio_lo, %eax
	mov mmio_hi, %edx
	call puthex64
	mov $msg_nl, %esi
	call puts
	mov $0xf4, %dx
	xor %eax, %eax
	outl %eax, %dx
1:	hlt
	jmp 1b

/* best_of: %ebx = the batch routine; the fewest cycles of EXITS_ROUNDS runs (after one
 * warm-up run) in %edx:%eax. */
best_of:
	movl $0xffffffff, best_lo
	movl $0xffffffff, best_hi
	call *%ebx
	movl $EXITS_ROUNDS, rounds_left
2:	call *%ebx
	cmp best_hi, %edx
	ja 3f
	jb 4f
	cmp best_lo, %eax
	jae 3f
4:	mov %eax, best_lo
	mov %edx, best_hi
3:	decl rounds_left
	jnz 2b
	mov best_lo, %eax
	mov best_hi, %edx
	ret

/* A batch: cycles in %edx:%eax. Clobbers %ecx, %esi, %edi. */
kind_pio:
	lfence
	rdtsc
	mov %eax, %esi
	mov %edx, %edi
	mov $EXITS_N, %ecx
	mov $0x3ff, %dx
5:	outb %al, %dx
	dec %ecx
	jnz 5b
	jmp batch_end

kind_mmio:
	lfence
	rdtsc
	mov %eax, %esi
	mov %edx, %edi
	mov $EXITS_N, %ecx
6:	mov 0xc0000000, %eax
	dec %ecx
	jnz 6b
batch_end:
	lfence
	rdtsc
	sub %esi, %eax
	sbb %edi, %edx
	ret

/* puts: the NUL-terminated string at %esi to COM1. */
puts:
	push %eax
	push %edx
7:	movb (%esi), %al
	test %al, %al
	jz 8f
	call putc
	inc %esi
	jmp 7b
8:	pop %edx
	pop %eax
	ret

/* putc: %al to COM1 once the transmitter holding register is empty. Clobbers %edx. */
putc:
	push %eax
	mov $COM1 + 5, %dx
9:	inb %dx, %al
	test $0x20, %al
	jz 9b
	pop %eax
	mov $COM1, %dx
	outb %al, %dx
	ret

/* puthex64: %edx:%eax as 16 hex digits. Clobbers %eax, %ecx, %edx. */
puthex64:
	push %eax
	mov %edx, %eax
	call puthex32
	pop %eax
puthex32:
	mov $8, %ecx
10:	rol $4, %eax
	push %eax
	and $0xf, %eax
	movb hexdigits(%eax), %al
	push %ecx
	call putc
	pop %ecx
	pop %eax
	dec %ecx
	jnz 10b
	ret

	.section .data
hexdigits: .ascii "0123456789abcdef"
msg_head:  .asciz "MBEXITS n=0x"
msg_pio:   .asciz " pio_cycles=0x"
msg_mmio:  .asciz " mmio_cycles=0x"
msg_nl:    .asciz "\n"
	.align 4
pio_lo:  .long 0
pio_hi:  .long 0
mmio_lo: .long 0
mmio_hi: .long 0
best_lo: .long 0
best_hi: .long 0
rounds_left: .long 0

	.section .bss
	.align 16
	.space 4096
stack_top:
