#!/usr/bin/env bash
# tests/kvm-unit-tests/run.sh - run kvm-unit-tests' x86 suite under mvm (and QEMU beside it).
#
# Usage: tests/kvm-unit-tests/run.sh [--mvm PATH] [--vmm mvm|qemu|both] [--timeout S]
#            [--only NAME]... [--table FILE] [--direct] KUT_DIR
# KUT_DIR is a built kvm-unit-tests tree (./configure && make: x86/*.flat). Each section of
# KUT_DIR/x86/unittests.cfg runs as the suite runs it under QEMU: the .flat as a multiboot kernel,
# smp vCPUs, its test_args (or extra_params' -append) as the command line, an empty environment
# file as the initrd, isa-debug-exit for the status, its timeout (default 90 s; --timeout S caps
# it). mvm gets `run --kernel F --cpus N --mem M --initrd ENV --cmdline ARGS --debug-exit
# --pc-testdev` (that last one when this mvm has it), plus --cpu-hyperv when the QEMU options ask
# for Hyper-V (`-cpu ...,hv_*`) and this mvm has it; M is the -m of qemu_params/extra_params, else
# QEMU's default 128 MiB. Other QEMU options (-cpu models, -machine, -overcommit) have no mvm
# equivalent and are ignored for mvm; QEMU gets them all. A test that needs QEMU's
# `-device hyperv-testdev` is a SKIP under mvm, saying so.
# Output: one line per test, `PASS|FAIL|SKIP NAME (the test's SUMMARY line)` (with --vmm both:
# mvm's result, then `[qemu: RESULT]`), then `N passed, M failed, K skipped` per VMM. The status
# a test's exit code maps to is the suite's: 1 (its exit 0) PASS, 77 SKIP, anything else FAIL
# (124: timeout); a status 1 of the VMM's own (mvm: no debug-exit stop; QEMU: an error on stderr)
# is a FAIL. Skipped as the suite skips them by default: arch i386 (the build is x86_64),
# groups nodefault, accel tcg, a failed `check` file test, a missing .flat. --table FILE writes
# NAME<TAB>MVM<TAB>QEMU lines. MVM_KUT_VERBOSE=1: a failed test's last output lines too.
# Where: here when this host's KVM works (scripts/lib/hostkvm.sh) or with --direct; otherwise
# this script, mvm, the .flat files and unittests.cfg (and QEMU with its firmware for --vmm
# qemu|both) are shipped into one test host VM (tests/testhost/run.sh) and run there.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib/common.sh"
. "$here/../../scripts/lib/hostkvm.sh"

mvm=$MVM_ROOT/build/mvm vmm=mvm cap=0 only=() table='' direct=0 kut=''
while [ $# -gt 0 ]; do
	case "$1" in
	--mvm) mvm=$2; shift 2 ;;
	--vmm) vmm=$2; shift 2 ;;
	--timeout) cap=$2; shift 2 ;;
	--only) only+=("$2"); shift 2 ;;
	--table) table=$2; shift 2 ;;
	--direct) direct=1; shift ;;
	-*) mvm_die "tests/kvm-unit-tests/run.sh: unknown option $1" ;;
	*) [ -z "$kut" ] || mvm_die "tests/kvm-unit-tests/run.sh: one KUT_DIR, got $kut and $1"; kut=$1; shift ;;
	esac
