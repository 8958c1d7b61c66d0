# tests/linux/api-cases.sh - the API cases of tests/linux/run.sh (sourced by it; uses its vm_*
# helpers, $mvm, $kernel, $initrd, $work and $BASE_CMDLINE): `mvm run --api-sock` driven with
# curl over a real Unix socket, and `mvm ctl` (its hidden `raw` command writes a request in
# pieces and prints the raw answer).
#
# api-errors, api-split, api-idle and api-1000 talk to an mvm that waits for InstanceStart (no
# guest needed); api-boot and api-pause boot the reference guest through the API.

API_CASES=(api-errors api-split api-idle api-1000 api-boot api-pause api-pause-stuck api-serial-stall api-cad)

API_SOCK=
# api METHOD PATH [JSON]: the status code on stdout, the body in $work/api.body.
api() {
	local m=$1 p=$2; shift 2
	if [ $# -gt 0 ]; then
		curl -s -m 10 --unix-socket "$API_SOCK" -o "$work/api.body" -w '%{http_code}' -X "$m" \
			-H 'Content-Type: application/json' --data-binary "$1" "http://localhost$p"
	else
		curl -s -m 10 --unix-socket "$API_SOCK" -o "$work/api.body" -w '%{http_code}' -X "$m" \
			"http://localhost$p"
	fi
}
api_body() { cat "$work/api.body" 2>/dev/null; }
# raw TEXT [ctl raw options]: printf-format TEXT to the socket, the answer on stdout.
raw() { local t=$1; shift; printf "$t" | "$mvm" ctl --api-sock "$API_SOCK" raw "$@" | tr -d '\r'; }

# Start `mvm run --api-sock` (stdin: $2, extra mvm args after) and wait for its socket.
api_start() {
	local name=$1 in=$2; shift 2
	API_SOCK=$work/$name.sock
	vm_start "$name" "$in" run --api-sock "$API_SOCK" "$@"
	for _ in $(seq 50); do
		[ -S "$API_SOCK" ] && return 0
		kill -0 "$VM_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail_case "$name" "mvm did not create $API_SOCK"
	vm_kill
	return 1
}
# Wait up to SECS from now (vm_wait_for counts from mvm's start) for REGEX in mvm's stdout.
api_wait() {
	local t0; t0=$(mvm_now)
	while :; do
		grep -qaE "$1" "$VM_OUT" && return 0
		kill -0 "$VM_PID" 2>/dev/null || { grep -qaE "$1" "$VM_OUT"; return; }
		awk -v a="$t0" -v b="$(mvm_now)" -v t="$2" 'BEGIN { exit !(b - a > t) }' && return 2
		sleep 0.2
	done
}
# Wait up to SECS from now for mvm to exit: 0 with VM_RC set, or 2 after killing it.
api_wait_exit() {
	local t0; t0=$(mvm_now)
	while [ -n "$VM_PID" ] && kill -0 "$VM_PID" 2>/dev/null; do
		if awk -v a="$t0" -v b="$(mvm_now)" -v t="$1" 'BEGIN { exit !(b - a > t) }'; then
			vm_kill; return 2
		fi
		sleep 0.2
	done
	vm_reap
	return 0
}
have_curl() { command -v curl >/dev/null 2>&1 || { skip "$1" "curl is not installed (scripts/deps.sh)"; return 1; }; }

# expect NAME WANT GOT WHAT: record the first mismatch in $bad.
bad=
expect() { [ -n "$bad" ] || [ "$2" = "$3" ] || bad="$4: got $3, expected $2 (body: $(api_body | head -c 200))"; }
expect_grep() { [ -n "$bad" ] || grep -qE "$1" <<<"$2" || bad="$3: $(head -c 300 <<<"$2" | tr '\n' ' ')"; }

case_api-errors() {
	have_curl api-errors || return
	api_start api-errors /dev/null || return
	local big=$work/big.json r
	bad=
	expect api-errors 400 "$(api PUT /machine-config '{"vcpu_count": 2,')" "truncated JSON"
	expect_grep '"fault_message"' "$(api_body)" "truncated JSON: no fault_message"
	expect api-errors 400 "$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128, "vcpus": 1}')" "unknown field"
	expect_grep 'vcpus' "$(api_body)" "unknown field: the fault does not name it"
	expect api-errors 400 "$(api PUT /machine-config '{"vcpu_count": "two", "mem_size_mib": 128}')" "wrong type"
	expect_grep 'vcpu_count' "$(api_body)" "wrong type: the fault does not name the field"
	expect api-errors 400 "$(api GET /no-such-path)" "unknown path"
	expect_grep "Invalid request method and/or path" "$(api_body)" "unknown path: fault"
	expect api-errors 400 "$(api PUT /drives/a/b '{}')" "id with a slash"
	expect api-errors 400 "$(api DELETE /machine-config)" "DELETE /machine-config"
	expect api-errors 400 "$(api GET /actions)" "GET /actions"
	expect api-errors 400 "$(api PATCH /vm '{"state": "Paused"}')" "pause before InstanceStart"
	expect api-errors 400 "$(api PUT /actions '{"action_type": "InstanceStart"}')" "InstanceStart without a boot source"
	expect_grep 'boot-source' "$(api_body)" "InstanceStart without a boot source: fault"
	expect api-errors 400 "$(api PUT /actions '{"action_type": "Reboot"}')" "unknown action"
	expect api-errors 400 "$(api PUT /drives/bad.id '{"drive_id": "bad.id", "path_on_host": "/x", "is_root_device": false, "is_read_only": true}')" "bad drive id"
	head -c 70000 /dev/zero | tr '\0' ' ' >"$big"
	expect api-errors 413 "$(curl -s -m 10 --unix-socket "$API_SOCK" -o "$work/api.body" -w '%{http_code}' \
		-X PUT --data-binary @"$big" http://localhost/machine-config)" "70000-byte body"
	expect api-errors 501 "$(curl -s -m 10 --unix-socket "$API_SOCK" -o "$work/api.body" -w '%{http_code}' \
		-X PUT -H 'Transfer-Encoding: chunked' --data-binary '{}' http://localhost/machine-config)" "chunked body"
	expect api-errors 431 "$(curl -s -m 10 --unix-socket "$API_SOCK" -o "$work/api.body" -w '%{http_code}' \
		-H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" http://localhost/)" "9000-byte header"
	r=$(raw 'GET /machine-config HTTP/1.1 extra\r\n\r\n')
	expect_grep '^HTTP/1.1 400 ' "$r" "malformed request line"
	r=$(raw 'get / HTTP/1.1\r\n\r\n')
	expect_grep '^HTTP/1.1 400 ' "$r" "lower-case method"
	r=$(raw 'GET / HTTP/1.1\nHost: x\n\n')
	expect_grep '^HTTP/1.1 400 ' "$r" "bare LF line ends"
	r=$(raw 'GET / HTTP/3.0\r\n\r\n')
	expect_grep '^HTTP/1.1 505 ' "$r" "HTTP/3.0"
	# A body without Content-Length: the request has none (400), and the body bytes are then a
	# malformed request line (400, connection closed).
	r=$(raw 'PUT /machine-config HTTP/1.1\r\nHost: x\r\n\r\n{"vcpu_count": 1, "mem_size_mib": 64}')
	expect_grep 'needs a JSON body' "$r" "body without Content-Length"
	[ -n "$bad" ] || [ "$(grep -o 'HTTP/1.1 400 ' <<<"$r" | wc -l)" = 2 ] || bad="body without Content-Length: expected two 400s: $r"
	# The configuration is unchanged by all of the above.
	expect api-errors 200 "$(api GET /machine-config)" "GET /machine-config"
	expect_grep '"vcpu_count": *1' "$(api_body)" "the refused requests changed machine-config"
	# A second mvm on the same socket is refused; after SIGKILL the stale socket is replaced.
	"$mvm" run --api-sock "$API_SOCK" </dev/null >"$work/api-errors.2.out" 2>&1; r=$?
	[ -n "$bad" ] || [ $r = 2 ] || bad="a second mvm on a live socket exited $r, expected 2"
	expect_grep 'another process is serving' "$(cat "$work/api-errors.2.out")" "second mvm: message"
	kill -KILL "$VM_PID"; vm_reap
	[ -n "$bad" ] || [ -S "$API_SOCK" ] || bad="the socket file went away after SIGKILL (cannot test the stale case)"
	api_start api-errors /dev/null || return
	expect api-errors 200 "$(api GET /)" "GET / after replacing a stale socket"
	vm_kill
	[ -n "$bad" ] || [ ! -e "$API_SOCK" ] || bad="mvm left $API_SOCK behind after SIGTERM"
	grep -qaE 'AddressSanitizer|runtime error' "$VM_ERR" && bad=${bad:-"mvm reported a sanitizer error"}
	if [ -n "$bad" ]; then fail_case api-errors "$bad"; else ok api-errors; fi
}

# A request written one byte at a time, 2 ms apart; two pipelined requests in 3-byte pieces.
case_api-split() {
	have_curl api-split || return
	api_start api-split /dev/null || return
	local body='{"vcpu_count": 2, "mem_size_mib": 300}' r
	bad=
	r=$(raw "PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Length: ${#body}\r\n\r\n$body" --chunk 1 --delay-ms 2)
	expect_grep '^HTTP/1.1 204 ' "$r" "PUT split into single bytes"
	r=$(raw 'GET /version HTTP/1.1\r\nHost: x\r\n\r\nGET /machine-config HTTP/1.1\r\nHost: x\r\n\r\n' --chunk 3 --delay-ms 1)
	[ -n "$bad" ] || [ "$(grep -o 'HTTP/1.1 200 ' <<<"$r" | wc -l)" = 2 ] || bad="two pipelined GETs in 3-byte pieces: $r"
	expect_grep '"mem_size_mib": *300' "$r" "the split PUT did not apply"
	vm_kill
	if [ -n "$bad" ]; then fail_case api-split "$bad"; else ok api-split; fi
}

# Clients that connect and send nothing: others are served at once; with every slot taken the
# longest-idle one gives way; the idle timeout closes them.
case_api-idle() {
	have_curl api-idle || return
	MVM_API_IDLE_MS=4000 api_start api-idle /dev/null || return
	local pids=() t0 t1 i rc
	bad=
	"$mvm" ctl --api-sock "$API_SOCK" raw --no-shutdown --timeout-ms 30000 </dev/null >"$work/idle.out" &
	local idle=$!
	sleep 0.5
	t0=$(mvm_now)
	expect api-idle 200 "$(api GET /)" "GET / beside an idle client"
	t1=$(mvm_now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 2) }' || bad=${bad:-"GET / beside an idle client took $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s"}
	for i in $(seq 16); do
		"$mvm" ctl --api-sock "$API_SOCK" raw --no-shutdown --timeout-ms 30000 </dev/null >/dev/null &
		pids+=($!)
	done
	sleep 1.5
	expect api-idle 200 "$(api GET /version)" "GET /version with 17 idle clients"
	# The first idle client is closed by the 4 s idle timeout (raw exits 0 on EOF, 3 on its own timeout).
	wait "$idle"; rc=$?
	[ -n "$bad" ] || [ $rc = 0 ] || bad="the idle client was not closed by the server (raw exited $rc)"
	for i in "${pids[@]}"; do wait "$i"; done
	expect api-idle 200 "$(api GET /machine-config)" "GET after the idle clients went"
	vm_kill
	if [ -n "$bad" ]; then fail_case api-idle "$bad"; else ok api-idle; fi
}

