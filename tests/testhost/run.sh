#!/usr/bin/env bash
# tests/testhost/run.sh - run one command inside a throwaway test host VM that has a working /dev/kvm.
#
# Usage: tests/testhost/run.sh [--interactive] [--timeout S] [--idle-timeout S] [--quiet] [--log FILE]
#            [--scratch-disk SIZE] [--file SRC[:DEST]]... [--env NAME=VALUE]... -- COMMAND [ARG]...
# Boots the Debian kernel (scripts/fetch-debian.sh) under QEMU emulation (TCG, an EPYC CPU with
# SVM, 2 vCPUs, 6 GiB) with an initramfs (scripts/mk-testhost-initramfs.sh) holding busybox,
# kvm/kvm_amd, the given files (at their own paths unless DEST is given, ELF files with their
# libraries) and COMMAND, run in the current directory. Exits with COMMAND's status, read back
# from the VM's second serial port; 124 when --timeout S (default 1200; 0 = none) passes, after
# QEMU has been killed, or when --idle-timeout S (default 0 = none) passes with no console output,
# or --heartbeat-timeout S (default 0 = none) without the line the test host's /init writes on its
# kernel port every 10 s, counted from the first one (a hung test host; a quiet command keeps the
# heartbeat going)
# (then QEMU's view of the test host's CPUs is printed first); 125 when the test host itself
# failed (its console is printed).
# Output: the VM's console streams to stdout (carriage returns removed) unless --quiet, which
# prints it only on failure. --interactive wires the terminal straight to the VM's console with
# no QEMU escape key, so keystrokes (Ctrl-C, Ctrl-A x) reach COMMAND; it has no timeout by default.
# --scratch-disk SIZE (e.g. 1G, 768M) gives the test host a real disk: a sparse raw file of SIZE in
# this run's temporary directory, formatted ext4 here (mke2fs, e2fsprogs) and removed afterwards,
# attached as an NVMe disk (built into Debian's kernel) with cache=none (host O_DIRECT) where this
# file system allows O_DIRECT, else cache=writeback. COMMAND finds it named in its environment:
# MVM_TESTHOST_SCRATCH=/dev/nvme0n1 (may appear a moment after COMMAND starts; /init mounts
# nothing) and MVM_TESTHOST_SCRATCH_CACHE=none|writeback. Without the flag there is no disk.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib/common.sh"

interactive=0 timeout=1200 idle=0 heartbeat=0 quiet=0 log='' scratch=''
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--interactive) interactive=1; timeout=0; shift ;;
	--timeout) timeout=$2; shift 2 ;;
	--idle-timeout) idle=$2; shift 2 ;;
	--heartbeat-timeout) heartbeat=$2; shift 2 ;;
	--quiet) quiet=1; shift ;;
	--log) log=$2; shift 2 ;;
	--scratch-disk) scratch=$2; shift 2 ;;
	--file|--env) args+=("$1" "$2"); shift 2 ;;
	--) shift; break ;;
	*) mvm_die "testhost: unknown argument $1 (see the usage at the top of $0)" ;;
	esac
done
[ $# -gt 0 ] || mvm_die "testhost: no command given"
# MVM_TESTHOST_QEMU: another qemu-system-x86_64 for the test host (e.g. a newer one unpacked
# from bookworm-backports), with MVM_TESTHOST_QEMU_DATA: its firmware directories, colon-separated.
qemu_bin=${MVM_TESTHOST_QEMU:-qemu-system-x86_64}
command -v "$qemu_bin" >/dev/null || mvm_die "testhost: $qemu_bin not installed (scripts/deps.sh)"
qdata=()
IFS=: read -r -a qdirs <<<"${MVM_TESTHOST_QEMU_DATA:-}"
for d in "${qdirs[@]}"; do [ -z "$d" ] || qdata+=(-L "$d"); done

envfile=$("$MVM_ROOT/scripts/fetch-debian.sh")
# shellcheck disable=SC1090
. "$envfile"

work=$(mktemp -d)
qpid=
cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then kill -KILL "$qpid" 2>/dev/null || :; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

qdisk=()
if [ -n "$scratch" ]; then
	case "$scratch" in [1-9]*[0-9KMG]) ;; *) mvm_die "testhost: --scratch-disk $scratch: expected a size such as 1G or 768M" ;; esac
	mke2fs=$(command -v mke2fs || echo /sbin/mke2fs)
	[ -x "$mke2fs" ] || mvm_die "testhost: --scratch-disk needs mke2fs (package e2fsprogs, scripts/deps.sh)"
	truncate -s "$scratch" "$work/scratch.img"
	# cache=none is QEMU's O_DIRECT on the file: the test host's writes reach this machine's disk,
	# not its page cache. Probed with a read before the file system exists (tmpfs may refuse it).
	scache=writeback
	dd if="$work/scratch.img" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null && scache=none
	# Inode tables and journal written now, so no lazy-init thread writes behind a benchmark.
	"$mke2fs" -q -F -t ext4 -L mvmscratch -E lazy_itable_init=0,lazy_journal_init=0 "$work/scratch.img" ||
		mvm_die "testhost: mke2fs on the --scratch-disk file failed"
	# shellcheck disable=SC2054  # QEMU's option values hold commas
	qdisk=(-drive "id=scratch,file=$work/scratch.img,format=raw,if=none,cache=$scache"
		-device nvme,drive=scratch,serial=mvmscratch)
	args+=(--env MVM_TESTHOST_SCRATCH=/dev/nvme0n1 --env "MVM_TESTHOST_SCRATCH_CACHE=$scache")