done
[ -n "$kut" ] || mvm_die "usage: tests/kvm-unit-tests/run.sh [--mvm PATH] [--vmm mvm|qemu|both] KUT_DIR"
case "$vmm" in mvm|qemu|both) ;; *) mvm_die "--vmm $vmm: mvm, qemu or both" ;; esac
cfg=$kut/x86/unittests.cfg
[ -f "$cfg" ] || mvm_die "$cfg: not found (KUT_DIR must be a kvm-unit-tests tree)"
ls "$kut"/x86/*.flat >/dev/null 2>&1 || mvm_die "$kut/x86: no .flat files (run ./configure && make there)"
kut=$(readlink -f "$kut")
qemu_bin=$(command -v qemu-system-x86_64 || :)
if [ "$vmm" != qemu ]; then
	[ -x "$mvm" ] || mvm_die "$mvm: not found or not executable (make, or --mvm PATH)"
	mvm=$(readlink -f "$mvm")
fi
[ "$vmm" = mvm ] || [ -n "$qemu_bin" ] || mvm_die "--vmm $vmm: qemu-system-x86_64 is not installed"

# NAME<TAB>MVM<TAB>QEMU from this script's result lines (the test host's console).
table_of() {
	tr -d '\r' <"$1" | awk -v vmm="$vmm" '
		$1 ~ /^(PASS|FAIL|SKIP)$/ {
			q = "-"
			if (match($0, /\[qemu: (PASS|FAIL|SKIP)/)) q = substr($0, RSTART + 7, 4)
			if (vmm == "qemu") print $2 "\t-\t" $1
			else print $2 "\t" $1 "\t" q
		}'
}

# ---- not here: ship everything into one test host VM ------------------------------------------
if [ $direct -eq 0 ] && ! mvm_hostkvm_check; then
	mvm_testhost_check || mvm_die "no usable KVM ($MVM_HOSTKVM_WHY) and no test host VM ($MVM_TESTHOST_WHY)"
	echo "# $MVM_HOSTKVM_WHY: running the suite inside a test host VM (QEMU emulation, nested AMD-V)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/kut/x86"
	cp "$cfg" "$kut"/x86/*.flat "$tmp/kut/x86/"
	files=(--file "$here/run.sh" --file "$MVM_ROOT/scripts/lib" --file "$tmp/kut")
	inner=(bash "$here/run.sh" --direct --vmm "$vmm" --timeout "$cap")
	[ "$vmm" = qemu ] || { files+=(--file "$mvm"); inner+=(--mvm "$mvm"); }
	if [ "$vmm" != mvm ]; then
		# QEMU and the firmware a -kernel boot reads (Debian keeps SeaBIOS apart).
		files+=(--file "$qemu_bin")
		for f in /usr/share/seabios /usr/share/qemu/kvmvapic.bin /usr/share/qemu/multiboot_dma.bin \
			 /usr/share/qemu/linuxboot_dma.bin /usr/share/qemu/pvh.bin; do
			[ -e "$f" ] && files+=(--file "$f")
		done
	fi
	for n in "${only[@]}"; do inner+=(--only "$n"); done
	# The suite's own deadlines bound each test; 30 min bounds the whole VM.
	"$MVM_ROOT/tests/testhost/run.sh" --timeout "${MVM_KUT_BUDGET:-1800}" --idle-timeout 300 \
		--env "MVM_KUT_VERBOSE=${MVM_KUT_VERBOSE:-0}" "${files[@]}" -- "${inner[@]}" "$tmp/kut" |
		tee "$tmp/console"
	rc=${PIPESTATUS[0]}
	[ -z "$table" ] || table_of "$tmp/console" >"$table"
	exit $rc
fi

# ---- here: parse the configuration, run each test ---------------------------------------------
want() { local n; [ ${#only[@]} -eq 0 ] && return 0; for n in "${only[@]}"; do [ "$n" = "$1" ] && return 0; done; return 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
env_file=$work/env
: >"$env_file"
mvm_pass=0 mvm_fail=0 mvm_skip=0 q_pass=0 q_fail=0 q_skip=0
[ -z "$table" ] || : >"$table"
# --pc-testdev (ioapic, emulator, realmode use it) where this mvm has it.
testdev=() hyperv=()
[ "$vmm" = qemu ] || ! "$mvm" run --help 2>&1 | grep -q -- --pc-testdev || testdev=(--pc-testdev)
[ "$vmm" = qemu ] || ! "$mvm" run --help 2>&1 | grep -q -- --cpu-hyperv || hyperv=(--cpu-hyperv)

# -m SIZE from QEMU options, in MiB (QEMU's default 128 when absent).
mem_of() {
	local m
	m=$(sed -n 's/.*-m \([0-9]\+[MmGg]\?\).*/\1/p' <<<"$1" | head -n1)
	case "$m" in
	'') echo 128 ;;
	*[Gg]) echo $(( ${m%?} * 1024 )) ;;
	*[Mm]) echo "${m%?}" ;;
	*) echo "$m" ;;
	esac
}
# The test's SUMMARY line, as the suite prints it: "(N tests, M unexpected failures)".
summary_of() { tr -d '\r' <"$1" | tail -n 5 | sed -n 's/^SUMMARY: //p' | tail -n1; }
# Map an exit status to the suite's result word.
result_of() {
	case "$1" in
	1) echo PASS ;;
	77) echo SKIP ;;
	*) echo FAIL ;;
	esac
}

