#!/usr/bin/env bash
# tests/linux/run.sh - boot the Debian reference guest under mvm and check what the guest reports.
#
# Usage: tests/linux/run.sh [--direct] [--mvm PATH] [--kernel BZIMAGE] [--initrd FILE]
#            [--vmlinux ELF] [--guests DIR] [--rootfs EXT4] [--only NAME]...
# Each case prints `ok NAME` or `not ok NAME: reason` (then the tail of mvm's output as # lines)
# or `SKIP NAME: reason`; the run ends with `N passed, M failed` (`, K skipped` when some were).
# Defaults: build/mvm, the kernel from scripts/fetch-debian.sh, the initramfs from
# scripts/mk-guest-initramfs.sh (both run when needed).
# Where the cases run (scripts/lib/hostkvm.sh decides): here when this host's KVM can boot a stock
# kernel (or with --direct); otherwise the script, mvm and the guest files are shipped into ONE test
# host VM (tests/testhost/run.sh) and the cases run there. When neither works the cases are
# skipped, except with CI=true, where they fail. Every case has its own deadline, so a hung guest
# fails that case and the run goes on.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib/common.sh"
. "$here/../../scripts/lib/hostkvm.sh"
. "$here/../../scripts/lib/tap.sh"
. "$here/../../scripts/lib/testhost-cases.sh"
. "$here/../../scripts/lib/testhost-faults.sh"
. "$here/virtio-cases.sh"
. "$here/obs-cases.sh"
. "$here/api-cases.sh"
. "$here/config-cases.sh"
. "$here/state-cases.sh"
. "$here/snapshot-cases.sh"
. "$here/migrate-cases.sh"
. "$here/jail-cases.sh"
. "$here/balloon-cases.sh"
. "$here/vsock-cases.sh"
. "$here/ratelimit-cases.sh"
. "$here/kut-cases.sh"
. "$here/gdb-cases.sh"

ALL_CASES=(version check check-missing-kvm boot-cpus1 cpus2 mem-4g poweroff reboot stdin-echo
	bad-kernel-zeros bad-kernel-truncated bad-kernel-missing missing-initrd fifo-paths panic pvh-vmlinux
	triple-fault port-sweep multiboot-exit debug-exit-off "${VIRTIO_CASES[@]}" tiny-hello tiny-fault tiny-status
	seccomp-kill
	"${OBS_CASES[@]}" "${CONFIG_CASES[@]}" "${API_CASES[@]}" "${STATE_CASES[@]}"
	"${SNAPSHOT_CASES[@]}" "${MIGRATE_CASES[@]}" "${JAIL_CASES[@]}" "${BALLOON_CASES[@]}" "${VSOCK_CASES[@]}" "${RATELIMIT_CASES[@]}" "${KUT_CASES[@]}" "${GDB_CASES[@]}")
BOOT_TIMEOUT=${MVM_TEST_BOOT_TIMEOUT:-60}   # L2 under nested emulation reaches userspace in ~12 s
QUICK_TIMEOUT=10                            # a bad input file must be refused at once
CASE_LIMIT=$((BOOT_TIMEOUT * 3 + 60))        # the longest case's waits, summed; then its watchdog fires
# earlyprintk: a guest that dies before its console is up (an early triple fault) still says
# how far it got, from the decompressor on.
# loglevel=6: the kernel's notices, warnings and errors on the console ("Linux version", an
# oops, the clocksource watchdog's "as unstable because"), not its ~220 info lines: a boot in the
# test host took 3.9-4.9 s instead of 6.0-6.4 s (every console byte costs the emulation). A case
# that reads an info line sets loglevel=7 after it (the last one counts).
BASE_CMDLINE="console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=1 loglevel=6"
# MVM_TEST_CMDLINE_EXTRA: appended to every guest's command line (for chasing test-host faults).
[ -z "${MVM_TEST_CMDLINE_EXTRA:-}" ] || BASE_CMDLINE="$BASE_CMDLINE $MVM_TEST_CMDLINE_EXTRA"

direct=0 mvm=$MVM_ROOT/build/mvm kernel='' initrd='' vmlinux='' guests='' rootfs='' only=()
while [ $# -gt 0 ]; do
	case "$1" in
	--direct) direct=1; shift ;;
	--mvm) mvm=$2; shift 2 ;;
	--kernel) kernel=$2; shift 2 ;;
	--initrd) initrd=$2; shift 2 ;;
	--vmlinux) vmlinux=$2; shift 2 ;;
	--guests) guests=$2; shift 2 ;;
	--rootfs) rootfs=$2; shift 2 ;;
	--only) only+=("$2"); shift 2 ;;
	*) mvm_die "tests/linux/run.sh: unknown argument $1" ;;
	esac