# 1000 requests on one keep-alive connection and 1000 on their own connections: no fd or
# memory growth in mvm (VmRSS within 256 KiB after a 200-request warm-up).
case_api-1000() {
	have_curl api-1000 || return
	api_start api-1000 /dev/null || return
	local fd0 fd1 rss0 rss1 n
	bad=
	fdcount() { ls "/proc/$VM_PID/fd" | wc -l; }
	rss() { awk '/^VmRSS/ { print $2 }' "/proc/$VM_PID/status"; }
	curl -s --unix-socket "$API_SOCK" "http://localhost/machine-config?[1-200]" >/dev/null
	fd0=$(fdcount) rss0=$(rss)
	n=$(curl -s --unix-socket "$API_SOCK" -o /dev/null -w '%{http_code}\n' "http://localhost/machine-config?[1-1000]" | grep -c '^200$')
	[ "$n" = 1000 ] || bad="keep-alive: $n of 1000 answered 200"
	n=$(curl -s --unix-socket "$API_SOCK" -H 'Connection: close' -o /dev/null -w '%{http_code}\n' \
		"http://localhost/machine-config?[1-1000]" | grep -c '^200$')
	[ -n "$bad" ] || [ "$n" = 1000 ] || bad="Connection: close: $n of 1000 answered 200"
	sleep 0.3
	fd1=$(fdcount) rss1=$(rss)
	echo "# api-1000: fds $fd0 -> $fd1, VmRSS $rss0 -> $rss1 KiB"
	[ -n "$bad" ] || [ "$fd1" -le "$fd0" ] || bad="fds grew from $fd0 to $fd1"
	[ -n "$bad" ] || [ $((rss1 - rss0)) -le 256 ] || bad="VmRSS grew from $rss0 to $rss1 KiB"
	vm_kill
	if [ -n "$bad" ]; then fail_case api-1000 "$bad"; else ok api-1000; fi
}

