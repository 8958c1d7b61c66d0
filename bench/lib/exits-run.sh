#!/usr/bin/env bash
# bench/lib/exits-run.sh - the measuring half of bench/exits.sh: runs the exit benchmarks, prints a table.
#
# Runs where /dev/kvm works: on the host itself or inside the test host VM. Needs bash,
# busybox-level awk/sort/sed and the files named by these variables (bench/exits.sh sets them):
#   BENCH_N         exits per batch           BENCH_ROUNDS   batches per kind (the best counts)
#   BENCH_LAUNCH_N  hello boots to time       BENCH_TIMEOUT  seconds any one run may take
#   BENCH_MVM       mvm                        BENCH_LAUNCH   bench/launch (static)
#   BENCH_FLOOR     bench/exits-floor          BENCH_SDK_ELF  guest/bench/exits.c, built
#   BENCH_MB_ELF    bench/guest/exits-mb.S, assembled with EXITS_N=BENCH_N
#   BENCH_QEMU      1: also boot BENCH_MB_ELF under qemu-system-x86_64 -M microvm -accel kvm
#   BENCH_ENV       one line describing where this runs
# Every run goes through bench/launch (timeout, exit status); a run that fails leaves "-" in its
# cells and makes the exit status 1; the other figures are still printed.
set -uo pipefail

n=$BENCH_N rounds=$BENCH_ROUNDS to=$BENCH_TIMEOUT
out=$(mktemp -d)
failed=0