done
cases=("${ALL_CASES[@]}")
[ ${#only[@]} -gt 0 ] && cases=("${only[@]}")

# ---- preconditions, decided before any VM boots -----------------------------------------------
if [ ! -x "$mvm" ]; then
	for c in "${cases[@]}"; do notok "$c" "$mvm not found or not executable (run make first)"; done
	summary
fi
if [ -z "$kernel" ] || [ -z "$initrd" ]; then
	envfile=$("$MVM_ROOT/scripts/fetch-debian.sh") || { notok fetch "scripts/fetch-debian.sh failed"; summary; }
	# shellcheck disable=SC1090
	. "$envfile"
	[ -n "$kernel" ] || kernel=$MVM_BZIMAGE
	[ -n "$initrd" ] || initrd=$("$MVM_ROOT/scripts/mk-guest-initramfs.sh") ||
		{ notok guest-initramfs "scripts/mk-guest-initramfs.sh failed"; summary; }
fi
kernel=$(readlink -f "$kernel") initrd=$(readlink -f "$initrd") mvm=$(readlink -f "$mvm")

want_case() { local c; for c in "${cases[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }
extractor=$MVM_ROOT/tests/tools/extract-vmlinux.sh
make_tiny_guests() {
	mkdir -p "$1" &&
	for k in triple-fault port-sweep multiboot-exit multiboot-kut multiboot-s3 multiboot-memdirty; do
		python3 "$MVM_ROOT/tests/guests/mk-pvh-guest.py" "$k" "$1/$k.elf" || return 1
	done &&
	# migrate-round-limit's guest: a 1 MiB working set rewritten at 64 MiB/s.
	python3 "$MVM_ROOT/tests/guests/mk-pvh-guest.py" multiboot-memdirty "$1/multiboot-memdirty-1m.elf" 2600000 1 64 &&
	# SDK guests (make builds them into build/guest/): shipped as sdk-NAME.elf.
	for g in hello/hello tests/fault tests/status tests/gdb tests/profile tests/ticker; do
		[ ! -f "$MVM_ROOT/build/guest/$g.elf" ] || cp "$MVM_ROOT/build/guest/$g.elf" "$1/sdk-${g#*/}.elf"
	done &&
	# obs-profile names the profile guest's functions from its symbols (the test host has no nm).
	{ [ ! -f "$1/sdk-profile.elf" ] || nm "$1/sdk-profile.elf" >"$1/sdk-profile.syms" 2>/dev/null || :; } &&
	# The static guest tool of net-user-flood (the test host has no compiler).
	{ cc -static -O2 -o "$1/udpflood" "$MVM_ROOT/tests/linux/guest/udpflood.c" 2>/dev/null || :; } &&
	{ cc -static -O2 -o "$1/vsockt" "$MVM_ROOT/tests/linux/guest/vsockt.c" 2>/dev/null || :; }
}

extract_vmlinux() {
	# Accept either convention: `extract-vmlinux.sh IN OUT` or `extract-vmlinux.sh IN > OUT`.
	local out=$1
	sh "$extractor" "$kernel" "$out" >/dev/null 2>&1 || :
	[ -s "$out" ] || sh "$extractor" "$kernel" >"$out" 2>/dev/null || :
	[ -s "$out" ] && [ "$(head -c4 "$out" | od -An -c | tr -d ' ')" = 177ELF ]
}

# ---- not here: ship everything into one test host VM ------------------------------------------
if [ $direct -eq 0 ] && ! mvm_hostkvm_check; then
	if ! mvm_testhost_check; then
		skip_all "no usable KVM ($MVM_HOSTKVM_WHY) and no test host VM ($MVM_TESTHOST_WHY)" "${cases[@]}"
		summary
	fi
	echo "# $MVM_HOSTKVM_WHY: running the cases inside a test host VM (QEMU emulation, nested AMD-V)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	inner=(bash "$here/run.sh" --direct --mvm "$mvm" --kernel "$kernel" --initrd "$initrd")
	files=(--file "$here/run.sh" --file "$here/virtio-cases.sh" --file "$here/obs-cases.sh" --file "$here/api-cases.sh" --file "$here/config-cases.sh" --file "$here/state-cases.sh" --file "$here/snapshot-cases.sh" --file "$here/migrate-cases.sh" --file "$here/jail-cases.sh" --file "$here/balloon-cases.sh" --file "$here/vsock-cases.sh" --file "$here/ratelimit-cases.sh" --file "$here/kut-cases.sh" --file "$here/gdb-cases.sh" --file "$MVM_ROOT/scripts/lib" --file "$MVM_ROOT/scripts/profile-report.sh" --file "$mvm" --file "$kernel" --file "$initrd")
	# curl drives the API cases (the test host has none; its libraries come along).
	curl_bin=$(command -v curl || :)
	[ -n "$curl_bin" ] && files+=(--file "$curl_bin")
	# gdb without Python (tests/linux/gdb-cases.sh).
	if [ -n "$(printf '%s\n' "${cases[@]}" | grep '^gdb-')" ] && gdbc=$(gdb_client_fetch); then
		files+=(--file "$gdbc:$GDB_SHIPPED")
	fi
	# The KVM state test program, beside mvm's build (tests/linux/state-cases.sh).
	[ -x "$(state_roundtrip_bin)" ] && files+=(--file "$(state_roundtrip_bin)")
	# api-pause-stuck's thread holder, built beside it.
	[ -x "$(thread_hold_bin)" ] && files+=(--file "$(thread_hold_bin)")
	# The snapshot cases' maker of bad state files, built beside it.
	[ -x "$(snap_edit_bin)" ] && files+=(--file "$(snap_edit_bin)")
	if want_case pvh-vmlinux && [ -f "$extractor" ]; then
		if extract_vmlinux "$tmp/vmlinux"; then
			files+=(--file "$tmp/vmlinux") inner+=(--vmlinux "$tmp/vmlinux")
		else
			inner+=(--vmlinux /nonexistent-extract-failed)
		fi
	fi
	# The tiny guests are built here: the test host has no python3.
	if make_tiny_guests "$tmp/guests"; then
		files+=(--file "$tmp/guests") inner+=(--guests "$tmp/guests")
	fi
	# So is the ext4 root image: the test host has no e2fsprogs.
	if want_case blk-root && make_rootfs "$tmp/rootfs.ext4"; then
		files+=(--file "$tmp/rootfs.ext4") inner+=(--rootfs "$tmp/rootfs.ext4")
	fi
	# Every case bounded: the VM's own deadline is their sum plus its boot; a case prints its
	# line within CASE_LIMIT (its in-VM watchdog), so a longer silence means the VM hung.
	TH_ARGS=(--env "CI=${CI:-}" --env MVM_IN_TESTHOST=1 --env "MVM_TF_TRACE=${MVM_TF_TRACE:-0}" --env "MVM_TEST_BOOT_TIMEOUT=$BOOT_TIMEOUT" --env "MVM_TEST_THP=${MVM_TEST_THP:-}" --env "MVM_TEST_CMDLINE_EXTRA=${MVM_TEST_CMDLINE_EXTRA:-}" "${files[@]}")
	TH_INNER=("${inner[@]}") TH_CASES=("${cases[@]}") TH_ONLY=("${only[@]}")
	# (A few cases only: at least one case's whole CASE_LIMIT, so a long case run alone, such
	# as migrate-dirty, is ended by its own watchdog and not by the test host's deadline.)
	budget=$(( ${#cases[@]} * (BOOT_TIMEOUT + 15) + 120 ))
	[ "$budget" -ge $((CASE_LIMIT + 180)) ] || budget=$((CASE_LIMIT + 180))
	th_run_cases "$budget" $((CASE_LIMIT + 90)) "$tmp"
	[ "$TH_DONE" = 1 ] && exit "$TH_RC"
	summary
fi

# ---- the cases, run here -----------------------------------------------------------------------
work=$(mktemp -d)
VM_PID=
cleanup() { vm_kill; rm -rf "$work"; }
trap cleanup EXIT

# Start mvm in the background: vm_start NAME STDIN ARGS... (output in $work/NAME.out, .err).
vm_start() {
	VM_NAME=$1 VM_OUT=$work/$1.out VM_ERR=$work/$1.err VM_RC=
	local in=$2; shift 2
	{ printf '# %s: mvm' "$VM_NAME"; printf ' %q' "$@"; echo; } >"$work/$VM_NAME.cmd"
	"$mvm" "$@" <"$in" >"$VM_OUT" 2>"$VM_ERR" &
	VM_PID=$! VM_T0=$(mvm_now)
}
# Has more than SECS passed since T0 (default: mvm's start)? vm_elapsed_over SECS [T0]
vm_elapsed_over() { awk -v a="${2:-$VM_T0}" -v b="$(mvm_now)" -v t="$1" 'BEGIN { exit !(b - a > t) }'; }
# Wait until REGEX appears in mvm's stdout (0), mvm exits first (1) or SECS pass (2), counted
# from this call (a wait after a slow boot gets its whole time).
vm_wait_for() {
	local re=$1 secs=$2 t0
	t0=$(mvm_now)
	while :; do
		grep -qaE "$re" "$VM_OUT" && return 0
		if ! kill -0 "$VM_PID" 2>/dev/null; then
			vm_reap
			grep -qaE "$re" "$VM_OUT" && return 0
			return 1
		fi
		vm_elapsed_over "$secs" "$t0" && return 2
		sleep 0.2
	done
}
# Wait for mvm to exit within SECS of this call: 0 with VM_RC set, or 2 after killing it.
vm_wait_exit() {
	local t0
	t0=$(mvm_now)
	while [ -n "$VM_PID" ] && kill -0 "$VM_PID" 2>/dev/null; do
		if vm_elapsed_over "$1" "$t0"; then vm_kill; return 2; fi
		sleep 0.2
	done
	vm_reap
	return 0
}
vm_reap() {
	[ -n "$VM_PID" ] || return 0
	wait "$VM_PID" 2>/dev/null; VM_RC=$?
	VM_PID=
}
vm_kill() {
	[ -n "${VM_PID:-}" ] || return 0
	kill -TERM "$VM_PID" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$VM_PID" 2>/dev/null || break; sleep 0.3; done
	kill -KILL "$VM_PID" 2>/dev/null
	vm_reap
	VM_RC=killed
}
vm_secs() { awk -v a="$VM_T0" -v b="$(mvm_now)" 'BEGIN { printf "%.1f", b - a }'; }
# Show what mvm printed, for a failed case.
vm_tail() {
	cat "$work/$VM_NAME.cmd"
	tr -d '\r' <"$VM_OUT" | tail -n 15 | sed 's/^/#   out: /'
	tr -d '\r' <"$VM_ERR" | tail -n "${VM_ERR_LINES:-8}" | sed 's/^/#   err: /'
}
fail_case() { notok "$1" "$2"; vm_tail; }
marker() { tr -d '\r' <"$VM_OUT" | sed -n "s/^$1=\\([0-9a-z]*\\).*/\\1/p" | head -n1; }
time_note() { echo "# $1: $(vm_secs) s"; }

# Boot with CMDLINE_EXTRA and ARGS, wait for the guest's last report line, then stop mvm.
boot_report() {
	local name=$1 extra=$2; shift 2
	vm_start "$name" /dev/null "$@" --cmdline "$BASE_CMDLINE $extra"
	vm_wait_for '^MVM-GUEST-MODE=' "$BOOT_TIMEOUT"
	BOOT_WAIT=$?
	time_note "$name"
	vm_wait_exit 5 || :
}
boot_failed_reason() {
	case $BOOT_WAIT in
	1) echo "mvm exited with status $VM_RC before the guest reported" ;;
	2) echo "the guest did not report within $BOOT_TIMEOUT s" ;;
	esac
}

case_version() {
	vm_start version /dev/null version
	if ! vm_wait_exit "$QUICK_TIMEOUT"; then fail_case version "mvm version did not exit within $QUICK_TIMEOUT s"
	elif [ "$VM_RC" != 0 ]; then fail_case version "mvm version exited $VM_RC"
	elif ! [ -s "$VM_OUT" ]; then fail_case version "mvm version printed nothing"
	else ok version; fi
}

# `mvm check` on this host (which runs the cases, so KVM works): the key lines and status 0.
case_check() {
	local out
	vm_start check /dev/null check
	if ! vm_wait_exit "$QUICK_TIMEOUT"; then fail_case check "mvm check did not exit within $QUICK_TIMEOUT s"; return; fi
	out=$(tr -d '\r' <"$VM_OUT")
	if [ "$VM_RC" != 0 ]; then fail_case check "mvm check exited $VM_RC, expected 0"
	elif ! grep -qE '^PASS +virtualization +(SVM|VMX)' <<<"$out"; then fail_case check "no PASS line for SVM/VMX"
	elif ! grep -qE '^PASS +kvm_(amd|intel) +loaded' <<<"$out"; then fail_case check "no PASS line for a loaded kvm_amd/kvm_intel"
	elif ! grep -qE '^PASS +/dev/kvm ' <<<"$out"; then fail_case check "no PASS line for /dev/kvm"
	elif grep -q '^FAIL' <<<"$out"; then fail_case check "a line FAILed"
	elif ! grep -q '^mvm can run: Linux guests: yes; tiny ring-3 guests: yes' <<<"$out"; then
		fail_case check "the summary does not say both kinds of guest can run"
	else ok check; fi
}

case_check-missing-kvm() {
	vm_start check-missing-kvm /dev/null check --kvm /nonexistent/kvm
	if ! vm_wait_exit "$QUICK_TIMEOUT"; then fail_case check-missing-kvm "mvm check did not exit within $QUICK_TIMEOUT s"
	elif [ "$VM_RC" != 1 ]; then fail_case check-missing-kvm "mvm check --kvm /nonexistent/kvm exited $VM_RC, expected 1"
	elif ! grep -qaE '^FAIL +/dev/kvm +/nonexistent/kvm does not exist' "$VM_OUT"; then
		fail_case check-missing-kvm "no FAIL line for the missing device"
	else ok check-missing-kvm; fi
}

case_boot-cpus1() {
	boot_report boot-cpus1 mvmtest=poweroff run --kernel "$kernel" --initrd "$initrd" --cpus 1
	local n; n=$(marker MVM-GUEST-CPUS)
	if [ $BOOT_WAIT -ne 0 ]; then fail_case boot-cpus1 "$(boot_failed_reason)"
	elif ! grep -qa '^MVM-GUEST-READY' "$VM_OUT"; then fail_case boot-cpus1 "no MVM-GUEST-READY line"
	elif [ "$n" != 1 ]; then fail_case boot-cpus1 "guest reports ${n:-no} CPUs, expected 1"
	else ok boot-cpus1; fi
}

case_cpus2() {
	boot_report cpus2 mvmtest=poweroff run --kernel "$kernel" --initrd "$initrd" --cpus 2
	local n; n=$(marker MVM-GUEST-CPUS)
	if [ $BOOT_WAIT -ne 0 ]; then fail_case cpus2 "$(boot_failed_reason)"
	elif [ "$n" != 2 ]; then fail_case cpus2 "guest reports ${n:-no} CPUs, expected 2"
	else ok cpus2; fi
}

case_mem-4g() {
	boot_report mem-4g mvmtest=poweroff run --kernel "$kernel" --initrd "$initrd" --mem 4G
	local kb lo=$((37 * 1024 * 1024 / 10)) hi=$((4 * 1024 * 1024))
	kb=$(marker MVM-GUEST-MEMTOTAL-KB)
	# Linux keeps its image, struct pages and the 64 MiB swiotlb out of MemTotal: 4 GiB of RAM
	# shows as ~3.84 GiB under QEMU. Above 4 GiB would mean mvm gave more RAM than asked.
	if [ $BOOT_WAIT -ne 0 ]; then fail_case mem-4g "$(boot_failed_reason)"
	elif [ -z "$kb" ]; then fail_case mem-4g "no MVM-GUEST-MEMTOTAL-KB line"
	elif [ "$kb" -le "$lo" ] || [ "$kb" -gt "$hi" ]; then
		fail_case mem-4g "MemTotal $kb kB outside ($lo, $hi] kB for --mem 4G"
	else ok mem-4g; fi
}

stop_case() {
	local name=$1 mode=$2 want=$3
	vm_start "$name" /dev/null run --kernel "$kernel" --initrd "$initrd" --cmdline "$BASE_CMDLINE mvmtest=$mode"
	if ! vm_wait_exit "$BOOT_TIMEOUT"; then
		time_note "$name"
		if grep -qa '^MVM-GUEST-READY' "$VM_OUT"; then
			fail_case "$name" "mvm still running $BOOT_TIMEOUT s after start (guest reached userspace, mvmtest=$mode did not stop it)"
		else
			fail_case "$name" "mvm still running $BOOT_TIMEOUT s after start, guest never reached userspace"
		fi
		return
	fi
	time_note "$name"
	local why=
	[ "$mode" = panic ] && ! grep -qa '^MVM-GUEST-PVPANIC=bound' "$VM_OUT" &&
		why=" (the guest's pvpanic-mmio driver did not bind: is ACPI device QEMU0001 with I/O port 0x505 in the DSDT?)"
	if ! grep -qa '^MVM-GUEST-READY' "$VM_OUT"; then fail_case "$name" "mvm exited $VM_RC before the guest reached userspace"
	elif [ "$VM_RC" != "$want" ]; then fail_case "$name" "mvm exited $VM_RC, expected $want$why"
	else ok "$name"; fi
}
case_poweroff() { stop_case poweroff poweroff 0; }
case_reboot() { stop_case reboot reboot 0; }
case_panic() { stop_case panic panic 3; }

case_stdin-echo() {
	local fifo=$work/stdin.fifo r
	rm -f "$fifo"; mkfifo "$fifo"
	vm_start stdin-echo "$fifo" run --stats --kernel "$kernel" --initrd "$initrd" --cmdline "$BASE_CMDLINE mvmtest=echo"
	exec 3>"$fifo"
	vm_wait_for '^MVM-GUEST-ECHO-READY' "$BOOT_TIMEOUT"; r=$?
	if [ $r -ne 0 ]; then
		# --stats at exit tells a guest that stopped writing COM1 from output mvm lost
		# (one CI run saw the output end mid-line with the guest far into its boot).
		exec 3>&-; BOOT_WAIT=$r
		local s1; s1=$(wc -c <"$VM_OUT"); sleep 3
		echo "# stdin-echo: $s1 -> $(wc -c <"$VM_OUT") bytes of output over 3 s"
		snap_threads
		vm_kill
		VM_ERR_LINES=60 fail_case stdin-echo "$(boot_failed_reason)"; return
	fi
	# The guest's tty echoes the line itself as typed; only the shell's answer contains hello-42.
	echo 'echo hello-$((6*7))' >&3
	vm_wait_for 'hello-42' 20; r=$?
	echo 'poweroff -f' >&3
	time_note stdin-echo
	vm_wait_exit 10 || :
	exec 3>&-
	if [ $r -ne 0 ]; then fail_case stdin-echo "a line written to mvm's stdin got no answer (no hello-42 on stdout)"
	else ok stdin-echo; fi
}

# An input file mvm must refuse at once, with status 2 and a message naming the file.
bad_input_case() {
	local name=$1 file=$2; shift 2
	vm_start "$name" /dev/null run "$@"
	if ! vm_wait_exit "$QUICK_TIMEOUT"; then fail_case "$name" "mvm still running $QUICK_TIMEOUT s after start"
	elif [ "$VM_RC" != 2 ]; then fail_case "$name" "mvm exited $VM_RC, expected 2"
	elif ! grep -qaF "$file" "$VM_ERR" "$VM_OUT"; then fail_case "$name" "no error message naming $file"
	else ok "$name"; fi
}
case_bad-kernel-zeros() {
	local f=$work/zeros.bzImage
	head -c 4096 /dev/zero >"$f"
	bad_input_case bad-kernel-zeros "$f" --kernel "$f" --initrd "$initrd"
}
case_bad-kernel-truncated() {
	local f=$work/truncated.bzImage size
	size=$(wc -c <"$kernel")
	head -c $((size / 2)) "$kernel" >"$f"
	bad_input_case bad-kernel-truncated "$f" --kernel "$f" --initrd "$initrd"
}
case_bad-kernel-missing() {
	local f=$work/no-such-kernel
	bad_input_case bad-kernel-missing "$f" --kernel "$f" --initrd "$initrd"
}
case_missing-initrd() {
	local f=$work/no-such-initrd.img
	bad_input_case missing-initrd "$f" --kernel "$kernel" --initrd "$f"
}
# A FIFO with no writer as every user path (kernel, initrd, config file, a virtio disk rw and
# ro, a tiny guest's hypercall disk): open() would wait for a writer forever (and SIGTERM
# could not end it); mvm must refuse it by type at once, status 2, naming the file and FIFO.
case_fifo-paths() {
	local fifo=$work/fifo-path hello why=''
	rm -f "$fifo"; mkfifo "$fifo"
	hello=$(sdk_guest hello) || hello=''
	local -a runs=("--kernel $fifo" "--kernel $kernel --initrd $fifo" "--config-file $fifo"
		"--kernel $kernel --initrd $initrd --disk $fifo" "--kernel $kernel --initrd $initrd --disk $fifo,ro")
	[ -n "$hello" ] && runs+=("--kernel $hello --disk $fifo,ro")
	for r in "${runs[@]}"; do
		# shellcheck disable=SC2086 # the words of r are the flags
		vm_start fifo-paths /dev/null run $r
		if ! vm_wait_exit "$QUICK_TIMEOUT"; then why="mvm run $r: still running $QUICK_TIMEOUT s after start"; break
		elif [ "$VM_RC" != 2 ]; then why="mvm run $r: exited $VM_RC, expected 2"; break
		elif ! grep -qaF "$fifo: not a regular file" "$VM_ERR" || ! grep -qa '(a FIFO)' "$VM_ERR"; then
			why="mvm run $r: no message naming $fifo as a FIFO"; break
		fi
	done
	rm -f "$fifo"
	if [ -n "$why" ]; then fail_case fifo-paths "$why"
	elif [ -z "$hello" ]; then notok fifo-paths "no build/guest/hello/hello.elf for the tiny guest's --disk (run make)"
	else ok fifo-paths; fi
}

# The tiny PVH guests of tests/guests/mk-pvh-guest.py: tiny_guest KIND prints its path.
tiny_guest() {
	local f=${guests:-$work/guests}/$1.elf
	if [ ! -s "$f" ]; then
		mkdir -p "$(dirname "$f")"
		python3 "$MVM_ROOT/tests/guests/mk-pvh-guest.py" "$1" "$f" 2>/dev/null || return 1
	fi
	echo "$f"
}

# A tiny PVH guest whose IDT has limit 0 executes ud2: the CPU shuts down.
case_triple-fault() {
	local f
	f=$(tiny_guest triple-fault) ||
		{ notok triple-fault "cannot build the guest (tests/guests/mk-pvh-guest.py needs python3)"; return; }
	vm_start triple-fault /dev/null run --kernel "$f"
	if ! vm_wait_exit "$QUICK_TIMEOUT"; then fail_case triple-fault "mvm still running $QUICK_TIMEOUT s after start"
	elif [ "$VM_RC" != 4 ]; then fail_case triple-fault "mvm exited $VM_RC, expected 4"
	elif ! grep -qa 'triple fault' "$VM_ERR"; then fail_case triple-fault "no message saying triple fault"
	elif ! grep -qa 'rip=' "$VM_ERR"; then fail_case triple-fault "no register dump"
	else ok triple-fault; fi
}

# A tiny guest reads and writes every port below 0x1000 at every width, and
# MMIO that is neither RAM nor a device, then powers off: mvm must survive.
case_port-sweep() {
	local f
	f=$(tiny_guest port-sweep) ||
		{ notok port-sweep "cannot build the guest (tests/guests/mk-pvh-guest.py needs python3)"; return; }
	vm_start port-sweep /dev/null run --debug --stats --kernel "$f"
	if ! vm_wait_exit "$BOOT_TIMEOUT"; then time_note port-sweep; fail_case port-sweep "mvm still running $BOOT_TIMEOUT s after start"; return; fi
	time_note port-sweep
	if [ "$VM_RC" != 0 ]; then fail_case port-sweep "mvm exited $VM_RC, expected 0 (the guest powers off last)"
	elif ! grep -qa 'guest powered off' "$VM_ERR"; then fail_case port-sweep "the VM did not end by the guest's poweroff at the end of the sweep"
	elif ! grep -qa 'unclaimed' "$VM_ERR"; then fail_case port-sweep "no unclaimed accesses reported under --debug"
	elif grep -qaE 'AddressSanitizer|runtime error|internal error' "$VM_ERR"; then fail_case port-sweep "mvm reported an error"
	else
		# 4096 ports x 3 reads + 4087 x 3 writes, less the few KVM handles in-kernel
		# (PIC, ELCR, PIT, speaker), reached mvm; so did the 8 unbacked MMIO accesses.
		local io mmio
		io=$(tr -d '\r' <"$VM_ERR" | awk '$1 == "IO" { print $2 }')
		mmio=$(tr -d '\r' <"$VM_ERR" | awk '$1 == "MMIO" { print $2 }')
		if [ "${io:-0}" -lt 24000 ] || [ "${mmio:-0}" -lt 8 ]; then
			fail_case port-sweep "--stats shows ${io:-no} IO and ${mmio:-no} MMIO exits (want >= 24000 and >= 8)"
		else
			ok port-sweep
		fi
	fi
}

# A tiny flat multiboot guest checks EAX, the info flags and its command
# line, then writes 0x21 to isa-debug-exit: with --debug-exit mvm exits
# (0x21 << 1) | 1 = 67. A failed check writes 1, 2 or 3 instead (exit 3, 5,
# 7: EAX, flags, cmdline).
case_multiboot-exit() {
	local f
	f=$(tiny_guest multiboot-exit) ||
		{ notok multiboot-exit "cannot build the guest (tests/guests/mk-pvh-guest.py needs python3)"; return; }
	vm_start multiboot-exit /dev/null run --kernel "$f" --cmdline mvmtest --debug-exit
	if ! vm_wait_exit "$QUICK_TIMEOUT"; then fail_case multiboot-exit "mvm still running $QUICK_TIMEOUT s after start"
	elif [ "$VM_RC" = 3 ]; then fail_case multiboot-exit "mvm exited 3: the guest saw EAX != 0x2BADB002"
	elif [ "$VM_RC" = 5 ]; then fail_case multiboot-exit "mvm exited 5: multiboot info flags lack MEM|CMDLINE|MMAP"
	elif [ "$VM_RC" = 7 ]; then fail_case multiboot-exit "mvm exited 7: the guest's command line is not \"mvmtest\""
	elif [ "$VM_RC" != 67 ]; then fail_case multiboot-exit "mvm exited $VM_RC, expected 67 ((0x21 << 1) | 1)"
	elif grep -qaE 'AddressSanitizer|runtime error' "$VM_ERR"; then fail_case multiboot-exit "mvm reported an error"
	else ok multiboot-exit; fi
}

# The same guest without --debug-exit: port 0xf4 is unclaimed, so its write of
# 0x21 (4 bytes: the checks passed) cannot choose mvm's status; the guest
# then powers off and mvm exits 0, as an orchestrator expects.
case_debug-exit-off() {
	local f
	f=$(tiny_guest multiboot-exit) ||
		{ notok debug-exit-off "cannot build the guest (tests/guests/mk-pvh-guest.py needs python3)"; return; }
	vm_start debug-exit-off /dev/null run --kernel "$f" --cmdline mvmtest --debug
	if ! vm_wait_exit "$QUICK_TIMEOUT"; then fail_case debug-exit-off "mvm still running $QUICK_TIMEOUT s after start"
	elif [ "$VM_RC" != 0 ]; then fail_case debug-exit-off "mvm exited $VM_RC, expected 0: the guest chose the status without --debug-exit"
	elif ! grep -qa 'guest powered off' "$VM_ERR"; then fail_case debug-exit-off "the VM did not end by the guest's poweroff"
	elif ! grep -qa 'unclaimed write of 4 bytes at 0xf4' "$VM_ERR"; then fail_case debug-exit-off "no unclaimed 4-byte write to port 0xf4 logged (the guest's checks failed, or the port was claimed)"
	elif grep -qaE 'AddressSanitizer|runtime error' "$VM_ERR"; then fail_case debug-exit-off "mvm reported an error"
	else ok debug-exit-off; fi
}

case_pvh-vmlinux() {
	if [ -z "$vmlinux" ]; then
		if [ ! -f "$extractor" ]; then
			skip pvh-vmlinux "tests/tools/extract-vmlinux.sh does not exist (yet)"; return
		fi
		vmlinux=$work/vmlinux
		extract_vmlinux "$vmlinux" || { notok pvh-vmlinux "tests/tools/extract-vmlinux.sh gave no ELF file from $kernel"; return; }
	fi
	[ -s "$vmlinux" ] || { notok pvh-vmlinux "tests/tools/extract-vmlinux.sh gave no ELF file from $kernel"; return; }
	vm_start pvh-vmlinux /dev/null run --kernel "$vmlinux" --initrd "$initrd" --cmdline "$BASE_CMDLINE mvmtest=poweroff"
	if ! vm_wait_exit "$BOOT_TIMEOUT"; then time_note pvh-vmlinux; fail_case pvh-vmlinux "mvm still running $BOOT_TIMEOUT s after start"; return; fi
	time_note pvh-vmlinux
	if ! grep -qa '^MVM-GUEST-READY' "$VM_OUT"; then fail_case pvh-vmlinux "guest booted from the ELF vmlinux (PVH) never reached userspace (mvm exited $VM_RC)"
	elif [ "$VM_RC" != 0 ]; then fail_case pvh-vmlinux "mvm exited $VM_RC, expected 0"
	else ok pvh-vmlinux; fi
}

# ---- SDK tiny guests (guest/, docs/guest-abi.md): ring 3, hypercalls, fault report ----
sdk_guest() { # NAME: the built SDK guest, shipped or from build/guest
	local f
	for f in "${guests:-/nonexistent}/sdk-$1.elf" "$MVM_ROOT/build/guest/hello/$1.elf" \
		"$MVM_ROOT/build/guest/tests/$1.elf"; do
		[ -s "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

# The hello demo (the file and the copy built into mvm) says it runs at CPL 3 with
# IOPL 3, makes port and MMIO exits, and ends mvm with status 0; --stats shows IO.
case_tiny-hello() {
	local f
	f=$(sdk_guest hello) || { notok tiny-hello "no build/guest/hello/hello.elf (run make)"; return; }
	vm_start tiny-hello /dev/null run --kernel "$f" --cmdline mvmtest --stats
	if ! vm_wait_exit "$QUICK_TIMEOUT"; then fail_case tiny-hello "mvm still running $QUICK_TIMEOUT s after start"
	elif [ "$VM_RC" != 0 ]; then fail_case tiny-hello "mvm exited $VM_RC, expected 0"
	elif ! grep -qa 'CPL 3 (CS 0x23), IOPL 3' "$VM_OUT"; then fail_case tiny-hello "no 'CPL 3 ... IOPL 3' line"
	elif ! grep -qa 'command line: "mvmtest"' "$VM_OUT"; then fail_case tiny-hello "the guest did not see its command line"
	elif ! grep -qaE '^ +IO +[0-9]+' "$VM_ERR"; then fail_case tiny-hello "--stats printed no IO row"
	elif grep -qaE 'AddressSanitizer|runtime error' "$VM_ERR"; then fail_case tiny-hello "mvm reported an error"
	else
		vm_start tiny-hello /dev/null run
		if ! vm_wait_exit "$QUICK_TIMEOUT" || [ "$VM_RC" != 0 ] || ! grep -qa '^Hello from a tiny mvm guest' "$VM_OUT"; then
			fail_case tiny-hello "mvm run without --kernel did not boot the built-in demo (exit $VM_RC)"
		else ok tiny-hello; fi
	fi
}

# NULL read, write to mvm's supervisor-only GDT page, ud2, hlt: each ends with the report, status 4.
case_tiny-fault() {
	local f k want
	f=$(sdk_guest fault) || { notok tiny-fault "no build/guest/tests/fault.elf (run make)"; return; }
	for k in null sys ud gp; do
		case $k in
		null) want='#PF \(page fault\) at RIP 0x[0-9a-f]+ CR2 0x0 error 0x4' ;;
		sys) want='#PF \(page fault\) at RIP 0x[0-9a-f]+ CR2 0x41000 error 0x7' ;;
		ud) want='#UD \(invalid opcode\) at RIP' ;;
		gp) want='#GP \(general protection\) at RIP' ;;
		esac
		vm_start tiny-fault /dev/null run --kernel "$f" --cmdline "fault=$k"
		if ! vm_wait_exit "$QUICK_TIMEOUT"; then fail_case tiny-fault "fault=$k: mvm still running $QUICK_TIMEOUT s after start"; return
		elif [ "$VM_RC" != 4 ]; then fail_case tiny-fault "fault=$k: mvm exited $VM_RC, expected 4"; return
		elif ! grep -qaE "guest fault: $want" "$VM_ERR"; then fail_case tiny-fault "fault=$k: no 'guest fault: $want' report"; return
		fi
	done
	ok tiny-fault
}

# The exit hypercall's status becomes mvm's.
case_tiny-status() {
	local f
	f=$(sdk_guest status) || { notok tiny-status "no build/guest/tests/status.elf (run make)"; return; }
	vm_start tiny-status /dev/null run --kernel "$f" --cmdline status=42
	if ! vm_wait_exit "$QUICK_TIMEOUT"; then fail_case tiny-status "mvm still running $QUICK_TIMEOUT s after start"
	elif [ "$VM_RC" != 42 ]; then fail_case tiny-status "mvm exited $VM_RC, expected 42"
	else ok tiny-status; fi
}

# seccomp (src/util/sandbox.h): MVM_SECCOMP_TEST=KIND makes that kind's first thread call
# personality() once its filter is in. Under the default --seccomp kill, mvm must end with
# status 5 and ONE line naming the thread and the syscall; under off, the guest runs to its end.
# A tiny guest keeps the first --disk/--net for its hypercalls, so the second of each is a
# virtio device with its own worker thread.
case_seccomp-kill() {
	local f kind thread img=$work/seccomp-a.img img2=$work/seccomp-b.img
	f=$(sdk_guest hello) || { notok seccomp-kill "no build/guest/hello/hello.elf (run make)"; return; }
	truncate -s 1M "$img" "$img2"
	# net-user: the hypercall net's thread (mvm-hcnet) and the virtio one's (mvm-net) both run
	# that filter, and which installs it first is a race (a CI run saw mvm-hcnet).
	for kind in vcpu:mvm-vcpu0 blk:mvm-blk 'net-user:mvm-(hc)?net' outq:mvm-com1-out main:mvm; do
		thread=${kind#*:} kind=${kind%%:*}
		MVM_SECCOMP_TEST=$kind vm_start "seccomp-$kind" /dev/null run --kernel "$f" \
			--disk "$img" --disk "$img2" --net user --net user
		if ! vm_wait_exit "$QUICK_TIMEOUT"; then
			fail_case seccomp-kill "$kind: mvm still running $QUICK_TIMEOUT s after start"; return
		elif [ "$VM_RC" != 5 ]; then
			fail_case seccomp-kill "$kind: mvm exited $VM_RC, expected 5 (seccomp violation)"; return
		elif [ "$(grep -ac '^mvm: seccomp:' "$VM_ERR")" != 1 ] ||
			! grep -qaE "^mvm: seccomp: thread $thread \($kind filter\) made syscall 135 \(personality\), outside its allow-list; exiting with status 5\$" "$VM_ERR"; then
			fail_case seccomp-kill "$kind: no one line naming thread $thread and personality"; return
		fi
	done
	MVM_SECCOMP_TEST=vcpu vm_start seccomp-off /dev/null run --kernel "$f" --seccomp off
	if ! vm_wait_exit "$QUICK_TIMEOUT" || [ "$VM_RC" != 0 ] || grep -qa 'seccomp:' "$VM_ERR"; then
		fail_case seccomp-kill "--seccomp off: the guest did not run to its end (exit $VM_RC)"
	else ok seccomp-kill; fi
}

# MVM_TEST_THP: the test host's transparent-hugepage mode for this run (always, madvise, never).
if [ -n "${MVM_TEST_THP:-}" ] && [ -w /sys/kernel/mm/transparent_hugepage/enabled ]; then
	echo "$MVM_TEST_THP" >/sys/kernel/mm/transparent_hugepage/enabled
	echo "$MVM_TEST_THP" >/sys/kernel/mm/transparent_hugepage/defrag 2>/dev/null || :
fi
[ -r /sys/kernel/mm/transparent_hugepage/enabled ] &&
	echo "# transparent hugepages: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
[ -d /sys/module/kvm_amd/parameters ] &&
	echo "# kvm_amd: $(cd /sys/module/kvm_amd/parameters && for p in npt nested vgif vls avic nrips; do [ -r $p ] && printf '%s=%s ' $p "$(cat $p)"; done)"
echo "# mvm: $mvm"
echo "# kernel: $kernel"
echo "# initrd: $initrd"
# One case, its output held until it ends: when it failed with a signature of the test host's
# own faults (scripts/lib/testhost-faults.sh), its verdict is shown as a comment, not counted,
# and it runs again, up to three tries (a CI run saw one case triple-fault twice in a row);
# a failure without the signature, or the third, counts.
run_case() {
	local c=$1 try p0=$passed f0=$failed s0=$skipped log=$work/case.log t0
	t0=$(mvm_now)
	for try in 1 2 3; do
		th_case_watchdog "$CASE_LIMIT" "$c"
		tf_case_start
		if declare -F "case_$c" >/dev/null; then "case_$c" >"$log"; else notok "$c" "no such test case" >"$log"; fi
		tf_case_stop >>"$log"
		th_case_watchdog_stop
		if [ "$try" -lt 3 ] && [ "$failed" -gt "$f0" ] && [ -n "$TF_WHY" ]; then
			sed "s/^/# try $try: /" "$log"
			echo "# $c: the test host's known fault ($TF_WHY); try $try is not counted, $c runs again"
			passed=$p0 failed=$f0 skipped=$s0
			continue
		fi
		cat "$log"
		# Every case's whole time, tries included (where the Linux step's time goes).
		echo "# case $c took $(mvm_elapsed "$t0") s"
		return
	done
}
[ "${MVM_IN_TESTHOST:-}" = 1 ] && tf_setup "$work"
for c in "${cases[@]}"; do run_case "$c"; done
summary
