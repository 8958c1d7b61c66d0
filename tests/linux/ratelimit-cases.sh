# tests/linux/ratelimit-cases.sh - rate limiters and PATCH /drives, /network-interfaces cases of
# tests/linux/run.sh (sourced by it; uses open_session/say/close_session from virtio-cases.sh,
# api/api_body/expect from api-cases.sh, cfg_json_str from config-cases.sh, $kernel, $initrd,
# $work and $BASE_CMDLINE).
#
# Throughput is measured by the guest: its clock (/proc/uptime, kvm-clock, so host time) and its
# own counters (/sys/block/vda/stat sectors read, eth0 tx_bytes) sampled 10 s apart while a load
# runs flat out; the rate must be within RL_TOL % of the configured one. The configured rates
# sit well below what the guest reaches unthrottled under the test host's emulation (rl-baseline,
# run by hand: `--only rl-baseline`, prints the unthrottled rates; in the test host an
# unthrottled guest TCP stream, no limiter configured, has ended in a guest triple fault or a
# hung guest in 3 of 4 runs of this branch's build; the cause is not established).
# The network rate stays a quarter of that stream's ~1.1 MB/s.

RATELIMIT_CASES=(rl-blk rl-net rl-blk-swap)
RL_TOL=15
RL_BLK_RATE=$((2 * 1024 * 1024))   # bytes/s, from the config file
RL_BLK_RATE2=$((1024 * 1024))      # after PATCH /drives
RL_NET_RATE=$((256 * 1024))        # tx, from the config file (unthrottled: ~1 MB/s)
RL_NET_RATE2=$((128 * 1024))       # after PATCH /network-interfaces

# A config file FILE booting the echo guest, with the JSON fragment $2 after the boot source.
rl_config() {
	cat >"$1" <<EOF
{
  "boot-source": {
    "kernel_image_path": $(cfg_json_str "$kernel"),
    "initrd_path": $(cfg_json_str "$initrd"),
    "boot_args": $(cfg_json_str "$BASE_CMDLINE mvmtest=echo")
  },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 256, "smt": false },
  $2
}
EOF
}
# A bandwidth-only limiter of RATE bytes/s: a bucket of 1/10 s, refilled in 100 ms.
rl_bw() { printf '{"bandwidth": {"size": %d, "refill_time": 100}}' $(($1 / 10)); }

# The guest samples COUNTER_CMD (prints one number) and its uptime, waits SECS, samples again:
# MVM-RL-<tag>-<t1>-<c1>-<t2>-<c2>-E. rl_rate TAG [SCALE]: the rate (counter units x SCALE per s).
rl_sample() {
	local tag=$1 cmd=$2 secs=$3
	say "read t x </proc/uptime; c=\$($cmd); a=\$t-\$c; sleep $secs; read t x </proc/uptime; echo MVM-RL-$tag-\$a-\$t-\$($cmd)-E"
	vm_wait_for "MVM-RL-$tag-[0-9.]+-[0-9]+-[0-9.]+-[0-9]+-E" $((secs + 30))
}
rl_rate() {
	tr -d '\r' <"$VM_OUT" | sed -n "s/.*MVM-RL-$1-\([0-9.]*\)-\([0-9]*\)-\([0-9.]*\)-\([0-9]*\)-E.*/\1 \2 \3 \4/p" |
		head -n1 | awk -v k="${2:-1}" '{ if ($3 > $1) printf "%d\n", ($4 - $2) * k / ($3 - $1) }'
}
# rl_check WHAT GOT WANT: "" when GOT is within RL_TOL % of WANT, else why not.
rl_check() {
	[ -n "$2" ] || { echo "$1: the guest reported no rate"; return; }
	awk -v g="$2" -v w="$3" -v t="$RL_TOL" 'BEGIN { d = (g - w) * 100 / w; if (d < 0) d = -d; exit !(d <= t) }' ||
		echo "$1: $2 B/s, configured $3 B/s (more than $RL_TOL % apart)"
}

