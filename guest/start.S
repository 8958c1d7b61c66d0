/* start.S - tiny-guest entry: mvm enters here at CPL 3 with RDI = struct mvm_bootinfo. */
	.text
	.globl _start
	.type _start, @function
_start:
	xor %ebp, %ebp
	and $-16, %rsp          /* SysV: 16-byte aligned before the call */
	call mvm_main           /* RDI still holds the boot info */
	mov %eax, %edi
	call mvm_exit
1:	pause
	jmp 1b
	.size _start, . - _start
	.section .note.GNU-stack, "", @progbits
