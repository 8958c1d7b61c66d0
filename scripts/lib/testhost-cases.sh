# scripts/lib/testhost-cases.sh - run a test script's cases in a test host VM, and keep a hung
# case or a hung test host from eating the whole CI budget (source it; bash only).
# shellcheck shell=bash
#
# Used by tests/linux/run.sh and tests/adversarial/run.sh, which both print `ok NAME`,
# `not ok NAME: why` or `SKIP NAME: why` per case with passed/failed/skipped and notok() from
# scripts/lib/tap.sh.
#
# th_run_cases BUDGET IDLE TMPDIR: runs TH_INNER (the script again, with --direct) inside one test
#   host VM (tests/testhost/run.sh with TH_ARGS: its --file/--env options), with --only for each
#   name in TH_ONLY. BUDGET bounds the whole VM; IDLE bounds the time with no console output (a
#   test host that stops printing has hung: seen once for 50 minutes in CI). When the VM died
#   (125) or hung (124), the cases of TH_CASES it did not finish run on in a fresh one (up to
#   TH_MAX_STARTS VMs in all), and a case that was running when TH_CASE_DEATHS of them stopped
#   fails.
#   Sets TH_DONE=1 when the first VM ran everything and printed the inner summary (the caller
#   then exits with TH_RC); otherwise adds the counts to passed/failed/skipped and calls notok
#   for what never finished. tests/harness/testhost-cases.sh checks these rules.
#
# th_case_watchdog SECS / th_case_watchdog_stop: inside the test host, around one case: if the
#   case still runs after SECS, print the state of every mvm process and thread (state, wchan,
#   kernel stack) and SIGKILL them, so the case's own waits end and the run goes on.

TH_ARGS=() TH_INNER=() TH_ONLY=() TH_CASES=() TH_DONE=0 TH_RC=0
TH_MAX_STARTS=${MVM_TESTHOST_STARTS:-8}   # test host VMs per th_run_cases, the first included
# Test host deaths one case may see before it fails. Three, not two: a case that makes many
# exits (api-serial-stall's serial storm: ~6,000 a second for a minute or more) meets the test
# host's own panic often enough that one CI run saw it twice in a row in the same case.
TH_CASE_DEATHS=3