# Configure and start through the API with stdin on a FIFO (echo mode):
# api_boot NAME EXTRA_CMDLINE [METRICS_PATH].
api_boot() {
	local name=$1 fifo=$work/$1.fifo img=$work/$1.img
	rm -f "$fifo"; mkfifo "$fifo"
	dd if=/dev/zero of="$img" bs=1M count=4 2>/dev/null
	# Opened read-write first: neither this open nor mvm's read open of the FIFO waits.
	exec 3<>"$fifo"
	api_start "$name" "$fifo" || { exec 3>&-; return 1; }
	bad=
	expect "$name" 204 "$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}')" "PUT /machine-config"
	expect "$name" 204 "$(api PUT /boot-source "{\"kernel_image_path\": \"$kernel\", \"initrd_path\": \"$initrd\", \"boot_args\": \"$BASE_CMDLINE mvmtest=echo $2\"}")" "PUT /boot-source"
	expect "$name" 204 "$(api PUT /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$img\", \"is_root_device\": false, \"is_read_only\": false}")" "PUT /drives/scratch"
	expect "$name" 204 "$(api PUT /entropy '{}')" "PUT /entropy"
	[ -z "${3:-}" ] || expect "$name" 204 "$(api PUT /metrics "{\"metrics_path\": \"$3\", \"emit_id\": true, \"properties\": {\"case\": \"$name\"}}")" "PUT /metrics"
	API_T0=$(mvm_now)
	expect "$name" 204 "$(api PUT /actions '{"action_type": "InstanceStart"}')" "InstanceStart"
	if [ -n "$bad" ]; then exec 3>&-; vm_kill; fail_case "$name" "$bad"; return 1; fi
	vm_wait_for '^MVM-GUEST-ECHO-READY' "$BOOT_TIMEOUT"; BOOT_WAIT=$?
	API_BOOT_S=$(awk -v a="$API_T0" -v b="$(mvm_now)" 'BEGIN { printf "%.2f", b - a }')
	if [ $BOOT_WAIT -ne 0 ]; then exec 3>&-; vm_kill; fail_case "$name" "$(boot_failed_reason)"; return 1; fi
	echo "# $name: InstanceStart -> MVM-GUEST-ECHO-READY $API_BOOT_S s"
	return 0
}