# A guest -> host TCP stream to 10.0.2.2:PORT (the host's 127.0.0.1), flat out; then what the
# guest's TCP sockets look like, for a failure's diagnosis (lines starting MVM-DIAG).
rl_net_load() {
	say "nc 10.0.2.2 $1 </dev/zero >/dev/null 2>&1 & sleep 2; echo MVM-DIAG-\$((1)); cat /proc/net/tcp | sed 's/^/MVM-DIAG /'"
	vm_wait_for 'MVM-DIAG-1' 20
}
# A host TCP sink on 127.0.0.1:PORT in $RL_SRV: busybox nc -l ends the connection once its stdin
# ends, so its stdin is a FIFO held open (fd 4) and never written. rl_sink_stop ends it.
rl_sink() {
	rm -f "$work/rl-hold"; mkfifo "$work/rl-hold"
	nc -l -p "$1" <"$work/rl-hold" >/dev/null 2>&1 & RL_SRV=$!
	exec 4>"$work/rl-hold"
}
rl_sink_stop() { exec 4>&-; kill "$RL_SRV" 2>/dev/null; wait "$RL_SRV" 2>/dev/null; }
# Print the guest's MVM-DIAG lines and the host's listeners as # lines.
rl_diag() {
	tr -d '\r' <"$VM_OUT" | grep -a '^MVM-DIAG' | head -n 12 | sed 's/^/#   guest: /'
	netstat -tln 2>/dev/null | head -n 12 | sed 's/^/#   host: /'
	kill -0 "$1" 2>/dev/null && echo "#   host: the listener (pid $1) is alive" || echo "#   host: the listener (pid $1) has exited"
}

# A guest line written after mvm died must not end the whole run with SIGPIPE: the case then
# reports mvm's status and output instead.
rl_guarded() { trap '' PIPE; "$@"; trap - PIPE; }

RL_BLK_READ='while :; do dd if=/dev/vda of=/dev/null bs=64k iflag=direct 2>/dev/null; done'
RL_SECTORS='set -- $(cat /sys/block/vda/stat); echo $3'
RL_TX='cat /sys/class/net/eth0/statistics/tx_bytes'

# Unthrottled rates under this host's emulation (not in RATELIMIT_CASES: run with --only).
rl_baseline_body() {
	local img=$work/rl-base.img f=$work/rl-base.json sport=15571
	truncate -s 1G "$img"
	rl_config "$f" "\"drives\": [{\"drive_id\": \"data\", \"path_on_host\": $(cfg_json_str "$img"),
	  \"is_root_device\": false, \"is_read_only\": true}],
  \"network-interfaces\": [{\"iface_id\": \"eth0\", \"mvm_user\": {}}]"
	rl_sink "$sport"
	open_session rl-baseline run --config-file "$f" || { rl_sink_stop; return; }
	say "($RL_BLK_READ) & p=\$!; sleep 2"
	rl_sample B "$RL_SECTORS" 10
	say 'kill $p; killall dd 2>/dev/null'
	net_user_dhcp
	rl_net_load "$sport"
	rl_sample N "$RL_TX" 10
	close_session
	rl_sink_stop
	echo "# rl-baseline: virtio-blk O_DIRECT 64k reads $(rl_rate B 512) B/s, virtio-net user tx $(rl_rate N) B/s"
	if [ -n "$(unclean_end)" ]; then fail_case rl-baseline "$(unclean_end)"; else ok rl-baseline; fi
}

