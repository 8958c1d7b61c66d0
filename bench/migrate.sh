#!/usr/bin/env bash
# bench/migrate.sh - live migration benchmark: mvm against QEMU, two VMMs of one host over tcp.
#
# Usage: bench/migrate.sh [-n N] [--mem SIZE] [--timeout S] [--ticks T] [--downtime MS]
#                         [--dirty MIB,RATE] [--direct|--testhost] [--guest linux|multiboot]
#                         [--logs DIR]
# The guest of bench/snapshot.sh (Debian kernel, reference initramfs, mvmtest=tick: MVM-TICK=i
# every 10 ms), 256 MiB (--mem), 1 vCPU, idle apart from its ticks. N rounds (default 3), each:
#   mvm    source `mvm run --api-sock S --config-file`, after T ticks (default 20) `mvm ctl
#          migrate tcp:127.0.0.1:P --max-downtime MS` to `mvm run --incoming tcp:127.0.0.1:P`:
#          downtime = the source's "pausing the VM" log line -> the destination's first MVM-TICK
#          (both stamped as they arrive), mvm's own pause -> GO figure, total time, bytes sent
#   QEMU   the same guest in qemu -M pc -accel kvm; `migrate -d tcp:` to a -incoming tcp: QEMU
#          with downtime-limit MS (default 30, --downtime) and max-bandwidth 100G, through its
#          HMP monitor on two FIFOs: info migrate's downtime, total time, RAM transferred
# Each round does both twice: once with the guest idle, once with it dirtying memory at a fixed
# rate (--dirty MIB,RATE, default 64,16: bench/guest/memdirty.c, built static into an extra
# initramfs archive, writes one byte in each of RATE MiB worth of pages per second around a
# working set of MIB MiB; --dirty 0 leaves it out). mvm pre-copies without --auto-converge, as
# QEMU does by default. Prints min/median/max of each figure per guest. A benchmark: exits 0
# unless a step failed.
#
# --guest multiboot: instead of Linux, a 32-bit multiboot guest of tests/guests/mk-pvh-guest.py
# (multiboot-memdirty: the same ticks every 10 ms and the same working set and rate, paced by the
# TSC at this host's rate; no interrupts, no devices but COM1), run on this host's own /dev/kvm:
# it needs no VT-x/AMD-V that boots Linux, so a PVM-backed KVM (whose guest kernel mode is
# emulated) runs it too, and mvm's and QEMU's own work (dirty log, copying, sending, loading) is
# timed on the real CPU rather than inside the emulated test host. Needs python3.
# Where: as bench/snapshot.sh (directly when this host's KVM runs Linux, else in ONE test host
# VM, whose figures are not real hardware's); --guest multiboot always directly. Logs in --logs DIR (default
# .cache/bench/migrate). Run it under the test host lock: flock /tmp/mvm-testhost.lock bench/migrate.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/lib/common.sh"
. "$MVM_ROOT/scripts/lib/hostkvm.sh"

n=3 mem=256M timeout=60 ticks=20 downtime=30 dirty=64,16 where=auto guest=linux logs=$MVM_CACHE/bench/migrate
usage() { mvm_die "usage: $0 [-n N] [--mem SIZE] [--timeout S] [--ticks T] [--downtime MS] [--dirty MIB,RATE|0] [--direct|--testhost] [--guest linux|multiboot] [--logs DIR]"; }
while [ $# -gt 0 ]; do
	case "$1" in
	-n) [ $# -ge 2 ] || usage; n=$2; shift 2 ;;
	--mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--ticks) [ $# -ge 2 ] || usage; ticks=$2; shift 2 ;;
	--downtime) [ $# -ge 2 ] || usage; downtime=$2; shift 2 ;;
	--dirty) [ $# -ge 2 ] || usage; dirty=$2; shift 2 ;;
	--direct) where=direct; shift ;;
	--testhost) where=testhost; shift ;;
	--guest) [ $# -ge 2 ] || usage; guest=$2; shift 2 ;;
	--logs) [ $# -ge 2 ] || usage; logs=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
done
case "$n" in ''|*[!0-9]*|0) mvm_die "-n $n: expected a whole number of rounds >= 1" ;; esac
case "$timeout" in ''|*[!0-9]*|0) mvm_die "--timeout $timeout: expected whole seconds >= 1" ;; esac
case "$ticks" in ''|*[!0-9]*|0) mvm_die "--ticks $ticks: expected a whole number >= 1" ;; esac
case "$downtime" in ''|*[!0-9]*|0) mvm_die "--downtime $downtime: expected whole milliseconds >= 1" ;; esac
case "$dirty" in 0) ;; [1-9]*,[1-9]*) case "$dirty" in *[!0-9,]*|*,*,*) mvm_die "--dirty $dirty: expected MIB,RATE (MiB and MiB/s) or 0" ;; esac ;;
	*) mvm_die "--dirty $dirty: expected MIB,RATE (MiB and MiB/s, such as 64,16) or 0" ;; esac
