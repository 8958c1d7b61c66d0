#!/usr/bin/env bash
# bench/api.sh - API latency: GET /machine-config, the configure-and-start sequence, and
# InstanceStart -> guest userspace, beside Firecracker's published figures.
#
# Usage: bench/api.sh [-n N] [--boots B] [--direct|--testhost]
# Measures with curl over mvm's Unix socket (`mvm run --api-sock`):
#  - N GET /machine-config on one keep-alive connection, and N on a new connection each
#    (curl's time_total per request; p50/p99/max), default N 1000;
#  - B times (default 5) the configure-and-start sequence (PUT /machine-config, /boot-source,
#    /drives/scratch, /actions InstanceStart: the four requests' time_total summed), and the
#    time from sending InstanceStart to the reference guest's first userspace line
#    (MVM-GUEST-ECHO-READY from the initramfs /init; the output file polled every 10 ms, times
#    from /proc/uptime, so 10 ms resolution).
# Firecracker publishes <= 125 ms from InstanceStart to guest userspace (its SPECIFICATION.md,
# on hardware). Where: like bench/exits.sh, directly when this host's KVM can boot Linux, else in
# one test host VM (tests/testhost/run.sh: QEMU TCG with nested AMD-V), whose boot figures are
# those of an emulated CPU running a nested guest, not of hardware.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/lib/common.sh"

n=1000 boots=5 where=auto inner=0
usage() { mvm_die "usage: $0 [-n N] [--boots B] [--direct|--testhost]"; }
while [ $# -gt 0 ]; do
	case "$1" in
	-n) [ $# -ge 2 ] || usage; n=$2; shift 2 ;;
	--boots) [ $# -ge 2 ] || usage; boots=$2; shift 2 ;;
	--direct) where=direct; shift ;;
	--testhost) where=testhost; shift ;;
	--inner) inner=1; shift ;;   # internal: measure here with $BENCH_MVM/KERNEL/INITRD
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
done
for v in n boots; do
	case "${!v}" in ''|*[!0-9]*|0) mvm_die "--$v ${!v}: expected a whole number >= 1" ;; esac
done

# p50 p99 max (ms) of the numbers (seconds) on stdin.
pct() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- - -"; exit }
		i50 = int(NR * 0.50 + 0.5); if (i50 < 1) i50 = 1
		i99 = int(NR * 0.99 + 0.5); if (i99 < 1) i99 = 1; if (i99 > NR) i99 = NR
		printf "%.3f %.3f %.3f\n", v[i50] * 1000, v[i99] * 1000, v[NR] * 1000 }'
}

