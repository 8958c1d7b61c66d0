# tests/linux/vsock-cases.sh - virtio-vsock with Debian's kernel (vsock, vmw_vsock_virtio_transport):
# Firecracker's hybrid Unix-socket backend both ways, with checksums. Sourced by run.sh.
# tests/linux/guest/vsockt.c (built static on the host, shipped with the tiny guests) runs on both
# sides: in the guest it reaches the VM as the raw disk /dev/vda, in the test host it is run as is.
VSOCK_CASES=(vsock-stream vsock-pressure vsock-snapshot)
# MiB through each direction (vsock-stream); MVM_VSOCK_MIB overrides.
VSOCK_MIB=${MVM_VSOCK_MIB:-64}

# The tool's path (shipped, or built here), or nothing.
vsockt_tool() {
	local t=${guests:-/nonexistent}/vsockt
	[ -x "$t" ] && { echo "$t"; return 0; }
	t=$work/vsockt
	cc -static -O2 -o "$t" "$MVM_ROOT/tests/linux/guest/vsockt.c" 2>/dev/null && echo "$t"
}

# Boot an echo guest with the tool on /dev/vda and vsock (CID 3) on $work/NAME.sock, and start the
# guest's server on port 1000. Sets VT (the tool) and UDS. vsock_session NAME
vsock_session() {
	local name=$1 img=$work/$1.img size
	VT=$(vsockt_tool) || { notok "$name" "cannot build tests/linux/guest/vsockt.c (cc -static)"; return 1; }
	UDS=$work/$name.sock
	size=$(stat -c %s "$VT")
	cp "$VT" "$img" && truncate -s 4M "$img"
	set_echo
	open_session "$name" "${ECHO[@]}" --mem 512M --disk "$img" --vsock "cid=3,uds=$UDS" || return 1
	say "head -c $size /dev/vda >/tmp/vt; chmod +x /tmp/vt; (/tmp/vt serve 1000 </dev/null &)"
	if ! vm_wait_for 'VSOCKT-SERVING 1000' 30; then
		close_session
		fail_case "$name" "the guest's vsock server did not start (no vsock device or module?)"
		return 1
	fi
}

# Resident set of mvm, in KiB.
vm_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$VM_PID/status" 2>/dev/null || echo 0; }

# Both directions, VSOCK_MIB MiB each way started from each side, every stream checked by its
# FNV-1a hash; a host client that sends garbage instead of CONNECT gets ERR and is closed, and
# the next one works.
case_vsock-stream() {
	local bytes=$((VSOCK_MIB << 20)) hs hsend hrecv garbage after t0 t1
	vsock_session vsock-stream || return
	"$VT" hserve "${UDS}_5000" >/dev/null 2>&1 & hs=$!
	t0=$(mvm_now)
	hsend=$(timeout 300 "$VT" hsend "$UDS" 1000 "$bytes" 7)
	hrecv=$(timeout 300 "$VT" hrecv "$UDS" 1000 "$bytes" 9)
	garbage=$(timeout 20 "$VT" hgarbage "$UDS")
	t1=$(mvm_now)
	say "/tmp/vt send 5000 $bytes 11; /tmp/vt recv 5000 $bytes 13; echo MVM-VSOCK-GUEST-DONE-\$((6*7))"
	vm_wait_for 'MVM-VSOCK-GUEST-DONE-42' 600
	after=$(timeout 60 "$VT" hsend "$UDS" 1000 65536 5)
	kill "$hs" 2>/dev/null; wait "$hs" 2>/dev/null
	echo "# vsock-stream: host->guest $hsend"
	echo "# vsock-stream: guest->host (host reads) $hrecv"
	echo "# vsock-stream: guest-initiated: $(tr -d '\r' <"$VM_OUT" | grep -a '^VSOCKT-' | grep -v SERVING | tr '\n' ' ')"
	echo "# vsock-stream: garbage client: $garbage"
	close_session 60
	if [ "${hsend%% *}" != VSOCKT-HSEND-OK ]; then fail_case vsock-stream "host -> guest stream: ${hsend:-no answer}"
	elif [ "${hrecv%% *}" != VSOCKT-HRECV-OK ]; then fail_case vsock-stream "guest -> host stream on a host connection: ${hrecv:-no answer}"
	elif ! grep -qa '^VSOCKT-SEND-OK' "$VM_OUT"; then fail_case vsock-stream "the guest's connection to CID 2 port 5000 did not deliver its stream"
	elif ! grep -qa '^VSOCKT-RECV-OK' "$VM_OUT"; then fail_case vsock-stream "the guest's connection to CID 2 port 5000 did not receive its stream"
	elif [ "$garbage" != "VSOCKT-GARBAGE ERR expected CONNECT <port> then EOF" ]; then fail_case vsock-stream "a garbage first line got '$garbage', expected ERR and EOF"
	elif [ "${after%% *}" != VSOCKT-HSEND-OK ]; then fail_case vsock-stream "after the garbage client, a good one failed: $after"
	elif [ -n "$(unclean_end)" ]; then fail_case vsock-stream "$(unclean_end)"
	else ok vsock-stream; fi
}