case_api-boot() {
	have_curl api-boot || return
	local r metrics=$work/api-boot.metrics
	api_boot api-boot '' "$metrics" || return
	say 'echo MVM-API-CPUS-$(grep -c ^processor /proc/cpuinfo) MVM-API-VDA-$(cat /sys/block/vda/size) MVM-API-RNG-$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null | cut -c1-6)'
	api_wait 'MVM-API-CPUS-[0-9]' 20
	grep -qa 'MVM-API-CPUS-2' "$VM_OUT" || bad=${bad:-"the guest does not see 2 CPUs: $(grep -a MVM-API-CPUS "$VM_OUT" | tail -1)"}
	grep -qa 'MVM-API-VDA-8192' "$VM_OUT" || bad=${bad:-"the guest has no 4 MiB /dev/vda"}
	grep -qa 'MVM-API-RNG-virtio' "$VM_OUT" || bad=${bad:-"the guest has no virtio-rng"}
	expect api-boot 200 "$(api GET /)" "GET / while running"
	expect_grep '"state": *"Running"' "$(api_body)" "GET / state"
	expect api-boot 400 "$(api PUT /boot-source "{\"kernel_image_path\": \"$kernel\"}")" "PUT /boot-source after start"
	expect_grep 'not supported after starting' "$(api_body)" "PUT /boot-source after start: fault"
	expect api-boot 400 "$(api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}')" "PUT /machine-config after start"
	expect api-boot 400 "$(api PUT /drives/x '{"drive_id": "x", "path_on_host": "/x", "is_root_device": false, "is_read_only": true}')" "PUT /drives after start"
	expect api-boot 400 "$(api PUT /actions '{"action_type": "InstanceStart"}')" "second InstanceStart"
	expect api-boot 204 "$(api PUT /actions '{"action_type": "FlushMetrics"}')" "FlushMetrics"
	expect_grep '"exits"' "$(tail -n 1 "$metrics" 2>/dev/null)" "FlushMetrics: no JSON line in the metrics file"
	expect_grep '"id":"anonymous-instance"' "$(tail -n 1 "$metrics" 2>/dev/null)" "metrics emit_id: no id in the line"
	expect_grep '"properties":\{"case":"api-boot"\}' "$(tail -n 1 "$metrics" 2>/dev/null)" "metrics properties: not in the line"
	expect api-boot 200 "$(api GET /machine-config)" "GET /machine-config after start"
	expect api-boot 200 "$(api GET /vm/config)" "GET /vm/config"
	expect_grep '"drive_id": *"scratch"' "$(api_body)" "GET /vm/config: drives"
	r=$("$mvm" ctl --api-sock "$API_SOCK" stat 2>&1)
	expect_grep '"exits"' "$r" "mvm ctl stat"
	r=$("$mvm" ctl --api-sock "$API_SOCK" config 2>&1)
	expect_grep '"boot-source"' "$r" "mvm ctl config"
	say 'poweroff -f'
	api_wait_exit 45 || bad=${bad:-"mvm did not exit after the guest powered off"}
	exec 3>&-
	time_note api-boot
	[ -n "$bad" ] || [ "$VM_RC" = 0 ] || bad="mvm exited $VM_RC after poweroff, expected 0"
	[ -n "$bad" ] || [ ! -e "$API_SOCK" ] || bad="mvm left $API_SOCK behind"
	if [ -n "$bad" ]; then fail_case api-boot "$bad"; else ok api-boot; fi
}

