#!/usr/bin/env python3
"""mk-pvh-guest.py KIND OUT - write a tiny PVH ELF (or multiboot) guest that tests mvm.

The guest starts where PVH (or multiboot) puts it: 32-bit protected mode,
paging off, flat segments, interrupts off. Kinds:

triple-fault  loads an IDT with limit 0 and executes ud2: #UD cannot be
              delivered (#GP), nor #GP (#DF), nor #DF, so the CPU shuts
              down (KVM_EXIT_SHUTDOWN). mvm must exit 4 with a register dump.
port-sweep    reads every port 0-0xfff at widths 1, 2 and 4 and writes
              0x5a5a5a5a to each at every width (except the ports that would
              legitimately end the VM: i8042 command, debug exit, pvpanic,
              ACPI PM),
              reads and writes MMIO that is neither RAM nor a device, then
              powers off through the ACPI sleep register. mvm must survive
              all of it and exit 0.
multiboot-exit  a flat Multiboot v1 image (a.out kludge, loaded at 1 MiB)
              that checks EAX == 0x2BADB002, the info flags MEM|CMDLINE|MMAP
              and the command line "mvmtest", then writes 0x21 to the
              isa-debug-exit port 0xf4 with a 4-byte OUT (under
              --debug-exit mvm exits (0x21 << 1) | 1 = 67). A failed check
              writes 1 (EAX: exit 3), 2 (flags: 5) or 3 (cmdline: 7) instead,
              with a 1-byte OUT. Either way it then powers off through the
              ACPI sleep register: without --debug-exit the port is
              unclaimed and mvm must exit 0, not with the guest's status.
              The command line must be "<kernel path> mvmtest" (QEMU's form:
              a first word that is not a space, ending in " mvmtest").
multiboot-kut  a flat Multiboot v1 image checking what kvm-unit-tests' x86
              kernels need, for mvm run --cpus 2 --mem 256 --initrd EMPTY
              --debug-exit: EAX (fail: exit 3), fw_cfg's signature "QEMU" (5),
              NB_CPUS 2 (7), RAM_SIZE 256 MiB (9), ID 1 (11), an unknown key
              reading 0 (13), one empty module (15), a command line whose
              first word is not empty (17); with --pc-testdev, IRQ 11 raised
              through port 0x200b arriving at vector 0x73, the PIC programmed
              as a BIOS leaves it (no interrupt: 19, another vector: 21);
              then it prints
              "CMDLINE=<its command line>" on COM1 and writes 0x21 to
              isa-debug-exit (exit 67).
multiboot-s3  a flat Multiboot v1 image that sleeps in ACPI S3 and wakes on
              the RTC alarm, as kvm-unit-tests' s3.flat does, for mvm run
              --cpus 2 --mem 64 --debug-exit: it finds the RSDP at 0xE0000
              (fail: exit 5), the XSDT (7) and the FADT in it (9), the FACS
              (11), sets the FACS waking vector to 0x1000 and copies 16-bit
              resume code there, clears PM1_STS and sets RTC_EN (PM1a event
              block: 13), sets the RTC alarm to fire every second with AIE,
              and writes SLP_TYP 1 | SLP_EN to PM1a_CNT (15). After that
              write it loops storing 0x22 at address 0: a vCPU that runs on
              past the sleep leaves 0x22 there. The resume code (real mode,
              CS:IP 0x100:0) checks PM1_STS has WAK_STS and RTC_STS (else
              exit 23) and writes the dword at address 0 to isa-debug-exit:
              0x21 (exit 67) only if the guest stopped at the sleep.
multiboot-memdirty [TSC_KHZ MIB RATE]  a flat Multiboot v1 image for migration timing
              (bench/migrate.sh --guest multiboot) on any /dev/kvm that runs
              32-bit ring 0, PVM-backed ones too: it writes one dword in each
              page of MIB MiB at 16 MiB (default 64) once, prints
              "MVM-MEMDIRTY-READY", then rewrites RATE MiB/s of those pages
              in turn (default 16; 0: none, an idle guest), paced by RDTSC
              in 1 ms slices of TSC_KHZ cycles (default 2600000 kHz: give
              the host's TSC rate), and prints "MVM-TICK=<n>" on COM1 every
              10 slices (as the Linux guest's mvmtest=tick); a slice overdue
              by 100 ms or more (the TSC moved on across a restore) prints
              the next tick at once and starts the pacing again from now. Interrupts stay off; nothing in it
              needs an interrupt or a device but COM1.
"""
import struct
import sys

