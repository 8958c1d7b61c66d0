#!/usr/bin/env python3
"""gen_seeds.py - write the seed corpora of the libFuzzer targets (tests/fuzz/corpus/<target>/).

Usage: python3 tests/fuzz/gen_seeds.py [CORPUS_DIR]   (default: tests/fuzz/corpus)

Each seed is a valid (or nearly valid) input in the target's input format, so the fuzzer starts
past the first checks: rings with real chains, kernels each loader accepts, config documents and
API bodies as Firecracker's clients send them. Crash inputs kept as regression tests live next
to them (named crash-*) and are not written here. fuzz_http has seeds of its own; fuzz_snap's and
fuzz_stream's are written by mvm's own writers (make fuzz-snap-seeds, make fuzz-stream-seeds).
"""
import json
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- virtqueues (fuzz_common.h layout) ----
VQ_RAM = 1 << 20
PAYLOAD = VQ_RAM - 0x10000
F_EVENT_IDX, F_INDIRECT, F_FOLD, F_NO_INTR = 1, 2, 4, 8
DESC_F_NEXT, DESC_F_WRITE, DESC_F_INDIRECT = 1, 2, 4


def desc(addr, length, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def vq(size_log, flags, chains, payload=b"", start=0, published=None, avail=None, used_event=0):
    """chains: list of lists of (addr, len, flags); descriptors are laid out in order and linked."""
    size = 1 << size_log
    table = b""
    heads = []
    i = 0
    for ch in chains:
        heads.append(i)
        for j, (a, ln, fl) in enumerate(ch):
            nxt = i + 1 if j + 1 < len(ch) else 0
            table += desc(a, ln, fl | (DESC_F_NEXT if j + 1 < len(ch) else 0), nxt)
            i += 1
    table = table.ljust(16 * size, b"\0")[:16 * size]
    ring = [0] * size
    for k, h in enumerate(avail if avail is not None else heads):
        ring[(start + k) % size] = h
    pub = len(heads) if published is None else published
    hdr = struct.pack("<BBHHH", size_log, flags, start, pub, 0)
    return hdr + table + struct.pack("<%dH" % size, *ring) + struct.pack("<H", used_event) + payload


def gen_vq():
    P = PAYLOAD
    put("vq", "one-readable", vq(2, 0, [[(P, 64, 0)]]))
    put("vq", "read-write", vq(3, F_EVENT_IDX, [[(P, 16, 0), (P + 16, 512, 0), (P + 0x1000, 1, DESC_F_WRITE)]]))
    put("vq", "two-chains-wrap", vq(2, 0, [[(P, 8, 0)], [(P + 8, 8, DESC_F_WRITE)]], start=0xfffe))
    ind = desc(P + 0x100, 32, DESC_F_NEXT, 1) + desc(P + 0x200, 32, DESC_F_WRITE, 0)
    put("vq", "indirect-chain", vq(2, F_INDIRECT, [[(P + 0x8000, 32, DESC_F_INDIRECT)]],
                                   payload=b"\0" * 0x8000 + ind))
    put("vq", "ends-at-ram-end", vq(1, 0, [[(VQ_RAM - 16, 16, 0)]]))
    put("vq", "past-ram-end", vq(1, 0, [[(VQ_RAM - 16, 17, 0)]]))
    put("vq", "fold", vq(4, F_FOLD | F_INDIRECT, [[(1, 2, 0), (3, 4, DESC_F_WRITE)]] * 3, payload=bytes(range(256))))
    put("vq", "big-queue", vq(10, F_EVENT_IDX | F_NO_INTR, [[(P + 64 * k, 64, DESC_F_WRITE)] for k in range(32)]))


# ---- virtio-blk requests: capacity, ro, then a vq ----
def blk_hdr(t, sector):
    return struct.pack("<IIQ", t, 0, sector)


def gen_blk():
    P = PAYLOAD
    cap = struct.pack("<QB", 2048, 0)
    ro = struct.pack("<QB", 2048, 1)
    rd = blk_hdr(0, 8)
    wr = blk_hdr(1, 16)
    put("blk", "read", cap + vq(2, 0, [[(P, 16, 0), (P + 0x1000, 1024, DESC_F_WRITE), (P + 0x2000, 1, DESC_F_WRITE)]], payload=rd))
    put("blk", "write", cap + vq(2, 0, [[(P, 16, 0), (P + 0x1000, 512, 0), (P + 0x2000, 1, DESC_F_WRITE)]], payload=wr))
    put("blk", "write-ro", ro + vq(2, 0, [[(P, 16, 0), (P + 0x1000, 512, 0), (P + 0x2000, 1, DESC_F_WRITE)]], payload=wr))
    put("blk", "flush", cap + vq(2, 0, [[(P, 16, 0), (P + 0x2000, 1, DESC_F_WRITE)]], payload=blk_hdr(4, 0)))
    put("blk", "get-id", cap + vq(2, 0, [[(P, 16, 0), (P + 0x1000, 20, DESC_F_WRITE), (P + 0x2000, 1, DESC_F_WRITE)]], payload=blk_hdr(8, 0)))
    seg = struct.pack("<QII", 100, 8, 0)
    put("blk", "discard", cap + vq(2, 0, [[(P, 32, 0), (P + 0x2000, 1, DESC_F_WRITE)]], payload=blk_hdr(11, 0) + seg))
    seg = struct.pack("<QII", 100, 8, 1)
    put("blk", "write-zeroes", cap + vq(2, 0, [[(P, 32, 0), (P + 0x2000, 1, DESC_F_WRITE)]], payload=blk_hdr(13, 0) + seg))
    put("blk", "read-split-header", cap + vq(2, 0, [[(P, 4, 0), (P + 4, 12, 0), (P + 0x1000, 512, DESC_F_WRITE), (P + 0x1200, 0, DESC_F_WRITE), (P + 0x2000, 1, DESC_F_WRITE)]], payload=rd))
    put("blk", "read-at-end", cap + vq(2, 0, [[(P, 16, 0), (P + 0x1000, 512, DESC_F_WRITE), (P + 0x2000, 1, DESC_F_WRITE)]], payload=blk_hdr(0, 2047)))


# ---- kernels (fuzz_boot: one option byte, then the file) ----
def bzimage():
    setup_sects, pm = 4, 4096
    img = bytearray((setup_sects + 1) * 512 + pm)
    img[0x1f1] = setup_sects
    struct.pack_into("<I", img, 0x1f4, pm // 16)
    struct.pack_into("<H", img, 0x1fe, 0xaa55)
    img[0x200:0x202] = b"\xeb\x6a"
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, 0x020f)
    img[0x211] = 1
    struct.pack_into("<I", img, 0x22c, 0x7fffffff)
    struct.pack_into("<I", img, 0x230, 0x200000)
    img[0x234] = 1
    struct.pack_into("<H", img, 0x236, 3)
    struct.pack_into("<I", img, 0x238, 0x7ff)
    struct.pack_into("<Q", img, 0x258, 0x1000000)
    struct.pack_into("<I", img, 0x260, 0x400000)
    for i in range(pm):
        img[(setup_sects + 1) * 512 + i] = (i * 7 + 1) & 0xff
    return bytes(img)


def elf64_hdr(entry, phnum):
    return (b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9 +
            struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, 64, 0, 0, 64, 56, phnum, 0, 0, 0))