# The guest prints a tick every 0.5 s: paused, no tick comes; resumed, they come again. Then
# `mvm ctl stop` ends the VM.
case_api-pause() {
	have_curl api-pause || return
	api_boot api-pause '' || return
	local n0 n1 n2 n3 r
	ticks() { grep -acE '^MVM-TICK-[0-9]+' "$VM_OUT"; }
	say 'echo MVM-API-DISK0-$(echo hi | dd of=/dev/vda conv=fsync 2>/dev/null && echo $((6*7)))'
	api_wait 'MVM-API-DISK0-42' 20 || bad="disk I/O before any pause did not complete"
	say 'i=0; while :; do i=$((i+1)); echo MVM-TICK-$((1000+i)); sleep 0.5; done &'
	api_wait '^MVM-TICK-1003' 20 || bad="the guest's ticks did not start"
	[ -n "$bad" ] || "$mvm" ctl --api-sock "$API_SOCK" pause || bad="mvm ctl pause failed"
	expect api-pause 400 "$(api PUT /actions '{"action_type": "FlushMetrics"}')" "FlushMetrics with no metrics file"
	expect api-pause 200 "$(api GET /)" "GET / while paused"
	expect_grep '"state": *"Paused"' "$(api_body)" "GET / state while paused"
	n0=$(ticks); sleep 3; n1=$(ticks)
	[ -n "$bad" ] || [ $((n1 - n0)) -le 1 ] || bad="$((n1 - n0)) ticks in 3 s while paused"
	expect api-pause 204 "$(api PATCH /vm '{"state": "Paused"}')" "a second pause"
	# Each vCPU's state, read on its own thread while parked (what a snapshot saves).
	expect api-pause 200 "$(api GET /mvm/vcpus)" "GET /mvm/vcpus while paused"
	expect_grep '"id":1,"rip":"0x[0-9a-f]+"' "$(api_body)" "GET /mvm/vcpus: vCPU 1's registers"
	expect_grep '"efer":"0x[0-9a-f]*d01"' "$(api_body)" "GET /mvm/vcpus: a 64-bit guest's EFER (LME, LMA, SCE)"
	r=$("$mvm" ctl --api-sock "$API_SOCK" vcpus 2>&1)
	expect_grep '"msrs": *[1-9]' "$r" "mvm ctl vcpus"
	[ -n "$bad" ] || "$mvm" ctl --api-sock "$API_SOCK" resume || bad="mvm ctl resume failed"
	expect api-pause 400 "$(api GET /mvm/vcpus)" "GET /mvm/vcpus while running"
	sleep 3; n2=$(ticks)
	[ -n "$bad" ] || [ $((n2 - n1)) -ge 3 ] || bad="$((n2 - n1)) ticks in 3 s after resume, expected >= 3"
	# Without --metrics, stat opens KVM's vCPU stats (mvm pauses the VM around it).
	r=$(timeout 20 "$mvm" ctl --api-sock "$API_SOCK" stat 2>&1)
	expect_grep '"exits"' "$r" "mvm ctl stat without --metrics"
	# Pause/resume 20 times in a row: the guest keeps going (no lost interrupt, no stuck vCPU).
	for _ in $(seq 20); do
		api PATCH /vm '{"state": "Paused"}' >/dev/null; api PATCH /vm '{"state": "Resumed"}' >/dev/null
	done
	sleep 2; n3=$(ticks)
	[ -n "$bad" ] || [ $((n3 - n2)) -ge 2 ] || bad="the ticks stopped after 20 pause/resume pairs"
	say 'echo MVM-API-DISK-$(echo hi | dd of=/dev/vda conv=fsync 2>/dev/null && echo $((6*7)))'
	api_wait 'MVM-API-DISK-42' 20 || bad=${bad:-"disk I/O after the pauses did not complete"}
	echo "# api-pause: ticks $n0 -> $n1 paused 3 s, -> $n2 resumed 3 s, -> $n3 after 20 pairs"
	r=$("$mvm" ctl --api-sock "$API_SOCK" stop --grace 2 2>&1)
	api_wait_exit 20 || bad=${bad:-"mvm did not exit after mvm ctl stop"}
	exec 3>&-
	time_note api-pause
	expect_grep '^stopped' "$r" "mvm ctl stop"
	if [ -n "$bad" ]; then fail_case api-pause "$bad"; else ok api-pause; fi
}

