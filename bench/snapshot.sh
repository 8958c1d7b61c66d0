#!/usr/bin/env bash
# bench/snapshot.sh - snapshot and restore benchmark: mvm against QEMU's save/restore.
#
# Usage: bench/snapshot.sh [-n N] [--mem SIZE] [--timeout S] [--ticks T] [--rss-after MS]
#                          [--direct|--testhost] [--guest linux|multiboot] [--logs DIR]
# One guest throughout: the Debian kernel and the reference initramfs (scripts/fetch-debian.sh,
# scripts/mk-guest-initramfs.sh) with mvmtest=tick, whose /init prints MVM-GUEST-READY and then
# MVM-TICK=i every 10 ms, so a restored guest shows within ~10 ms that it runs again. 256 MiB
# (--mem), 1 vCPU. N rounds (default 3), each in this order:
#   mvm cold boot    exec of `mvm run --kernel ...` -> MVM-GUEST-READY
#   mvm snapshot     `mvm run --api-sock S --config-file` (the same VM) ticks T times (default 20),
#                    `mvm ctl snapshot DIR --stay-paused`: ctl's create time, the ctl call's wall
#                    time, the state file's size, the memory file's apparent and on-disk size
#   mvm restore      exec of `mvm run --restore DIR` -> first MVM-TICK, and its RSS then and
#                    MS (default 500, --rss-after) later
#   QEMU save        qemu -M pc -accel kvm -cpu host, the same kernel, initrd, cmdline, memory;
#                    after T ticks its HMP monitor (two FIFOs) gets stop, migrate "exec:cat > F",
#                    info migrate until completed, quit: its total time and F's size
#   QEMU restore     exec of the same QEMU with -incoming "exec:cat F" -> first MVM-TICK
# Prints min/median/max of each and the issue's ratios beside their targets (mvm restore <= 1/20
# of mvm's cold boot, and below QEMU's restore). A benchmark: it does not judge the targets; it
# exits 0 unless a step failed.
#
# --guest multiboot: instead of Linux, the 32-bit multiboot guest of bench/migrate.sh --guest
# multiboot (tests/guests/mk-pvh-guest.py multiboot-memdirty, idle: MVM-MEMDIRTY-READY once its
# 64 MiB working set is written, then MVM-TICK=i every 10 ms, paced by the TSC; a restore that
# moved the TSC on by 100 ms or more prints its next tick at once), run on this host's own
# /dev/kvm, PVM-backed ones too: the restore is timed on the real CPU. Needs python3.
# Where: directly when this host's KVM can run Linux (scripts/lib/hostkvm.sh), otherwise the whole
# benchmark runs in ONE test host VM (tests/testhost/run.sh: QEMU TCG, nested AMD-V), whose
# figures are not those of real hardware. --direct / --testhost force either. Each step's console
# and stderr are kept in --logs DIR (default .cache/bench/snapshot); from a test host VM only the
# first round comes back, plus the test host's console (testhost.log). Run it under the test host
# lock: flock /tmp/mvm-testhost.lock bench/snapshot.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/lib/common.sh"
. "$MVM_ROOT/scripts/lib/hostkvm.sh"

n=3 mem=256M timeout=60 ticks=20 rss_ms=500 where=auto guest=linux logs=$MVM_CACHE/bench/snapshot
usage() { mvm_die "usage: $0 [-n N] [--mem SIZE] [--timeout S] [--ticks T] [--rss-after MS] [--direct|--testhost] [--guest linux|multiboot] [--logs DIR]"; }
while [ $# -gt 0 ]; do
	case "$1" in
	-n) [ $# -ge 2 ] || usage; n=$2; shift 2 ;;
	--mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--ticks) [ $# -ge 2 ] || usage; ticks=$2; shift 2 ;;
	--rss-after) [ $# -ge 2 ] || usage; rss_ms=$2; shift 2 ;;
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
case "$rss_ms" in ''|*[!0-9]*) mvm_die "--rss-after $rss_ms: expected whole milliseconds" ;; esac
case "$mem" in [1-9]*[MG]) ;; *) mvm_die "--mem $mem: expected a size in M or G, such as 256M" ;; esac
case "${mem%[MG]}" in *[!0-9]*) mvm_die "--mem $mem: expected a size in M or G, such as 256M" ;; esac
case "$guest" in linux|multiboot) ;; *) mvm_die "--guest $guest: expected linux or multiboot" ;; esac
[ "$guest" = multiboot ] && [ "$where" = testhost ] && mvm_die "--guest multiboot runs on this host's /dev/kvm, not in the test host"
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
	initrd=$("$MVM_ROOT/scripts/mk-guest-initramfs.sh" -o "$MVM_CACHE/bench/snapshot-initramfs.cpio.gz")
