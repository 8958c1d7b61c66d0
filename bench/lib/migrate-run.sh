#!/usr/bin/env bash
# bench/lib/migrate-run.sh - the measuring half of bench/migrate.sh: live migrations under mvm
# and QEMU, N rounds interleaved, between two VMM processes of one host over tcp on 127.0.0.1;
# prints the figures.
#
# Runs where /dev/kvm can boot Linux (the host itself or the test host VM), with bash >= 5
# (EPOCHREALTIME stamps each console and log line as it arrives). Environment (bench/migrate.sh
# sets it): BENCH_N rounds, BENCH_MEM guest memory, BENCH_MVM, BENCH_KERNEL, BENCH_INITRD (with
# mvmtest=tick), BENCH_TIMEOUT seconds a boot may take, BENCH_TICKS ticks before the migration,
# BENCH_DOWNTIME_MS the downtime budget given to both, BENCH_DIRTY (MIB,RATE of the dirtying
# guest, or 0 for none), BENCH_LOGS, BENCH_ENV, BENCH_SHIP; BENCH_GUEST=multiboot: the guests
# are BENCH_MB_DIR/idle.bin and dirty.bin (tests/guests/mk-pvh-guest.py multiboot-memdirty,
# paced at BENCH_TSC_KHZ), not the kernel and initramfs.
# One round: each VMM migrates the idle guest, then (BENCH_DIRTY) the guest that dirties RATE
# MiB/s of a MIB MiB working set (mvmmemdirty=, after it printed MVM-MEMDIRTY-READY):
#   mvm    a source mvm (--api-sock, --config-file) ticks T times; a destination `mvm run
#          --incoming tcp:127.0.0.1:P` waits; `mvm ctl migrate` moves the guest. Downtime: the
#          source's "pausing the VM" log line -> the destination's first MVM-TICK (both stamped
#          on arrival in this script), and mvm's own figure (pause -> the destination's GO).
#          Total time and bytes sent: the source's "migrated" line.
#   QEMU   a source QEMU ticks T times; a destination QEMU -incoming tcp:127.0.0.1:P; the source's
#          HMP monitor (two FIFOs) gets downtime-limit and max-bandwidth, then migrate -d and
#          info migrate until completed: its own downtime, total time and bytes transferred;
#          and the same stamped measure, from the monitor's "completed" answer back to the
#          destination's first MVM-TICK (an upper bound of nothing useful: QEMU does not log
#          its pause, so its "downtime" line is the figure).
# Both: the tick gap, the guest's own view of its pause measured the same way for both VMMs:
# the stamp of the last MVM-TICK line the source printed -> the first the destination printed
# (it includes up to one tick period, 10 ms in the guest, before the pause).
# Exit status: 0 when every step worked, 1 otherwise. Targets are printed, never judged.
set -uo pipefail

n=$BENCH_N logs=$BENCH_LOGS work=$BENCH_LOGS/work ticks=$BENCH_TICKS dt=${BENCH_DOWNTIME_MS:-30}
dirty=${BENCH_DIRTY:-0}
mkdir -p "$logs" "$work"
mem_mib=$(awk -v m="$BENCH_MEM" 'BEGIN { n = m + 0; u = toupper(substr(m, length(m)))
	print (u == "G" ? n * 1024 : n) }')
