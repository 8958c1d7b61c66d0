# tests/linux/obs-cases.sh - the observability cases of tests/linux/run.sh (sourced by it; uses
# its vm_* helpers, tiny_guest, $kernel, $initrd, $work and $BASE_CMDLINE): --stats with KVM's
# binary statistics, --trace-exits under its rate limit, --metrics JSON lines, --profile samples
# named by scripts/profile-report.sh.

OBS_CASES=(obs-stats obs-trace obs-metrics obs-profile obs-profile-linux)

# A Linux boot to an idle shell with --stats, then poweroff: mvm's table, then KVM's own
# counters of the VM and the vCPUs. The guest did port I/O and, idle for 2 s at the shell,
# halted (a boot straight to poweroff under the test host's emulation never idles: no HLT).
case_obs-stats() {
	set_echo
	open_session obs-stats "${ECHO[@]}" --stats || return
	sleep 2
	close_session
	local err halt io
	err=$(tr -d '\r' <"$VM_ERR")
	halt=$(awk '/KVM statistics of the vCPUs/ { t = 1 } t && $1 == "halt_exits" { print $2; exit }' <<<"$err")
	io=$(awk '/KVM statistics of the vCPUs/ { t = 1 } t && $1 == "io_exits" { print $2; exit }' <<<"$err")
	sed -n '/KVM statistics/,$p' <<<"$err" | sed 's/^/#   /'
	if [ "$VM_RC" != 0 ]; then fail_case obs-stats "mvm exited $VM_RC, expected 0"
	elif ! grep -q '^mvm: KVM statistics of the VM' <<<"$err"; then fail_case obs-stats "no 'KVM statistics of the VM' table"
	elif [ "${halt:-0}" -le 0 ] || [ "${io:-0}" -le 0 ]; then
		fail_case obs-stats "KVM's halt_exits '${halt:-none}' and io_exits '${io:-none}': want both > 0"
	elif grep -qaE 'AddressSanitizer|runtime error' <<<"$err"; then fail_case obs-stats "mvm reported an error"
	else ok obs-stats; fi
}

# The port sweep makes ~24,000 exits in well under a second: the first 1000 are traced, the
# rest are counted in "N exits not traced" lines; the guest still powers off cleanly.
case_obs-trace() {
	local f traced drops
	f=$(tiny_guest port-sweep) ||
		{ notok obs-trace "cannot build the guest (tests/guests/mk-pvh-guest.py needs python3)"; return; }
	vm_start obs-trace /dev/null run --trace-exits --kernel "$f"
	if ! vm_wait_exit "$BOOT_TIMEOUT"; then time_note obs-trace; fail_case obs-trace "mvm still running $BOOT_TIMEOUT s after start"; return; fi
	time_note obs-trace
	local secs; secs=$(vm_secs)
	traced=$(grep -ac '^mvm: exit vcpu0 IO \(in\|out\) port 0x[0-9a-f]\{4\} size [124] data 0x' "$VM_ERR")
	drops=$(tr -d '\r' <"$VM_ERR" | awk '/^mvm: [0-9]+ exits not traced/ { n += $2 } END { print n + 0 }')
	echo "# obs-trace: $traced lines traced, $drops exits not traced"
	grep -a 'not traced' "$VM_ERR" | tr -d '\r' | head -n 3 | sed 's/^/#   /'
	if [ "$VM_RC" != 0 ]; then fail_case obs-trace "mvm exited $VM_RC, expected 0"
	elif [ "$traced" -lt 100 ]; then fail_case obs-trace "only $traced 'mvm: exit vcpu0 IO ...' lines"
	elif awk -v n="$traced" -v s="$secs" 'BEGIN { exit !(n > 1000 + 1000 * s + 100) }'; then
		fail_case obs-trace "$traced traced lines in $secs s: more than the rate limit (1000/s, burst 1000) allows"
	elif [ "$drops" -lt 10000 ]; then fail_case obs-trace "'exits not traced' lines count $drops, want >= 10000"
	elif ! grep -qa '^mvm: exit vcpu0 MMIO \(read\|write\) 0x' "$VM_ERR" && [ "$traced" -lt 1000 ]; then
		fail_case obs-trace "no MMIO line and fewer than 1000 lines"
	elif grep -qaE 'AddressSanitizer|runtime error' "$VM_ERR"; then fail_case obs-trace "mvm reported an error"
	else ok obs-trace; fi
}

