#!/usr/bin/env bash
# bench/lib/boot-profile-run.sh - the measuring half of bench/boot-profile.sh: where a boot goes.
#
# Runs where /dev/kvm can boot Linux (the host or the test host VM). Environment (set by
# bench/boot-profile.sh): BENCH_N, BENCH_MEM, BENCH_TIMEOUT, BENCH_MVM, BENCH_LAUNCH,
# BENCH_KERNEL, BENCH_VMLINUX, BENCH_INITRD, BENCH_LOGS, BENCH_ENV, optional BENCH_KVMTOOL (as
# bench/lib/boot-run.sh), BENCH_PVH=1: also mvm-pvh, mvm booting the uncompressed vmlinux through
# its PVH entry (no decompression in the guest; mvm reads the larger file).
# Boots each VMM BENCH_N times with a verbose command line (no `quiet`, and earlyprintk on COM1 so
# the decompressor speaks) and launch stamping every console line with the host's time since exec
# and sampling KVM's counters of the VM (debugfs) every 20 ms. From those it cuts each boot into
# phases by the messages that start them and prints, per VMM, the median over the runs of each
# phase's host time and KVM exits. Then ONE more mvm boot with initcall_debug + ignore_loglevel
# (about 100 KB more console output, so several times slower; not timed) gives the slowest
# initcalls by the kernel's own usecs, and mvm's --stats the ports nobody claims. A verbose boot
# is slower than a quiet one (each console byte costs exits): the phases say where time goes
# relative to each other; bench/boot.sh times plain quiet and verbose boots. Last, with BENCH_REPORT
# (scripts/profile-report.sh), BENCH_N quiet mvm boots under --profile (nokaslr; symbols from one
# more boot's /proc/kallsyms, mvmtest=kallsyms) give host time by guest function.
set -uo pipefail

marker=MVM-GUEST-READY
words="earlyprintk=serial,ttyS0,115200 mvmtest=poweroff"
base="console=ttyS0 reboot=k panic=1"
mvm_default=$("$BENCH_MVM" run --help 2>&1 | sed -n 's/.*--cmdline STR.*(default: "\(.*\)").*/\1/p')
[ -n "$mvm_default" ] || mvm_default=$base
n=$BENCH_N logs=$BENCH_LOGS
mkdir -p "$logs"
mem_mib=$(awk -v m="$BENCH_MEM" 'BEGIN {
	n = m + 0; u = toupper(substr(m, length(m)))
	print (u == "G" ? n * 1024 : u == "M" ? n : u == "K" ? int(n / 1024) : int(n / 1048576)) }')
[ -d /sys/kernel/debug/kvm ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null || :
[ -d /sys/kernel/debug/kvm ] || echo "profile: WARNING: no /sys/kernel/debug/kvm: exits per phase are not counted"

qemu_common=(qemu-system-x86_64 -accel kvm -cpu host -smp 1 -m "$BENCH_MEM"
	-nodefaults -no-user-config -nographic -serial stdio -no-reboot
	-initrd "$BENCH_INITRD" -append "$base $words" -kernel "$BENCH_KERNEL")
set_cmd() {
	case "$1" in
	mvm) cmd=("$BENCH_MVM" run --kernel "$BENCH_KERNEL" --initrd "$BENCH_INITRD"
		--cmdline "$mvm_default $words" --cpus 1 --mem "$BENCH_MEM" --stats --debug) ;;
	mvm-pvh) cmd=("$BENCH_MVM" run --kernel "$BENCH_VMLINUX" --initrd "$BENCH_INITRD"
		--cmdline "$mvm_default $words" --cpus 1 --mem "$BENCH_MEM" --stats) ;;
	qemu-pc) cmd=("${qemu_common[@]}" -M pc) ;;
	qemu-microvm) cmd=("${qemu_common[@]}" -M microvm) ;;
	kvmtool) cmd=(env HOME=/tmp "$BENCH_KVMTOOL" run -k "$BENCH_KERNEL" -i "$BENCH_INITRD"
		-p "$words" -c 1 -m "$mem_mib" --console serial) ;;
	esac
}