# run_one VMM NAME FILE SMP MEM TIMEOUT ARGS QEMU_PARAMS: sets R (result) and S (summary/reason).
run_one() {
	local v=$1 name=$2 file=$3 smp=$4 mem=$5 t=$6 args=$7 qp=$8 log=$work/$1-$2.log rc t0 err
	err=$log.err t0=$(date +%s)
	if [ "$v" = mvm ]; then
		local cl=() hv=()
		[ -n "$args" ] && cl=(--cmdline "$args")
		[[ "$qp" != *hv_* ]] || hv=("${hyperv[@]}")
		timeout -k 5 "$t" "$mvm" run --kernel "$kut/x86/$file" --cpus "$smp" --mem "$mem" \
			--initrd "$env_file" "${cl[@]}" --debug-exit "${testdev[@]}" "${hv[@]}" </dev/null >"$log" 2>"$err"
		rc=$?
		# mvm's own failures exit 1 too: only the guest's debug-exit status counts.
		grep -q 'guest exited with its own status' "$err" || [ "$rc" != 1 ] || rc=1000
	else
		# x86/run's command line; word splitting of qp is the suite's too.
		# shellcheck disable=SC2086
		timeout -k 5 "$t" "$qemu_bin" --no-reboot -nodefaults -global kvm-pit.lost_tick_policy=discard \
			-device pc-testdev -device isa-debug-exit,iobase=0xf4,iosize=0x4 -display none \
			-serial stdio -device pci-testdev -machine accel=kvm -kernel "$kut/x86/$file" \
			-smp "$smp" -m "$mem" $qp -initrd "$env_file" -append "$args" </dev/null >"$log" 2>"$err"
		rc=$?
		# QEMU's own errors exit 1 too: the suite counts 1 with an error (not a warning) as a failure.
		[ "$rc" != 1 ] || ! grep -qvi warning "$err" || rc=1000
	fi
	cat "$err" >>"$log"
	R=$(result_of "$rc") S=$(summary_of "$log")
	if [ "$R" = FAIL ] && [ -z "$S" ]; then
		# BusyBox's timeout (the test host's) returns the VMM's own status after SIGTERM.
		if [ "$rc" = 124 ] || [ $(( $(date +%s) - t0 )) -ge "$t" ]; then S="timeout; duration=${t}s"
		else S="exit status $rc: $(tr -d '\r' <"$err" | grep -av '^\s*$' | tail -n1 | cut -c1-100)"; fi
	fi
	if [ "$R" = FAIL ] && [ "${MVM_KUT_VERBOSE:-0}" = 1 ]; then sed 's/^/#   /' "$log" | tail -n 15; fi
}

count() {
	case "$1-$2" in
	mvm-PASS) mvm_pass=$((mvm_pass + 1)) ;; mvm-FAIL) mvm_fail=$((mvm_fail + 1)) ;; mvm-SKIP) mvm_skip=$((mvm_skip + 1)) ;;
	qemu-PASS) q_pass=$((q_pass + 1)) ;; qemu-FAIL) q_fail=$((q_fail + 1)) ;; qemu-SKIP) q_skip=$((q_skip + 1)) ;;
	esac
}