else
	. "$here/lib/multiboot-guest.sh"
	bench_multiboot_check
	mkdir -p "$MVM_CACHE/bench"
	MVM_BZIMAGE=$MVM_CACHE/bench/snapshot-multiboot.bin initrd=$MVM_BZIMAGE
	bench_multiboot_guest "$MVM_BZIMAGE" "$(bench_tsc_khz)" 64 0
	where=direct
fi
if ! make -C "$MVM_ROOT" -s build/mvm >&2; then
	[ -x "$MVM_ROOT/build/mvm" ] || mvm_die "bench: building mvm failed (make build/mvm)"
	mvm_say "bench: WARNING: make build/mvm failed; measuring the existing build/mvm, which may be stale"
fi
launch=$MVM_ROOT/build/bench/launch
mkdir -p "$(dirname "$launch")"
if [ ! -x "$launch" ] || [ "$launch" -ot "$here/launch.c" ]; then
	gcc -O2 -Wall -Wextra -static -o "$launch" "$here/launch.c" ||
		mvm_die "bench: cannot build $launch (static: needs libc.a, package libc6-dev)"
fi

if [ "$where" = auto ]; then
	where=testhost
	mvm_hostkvm_check && where=direct
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
cpu="$cpu, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
# Physical paths: the test host VM gets each file at its resolved path (tests/testhost/run.sh).
export BENCH_N=$n BENCH_MEM=$mem BENCH_TIMEOUT=$timeout BENCH_TICKS=$ticks BENCH_RSS_MS=$rss_ms
export BENCH_GUEST=$guest
BENCH_MVM=$(readlink -f "$MVM_ROOT/build/mvm") BENCH_LAUNCH=$(readlink -f "$launch")
BENCH_KERNEL=$(readlink -f "$MVM_BZIMAGE") BENCH_INITRD=$(readlink -f "$initrd")
runner=$(readlink -f "$here/lib/snapshot-run.sh")
export BENCH_MVM BENCH_LAUNCH BENCH_KERNEL BENCH_INITRD
rm -rf "$logs"/*.out "$logs"/*.err "$logs"/*.mon "$logs"/*.data "$logs/work"
steps=(mvm-boot mvm-source mvm-restore qemu-source qemu-restore)

if [ "$where" = direct ]; then
	export BENCH_LOGS=$logs BENCH_SHIP=0
	. "$here/lib/multiboot-guest.sh"
	BENCH_ENV=$(bench_direct_env "$cpu")
	export BENCH_ENV
	bash "$runner" && rc=0 || rc=$?
else
	mvm_testhost_check || mvm_die "bench: $MVM_TESTHOST_WHY"
	mvm_say "bench: this host's KVM cannot boot Linux ($MVM_HOSTKVM_WHY); running in a test host VM (several minutes)"
	files=("$runner" "$BENCH_MVM" "$BENCH_LAUNCH" "$BENCH_KERNEL" "$BENCH_INITRD"
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
	for e in N MEM TIMEOUT TICKS RSS_MS MVM LAUNCH KERNEL INITRD; do
		v=BENCH_$e
		envs+=(--env "$v=${!v}")
	done
	envs+=(--env BENCH_LOGS=/tmp/bench --env BENCH_SHIP=1
		--env "BENCH_ENV=test host VM: QEMU TCG (-cpu EPYC,+svm, 2 vCPUs) on $cpu, nested kvm_amd; L2 guests are not real-hardware figures")
	# Each round: four boots or restores of at most ~timeout each, plus the test host's own boot.
	budget=$((600 + 5 * n * timeout))
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
	# Keep the first round's logs the test host printed, one file per step and stream.
	if [ -f "$logs/testhost.log" ]; then
		for v in "${steps[@]}"; do
			for s in out err ctl.out ctl.err mon; do
				sed -n "s/^bench-log\[$v\] $s: //p" "$logs/testhost.log" >"$logs/$v.1.$s"
				[ -s "$logs/$v.1.$s" ] || rm -f "$logs/$v.1.$s"
			done
		done
	fi
fi
mvm_say "bench: done in $(mvm_elapsed "$start") s (load average now $(cut -d' ' -f1-3 /proc/loadavg)); logs in $logs"
exit "$rc"