# One stamp file -> "phase ms exits" lines. Phases, each starting at the first line that says so:
#   start    exec -> the VMM's first KVM_RUN (mvm's own probe; others: not known, folded into the next)
#   decomp   -> the kernel's first line ("Linux version"): firmware (QEMU: SeaBIOS/qboot, option
#               ROMs), the decompressor (which prints nothing when entered at the 64-bit entry)
#   early    -> "devtmpfs: initialized" (do_basic_setup, just before the initcalls): setup_arch,
#               memory, interrupts, timers, SMP
#   initcall -> "Run /init as init process" (every initcall, then freeing init memory)
#   user     -> the marker (busybox /init up to its first line)
phases() {
	awk -v first_run_ms="$2" -v marker="$marker" '
	# Before the first sample the VM did not exist yet: 0 exits. -1 only with no samples at all.
	function exits_at(t,   i, best) {
		if (!ns) return -1
		best = 0
		for (i = 1; i <= ns; i++) if (st[i] <= t) best = sx[i]
		return best
	}
	/ #kvm / { ns++; st[ns] = $1; split($3, a, "="); sx[ns] = a[2]; next }
	{ t = $1 }
	!have_dec1 && /Linux version/ { dec1 = prev_t; have_dec1 = 1 }
	!have_call && /devtmpfs: initialized/ { call1 = t; have_call = 1 }
	!have_init && /Run \/init as init process/ { init = t; have_init = 1 }
	!have_mark && index($0, marker) { mark = t; have_mark = 1 }
	{ prev_t = t }
	END {
		if (!have_mark) exit 1
		b[0] = 0; name[0] = "start"
		b[1] = (first_run_ms != "" ? first_run_ms : 0); name[1] = "decomp"
		b[2] = have_dec1 ? dec1 : b[1]; name[2] = "early"
		b[3] = have_call ? call1 : b[2]; name[3] = "initcall"
		b[4] = have_init ? init : b[3]; name[4] = "user"
		b[5] = mark
		for (i = 0; i < 5; i++) {
			e0 = (i == 0) ? 0 : exits_at(b[i]); e1 = exits_at(b[i + 1])
			ex = (e0 < 0 || e1 < 0) ? "-" : e1 - e0
			printf "%s %.1f %s\n", name[i], b[i + 1] - b[i], ex
		}
		printf "total %.1f %s\n", mark, exits_at(mark) < 0 ? "-" : exits_at(mark)
	}' "$1"
}

