#!/usr/bin/env bash
# bench/lib/boot-run.sh - the measuring half of bench/boot.sh: boots each VMM N times, prints figures.
#
# Runs where /dev/kvm can boot Linux: on the host itself or inside the test host VM. It needs only
# bash, busybox-level awk/sort/grep and the files named by these environment variables, which
# bench/boot.sh sets:
#   BENCH_N        runs per VMM             BENCH_MEM       guest memory (e.g. 256M)
#   BENCH_MVM      the mvm binary           BENCH_LAUNCH    bench/launch (static)
#   BENCH_KERNEL   bzImage                  BENCH_VMLINUX   PVH-capable ELF vmlinux
#   BENCH_INITRD   guest initramfs          BENCH_TIMEOUT   seconds a boot may take
#   BENCH_MICROVM  bzimage, pvh or auto (auto: bzImage unless it fails to boot, then vmlinux)
#   BENCH_LOGS     directory for each boot's logs
#   BENCH_ENV      one line describing where this runs, printed with the figures
#   BENCH_SHIP     1: also print one boot log per VMM on stdout, each line prefixed
#                  "bench-log[NAME] ", so a caller reading the test host's console can keep them
#   BENCH_MODE     quiet (the guest's command line has `quiet`) or verbose (it has not)
#   BENCH_KVMTOOL  optional: an lkvm binary, booted as one more peer (1 vCPU; it does not exit on
#                  poweroff, so it is killed 300 ms after the marker)
# The runs are interleaved (mvm, mvm-base, microvm, pc, [kvmtool,] mvm, ...) so drift in the host
# hits all alike. mvm boots with its own default command line plus the test's words (what a user
# gets without --cmdline); mvm-base with the peers' line, console=ttyS0 reboot=k panic=1 plus the
# same words, so the two rows show what mvm's defaults save. kvmtool adds its own defaults.
# Exit status: 0 when every boot reached the marker, 1 otherwise (the figures are still printed).
set -uo pipefail

marker=MVM-GUEST-READY
mode=${BENCH_MODE:-quiet}
words="mvmtest=poweroff"
[ "$mode" = quiet ] && words="quiet $words"
cmdline="console=ttyS0 reboot=k panic=1 $words"
# mvm's own default command line, as its --help states it.
mvm_default=$("$BENCH_MVM" run --help 2>&1 | sed -n 's/.*--cmdline STR.*(default: "\(.*\)").*/\1/p')
[ -n "$mvm_default" ] || mvm_default="console=ttyS0 reboot=k panic=1"
mvm_cmdline="$mvm_default $words"
mem_mib=$(awk -v m="$BENCH_MEM" 'BEGIN {
	n = m + 0; u = toupper(substr(m, length(m)))
	print (u == "G" ? n * 1024 : u == "M" ? n : u == "K" ? int(n / 1024) : int(n / 1048576)) }')
# KVM's own exit counts of every VMM (launch reads them from debugfs at the marker).
[ -d /sys/kernel/debug/kvm ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null || :
n=$BENCH_N
logs=$BENCH_LOGS
mkdir -p "$logs"
# Guest memory in KiB, for launch's "mappings at least this large are guest RAM" rule.
mem_kb=$(awk -v m="$BENCH_MEM" 'BEGIN {
	n = m + 0; u = toupper(substr(m, length(m)))
	print (u == "G" ? n * 1048576 : u == "M" ? n * 1024 : u == "K" ? n : int(n / 1024)) }')

qemu_common=(qemu-system-x86_64 -accel kvm -cpu host -smp 1 -m "$BENCH_MEM"
	-nodefaults -no-user-config -nographic -serial stdio -no-reboot
	-initrd "$BENCH_INITRD" -append "$cmdline")
microvm_kernel=$BENCH_KERNEL microvm_kind=bzImage
[ "$BENCH_MICROVM" = pvh ] && microvm_kernel=$BENCH_VMLINUX microvm_kind=vmlinux/PVH

# Argument list of one VMM's boot, in the array "cmd".
set_cmd() {
	case "$1" in
	mvm) cmd=("$BENCH_MVM" run --kernel "$BENCH_KERNEL" --initrd "$BENCH_INITRD"
		--cmdline "$mvm_cmdline" --cpus 1 --mem "$BENCH_MEM") ;;
	mvm-base) cmd=("$BENCH_MVM" run --kernel "$BENCH_KERNEL" --initrd "$BENCH_INITRD"
		--cmdline "$cmdline" --cpus 1 --mem "$BENCH_MEM") ;;
	kvmtool) cmd=(env HOME=/tmp "$BENCH_KVMTOOL" run -k "$BENCH_KERNEL" -i "$BENCH_INITRD"
		-p "$words" -c 1 -m "$mem_mib" --console serial) ;;
	qemu-microvm) cmd=("${qemu_common[@]}" -M microvm -kernel "$microvm_kernel") ;;
	qemu-pc) cmd=("${qemu_common[@]}" -M pc -kernel "$BENCH_KERNEL") ;;
	esac
}