LOAD = 0x100000


class Asm:
    """Just enough of an assembler: bytes, labels and rel8/rel32 jumps."""

    def __init__(self):
        self.code = bytearray()
        self.labels = {}
        self.fixups = []  # (position, label, size)

    def emit(self, *parts):
        for p in parts:
            self.code += bytes(p) if isinstance(p, (list, bytes, bytearray)) else bytes([p])

    def label(self, name):
        self.labels[name] = len(self.code)

    def jcc8(self, opcode, target):
        self.emit(opcode, 0)
        self.fixups.append((len(self.code) - 1, target, 1))

    def jcc32(self, opcode2, target):
        self.emit(0x0F, opcode2, 0, 0, 0, 0)
        self.fixups.append((len(self.code) - 4, target, 4))

    def abs32(self, target):
        """A label's absolute address, given the load address to finish()."""
        self.emit(0, 0, 0, 0)
        self.fixups.append((len(self.code) - 4, target, "abs"))

    def finish(self, base=None):
        for pos, target, size in self.fixups:
            if size == "abs":
                self.code[pos:pos + 4] = struct.pack("<I", base + self.labels[target])
                continue
            rel = self.labels[target] - (pos + size)
            if size == 1:
                assert -128 <= rel < 128, target
                self.code[pos] = rel & 0xFF
            else:
                self.code[pos:pos + 4] = struct.pack("<i", rel)
        return bytes(self.code)


def poweroff(a):
    """Power off through the ACPI sleep register (S5), then halt for good."""
    a.emit(0x66, 0xBA, struct.pack("<H", 0x600))       # mov dx, 0x600
    a.emit(0xB0, 0x34)                                 # mov al, (S5 << 2) | SLP_EN
    a.emit(0xEE)                                       # out dx, al
    a.label("halt")
    a.emit(0xF4)                                       # hlt
    a.jcc8(0xEB, "halt")


def triple_fault():
    a = Asm()
    a.emit(0x0F, 0x01, 0x1D, struct.pack("<I", LOAD + 0x20))  # lidt [LOAD+0x20]
    a.emit(0x0F, 0x0B)                                        # ud2
    code = a.finish().ljust(0x20, b"\x90")
    return code + bytes(8)                                    # the IDT pointer: limit 0, base 0


def port_sweep():
    a = Asm()
    a.emit(0x31, 0xC9)                                 # xor ecx, ecx
    a.label("loop")
    a.emit(0x89, 0xCA)                                 # mov edx, ecx
    a.emit(0xEC, 0x66, 0xED, 0xED)                     # in al,dx ; in ax,dx ; in eax,dx
    a.emit(0x83, 0xFA, 0x64)                           # cmp edx, 0x64 (i8042 command: reset)
    a.jcc8(0x74, "skip")
    a.emit(0x81, 0xFA, struct.pack("<I", 0xF4))        # cmp edx, 0xf4 (isa-debug-exit: ends the VM)
    a.jcc8(0x72, "notdbg")
    a.emit(0x81, 0xFA, struct.pack("<I", 0xF7))
    a.jcc8(0x76, "skip")
    a.label("notdbg")
    a.emit(0x81, 0xFA, struct.pack("<I", 0x505))       # cmp edx, 0x505 (pvpanic)
    a.jcc8(0x74, "skip")
    a.emit(0x81, 0xFA, struct.pack("<I", 0x600))       # cmp edx, 0x600 (ACPI PM: off, reset)
    a.jcc8(0x72, "write")
    a.emit(0x81, 0xFA, struct.pack("<I", 0x602))
    a.jcc8(0x76, "skip")
    a.label("write")
    a.emit(0xB8, struct.pack("<I", 0x5A5A5A5A))        # mov eax, 0x5a5a5a5a
    a.emit(0xEE, 0x66, 0xEF, 0xEF)                     # out dx,al ; out dx,ax ; out dx,eax
    a.label("skip")
    a.emit(0x41)                                       # inc ecx
    a.emit(0x81, 0xF9, struct.pack("<I", 0x1000))      # cmp ecx, 0x1000
    a.jcc32(0x82, "loop")                              # jb loop
    for addr in (0xD0000000, 0xC0000000, 0xBFFFFFFC, 0xFEBFFFFC):
        a.emit(0xA1, struct.pack("<I", addr))          # mov eax, [addr]
        a.emit(0xA3, struct.pack("<I", addr))          # mov [addr], eax
    poweroff(a)
    return a.finish()


