#!/usr/bin/env bash
# bench/blk.sh - virtio-blk benchmark: guest disk throughput and IOPS under mvm, QEMU and the host.
#
# Usage: bench/blk.sh [-n N] [--mib MIB] [--secs S] [--qd D] [--image-mib MIB] [--mem SIZE]
#                     [--timeout S] [--direct|--testhost] [--logs DIR]
# Boots the Debian kernel (scripts/fetch-debian.sh) with the guest initramfs
# (scripts/mk-guest-initramfs.sh, mvmtest=echo) plus bench/guest/iobench.c, with one raw image
# (default 256 MiB, created on the measuring host's /tmp-like log directory) as its virtio-blk
# disk, under mvm (--disk IMG) and QEMU (-M microvm,acpi=on, virtio-blk-device,
# cache=writeback: mvm's buffered I/O with fdatasync on flush), and in the guest runs
#   iobench seq-write /dev/vda MIB   (default 64; 1 MiB O_DIRECT writes, timed up to fdatasync)
#   iobench seq-read /dev/vda MIB    (1 MiB O_DIRECT reads)
#   iobench rand-read /dev/vda S D   (4 KiB O_DIRECT random reads for S s, default 10, by D
#                                     threads each with one read in flight; default D = 1)
# and the same on the image from the host directly. N runs (default 3), interleaved host, mvm,
# QEMU; prints the medians, mvm/host and mvm/QEMU beside the targets (>= 0.9x host sequential,
# >= 1.0x QEMU on every figure). A benchmark: it does not judge the targets; it exits 0 unless a
# run or a step failed.
#
# Where: directly when this host's KVM can run Linux (scripts/lib/hostkvm.sh), otherwise all of it
# in ONE test host VM (tests/testhost/run.sh: QEMU TCG, nested AMD-V), whose figures are not those
# of real hardware. There the image lives on a scratch disk (run.sh --scratch-disk: an ext4 file
# system on an emulated NVMe disk backed by a raw file on this machine, cache=none where O_DIRECT
# works), the test host's iobench uses O_DIRECT on it, and the page cache is dropped before each
# read test, so host, mvm and QEMU all read and write that one disk. Logs in --logs DIR (default
# .cache/bench/blk); from a test host VM only the first boot of each VMM comes back, plus its
# console (testhost.log).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/lib/common.sh"
. "$here/lib/io-outer.sh"

kind=blk n=3 mem=256M timeout=120 mib=64 secs=10 qd=1 img_mib=256 where=auto logs=$MVM_CACHE/bench/blk
usage() { mvm_die "usage: $0 [-n N] [--mib MIB] [--secs S] [--qd D] [--image-mib MIB] [--mem SIZE] [--timeout S] [--direct|--testhost] [--logs DIR]"; }
while [ $# -gt 0 ]; do
	case "$1" in
	-n) [ $# -ge 2 ] || usage; n=$2; shift 2 ;;
	--mib) [ $# -ge 2 ] || usage; mib=$2; shift 2 ;;
	--secs) [ $# -ge 2 ] || usage; secs=$2; shift 2 ;;
	--qd) [ $# -ge 2 ] || usage; qd=$2; shift 2 ;;
	--image-mib) [ $# -ge 2 ] || usage; img_mib=$2; shift 2 ;;
	--mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--direct) where=direct; shift ;;
	--testhost) where=testhost; shift ;;
	--logs) [ $# -ge 2 ] || usage; logs=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
done
for v in n mib secs qd img_mib timeout; do
	case "${!v}" in ''|*[!0-9]*|0) mvm_die "$v=${!v}: expected a whole number >= 1" ;; esac
done
[ "$mib" -le "$img_mib" ] || mvm_die "--mib $mib is larger than the image (--image-mib $img_mib)"
io_outer_run