# One boot; leaves NAME.RUN.out (console) and NAME.RUN.err (stderr of launch and the VMM) and
# appends "marker_ms exit_ms maxrss_kb first_run_us overhead_kb marker_overhead_kb probe_guest_kb"
# to NAME.data on success ("-" where a figure is missing; the mvm-bench ones only exist for mvm).
failed=0
boot_once() {
	local name=$1 run=$2 base=$logs/$1.$2 mk ex rss fr ov mo pg ke stop=()
	set_cmd "$name"
	[ "$name" = kvmtool ] && stop=(--stop-after 300)
	"$BENCH_LAUNCH" --guest-mem "$mem_kb" "${stop[@]}" "$marker" "$BENCH_TIMEOUT" -- "${cmd[@]}" \
		>"$base.out" 2>"$base.err" </dev/null
	mk=$(sed -n 's/^launch: marker_ms=\([0-9.]*\).*/\1/p' "$base.err" | head -n1)
	ex=$(sed -n 's/^launch: exit_ms=\([0-9.]*\).*/\1/p' "$base.err" | head -n1)
	rss=$(sed -n 's/^launch: .* maxrss_kb=\([0-9]*\).*/\1/p' "$base.err" | head -n1)
	fr=$(sed -n 's/^mvm-bench: exec_to_first_kvm_run_us=\([-0-9.]*\).*/\1/p' "$base.err" | head -n1)
	ov=$(sed -n 's/^mvm-bench: .* overhead_kb=\([0-9]*\).*/\1/p' "$base.err" | head -n1)
	pg=$(sed -n 's/^mvm-bench: .* guest_rss_kb=\([0-9]*\).*/\1/p' "$base.err" | head -n1)
	mo=$(sed -n 's/^launch: at_marker .* overhead_kb=\([0-9]*\).*/\1/p' "$base.err" | head -n1)
	ke=$(sed -n 's/^launch: at_marker_kvm exits=\([0-9]*\).*/\1/p' "$base.err" | head -n1)
	if [ -z "$mk" ]; then
		failed=$((failed + 1))
		echo "bench: $name run $run: $marker not seen; last lines of its output and stderr:"
		tail -n 15 "$base.out" | tr -d '\r' | sed 's/^/    /'
		sed 's/^/    /' "$base.err"
		return 1
	fi
	echo "$mk ${ex:--} ${rss:--} ${fr:--} ${ov:--} ${mo:--} ${pg:--} ${ke:--}" >>"$logs/$name.data"
	printf 'bench: %-13s run %s: marker %8.1f ms, RSS beyond guest RAM at marker %s KiB%s\n' \
		"$name" "$run" "$mk" "${mo:--}" "${fr:+; mvm-bench: first KVM_RUN $fr us, overhead $ov KiB}"
	return 0
}

