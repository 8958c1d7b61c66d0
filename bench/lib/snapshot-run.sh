#!/usr/bin/env bash
# bench/lib/snapshot-run.sh - the measuring half of bench/snapshot.sh: cold boots, snapshots and
# restores under mvm and QEMU, N rounds interleaved; prints the figures.
#
# Runs where /dev/kvm can boot Linux: on the host itself or inside the test host VM. It needs only
# bash, busybox-level awk/sort/grep/stat/mkfifo and the files named by these environment
# variables, which bench/snapshot.sh sets:
#   BENCH_N        rounds                   BENCH_MEM       guest memory (e.g. 256M)
#   BENCH_MVM      the mvm binary           BENCH_LAUNCH    bench/launch (static)
#   BENCH_KERNEL   bzImage                  BENCH_INITRD    guest initramfs with mvmtest=tick
#   BENCH_TIMEOUT  seconds a boot may take  BENCH_RSS_MS    ms after the first tick to sample RSS
#   BENCH_TICKS    ticks the guest prints before it is saved
#   BENCH_LOGS     directory for each step's logs; the snapshot files go to BENCH_LOGS/work and
#                  are removed after each round
#   BENCH_ENV      one line describing where this runs, printed with the figures
#   BENCH_SHIP     1: also print the first round's logs on stdout, each line prefixed
#                  "bench-log[NAME] ", so a caller reading the test host's console can keep them
#   BENCH_GUEST    multiboot: BENCH_KERNEL is the multiboot guest of bench/lib/multiboot-guest.sh
#                  (no initrd, no command line; ready at MVM-MEMDIRTY-READY); else Linux
# One round: mvm cold boot (exec -> MVM-GUEST-READY; the multiboot guest: MVM-MEMDIRTY-READY);
# an mvm with --api-sock boots, ticks and is
# saved with `mvm ctl snapshot --stay-paused`, then killed; `mvm run --restore` (exec -> first
# MVM-TICK); QEMU boots, ticks, is saved with its monitor (stop, migrate to a file), quits; QEMU
# -incoming from that file (exec -> first MVM-TICK).
# Exit status: 0 when every step worked, 1 otherwise (the figures of the steps that worked are
# still printed). The targets are printed, never judged.
set -uo pipefail

cmdline="console=ttyS0 reboot=k panic=1 mvmtest=tick"
n=$BENCH_N
logs=$BENCH_LOGS
work=$logs/work
mkdir -p "$logs" "$work"
mem_kb=$(awk -v m="$BENCH_MEM" 'BEGIN {
	n = m + 0; u = toupper(substr(m, length(m)))
	print (u == "G" ? n * 1048576 : u == "M" ? n * 1024 : u == "K" ? n : int(n / 1024)) }')
mem_mib=$((mem_kb / 1024))
rss_ms=$BENCH_RSS_MS
ticks=$BENCH_TICKS
# QEMU as in bench/boot.sh's -M pc runs. The saving QEMU does not store its run state in the
# stream (migration.store-global-state=off): with it, a VM stopped before `migrate` would come
# back paused and wait for `cont`; without it the restoring QEMU runs the guest as soon as the
# stream is loaded, as `mvm run --restore` does.
qemu=(qemu-system-x86_64 -M pc -accel kvm -cpu host -smp 1 -m "$BENCH_MEM"
	-nodefaults -no-user-config -nographic -serial stdio -no-reboot -kernel "$BENCH_KERNEL")
# The guest: Linux (kernel, initramfs, command line) or the multiboot guest (its image alone).
ready=MVM-GUEST-READY
mvm_guest=(--kernel "$BENCH_KERNEL" --initrd "$BENCH_INITRD" --cmdline "$cmdline")
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
boot_source="{\"kernel_image_path\": $(json_str "$BENCH_KERNEL"),
                  \"initrd_path\": $(json_str "$BENCH_INITRD"), \"boot_args\": $(json_str "$cmdline")}"
if [ "${BENCH_GUEST:-linux}" = multiboot ]; then
	ready=MVM-MEMDIRTY-READY
	mvm_guest=(--kernel "$BENCH_KERNEL")
	boot_source="{\"kernel_image_path\": $(json_str "$BENCH_KERNEL")}"
else
	qemu+=(-initrd "$BENCH_INITRD" -append "$cmdline")
