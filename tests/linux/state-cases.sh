# tests/linux/state-cases.sh - the KVM state cases of tests/linux/run.sh (sourced by it; uses $mvm,
# $work, ok and notok): a vCPU and its VM saved, restored into a fresh VM, compared, run on.

STATE_CASES=(kvm-state-roundtrip)

# The test program is built beside mvm (make: build/tests/kvm/state_roundtrip, or build-asan/...)
# and shipped into the test host at the same path.
state_roundtrip_bin() { echo "$(dirname "$mvm")/tests/kvm/state_roundtrip"; }

# tests/kvm/state_roundtrip.c prints one line per check and "N passed, M failed"; its lines are
# shown indented so they are not counted as this script's cases.
case_kvm-state-roundtrip() {
	local bin out rc nfail
	bin=$(state_roundtrip_bin)
	[ -x "$bin" ] || { notok kvm-state-roundtrip "$bin not found or not executable (run make)"; return; }
	out=$work/kvm-state-roundtrip.out
	timeout 60 "$bin" >"$out" 2>&1
	rc=$?
	sed 's/^/#   /' "$out"
	nfail=$(grep -c '^not ok' "$out")
	if [ $rc -eq 124 ]; then notok kvm-state-roundtrip "$bin still running after 60 s"
	elif grep -qaE 'AddressSanitizer|runtime error' "$out"; then notok kvm-state-roundtrip "a sanitizer report"
	elif ! grep -qE '^[1-9][0-9]* passed, 0 failed$' "$out"; then
		notok kvm-state-roundtrip "$nfail check(s) failed, exit status $rc"
	elif [ $rc -ne 0 ]; then notok kvm-state-roundtrip "exit status $rc with every check passed"
	else ok kvm-state-roundtrip; fi
}
