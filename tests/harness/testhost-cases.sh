#!/usr/bin/env bash
# tests/harness/testhost-cases.sh - checks scripts/lib/testhost-cases.sh's restarts (and, at its end,
# scripts/lib/testhost-faults.sh's signatures on made-up console logs) without a test
# host: th_vm is replaced by a script of what each test host VM "printed" and how it ended.
# Prints `ok NAME` / `not ok NAME: why` per check and `N passed, M failed`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MVM_ROOT=$(cd "$here/../.." && pwd)
# shellcheck source=../../scripts/lib/tap.sh
. "$MVM_ROOT/scripts/lib/tap.sh"
# shellcheck source=../../scripts/lib/testhost-cases.sh
. "$MVM_ROOT/scripts/lib/testhost-cases.sh"
# shellcheck source=../../scripts/lib/testhost-faults.sh
. "$MVM_ROOT/scripts/lib/testhost-faults.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
r_pass=0 r_fail=0
check() { if [ "$2" = "$3" ]; then echo "ok $1"; r_pass=$((r_pass + 1)); else echo "not ok $1: got [$2], want [$3]"; r_fail=$((r_fail + 1)); fi; }

# The fake VMs: VM_PLAN[i] = "RC DIE-AT" for the i-th VM started: it passes its cases in order
# until the case named DIE-AT (which it leaves unfinished) and ends with RC.
VM_PLAN=() VM_N=0 VM_ASKED=()
th_vm() {
	local log=$1 rc die c; shift
	read -r rc die <<<"${VM_PLAN[$VM_N]}"
	VM_ASKED+=("$*")
	VM_N=$((VM_N + 1))
	: >"$log"
	for c in "$@"; do
		[ "$c" = "$die" ] && break
		echo "ok $c" >>"$log"
	done
	[ "$die" = - ] && echo "$# passed, 0 failed" >>"$log"
	TH_RC=$rc
}

# run NAME CASES... : th_run_cases over CASES with the plan set; its output in $tmp/NAME.
run() {
	local name=$1; shift
	passed=0 failed=0 skipped=0 VM_N=0 VM_ASKED=()
	TH_CASES=("$@") TH_ONLY=("$@")
	th_run_cases 100 100 "$tmp" >"$tmp/$name" 2>&1
}
notoks() { grep '^not ok' "$1" | sed 's/:.*//; s/^not ok //' | tr '\n' ' ' | sed 's/ $//'; }

VM_PLAN=("0 -")
run clean a b c
check "clean run: one VM, done" "$TH_DONE $VM_N" "1 1"

# One death in b: b runs again with c in a second VM and passes.
VM_PLAN=("125 b" "0 -")
run one-death a b c
check "one death: b and c rerun" "${VM_ASKED[1]}" "b c"
check "one death: all pass" "$passed $failed $(notoks "$tmp/one-death")" "3 0 "

# Deaths in b and then in c (different cases): three VMs, everything passes.
VM_PLAN=("125 b" "125 c" "0 -")
run two-cases a b c d
check "deaths in two cases: third VM runs c d" "$VM_N ${VM_ASKED[2]}" "3 c d"
check "deaths in two cases: all pass" "$passed $failed" "4 0"

# b kills the test host twice: it runs a third time, in a third VM, and passes.
VM_PLAN=("125 b" "125 b" "0 -")
run same-case-twice a b c d
check "same case twice: b runs a third time" "$VM_N ${VM_ASKED[2]}" "3 b c d"
check "same case twice: all pass" "$passed $failed" "4 0"

# b kills the test host three times: b fails, c and d still run in a fourth VM.
VM_PLAN=("125 b" "125 b" "125 b" "0 -")
run same-case a b c d
check "same case three times: b fails, c d run on" "$(notoks "$tmp/same-case") ${VM_ASKED[3]}" "b c d"
check "same case three times: counts" "$passed $failed" "3 1"

# A death in every VM: after TH_MAX_STARTS VMs the cases left fail as not run.
TH_MAX_STARTS=3
VM_PLAN=("125 b" "125 c" "125 d" "0 -")
run budget a b c d e
check "start budget: three VMs at most" "$VM_N" "3"
check "start budget: d and e fail unrun" "$(notoks "$tmp/budget")" "d e"
TH_MAX_STARTS=4

# The runner inside stopped without its summary (status 1, a shell error in a case): charged
# to the running case like a death; the rest run on.
VM_PLAN=("1 b" "0 -")
run runner-died a b c
check "runner stopped: b and c run again" "$VM_N ${VM_ASKED[1]:-}" "2 b c"
check "runner stopped: all pass" "$passed $failed" "3 0"

