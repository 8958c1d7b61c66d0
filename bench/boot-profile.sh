#!/usr/bin/env bash
# bench/boot-profile.sh - where a stock kernel's boot goes, per phase, under mvm and its peers.
#
# Usage: bench/boot-profile.sh [-n N] [--mem SIZE] [--timeout S] [--kvmtool PATH] [--pvh]
#                              [--sampled-only] [--direct|--testhost] [--logs DIR]
# Boots the guest of bench/boot.sh (Debian's kernel, the reference initramfs) N times (default 3)
# under mvm (and with --pvh also mvm booting the extracted vmlinux through PVH: in the test host
# VM two of the test host's failures, a kernel panic and a hang, came during such boots), QEMU
# -M pc and -M microvm (and kvmtool with --kvmtool PATH) with an instrumented,
# verbose command line, and prints per VMM the median host time and KVM exits of each phase:
# mvm's own start (exec -> first KVM_RUN), firmware/setup, decompression, early boot, initcalls,
# userspace up to the marker; then the slowest initcalls (initcall_debug), the ports and
# addresses nobody claims under mvm (--stats), and host time by guest function from N quiet
# mvm boots under --profile (scripts/profile-report.sh, symbols from the guest's own kallsyms);
# --sampled-only runs that part alone.
# bench/lib/boot-profile-run.sh says how phases are cut. Where: directly when this host's KVM can run Linux, else in ONE test host VM (as
# bench/boot.sh; flock /tmp/mvm-testhost.lock around it on a shared machine). Logs: --logs DIR
# (default .cache/bench/boot-profile; from a test host VM only its console, testhost.log).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/lib/common.sh"
. "$MVM_ROOT/scripts/lib/hostkvm.sh"

n=3 mem=256M timeout=120 where=auto logs=$MVM_CACHE/bench/boot-profile kvmtool='' pvh=0 sampled=0
usage() { mvm_die "usage: $0 [-n N] [--mem SIZE] [--timeout S] [--kvmtool PATH] [--pvh] [--sampled-only] [--direct|--testhost] [--logs DIR]"; }
while [ $# -gt 0 ]; do
	case "$1" in
	-n) [ $# -ge 2 ] || usage; n=$2; shift 2 ;;
	--mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--kvmtool) [ $# -ge 2 ] || usage; kvmtool=$2; shift 2 ;;
	--pvh) pvh=1; shift ;;
	--sampled-only) sampled=1; shift ;;
	--direct) where=direct; shift ;;
	--testhost) where=testhost; shift ;;
	--logs) [ $# -ge 2 ] || usage; logs=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
done
case "$n" in ''|*[!0-9]*|0) mvm_die "-n $n: expected a whole number of runs >= 1" ;; esac
case "$timeout" in ''|*[!0-9]*|0) mvm_die "--timeout $timeout: expected whole seconds >= 1" ;; esac
if [ -n "$kvmtool" ]; then
	[ -x "$kvmtool" ] || mvm_die "--kvmtool $kvmtool: not an executable file (build lkvm-static from kvmtool's source)"
	kvmtool=$(readlink -f "$kvmtool")
fi
logs=$(mkdir -p "$logs" && cd "$logs" && pwd)
start=$(mvm_now)

command -v qemu-system-x86_64 >/dev/null || "$MVM_ROOT/scripts/deps.sh" >&2
envfile=$("$MVM_ROOT/scripts/fetch-debian.sh")
# shellcheck disable=SC1090
. "$envfile"
initrd=$("$MVM_ROOT/scripts/mk-guest-initramfs.sh")
vmlinux=$MVM_CACHE/bench/vmlinux-$MVM_KVER
if [ ! -s "$vmlinux" ] || [ "$vmlinux" -ot "$MVM_BZIMAGE" ]; then
	mkdir -p "$(dirname "$vmlinux")"
	"$MVM_ROOT/tests/tools/extract-vmlinux.sh" "$MVM_BZIMAGE" "$vmlinux.tmp"
	mv "$vmlinux.tmp" "$vmlinux"