# A drive limited to RL_BLK_RATE by the config file: the guest's O_DIRECT reads run at that rate;
# PATCH /drives/{id} rate_limiter sets RL_BLK_RATE2 and the guest follows; GET /vm/config shows it;
# PATCH with an unknown id or a bad bucket is refused with a fault_message.
rl_blk_body() {
	have_curl rl-blk || return
	local img=$work/rl-blk.img f=$work/rl-blk.json r1 r2 why
	truncate -s 1G "$img"
	rl_config "$f" "\"drives\": [{\"drive_id\": \"data\", \"path_on_host\": $(cfg_json_str "$img"),
	  \"is_root_device\": false, \"is_read_only\": true, \"rate_limiter\": $(rl_bw $RL_BLK_RATE)}]"
	API_SOCK=$work/rl-blk.sock
	open_session rl-blk run --api-sock "$API_SOCK" --config-file "$f" || return
	say "($RL_BLK_READ) & sleep 2"
	rl_sample A "$RL_SECTORS" 10
	bad=
	expect rl-blk 204 "$(api PATCH /drives/data "{\"drive_id\": \"data\", \"rate_limiter\": $(rl_bw $RL_BLK_RATE2)}")" "PATCH /drives/data rate_limiter"
	say 'sleep 1'
	rl_sample C "$RL_SECTORS" 10
	expect rl-blk 200 "$(api GET /vm/config)" "GET /vm/config"
	expect_grep "\"size\": $((RL_BLK_RATE2 / 10))," "$(api_body)" "GET /vm/config does not show the patched limiter"
	expect rl-blk 400 "$(api PATCH /drives/nosuch '{"drive_id": "nosuch"}')" "PATCH of an unknown drive"
	expect_grep "no drive 'nosuch'" "$(api_body)" "unknown drive: the fault does not name it"
	expect rl-blk 400 "$(api PATCH /drives/data '{"drive_id": "data", "rate_limiter": {"ops": {"size": 5}}}')" "PATCH with a bucket lacking refill_time"
	expect_grep 'rate_limiter.ops.refill_time: required' "$(api_body)" "bad bucket: the fault does not name the field"
	close_session
	r1=$(rl_rate A 512) r2=$(rl_rate C 512)
	echo "# rl-blk: configured $RL_BLK_RATE B/s, guest read $r1 B/s; patched to $RL_BLK_RATE2 B/s, guest read $r2 B/s"
	why=$(rl_check "config-file limit" "$r1" $RL_BLK_RATE)
	[ -n "$why" ] || why=$(rl_check "after PATCH" "$r2" $RL_BLK_RATE2)
	if [ -n "$why" ]; then fail_case rl-blk "$why"
	elif [ -n "$bad" ]; then fail_case rl-blk "$bad"
	elif [ -n "$(unclean_end)" ]; then fail_case rl-blk "$(unclean_end)"
	else ok rl-blk; fi
}

# An interface on user networking with tx limited to RL_NET_RATE by the config file: a guest ->
# host TCP stream runs at that rate; PATCH /network-interfaces/{id} sets RL_NET_RATE2.
rl_net_body() {
	have_curl rl-net || return
	command -v nc >/dev/null || { notok rl-net "no nc on the host"; return; }
	local f=$work/rl-net.json sport=15572 r1 r2 why
	rl_config "$f" "\"network-interfaces\": [{\"iface_id\": \"eth0\", \"mvm_user\": {},
	  \"tx_rate_limiter\": $(rl_bw $RL_NET_RATE)}]"
	rl_sink "$sport"
	API_SOCK=$work/rl-net.sock
	open_session rl-net run --api-sock "$API_SOCK" --config-file "$f" || { rl_sink_stop; return; }
	net_user_dhcp
	rl_net_load "$sport"
	rl_sample T "$RL_TX" 10
	bad=
	expect rl-net 204 "$(api PATCH /network-interfaces/eth0 "{\"iface_id\": \"eth0\", \"tx_rate_limiter\": $(rl_bw $RL_NET_RATE2)}")" "PATCH /network-interfaces/eth0"
	say 'sleep 1'
	rl_sample U "$RL_TX" 10
	expect rl-net 400 "$(api PATCH /network-interfaces/eth9 '{"iface_id": "eth9"}')" "PATCH of an unknown interface"
	expect_grep "no network interface 'eth9'" "$(api_body)" "unknown interface: the fault does not name it"
	close_session
	r1=$(rl_rate T) r2=$(rl_rate U)
	echo "# rl-net: configured tx $RL_NET_RATE B/s, guest sent $r1 B/s; patched to $RL_NET_RATE2 B/s, guest sent $r2 B/s"
	[ "${r1:-0}" -gt 1000 ] || rl_diag "$RL_SRV"
	rl_sink_stop
	why=$(rl_check "config-file tx limit" "$r1" $RL_NET_RATE)
	[ -n "$why" ] || why=$(rl_check "after PATCH" "$r2" $RL_NET_RATE2)
	if [ -n "$why" ]; then fail_case rl-net "$why"
	elif [ -n "$bad" ]; then fail_case rl-net "$bad"
	elif [ -n "$(unclean_end)" ]; then fail_case rl-net "$(unclean_end)"
	else ok rl-net; fi
}