fi

# The Firecracker configuration of the saved mvm: the same VM as the cold boot's flags.
cat >"$work/config.json" <<EOF
{
  "boot-source": $boot_source,
  "machine-config": {"vcpu_count": 1, "mem_size_mib": $mem_mib}
}
EOF

# Figures of launch's stderr FILE: "marker_ms at_rss at_guest at_over after_rss after_guest
# after_over maxrss" ("-" for a missing one).
launch_figures() {
	awk '
		/^launch: marker_ms=/ { split($2, a, "="); mk = a[2] }
		/^launch: (at|after)_marker rss_kb=/ {
			for (i = 3; i <= 5; i++) { split($i, a, "="); v[$2, i] = a[2] }
		}
		/^launch: exit_ms=/ { for (i = 2; i <= NF; i++) if ($i ~ /^maxrss_kb=/) { split($i, a, "="); mr = a[2] } }
		function g(x) { return x == "" ? "-" : x }
		END {
			print g(mk), g(v["at_marker", 3]), g(v["at_marker", 4]), g(v["at_marker", 5]),
				g(v["after_marker", 3]), g(v["after_marker", 4]), g(v["after_marker", 5]), g(mr)
		}' "$1"
}
# Ticks in a console log: the first, the last (0: none).
first_tick() { tr -d '\r' <"$1" | sed -n 's/.*MVM-TICK=\([0-9]*\).*/\1/p' | head -n1 | grep . || echo 0; }
last_tick() { tr -d '\r' <"$1" | sed -n 's/.*MVM-TICK=\([0-9]*\).*/\1/p' | tail -n1 | grep . || echo 0; }
# Wait until console log FILE holds tick T, while PID lives; up to BENCH_TIMEOUT s. 0 or 1.
wait_tick() {
	local file=$1 t=$2 pid=$3 i
	for ((i = 0; i < BENCH_TIMEOUT * 10; i++)); do
		[ "$(last_tick "$file")" -ge "$t" ] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# On-disk size of FILE in bytes.
disk_bytes() { stat -c '%b %B' "$1" | awk '{ print $1 * $2 }'; }

failed=0
# Report a broken step: what, then the tails of the logs named.
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

# 1. mvm cold boot: exec -> the ready marker, stopped RSS_MS after it.
mvm_boot() {
	local base=$logs/mvm-boot.$round f
	"$BENCH_LAUNCH" --guest-mem "$mem_kb" --stop-after "$rss_ms" "$ready" "$BENCH_TIMEOUT" -- \
		"$BENCH_MVM" run "${mvm_guest[@]}" --cpus 1 --mem "$BENCH_MEM" >"$base.out" 2>"$base.err" </dev/null
	read -r -a f <<<"$(launch_figures "$base.err")"
	[ "${f[0]}" != - ] || { broken "mvm cold boot: $ready not seen" "$base.out" "$base.err"; return 1; }
	echo "${f[0]}" >>"$logs/mvm-boot.data"
	printf 'bench: round %s: mvm cold boot      %8.1f ms to %s\n' "$round" "${f[0]}" "$ready"
}

# 2. mvm save: boot with --api-sock, let it tick, `mvm ctl snapshot DIR --stay-paused`, kill.
# Leaves the snapshot in $work/mvm-snap and the last tick it printed in mvm_last.
mvm_save() {
	local base=$logs/mvm-source.$round sock=$work/mvm.sock dir=$work/mvm-snap pid line f ctl_ms ssz msz mdisk
	rm -rf "$dir" "$sock"
	: >"$base.out"
	"$BENCH_MVM" run --api-sock "$sock" --config-file "$work/config.json" \
		>"$base.out" 2>"$base.err" </dev/null &
	pid=$!
	if ! wait_tick "$base.out" "$ticks" "$pid"; then
		kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
		broken "mvm source: no MVM-TICK=$ticks within ${BENCH_TIMEOUT} s" "$base.out" "$base.err"
		return 1
	fi
	# launch times the whole ctl call (pause + PUT /snapshot/create + sizes), exec to exit.
	"$BENCH_LAUNCH" "snapshot " "$BENCH_TIMEOUT" -- "$BENCH_MVM" ctl --api-sock "$sock" snapshot "$dir" \
		--stay-paused >"$base.ctl.out" 2>"$base.ctl.err" </dev/null
	# "Full snapshot DIR: vmstate N bytes, memory M MiB (D MiB on disk), T ms; ..." (ctl.c)
	line=$(grep '^Full snapshot ' "$base.ctl.out" | head -n1)
	sleep 0.2
	mvm_last=$(last_tick "$base.out")
	kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	if [ -z "$line" ] || [ ! -s "$dir/vmstate" ] || [ ! -s "$dir/memory" ]; then
		broken "mvm ctl snapshot failed" "$base.ctl.out" "$base.ctl.err" "$base.err"
		return 1
	fi
	ctl_ms=$(printf '%s\n' "$line" | sed -n 's/.*, \([0-9.]*\) ms.*/\1/p')
	f=$(sed -n 's/^launch: exit_ms=\([0-9.]*\).*/\1/p' "$base.ctl.err")
	ssz=$(stat -c %s "$dir/vmstate") msz=$(stat -c %s "$dir/memory") mdisk=$(disk_bytes "$dir/memory")
	echo "${ctl_ms:--} ${f:--} $ssz $msz $mdisk" >>"$logs/mvm-save.data"
	echo "bench: round $round: mvm snapshot       ${line#Full snapshot }; ctl call ${f:-?} ms wall; at tick $mvm_last"
}

# 3. mvm restore: exec of `mvm run --restore` -> first MVM-TICK; RSS at it and RSS_MS later.
mvm_restore() {
	local base=$logs/mvm-restore.$round f first
	"$BENCH_LAUNCH" --guest-mem "$mem_kb" --stop-after "$rss_ms" MVM-TICK "$BENCH_TIMEOUT" -- \
		"$BENCH_MVM" run --restore "$work/mvm-snap" >"$base.out" 2>"$base.err" </dev/null
	read -r -a f <<<"$(launch_figures "$base.err")"
	rm -rf "$work/mvm-snap"
	[ "${f[0]}" != - ] || { broken "mvm restore: no MVM-TICK" "$base.out" "$base.err"; return 1; }
	first=$(first_tick "$base.out")
	if grep -qa "$ready" "$base.out" || [ "$first" -lt "$mvm_last" ]; then
		broken "mvm restore: the guest did not continue (first tick $first, saved at $mvm_last)" "$base.out"
		return 1
	fi
	echo "${f[*]}" >>"$logs/mvm-restore.data"
	printf 'bench: round %s: mvm restore        %8.1f ms to MVM-TICK=%s (saved at %s); RSS %s KiB at it, %s KiB %s ms later\n' \
		"$round" "${f[0]}" "$first" "$mvm_last" "${f[1]}" "${f[4]}" "$rss_ms"
}

# 4. QEMU save: boot with an HMP monitor on two FIFOs (QEMU's pipe chardev opens P.in and P.out),
# let it tick, then stop, migrate to a file, poll `info migrate` until completed, quit.
qemu_save() {
	local base=$logs/qemu-source.$round mon=$work/qmon state=$work/qemu-state pid cat_pid i total
	rm -f "$mon.in" "$mon.out" "$state"
	mkfifo "$mon.in" "$mon.out" || { broken "qemu save: mkfifo failed"; return 1; }
	cat "$mon.out" >"$base.mon" &
	cat_pid=$!
	: >"$base.out"
	"${qemu[@]}" -global migration.store-global-state=off \
		-chardev "pipe,id=mon,path=$mon" -mon chardev=mon,mode=readline \
		>"$base.out" 2>"$base.err" </dev/null &
	pid=$!
	if ! wait_tick "$base.out" "$ticks" "$pid"; then
		kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; kill "$cat_pid" 2>/dev/null
		broken "qemu source: no MVM-TICK=$ticks within ${BENCH_TIMEOUT} s" "$base.out" "$base.err"
		return 1
	fi
	echo stop >"$mon.in"
	echo "migrate \"exec:cat > $state\"" >"$mon.in"
	for ((i = 0; i < BENCH_TIMEOUT * 5; i++)); do
		echo "info migrate" >"$mon.in"
		sleep 0.2
		grep -qaE "Migration status: (completed|failed)" "$base.mon" && break
	done
	qemu_last=$(last_tick "$base.out")
	total=$(tr -d '\r' <"$base.mon" | sed -n 's/^total time: \([0-9]*\) ms.*/\1/p' | tail -n1)
	echo quit >"$mon.in"
	for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	wait "$cat_pid" 2>/dev/null
	rm -f "$mon.in" "$mon.out"
	if ! grep -qa "Migration status: completed" "$base.mon" || [ ! -s "$state" ]; then
		broken "qemu save: the migration did not complete" "$base.mon" "$base.err"
		return 1
	fi
	echo "${total:--} $(stat -c %s "$state") $(disk_bytes "$state")" >>"$logs/qemu-save.data"
	echo "bench: round $round: qemu save          total time ${total:-?} ms (info migrate), $(stat -c %s "$state") bytes; at tick $qemu_last"
}

# 5. QEMU restore: exec of qemu -incoming "exec:cat FILE" -> first MVM-TICK.
qemu_restore() {
	local base=$logs/qemu-restore.$round f first
	"$BENCH_LAUNCH" --guest-mem "$mem_kb" --stop-after "$rss_ms" MVM-TICK "$BENCH_TIMEOUT" -- \
		"${qemu[@]}" -incoming "exec:cat $work/qemu-state" >"$base.out" 2>"$base.err" </dev/null
	read -r -a f <<<"$(launch_figures "$base.err")"
	rm -f "$work/qemu-state"
	[ "${f[0]}" != - ] || { broken "qemu restore: no MVM-TICK" "$base.out" "$base.err"; return 1; }
	first=$(first_tick "$base.out")
	if grep -qa "$ready" "$base.out" || [ "$first" -lt "$qemu_last" ]; then
		broken "qemu restore: the guest did not continue (first tick $first, saved at $qemu_last)" "$base.out"
		return 1
	fi
	echo "${f[*]}" >>"$logs/qemu-restore.data"
	printf 'bench: round %s: qemu restore       %8.1f ms to MVM-TICK=%s (saved at %s); RSS %s KiB at it, %s KiB %s ms later\n' \
		"$round" "${f[0]}" "$first" "$qemu_last" "${f[1]}" "${f[4]}" "$rss_ms"
}

for d in mvm-boot mvm-save mvm-restore qemu-save qemu-restore; do : >"$logs/$d.data"; done
echo "bench: $n rounds of: mvm cold boot, mvm save, mvm restore, qemu save, qemu restore; $BENCH_MEM, 1 vCPU"
for ((round = 1; round <= n; round++)); do
	mvm_boot || :
	if mvm_save; then mvm_restore || :; fi
	if qemu_save; then qemu_restore || :; fi
done

# Column $2 of FILE -> "count min median max" (median of an even count: mean of the middle two).
stats() {
	awk -v c="$2" '$c != "-" { print $c }' "$1" | sort -n | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "0 - - -"; exit }
			med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			print NR, v[1], med, v[NR]
		}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3f", a / b }'; }
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "-") print "-"; else printf "%." d "f", v }'; }
div() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "-") print "-"; else print v / d }'; }
# LABEL FILE COLUMN DIVISOR DECIMALS: one table row of min / median / max, count.
row() {
	local c lo md hi
	read -r c lo md hi <<<"$(stats "$2" "$3")"
	printf '  %-44s %10s %10s %10s   %s/%s\n' "$1" "$(fmt "$(div "$lo" "$4")" "$5")" \
		"$(fmt "$(div "$md" "$4")" "$5")" "$(fmt "$(div "$hi" "$4")" "$5")" "$c" "$n"
}
median() { stats "$1" "$2" | awk '{ print $3 }'; }