fi
make -C "$MVM_ROOT" -s build/mvm >&2 || mvm_die "profile: building mvm failed (make build/mvm)"
launch=$MVM_ROOT/build/bench/launch
mkdir -p "$(dirname "$launch")"
if [ ! -x "$launch" ] || [ "$launch" -ot "$here/launch.c" ]; then
	gcc -O2 -Wall -Wextra -static -o "$launch" "$here/launch.c" ||
		mvm_die "profile: cannot build $launch (static: needs libc.a, package libc6-dev)"
fi
if [ "$where" = auto ]; then
	where=testhost
	mvm_hostkvm_check && where=direct
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
export BENCH_N=$n BENCH_MEM=$mem BENCH_TIMEOUT=$timeout BENCH_KVMTOOL=$kvmtool BENCH_PVH=$pvh BENCH_SAMPLED_ONLY=$sampled
BENCH_MVM=$(readlink -f "$MVM_ROOT/build/mvm") BENCH_LAUNCH=$(readlink -f "$launch")
BENCH_KERNEL=$(readlink -f "$MVM_BZIMAGE") BENCH_INITRD=$(readlink -f "$initrd")
BENCH_VMLINUX=$(readlink -f "$vmlinux")
runner=$(readlink -f "$here/lib/boot-profile-run.sh")
BENCH_REPORT=$(readlink -f "$MVM_ROOT/scripts/profile-report.sh")
export BENCH_MVM BENCH_LAUNCH BENCH_KERNEL BENCH_INITRD BENCH_VMLINUX BENCH_REPORT
rm -f "$logs"/*.out "$logs"/*.err "$logs"/*.stamp "$logs"/*.phases

if [ "$where" = direct ]; then
	BENCH_LOGS=$logs BENCH_ENV="this host directly ($cpu, $(uname -r))" bash "$runner" && rc=0 || rc=$?
else
	mvm_testhost_check || mvm_die "profile: $MVM_TESTHOST_WHY"
	mvm_say "profile: this host's KVM cannot boot Linux ($MVM_HOSTKVM_WHY); running in a test host VM"
	files=("$runner" "$BENCH_MVM" "$BENCH_LAUNCH" "$BENCH_KERNEL" "$BENCH_INITRD" "$BENCH_VMLINUX" "$BENCH_REPORT"
		"$(readlink -f "$(command -v qemu-system-x86_64)")")
	[ -n "$kvmtool" ] && files+=("$kvmtool")
	qdata=$(qemu-system-x86_64 -L help 2>/dev/null | head -n1)
	qdata=$(readlink -f "$qdata" 2>/dev/null || echo /usr/share/qemu)
	for fw in "$qdata"/{bios-256k.bin,linuxboot_dma.bin,linuxboot.bin,kvmvapic.bin,bios-microvm.bin}; do
		if [ -e "$fw" ]; then
			files+=("$fw:$fw")
		elif [ -e "/usr/share/seabios/${fw##*/}" ]; then
			files+=("/usr/share/seabios/${fw##*/}:$qdata/${fw##*/}")
		fi
	done
	fargs=()
	for f in "${files[@]}"; do fargs+=(--file "$f"); done
	envs=()
	for e in N MEM TIMEOUT MVM LAUNCH KERNEL VMLINUX INITRD KVMTOOL PVH REPORT SAMPLED_ONLY; do
		v=BENCH_$e
		envs+=(--env "$v=${!v}")
	done
	envs+=(--env BENCH_LOGS=/tmp/profile
		--env "BENCH_ENV=test host VM: QEMU TCG (-cpu EPYC,+svm, 2 vCPUs) on $cpu, nested kvm_amd; not real-hardware figures")
	"$MVM_ROOT/tests/testhost/run.sh" --timeout $((600 + 4 * n * timeout)) --idle-timeout $((timeout + 120)) \
		--log "$logs/testhost.log" "${fargs[@]}" "${envs[@]}" -- bash "$runner" && rc=0 || rc=$?
fi
mvm_say "profile: done in $(mvm_elapsed "$start") s; logs in $logs"
exit "$rc"
