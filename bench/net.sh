#!/usr/bin/env bash
# bench/net.sh - virtio-net benchmark: guest<->host TCP throughput under mvm and QEMU, and host loopback.
#
# Usage: bench/net.sh [-n N] [--mib MIB] [--mem SIZE] [--timeout S] [--direct|--testhost] [--logs DIR]
# Boots the Debian kernel (scripts/fetch-debian.sh) with the guest initramfs
# (scripts/mk-guest-initramfs.sh, mvmtest=echo) plus bench/guest/iobench.c under mvm and QEMU
# (-M microvm,acpi=on, virtio-net-device) and measures one TCP stream of MIB MiB (default 64)
# each way, as MB/s counted by the receiving iobench tcp-sink:
#   user: mvm --net user,hostfwd=tcp::5202-:5202 / qemu -netdev user,hostfwd=... (libslirp); the
#         guest leases 10.0.2.15 with udhcpc, sends to the host at 10.0.2.2:5201, and the host
#         sends to 127.0.0.1:5202, forwarded to the guest
#   tap:  when root with /dev/net/tun: mvm --net tap=mvmbtap0 / qemu -netdev tap,vhost=off, with
#         192.168.77.1 on the host side and a static 192.168.77.2 in the guest
# and the host's own loopback (tcp-source -> tcp-sink on 127.0.0.1) as "the host directly".
# N runs (default 3), interleaved; prints medians and mvm/host, mvm/QEMU beside the target
# (>= 1.0x QEMU on every figure). A benchmark: it does not judge the targets; it exits 0 unless
# a run or a step failed.
#
# Where: directly when this host's KVM can run Linux (scripts/lib/hostkvm.sh), otherwise all of it
# in ONE test host VM (tests/testhost/run.sh: QEMU TCG, nested AMD-V, root, /dev/net/tun), whose
# figures are not those of real hardware. Logs in --logs DIR (default .cache/bench/net).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/lib/common.sh"
. "$here/lib/io-outer.sh"

kind=net n=3 mem=256M timeout=120 mib=64 secs=10 qd=1 img_mib=0 where=auto logs=$MVM_CACHE/bench/net
usage() { mvm_die "usage: $0 [-n N] [--mib MIB] [--mem SIZE] [--timeout S] [--direct|--testhost] [--logs DIR]"; }
while [ $# -gt 0 ]; do
	case "$1" in
	-n) [ $# -ge 2 ] || usage; n=$2; shift 2 ;;
	--mib) [ $# -ge 2 ] || usage; mib=$2; shift 2 ;;
	--mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--direct) where=direct; shift ;;
	--testhost) where=testhost; shift ;;
	--logs) [ $# -ge 2 ] || usage; logs=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
done
for v in n mib timeout; do
	case "${!v}" in ''|*[!0-9]*|0) mvm_die "$v=${!v}: expected a whole number >= 1" ;; esac
done
io_outer_run
