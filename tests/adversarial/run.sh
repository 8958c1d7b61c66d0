#!/usr/bin/env bash
# tests/adversarial/run.sh - boot each adversarial guest (tests/adversarial/*.c) under mvm and
# check that mvm survives it: the right exit status, no sanitizer report, no hang, the disk image
# unchanged, and no thread of mvm left spinning after a notify storm.
#
# Usage: tests/adversarial/run.sh [--direct] [--mvm PATH] [--guests DIR] [--pvh ELF] [--only NAME]...
#            [--list]
# Prints `ok NAME` or `not ok NAME: why` (then mvm's output as # lines) per case and a last line
# `N passed, M failed`. Defaults: build/mvm and the guests make builds into build/guest/adversarial/
# (run make first). Every guest runs with --disk IMG --rng --net user --net user --console virtio (a
# tiny guest's first --net backs its net hypercalls, the second is virtio-net), so it finds
# all four virtio devices in its boot info. Where the cases run: here when this host's KVM works
# (scripts/lib/hostkvm.sh, or --direct); otherwise mvm, the guests and this script go into ONE test
# host VM (tests/testhost/run.sh). Each case has its own deadline (ADV_DEADLINE, 60 s: nested
# emulation is slow), so a hung mvm fails that case and the run goes on.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib/common.sh"
. "$here/../../scripts/lib/hostkvm.sh"
. "$here/../../scripts/lib/tap.sh"
. "$here/../../scripts/lib/testhost-cases.sh"

DEADLINE=${ADV_DEADLINE:-60}
CASE_LIMIT=$((DEADLINE * 2 + 30))   # then the case's watchdog dumps and kills mvm
IDLE_WINDOW=2          # seconds of mvm CPU time sampled after the notify storm
IDLE_MAX_TICKS=20      # at most 0.2 s of CPU (USER_HZ 100) in that window outside the vCPU threads
# QueueNotify writes in the storm. Inside the test host VM an exit costs ~86 us (QEMU emulates the
# L1 host), so 1,000,000 would take ~90 s there: it gets 100,000 unless ADV_STORM says otherwise.
STORM=${ADV_STORM:-1000000}

# Ring-level attacks (tests/adversarial/virtq.c): each must end in NEEDS_RESET, then a working device.
RING_CASES=(loop-direct loop-self loop-indirect indirect-nested indirect-noneg indirect-outside
	indirect-hole indirect-lapic indirect-straddle indirect-len0 indirect-len17 indirect-huge
	indirect-long indirect-next buf-end-of-ram buf-past-ram buf-hole buf-hole-span buf-wrap len-huge
	head-oob next-oob avail-jump)
# The subset also run against rng, net (transmit queue) and console (transmit queue).
RING_OTHER=(loop-direct loop-indirect indirect-nested indirect-outside buf-end-of-ram buf-hole
	len-huge head-oob avail-jump)
QUEUE_CASES=(queue-outside queue-hole queue-size queue-misaligned queue-sel config status-order)

all_cases() {
	local c d
	for c in "${RING_CASES[@]}"; do echo "virtq-$c-blk"; done
	for d in rng net console; do for c in "${RING_OTHER[@]}"; do echo "virtq-$c-$d"; done; done
	for c in zero-len out-writable ro-status bad-sector; do echo "virtq-$c-blk"; done
	for c in "${QUEUE_CASES[@]}"; do echo "transport-$c-blk"; done
	for d in rng net console; do for c in queue-size queue-outside config; do echo "transport-$c-$d"; done; done
	echo transport-reset-mid-io-blk
	echo transport-notify-storm-blk
	printf '%s\n' hcall-bad hcall-fault-port hcall-exit-wide hcall-triple
	printf '%s\n' ports-ports ports-mmio halt-cli-hlt pvh-triple-fault
	echo vsock-hostile
	echo hcall-udp-flood
}

direct=0 list=0 mvm=$MVM_ROOT/build/mvm guests=$MVM_ROOT/build/guest/adversarial pvh='' only=()
while [ $# -gt 0 ]; do
	case "$1" in
	--direct) direct=1; shift ;;
	--mvm) mvm=$2; shift 2 ;;
	--guests) guests=$2; shift 2 ;;
	--pvh) pvh=$2; shift 2 ;;
	--only) only+=("$2"); shift 2 ;;
	--list) list=1; shift ;;
	*) mvm_die "tests/adversarial/run.sh: unknown argument $1" ;;
	esac