# A Linux boot with --metrics FILE and a 1 s interval: periodic lines and the final one at stop,
# each one JSON object with the documented keys (no jq here: grep and brace counts).
case_obs-metrics() {
	local m=$work/metrics.json lines bad
	MVM_METRICS_INTERVAL_MS=1000 vm_start obs-metrics /dev/null run --kernel "$kernel" \
		--initrd "$initrd" --metrics "$m" --cmdline "$BASE_CMDLINE mvmtest=poweroff"
	if ! vm_wait_exit "$BOOT_TIMEOUT"; then time_note obs-metrics; fail_case obs-metrics "mvm still running $BOOT_TIMEOUT s after start"; return; fi
	time_note obs-metrics
	lines=$(grep -c . "$m" 2>/dev/null || echo 0)
	# Every line: one object, braces and brackets balanced, the keys in place.
	# (bracket expressions: busybox awk rejects a bare { in a regex)
	bad=$(awk '{ o = gsub(/[{]/, "{"); c = gsub(/[}]/, "}"); a = gsub(/[[]/, "["); b = gsub(/[]]/, "]");
		if (o != c || a != b || substr($0, 1, 1) != "{" || substr($0, length($0), 1) != "}") n++ }
		END { print n + 0 }' "$m" 2>/dev/null)
	echo "# obs-metrics: $lines lines; the last:"
	tail -n 1 "$m" 2>/dev/null | fold -w 200 | sed 's/^/#   /'
	if [ "$VM_RC" != 0 ]; then fail_case obs-metrics "mvm exited $VM_RC, expected 0"
	elif [ "$lines" -lt 2 ]; then fail_case obs-metrics "$lines lines in $m, want the periodic ones and the final one"
	elif [ "$bad" != 0 ]; then fail_case obs-metrics "$bad lines are not one balanced JSON object"
	elif ! tail -n 1 "$m" | grep -q '^{"timestamp_ms":[0-9]*,"uptime_ms":[0-9]*,"vcpus":\[{"id":0,"exits":{"IO":[1-9]'; then
		fail_case obs-metrics "the last line does not start with timestamp_ms, uptime_ms, vcpus[0].exits.IO"
	elif ! tail -n 1 "$m" | grep -q '"exit_handler_ns":{"IO":[1-9]'; then fail_case obs-metrics "no handler time for IO"
	elif ! tail -n 1 "$m" | grep -q '"kvm":{[^}]*"io_exits":[1-9]'; then fail_case obs-metrics "no vCPU kvm.io_exits > 0"
	elif ! tail -n 1 "$m" | grep -q '"kvm_stats_available":true,"kvm_vm":{'; then fail_case obs-metrics "no kvm_vm object"
	elif ! tail -n 1 "$m" | grep -q '"unclaimed":{"port_io":[0-9]*,"mmio":[0-9]*},"devices":{'; then
		fail_case obs-metrics "no unclaimed/devices objects"
	else ok obs-metrics; fi
}