# Any other status (a broken test host, not a death) ends the run at once.
VM_PLAN=("2 b" "0 -")
run broken a b c
check "other status: no restart" "$VM_N $(notoks "$tmp/broken")" "1 b c"

# ---- scripts/lib/testhost-faults.sh: which failed cases show a test-host signature ----
# sig NAME OUT-TEXT ERR-TEXT [raw]: TF_WHY after a case whose only VM printed OUT-TEXT on its
# console (and a newline, unless raw) and ERR-TEXT on stderr (no sampler: the statistics file is left empty).
sig() {
	rm -rf "$tmp/tf"; mkdir -p "$tmp/tf"
	TF_DIR=$tmp/tf TF_T0=0 TF_SAMPLER=''
	: >"$TF_DIR/tf-samples"; : >"$TF_DIR/tf-before"
	if [ "${4:-}" = raw ]; then printf '%s' "$2"; else printf '%s\n' "$2"; fi >"$TF_DIR/$1.out"
	printf '%s\n' "$3" >"$TF_DIR/$1.err"
	tf_case_stop
	TF_DIR=''
}
boot='[    0.000000] Linux version 6.1.0-57-cloud-amd64'
oops() { printf '%s\n[    1.561659] RIP: %s\n[    1.561659] Kernel panic - not syncing: Attempted to kill the idle task!' "$boot" "$1"; }
sig gdb-linux "$(oops '33b14300:0x891fb')" 'mvm: guest reset'
check "fault: panic with a 32-bit RIP selector before userspace" "${TF_WHY%%:*}" "early panic with a corrupted register frame"
sig oops-kernel "$(oops '0010:start_kernel+0x1c')" 'mvm: guest reset'
check "fault: panic with the kernel's selector is mvm's to explain" "$TF_WHY" ""
sig oops-late "$(printf 'MVM-GUEST-READY\n%s' "$(oops '33b14300:0x891fb')")" 'mvm: guest reset'
check "fault: a panic after userspace started is not the early signature" "$TF_WHY" ""
sig early-tf "$boot" 'mvm: guest triple fault (KVM_EXIT_SHUTDOWN)'
check "fault: shutdown before userspace" "${TF_WHY%%:*}" "early triple fault"
ready=$(printf '%s\nMVM-GUEST-READY\nMVM-COUNT=8' "$boot")
late_tf() { printf 'mvm: error: vCPU %s of %s: guest triple fault (KVM_EXIT_SHUTDOWN): the CPU would reset; register state:' "$1" "$2"; }
sig smp-tf "$ready" "$(late_tf 1 2)"
check "fault: shutdown of a 2-vCPU guest in userspace" "${TF_WHY%%:*}" "late triple fault on 2 vCPUs"
sig smp-tf0 "$ready" "$(late_tf 0 4)"
check "fault: vCPU 0 of 4 counts too" "${TF_WHY%%:*}" "late triple fault on 4 vCPUs"
sig up-tf "$ready" "$(late_tf 0 1)"
check "fault: a 1-vCPU Debian guest's shutdown in userspace" "${TF_WHY%%:*}" "late triple fault of Debian's kernel"
sig restored-tf "$(printf 'MVM-COUNT=9 T=1796569702\nMVM-COUNT=10 T=1796569703')" "$(late_tf 0 1)"
check "fault: a restored Debian guest's shutdown" "${TF_WHY%%:*}" "late triple fault of Debian's kernel"
sig tiny-tf "$(printf 'MVM-TICK 1\nMVM-TICK 2')" "$(late_tf 0 1)"
check "fault: a tiny guest's triple fault is mvm's to explain" "$TF_WHY" ""
sig panic-mid "$(printf '%s\nMVM-GUEST-READY\n[    3.602926]  ? srso_return_thunk+0x5/0x10\r\n[    3.6' "$boot")" "$(late_tf 0 1)" raw
check "fault: shutdown in the middle of a console line" "${TF_WHY%%:*}" "triple fault inside a console write"
sig panic-cr "$(printf '%s\nMVM-GUEST-READY\n[    3.602926]  ? srso_return_thunk+0x5/0x10\r' "$boot")" "$(late_tf 0 1)" raw
check "fault: shutdown between a line's CR and its LF" "${TF_WHY%%:*}" "triple fault inside a console write"
sig user-mid "$(printf '%s\nMVM-GUEST-READY\nMVM-COUNT=8' "$boot")" "$(late_tf 0 1)" raw
check "fault: a userspace line cut short is not a console write of the kernel's" "${TF_WHY%%:*}" "late triple fault of Debian's kernel"
sig clean "$(printf '%s\nMVM-GUEST-READY' "$boot")" ''
check "fault: a clean boot has no signature" "$TF_WHY" ""

echo "$r_pass passed, $r_fail failed"
[ "$r_fail" -eq 0 ]