# Host time by function: the kernel's own clock need not be the host's (in the test host it is
# not), so sample the vCPU from outside (mvm run --profile) in quiet boots as bench/boot.sh runs
# them, plus nokaslr so that the symbols hold; the symbols are the guest's own code symbols,
# written to a disk by the reference initramfs (mvmtest=kallsyms) in one boot first.
sampled_profile() {
	echo
	echo "--- mvm, host time by guest function: --profile of $n quiet boots with nokaslr ---"
	if [ -z "${BENCH_REPORT:-}" ] || [ ! -f "$BENCH_REPORT" ]; then
		echo "  (skipped: no scripts/profile-report.sh given in BENCH_REPORT)"
	else
		truncate -s 16M "$logs/kallsyms.img"
		"$BENCH_MVM" run --kernel "$BENCH_KERNEL" --initrd "$BENCH_INITRD" --disk "$logs/kallsyms.img" \
			--cmdline "$mvm_default quiet nokaslr mvmtest=kallsyms" --cpus 1 --mem "$BENCH_MEM" \
			>"$logs/kallsyms.out" 2>"$logs/kallsyms.err" </dev/null
		tr -d '\0' <"$logs/kallsyms.img" >"$logs/kallsyms.txt"
		rm -f "$logs/kallsyms.img"
		echo "  symbols: $(wc -l <"$logs/kallsyms.txt") code symbols from the guest's /proc/kallsyms"
		local i
		: >"$logs/all.prof"
		for ((i = 1; i <= n; i++)); do
			"$BENCH_LAUNCH" "$marker" "$BENCH_TIMEOUT" -- "$BENCH_MVM" run --kernel "$BENCH_KERNEL" \
				--initrd "$BENCH_INITRD" --cmdline "$mvm_default quiet nokaslr mvmtest=poweroff" \
				--cpus 1 --mem "$BENCH_MEM" --profile "$logs/sampled.$i.prof" \
				>"$logs/sampled.$i.out" 2>"$logs/sampled.$i.err" </dev/null
			echo "  boot $i: $(sed -n 's/^launch: \(marker_ms=[0-9.]*\).*/\1/p' "$logs/sampled.$i.err" | head -n1) $(grep -o 'profile [^:]*: .*' "$logs/sampled.$i.err" | sed 's/^profile [^:]*: //')"
			if [ "$i" = 1 ]; then grep -v '^# end' "$logs/sampled.$i.prof"; else grep -v '^#' "$logs/sampled.$i.prof"; fi >>"$logs/all.prof"
		done
		echo "  all $n boots together ([unknown]: before the kernel's code, the decompressor; [user]: userspace):"
		bash "$BENCH_REPORT" --top 40 "$logs/all.prof" "$logs/kallsyms.txt" | tail -n +4 | sed 's/^/  /'
		# Shares by kind: what the VMM could still remove (the decompressor, the drivers of its
		# emulated devices, which wait on exits to mvm) against the guest's own work. Device
		# functions are told by name, so the row is an estimate.
		echo "  by kind, all $n boots:"
		bash "$BENCH_REPORT" --list "$logs/all.prof" "$logs/kallsyms.txt" | awk '
			{
				f = $2; k = "kernel: everything else"
				if (f == "[unknown]") k = "[unknown]: before the kernel runs (the decompressor)"
				else if (f == "[user]") k = "[user]: userspace (/init, busybox, insmod)"
				else if (f ~ /^(io_serial_|serial8250_|serial_port_|serial_in|serial_out|rtc_cmos_|cmos_|mc146818_|native_io_apic_|__ioapic_|io_apic_|ioapic_|i8042_|acpi_os_read_port|acpi_os_write_port|acpi_hw_read_port|acpi_hw_write_port|pvpanic)/)
					k = "kernel drivers of mvm'"'"'s devices (serial, RTC, IOAPIC, i8042, ACPI ports; by name)"
				else if (f ~ /^native_(write|read)_msr/) k = "kernel MSR accesses (x2APIC, TSC deadline: exits to KVM)"
				n[k] += $1; t += $1
			}
			END { for (k in n) printf "  %8d %6.1f%%  %s\n", n[k], 100 * n[k] / t, k }' | sort -rn
		echo "  boot 1 by time (ms after the vCPUs started):"
		bash "$BENCH_REPORT" --top 0 --every 250 "$logs/sampled.1.prof" "$logs/kallsyms.txt" |
			sed -n '/^per /,$p' | sed 's/^/  /'
	fi
}

if [ "${BENCH_SAMPLED_ONLY:-0}" = 1 ]; then
	echo "profile: --sampled-only: only mvm's boots under --profile"
	sampled_profile
	echo "=== end ==="
	exit 0
fi

names=(mvm qemu-pc qemu-microvm)
[ "${BENCH_PVH:-0}" = 1 ] && names=(mvm mvm-pvh qemu-pc qemu-microvm)
[ -n "${BENCH_KVMTOOL:-}" ] && names+=(kvmtool)
echo "profile: $n runs each of ${names[*]}; $BENCH_MEM, 1 vCPU; command line words: $words"
for ((i = 1; i <= n; i++)); do
	for v in "${names[@]}"; do
		set_cmd "$v"
		stop=()
		[ "$v" = kvmtool ] && stop=(--stop-after 300)
		"$BENCH_LAUNCH" --stamp "$logs/$v.$i.stamp" --kvm-every 20 "${stop[@]}" "$marker" \
			"$BENCH_TIMEOUT" -- "${cmd[@]}" >"$logs/$v.$i.out" 2>"$logs/$v.$i.err" </dev/null
		fr=$(sed -n 's/^mvm-bench: exec_to_first_kvm_run_us=\([-0-9.]*\).*/\1/p' "$logs/$v.$i.err" | head -n1)
		[ -n "$fr" ] && fr=$(awk -v u="$fr" 'BEGIN { printf "%.1f", u / 1000 }')
		if phases "$logs/$v.$i.stamp" "$fr" >"$logs/$v.$i.phases"; then
			echo "profile: $v run $i: $(awk '$1 == "total" { print $2 " ms, " $3 " exits" }' "$logs/$v.$i.phases")"
		else
			echo "profile: $v run $i: $marker not seen"
			tail -n 5 "$logs/$v.$i.out" | sed 's/^/    /'
			grep -v '^mvm: exit ' "$logs/$v.$i.err" | tail -n 12 | sed 's/^/    stderr: /'
			rm -f "$logs/$v.$i.phases"
		fi
	done