MB_HDR_LEN = 32
MB_CMDLINE = b" mvmtest\0"   # the tail of "<kernel path> mvmtest"


def multiboot_exit():
    a = Asm()
    a.emit(0x3D, struct.pack("<I", 0x2BADB002))        # cmp eax, 0x2badb002
    a.emit(0xB0, 1)                                    # mov al, 1 (keeps flags)
    a.jcc8(0x75, "fail")                               # jne fail
    a.emit(0x8B, 0x0B)                                 # mov ecx, [ebx] (info flags)
    a.emit(0x83, 0xE1, 0x45)                           # and ecx, MEM|CMDLINE|MMAP
    a.emit(0x83, 0xF9, 0x45)                           # cmp ecx, 0x45
    a.emit(0xB0, 2)                                    # mov al, 2
    a.jcc8(0x75, "fail")
    a.emit(0x8B, 0x7B, 0x10)                           # mov edi, [ebx+16] (cmdline)
    a.emit(0xB0, 3)                                    # mov al, 3
    a.emit(0x80, 0x3F, 0x20)                           # cmp byte [edi], ' '
    a.jcc8(0x76, "fail")                               # jbe fail: argv[0] (the path) first
    a.emit(0x31, 0xC0)                                 # xor eax, eax
    a.emit(0xB9, struct.pack("<I", 0x10000))           # mov ecx, 64 KiB (bounded)
    a.emit(0xFC, 0xF2, 0xAE)                           # cld ; repne scasb: edi past the NUL
    a.emit(0xB0, 3)                                    # mov al, 3
    a.jcc8(0x75, "fail")                               # no NUL
    a.emit(0x8D, 0x77, (-len(MB_CMDLINE)) & 0xFF)      # lea esi, [edi - 9]
    a.emit(0xBF, 0, 0, 0, 0)                           # mov edi, the expected string
    str_fix = len(a.code) - 4
    a.emit(0xB9, struct.pack("<I", len(MB_CMDLINE)))   # mov ecx, 9
    a.emit(0xF3, 0xA6)                                 # repe cmpsb
    a.emit(0xB0, 3)                                    # mov al, 3
    a.jcc8(0x75, "fail")
    a.emit(0xB8, struct.pack("<I", 0x21))              # mov eax, 0x21
    a.emit(0xE7, 0xF4)                                 # out 0xf4, eax
    a.jcc8(0xEB, "off")
    a.label("fail")
    a.emit(0xE6, 0xF4)                                 # out 0xf4, al
    a.label("off")                                     # only reached without --debug-exit
    poweroff(a)
    code = bytearray(a.finish())
    code[str_fix:str_fix + 4] = struct.pack("<I", LOAD + MB_HDR_LEN + len(code))
    return bytes(code) + MB_CMDLINE


FW_SEL = 0x510
KUT_MEM = 256 << 20
KUT_CPUS = 2
KUT_IDT = 0x200000     # 0x80 gates, in RAM mvm leaves alone
KUT_IDTR = 0x200400