# 100 host connections at once, each 256 KiB checked; then a guest that stops reading: the host
# client's writes stop being taken (back-pressure) and mvm's RSS stays flat; the other
# connections still work meanwhile.
case_vsock-pressure() {
	local many hold rss0 rss1 peak=0 r i pid held after
	vsock_session vsock-pressure || return
	many=$(timeout 300 "$VT" hmany "$UDS" 1000 100 262144)
	echo "# vsock-pressure: $many"
	rss0=$(vm_rss_kb)
	timeout 60 "$VT" hhold "$UDS" 1000 10 >"$work/hold.out" 2>&1 & pid=$!
	for i in $(seq 1 12); do
		sleep 1
		r=$(vm_rss_kb); [ "$r" -gt "$peak" ] && peak=$r
		# Another connection works while one is held.
		[ "$i" = 5 ] && after=$(timeout 30 "$VT" hsend "$UDS" 1000 1048576 3)
	done
	wait "$pid" 2>/dev/null
	rss1=$(vm_rss_kb)
	hold=$(cat "$work/hold.out")
	held=$(echo "$hold" | sed -n 's/^VSOCKT-HELD \([0-9]*\) .*/\1/p')
	echo "# vsock-pressure: $hold; mvm RSS ${rss0} KiB before, ${peak} KiB at most, ${rss1} KiB after"
	echo "# vsock-pressure: during the hold: $after"
	close_session 60
	if [ "${many%% *}" != VSOCKT-MANY-OK ]; then fail_case vsock-pressure "100 concurrent connections: ${many:-no answer}"
	elif [ -z "$held" ]; then fail_case vsock-pressure "the held connection did not report: $hold"
	elif [ "$held" -gt $((8 << 20)) ]; then fail_case vsock-pressure "a guest that reads nothing took $held bytes from the host client (no back-pressure)"
	elif [ $((peak - rss0)) -gt 8192 ]; then fail_case vsock-pressure "mvm's RSS grew by $((peak - rss0)) KiB while the guest did not read"
	elif [ "${after%% *}" != VSOCKT-HSEND-OK ]; then fail_case vsock-pressure "another connection during the hold: ${after:-no answer}"
	elif [ -n "$(unclean_end)" ]; then fail_case vsock-pressure "$(unclean_end)"
	else ok vsock-pressure; fi
}