case "$mem" in [1-9]*[MG]) ;; *) mvm_die "--mem $mem: expected a size in M or G, such as 256M" ;; esac
case "$guest" in linux|multiboot) ;; *) mvm_die "--guest $guest: expected linux or multiboot" ;; esac
[ "$guest" = multiboot ] && [ "$where" = testhost ] && mvm_die "--guest multiboot runs on this host's /dev/kvm, not in the test host"
case "${mem%[MG]}" in *[!0-9]*) mvm_die "--mem $mem: expected a size in M or G, such as 256M" ;; esac
logs=$(mkdir -p "$logs" && cd "$logs" && pwd)
start=$(mvm_now)

# --- Inputs: QEMU, kernel, initramfs, mvm, launch ---------------------------------------------
if ! command -v qemu-system-x86_64 >/dev/null; then
	if [ -x "$MVM_ROOT/scripts/deps.sh" ]; then
		"$MVM_ROOT/scripts/deps.sh" >&2
	else
		mvm_say "bench: installing qemu-system-x86"
		mvm_sudo apt-get install -y -q qemu-system-x86 >&2
	fi
fi
if [ "$guest" = linux ]; then
	envfile=$("$MVM_ROOT/scripts/fetch-debian.sh")
	# shellcheck disable=SC1090
	. "$envfile"
	# Its own copy of the reference initramfs: the shared default path is rebuilt by every test
	# run, possibly from another checkout's /init without mvmtest=tick.
	initrd=$("$MVM_ROOT/scripts/mk-guest-initramfs.sh" -o "$MVM_CACHE/bench/migrate-initramfs.cpio.gz")