def multiboot_kut():
    """What kvm-unit-tests' x86 kernels need of the loader and board."""
    a = Asm()

    def check(code):
        a.emit(0xB4, code)                             # mov ah, code (fail: exit (code << 1) | 1)

    def fw_expect(code, key, data):
        a.emit(0x66, 0xBA, struct.pack("<H", FW_SEL))  # mov dx, 0x510
        a.emit(0x66, 0xB8, struct.pack("<H", key))     # mov ax, key
        a.emit(0x66, 0xEF)                             # out dx, ax (select)
        check(code)                                    # (after mov ax: it sets ah)
        a.emit(0x42)                                   # inc edx (0x511: data)
        for b in data:
            a.emit(0xEC)                               # in al, dx
            a.emit(0x3C, b)                            # cmp al, b
            a.jcc32(0x85, "fail")                      # jne fail

    a.emit(0x3D, struct.pack("<I", 0x2BADB002))        # cmp eax, 0x2badb002
    check(1)                                           # (mov keeps the flags)
    a.jcc32(0x85, "fail")
    fw_expect(2, 0x0000, b"QEMU")                         # FW_CFG_SIGNATURE
    fw_expect(3, 0x0005, struct.pack("<H", KUT_CPUS))     # FW_CFG_NB_CPUS
    fw_expect(4, 0x0003, struct.pack("<Q", KUT_MEM))      # FW_CFG_RAM_SIZE
    fw_expect(5, 0x0001, struct.pack("<I", 1))            # FW_CFG_ID: no DMA
    fw_expect(6, 0x0011, bytes(4))                        # an unknown key (kvm-unit-tests' MAX_RAM): 0
    check(7)
    a.emit(0xF6, 0x03, 0x08)                           # test byte [ebx], 8 (MB_INFO_MODS)
    a.jcc32(0x84, "fail")                              # jz fail
    a.emit(0x83, 0x7B, 0x14, 0x01)                     # cmp dword [ebx+20], 1 (mods_count)
    a.jcc32(0x85, "fail")
    a.emit(0x8B, 0x73, 0x18)                           # mov esi, [ebx+24] (mods_addr)
    a.emit(0x8B, 0x0E)                                 # mov ecx, [esi] (mod_start)
    a.emit(0x3B, 0x4E, 0x04)                           # cmp ecx, [esi+4] (mod_end): empty
    a.jcc32(0x85, "fail")
    check(8)
    a.emit(0x8B, 0x73, 0x10)                           # mov esi, [ebx+16] (cmdline)
    a.emit(0x80, 0x3E, 0x20)                           # cmp byte [esi], ' '
    a.jcc32(0x86, "fail")                              # jbe fail: argv[0] first
    # The PIC as a BIOS leaves it: IRQ 11, raised through pc-testdev's port
    # 0x200b, arrives at vector 0x73 (realmode.flat's sti-inhibit step).
    def gate(label):                                   # eax:edx = an interrupt gate to label
        a.emit(0xBA)
        a.abs32(label)                                 # mov edx, label
        a.emit(0x66, 0x8C, 0xC8)                       # mov ax, cs
        a.emit(0xC1, 0xE0, 0x10)                       # shl eax, 16
        a.emit(0x66, 0x89, 0xD0)                       # mov ax, dx
        a.emit(0x81, 0xE2, struct.pack("<I", 0xFFFF0000))  # and edx, 0xffff0000
        a.emit(0x81, 0xCA, struct.pack("<I", 0x8E00))  # or edx, 0x8e00 (present, 32-bit intr gate)
    gate("badvec")
    a.emit(0xBF, struct.pack("<I", KUT_IDT))           # mov edi, KUT_IDT
    a.emit(0xB9, struct.pack("<I", 0x80))              # mov ecx, 0x80 gates
    a.label("idt")
    a.emit(0x89, 0x07, 0x89, 0x57, 0x04)               # mov [edi], eax ; mov [edi+4], edx
    a.emit(0x83, 0xC7, 0x08)                           # add edi, 8
    a.emit(0xE2, 0)                                    # loop idt
    a.fixups.append((len(a.code) - 1, "idt", 1))
    gate("vec73")
    a.emit(0xA3, struct.pack("<I", KUT_IDT + 0x73 * 8))      # mov [gate 0x73], eax
    a.emit(0x89, 0x15, struct.pack("<I", KUT_IDT + 0x73 * 8 + 4))  # mov [gate 0x73 + 4], edx
    a.emit(0xC7, 0x05, struct.pack("<I", KUT_IDTR), struct.pack("<I", ((KUT_IDT & 0xFFFF) << 16) | 0x3FF))
    a.emit(0xC7, 0x05, struct.pack("<I", KUT_IDTR + 4), struct.pack("<I", KUT_IDT >> 16))
    a.emit(0x0F, 0x01, 0x1D, struct.pack("<I", KUT_IDTR))    # lidt [KUT_IDTR]
    a.emit(0x66, 0xBA, struct.pack("<H", 0x200B))      # mov dx, 0x200b (IRQ 11)
    a.emit(0xB8, struct.pack("<I", 1), 0xEF)           # mov eax, 1 ; out dx, eax (raise)
    a.emit(0xB8, struct.pack("<I", 0), 0xEF)           # mov eax, 0 ; out dx, eax (lower: edge)
    check(9)
    a.emit(0xB9, struct.pack("<I", 1 << 20))           # mov ecx, 1M (bounded wait)
    a.emit(0xFB)                                       # sti
    a.label("wait")
    a.emit(0xE2, 0)                                    # loop wait
    a.fixups.append((len(a.code) - 1, "wait", 1))
    a.emit(0xFA)                                       # cli: no IRQ came
    a.emit(0xE9, 0, 0, 0, 0)                           # jmp fail
    a.fixups.append((len(a.code) - 4, "fail", 4))
    a.label("badvec")                                  # any other vector (3: base 0)
    a.emit(0xFA)                                       # cli
    a.emit(0xB4, 10)                                   # mov ah, 10
    a.emit(0xE9, 0, 0, 0, 0)                           # jmp fail
    a.fixups.append((len(a.code) - 4, "fail", 4))
    a.label("vec73")
    a.emit(0xFA)                                       # cli (the frame stays on the stack)
    a.emit(0x8B, 0x73, 0x10)                           # mov esi, [ebx+16] (cmdline, again)
    # "CMDLINE=<the command line>\n" on COM1, for the runner to compare.
    a.emit(0x66, 0xBA, struct.pack("<H", 0x3F8))       # mov dx, 0x3f8
    for ch in b"CMDLINE=":
        a.emit(0xB0, ch, 0xEE)                         # mov al, ch ; out dx, al
    a.emit(0xFC)                                       # cld
    a.emit(0xB9, struct.pack("<I", 0x10000))           # mov ecx, 64 KiB (bounded)
    a.label("print")
    a.emit(0xAC)                                       # lodsb
    a.emit(0x84, 0xC0)                                 # test al, al
    a.jcc8(0x74, "printed")
    a.emit(0xEE)                                       # out dx, al
    a.emit(0xE2)                                       # loop print
    a.emit(0)
    a.fixups.append((len(a.code) - 1, "print", 1))
    a.label("printed")
    a.emit(0xB0, 0x0A, 0xEE)                           # '\n'
    a.emit(0xB8, struct.pack("<I", 0x21))              # mov eax, 0x21
    a.emit(0xE7, 0xF4)                                 # out 0xf4, eax (exit 67)
    a.jcc8(0xEB, "off")
    a.label("fail")
    a.emit(0x88, 0xE0)                                 # mov al, ah
    a.emit(0xE6, 0xF4)                                 # out 0xf4, al
    a.label("off")
    poweroff(a)
    return a.finish(LOAD + MB_HDR_LEN)


