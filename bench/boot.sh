#!/usr/bin/env bash
# bench/boot.sh - boot-time and footprint benchmark: mvm against QEMU (-M microvm and -M pc).
#
# Usage: bench/boot.sh [-n N] [--mem SIZE] [--timeout S] [--microvm bzimage|pvh|auto]
#                      [--modes quiet,verbose] [--kvmtool PATH] [--direct|--testhost] [--logs DIR]
# Boots the same Debian kernel and guest initramfs (scripts/fetch-debian.sh,
# scripts/mk-guest-initramfs.sh; the guest prints MVM-GUEST-READY when its userspace starts and
# powers off) N times (default 5) under mvm and under qemu-system-x86_64 -accel kvm with
# -M microvm and -M pc, interleaved, same memory (default 256M) and 1 vCPU; mvm twice: with its
# default command line (plus the test's words) and with the peers' (console=ttyS0 reboot=k
# panic=1 plus the same words). --modes: quiet boots (`quiet` on the command line), verbose ones
# (every boot message on the serial console) or both (the default: quiet first). --kvmtool PATH
# adds kvmtool's lkvm (built from its public source, e.g. in /tmp; nothing here fetches it) as a
# peer with its own defaults. Prints per mode min/median/max of exec -> MVM-GUEST-READY for each,
# mvm's ratio to each, KVM's exits to the marker for each (debugfs), mvm's exec -> first KVM_RUN
# and its RSS beyond guest memory, each beside its target (ratio <= 0.5 against the faster QEMU,
# 5 ms, 4 MiB). A benchmark: it does not judge the targets; it exits 0 unless a boot or a step
# failed.
#
# Where: directly when this host's KVM can run Linux (scripts/lib/hostkvm.sh), otherwise the whole
# benchmark runs in ONE test host VM (tests/testhost/run.sh: QEMU TCG, nested AMD-V), whose
# figures are not those of real hardware. --direct / --testhost force either. Each boot's console
# and stderr are kept in --logs DIR (default .cache/bench/boot); from a test host VM only the
# first boot of each VMM comes back, plus the test host's console (testhost.log).
# --microvm: what QEMU's microvm boots: the bzImage, the PVH vmlinux extracted from it
# (tests/tools/extract-vmlinux.sh), or auto (bzImage, falling back to PVH if it does not boot).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/lib/common.sh"
. "$MVM_ROOT/scripts/lib/hostkvm.sh"

n=5 mem=256M timeout=60 microvm=auto where=auto logs=$MVM_CACHE/bench/boot modes=quiet,verbose kvmtool=''
usage() { mvm_die "usage: $0 [-n N] [--mem SIZE] [--timeout S] [--microvm bzimage|pvh|auto] [--modes quiet,verbose] [--kvmtool PATH] [--direct|--testhost] [--logs DIR]"; }
while [ $# -gt 0 ]; do
	case "$1" in
	-n) [ $# -ge 2 ] || usage; n=$2; shift 2 ;;
	--mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--microvm) [ $# -ge 2 ] || usage; microvm=$2; shift 2 ;;
	--modes) [ $# -ge 2 ] || usage; modes=$2; shift 2 ;;
	--kvmtool) [ $# -ge 2 ] || usage; kvmtool=$2; shift 2 ;;
	--direct) where=direct; shift ;;
	--testhost) where=testhost; shift ;;
	--logs) [ $# -ge 2 ] || usage; logs=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
done
case "$n" in ''|*[!0-9]*|0) mvm_die "-n $n: expected a whole number of runs >= 1" ;; esac
case "$timeout" in ''|*[!0-9]*|0) mvm_die "--timeout $timeout: expected whole seconds >= 1" ;; esac
case "$microvm" in bzimage|pvh|auto) ;; *) mvm_die "--microvm $microvm: expected bzimage, pvh or auto" ;; esac
modes=${modes//,/ }
for m in $modes; do
	case "$m" in quiet|verbose) ;; *) mvm_die "--modes $m: expected quiet, verbose or quiet,verbose" ;; esac
done
[ -n "${modes// /}" ] || mvm_die "--modes: expected quiet, verbose or quiet,verbose"
if [ -n "$kvmtool" ]; then
	[ -x "$kvmtool" ] || mvm_die "--kvmtool $kvmtool: not an executable file (build lkvm-static from kvmtool's source)"
	kvmtool=$(readlink -f "$kvmtool")