def phdr64(t, flags, off, vaddr, paddr, filesz, memsz, align=0x1000):
    return struct.pack("<IIQQQQQQ", t, flags, off, vaddr, paddr, filesz, memsz, align)


def note(name, t, desc_bytes):
    n = name.encode() + b"\0"
    pad = lambda b: b + b"\0" * (-len(b) % 4)
    return struct.pack("<III", len(n), len(desc_bytes), t) + pad(n) + pad(desc_bytes)


def pvh():
    img = bytearray(0x2000)
    notes = note("Xen", 6, b"linux\0") + note("Xen", 18, struct.pack("<I", 0x1000010))
    hdr = elf64_hdr(0xffffffff81000000, 2)
    hdr += phdr64(1, 5, 0x1000, 0xffffffff81000000, 0x1000000, 0x1000, 0x3000)
    hdr += phdr64(4, 4, 0x400, 0, 0, len(notes), len(notes), 4)
    img[0:len(hdr)] = hdr
    img[0x400:0x400 + len(notes)] = notes
    for i in range(0x1000):
        img[0x1000 + i] = (i * 13 + 5) & 0xff
    return bytes(img)


def tiny_elf64():
    img = bytearray(0x2000)
    hdr = elf64_hdr(0x100000, 2)
    hdr += phdr64(1, 5, 0x1000, 0x100000, 0x100000, 0x800, 0x800)
    hdr += phdr64(1, 6, 0x1800, 0x200000, 0x200000, 0x800, 0x4000)
    img[0:len(hdr)] = hdr
    img[0x1000:0x1004] = b"\xf4\xeb\xfd\x90"
    return bytes(img)


