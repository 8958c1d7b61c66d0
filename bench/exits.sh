#!/usr/bin/env bash
# bench/exits.sh - exit-cost benchmark: ns per port-I/O, MMIO and hypercall exit, and hello boot time.
#
# Usage: bench/exits.sh [-n N] [--rounds R] [--launches L] [--timeout S] [--direct|--testhost]
# Measures, in one place where /dev/kvm works:
#  - the floor: bench/exits-floor.c, a bare KVM_RUN loop (one 4 KiB slot, real mode) timing
#    N round trips of an OUT and of an MMIO read;
#  - mvm with the SDK guest guest/bench/exits.c (64-bit, ring 3): N OUTs to the UART scratch
#    register, N OUTs to an unclaimed port, N unclaimed MMIO reads, N time hypercalls;
#  - the same multiboot guest (bench/guest/exits-mb.S, 32-bit ring 0, rdtsc-timed) under mvm and
#    under qemu-system-x86_64 -M microvm -accel kvm: N OUTs to 0x3ff, N unclaimed MMIO reads;
#  - exec -> the hello demo's first console line (`mvm run`, bench/launch), median of L runs.
# Each figure is the best of R batches of N (defaults 20000, 3; L 20). Prints a table with the
# ratios mvm/floor (target <= 1.1) and mvm/QEMU, and the boot median beside its 10 ms target.
# A benchmark: it exits 0 unless a run failed.
#
# Where: directly when this host's KVM can run guests (scripts/lib/hostkvm.sh), otherwise in ONE
# test host VM (tests/testhost/run.sh: QEMU TCG, nested AMD-V), whose figures are those of an
# emulated CPU running nested guests, not of hardware. When /dev/kvm exists but cannot boot
# Linux (PVM), the mvm figures (ring-3 guests run there) are also taken on this host directly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/lib/common.sh"
. "$MVM_ROOT/scripts/lib/hostkvm.sh"

n=20000 rounds=3 launches=20 timeout=600 where=auto
usage() { mvm_die "usage: $0 [-n N] [--rounds R] [--launches L] [--timeout S] [--direct|--testhost]"; }
while [ $# -gt 0 ]; do
	case "$1" in
	-n) [ $# -ge 2 ] || usage; n=$2; shift 2 ;;
	--rounds) [ $# -ge 2 ] || usage; rounds=$2; shift 2 ;;
	--launches) [ $# -ge 2 ] || usage; launches=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--direct) where=direct; shift ;;
	--testhost) where=testhost; shift ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
done
for v in n rounds launches timeout; do
	case "${!v}" in ''|*[!0-9]*|0) mvm_die "--$v ${!v}: expected a whole number >= 1" ;; esac
done
start=$(mvm_now)

# --- Inputs: mvm and the SDK guest, the floor, the multiboot guest, launch ------------------------
if ! make -C "$MVM_ROOT" -s build/mvm build/guest/bench/exits.elf >&2; then
	[ -x "$MVM_ROOT/build/mvm" ] && [ -f "$MVM_ROOT/build/guest/bench/exits.elf" ] ||
		mvm_die "bench: make build/mvm build/guest/bench/exits.elf failed"
	mvm_say "bench: WARNING: make failed; measuring the existing build/mvm, which may be stale"
fi
bdir=$MVM_ROOT/build/bench
mkdir -p "$bdir"
gcc -O2 -Wall -Wextra -static -o "$bdir/exits-floor" "$here/exits-floor.c" ||
	mvm_die "bench: cannot build exits-floor (static: needs libc.a, package libc6-dev)"
gcc -m32 -nostdlib -static -ffreestanding -DEXITS_N="$n" -DEXITS_ROUNDS="$rounds" -Wl,-N \
	-Wl,-Ttext=0x100000 -Wl,--build-id=none -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments \
	-o "$bdir/exits-mb.elf" "$here/guest/exits-mb.S" || mvm_die "bench: cannot assemble exits-mb.S"