# The profile guest (guest/tests/profile.c) spends three units of work in prof_hot for each one
# in prof_cold, at ring 3, for 1.5 s: the sampled profile must say so. Its symbols come from nm
# outside the test host (sdk-profile.syms), else from nm here.
case_obs-profile() {
	local f syms prof=$work/tiny.prof report hot cold named total cpl3
	f=$(sdk_guest profile) || { notok obs-profile "no build/guest/tests/profile.elf (run make)"; return; }
	syms=${f%.elf}.syms
	if [ ! -s "$syms" ]; then
		syms=$work/profile.syms
		nm "$f" >"$syms" 2>/dev/null || { notok obs-profile "no symbols of $f (nm missing)"; return; }
	fi
	vm_start obs-profile /dev/null run --kernel "$f" --cmdline ms=1500 --profile "$prof"
	if ! vm_wait_exit "$BOOT_TIMEOUT"; then time_note obs-profile; fail_case obs-profile "mvm still running $BOOT_TIMEOUT s after start"; return; fi
	time_note obs-profile
	report=$(bash "$MVM_ROOT/scripts/profile-report.sh" --top 5 "$prof" "$syms" 2>&1)
	sed 's/^/#   /' <<<"$report"
	total=$(grep -vc '^#' "$prof")
	cpl3=$(awk '!/^#/ && $4 == 3 { n++ } END { print n + 0 }' "$prof")
	hot=$(awk '$3 == "prof_hot" { print $1 }' <<<"$report")
	cold=$(awk '$3 == "prof_cold" { print $1 }' <<<"$report")
	named=$(( ${hot:-0} + ${cold:-0} ))
	if [ "$VM_RC" != 0 ]; then fail_case obs-profile "mvm exited $VM_RC, expected 0"
	elif ! grep -qa '^profile guest: [0-9]* rounds' "$VM_OUT"; then fail_case obs-profile "the guest did not finish its rounds"
	elif ! head -n1 "$prof" | grep -q '^# mvm profile v1 hz=250 vcpus=1$'; then fail_case obs-profile "no header line in $prof"
	elif ! tail -n1 "$prof" | grep -q "^# end samples=$total "; then fail_case obs-profile "the closing line does not count the $total sample lines: $(tail -n1 "$prof")"
	elif [ "$total" -lt 50 ]; then fail_case obs-profile "$total samples in 1.5 s at 250 Hz: want >= 50"
	elif [ $((cpl3 * 10)) -lt $((total * 9)) ]; then fail_case obs-profile "$cpl3 of $total samples at CPL 3: the guest runs at ring 3"
	elif [ $((named * 2)) -lt "$total" ]; then fail_case obs-profile "prof_hot $hot + prof_cold $cold of $total samples: want at least half"
	elif [ "${hot:-0}" -le $(( 2 * ${cold:-0} )) ]; then fail_case obs-profile "prof_hot $hot against prof_cold $cold samples: its 3:1 work should show as more than 2:1"
	elif grep -qaE 'AddressSanitizer|runtime error' "$VM_ERR"; then fail_case obs-profile "mvm reported an error"
	else ok obs-profile; fi
}

# A Linux boot under --profile with nokaslr that writes its own /proc/kallsyms to a disk
# (mvmtest=kallsyms): the samples fall in the kernel's code and the guest's userspace, and the
# symbols name most of them (what README: Profiling a guest tells users to do).
case_obs-profile-linux() {
	local img=$work/kallsyms.img ks=$work/kallsyms.txt prof=$work/linux.prof report total user unknown n
	truncate -s 16M "$img"
	vm_start obs-profile-linux /dev/null run --kernel "$kernel" --initrd "$initrd" --disk "$img" \
		--cmdline "$BASE_CMDLINE nokaslr mvmtest=kallsyms" --profile "$prof,hz=100"
	if ! vm_wait_exit "$BOOT_TIMEOUT"; then time_note obs-profile-linux; fail_case obs-profile-linux "mvm still running $BOOT_TIMEOUT s after start"; return; fi
	time_note obs-profile-linux
	tr -d '\0' <"$img" >"$ks"
	n=$(grep -ac '^MVM-KALLSYMS=' "$VM_OUT")
	report=$(bash "$MVM_ROOT/scripts/profile-report.sh" --top 8 "$prof" "$ks" 2>&1)
	sed 's/^/#   /' <<<"$report"
	total=$(grep -vc '^#' "$prof")
	user=$(awk '$3 == "[user]" { print $1 }' <<<"$report")
	unknown=$(awk '$3 == "[unknown]" { print $1 }' <<<"$report")
	if [ "$VM_RC" != 0 ]; then fail_case obs-profile-linux "mvm exited $VM_RC, expected 0"
	elif [ "$n" != 1 ] || [ "$(wc -l <"$ks")" -lt 10000 ]; then fail_case obs-profile-linux "the guest wrote $(wc -l <"$ks") kallsyms lines (MVM-KALLSYMS lines: $n)"
	elif [ "$total" -lt 50 ]; then fail_case obs-profile-linux "$total samples: want >= 50"
	elif [ "${user:-0}" -lt 1 ]; then fail_case obs-profile-linux "no sample in the guest's userspace ([user])"
	elif [ $(( ${unknown:-0} * 2 )) -gt "$total" ]; then fail_case obs-profile-linux "${unknown:-0} of $total samples fall in no kernel symbol"
	elif grep -qaE 'AddressSanitizer|runtime error' "$VM_ERR"; then fail_case obs-profile-linux "mvm reported an error"
	else ok obs-profile-linux; fi
}
