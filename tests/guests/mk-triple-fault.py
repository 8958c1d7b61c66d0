#!/usr/bin/env python3
"""mk-triple-fault.py OUT - write a tiny PVH ELF guest that triple faults.

The guest starts in 32-bit protected mode (PVH), loads an IDT with limit 0
and executes ud2: #UD cannot be delivered (#GP), nor can #GP (#DF), nor #DF:
the CPU shuts down and KVM reports KVM_EXIT_SHUTDOWN. mvm must stop with a
register dump and exit status 4.
"""
import struct
import sys

LOAD = 0x100000
# lidt [LOAD+0x20] ; ud2 ; (pad) ; at +0x20: 6 zero bytes (limit 0, base 0)
code = bytes([0x0F, 0x01, 0x1D]) + struct.pack("<I", LOAD + 0x20) + bytes([0x0F, 0x0B])
code = code.ljust(0x20, b"\x90") + bytes(8)

name = b"Xen\0"
note = struct.pack("<III", len(name), 4, 18) + name + struct.pack("<I", LOAD)

EHDR, PHDR = 64, 56
phoff = EHDR
code_off = 0x1000
note_off = code_off + len(code)

ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, LOAD, phoff, 0, 0, EHDR, PHDR, 2, 64, 0, 0)
load = struct.pack("<IIQQQQQQ", 1, 5, code_off, LOAD, LOAD, len(code), len(code), 0x1000)
pnote = struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)

image = (ehdr + load + pnote).ljust(code_off, b"\0") + code + note
with open(sys.argv[1], "wb") as f:
    f.write(image)