measure() {
	local mvm=$BENCH_MVM kernel=$BENCH_KERNEL initrd=$BENCH_INITRD
	local sock pid t_get t_close line seq_s=() start_s=() boot_s=() i
	BENCH_WORK=$(mktemp -d)
	trap 'kill -KILL $(jobs -p) 2>/dev/null || :; rm -rf "$BENCH_WORK"' EXIT
	local work=$BENCH_WORK
	command -v curl >/dev/null || mvm_die "bench: curl is not installed (scripts/deps.sh)"
	c() { curl -s --unix-socket "$sock" "$@"; }
	echo "# where: ${BENCH_ENV:-this host}"
	echo "# mvm: $mvm; N=$n, boots=$boots"

	# 1. GET /machine-config on an mvm waiting for InstanceStart.
	sock=$work/get.sock
	"$mvm" run --api-sock "$sock" </dev/null >/dev/null 2>&1 & pid=$!
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
	c "http://localhost/machine-config?[1-100]" >/dev/null   # warm-up
	t_get=$(c -o /dev/null -w '%{time_total}\n' "http://localhost/machine-config?[1-$n]" | pct)
	t_close=$(c -H 'Connection: close' -o /dev/null -w '%{time_total}\n' \
		"http://localhost/machine-config?[1-$n]" | pct)
	kill -TERM $pid; wait $pid 2>/dev/null || :

	# 2. and 3. B boots through the API.
	dd if=/dev/zero of="$work/scratch.img" bs=1M count=4 2>/dev/null
	for i in $(seq "$boots"); do
		local out=$work/boot$i.out t0 t1 s=0 r
		sock=$work/boot$i.sock
		mkfifo "$work/in$i"
		exec 3<>"$work/in$i"
		"$mvm" run --api-sock "$sock" <"$work/in$i" >"$out" 2>"$work/boot$i.err" & pid=$!
		for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
		for r in \
			"PUT /machine-config {\"vcpu_count\": 1, \"mem_size_mib\": 256}" \
			"PUT /boot-source {\"kernel_image_path\": \"$kernel\", \"initrd_path\": \"$initrd\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 mvmtest=echo\"}" \
			"PUT /drives/scratch {\"drive_id\": \"scratch\", \"path_on_host\": \"$work/scratch.img\", \"is_root_device\": false, \"is_read_only\": false}"; do
			set -- $r
			s=$(awk -v a="$s" -v b="$(c -o /dev/null -w '%{time_total}' -X "$1" \
				--data-binary "${r#* * }" "http://localhost$2")" 'BEGIN { print a + b }')
		done
		t0=$(mvm_now)
		line=$(c -o /dev/null -w '%{http_code} %{time_total}' -X PUT \
			--data-binary '{"action_type": "InstanceStart"}' http://localhost/actions)
		[ "${line%% *}" = 204 ] || { echo "# boot $i: InstanceStart answered ${line%% *}"; kill -KILL $pid; exec 3>&-; continue; }
		seq_s+=("$(awk -v a="$s" -v b="${line#* }" 'BEGIN { print a + b }')")
		start_s+=("${line#* }")
		t1=
		for _ in $(seq 12000); do
			grep -qa '^MVM-GUEST-ECHO-READY' "$out" && { t1=$(mvm_now); break; }
			kill -0 $pid 2>/dev/null || break
			sleep 0.01
		done
		if [ -n "$t1" ]; then
			boot_s+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
		else
			echo "# boot $i: no MVM-GUEST-ECHO-READY"
		fi
		printf 'poweroff -f\n' >&3
		for _ in $(seq 300); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
		kill -KILL $pid 2>/dev/null || :; wait $pid 2>/dev/null || :
		exec 3>&-
	done
	local t_seq t_start t_boot
	t_seq=$(printf '%s\n' "${seq_s[@]}" | pct)
	t_start=$(printf '%s\n' "${start_s[@]}" | pct)
	t_boot=$(printf '%s\n' "${boot_s[@]}" | pct)
	echo
	printf '%-52s %10s %10s %10s %s\n' "API figure (ms)" p50 p99 max "beside"
	# shellcheck disable=SC2086
	printf '%-52s %10s %10s %10s %s\n' "GET /machine-config, keep-alive ($n)" $t_get ""
	# shellcheck disable=SC2086
	printf '%-52s %10s %10s %10s %s\n' "GET /machine-config, new connection each ($n)" $t_close ""
	# shellcheck disable=SC2086
	printf '%-52s %10s %10s %10s %s\n' "configure + InstanceStart, 4 requests (${#seq_s[@]})" $t_seq ""
	# shellcheck disable=SC2086
	printf '%-52s %10s %10s %10s %s\n' "  of which InstanceStart (VM assembly) (${#start_s[@]})" $t_start ""
	# shellcheck disable=SC2086
	printf '%-52s %10s %10s %10s %s\n' "InstanceStart -> guest userspace (${#boot_s[@]})" $t_boot \
		"Firecracker: <= 125 (hardware)"
}

if [ $inner -eq 1 ]; then
	measure
	exit 0
fi

. "$MVM_ROOT/scripts/lib/hostkvm.sh"
make -C "$MVM_ROOT" -s build/mvm >&2 || mvm_say "bench: WARNING: make failed; measuring the existing build/mvm"
envfile=$("$MVM_ROOT/scripts/fetch-debian.sh") || mvm_die "bench: scripts/fetch-debian.sh failed"
# shellcheck disable=SC1090
. "$envfile"
BENCH_MVM=$MVM_ROOT/build/mvm BENCH_KERNEL=$(readlink -f "$MVM_BZIMAGE")
BENCH_INITRD=$("$MVM_ROOT/scripts/mk-guest-initramfs.sh") || mvm_die "bench: mk-guest-initramfs.sh failed"
BENCH_INITRD=$(readlink -f "$BENCH_INITRD")
export BENCH_MVM BENCH_KERNEL BENCH_INITRD
if [ $where = direct ] || { [ $where = auto ] && mvm_hostkvm_check; }; then
	measure
	exit 0
fi
mvm_testhost_check || mvm_die "bench: $MVM_TESTHOST_WHY"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
curl_bin=$(command -v curl) || mvm_die "bench: curl is not installed (scripts/deps.sh)"
"$MVM_ROOT/tests/testhost/run.sh" --timeout $((600 + boots * 120)) \
	--file "$0" --file "$MVM_ROOT/scripts/lib" --file "$BENCH_MVM" --file "$BENCH_KERNEL" \
	--file "$BENCH_INITRD" --file "$curl_bin" \
	--env "BENCH_MVM=$BENCH_MVM" --env "BENCH_KERNEL=$BENCH_KERNEL" --env "BENCH_INITRD=$BENCH_INITRD" \
	--env "BENCH_ENV=test host VM: QEMU TCG (nested AMD-V) on $cpu; boot figures are of a nested guest under emulation, not hardware" \
	-- bash "$(readlink -f "$0")" --inner -n "$n" --boots "$boots"