# The guest of scenario $1 (idle|dirty): its command line, QEMU's command (in qemu) and mvm's
# config file ($work/config-$1.json).
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
guest_cmdline() {
	local c="console=ttyS0 reboot=k panic=1 mvmtest=tick"
	[ "$1" = dirty ] && c="$c mvmmemdirty=$dirty"
	echo "$c"
}
multiboot=0
[ "${BENCH_GUEST:-linux}" = multiboot ] && multiboot=1
qemu_cmd() {
	qemu=(qemu-system-x86_64 -M pc -accel kvm -cpu host -smp 1 -m "$BENCH_MEM"
		-nodefaults -no-user-config -nographic -serial stdio -no-reboot)
	if [ "$multiboot" = 1 ]; then
		qemu+=(-kernel "$BENCH_MB_DIR/$1.bin")
	else
		qemu+=(-kernel "$BENCH_KERNEL" -initrd "$BENCH_INITRD" -append "$(guest_cmdline "$1")")
	fi
}
for sc in idle dirty; do
	if [ "$multiboot" = 1 ]; then
		boot="{\"kernel_image_path\": $(json_str "$BENCH_MB_DIR/$sc.bin")}"
	else
		boot="{\"kernel_image_path\": $(json_str "$BENCH_KERNEL"),
                  \"initrd_path\": $(json_str "$BENCH_INITRD"), \"boot_args\": $(json_str "$(guest_cmdline $sc)")}"
	fi
	cat >"$work/config-$sc.json" <<JSON
{
  "boot-source": $boot,
  "machine-config": {"vcpu_count": 1, "mem_size_mib": $mem_mib}
}
JSON
done
# Before migrating the dirtying guest: its program has touched its working set.
wait_ready() { # FILE SCENARIO PID
	[ "$2" = dirty ] || return 0
	wait_re "$1" "MVM-MEMDIRTY-READY" "$3" "$BENCH_TIMEOUT"
}