if [ ! -x "$bdir/launch" ] || [ "$bdir/launch" -ot "$here/launch.c" ]; then
	gcc -O2 -Wall -Wextra -static -o "$bdir/launch" "$here/launch.c" ||
		mvm_die "bench: cannot build $bdir/launch (static: needs libc.a, package libc6-dev)"
fi
command -v qemu-system-x86_64 >/dev/null || mvm_die "bench: qemu-system-x86_64 is not installed (scripts/deps.sh)"

if [ "$where" = auto ]; then
	where=testhost
	mvm_hostkvm_check && where=direct
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
cpu="$cpu, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
export BENCH_N=$n BENCH_ROUNDS=$rounds BENCH_LAUNCH_N=$launches BENCH_TIMEOUT=$timeout
BENCH_MVM=$(readlink -f "$MVM_ROOT/build/mvm") BENCH_LAUNCH=$(readlink -f "$bdir/launch")
BENCH_FLOOR=$(readlink -f "$bdir/exits-floor") BENCH_MB_ELF=$(readlink -f "$bdir/exits-mb.elf")
BENCH_SDK_ELF=$(readlink -f "$MVM_ROOT/build/guest/bench/exits.elf")
runner=$(readlink -f "$here/lib/exits-run.sh")
export BENCH_MVM BENCH_LAUNCH BENCH_FLOOR BENCH_MB_ELF BENCH_SDK_ELF
rc=0

if [ "$where" = direct ]; then
	BENCH_ENV="this host directly ($cpu, $(uname -r), /dev/kvm)" BENCH_QEMU=1 bash "$runner" || rc=$?
else
	if [ -e /dev/kvm ]; then
		# PVM-style /dev/kvm: ring-3 guests run, Linux does not; QEMU's ring-0 guest would not.
		mvm_say "bench: this host's /dev/kvm cannot boot Linux ($MVM_HOSTKVM_WHY); measuring mvm on it anyway"
		BENCH_ENV="this host's /dev/kvm ($cpu, $(uname -r)); no QEMU" BENCH_QEMU=0 \
			bash "$runner" || mvm_say "bench: some runs on this host's /dev/kvm failed (ring-0 parts need a full KVM)"
	else
		mvm_say "bench: this host has no /dev/kvm: no figures of its own; everything runs in the test host VM"
	fi
	mvm_testhost_check || mvm_die "bench: $MVM_TESTHOST_WHY"
	files=("$runner" "$BENCH_MVM" "$BENCH_LAUNCH" "$BENCH_FLOOR" "$BENCH_MB_ELF" "$BENCH_SDK_ELF"
		"$(readlink -f "$(command -v qemu-system-x86_64)")")
	# -M microvm needs qboot (bios-microvm.bin, a symlink, so named with its destination).
	qdata=$(qemu-system-x86_64 -L help 2>/dev/null | head -n1)
	qdata=$(readlink -f "$qdata" 2>/dev/null || echo /usr/share/qemu)
	for fw in "$qdata"/{bios-microvm.bin,qboot.rom}; do
		[ -e "$fw" ] && files+=("$fw:$fw")
	done
	fargs=()
	for f in "${files[@]}"; do fargs+=(--file "$f"); done
	envs=()
	for e in N ROUNDS LAUNCH_N TIMEOUT MVM LAUNCH FLOOR MB_ELF SDK_ELF; do
		v=BENCH_$e
		envs+=(--env "$v=${!v}")
	done
	envs+=(--env BENCH_QEMU=1
		--env "BENCH_ENV=test host VM: QEMU TCG (-cpu EPYC,+svm, 2 vCPUs) on $cpu, nested kvm_amd; L2 figures, not hardware")
	"$MVM_ROOT/tests/testhost/run.sh" --timeout $((900 + 8 * timeout)) "${fargs[@]}" "${envs[@]}" \
		-- bash "$runner" || rc=$?
fi
mvm_say "bench: done in $(mvm_elapsed "$start") s"
exit "$rc"
