# scripts/lib/tap.sh - a test runner's result lines and their counts (source it; bash only).
# shellcheck shell=bash
#
# Contract: ok NAME, notok NAME WHY and skip NAME WHY print `ok NAME`, `not ok NAME: WHY` and
# `SKIP NAME: WHY` (TAP-like, without numbers) and count them in passed, failed and skipped,
# which sourcing sets to 0. summary prints `N passed, M failed` (`, K skipped` when some were)
# and exits the script: 0 when nothing failed, 1 otherwise. skip_all WHY NAME... skips every
# NAME, except with CI=true, where a case that cannot run is a failure. scripts/test.sh and
# scripts/lib/testhost-cases.sh read these lines and counters. Used by tests/linux/run.sh and
# tests/adversarial/run.sh (and the case files they source).

passed=0 failed=0 skipped=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
notok() { echo "not ok $1: $2"; failed=$((failed + 1)); }
skip() { echo "SKIP $1: $2"; skipped=$((skipped + 1)); }
skip_all() {
	local why=$1 c; shift
	for c in "$@"; do
		if [ "${CI:-}" = true ]; then notok "$c" "$why"; else skip "$c" "$why"; fi
	done
}
summary() {
	local s="$passed passed, $failed failed"
	[ $skipped -gt 0 ] && s="$s, $skipped skipped"
	echo "$s"
	[ $failed -eq 0 ]
	exit $?
}