# Each line prefixed with the time it arrived (s.us, CLOCK_REALTIME).
stamp() { local l; while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }
# OUT ERR CMD...: CMD in the background, its stdout and stderr stamped into OUT and ERR (ERR
# "-": not stamped, to OUT.err) through FIFOs (the test host has no /dev/fd for >(...)); PID in
# BG_PID.
stamped() {
	local out=$1 err=$2; shift 2
	rm -f -- "$out.fifo" "$err.fifo"
	mkfifo "$out.fifo"
	stamp <"$out.fifo" >"$out" &
	if [ "$err" = - ]; then
		"$@" </dev/null >"$out.fifo" 2>"$out.err" &
	else
		mkfifo "$err.fifo"
		stamp <"$err.fifo" >"$err" &
		"$@" </dev/null >"$out.fifo" 2>"$err.fifo" &
	fi
	BG_PID=$!
}
last_tick() { tr -d '\r' <"$1" | sed -n 's/.*MVM-TICK=\([0-9]*\).*/\1/p' | tail -n1 | grep . || echo 0; }
# The stamp of the first line of FILE matching RE ("" if none); of the last, last_stamp_of.
stamp_of() { tr -d '\r' <"$1" | grep -aE "$2" | head -n1 | cut -d' ' -f1; }
last_stamp_of() { tr -d '\r' <"$1" | grep -aE "$2" | tail -n1 | cut -d' ' -f1; }
wait_re() { # FILE RE PID SECS
	local i
	for ((i = 0; i < $4 * 10; i++)); do
		grep -qaE "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# Until something listens on TCP PORT of 127.0.0.1 (/proc/net/tcp: state 0A), while PID
# lives; up to SECS s. 0 or 1. (A fixed 1 s sleep once let QEMU's source dial a destination
# that was not listening yet, under a loaded test host.)
wait_listen() { # PORT PID SECS
	local i hex
	hex=$(printf '%04X' "$1")
	for ((i = 0; i < $3 * 10; i++)); do
		grep -qE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:0000 0A " /proc/net/tcp 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# Until console log FILE holds tick T, while PID lives; up to BENCH_TIMEOUT s. 0 or 1.
wait_tick() {
	local i
	for ((i = 0; i < BENCH_TIMEOUT * 10; i++)); do
		[ "$(last_tick "$1")" -ge "$2" ] && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%.1f", (b - a) * 1000 }'; }

failed=0
broken() {
	local what=$1 f; shift
	failed=$((failed + 1))
	echo "bench: round $round: $what"
	for f in "$@"; do
		[ -s "$f" ] || continue
		echo "    --- ${f##*/} (last lines)"
		tail -n 12 "$f" | tr -d '\r' | sed 's/^/    /'
	done
}
killwait() { local p; for p in "$@"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }

mvm_migrate() {
	local sc=$1 base=$logs/mvm-$1.$round sock=$work/mvm.sock port=$((47400 + 2 * round + ${#1} % 2)) spid dpid line
	local t_pause t_tick t_last own total bytes rounds sent
	rm -f "$sock"
	stamped "$base.src.out" "$base.src.err" "$BENCH_MVM" run --api-sock "$sock" --config-file "$work/config-$sc.json"
	spid=$BG_PID
	if ! wait_tick "$base.src.out" "$ticks" "$spid" || ! wait_ready "$base.src.out" "$sc" "$spid"; then
		killwait "$spid"; broken "mvm source ($sc): no MVM-TICK=$ticks or no MVM-MEMDIRTY-READY" "$base.src.out" "$base.src.err"; return 1
	fi
	# BENCH_DST_ARGS: extra flags for the destination mvm (--trace-exits, to see what its vCPU
	# does between the hand-over and the guest's first tick); unquoted, one word each.
	# shellcheck disable=SC2086
	stamped "$base.dst.out" "$base.dst.err" "$BENCH_MVM" run --incoming "tcp:127.0.0.1:$port" ${BENCH_DST_ARGS:-}
	dpid=$BG_PID
	wait_re "$base.dst.err" "waiting for the stream" "$dpid" 10 ||
		{ killwait "$spid" "$dpid"; broken "mvm destination did not listen" "$base.dst.err"; return 1; }
	"$BENCH_MVM" ctl --api-sock "$sock" migrate "tcp:127.0.0.1:$port" --max-downtime "$dt" \
		>"$base.ctl.out" 2>"$base.ctl.err" </dev/null
	for ((i = 0; i < 100; i++)); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
	wait_re "$base.dst.out" "MVM-TICK" "$dpid" 10 || :
	sleep 0.3
	killwait "$spid" "$dpid"
	line=$(tr -d '\r' <"$base.src.err" | grep -a 'migrated to' | head -n1)
	t_pause=$(stamp_of "$base.src.err" "pausing the VM")
	t_tick=$(stamp_of "$base.dst.out" "MVM-TICK")
	t_last=$(last_stamp_of "$base.src.out" "MVM-TICK")
	# QEMU's rule (its `info migrate` downtime runs from the source's stop to the end of what
	# it writes; the destination's load and resume are not in it): pause + last pages + state
	# built and sent, from the source's downtime line.
	sent=$(tr -d '\r' <"$base.src.err" | grep -a 'migration: downtime:' | head -n1 |
		sed -n 's/.*pause \([0-9.]*\) ms, last pages \([0-9.]*\) ms, state built and sent \([0-9.]*\) ms.*/\1 \2 \3/p' |
		awk 'NF == 3 { printf "%.1f", $1 + $2 + $3 }')
	if [ -z "$line" ] || [ -z "$t_tick" ]; then
		broken "mvm migration failed" "$base.ctl.out" "$base.ctl.err" "$base.src.err" "$base.dst.err"; return 1
	fi
	if grep -qa MVM-GUEST-READY "$base.dst.out"; then
		broken "mvm: the destination's guest booted again" "$base.dst.out"; return 1
	fi
	rounds=$(sed -n 's/.*: \([0-9]*\) rounds,.*/\1/p' <<<"$line")
	bytes=$(sed -n 's/.* \([0-9]*\) bytes sent.*/\1/p' <<<"$line")
	own=$(sed -n 's/.*downtime \([0-9.]*\) ms.*/\1/p' <<<"$line")
	total=$(sed -n 's/.*total \([0-9.]*\) ms.*/\1/p' <<<"$line")
	echo "$(ms_between "$t_pause" "$t_tick") ${own:--} ${total:--} ${bytes:--} ${rounds:--} $(ms_between "$t_last" "$t_tick") ${sent:--}" >>"$logs/mvm-$sc.data"
	echo "bench: round $round: mvm   $sc: downtime $(ms_between "$t_pause" "$t_tick") ms (pause -> first tick there; mvm's own pause -> GO: ${own:-?} ms; pause -> state sent: ${sent:-?} ms), tick gap $(ms_between "$t_last" "$t_tick") ms, total ${total:-?} ms, $((${bytes:-0} >> 10)) KiB in ${rounds:-?} rounds"
}

qemu_migrate() {
	local sc=$1 base=$logs/qemu-$1.$round mon=$work/qmon port=$((47500 + 2 * round + ${#1} % 2)) spid dpid cpid i
	local t_done t_tick t_last own total kb syncs
	qemu_cmd "$sc"
	rm -f "$mon.in" "$mon.out"
	mkfifo "$mon.in" "$mon.out" || { broken "qemu: mkfifo failed"; return 1; }
	cat "$mon.out" >"$base.mon" &
	cpid=$!
	stamped "$base.src.out" - "${qemu[@]}" -chardev "pipe,id=mon,path=$mon" -mon chardev=mon,mode=readline
	spid=$BG_PID
	if ! wait_tick "$base.src.out" "$ticks" "$spid" || ! wait_ready "$base.src.out" "$sc" "$spid"; then
		killwait "$spid" "$cpid"; broken "qemu source ($sc): no MVM-TICK=$ticks or no MVM-MEMDIRTY-READY" "$base.src.out" "$base.src.out.err"; return 1
	fi
	stamped "$base.dst.out" - "${qemu[@]}" -incoming "tcp:127.0.0.1:$port"
	dpid=$BG_PID
	if ! wait_listen "$port" "$dpid" 30; then
		echo quit >"$mon.in"; sleep 0.3
		killwait "$spid" "$dpid"; wait "$cpid" 2>/dev/null; rm -f "$mon.in" "$mon.out"
		broken "qemu destination did not listen on $port" "$base.dst.out.err"; return 1
	fi
	{
		echo "migrate_set_parameter downtime-limit $dt"
		echo "migrate_set_parameter max-bandwidth 100G"
		echo "migrate -d tcp:127.0.0.1:$port"
	} >"$mon.in"
	for ((i = 0; i < BENCH_TIMEOUT * 10; i++)); do
		echo "info migrate" >"$mon.in"
		sleep 0.1
		grep -qaE "Migration status: (completed|failed)" "$base.mon" && break
	done
	t_done=$EPOCHREALTIME
	wait_re "$base.dst.out" "MVM-TICK" "$dpid" 10 || :
	sleep 0.3
	echo quit >"$mon.in"
	sleep 0.3
	killwait "$spid" "$dpid"
	wait "$cpid" 2>/dev/null
	rm -f "$mon.in" "$mon.out"
	t_tick=$(stamp_of "$base.dst.out" "MVM-TICK")
	t_last=$(last_stamp_of "$base.src.out" "MVM-TICK")
	if ! grep -qa "Migration status: completed" "$base.mon" || [ -z "$t_tick" ]; then
		broken "qemu migration failed" "$base.mon" "$base.src.out.err" "$base.dst.out.err"; return 1
	fi
	own=$(tr -d '\r' <"$base.mon" | sed -n 's/^downtime: \([0-9]*\) ms.*/\1/p' | tail -n1)
	total=$(tr -d '\r' <"$base.mon" | sed -n 's/^total time: \([0-9]*\) ms.*/\1/p' | tail -n1)
	kb=$(tr -d '\r' <"$base.mon" | sed -n 's/^transferred ram: \([0-9]*\) kbytes.*/\1/p' | tail -n1)
	# QEMU syncs the dirty log once per pass over RAM: its count of passes.
	syncs=$(tr -d '\r' <"$base.mon" | sed -n 's/^dirty sync count: \([0-9]*\).*/\1/p' | tail -n1)
	# A completed migration that moved RAM in no time is a misread answer, not a figure (seen
	# once, 2026-12-06: "completed", downtime 0 ms, total time 0 ms, 157,930 KiB): not counted.
	if [ "${total:-0}" -le 0 ]; then
		broken "qemu's info migrate said completed with total time ${total:-missing}" "$base.mon" \
			"$base.src.out.err" "$base.dst.out.err"; return 1
	fi
	echo "${own:--} ${total:--} $(( ${kb:-0} * 1024 )) ${syncs:--} $(ms_between "$t_last" "$t_tick")" >>"$logs/qemu-$sc.data"
	echo "bench: round $round: qemu  $sc: downtime ${own:-?} ms (info migrate), tick gap $(ms_between "$t_last" "$t_tick") ms, total ${total:-?} ms, ${kb:-?} KiB of RAM transferred"
}

scenarios=(idle)
[ "$dirty" != 0 ] && scenarios+=(dirty)
for sc in "${scenarios[@]}"; do : >"$logs/mvm-$sc.data"; : >"$logs/qemu-$sc.data"; done
echo "bench: $n rounds of: mvm migration, qemu migration, for the guest ${scenarios[*]}; $BENCH_MEM, 1 vCPU, ticking every 10 ms, downtime budget $dt ms"
for ((round = 1; round <= n; round++)); do
	for sc in "${scenarios[@]}"; do
		mvm_migrate "$sc" || :
		qemu_migrate "$sc" || :
	done
done

stats() {
	awk -v c="$2" '$c != "-" { print $c }' "$1" | sort -n | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "0 - - -"; exit }
			med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			print NR, v[1], med, v[NR]
		}'
}
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "-") print "-"; else printf "%." d "f", v }'; }
div() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "-") print "-"; else print v / d }'; }
row() {
	local c lo md hi
	read -r c lo md hi <<<"$(stats "$2" "$3")"
	printf '  %-52s %10s %10s %10s   %s/%s\n' "$1" "$(fmt "$(div "$lo" "$4")" "$5")" \
		"$(fmt "$(div "$md" "$4")" "$5")" "$(fmt "$(div "$hi" "$4")" "$5")" "$c" "$n"
}
echo
echo "=== mvm migration benchmark ==="
echo "where:   $BENCH_ENV"
if [ "$multiboot" = 1 ]; then
	echo "guest:   multiboot-memdirty (tests/guests/mk-pvh-guest.py, paced at ${BENCH_TSC_KHZ} kHz of TSC), $BENCH_MEM, 1 vCPU, MVM-TICK every 10 ms"
else
	echo "guest:   $(basename "$BENCH_KERNEL") + $(basename "$BENCH_INITRD"), $BENCH_MEM, 1 vCPU, MVM-TICK every 10 ms"
fi
echo "qemu:    $(qemu-system-x86_64 --version | head -n1); -M pc -accel kvm -cpu host; downtime-limit $dt ms, max-bandwidth 100G"
for sc in "${scenarios[@]}"; do
	echo
	if [ "$sc" = idle ]; then echo "-- idle guest --"
	elif [ "$multiboot" = 1 ]; then echo "-- guest dirtying ${dirty#*,} MiB/s of ${dirty%,*} MiB (multiboot-memdirty) --"
	else echo "-- guest dirtying ${dirty#*,} MiB/s of ${dirty%,*} MiB (bench/guest/memdirty.c) --"; fi
	printf '  %-52s %10s %10s %10s   %s\n' "" min median max ok
	row "mvm downtime: source pause -> first tick there (ms)" "$logs/mvm-$sc.data" 1 1 1
	row "mvm downtime, mvm's figure: pause -> GO (ms)" "$logs/mvm-$sc.data" 2 1 1
	row "mvm downtime, QEMU's rule: pause -> state sent (ms)" "$logs/mvm-$sc.data" 7 1 1
	row "qemu downtime (info migrate, ms)" "$logs/qemu-$sc.data" 1 1 1
	row "mvm tick gap: last tick at source -> first there (ms)" "$logs/mvm-$sc.data" 6 1 1
	row "qemu tick gap: the same, stamped the same way (ms)" "$logs/qemu-$sc.data" 5 1 1
	row "mvm total time (ms)" "$logs/mvm-$sc.data" 3 1 0
	row "qemu total time (info migrate, ms)" "$logs/qemu-$sc.data" 2 1 0
	row "mvm bytes sent (MiB)" "$logs/mvm-$sc.data" 4 1048576 1
	row "qemu RAM transferred (MiB)" "$logs/qemu-$sc.data" 3 1048576 1
	row "mvm rounds (its log: first pass + dirty rounds)" "$logs/mvm-$sc.data" 5 1 0
	row "qemu dirty sync count (info migrate)" "$logs/qemu-$sc.data" 4 1 0
done
echo "    (targets, not judged: mvm's downtime and total time below QEMU's; <= 30 ms on hardware)"
echo "=== end ==="
if [ "${BENCH_SHIP:-0}" = 1 ]; then
	for f in "$logs"/mvm-*.1.* "$logs"/qemu-*.1.*; do
		[ -f "$f" ] || continue   # not the FIFOs
		s=${f##*/}
		{ head -n 30 "$f"; echo "[...]"; tail -n 30 "$f"; } | tr -d '\r' | grep -av "$(printf '\033')" |
			awk -v p="bench-log[$s] " '{ print p $0 }'
	done
fi
[ "$failed" -eq 0 ]