fi
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
envfile=$("$MVM_ROOT/scripts/fetch-debian.sh")
# shellcheck disable=SC1090
. "$envfile"
initrd=$("$MVM_ROOT/scripts/mk-guest-initramfs.sh")
vmlinux=$MVM_CACHE/bench/vmlinux-$MVM_KVER
if [ ! -s "$vmlinux" ] || [ "$vmlinux" -ot "$MVM_BZIMAGE" ]; then
	"$MVM_ROOT/tests/tools/extract-vmlinux.sh" "$MVM_BZIMAGE" "$vmlinux.tmp"
	mv "$vmlinux.tmp" "$vmlinux"
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
export BENCH_N=$n BENCH_MEM=$mem BENCH_TIMEOUT=$timeout BENCH_MICROVM=$microvm BENCH_KVMTOOL=$kvmtool
BENCH_MVM=$(readlink -f "$MVM_ROOT/build/mvm") BENCH_LAUNCH=$(readlink -f "$launch")
BENCH_KERNEL=$(readlink -f "$MVM_BZIMAGE") BENCH_VMLINUX=$(readlink -f "$vmlinux")
BENCH_INITRD=$(readlink -f "$initrd") runner=$(readlink -f "$here/lib/boot-run.sh")
export BENCH_MVM BENCH_LAUNCH BENCH_KERNEL BENCH_VMLINUX BENCH_INITRD
rm -f "$logs"/*.out "$logs"/*.err "$logs"/*.data "$logs"/*/*.out "$logs"/*/*.err "$logs"/*/*.data
# One run of the runner per mode, each with its own log directory.
modeloop='rc=0; for m in '"$modes"'; do BENCH_MODE=$m BENCH_LOGS=$BENCH_LOGS/$m bash "$0" || rc=1; done; exit $rc'

if [ "$where" = direct ]; then
	export BENCH_LOGS=$logs BENCH_SHIP=0
	BENCH_ENV="this host directly ($cpu, $(uname -r), /dev/kvm)"
	export BENCH_ENV
	bash -c "$modeloop" "$runner" && rc=0 || rc=$?
else
	mvm_testhost_check || mvm_die "bench: $MVM_TESTHOST_WHY"
	mvm_say "bench: this host's KVM cannot boot Linux ($MVM_HOSTKVM_WHY); running in a test host VM (a few minutes)"
	files=("$runner" "$BENCH_MVM" "$BENCH_LAUNCH" "$BENCH_KERNEL" "$BENCH_VMLINUX"
		"$BENCH_INITRD" "$(readlink -f "$(command -v qemu-system-x86_64)")")
	[ -n "$kvmtool" ] && files+=("$kvmtool")
	# QEMU looks for firmware next to its binary (../share/qemu, ../share/seabios): -M pc needs
	# SeaBIOS, linuxboot_dma.bin for -kernel and kvmvapic.bin under KVM; -M microvm needs qboot
	# (bios-microvm.bin, a symlink, so it is named explicitly). --file copies the target of a
	# symlink to the link's path only when the destination is given.
	qdata=$(qemu-system-x86_64 -L help 2>/dev/null | head -n1)
	qdata=$(readlink -f "$qdata" 2>/dev/null || echo /usr/share/qemu)
	for fw in "$qdata"/{bios-256k.bin,linuxboot_dma.bin,linuxboot.bin,kvmvapic.bin,bios-microvm.bin,qboot.rom,pvh.bin}; do
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
	for e in N MEM TIMEOUT MICROVM MVM LAUNCH KERNEL VMLINUX INITRD KVMTOOL; do
		v=BENCH_$e
		envs+=(--env "$v=${!v}")
	done
	envs+=(--env BENCH_LOGS=/tmp/bench --env BENCH_SHIP=1
		--env "BENCH_ENV=test host VM: QEMU TCG (-cpu EPYC,+svm, 2 vCPUs) on $cpu, nested kvm_amd; L2 guests are not real-hardware figures")
	# Everything inside gets three boots per run at most ~timeout each, plus the test host's own boot.
	nm=0
	for m in $modes; do nm=$((nm + 1)); done
	budget=$((600 + nm * 5 * (n + 1) * timeout))
	# The emulated test host can itself hang (nested SVM under TCG); the runner prints a line per
	# boot, so silence much longer than one boot means the VM is stuck: stop it rather than wait
	# for the whole budget. run.sh kills its QEMU when it gets SIGTERM.
	fifo=$(mktemp -u) && mkfifo "$fifo"
	# run.sh's own idle limit fires first and prints QEMU's view of the stuck test host's CPUs.
	"$MVM_ROOT/tests/testhost/run.sh" --timeout "$budget" --idle-timeout $((2 * timeout + 60)) \
		--log "$logs/testhost.log" "${fargs[@]}" "${envs[@]}" -- bash -c "$modeloop" "$runner" >"$fifo" 2>&1 &
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
	# Keep the boot logs the test host printed, one file per VMM.
	if [ -f "$logs/testhost.log" ]; then
		for m in $modes; do
			mkdir -p "$logs/$m"
			for v in mvm mvm-base qemu-microvm qemu-pc kvmtool; do
				sed -n "s/^bench-log\[$m.$v\] stderr: //p" "$logs/testhost.log" >"$logs/$m/$v.1.err"
				sed -n "/^bench-log\[$m.$v\] stderr: /d; s/^bench-log\[$m.$v\] //p" \
					"$logs/testhost.log" >"$logs/$m/$v.1.out"
			done
		done
	fi
fi
mvm_say "bench: done in $(mvm_elapsed "$start") s (load average now $(cut -d' ' -f1-3 /proc/loadavg)); boot logs in $logs"
exit "$rc"