S3_WAKE = 0x1000       # the FACS waking vector: real-mode resume code goes here
S3_PM1_EVT_SAVE = 4    # where the 32-bit code leaves the PM1a event port for it
# The resume code, 16-bit real mode at CS:IP 0x100:0 (DS 0): PM1_STS must
# show WAK_STS | RTC_STS; then the dword at 0 goes to isa-debug-exit.
S3_RESUME = bytes([
    0x8B, 0x16, S3_PM1_EVT_SAVE, 0x00,   # mov dx, [4]
    0xED,                                # in ax, dx (PM1_STS)
    0x25, 0x00, 0x84,                    # and ax, 0x8400
    0x3D, 0x00, 0x84,                    # cmp ax, 0x8400
    0x75, 0x07,                          # jne fail
    0x66, 0xA1, 0x00, 0x00,              # mov eax, [0]
    0x66, 0xE7, 0xF4,                    # out 0xf4, eax
    0xB0, 11,                            # fail: mov al, 11
    0xE6, 0xF4,                          # out 0xf4, al (exit 23)
    0xF4, 0xEB, 0xFD,                    # hlt ; jmp hlt
])


def multiboot_s3():
    """ACPI S3 and an RTC-alarm wake, the way kvm-unit-tests' s3 test does it."""
    a = Asm()

    def check(code):
        a.emit(0xB4, code)                             # mov ah, code (fail: exit (code << 1) | 1)

    def outw(value):
        a.emit(0x66, 0xB8, struct.pack("<H", value), 0x66, 0xEF)  # mov ax, value ; out dx, ax

    def rtc_out(reg, value):
        a.emit(0xB0, reg, 0xE6, 0x70, 0xB0, value, 0xE6, 0x71)  # index, then data

    a.emit(0x3D, struct.pack("<I", 0x2BADB002))        # cmp eax, 0x2badb002
    check(1)
    a.jcc32(0x85, "fail")
    check(2)
    a.emit(0x81, 0x3D, struct.pack("<I", 0xE0000), b"RSD ")  # cmp dword [0xe0000], "RSD "
    a.jcc32(0x85, "fail")
    a.emit(0x8B, 0x35, struct.pack("<I", 0xE0000 + 24))      # mov esi, [RSDP.XsdtAddress]
    check(3)
    a.emit(0x81, 0x3E, b"XSDT")                        # cmp dword [esi], "XSDT"
    a.jcc32(0x85, "fail")
    a.emit(0x8B, 0x4E, 0x04)                           # mov ecx, [esi+4] (length)
    a.emit(0x83, 0xE9, 36)                             # sub ecx, 36 (the header)
    a.emit(0xC1, 0xE9, 3)                              # shr ecx, 3: entries
    a.emit(0x8D, 0x7E, 36)                             # lea edi, [esi+36]
    check(4)
    a.emit(0x85, 0xC9)                                 # test ecx, ecx
    a.jcc32(0x84, "fail")
    a.label("find")
    a.emit(0x8B, 0x1F)                                 # mov ebx, [edi]
    a.emit(0x81, 0x3B, b"FACP")                        # cmp dword [ebx], "FACP"
    a.jcc8(0x74, "found")
    a.emit(0x83, 0xC7, 0x08)                           # add edi, 8
    a.emit(0xE2, 0)                                    # loop find
    a.fixups.append((len(a.code) - 1, "find", 1))
    a.emit(0xE9, 0, 0, 0, 0)                           # jmp fail: no FADT
    a.fixups.append((len(a.code) - 4, "fail", 4))
    a.label("found")
    check(5)
    a.emit(0x8B, 0x73, 36)                             # mov esi, [ebx+36] (FIRMWARE_CTRL)
    a.emit(0x81, 0x3E, b"FACS")                        # cmp dword [esi], "FACS"
    a.jcc32(0x85, "fail")
    a.emit(0xC7, 0x46, 12, struct.pack("<I", S3_WAKE))  # mov dword [esi+12], S3_WAKE
    a.emit(0xBE)
    a.abs32("resume")                                  # mov esi, resume
    a.emit(0xBF, struct.pack("<I", S3_WAKE))           # mov edi, S3_WAKE
    a.emit(0xB9, struct.pack("<I", len(S3_RESUME)))    # mov ecx, its length
    a.emit(0xFC, 0xF3, 0xA4)                           # cld ; rep movsb
    a.emit(0xC7, 0x05, struct.pack("<I", 0), struct.pack("<I", 0x21))  # mov dword [0], 0x21
    check(6)
    a.emit(0x8B, 0x53, 56)                             # mov edx, [ebx+56] (PM1a_EVT_BLK)
    a.emit(0x85, 0xD2)                                 # test edx, edx
    a.jcc32(0x84, "fail")
    a.emit(0x89, 0x15, struct.pack("<I", S3_PM1_EVT_SAVE))  # mov [4], edx
    outw(0xFFFF)                                       # PM1_STS: clear every status bit
    a.emit(0x83, 0xC2, 2)                              # add edx, 2 (PM1_EN)
    outw(0x0400)                                       # RTC_EN
    a.emit(0xB0, 0x0C, 0xE6, 0x70, 0xE4, 0x71)         # read REG_C: clear the RTC's flags
    for reg in (1, 3, 5):                              # alarm seconds, minutes, hours:
        rtc_out(reg, 0xC0)                             # "don't care": every second
    a.emit(0xB0, 0x0B, 0xE6, 0x70, 0xE4, 0x71)         # REG_B
    a.emit(0x0C, 0x20, 0xE6, 0x71)                     # or al, AIE ; out 0x71, al
    check(7)
    a.emit(0x8B, 0x53, 64)                             # mov edx, [ebx+64] (PM1a_CNT_BLK)
    a.emit(0x85, 0xD2)                                 # test edx, edx
    a.jcc32(0x84, "fail")
    outw(0x2400)                                       # SLP_TYP 1 (\_S3) | SLP_EN
    a.label("asleep")                                  # a vCPU running on marks it
    a.emit(0xC7, 0x05, struct.pack("<I", 0), struct.pack("<I", 0x22))  # mov dword [0], 0x22
    a.jcc8(0xEB, "asleep")
    a.label("fail")
    a.emit(0x88, 0xE0)                                 # mov al, ah
    a.emit(0xE6, 0xF4)                                 # out 0xf4, al
    poweroff(a)
    a.label("resume")
    a.emit(S3_RESUME)
    return a.finish(LOAD + MB_HDR_LEN)