th_finished() { grep -qE "^(ok|not ok|SKIP) $1(:|\$)" "$2"; }
# Add the result lines a test host printed to LOG to passed/failed/skipped.
th_tally() {
	local p f s
	# A VM killed before it wrote its log leaves no file: nothing to count (and no empty
	# operand for the arithmetic, whose error once let a runner fall through to running its
	# cases on the host itself).
	p=$(grep -c '^ok ' "$1" 2>/dev/null) || p=0
	f=$(grep -c '^not ok ' "$1" 2>/dev/null) || f=0
	s=$(grep -c '^SKIP ' "$1" 2>/dev/null) || s=0
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

# th_vm LOG ONLY-NAMES...: one test host VM; its status in TH_RC.
th_vm() {
	local log=$1 c only=(); shift
	for c in "$@"; do only+=(--only "$c"); done
	# The heartbeat (a line from the test host's /init every 10 s) finds a hung test host in
	# 60 s; the idle timeout, longer than a case's watchdog, stays as the backstop (CI's
	# QEMU 10.0 test host that hung on 2026-12-06 cost 330 s of silence before it was killed).
	"$MVM_ROOT/tests/testhost/run.sh" --timeout "$TH_BUDGET" --idle-timeout "$TH_IDLE" \
		--heartbeat-timeout "${MVM_TESTHOST_HEARTBEAT:-60}" --log "$log" \
		"${TH_ARGS[@]}" -- "${TH_INNER[@]}" "${only[@]}"
	TH_RC=$?
}

th_run_cases() {
	TH_BUDGET=$1 TH_IDLE=$2
	local tmp=$3 c rest=() left=() starts=1 running
	local -A died_in=()
	TH_DONE=0
	th_vm "$tmp/console" "${TH_ONLY[@]}"
	TH_LOG=$tmp/console
	if grep -qE '^[0-9]+ passed, [0-9]+ failed' "$tmp/console" && [ "$TH_RC" -le 1 ]; then
		TH_DONE=1
		return
	fi
	th_tally "$tmp/console"
	for c in "${TH_CASES[@]}"; do th_finished "$c" "$tmp/console" || rest+=("$c"); done
	while :; do
		[ ${#rest[@]} -gt 0 ] || { [ "$TH_RC" -le 1 ] || notok testhost "tests/testhost/run.sh exited $TH_RC"; return; }
		# The runner inside stopped without its summary (a case's shell error, say set -u on
		# an unset variable): like a death, the case running then is charged with it.
		if [ "$TH_RC" = 1 ] && ! grep -qE '^[0-9]+ passed, [0-9]+ failed' "$TH_LOG"; then
			echo "# the case runner inside the test host stopped during: ${rest[0]} (no summary line)"
			TH_RC=125
		fi
		if [ "$TH_RC" -ne 124 ] && [ "$TH_RC" -ne 125 ]; then
			for c in "${rest[@]}"; do
				notok "$c" "the test host VM stopped before this case finished (tests/testhost/run.sh exited $TH_RC)"
			done
			return
		fi
		# 125: the test host died (QEMU's SVM emulation resets its L1 now and then, and its
		# kernel has been seen to panic on a corrupted stack); 124: it went silent. The cases
		# run in order, so the first unfinished one was running: it runs again unless this was
		# its TH_CASE_DEATHS-th; the others run on in a fresh test host, up to TH_MAX_STARTS
		# test hosts in all.
		running=${rest[0]}
		died_in[$running]=$(( ${died_in[$running]:-0} + 1 ))
		if [ "${died_in[$running]}" -ge "$TH_CASE_DEATHS" ]; then
			notok "$running" "the test host VM stopped ${died_in[$running]} times while this case ran (tests/testhost/run.sh exited $TH_RC)"
			rest=("${rest[@]:1}")
			[ ${#rest[@]} -gt 0 ] || return
		fi
		if [ "$starts" -ge "$TH_MAX_STARTS" ]; then
			for c in "${rest[@]}"; do
				notok "$c" "not run: the test host VM stopped $starts times (tests/testhost/run.sh exited $TH_RC)"
			done
			return
		fi
		starts=$((starts + 1))
		echo "# the test host VM $([ "$TH_RC" -eq 124 ] && echo hung || echo died) during: $running;" \
			"running the ${#rest[@]} case(s) left in a fresh test host VM ($starts of at most $TH_MAX_STARTS)"
		th_vm "$tmp/console$starts" "${rest[@]}"
		TH_LOG=$tmp/console$starts
		th_tally "$tmp/console$starts"
		left=()
		for c in "${rest[@]}"; do th_finished "$c" "$tmp/console$starts" || left+=("$c"); done
		rest=("${left[@]}")
	done
}

# Every process whose command name starts with mvm: its threads' states, wait channels and
# kernel stacks (the test host is root with /proc/PID/stack), then SIGKILL.
th_dump_and_kill_mvm() {
	local p t comm
	for p in /proc/[0-9]*; do
		comm=$(cat "$p/comm" 2>/dev/null) || continue
		case "$comm" in mvm*) ;; *) continue ;; esac
		echo "# stuck: pid ${p#/proc/} ($comm): $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null | head -c 200)"
		for t in "$p"/task/*; do
			echo "#   thread ${t##*/} $(cat "$t/comm" 2>/dev/null): $(sed -n 's/^State:\t//p' "$t/status" 2>/dev/null)," \
				"wchan $(cat "$t/wchan" 2>/dev/null)"
			sed -n '1,8s/^/#     /p' "$t/stack" 2>/dev/null
		done
		kill -KILL "${p#/proc/}" 2>/dev/null
	done
}

TH_WD_PID=
th_case_watchdog() {
	local secs=$1 name=$2
	(
		trap 'kill $s 2>/dev/null; exit 0' TERM
		sleep "$secs" & s=$!
		wait $s
		echo "# watchdog: $name still running after $secs s; mvm's state, then SIGKILL:"
		th_dump_and_kill_mvm
	) &
	TH_WD_PID=$!
}
th_case_watchdog_stop() {
	[ -n "$TH_WD_PID" ] || return 0
	kill -TERM "$TH_WD_PID" 2>/dev/null
	wait "$TH_WD_PID" 2>/dev/null
	TH_WD_PID=
}