# Connections do not survive a snapshot (as in Firecracker): a host connection held open in the
# guest is reset by VIRTIO_VSOCK_EVENT_TRANSPORT_RESET once the VM is restored (the guest's
# holder sees the error), the stale socket file the killed mvm left is replaced, the guest's
# listener still works through the restored device, and GET /vm/config shows the vsock.
case_vsock-snapshot() {
	local name=vsock-snapshot img=$work/vsock-snapshot.img dir=$work/vsnap fifo=$work/vsnap.fifo
	local size hpid out before after cfg
	have_curl "$name" || return
	bad=
	VT=$(vsockt_tool) || { notok "$name" "cannot build tests/linux/guest/vsockt.c (cc -static)"; return; }
	UDS=$work/vsnap.sock
	size=$(stat -c %s "$VT")
	cp "$VT" "$img" && truncate -s 4M "$img"
	rm -rf "$dir"; mkfifo "$fifo"
	exec 3<>"$fifo"   # read-write: opening it does not wait for mvm
	api_start "$name" "$fifo" --kernel "$kernel" --initrd "$initrd" --disk "$img" \
		--cmdline "$BASE_CMDLINE mvmtest=echo" --vsock "cid=3,uds=$UDS" || { exec 3>&-; return; }
	expect "$name" 204 "$(api PUT /actions '{"action_type": "InstanceStart"}')" "InstanceStart"
	cfg=$(api GET /vm/config >/dev/null; api_body | tr -d ' \n')
	expect_grep '"vsock":\{"guest_cid":3,"uds_path":"[^"]*vsnap.sock"\}' "$cfg" "GET /vm/config's vsock"
	vm_wait_for '^MVM-GUEST-ECHO-READY' "$BOOT_TIMEOUT"; BOOT_WAIT=$?
	[ $BOOT_WAIT -eq 0 ] || bad=${bad:-"$(boot_failed_reason)"}
	if [ -z "$bad" ]; then
		say "head -c $size /dev/vda >/tmp/vt; chmod +x /tmp/vt; (/tmp/vt serve 1000 </dev/null &)"
		vm_wait_for 'VSOCKT-SERVING 1000' 30 || bad="the guest's vsock server did not start"
	fi
	if [ -z "$bad" ]; then
		before=$(timeout 60 "$VT" hsend "$UDS" 1000 1048576 21)
		timeout 120 "$VT" hhold "$UDS" 1000 100 >/dev/null 2>&1 & hpid=$!
		sleep 2
		expect "$name" 204 "$(api PATCH /vm '{"state": "Paused"}')" "pause"
	fi
	if [ -z "$bad" ]; then
		out=$("$mvm" ctl --api-sock "$API_SOCK" snapshot "$dir" --stay-paused 2>&1) || bad="mvm ctl snapshot failed: $out"
	fi
	kill -KILL "$VM_PID" 2>/dev/null; vm_reap; exec 3>&-
	kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null
	if [ -n "$bad" ]; then fail_case "$name" "$bad"; return; fi
	[ -S "$UDS" ] || { notok "$name" "the killed mvm left no socket file (the stale-socket path is not tested)"; return; }
	# The restored VM's console input: a fresh FIFO.
	rm -f "$fifo"; mkfifo "$fifo"
	vm_start "$name-restored" "$fifo" run --restore "$dir"
	exec 3>"$fifo"
	vm_wait_for 'VSOCKT-HOLD-ENDED' 60; local ended=$?
	after=$(timeout 60 "$VT" hsend "$UDS" 1000 1048576 22)
	echo "# $name: before: $before; after the restore: $after"
	echo "# $name: the guest's holder: $(tr -d '\r' <"$VM_OUT" | grep -a 'VSOCKT-HOLD-ENDED' | head -n1)"
	close_session 60
	if [ "${before%% *}" != VSOCKT-HSEND-OK ]; then fail_case "$name" "before the snapshot: ${before:-no answer}"
	elif [ $ended -ne 0 ]; then fail_case "$name" "the guest's connection held across the snapshot was not reset after the restore (no TRANSPORT_RESET?)"
	elif [ "${after%% *}" != VSOCKT-HSEND-OK ]; then fail_case "$name" "after the restore: ${after:-no answer}"
	elif [ -n "$(unclean_end)" ]; then fail_case "$name" "$(unclean_end)"
	else ok "$name"; fi
}