# A vCPU that cannot park - its thread held stopped by ptrace (tests/tools/thread-hold), as a
# vCPU stuck in some host call would be - makes the pause give up after its deadline
# (MVM_PAUSE_TIMEOUT_MS, 3 s here) with 503 naming the vCPU; the pause is taken back (the other
# vCPU runs on), the guest works once the thread is let go, and MvmStop ends mvm. (A pause once
# waited forever here. The stall used to come from COM1 output nobody read, which no longer
# blocks a vCPU: api-serial-stall.)
thread_hold_bin() { echo "$(dirname "$mvm")/tests/tools/thread-hold"; }
case_api-pause-stuck() {
	have_curl api-pause-stuck || return
	local name=api-pause-stuck hold t0 took tid= holder t
	hold=$(thread_hold_bin)
	[ -x "$hold" ] || { notok "$name" "$hold not found or not executable (run make)"; return; }
	MVM_PAUSE_TIMEOUT_MS=3000 api_boot "$name" '' || return
	for t in /proc/"$VM_PID"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = mvm-vcpu0 ] && tid=${t##*/}
	done
	[ -n "$tid" ] || bad="no mvm-vcpu0 thread in /proc/$VM_PID/task"
	"$hold" "$tid" 20 >"$work/$name.hold" 2>&1 & holder=$!
	for _ in $(seq 50); do grep -q '^held' "$work/$name.hold" && break; sleep 0.1; done
	[ -n "$bad" ] || grep -q '^held' "$work/$name.hold" || bad="thread-hold could not stop vCPU 0: $(cat "$work/$name.hold")"
	t0=$(mvm_now)
	expect "$name" 503 "$(api PATCH /vm '{"state": "Paused"}')" "pause with vCPU 0 held"
	took=$(awk -v a="$t0" -v b="$(mvm_now)" 'BEGIN { printf "%.1f", b - a }')
	expect_grep 'did not stop' "$(api_body)" "the 503's fault_message"
	expect_grep 'vCPU 0 did not stop' "$(api_body)" "the 503's fault_message names the vCPU"
	expect_grep 'vCPU 0 did not stop within 3000 ms' "$(cat "$VM_ERR")" "mvm's log names the vCPU"
	[ -n "$bad" ] || ! grep -q 'vCPU 1 did not stop' "$VM_ERR" || bad="the log blames vCPU 1, which parked"
	[ -n "$bad" ] || awk -v t="$took" 'BEGIN { exit !(t >= 2.9 && t < 10) }' || bad="the pause gave up after $took s, expected about 3"
	expect "$name" 200 "$(api GET /)" "GET / after the failed pause"
	expect_grep '"state": *"Running"' "$(api_body)" "the VM is running again"
	kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null   # the tracer's exit lets the thread go
	say 'echo MVM-STUCK-ALIVE-$((6*7))'
	if ! api_wait 'MVM-STUCK-ALIVE-42' 20; then
		# Where vCPU 0 is: state and CPU ticks (utime+stime) a second apart, and its INTR exits
		# (a vCPU spinning on KVM_RUN's EINTR is R with ~100 ticks/s and a climbing INTR count).
		local s1 s2
		s1=$(awk '{ print $3, $14 + $15 }' "/proc/$VM_PID/task/$tid/stat" 2>/dev/null); sleep 1
		s2=$(awk '{ print $3, $14 + $15 }' "/proc/$VM_PID/task/$tid/stat" 2>/dev/null)
		api GET /mvm/stats >/dev/null
		bad=${bad:-"the guest did not answer after vCPU 0 was let go (vCPU 0 state/ticks: $s1 then $s2; stats: INTR exits per vCPU then total: $(tr -d ' \n' <"$work/api.body" | grep -o '"INTR":[0-9]*' | tr '\n' ' '))"}
	fi
	expect "$name" 204 "$(api PATCH /vm '{"state": "Paused"}')" "a pause once vCPU 0 runs again"
	expect "$name" 204 "$(api PATCH /vm '{"state": "Resumed"}')" "resume"
	expect "$name" 204 "$(api PUT /actions '{"action_type": "MvmStop"}')" "MvmStop"
	api_wait_exit 20 || bad=${bad:-"mvm did not exit after MvmStop"}
	echo "# $name: the pause gave up after $took s"
	exec 3>&-
	if [ -n "$bad" ]; then fail_case "$name" "$bad"; else ok "$name"; fi
}

