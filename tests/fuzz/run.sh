#!/usr/bin/env bash
# tests/fuzz/run.sh - build every libFuzzer target (make fuzz) and run each for a fixed number of
# executions from its seed corpus; what CI runs (a step of scripts/test.sh).
#
# Usage: tests/fuzz/run.sh [--build DIR] [--scale F] [--only TARGET]... [--time SECONDS]
#   --build DIR   build folder (default: build; the targets land in DIR/fuzz/)
#   --scale F     multiply every target's execution count by F (e.g. 0.1 for a smoke run)
#   --only T      run only target T (fuzz_vq, fuzz_boot, ...); repeatable
#   --time S      run each target for S seconds instead of a count, and print its execs/s
#                 (how the README's table is measured; not for CI)
# Each target runs with a fixed seed (-seed=1), so a CI failure reproduces. New inputs go to a
# temporary folder, never into tests/fuzz/corpus/. A target that crashes, leaks, times out on one
# input (-timeout=10) or breaks a contract check is `not ok`, and the crashing input is printed
# (hex dump and base64) with the end of libFuzzer's report; keep it with
#   echo BASE64 | base64 -d > tests/fuzz/corpus/<target>/crash-<what>
# Prints `ok`/`not ok` per target and ends with `N passed, N failed`. Needs clang (libFuzzer);
# without it every target is `not ok`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1

build=build scale=1 time= only=()
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift ;;
	--scale) scale=$2; shift ;;
	--only) only+=("$2"); shift ;;
	--time) time=$2; shift ;;
	-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--build DIR] [--scale F] [--only TARGET]... [--time SECONDS]" >&2; exit 2 ;;
	esac
	shift
done

# target  executions  extra libFuzzer flags. Counts are set so that all targets together take
# about 2 minutes of one core on this project's 2-core machine (README, Testing: executions per
# second); the slowest first, so that two at a time end together.
targets=(
	"fuzz_balloon  30000 "
	"fuzz_boot    100000 -max_len=65536"
	"fuzz_vsock     3000 "
	"fuzz_net      15000 "
	"fuzz_api      60000 -dict=tests/fuzz/config.dict"
	"fuzz_console   8000 "
	"fuzz_blk     250000 "
	"fuzz_vq      250000 "
	"fuzz_config  300000 -dict=tests/fuzz/config.dict"
	"fuzz_hcall   300000 "
	"fuzz_snap    300000 -max_len=4096"
	"fuzz_stream  150000 "
	"fuzz_http    500000 -max_len=80000"
)

passed=0 failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1; then
	for t in "${targets[@]}"; do
		echo "not ok ${t%% *}: ${FUZZ_CC:-clang} not found (scripts/deps.sh installs clang)"
		failed=$((failed + 1))
	done
	echo "$passed passed, $failed failed"
	exit 1
fi
if ! make -j"$(nproc 2>/dev/null || echo 2)" BUILD="$build" fuzz >"$work/build.log" 2>&1; then
	tail -n 30 "$work/build.log"
	echo "not ok build: make BUILD=$build fuzz failed"
	echo "$passed passed, 1 failed"
	exit 1
fi

# run_target NAME RUNS FLAGS: one target; its verdict lines in $work/NAME.verdict.
run_target() {
	local name=$1 runs=$2 flags=$3 short bin seeds new art limit start rc took done_runs rate crash
	short=${name#fuzz_}
	bin=$build/fuzz/$name
	seeds=tests/fuzz/corpus/$short
	new=$work/$short/new art=$work/$short/art/
	mkdir -p "$new" "$art"
	[ -d "$seeds" ] || seeds=
	runs=$(awk -v r="$runs" -v s="$scale" 'BEGIN { n = int(r * s); print n < 1 ? 1 : n }')
	if [ -n "$time" ]; then limit=(-max_total_time="$time"); else limit=(-runs="$runs"); fi
	start=$(date +%s.%N)
	# shellcheck disable=SC2086
	"$bin" -seed=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${limit[@]}" $flags \
		-artifact_prefix="$art" "$new" ${seeds:+"$seeds"} >"$work/$short.log" 2>&1
	rc=$?
	took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$short.log" | tail -n1)
	rate=$(awk -v n="${done_runs:-0}" -v t="$took" 'BEGIN { printf "%d", (t > 0 ? n / t : 0) }')
	crash=$(find "$art" -type f | head -n1)
	{
		if [ $rc -eq 0 ] && [ -z "$crash" ]; then
			echo "ok $name (${done_runs:-?} executions, $took s, ${rate:-?} exec/s)"
		else
			echo "not ok $name: exit $rc after ${done_runs:-?} executions ($took s)"
			grep -E 'ERROR|contract broken|SUMMARY|^    #[0-9] ' "$work/$short.log" | head -n 25 | sed 's/^/#   /'
			if [ -n "$crash" ]; then
				echo "#   input $(basename "$crash") ($(stat -c %s "$crash") bytes):"
				od -A x -t x1z -v "$crash" | head -n 40 | sed 's/^/#     /'
				echo "#   base64: $(base64 -w0 "$crash" | cut -c1-4000)"
			fi
		fi
	} >"$work/$name.verdict"
}

# Targets run as many at a time as there are cores (each is one process on one core; the counts
# are executions, not seconds, so this changes no target's work). --time measures execs/s, so
# there they run one at a time.
jobs=$(nproc 2>/dev/null || echo 2)
[ -n "$time" ] && jobs=1
names=()
for t in "${targets[@]}"; do
	read -r name runs flags <<<"$t"
	if [ ${#only[@]} -gt 0 ]; then
		want=0
		for o in "${only[@]}"; do [ "$o" = "$name" ] && want=1; done
		[ $want -eq 1 ] || continue
	fi
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
	run_target "$name" "$runs" "$flags" &
	names+=("$name")
done
wait
for name in "${names[@]}"; do
	cat "$work/$name.verdict" 2>/dev/null || echo "not ok $name: its runner left no verdict"
	if grep -q '^ok ' "$work/$name.verdict" 2>/dev/null; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