def store_next_page(a, modrm, pages):
    """Store a register (modrm 0x0C: ecx, 0x2C: ebp) at [esi + ecx * 4096], then
    ecx += 1 and compare it with pages (the caller's jb follows)."""
    a.emit(0x89, 0xC8)                                 # mov eax, ecx
    a.emit(0xC1, 0xE0, 0x0C)                           # shl eax, 12
    a.emit(0x89, modrm, 0x06)                          # mov [esi+eax], reg
    a.emit(0x41)                                       # inc ecx
    a.emit(0x81, 0xF9, struct.pack("<I", pages))       # cmp ecx, pages


def multiboot_memdirty(tsc_khz=2600000, mib=64, rate=16):
    pages, per_ms = mib * 256, rate * 256 // 1000
    if rate and not per_ms:
        per_ms = 1
    a = Asm()
    a.emit(0xBC, struct.pack("<I", 0x800000))          # mov esp, 8 MiB (multiboot sets none)
    a.emit(0xBE, struct.pack("<I", 16 << 20))          # mov esi, 16 MiB: the region
    a.emit(0x31, 0xC9)                                 # xor ecx, ecx
    a.label("touch")                                   # every page once: the working set
    store_next_page(a, 0x0C, pages)                    # ... [page ecx] = ecx
    a.jcc8(0x72, "touch")                              # jb touch
    a.emit(0x66, 0xBA, struct.pack("<H", 0x3F8))       # mov dx, 0x3f8
    for ch in b"MVM-MEMDIRTY-READY\n":
        a.emit(0xB0, ch, 0xEE)                         # mov al, ch ; out dx, al
    a.emit(0x31, 0xC9)                                 # xor ecx, ecx: page index
    a.emit(0x31, 0xED)                                 # xor ebp, ebp: slices
    a.emit(0x0F, 0x31)                                 # rdtsc
    a.emit(0x89, 0xC7)                                 # mov edi, eax: the deadline,
    a.emit(0x89, 0xD3)                                 # mov ebx, edx  64-bit in ebx:edi
    a.label("slice")
    a.emit(0x81, 0xC7, struct.pack("<I", tsc_khz))     # add edi, one ms of TSC
    a.emit(0x83, 0xD3, 0x00)                           # adc ebx, 0
    if per_ms:
        a.emit(0xBA, struct.pack("<I", per_ms))        # mov edx, pages this slice
        a.label("page")
        store_next_page(a, 0x2C, pages)                # ... [page ecx] = ebp (the slice)
        a.jcc8(0x72, "in")                             # jb in
        a.emit(0x31, 0xC9)                             # xor ecx, ecx
        a.label("in")
        a.emit(0x4A)                                   # dec edx
        a.jcc8(0x75, "page")                           # jnz page
    a.label("wait")
    a.emit(0x0F, 0x31)                                 # rdtsc
    a.emit(0x29, 0xF8)                                 # sub eax, edi
    a.emit(0x19, 0xDA)                                 # sbb edx, ebx
    a.jcc8(0x78, "wait")                               # js wait: the slice is not over
    # Overdue by 100 ms or more: the TSC jumped (a restore moves it on by
    # the time away): start the slices again from now instead of catching up
    # (a burst of ticks) or, past 2^31 cycles, misreading a 32-bit sign.
    a.emit(0x85, 0xD2)                                 # test edx, edx
    a.jcc8(0x75, "resync")                             # jnz resync
    a.emit(0x3D, struct.pack("<I", 100 * tsc_khz))     # cmp eax, 100 ms of TSC
    a.jcc8(0x72, "ontime")                             # jb ontime
    a.label("resync")
    a.emit(0x0F, 0x31)                                 # rdtsc
    a.emit(0x89, 0xC7)                                 # mov edi, eax
    a.emit(0x89, 0xD3)                                 # mov ebx, edx
    # ... and this slice ends in the next tick, printed at once: a restored
    # guest shows it runs again within its first slice (ebp = the next
    # multiple of 10, less the inc below).
    a.emit(0x8D, 0x45, 0x0A)                           # lea eax, [ebp + 10]
    a.emit(0x31, 0xD2)                                 # xor edx, edx
    a.emit(0x51)                                       # push ecx
    a.emit(0xB9, struct.pack("<I", 10))                # mov ecx, 10
    a.emit(0xF7, 0xF1)                                 # div ecx
    a.emit(0x59)                                       # pop ecx
    a.emit(0x6B, 0xC0, 0x0A)                           # imul eax, eax, 10
    a.emit(0x48)                                       # dec eax
    a.emit(0x89, 0xC5)                                 # mov ebp, eax
    a.label("ontime")
    a.emit(0x45)                                       # inc ebp
    a.emit(0x89, 0xE8)                                 # mov eax, ebp
    a.emit(0x31, 0xD2)                                 # xor edx, edx
    a.emit(0x51)                                       # push ecx
    a.emit(0xB9, struct.pack("<I", 10))                # mov ecx, 10
    a.emit(0xF7, 0xF1)                                 # div ecx
    a.emit(0x59)                                       # pop ecx
    a.emit(0x85, 0xD2)                                 # test edx, edx
    a.jcc32(0x85, "slice")                             # jnz slice
    a.emit(0x51, 0x57, 0x53)                           # push ecx ; push edi ; push ebx
    a.emit(0x89, 0xC7)                                 # mov edi, eax: the tick
    a.emit(0x66, 0xBA, struct.pack("<H", 0x3F8))       # mov dx, 0x3f8
    for ch in b"MVM-TICK=":
        a.emit(0xB0, ch, 0xEE)
    a.emit(0x89, 0xF8)                                 # mov eax, edi
    a.emit(0x31, 0xC9)                                 # xor ecx, ecx: digits
    a.emit(0xBB, struct.pack("<I", 10))                # mov ebx, 10
    a.label("digit")
    a.emit(0x31, 0xD2)                                 # xor edx, edx
    a.emit(0xF7, 0xF3)                                 # div ebx
    a.emit(0x80, 0xC2, 0x30)                           # add dl, '0'
    a.emit(0x52)                                       # push edx
    a.emit(0x41)                                       # inc ecx
    a.emit(0x85, 0xC0)                                 # test eax, eax
    a.jcc8(0x75, "digit")                              # jnz digit
    a.emit(0x66, 0xBA, struct.pack("<H", 0x3F8))       # mov dx, 0x3f8
    a.label("out")
    a.emit(0x58)                                       # pop eax
    a.emit(0xEE)                                       # out dx, al
    a.emit(0x49)                                       # dec ecx
    a.jcc8(0x75, "out")                                # jnz out
    a.emit(0xB0, 0x0A, 0xEE)                           # mov al, '\n' ; out dx, al
    a.emit(0x5B, 0x5F, 0x59)                           # pop ebx ; pop edi ; pop ecx
    a.emit(0xE9, 0, 0, 0, 0)                           # jmp slice
    a.fixups.append((len(a.code) - 4, "slice", 4))
    return a.finish()