MB_MAGIC = 0x1BADB002


def mb_header(flags, fields=()):
    return struct.pack("<III", MB_MAGIC, flags, (-(MB_MAGIC + flags)) & 0xffffffff) + \
        b"".join(struct.pack("<I", f) for f in fields)


def multiboot_aout():
    load = 0x200000
    img = bytearray(0x2000)
    for i in range(0x60, 0x2000):
        img[i] = (i * 7 + 1) & 0xff
    h = mb_header(1 << 16 | 3, (load + 0x40, load, load + 0x2000, load + 0x5000, load + 0x100))
    img[0x40:0x40 + len(h)] = h
    return bytes(img)


def multiboot_elf32():
    img = bytearray(0x2000)
    seg = 0x400000
    eh = (b"\x7fELF" + bytes([1, 1, 1]) + b"\0" * 9 +
          struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, seg + 0x20, 52, 0, 0, 52, 32, 2, 0, 0, 0))
    ph = struct.pack("<IIIIIIII", 1, 0x1000, seg, seg, 0x1000, 0x3000, 5, 0x1000) + b"\0" * 32
    img[0:len(eh) + len(ph)] = eh + ph
    for i in range(0x1000, 0x2000):
        img[i] = (i * 3 + 5) & 0xff
    h = mb_header(0)
    img[0x1000:0x1000 + len(h)] = h
    return bytes(img)


def gen_boot():
    for name, k in (("bzimage", bzimage()), ("pvh", pvh()), ("elf64-tiny", tiny_elf64()),
                    ("multiboot-aout", multiboot_aout()), ("multiboot-elf32", multiboot_elf32())):
        put("boot", name, b"\x00" + k)
        if name != "elf64-tiny":
            put("boot", name + "-initrd", b"\x01" + k)
    put("boot", "bzimage-longcmd", b"\x03" + bzimage())


# ---- the Firecracker config file (fuzz_config) and API bodies (fuzz_api) ----
BOOT = {"kernel_image_path": "/k/vmlinux", "boot_args": "console=ttyS0 reboot=k panic=1",
        "initrd_path": "/k/initrd.img"}
DRIVE = {"drive_id": "rootfs", "path_on_host": "/img/rootfs.ext4", "is_root_device": True,
         "is_read_only": False, "cache_type": "Unsafe", "io_engine": "Sync"}
DRIVE2 = {"drive_id": "data", "path_on_host": "/img/data.img", "is_root_device": False,
          "is_read_only": True, "partuuid": "0eaa91a0-01",
          "rate_limiter": {"bandwidth": {"size": 1048576, "one_time_burst": 0, "refill_time": 100},
                           "ops": {"size": 100, "refill_time": 1000}}}