fi

ia=()
[ $interactive -eq 1 ] && ia=(--interactive)
"$MVM_ROOT/scripts/mk-testhost-initramfs.sh" -o "$work/initramfs.cpio" "${ia[@]}" "${args[@]}" -- "$@" >/dev/null

# MVM_TESTHOST_TCG: multi (default: a host thread per emulated CPU) or single (one for both).
# Each mode has its own emulation fault, measured with mvm's tables intact and in guests with no
# device: multi-threaded, a tiny guest storming ioeventfd notifies triple-faulted in 1 of 10 runs
# (single: 0 of 20); single-threaded, Debian's kernel with 1 vCPU hung in a spinlock's slow path
# with interrupts off in 3 of 16 boots (multi: 0 of 42 in a full run). tests/adversarial/run.sh
# picks single, tests/linux/run.sh multi.
# shellcheck disable=SC2054
qemu=("$qemu_bin" "${qdata[@]}" -accel "tcg,thread=${MVM_TESTHOST_TCG:-multi}" -M pc -cpu EPYC,+svm -smp 2 -m 6G -nodefaults -no-reboot
	-display none -kernel "$MVM_BZIMAGE" -initrd "$work/initramfs.cpio"
	-append "console=ttyS2 panic=1 reboot=k nokaslr" "${qdisk[@]}")
: >"$work/status"
start=$(mvm_now)
if [ $interactive -eq 1 ]; then
	# signal=off: Ctrl-C goes to the VM; mux=off: no QEMU monitor escape, Ctrl-A reaches mvm.
	"${qemu[@]}" -chardev stdio,id=con,signal=off,mux=off -serial chardev:con \
		-serial "file:$work/status" -serial "file:$work/kernel" 2>"$work/qemu.err" && qrc=0 || qrc=$?