names=(mvm mvm-base qemu-microvm qemu-pc)
[ -n "${BENCH_KVMTOOL:-}" ] && names+=(kvmtool)
for v in "${names[@]}"; do : >"$logs/$v.data"; done

echo "bench: $mode boots: $n runs each of ${names[*]}; $BENCH_MEM, 1 vCPU, marker $marker"
if [ "$BENCH_MICROVM" = auto ]; then
	# QEMU's microvm boots a bzImage through qboot; if this kernel does not come up that way,
	# fall back to the PVH entry of the extracted vmlinux for every microvm run.
	if ! boot_once qemu-microvm probe; then
		echo "bench: qemu -M microvm did not boot the bzImage; using the PVH vmlinux instead"
		failed=$((failed - 1))
		microvm_kernel=$BENCH_VMLINUX microvm_kind=vmlinux/PVH
	fi
	: >"$logs/qemu-microvm.data"
fi
for ((i = 1; i <= n; i++)); do
	for v in "${names[@]}"; do boot_once "$v" "$i" || :; done
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
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "-") print "-"; else printf "%." d "f", v }'; }
row() {
	# LABEL COUNT MIN MEDIAN MAX DIVISOR DECIMALS
	printf '  %-34s %10s %10s %10s   %s/%s\n' "$1" "$(fmt "$3" "$7")" "$(fmt "$4" "$7")" \
		"$(fmt "$5" "$7")" "$2" "$n"
}
div() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "-") print "-"; else print v / d }'; }

read -r m_cnt m_min m_med m_max <<<"$(stats "$logs/mvm.data" 1)"
read -r b_cnt b_min b_med b_max <<<"$(stats "$logs/mvm-base.data" 1)"
read -r u_cnt u_min u_med u_max <<<"$(stats "$logs/qemu-microvm.data" 1)"
read -r p_cnt p_min p_med p_max <<<"$(stats "$logs/qemu-pc.data" 1)"
read -r f_cnt f_min f_med f_max <<<"$(stats "$logs/mvm.data" 4)"
read -r o_cnt o_min o_med o_max <<<"$(stats "$logs/mvm.data" 5)"
read -r g_cnt _ _ g_max <<<"$(stats "$logs/mvm.data" 7)"
faster=$(awk -v u="$u_med" -v p="$p_med" 'BEGIN {
	if (u == "-" && p == "-") print "-"; else if (u == "-") print p; else if (p == "-") print u
	else print (u < p ? u : p) }')
fastname=qemu-pc
[ "$faster" != - ] && [ "$faster" = "$u_med" ] && fastname=qemu-microvm

echo
echo "=== mvm boot benchmark ($mode) ==="
echo "where:   $BENCH_ENV"
echo "guest:   $(basename "$BENCH_KERNEL") + $(basename "$BENCH_INITRD"), $BENCH_MEM, 1 vCPU, cmdline \"$cmdline\""
echo "mvm:     its default command line + the test's words: \"$mvm_cmdline\""
echo "qemu:    $(qemu-system-x86_64 --version | head -n1); -accel kvm -cpu host; microvm boots the $microvm_kind"
echo
printf '  %-34s %10s %10s %10s   %s\n' "exec -> $marker (ms)" min median max ok
row "mvm" "$m_cnt" "$m_min" "$m_med" "$m_max" 1 1
row "mvm, the peers' cmdline" "$b_cnt" "$b_min" "$b_med" "$b_max" 1 1
row "qemu -M microvm ($microvm_kind)" "$u_cnt" "$u_min" "$u_med" "$u_max" 1 1
row "qemu -M pc (bzImage)" "$p_cnt" "$p_min" "$p_med" "$p_max" 1 1
if [ -n "${BENCH_KVMTOOL:-}" ]; then
	read -r k_cnt k_min k_med k_max <<<"$(stats "$logs/kvmtool.data" 1)"
	row "kvmtool (lkvm, its own cmdline)" "$k_cnt" "$k_min" "$k_med" "$k_max" 1 1