NET = {"iface_id": "eth0", "guest_mac": "06:00:AC:10:00:02", "host_dev_name": "tap0"}
MACHINE = {"vcpu_count": 2, "mem_size_mib": 256, "smt": False, "track_dirty_pages": True}
ENTROPY = {"rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 100}}}
LOGGER = {"log_path": "/tmp/fc.log", "level": "Info", "show_level": True, "show_log_origin": False}
METRICS = {"metrics_path": "/tmp/fc.metrics"}


def gen_config():
    put("config", "minimal", json.dumps({"boot-source": BOOT}))
    put("config", "full", json.dumps({
        "boot-source": BOOT, "drives": [DRIVE, DRIVE2], "machine-config": MACHINE,
        "network-interfaces": [NET], "entropy": ENTROPY, "logger": LOGGER, "metrics": METRICS},
        indent=2))
    put("config", "user-net", json.dumps({"boot-source": {"kernel_image_path": "/k/bzImage"},
                                          "network-interfaces": [{"iface_id": "u0", "host_dev_name": "user"}]}))
    put("config", "bad-type", '{"boot-source": {"kernel_image_path": 7}}')
    put("config", "unknown-field", '{"boot-source": {"kernel_image_path": "/k"}, "drives": [{"path_on_hots": 1}]}')


def api(op, body, ident=""):
    b = body if isinstance(body, str) else json.dumps(body)
    return bytes([op, len(ident)]) + ident.encode() + struct.pack("<H", len(b)) + b.encode()


def gen_api():
    put("api", "machine", api(0, MACHINE))
    put("api", "machine-patch", api(1, {"vcpu_count": 4}))
    put("api", "boot-then-drive", api(2, BOOT) + api(3, DRIVE, "rootfs") + api(3, DRIVE2, "data"))
    put("api", "boot-net", api(2, BOOT) + api(4, NET, "eth0"))
    put("api", "entropy-logger-metrics", api(2, BOOT) + api(5, ENTROPY) + api(6, LOGGER) + api(7, METRICS))
    put("api", "drive-id-mismatch", api(2, BOOT) + api(3, DRIVE, "other"))
    put("api", "snapshot-create", api(8, {"snapshot_type": "Full", "snapshot_path": "/s/vmstate",
                                           "mem_file_path": "/s/memory"}))
    put("api", "snapshot-load", api(9, {"snapshot_path": "/s/vmstate",
                                         "mem_backend": {"backend_type": "File", "backend_path": "/s/memory"},
                                         "resume_vm": True,
                                         "network_overrides": [{"iface_id": "eth0", "host_dev_name": "tap1"}]}))
    put("api", "snapshot-load-old", api(9, {"snapshot_path": "/s/vmstate", "mem_file_path": "/s/memory",
                                             "enable_diff_snapshots": True}))


# ---- hypercalls (fuzz_hcall: option byte, then [port][gpa le32][flags][32-byte struct]...) ----
def hc(port, gpa, words, flags=0):
    return struct.pack("<BIB", port, gpa, flags) + struct.pack("<4Q", *(list(words) + [0] * 4)[:4])


def gen_hcall():
    S = 0x80000   # struct area, above mvm's supervisor pages
    put("hcall", "console", b"\0" + hc(1, S, [0, S + 0x100, 13]))
    put("hcall", "time-blkinfo", b"\0" + hc(2, S, []) + hc(3, S + 0x40, []))
    put("hcall", "blk-read-write", b"\0" + hc(4, S, [0, 2, S + 0x1000, 1024]) + hc(5, S + 0x40, [0, 4, S + 0x1000, 512]))
    put("hcall", "blk-write-ro", b"\1" + hc(5, S, [0, 0, S + 0x1000, 512]))
    put("hcall", "blk-into-sys-pages", b"\0" + hc(4, S, [0, 0, 0x41000, 4096]))
    put("hcall", "net-no-device", b"\0" + hc(6, S, []) + hc(7, S + 0x40, [0, S + 0x100, 60]) + hc(8, S + 0x80, [0, S + 0x100, 1514]))
    put("hcall", "exit", b"\0" + hc(9, S, [0, 0x1234]))
    put("hcall", "fault-twice", b"\0" + hc(15, S, []) + hc(15, S, []))
    put("hcall", "unknown-and-tail", b"\0" + hc(12, S, []) + hc(17, S, []) + hc(1, S, [], flags=4))
    put("hcall", "struct-at-ram-end", b"\0" + hc(1, (1 << 20) - 8, []) + hc(3, 0x40ff8, []))


# ---- virtio-net tx (fuzz_net: [tap][features][nchains] then segments [off][len][w], then data) ----
def gen_net():
    vnet = bytes(12)
    frame = b"\xff" * 6 + b"\x02\0\0\0\0\x01" + b"\x08\x00" + bytes(range(46))
    seg = lambda off, ln, w=0: struct.pack("<HHB", off, ln, 0xff if w else 0)
    data = vnet + frame
    put("net", "user-one-frame", bytes([0, 0, 1, 1]) + seg(0, len(data)) + data)
    put("net", "tap-one-frame", bytes([1, 0xff, 1, 1]) + seg(0, len(data)) + data)
    put("net", "user-split-header", bytes([0, 0, 1, 3]) + seg(0, 5) + seg(5, 7) + seg(12, len(frame)) + data)
    csum = struct.pack("<BBHHHHH", 1, 0, 0, 0, 0, 0, 0)
    put("net", "user-csum-dropped", bytes([0, 0, 2, 1]) + seg(0, 72) + bytes([1]) + seg(0, 72) + csum + frame)
    put("net", "writable-dropped", bytes([1, 0, 2, 2]) + seg(0, len(data)) + seg(0x1000, 64, 1) + bytes([1]) + seg(0, len(data)) + data)
    put("net", "tap-four-chains", bytes([1, 0x0f, 4]) + (bytes([1]) + seg(0, len(data))) * 4 + data)


# ---- virtio-balloon (fuzz_balloon: mode byte [bit 0 statistics, bit 1 deflate, bit 2 reports], then a vq) ----
def gen_balloon():
    P = PAYLOAD
    pages = struct.pack("<8I", 0x10, 0x11, 0x12, 0x40, 0xff, 0x100, 0xffffffff, 0x0)
    put("balloon", "inflate", bytes([0]) + vq(2, 0, [[(P, len(pages), 0)]], payload=pages))
    put("balloon", "deflate", bytes([2]) + vq(2, 0, [[(P, len(pages), 0)]], payload=pages))
    put("balloon", "inflate-split-pfn", bytes([0]) + vq(2, 0, [[(P, 3, 0), (P + 3, 5, 0)]], payload=pages))
    put("balloon", "inflate-rings", bytes([0]) + vq(3, 0, [[(P, 8, 0)], [(P + 8, 8, 0)]],
                                                     payload=struct.pack("<4I", 0x10, 0x14, 0x18, 0xf0)))
    big = struct.pack("<I", 0x20) * 0x4000
    put("balloon", "inflate-huge", bytes([0]) + vq(1, 0, [[(P, len(big), 0)]], payload=big))
    stat = lambda t, v: struct.pack("<HQ", t, v)
    st = stat(4, 1 << 30) + stat(5, 1 << 31) + stat(99, 1) + stat(15, 7) + b"\1\2"
    put("balloon", "stats", bytes([1]) + vq(2, 0, [[(P, len(st), 0)]], payload=st))
    put("balloon", "report", bytes([4]) + vq(2, 0, [[(P + 0x800, 0x3000, DESC_F_WRITE), (P + 0x4000, 0x1000, DESC_F_WRITE)]]))
    put("balloon", "stats-split", bytes([1]) + vq(2, F_INDIRECT, [[(P, 5, 0), (P + 5, len(st) - 5, 0), (P + 0x1000, 16, DESC_F_WRITE)]], payload=st))


# ---- virtio-console (fuzz_console: [ntx][nrx][input len le16], tx then rx chains as
#      [nseg] + segments [off le16][len le16][w], the host input, then the tx data) ----
def gen_console():
    def seg(off, length, w=0):
        return struct.pack("<HHB", off, length, 0xff if w else 0)
    out = b"hello from the guest\n" * 4
    keys = b"ls -l /\n"
    put("console", "tx-one", bytes([1, 0]) + struct.pack("<H", 0) + bytes([1]) + seg(0, len(out)) + out)
    put("console", "tx-split", bytes([2, 0]) + struct.pack("<H", 0) + bytes([2]) + seg(0, 5) + seg(5, 20) +
        bytes([1]) + seg(25, len(out) - 25) + out)
    put("console", "tx-writable-ignored", bytes([1, 0]) + struct.pack("<H", 0) + bytes([2]) + seg(0, 10) +
        seg(0x100, 8, 1) + out)
    put("console", "rx-one", bytes([0, 1]) + struct.pack("<H", len(keys)) + bytes([1]) + seg(0, 64, 1) + keys)
    put("console", "rx-short-buffers", bytes([0, 3]) + struct.pack("<H", len(keys)) +
        (bytes([1]) + seg(0, 3, 1)) + (bytes([2]) + seg(0x10, 2, 1) + seg(0x20, 1, 1)) +
        (bytes([1]) + seg(0x30, 64, 1)) + keys)
    put("console", "rx-readable-refused", bytes([0, 2]) + struct.pack("<H", len(keys)) +
        (bytes([2]) + seg(0, 4) + seg(0x10, 16, 1)) + (bytes([1]) + seg(0x40, 64, 1)) + keys)
    put("console", "both", bytes([1, 1]) + struct.pack("<H", len(keys)) + bytes([1]) + seg(0, len(out)) +
        bytes([1]) + seg(0, 4096, 1) + keys + out)


TARGETS = {"vq": gen_vq, "blk": gen_blk, "boot": gen_boot, "config": gen_config, "api": gen_api, "hcall": gen_hcall, "net": gen_net, "balloon": gen_balloon, "console": gen_console}

if __name__ == "__main__":
    for gen in TARGETS.values():
        gen()