else
	: >"$work/console"
	# QEMU's monitor on a pair of FIFOs (QEMU opens them read-write, so nothing blocks): asked
	# for the CPUs' registers when the test host goes silent.
	mkfifo "$work/mon.in" "$work/mon.out"
	"${qemu[@]}" -serial "file:$work/console" -serial "file:$work/status" -serial "file:$work/kernel" \
		-monitor "pipe:$work/mon" </dev/null >/dev/null 2>"$work/qemu.err" &
	qpid=$!
	shown=0 timed_out=0 size=0 last_out=$start beats=0 last_beat=$start silent=
	show_new() {
		local n
		n=$(wc -c <"$work/console")
		if [ "$n" -gt "$shown" ]; then
			# dd reads exactly the new bytes itself: tail | head would SIGPIPE tail when the file
			# grew in between, and pipefail would make that this script's exit status (141).
			dd if="$work/console" iflag=skip_bytes,count_bytes skip="$shown" count=$((n - shown)) \
				bs=64K status=none | tr -d '\r'
			shown=$n
		fi
	}
	over() { awk -v a="$1" -v b="$(mvm_now)" -v t="$2" 'BEGIN { exit !(b - a > t) }'; }
	while kill -0 "$qpid" 2>/dev/null; do
		[ $quiet -eq 0 ] && show_new
		n=$(wc -c <"$work/console")
		[ "$n" -ne "$size" ] && size=$n last_out=$(mvm_now)
		if [ "$timeout" -gt 0 ] && over "$start" "$timeout"; then
			timed_out=1
			kill -KILL "$qpid" 2>/dev/null || :
			break
		fi
		if [ "$heartbeat" -gt 0 ]; then
			n=$(grep -c '^TESTHOST-HEARTBEAT' "$work/kernel" 2>/dev/null) || n=0
			[ "$n" -ne "$beats" ] && beats=$n last_beat=$(mvm_now)
		fi
		silent=
		if [ "$heartbeat" -gt 0 ] && [ "$beats" -gt 0 ] && over "$last_beat" "$heartbeat"; then
			silent="no heartbeat for ${heartbeat} s"
		elif [ "$idle" -gt 0 ] && over "$last_out" "$idle"; then
			silent="no output for ${idle} s"
		fi
		if [ -n "$silent" ]; then
			timed_out=2
			# Where the test host's CPUs are: in its kernel (an L1 hang) or idle.
			{ echo "info registers -a"; echo "info irq"; } >"$work/mon.in"
			sleep 2
			timeout 3 cat "$work/mon.out" >"$work/monitor" 2>/dev/null || :
			kill -KILL "$qpid" 2>/dev/null || :
			break
		fi
		sleep 0.3
	done
	wait "$qpid" && qrc=0 || qrc=$?
	qpid=
	[ $quiet -eq 0 ] && show_new
	[ -n "$log" ] && tr -d '\r' <"$work/console" >"$log"
fi

status=$(tr -d '\r' <"$work/status" | sed -n 's/^TESTHOST-EXIT=\([0-9]*\)$/\1/p' | tail -n1)
elapsed=$(mvm_elapsed "$start")
dump() {
	if [ $interactive -eq 0 ] && [ $quiet -eq 1 ]; then
		echo "---- test host console ----"; tr -d '\r' <"$work/console"
	fi
	# 150 lines: a panic inside an interrupt prints two oopses, and the first (where the test
	# host's kernel was when it took the interrupt) is the one worth reading.
	if [ -s "$work/kernel" ]; then
		echo "---- test host kernel log (tail; heartbeats left out, the last: $(grep -a '^TESTHOST-HEARTBEAT' "$work/kernel" | tail -n1 | tr -d '\r' | cut -d' ' -f2) s) ----"
		tr -d '\r' <"$work/kernel" | grep -av '^TESTHOST-HEARTBEAT' | tail -n 150
	fi
	grep -v "TCG doesn.t support requested feature" "$work/qemu.err" >"$work/qemu.err2" || :
	if [ -s "$work/qemu.err2" ]; then echo "---- qemu stderr ----"; cat "$work/qemu.err2"; fi
}
if [ $interactive -eq 0 ] && [ "$timed_out" = 1 ]; then
	dump >&2
	mvm_say "testhost: timed out after ${timeout} s; QEMU killed"
	exit 124
fi
if [ $interactive -eq 0 ] && [ "$timed_out" = 2 ]; then
	dump >&2
	if [ -s "$work/monitor" ]; then
		echo "---- QEMU: the test host's CPUs when it went silent ----" >&2
		tr -d '\r' <"$work/monitor" | grep -aE '^(CPU#|RAX|RSI|R8 |RIP|CS |CR0|EFER|IRQ|[ a-z0-9]+: [0-9]+)' >&2 || :
		# The test host runs with nokaslr: the same addresses in a fresh one name the functions.
		rips=$(tr -d '\r' <"$work/monitor" | sed -n 's/^RIP=\([0-9a-f]*\).*/\1/p' | tr '\n' ' ')
		[ -z "$rips" ] || echo "(tests/testhost/symbolize.sh $rips names these functions)" >&2
	fi
	mvm_say "testhost: $silent after ${elapsed} s; the test host hung; QEMU killed"
	exit 124
fi
if [ -z "$status" ]; then
	dump >&2
	mvm_say "testhost: the test host VM stopped (QEMU status $qrc, ${elapsed} s) without reporting the command's status"
	exit 125
fi
case "$status" in
120|121) dump >&2; mvm_say "testhost: the test host VM could not provide /dev/kvm (status $status)"; exit 125 ;;
esac
[ "$status" -ne 0 ] && [ $quiet -eq 1 ] && dump >&2
mvm_say "testhost: command exited $status after ${elapsed} s in the test host VM"
exit "$status"