done

# Median of column C over the runs of one VMM and one phase.
med() {
	cat "$logs/$1".*.phases 2>/dev/null | awk -v p="$2" -v c="$3" '$1 == p && $c != "-" { print $c }' |
		sort -n | awk '{ v[NR] = $1 } END { if (!NR) print "-"; else print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

echo
echo "=== boot profile (median of $n; ms of host time, KVM exits) ==="
echo "where: $BENCH_ENV"
echo "mvm cmdline:   $mvm_default $words"
echo "peers' cmdline: $base $words (kvmtool: its defaults + the words)"
printf '| %-40s |' "phase"
for v in "${names[@]}"; do printf ' %9s ms | %9s exits |' "$v" "$v"; done
echo
labels=("start: exec -> first KVM_RUN" "firmware + decompression -> 'Linux version'"
	"early boot -> devtmpfs (initcalls start)" "initcalls -> Run /init" "userspace -> marker" "total: exec -> marker")
pn=(start decomp early initcall user total)
for k in "${!pn[@]}"; do
	printf '| %-40s |' "${labels[$k]}"
	for v in "${names[@]}"; do printf ' %12s | %15s |' "$(med "$v" "${pn[$k]}" 2)" "$(med "$v" "${pn[$k]}" 3)"; done
	echo
done
echo "(start is only known for mvm; the others' start is inside firmware + decompression)"

echo
echo "--- mvm run 1: accesses nobody claims (--stats), and its assembly (--debug) ---"
sed -n '/unclaimed accesses/,/KVM statistics/p' "$logs/mvm.1.err" | grep -v "KVM statistics" | tr -d '\r'
grep "assembly:" "$logs/mvm.1.err" | tr -d '\r' | sed 's/^/  /'
# Before the initcall_debug boot: that long verbose boot is where a test host most often dies.
sampled_profile
"$BENCH_LAUNCH" "$marker" $((BENCH_TIMEOUT * 3)) -- "$BENCH_MVM" run --kernel "$BENCH_KERNEL" \
	--initrd "$BENCH_INITRD" --cmdline "$mvm_default initcall_debug ignore_loglevel mvmtest=poweroff" \
	--cpus 1 --mem "$BENCH_MEM" >"$logs/initcalls.out" 2>"$logs/initcalls.err" </dev/null
echo
echo "--- mvm, one boot with initcall_debug: the 15 slowest initcalls (kernel usecs) ---"
grep -E '^launch: (marker|exit)' "$logs/initcalls.err" | sed 's/^/  /'
grep -E 'error' "$logs/initcalls.err" | head -n 3 | sed 's/^/  /'
tr -d '\r' <"$logs/initcalls.out" | sed -n 's/.*initcall \([^ ]*\) returned .* after \([0-9]*\) usecs.*/\2 \1/p' |
	sort -rn | head -n 15 | awk '{ printf "  %8d  %s\n", $1, $2 }'
tr -d '\r' <"$logs/initcalls.out" | sed -n 's/.*initcall \([^ ]*\) returned .* after \([0-9]*\) usecs.*/\2/p' |
	awk '{ s += $1; n++ } END { printf "  all %d initcalls: %.1f ms of kernel time\n", n, s / 1000 }'

echo "=== end ==="