# PATCH /drives/{id} path_on_host on a running guest: it sees the new size at once (config-change
# interrupt) and reads the new image; a path that does not exist is refused and the old image
# stays; before InstanceStart, PATCH is refused as Firecracker refuses it.
rl_blk_swap_body() {
	have_curl rl-blk-swap || return
	local a=$work/swap-a.img b=$work/swap-b.img f=$work/rl-swap.json
	truncate -s 16M "$a"
	{ printf 'MVM-SWAPPED-IMAGE'; } >"$b"; truncate -s 32M "$b"
	bad=
	api_start rl-swap-preboot /dev/null || return
	expect rl-blk-swap 400 "$(api PATCH /drives/data "{\"drive_id\": \"data\", \"path_on_host\": $(cfg_json_str "$b")}")" "PATCH before InstanceStart"
	expect_grep 'not supported before starting the microVM' "$(api_body)" "PATCH before boot: fault"
	vm_kill
	rl_config "$f" "\"drives\": [{\"drive_id\": \"data\", \"path_on_host\": $(cfg_json_str "$a"),
	  \"is_root_device\": false, \"is_read_only\": false}]"
	API_SOCK=$work/rl-swap.sock
	open_session rl-blk-swap run --api-sock "$API_SOCK" --config-file "$f" || return
	say 'echo MVM-SIZE-A-$(cat /sys/block/vda/size)-E'
	vm_wait_for 'MVM-SIZE-A-[0-9]+-E' 20
	expect rl-blk-swap 400 "$(api PATCH /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$work/nonexistent.img\"}")" "PATCH to a missing file"
	expect_grep 'nonexistent.img' "$(api_body)" "missing file: the fault does not name it"
	expect rl-blk-swap 204 "$(api PATCH /drives/data "{\"drive_id\": \"data\", \"path_on_host\": $(cfg_json_str "$b")}")" "PATCH path_on_host"
	say 'sleep 1; echo MVM-SIZE-B-$(cat /sys/block/vda/size)-E; dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | head -c 17; echo'
	vm_wait_for 'MVM-SIZE-B-[0-9]+-E' 20
	sleep 1
	expect rl-blk-swap 200 "$(api GET /vm/config)" "GET /vm/config"
	expect_grep "swap-b.img" "$(api_body)" "GET /vm/config does not show the new path_on_host"
	close_session
	local sa sb
	sa=$(tr -d '\r' <"$VM_OUT" | sed -n 's/.*MVM-SIZE-A-\([0-9]*\)-E.*/\1/p' | head -n1)
	sb=$(tr -d '\r' <"$VM_OUT" | sed -n 's/.*MVM-SIZE-B-\([0-9]*\)-E.*/\1/p' | head -n1)
	echo "# rl-blk-swap: the guest saw $sa sectors, then $sb after PATCH path_on_host"
	if [ "$sa" != 32768 ]; then fail_case rl-blk-swap "before the swap the guest saw ${sa:-no} sectors, expected 32768"
	elif [ "$sb" != 65536 ]; then fail_case rl-blk-swap "after PATCH path_on_host the guest saw ${sb:-no} sectors, expected 65536"
	elif ! grep -qa '^MVM-SWAPPED-IMAGE' "$VM_OUT"; then fail_case rl-blk-swap "the guest did not read the new image's first bytes"
	elif [ -n "$bad" ]; then fail_case rl-blk-swap "$bad"
	elif [ -n "$(unclean_end)" ]; then fail_case rl-blk-swap "$(unclean_end)"
	else ok rl-blk-swap; fi
}
case_rl-baseline() { rl_guarded rl_baseline_body; }
case_rl-blk() { rl_guarded rl_blk_body; }
case_rl-net() { rl_guarded rl_net_body; }
case_rl-blk-swap() { rl_guarded rl_blk_swap_body; }