done
mapfile -t cases <<<"$(all_cases)"   # no /dev/fd in the test host: no <(...)
[ ${#only[@]} -gt 0 ] && cases=("${only[@]}")
if [ $list -eq 1 ]; then printf '%s\n' "${cases[@]}"; exit 0; fi

if [ ! -x "$mvm" ]; then
	for c in "${cases[@]}"; do notok "$c" "$mvm not found or not executable (run make first)"; done
	summary
fi
if [ ! -s "$guests/virtq.elf" ]; then
	for c in "${cases[@]}"; do notok "$c" "no adversarial guests in $guests (run make)"; done
	summary
fi
mvm=$(readlink -f "$mvm") guests=$(readlink -f "$guests")

# ---- not here: ship mvm, the guests and this script into one test host VM ---------------------
if [ $direct -eq 0 ] && ! mvm_hostkvm_check; then
	if ! mvm_testhost_check; then
		skip_all "no usable KVM ($MVM_HOSTKVM_WHY) and no test host VM ($MVM_TESTHOST_WHY)" "${cases[@]}"
		summary
	fi
	echo "# $MVM_HOSTKVM_WHY: running the cases inside a test host VM (QEMU emulation, nested AMD-V)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	inner=(bash "$here/run.sh" --direct --mvm "$mvm" --guests "$guests")
	files=(--file "$here/run.sh" --file "$MVM_ROOT/scripts/lib" --file "$mvm" --file "$guests")
	# The PVH triple-fault guest is built here: the test host has no python3.
	if [ -z "$pvh" ] && python3 "$MVM_ROOT/tests/guests/mk-pvh-guest.py" triple-fault "$tmp/triple-fault.elf" 2>/dev/null; then
		pvh=$tmp/triple-fault.elf
	fi
	[ -n "$pvh" ] && files+=(--file "$pvh") inner+=(--pvh "$pvh")
	# The VM's deadline is a generous sum; a case prints its line within its deadline plus the
	# notify storm's idle check, so a longer silence means the VM hung.
	TH_ARGS=(--env "CI=${CI:-}" --env "ADV_DEADLINE=$DEADLINE" --env "ADV_STORM=${ADV_STORM:-100000}" "${files[@]}")
	TH_INNER=("${inner[@]}") TH_CASES=("${cases[@]}") TH_ONLY=("${only[@]}")
	# Single-threaded TCG: multi-threaded, the notify storm's guest triple-faulted 1 run in 10
	# with mvm's GDT, TSS, IDT and page tables intact (tests/testhost/run.sh says more).
	export MVM_TESTHOST_TCG=${MVM_TESTHOST_TCG:-single}
	th_run_cases $(( ${#cases[@]} * 20 + 300 )) $((CASE_LIMIT + 90)) "$tmp"
	[ "$TH_DONE" = 1 ] && exit "$TH_RC"
	summary
fi

# ---- the cases, run here -----------------------------------------------------------------------
work=$(mktemp -d)
VM_PID=
vm_kill() {
	[ -n "${VM_PID:-}" ] || return 0
	kill -TERM "$VM_PID" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$VM_PID" 2>/dev/null || break; sleep 0.3; done
	kill -KILL "$VM_PID" 2>/dev/null
	wait "$VM_PID" 2>/dev/null
	VM_PID= VM_RC=killed
}
trap 'vm_kill; rm -rf "$work"' EXIT

img=$work/disk.img
dd if=/dev/urandom of="$img" bs=1M count=4 2>/dev/null || mvm_die "cannot create $img"
img_sum=$(md5sum <"$img" | cut -d' ' -f1)
# A tiny guest's first --net backs its net hypercalls (docs/guest-abi.md); the second is virtio-net.
DEVS=(--disk "$img" --rng --net user --net user --console virtio)

# vm_start NAME ARGS...: mvm in the background, output in $work/NAME.{out,err}.
vm_start() {
	VM_NAME=$1 VM_OUT=$work/$1.out VM_ERR=$work/$1.err VM_RC=
	shift
	{ printf '# %s: mvm' "$VM_NAME"; printf ' %q' "$@"; echo; } >"$work/$VM_NAME.cmd"
	"$mvm" "$@" </dev/null >"$VM_OUT" 2>"$VM_ERR" &
	VM_PID=$! VM_T0=$(mvm_now)
}
vm_over() { awk -v a="$VM_T0" -v b="$(mvm_now)" -v t="$1" 'BEGIN { exit !(b - a > t) }'; }
# 0 with VM_RC set, or 2 after killing mvm at the deadline.
vm_wait_exit() {
	while kill -0 "$VM_PID" 2>/dev/null; do
		if vm_over "$DEADLINE"; then vm_kill; return 2; fi
		sleep 0.1
	done
	wait "$VM_PID" 2>/dev/null; VM_RC=$?
	VM_PID=
	return 0
}
# 0 when REGEX shows in stdout, 1 when mvm exited first, 2 at the deadline.
vm_wait_for() {
	while :; do
		grep -qaE "$1" "$VM_OUT" && return 0
		kill -0 "$VM_PID" 2>/dev/null || { grep -qaE "$1" "$VM_OUT" && return 0; return 1; }
		vm_over "$DEADLINE" && return 2
		sleep 0.1
	done
}
fail_case() {
	notok "$1" "$2"
	cat "$work/$VM_NAME.cmd"
	tr -d '\r' <"$VM_OUT" | grep -av '^$' | tail -n 15 | sed 's/^/#   out: /'
	tr -d '\r' <"$VM_ERR" | tail -n 25 | sed 's/^/#   err: /'
}
secs() { awk -v a="$VM_T0" -v b="$(mvm_now)" 'BEGIN { printf "%.1f", b - a }'; }

# The checks every case shares, after mvm exited: status, sanitizers, the image.
# check_end NAME WANT [STDERR-REGEX]; prints ok/not ok.
check_end() {
	local name=$1 want=$2 re=${3:-} sum
	sum=$(md5sum <"$img" | cut -d' ' -f1)
	if [ "$VM_RC" = killed ]; then fail_case "$name" "mvm still running $DEADLINE s after start (hang)"
	elif grep -qaE 'AddressSanitizer|LeakSanitizer|runtime error:' "$VM_ERR"; then
		fail_case "$name" "a sanitizer report in mvm's stderr"
	elif [ "$VM_RC" != "$want" ]; then fail_case "$name" "mvm exited $VM_RC, expected $want"
	elif [ "$want" = 0 ] && ! grep -qa '^ADV-PASS' "$VM_OUT"; then fail_case "$name" "the guest did not print ADV-PASS"
	elif grep -qa '^ADV-FAIL' "$VM_OUT"; then fail_case "$name" "the guest reported a failed check"
	elif [ -n "$re" ] && ! grep -qaE "$re" "$VM_ERR"; then fail_case "$name" "no '$re' in mvm's stderr"
	elif [ "$sum" != "$img_sum" ]; then
		fail_case "$name" "the disk image changed (md5 $img_sum -> $sum)"
		img_sum=$sum
	else
		echo "# $name: $(secs) s"
		tr -d '\r' <"$VM_OUT" | grep -a '^ADV-MARK' | head -n 8 | sed 's/^/#   /'
		[ -z "$re" ] || grep -aE "$re" "$VM_ERR" | head -n 2 | sed 's/^/#   err: /'
		ok "$name"
	fi
}

# run_guest NAME GUEST CMDLINE WANT STDERR-REGEX [MORE MVM ARGS...]
run_guest() {
	local name=$1 guest=$2 cmdline=$3 want=$4 re=$5
	shift 5
	vm_start "$name" run --kernel "$guests/$guest.elf" --cmdline "$cmdline" "${DEVS[@]}" "$@"
	vm_wait_exit || :
	check_end "$name" "$want" "$re"
}

# CPU ticks (utime + stime) of mvm's threads other than its vCPUs.
host_ticks() {
	local t comm rest sum=0
	for t in /proc/"$1"/task/*; do
		comm=$(cat "$t/comm" 2>/dev/null) || continue
		case $comm in mvm-vcpu*) continue ;; esac
		rest=$(sed 's/^.*) //' "$t/stat" 2>/dev/null) || continue
		# shellcheck disable=SC2086
		set -- $rest
		sum=$((sum + ${12} + ${13}))
	done
	echo "$sum"
}
host_threads() {
	local t
	for t in /proc/"$1"/task/*; do
		echo "$(cat "$t/comm" 2>/dev/null) $(sed 's/^.*) //' "$t/stat" 2>/dev/null | awk '{ print $12 + $13 }')"
	done | tr '\n' ',' | sed 's/,$//'
}

# 1,000,000 QueueNotify writes, a request that must still complete, then an idle guest: the
# threads that are not vCPUs (device workers, event loops, main) must not burn CPU meanwhile.
case_storm() {
	local name=transport-notify-storm-blk a b r
	local DEADLINE=$((DEADLINE * 2))   # the storm plus the idle phase (dynamic scope: vm_* see it)
	vm_start "$name" run --kernel "$guests/transport.elf" \
		--cmdline "case=notify-storm dev=blk storm=$STORM idle=$((IDLE_WINDOW + 10))" \
		"${DEVS[@]}"
	vm_wait_for '^ADV-IDLE-BEGIN'; r=$?
	if [ $r -ne 0 ]; then
		[ $r -eq 2 ] && vm_kill
		vm_wait_exit || :
		fail_case "$name" "the guest never reached its idle phase (storm of $STORM notifies)"
		return
	fi
	sleep 0.5
	a=$(host_ticks "$VM_PID"); sleep "$IDLE_WINDOW"; b=$(host_ticks "$VM_PID")
	local threads alive=0; threads=$(host_threads "$VM_PID")
	# Valid only if the guest was still idling when the second sample was taken.
	if kill -0 "$VM_PID" 2>/dev/null && ! grep -qa 'ADV-IDLE-END' "$VM_OUT"; then alive=1; fi
	vm_wait_exit || :
	if [ $alive -ne 1 ]; then
		fail_case "$name" "the guest's idle phase ended before the ${IDLE_WINDOW} s sample did (a slow host?): no measurement"
		return
	fi
	grep -a 'ADV-MARK notify-storm' "$VM_OUT" | sed 's/^/# /'
	echo "# $name: non-vCPU threads used $((b - a)) ticks in ${IDLE_WINDOW} s idle (threads: $threads)"
	if [ $((b - a)) -gt $IDLE_MAX_TICKS ]; then
		fail_case "$name" "mvm's non-vCPU threads used $((b - a)) ticks of CPU in ${IDLE_WINDOW} s of guest idle (max $IDLE_MAX_TICKS): a thread spins"
		return
	fi
	check_end "$name" 0
}

# 4,000 UDP flows through user networking, each from a new source port (tests/adversarial/
# netflood.c), with max-flows=256: mvm's fds stay within the cap, its API answers throughout
# (sampled every 0.3 s), the frames past the cap are reported dropped, and the guest ends clean.
case_udp_flood() {
	local name=hcall-udp-flood cfg=$work/udp-flood.json sock=$work/udp-flood.sock
	local base=0 peak=0 n asked=0 answered=0
	cat >"$cfg" <<-JSON
	{"boot-source": {"kernel_image_path": "$guests/netflood.elf", "boot_args": "flows=4000"},
	 "network-interfaces": [{"iface_id": "n0", "mvm_user": {"max_flows": 256}}]}
	JSON
	rm -f "$sock"
	vm_start "$name" run --config-file "$cfg" --api-sock "$sock"
	while kill -0 "$VM_PID" 2>/dev/null && ! vm_over "$DEADLINE"; do
		n=$(ls "/proc/$VM_PID/fd" 2>/dev/null | wc -l)
		# The baseline: the most fds seen before the first flow (the guest starts with 1.5 s
		# of quiet, then says "starting"; the API socket comes before the VM is all built).
		if ! grep -qa 'ADV-MARK netflood starting' "$VM_OUT"; then
			[ "$n" -gt "$base" ] && base=$n
		fi
		[ "$n" -gt "$peak" ] && peak=$n
		if [ -S "$sock" ]; then
			asked=$((asked + 1))
			if timeout 5 "$mvm" ctl --api-sock "$sock" info >/dev/null 2>&1; then
				answered=$((answered + 1))
			elif grep -qa 'ADV-MARK netflood done' "$VM_OUT" || ! kill -0 "$VM_PID" 2>/dev/null; then
				asked=$((asked - 1))   # asked as the guest finished: mvm was tearing down
			fi
		fi
		sleep 0.3
	done
	vm_wait_exit || :
	echo "# $name: mvm's fds $base at the start, $peak at most; the API answered $answered of $asked requests"
	if [ "$VM_RC" = 0 ] && [ "$base" = 0 ]; then
		fail_case "$name" "no fd count was taken between the API socket's creation and the first flows"
	elif [ "$VM_RC" = 0 ] && [ $((peak - base)) -gt 260 ]; then
		fail_case "$name" "mvm's fds grew from $base to $peak under max-flows=256"
	elif [ "$VM_RC" = 0 ] && { [ "$asked" -lt 3 ] || [ "$answered" -ne "$asked" ]; }; then
		fail_case "$name" "the API answered $answered of $asked requests during the flood"
	else
		check_end "$name" 0 'at the cap of 256 host sockets'
	fi
}

run_case() {
	local c=$1 rest dev
	case $c in
	virtq-*)
		rest=${c#virtq-} dev=${rest##*-} rest=${rest%-*}
		if [ "$rest" = buf-hole-span ]; then
			run_guest "$c" virtq "case=$rest dev=$dev" 0 '' --mem 3200M
		else
			run_guest "$c" virtq "case=$rest dev=$dev" 0 ''
		fi ;;
	transport-notify-storm-blk) case_storm ;;
	transport-*)
		rest=${c#transport-} dev=${rest##*-} rest=${rest%-*}
		run_guest "$c" transport "case=$rest dev=$dev" 0 '' ;;
	hcall-bad) run_guest "$c" hcall case=bad 0 '' ;;
	# A forged fault-port OUT: mvm reports what its own page holds and exits 4.
	hcall-fault-port) run_guest "$c" hcall case=fault-port 4 'guest fault' ;;
	hcall-exit-wide) run_guest "$c" hcall case=exit-wide $((0x45)) '' ;;
	# The IDT is mvm's supervisor page, but the ENOSYS reply of an unknown call lands wherever
	# the guest points it: #UD cannot be delivered, nor #GP, nor #DF: a triple fault.
	hcall-triple) run_guest "$c" hcall case=triple 4 'triple fault|guest fault' ;;
	ports-ports) run_guest "$c" ports case=ports 0 '' ;;
	# Hostile packets and buffers on virtio-vsock (tests/adversarial/vsock.c); nothing listens.
	vsock-hostile) run_guest "$c" vsock '' 0 '' --vsock "cid=3,uds=$work/adv-vsock.sock" ;;
	hcall-udp-flood) case_udp_flood ;;
	ports-mmio) run_guest "$c" ports case=mmio 0 '' ;;
	# hlt at CPL 3 is #GP: the report, status 4 (a halted vCPU with IF=0 would hang forever).
	halt-cli-hlt) run_guest "$c" halt '' 4 'guest fault: #GP \(general protection\)' ;;
	pvh-triple-fault)
		if [ -z "$pvh" ] || [ ! -s "$pvh" ]; then
			pvh=$work/triple-fault.elf
			python3 "$MVM_ROOT/tests/guests/mk-pvh-guest.py" triple-fault "$pvh" 2>/dev/null ||
				{ notok "$c" "cannot build the PVH guest (tests/guests/mk-pvh-guest.py needs python3)"; return; }
		fi
		vm_start "$c" run --kernel "$pvh" "${DEVS[@]}"
		vm_wait_exit || :
		check_end "$c" 4 'triple fault' ;;
	*) notok "$c" "no such case (tests/adversarial/run.sh --list)" ;;
	esac
}

echo "# mvm: $mvm"
echo "# guests: $guests"
for c in "${cases[@]}"; do
	th_case_watchdog "$CASE_LIMIT" "$c"
	run_case "$c"
	th_case_watchdog_stop
done
summary