def multiboot(code):
    """Header at file offset 0 = LOAD; flags: a.out kludge only; entry after it."""
    magic, flags = 0x1BADB002, 1 << 16
    hdr = struct.pack("<IIIIIIII", magic, flags, (-(magic + flags)) & 0xFFFFFFFF,
                      LOAD, LOAD, 0, 0, LOAD + MB_HDR_LEN)
    return hdr + code


def elf(code):
    name = b"Xen\0"
    note = struct.pack("<III", len(name), 4, 18) + name + struct.pack("<I", LOAD)
    ehdr_size, phdr_size, code_off = 64, 56, 0x1000
    note_off = code_off + len(code)
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, LOAD, ehdr_size, 0, 0,
                        ehdr_size, phdr_size, 2, 64, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 5, code_off, LOAD, LOAD, len(code), len(code), 0x1000)
    pnote = struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)
    return (ehdr + load + pnote).ljust(code_off, b"\0") + code + note


KINDS = {"triple-fault": (triple_fault, elf), "port-sweep": (port_sweep, elf),
         "multiboot-exit": (multiboot_exit, multiboot),
         "multiboot-kut": (multiboot_kut, multiboot),
         "multiboot-s3": (multiboot_s3, multiboot),
         "multiboot-memdirty": (multiboot_memdirty, multiboot)}

if __name__ == "__main__":
    params = sys.argv[3:]
    if len(sys.argv) < 3 or sys.argv[1] not in KINDS or \
            (params and (sys.argv[1] != "multiboot-memdirty" or len(params) != 3 or
                         not all(p.isdigit() for p in params) or int(params[0]) == 0 or
                         int(params[1]) == 0)):
        sys.exit("usage: mk-pvh-guest.py {%s} OUT\n"
                 "       mk-pvh-guest.py multiboot-memdirty OUT TSC_KHZ MIB RATE" % "|".join(KINDS))
    with open(sys.argv[2], "wb") as f:
        gen, wrap = KINDS[sys.argv[1]]
        f.write(wrap(gen(*[int(p) for p in params])))