# One section of unittests.cfg: skip it as the suite would, or run it under each VMM.
run_section() {
	local name=$1 file=$2 smp=${3:-1} args=$4 extra=$5 qp=$6 arch=$7 groups=$8 t=${9:-90} accel=${10} check=${11}
	local why='' mem vms=() v line='' mr='' qr=''
	want "$name" || return 0
	[ -n "$file" ] || return 0
	smp=${smp//\$MAX_SMP/$(nproc)}
	smp=$(( smp ))
	t=${t%s}
	[ "$cap" -gt 0 ] && [ "$t" -gt "$cap" ] && t=$cap
	# extra_params (older files): -append 'ARGS' and QEMU options in one string.
	if [ -z "$args" ] && [[ "$extra" == *-append* ]]; then
		args=$(sed -n "s/.*-append *'\([^']*\)'.*/\1/p; s/.*-append *\"\([^\"]*\)\".*/\1/p" <<<"$extra" | head -n1)
	fi
	# test_args is shell words in the file (quotes, `date +%s`): the suite evals it too.
	args=$(set -f; eval "echo $args" 2>/dev/null)
	qp="$qp $(sed "s/-append *'[^']*'//; s/-append *\"[^\"]*\"//" <<<"$extra")"
	mem=$(mem_of "$qp")
	if [ -n "$arch" ] && [ "$arch" != x86_64 ]; then why="$arch only"
	elif [[ " $groups " == *" nodefault "* ]]; then why="test marked as manual run only"
	elif [ -n "$accel" ] && [ "$accel" != kvm ]; then why="$accel only"
	elif [ ! -f "$kut/x86/$file" ]; then why="Test file '$file' not found"
	else
		local c path value
		for c in $check; do
			path=${c%%=*} value=${c#*=}
			if [ ! -f "$path" ] || [ "$(cat "$path")" != "$value" ]; then why="$path not equal to $value"; break; fi
		done
	fi
	case "$vmm" in both) vms=(mvm qemu) ;; *) vms=("$vmm") ;; esac
	for v in "${vms[@]}"; do
		if [ -n "$why" ]; then R=SKIP S="$why"
		elif [ "$v" = mvm ] && [[ "$qp" == *hyperv-testdev* ]]; then
			R=SKIP S="needs QEMU's -device hyperv-testdev, which mvm does not have"
		else run_one "$v" "$name" "$file" "$smp" "$mem" "$t" "$args" "$qp"; fi
		count "$v" "$R"
		if [ "$v" = "${vms[0]}" ]; then line="$R $name${S:+ ($S)}"; mr=$R
		else line="$line [qemu: $R${S:+ ($S)}]"; qr=$R; fi
	done
	[ "$vmm" = qemu ] && { qr=$mr; mr=-; }
	echo "$line"
	[ -z "$table" ] || printf '%s\t%s\t%s\n' "$name" "${mr:--}" "${qr:--}" >>"$table"
}

echo "# kvm-unit-tests: $kut ($(git -C "$kut" describe --always 2>/dev/null || echo 'no git'))"
[ "$vmm" = qemu ] || echo "# mvm: $mvm"
[ "$vmm" = mvm ] || echo "# qemu: $qemu_bin ($("$qemu_bin" --version | head -n1))"
name='' file='' smp='' args='' extra='' qp='' arch='' groups='' tmo='' accel='' check=''
while IFS= read -r l || [ -n "$l" ]; do
	l=${l%$'\r'}
	case "$l" in
	\#*|'') continue ;;
	\[*\])
		[ -z "$name" ] || run_section "$name" "$file" "$smp" "$args" "$extra" "$qp" "$arch" "$groups" "$tmo" "$accel" "$check"
		name=${l#[} name=${name%]}
		file='' smp='' args='' extra='' qp='' arch='' groups='' tmo='' accel='' check='' ;;
	*=*)
		k=$(sed 's/^[[:space:]]*\([a-z_]*\)[[:space:]]*=.*/\1/' <<<"$l")
		val=$(sed 's/^[^=]*=[[:space:]]*//; s/[[:space:]]*$//' <<<"$l")
		case "$k" in
		file) file=$val ;; smp) smp=$val ;; test_args) args=$val ;; extra_params) extra=$val ;;
		qemu_params) qp=$val ;; arch) arch=$val ;; groups) groups=$val ;; timeout) tmo=$val ;;
		accel) accel=$val ;; check) check=$val ;;
		esac ;;
	esac
done <"$cfg"
[ -z "$name" ] || run_section "$name" "$file" "$smp" "$args" "$extra" "$qp" "$arch" "$groups" "$tmo" "$accel" "$check"

[ "$vmm" = qemu ] || echo "mvm: $mvm_pass passed, $mvm_fail failed, $mvm_skip skipped"
[ "$vmm" = mvm ] || echo "qemu: $q_pass passed, $q_fail failed, $q_skip skipped"
[ "$vmm" = qemu ] && exit $(( q_fail > 0 ))
exit $(( mvm_fail > 0 ))
