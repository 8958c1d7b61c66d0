/* embed.S - the hello demo's ELF image inside mvm (boot/elf64.c: elf64_builtin_demo). */
	.section .rodata
	.balign 16
	.globl mvm_hello_elf_start, mvm_hello_elf_end
mvm_hello_elf_start:
	.incbin HELLO_ELF
mvm_hello_elf_end:
	.section .note.GNU-stack, "", @progbits