# com0's counter KEY from GET /mvm/stats (empty when missing).
com_stat() {
	api GET /mvm/stats >/dev/null
	tr -d ' \n' <"$work/api.body" | sed -n "s/.*\"com0\":{[^}]*\"$1\":\([0-9]*\).*/\1/p"
}
# A guest printing numbered lines on COM1 as fast as it can, with mvm's stdout a FIFO nobody
# reads for 30 s: the vCPUs never block on it (the UART's output queue fills, the line reads
# busy and the guest's 8250 driver waits), so pause, resume and MvmStop each answer within 1 s.
# Afterwards the FIFO is read: the lines are in order with none missing (a gap would be allowed
# only with dropped bytes counted in GET /mvm/stats).
case_api-serial-stall() {
	have_curl api-serial-stall || return
	local name=api-serial-stall in=$work/api-serial-stall.in out=$work/api-serial-stall.pipe
	local reader t_stop q dropped tp tr ts n check
	secs() { awk -v a="$1" -v b="$(mvm_now)" 'BEGIN { printf "%.2f", b - a }'; }
	under1() { awk -v t="$1" 'BEGIN { exit !(t < 1) }'; }
	rm -f "$in" "$out"; mkfifo "$in" "$out"
	exec 3<>"$in"
	exec 4<>"$out"   # the FIFO outlives mvm: what it holds is read at the end
	API_SOCK=$work/$name.sock VM_NAME=$name VM_OUT=$work/$name.out VM_ERR=$work/$name.err VM_RC=
	echo "# $name: mvm run --api-sock $API_SOCK >FIFO (mvmtest=spew)" >"$work/$name.cmd"
	# Neither may inherit fd 4 (a writer of the FIFO): the reader would never see EOF.
	cat "$out" >"$VM_OUT" 3>&- 4>&- & reader=$!
	"$mvm" run --api-sock "$API_SOCK" <"$in" >"$out" 2>"$VM_ERR" 3>&- 4>&- &
	VM_PID=$! VM_T0=$(mvm_now)
	for _ in $(seq 50); do [ -S "$API_SOCK" ] && break; sleep 0.1; done
	bad=
	expect "$name" 204 "$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}')" "PUT /machine-config"
	expect "$name" 204 "$(api PUT /boot-source "{\"kernel_image_path\": \"$kernel\", \"initrd_path\": \"$initrd\", \"boot_args\": \"$BASE_CMDLINE loglevel=1 mvmtest=spew\"}")" "PUT /boot-source"
	expect "$name" 204 "$(api PUT /actions '{"action_type": "InstanceStart"}')" "InstanceStart"
	[ -n "$bad" ] || vm_wait_for '^MVM-SPEW-[0-9]' "$BOOT_TIMEOUT" || bad="the guest did not start printing: $(boot_failed_reason)"
	# The reader stops (SIGSTOP loses nothing it read); the FIFO, then the queue fill.
	kill -STOP "$reader"
	t_stop=$(mvm_now)
	# Under the test host's emulation the guest prints ~3 KB/s: FIFO + queue take ~50 s.
	while ! awk -v a="$t_stop" -v b="$(mvm_now)" 'BEGIN { exit !(b - a > 120) }'; do
		q=$(com_stat tx_queued)
		[ "${q:-0}" -ge 65000 ] && break
		sleep 0.5
	done
	[ -n "$bad" ] || [ "${q:-0}" -ge 65000 ] || bad="COM1's output queue never filled (tx_queued ${q:-missing})"
	echo "# $name: queue full $(secs "$t_stop") s after the reader stopped (tx_queued $q)"
	t0=$(mvm_now)
	[ -n "$bad" ] || "$mvm" ctl --api-sock "$API_SOCK" pause || bad="mvm ctl pause failed"
	tp=$(secs "$t0")
	expect "$name" 200 "$(api GET /)" "GET / while paused"
	expect_grep '"state": *"Paused"' "$(api_body)" "GET / state while paused"
	sleep 2
	t0=$(mvm_now)
	[ -n "$bad" ] || "$mvm" ctl --api-sock "$API_SOCK" resume || bad="mvm ctl resume failed"
	tr=$(secs "$t0")
	while ! awk -v a="$t_stop" -v b="$(mvm_now)" 'BEGIN { exit !(b - a >= 30) }'; do sleep 1; done
	q=$(com_stat tx_queued) dropped=$(com_stat tx_dropped)
	[ -n "$bad" ] || [ "${q:-0}" -ge 65000 ] || bad="the queue drained with nobody reading (tx_queued ${q:-missing})"
	t0=$(mvm_now)
	expect "$name" 204 "$(api PUT /actions '{"action_type": "MvmStop"}')" "MvmStop"
	ts=$(secs "$t0")
	kill -CONT "$reader"
	api_wait_exit 20 || bad=${bad:-"mvm did not exit after MvmStop"}
	exec 3>&- 4>&-   # mvm and this shell gone: the reader sees EOF
	for _ in $(seq 100); do kill -0 "$reader" 2>/dev/null || break; sleep 0.2; done
	if kill -0 "$reader" 2>/dev/null; then kill "$reader"; bad=${bad:-"the FIFO's reader saw no EOF"}; fi
	wait "$reader"
	echo "# $name: pause $tp s, resume $tr s, MvmStop $ts s (30 s unread); tx_dropped ${dropped:-?}; mvm exited $(vm_secs) s after start"
	grep -a 'not written within' "$VM_ERR" | sed 's/^/# /'
	for t in "pause:$tp" "resume:$tr" "MvmStop:$ts"; do
		[ -n "$bad" ] || under1 "${t#*:}" || bad="${t%%:*} took ${t#*:} s with stdout unread"
	done
	# The stop cuts the guest's last line anywhere ("MVM-SPEW-88" of 8830): only lines that
	# ended count, or a cut line would read as one out of order.
	last='$!p'
	[ -z "$(tail -c 1 "$VM_OUT")" ] && last=p
	tr -d '\r' <"$VM_OUT" | sed -n "$last" | grep -aE '^MVM-SPEW-[0-9]+$' | sed 's/^MVM-SPEW-//' >"$work/$name.nums"
	n=$(wc -l <"$work/$name.nums")
	check=$(awk 'NR == 1 && $1 != 1 { print "the first line is " $1; exit }
		NR > 1 && $1 <= p { print "line " $1 " after " p ": out of order"; exit }
		NR > 1 && $1 != p + 1 { print "gap: " p " then " $1; exit }
		{ p = $1 }' "$work/$name.nums")
	echo "# $name: $n numbered lines read back${check:+; $check}"
	[ -n "$bad" ] || [ "$n" -ge 2000 ] || bad="only $n numbered lines came out"
	case "$check" in
	'') ;;
	gap:*) [ -n "$bad" ] || [ "${dropped:-0}" -gt 0 ] || bad="$check with no byte counted as dropped" ;;
	*) bad=${bad:-"$check"} ;;
	esac
	if [ -n "$bad" ]; then fail_case "$name" "$bad"; else ok "$name"; fi
}