fi
echo
printf '  %-34s %10s\n' "mvm / qemu-microvm (medians)" "$(ratio "$m_med" "$u_med")" \
	"mvm / qemu-pc (medians)" "$(ratio "$m_med" "$p_med")"
printf '  %-34s %10s   target <= 0.50\n' "mvm / faster QEMU ($fastname)" "$(ratio "$m_med" "$faster")"
printf '  %-34s %10s\n' "mvm / mvm with the peers' cmdline" "$(ratio "$m_med" "$b_med")"
[ -n "${BENCH_KVMTOOL:-}" ] && printf '  %-34s %10s\n' "mvm / kvmtool" "$(ratio "$m_med" "$k_med")"
echo
printf '  %-34s %10s %10s %10s   %s\n' "KVM exits to the marker (debugfs)" min median max ok
for v in "${names[@]}"; do
	read -r c lo md hi <<<"$(stats "$logs/$v.data" 8)"
	row "$v" "$c" "$lo" "$md" "$hi" 1 0
done
echo "    (launch: the VM's exits counter in /sys/kernel/debug/kvm/PID-FD/ when the marker arrives;"
echo "     every exit, also those KVM handles itself; none printed when debugfs is not mounted)"
echo
printf '  %-34s %10s %10s %10s   %s\n' "mvm probes" min median max ok
row "exec -> first KVM_RUN (ms)" "$f_cnt" "$(div "$f_min" 1000)" "$(div "$f_med" 1000)" \
	"$(div "$f_max" 1000)" 1 2
echo "    target: <= 5 ms"
row "RSS beyond guest memory (MiB)" "$o_cnt" "$(div "$o_min" 1024)" "$(div "$o_med" 1024)" \
	"$(div "$o_max" 1024)" 1 2
echo "    target: <= 4 MiB (mvm-bench: peak RSS minus the guest RAM mapping's RSS at exit)"
if [ "$g_cnt" -gt 0 ] && [ "$g_max" = 0 ]; then
	echo "    NOTE: mvm-bench reported guest_rss_kb=0 in every run, so its overhead is its whole peak"
	echo "    RSS; the probe did not find the guest mapping in /proc/self/smaps. Use the row below."
fi
echo
printf '  %-34s %10s %10s %10s   %s\n' "RSS beyond guest RAM, marker (MiB)" min median max ok
for v in "${names[@]}"; do
	read -r c lo md hi <<<"$(stats "$logs/$v.data" 6)"
	row "$v" "$c" "$(div "$lo" 1024)" "$(div "$md" 1024)" "$(div "$hi" 1024)" 1 2
done
echo "    (launch: VmRSS minus the RSS of mappings >= guest memory, read when the marker arrives)"
echo
printf '  %-34s %10s %10s %10s   %s\n' "peak RSS incl. guest pages (MiB)" min median max ok
for v in "${names[@]}"; do
	read -r c lo md hi <<<"$(stats "$logs/$v.data" 3)"
	row "$v" "$c" "$(div "$lo" 1024)" "$(div "$md" 1024)" "$(div "$hi" 1024)" 1 1
done
echo
echo "  kernel warning \"XSAVE consistency problem\" in the boot logs:"
for v in "${names[@]}"; do
	total=0 hits=0
	for f in "$logs/$v".*.out; do
		[ -e "$f" ] || continue
		case "$f" in *.probe.out) continue ;; esac
		total=$((total + 1))
		grep -q "XSAVE consistency problem" "$f" && hits=$((hits + 1))
	done
	printf '    %-14s %d of %d boots\n' "$v" "$hits" "$total"
done
echo "=== end ==="

if [ "${BENCH_SHIP:-0}" = 1 ]; then
	for v in "${names[@]}"; do
		[ -e "$logs/$v.1.out" ] || continue
		tr -d '\r' <"$logs/$v.1.out" | sed "s/^/bench-log[$mode.$v] /"
		sed "s/^/bench-log[$mode.$v] stderr: /" "$logs/$v.1.err"
	done
fi
[ "$failed" -eq 0 ]