boot_med=$(median "$logs/mvm-boot.data" 1)
mres_med=$(median "$logs/mvm-restore.data" 1)
qres_med=$(median "$logs/qemu-restore.data" 1)

echo
echo "=== mvm snapshot benchmark ==="
echo "where:   $BENCH_ENV"
if [ "${BENCH_GUEST:-linux}" = multiboot ]; then
	echo "guest:   $(basename "$BENCH_KERNEL") (multiboot-memdirty, idle, 64 MiB working set), $BENCH_MEM, 1 vCPU"
else
	echo "guest:   $(basename "$BENCH_KERNEL") + $(basename "$BENCH_INITRD"), $BENCH_MEM, 1 vCPU, cmdline \"$cmdline\""
fi
echo "         (MVM-TICK=i every 10 ms; saved after MVM-TICK=$ticks)"
echo "qemu:    $(qemu-system-x86_64 --version | head -n1); -M pc -accel kvm -cpu host"
echo
printf '  %-44s %10s %10s %10s   %s\n' "time (ms)" min median max ok
row "mvm cold boot: exec -> $ready" "$logs/mvm-boot.data" 1 1 1
row "mvm snapshot: create (ctl's figure)" "$logs/mvm-save.data" 1 1 1
row "mvm snapshot: ctl call, exec -> exit" "$logs/mvm-save.data" 2 1 1
row "mvm restore: exec -> first MVM-TICK" "$logs/mvm-restore.data" 1 1 1
row "qemu save: stop+migrate (info migrate total)" "$logs/qemu-save.data" 1 1 1
row "qemu restore: exec -> first MVM-TICK" "$logs/qemu-restore.data" 1 1 1
echo
printf '  %-44s %10s %10s %10s   %s\n' "files" min median max ok
row "mvm vmstate (bytes)" "$logs/mvm-save.data" 3 1 0
row "mvm memory, apparent size (MiB)" "$logs/mvm-save.data" 4 1048576 1
row "mvm memory, on disk (MiB)" "$logs/mvm-save.data" 5 1048576 1
row "qemu migration file (MiB)" "$logs/qemu-save.data" 2 1048576 1
row "qemu migration file, on disk (MiB)" "$logs/qemu-save.data" 3 1048576 1
echo
printf '  %-44s %10s %10s %10s   %s\n' "RSS of the restored VMM (MiB)" min median max ok
row "mvm at the first tick" "$logs/mvm-restore.data" 2 1024 1
row "mvm ${rss_ms} ms later" "$logs/mvm-restore.data" 5 1024 1
row "  of which guest RAM mapping" "$logs/mvm-restore.data" 6 1024 1
row "  beyond guest RAM" "$logs/mvm-restore.data" 7 1024 1
row "qemu at the first tick" "$logs/qemu-restore.data" 2 1024 1
row "qemu ${rss_ms} ms later" "$logs/qemu-restore.data" 5 1024 1
row "  of which guest RAM mapping" "$logs/qemu-restore.data" 6 1024 1
row "  beyond guest RAM" "$logs/qemu-restore.data" 7 1024 1
echo "    (launch: VmRSS from /proc/PID/status; guest RAM = the mappings of >= guest memory,"
echo "    anonymous or of one file: mvm maps the memory file MAP_PRIVATE; QEMU reads the file"
echo "    into anonymous RAM)"
echo
printf '  %-44s %10s   %s\n' "ratios of medians" value target
printf '  %-44s %10s   %s\n' "mvm restore / mvm cold boot" "$(ratio "$mres_med" "$boot_med")" "<= 0.050 (1/20)"
printf '  %-44s %10s   %s\n' "mvm restore / qemu restore" "$(ratio "$mres_med" "$qres_med")" "< 1"
echo "    (and on hardware: mvm restore <= 10 ms; not judged here)"
echo "=== end ==="

if [ "${BENCH_SHIP:-0}" = 1 ]; then
	for v in mvm-boot mvm-source mvm-restore qemu-source qemu-restore; do
		for f in "$logs/$v.1.out" "$logs/$v.1.err" "$logs/$v.1.ctl.out" "$logs/$v.1.ctl.err" "$logs/$v.1.mon"; do
			[ -e "$f" ] || continue
			s=${f##*/}; s=${s#"$v.1."}
			# The ticks are many and alike: the first and last 40 lines of a console are enough.
			if [ "$s" = out ] && [ "$(wc -l <"$f")" -gt 80 ]; then
				{ head -n 40 "$f"; echo "[...]"; tail -n 40 "$f"; }
			elif [ "$s" = mon ]; then
				# HMP echoes each typed command with cursor moves: keep QEMU's answers.
				grep -av "$(printf '\033')" "$f"
			else
				cat "$f"
			# awk, not sed: a console's last line may lack its newline (a line cut by the pause).
			fi | tr -d '\r' | awk -v p="bench-log[$v] $s: " '{ print p $0 }'
		done
	done
fi
[ "$failed" -eq 0 ]
