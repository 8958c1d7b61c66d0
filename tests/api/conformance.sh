#!/usr/bin/env bash
# tests/api/conformance.sh - tests/api/conformance.tsv against a real `mvm run --api-sock`
# process (curl over its Unix socket; no KVM needed: nothing is started). The unit test
# test_api_conformance checks the same rows through api_route(); this also covers the HTTP
# server (server.c) between curl and the routes.
#
# Usage: tests/api/conformance.sh [--mvm PATH]   (default: build/mvm of this tree)
# Each "= scenario" of the table gets a fresh mvm. Prints `ok`/`not ok` per row that fails or
# passes and ends with `N passed, N failed`; exits non-zero on any failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mvm=$root/build/mvm
while [ $# -gt 0 ]; do
	case "$1" in
	--mvm) mvm=$2; shift 2 ;;
	*) echo "usage: $0 [--mvm PATH]" >&2; exit 2 ;;
	esac
done
command -v curl >/dev/null || { echo "not ok conformance: curl is not installed"; exit 1; }
[ -x "$mvm" ] || { echo "not ok conformance: $mvm is not built"; exit 1; }

work=$(mktemp -d /tmp/mvm-conf-XXXXXX)
pid=
stop() { [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }; pid=; }
trap 'stop; rm -rf "$work"' EXIT
echo 'not a kernel, but a regular file that exists' >"$work/file.img"
sock=$work/api.sock passed=0 failed=0 n=0

start() {
	stop
	rm -f "$sock"
	"$mvm" run --api-sock "$sock" </dev/null >>"$work/mvm.out" 2>&1 &
	pid=$!
	for _ in $(seq 50); do [ -S "$sock" ] && return 0; sleep 0.1; done
	echo "not ok conformance: mvm did not create its socket: $(tail -3 "$work/mvm.out")"
	exit 1
}
expand() { local s=${1//@FILE@/$work/file.img}; s=${s//@DIR@/$work}; printf '%s' "${s//@MISSING@/$work/no-such-file}"; }

while IFS=$'\t' read -r fc want_status method path body want note; do
	n=$((n + 1))
	case "$fc" in ''|'#'*) continue ;; '='*) start; continue ;; esac
	args=(-s -m 10 --unix-socket "$sock" -o "$work/body" -w '%{http_code}' -X "$method")
	[ "$body" = - ] || args+=(-H 'Content-Type: application/json' --data-binary "$(expand "$body")")
	got=$(curl "${args[@]}" "http://localhost$path")
	answer=$(cat "$work/body" 2>/dev/null)
	why=
	if [ "$got" != "$want_status" ]; then why="got $got, the table says $want_status"
	elif [ "$got" -ge 400 ] && ! grep -q '"fault_message"' <<<"$answer"; then why="$got without a fault_message"
	elif [ "$want" != - ] && ! grep -qF -- "$(expand "$want")" <<<"$answer"; then why="the answer lacks '$want'"
	fi
	if [ -n "$why" ]; then
		echo "not ok conformance.tsv:$n $method $path ($note): $why: $(head -c 200 <<<"$answer")"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
	: "$fc"
done <"$here/conformance.tsv"
stop
if grep -qaE 'AddressSanitizer|runtime error|LeakSanitizer' "$work/mvm.out"; then
	echo "not ok conformance: mvm printed a sanitizer report: $(grep -aE -m1 'Sanitizer|runtime error' "$work/mvm.out")"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