else
	. "$here/lib/multiboot-guest.sh"
	bench_multiboot_check
	tsc_khz=$(bench_tsc_khz)
	mbdir=$MVM_CACHE/bench/migrate-multiboot
	mkdir -p "$mbdir"
	mib=${dirty%,*} rate=${dirty#*,}
	[ "$dirty" = 0 ] && mib=64 rate=0
	bench_multiboot_guest "$mbdir/idle.bin" "$tsc_khz" "$mib" 0
	bench_multiboot_guest "$mbdir/dirty.bin" "$tsc_khz" "$mib" "${rate:-0}"
	MVM_BZIMAGE=$mbdir/idle.bin initrd=$mbdir/idle.bin
	where=direct
fi
if ! make -C "$MVM_ROOT" -s build/mvm >&2; then
	[ -x "$MVM_ROOT/build/mvm" ] || mvm_die "bench: building mvm failed (make build/mvm)"
	mvm_say "bench: WARNING: make build/mvm failed; measuring the existing build/mvm, which may be stale"
fi
# The dirtying guest's program, static, in a second archive after the reference initramfs (the
# kernel unpacks concatenated archives in order).
if [ "$dirty" != 0 ] && [ "$guest" = linux ]; then
	. "$MVM_ROOT/bench/lib/guest-prog.sh"
	md=$(bench_guest_prog memdirty)
	bench_initrd_with "$initrd" "$md" "$initrd"
fi
if [ "$where" = auto ]; then
	where=testhost
	mvm_hostkvm_check && where=direct
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
cpu="$cpu, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
# Physical paths: the test host VM gets each file at its resolved path (tests/testhost/run.sh).
export BENCH_N=$n BENCH_MEM=$mem BENCH_TIMEOUT=$timeout BENCH_TICKS=$ticks BENCH_DOWNTIME_MS=$downtime BENCH_DIRTY=$dirty
export BENCH_GUEST=$guest BENCH_MB_DIR=${mbdir:-} BENCH_TSC_KHZ=${tsc_khz:-}
export BENCH_DST_ARGS=${BENCH_DST_ARGS:-}
BENCH_MVM=$(readlink -f "$MVM_ROOT/build/mvm")
BENCH_KERNEL=$(readlink -f "$MVM_BZIMAGE") BENCH_INITRD=$(readlink -f "$initrd")
runner=$(readlink -f "$here/lib/migrate-run.sh")
export BENCH_MVM BENCH_KERNEL BENCH_INITRD
rm -rf "$logs"/mvm.* "$logs"/qemu.* "$logs"/mvm-* "$logs"/qemu-* "$logs/work"

if [ "$where" = direct ]; then
	export BENCH_LOGS=$logs BENCH_SHIP=0
	. "$here/lib/multiboot-guest.sh"
	BENCH_ENV=$(bench_direct_env "$cpu")
	export BENCH_ENV
	bash "$runner" && rc=0 || rc=$?
else
	mvm_testhost_check || mvm_die "bench: $MVM_TESTHOST_WHY"
	mvm_say "bench: this host's KVM cannot boot Linux ($MVM_HOSTKVM_WHY); running in a test host VM (several minutes)"
	files=("$runner" "$BENCH_MVM" "$BENCH_KERNEL" "$BENCH_INITRD"
		"$(readlink -f "$(command -v qemu-system-x86_64)")")
	# QEMU -M pc needs SeaBIOS, linuxboot_dma.bin for -kernel and kvmvapic.bin under KVM, found
	# next to its binary (../share/qemu). --file copies the target of a symlink to the link's
	# path only when the destination is given.
	qdata=$(qemu-system-x86_64 -L help 2>/dev/null | head -n1)
	qdata=$(readlink -f "$qdata" 2>/dev/null || echo /usr/share/qemu)
	for fw in "$qdata"/{bios-256k.bin,linuxboot_dma.bin,linuxboot.bin,kvmvapic.bin}; do
		if [ -e "$fw" ]; then
			files+=("$fw:$fw")
		elif [ -e "/usr/share/seabios/${fw##*/}" ]; then
			files+=("/usr/share/seabios/${fw##*/}:$qdata/${fw##*/}")
		else
			mvm_say "bench: QEMU firmware ${fw##*/} not found; the QEMU runs that need it will fail"
		fi
	done
	fargs=()
	for f in "${files[@]}"; do fargs+=(--file "$f"); done
	envs=()
	for e in N MEM TIMEOUT TICKS DOWNTIME_MS DIRTY MVM KERNEL INITRD DST_ARGS; do
		v=BENCH_$e
		envs+=(--env "$v=${!v}")
	done
	envs+=(--env BENCH_LOGS=/tmp/bench --env BENCH_SHIP=1
		--env "BENCH_ENV=test host VM: QEMU TCG (-cpu EPYC,+svm, 2 vCPUs) on $cpu, nested kvm_amd; L2 guests are not real-hardware figures")
	# Each round: two boots and two migrations of at most ~timeout each, plus the host's boot.
	budget=$((600 + 8 * n * timeout))
	# The emulated test host can itself hang (nested SVM under TCG); the runner prints a line per
	# step, so silence much longer than one boot means the VM is stuck: stop it rather than wait
	# for the whole budget. run.sh kills its QEMU when it gets SIGTERM.
	fifo=$(mktemp -u) && mkfifo "$fifo"
	"$MVM_ROOT/tests/testhost/run.sh" --timeout "$budget" --idle-timeout $((2 * timeout + 60)) \
		--log "$logs/testhost.log" "${fargs[@]}" "${envs[@]}" -- bash "$runner" >"$fifo" 2>&1 &
	rpid=$!
	stall=600 last="(none yet)"
	while :; do
		if IFS= read -r -t "$stall" line; then
			case "$line" in 'bench-log['*) ;; *) printf '%s\n' "$line"; last=$line ;; esac
			stall=$((2 * timeout + 120))
		elif [ $? -gt 128 ]; then
			mvm_say "bench: no output from the test host VM for $stall s (last line: $last); stopping it"
			kill -TERM "$rpid" 2>/dev/null || :
			cat >/dev/null
			break
		else
			break
		fi
	done <"$fifo"
	wait "$rpid" && rc=0 || rc=$?
	rm -f "$fifo"
	# Keep the first round's logs the test host printed, one file each.
	if [ -f "$logs/testhost.log" ]; then
		for f in $(sed -n 's/^bench-log\[\([^]]*\)\] .*/\1/p' "$logs/testhost.log" | sort -u); do
			sed -n "s/^bench-log\[$f\] //p" "$logs/testhost.log" >"$logs/$f"
		done
	fi
fi
mvm_say "bench: done in $(mvm_elapsed "$start") s (load average now $(cut -d' ' -f1-3 /proc/loadavg)); logs in $logs"
exit "$rc"