# run NAME MARKER cmd... : output in $out/NAME.{out,err}; 0 when MARKER came.
run() {
	local name=$1 marker=$2
	shift 2
	"$BENCH_LAUNCH" "$marker" "$to" -- "$@" >"$out/$name.out" 2>"$out/$name.err" </dev/null
	if ! grep -q "$marker" "$out/$name.out"; then
		echo "exits: $name did not print $marker; its output and errors:" >&2
		tail -n 5 "$out/$name.out" "$out/$name.err" >&2
		failed=1
		return 1
	fi
}
# field NAME KEY: the value of KEY=... on NAME's marker line, or "-".
field() {
	local v
	v=$(sed -n "s/.*[ ]$2=\([0-9a-fx.]*\).*/\1/p" "$out/$1.out" 2>/dev/null | tail -n1)
	echo "${v:--}"
}
# cycles/N -> ns with a TSC of khz kHz.
cyc_ns() {
	[ "$1" = - ] || [ "$2" = - ] && { echo -; return; }
	awk -v c="$(($1))" -v n="$n" -v k="$2" 'BEGIN { printf "%.1f", c / n / k * 1e6 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }

echo "exits: $n exits per batch, best of $rounds; on $BENCH_ENV"
echo "exits: floor (bare KVM_RUN loop)"
run floor FLOOR "$BENCH_FLOOR" "$n" "$rounds"
echo "exits: mvm, SDK guest (64-bit, ring 3)"
run sdk EXITS "$BENCH_MVM" run --kernel "$BENCH_SDK_ELF" --mem 256 --cmdline "n=$n rounds=$rounds"
echo "exits: mvm, multiboot guest (32-bit, ring 0)"
run mb-mvm MBEXITS "$BENCH_MVM" run --kernel "$BENCH_MB_ELF" --mem 256 --debug-exit
if [ "${BENCH_QEMU:-1}" = 1 ]; then
	echo "exits: QEMU -M microvm -accel kvm, multiboot guest"
	run mb-qemu MBEXITS qemu-system-x86_64 -M microvm -accel kvm -cpu host -smp 1 -m 256M \
		-nodefaults -no-user-config -display none -serial stdio -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$BENCH_MB_ELF"
fi

# exec -> the hello demo's first line, BENCH_LAUNCH_N times.
echo "exits: mvm hello demo, exec -> first console line, $BENCH_LAUNCH_N runs"
: >"$out/launch.ms"
for i in $(seq 1 "$BENCH_LAUNCH_N"); do
	if run hello "Hello from a tiny mvm guest" "$BENCH_MVM" run; then
		sed -n 's/^launch: marker_ms=\([0-9.]*\).*/\1/p' "$out/hello.err" | head -n1 >>"$out/launch.ms"
	fi
done
# (No process substitution: the test host has no /dev/fd.)
read -r l_cnt l_min l_med l_max <<<"$(sort -n "$out/launch.ms" | awk '
	{ v[NR] = $1 } END { if (NR == 0) { print "0 - - -"; exit }
	  m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	  printf "%d %.2f %.2f %.2f\n", NR, v[1], m, v[NR] }')"

f_pio=$(field floor pio_ns) f_mmio=$(field floor mmio_ns) f_khz=$(field floor tsc_khz)
s_pio=$(field sdk pio_dev_ns) s_unc=$(field sdk pio_unclaimed_ns) s_mmio=$(field sdk mmio_ns)
s_hc=$(field sdk hcall_ns) s_khz=$(field sdk tsc_khz)
# The multiboot guest counts TSC cycles; the guest's TSC ticks at the rate the SDK guest measured
# against the host's clock (the floor's host-side figure is a cross-check).
khz=$s_khz
[ "$khz" = - ] && khz=$f_khz
m_pio=$(cyc_ns "$(field mb-mvm pio_cycles)" "$khz") m_mmio=$(cyc_ns "$(field mb-mvm mmio_cycles)" "$khz")
q_pio=$(cyc_ns "$(field mb-qemu pio_cycles)" "$khz") q_mmio=$(cyc_ns "$(field mb-qemu mmio_cycles)" "$khz")

echo
echo "Exit costs (ns per exit; best batch of $n, $rounds batches) on $BENCH_ENV"
printf '  %-44s %10s %12s %12s\n' "" "ns/exit" "/ floor" "/ QEMU"
row() { printf '  %-44s %10s %12s %12s\n' "$1" "$2" "$3" "$4"; }
row "floor: bare KVM_RUN, OUT (real mode)" "$f_pio" "" ""
row "floor: bare KVM_RUN, MMIO read (real mode)" "$f_mmio" "" ""
row "mvm SDK guest: OUT 0x3ff (UART scratch)" "$s_pio" "$(ratio "$s_pio" "$f_pio")" "$(ratio "$s_pio" "$q_pio")"
row "mvm SDK guest: OUT 0x3f0 (unclaimed)" "$s_unc" "$(ratio "$s_unc" "$f_pio")" ""
row "mvm SDK guest: MMIO read (unclaimed)" "$s_mmio" "$(ratio "$s_mmio" "$f_mmio")" "$(ratio "$s_mmio" "$q_mmio")"
row "mvm SDK guest: hypercall (time)" "$s_hc" "$(ratio "$s_hc" "$f_pio")" ""
row "mvm multiboot guest: OUT 0x3ff" "$m_pio" "$(ratio "$m_pio" "$f_pio")" "$(ratio "$m_pio" "$q_pio")"
row "mvm multiboot guest: MMIO read" "$m_mmio" "$(ratio "$m_mmio" "$f_mmio")" "$(ratio "$m_mmio" "$q_mmio")"
row "QEMU microvm multiboot guest: OUT 0x3ff" "$q_pio" "$(ratio "$q_pio" "$f_pio")" ""
row "QEMU microvm multiboot guest: MMIO read" "$q_mmio" "$(ratio "$q_mmio" "$f_mmio")" ""
echo "  target: mvm / floor <= 1.1 (the hypercall's ratio is against the floor's OUT: it is one)"
echo "  TSC: $s_khz kHz measured by the SDK guest, $f_khz kHz by the floor on the host side"
echo
printf '  %-44s %10s %10s %10s %6s\n' "hello demo: exec -> first line (ms)" min median max runs
printf '  %-44s %10s %10s %10s %6s\n' "mvm run (built-in demo)" "$l_min" "$l_med" "$l_max" "$l_cnt"
echo "  target: median <= 10 ms"
rm -rf "$out"
exit $failed