# SendCtrlAltDel through the i8042: Linux's atkbd has bound to the PNP0303 keyboard, the key
# presses reach the kernel, which (ctrl-alt-del soft mode, set by the echo-mode /init) sends
# SIGINT to init; its trap prints MVM-GUEST-CAD and powers off, and mvm exits 0.
case_api-cad() {
	have_curl api-cad || return
	# With the i8042 words of mvm's default command line: the keyboard must still bind.
	api_boot api-cad 'i8042.noaux i8042.nomux i8042.dumbkbd' || return
	say 'echo MVM-API-KBD-$(grep -c "AT Translated Set 2 keyboard" /proc/bus/input/devices)'
	api_wait 'MVM-API-KBD-[0-9]' 20
	grep -qa 'MVM-API-KBD-1' "$VM_OUT" || bad="the guest has no AT keyboard: $(grep -a 'MVM-API-KBD-[0-9]' "$VM_OUT" | tail -1)"
	expect api-cad 204 "$(api PUT /actions '{"action_type": "SendCtrlAltDel"}')" "SendCtrlAltDel"
	if ! api_wait '^MVM-GUEST-CAD' 20; then
		bad=${bad:-"the guest's init did not get Ctrl-Alt-Del"}
		# What the guest saw of its keyboard, for the log.
		say 'echo MVM-API-KBD-IRQ $(grep -E "i8042" /proc/interrupts); dmesg | grep -iE "atkbd|i8042|serio|keyboard" | tail -n 6'
		api_wait 'MVM-API-KBD-IRQ' 10 || :
	fi
	api_wait_exit 30 || bad=${bad:-"mvm did not exit after the guest powered off"}
	exec 3>&-
	time_note api-cad
	[ -n "$bad" ] || [ "$VM_RC" = 0 ] || bad="mvm exited $VM_RC, expected 0"
	if [ -n "$bad" ]; then fail_case api-cad "$bad"; else ok api-cad; fi
}
