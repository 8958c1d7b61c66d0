# tests/linux/virtio-cases.sh - the virtio cases of tests/linux/run.sh (sourced by it; uses its
# vm_* helpers, $kernel, $initrd, $work and $BASE_CMDLINE).
#
# The guest runs in mvmtest=echo mode: after MVM-GUEST-ECHO-READY it runs every line written to
# mvm's stdin. Its tty echoes each line as typed, so every marker a case looks for is computed
# by the guest's shell ($((...)) or a command's output) and never appears literally in the line.

VIRTIO_CASES=(blk-write blk-ro blk-root bad-disk-missing rng hvc net-user net-user-flood
	net-user-restrict net-tap)

# Boot in echo mode with ARGS: open_session NAME ARGS... (0 when the guest is ready for lines;
# then write lines with `say`, finish with close_session SECS).
open_session() {
	local name=$1 fifo=$work/$1.fifo; shift
	rm -f "$fifo"; mkfifo "$fifo"
	vm_start "$name" "$fifo" "$@"
	exec 3>"$fifo"
	vm_wait_for '^MVM-GUEST-ECHO-READY' "$BOOT_TIMEOUT"; BOOT_WAIT=$?
	[ $BOOT_WAIT -eq 0 ] && return 0
	exec 3>&-
	vm_kill
	fail_case "$name" "$(boot_failed_reason)"
	return 1
}
say() { printf '%s\n' "$*" >&3; }
close_session() { say 'poweroff -f'; vm_wait_exit "${1:-45}" || :; exec 3>&-; time_note "$VM_NAME"; }
# Why the VM's end was not clean (mvm's status not 0, or a sanitizer report), or nothing.
unclean_end() {
	if [ "$VM_RC" != 0 ]; then echo "mvm exited $VM_RC, expected 0"
	elif grep -qaE 'AddressSanitizer|runtime error|LeakSanitizer' "$VM_ERR"; then echo "mvm printed a sanitizer report"
	fi
}

# The mvm arguments of an echo-mode boot, in the array ECHO.
set_echo() { ECHO=(run --kernel "$kernel" --initrd "$initrd" --cmdline "$BASE_CMDLINE mvmtest=echo"); }

# The guest writes a pattern to /dev/vda and fsyncs (a virtio-blk FLUSH); mvm is then killed
# with SIGKILL, so only what reached the image before the flush completed can be there.
case_blk-write() {
	local img=$work/blk-write.img got
	dd if=/dev/zero of="$img" bs=1M count=8 2>/dev/null
	set_echo
	open_session blk-write "${ECHO[@]}" --disk "$img" || return
	say 'printf "MVM-BLK-%s-PATTERN" $((40+2)) | dd of=/dev/vda conv=fsync 2>/dev/null && echo MVM-BLK-SYNCED-$((1+1))'
	vm_wait_for 'MVM-BLK-SYNCED-2' 20; local r=$?
	kill -KILL "$VM_PID" 2>/dev/null; vm_reap; exec 3>&-
	time_note blk-write
	got=$(head -c 18 "$img")
	if [ $r -ne 0 ]; then fail_case blk-write "the guest did not report a completed write + fsync of /dev/vda"
	elif [ "$got" != MVM-BLK-42-PATTERN ]; then fail_case blk-write "image starts with '$got', expected MVM-BLK-42-PATTERN"
	elif grep -qaE 'AddressSanitizer|runtime error' "$VM_ERR"; then fail_case blk-write "mvm printed a sanitizer report"
	else ok blk-write; fi
}

# A read-only disk: the guest reads it, a write fails, the image is unchanged.
case_blk-ro() {
	local img=$work/blk-ro.img ref=$work/blk-ro.ref
	{ printf 'MVM-RO-ORIGINAL'; dd if=/dev/zero bs=1M count=4 2>/dev/null; } >"$img"
	cp "$img" "$ref"
	set_echo
	open_session blk-ro "${ECHO[@]}" --disk "$img,ro" || return
	say 'echo MVM-RO-FLAG-$(cat /sys/block/vda/ro); echo MVM-RO-READ-$(head -c 15 /dev/vda | tr A-Z a-z)'
	say 'echo overwrite | dd of=/dev/vda conv=fsync 2>/dev/null; echo MVM-RO-RC-$?'
	vm_wait_for 'MVM-RO-RC-[0-9]' 20
	close_session
	if ! grep -qa 'MVM-RO-READ-mvm-ro-original' "$VM_OUT"; then fail_case blk-ro "the guest could not read the read-only disk"
	elif ! grep -qa 'MVM-RO-FLAG-1' "$VM_OUT"; then fail_case blk-ro "/sys/block/vda/ro is not 1 (VIRTIO_BLK_F_RO not offered?)"
	elif grep -qa 'MVM-RO-RC-0' "$VM_OUT"; then fail_case blk-ro "a write to the read-only disk succeeded in the guest"
	elif ! cmp -s "$img" "$ref"; then fail_case blk-ro "the read-only image changed"
	elif [ -n "$(unclean_end)" ]; then fail_case blk-ro "$(unclean_end)"
	else ok blk-ro; fi
}

# make_rootfs OUT: an ext4 image (mke2fs -d, run where the tests are launched: the test host has
# no e2fsprogs) with busybox and an /sbin/init that reports, writes a file, syncs, powers off.
make_rootfs() {
	local out=$1 dir busybox=${MVM_BUSYBOX:-}
	[ -x "$busybox" ] || busybox=$(command -v busybox) || return 1
	command -v mke2fs >/dev/null || return 1
	dir=$(mktemp -d)
	mkdir -p "$dir"/{bin,sbin,proc,sys,dev,root,tmp}
	cp "$busybox" "$dir/bin/busybox"
	ln -s busybox "$dir/bin/sh"
	cat >"$dir/sbin/init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "MVM-ROOTFS-INIT root=$(awk '$2 == "/" { print $1 " " $3 }' /proc/mounts | tail -n1)"
echo "written by the guest" >/root/marker && sync && echo MVM-ROOTFS-WROTE
poweroff -f
INIT
	chmod 755 "$dir/sbin/init"
	rm -f "$out"
	mke2fs -q -t ext4 -d "$dir" "$out" 32M >/dev/null 2>&1; local rc=$?
	rm -rf "$dir"
	return $rc
}

case_blk-root() {
	local img=${rootfs:-}
	if [ -z "$img" ]; then
		img=$work/rootfs.ext4
		make_rootfs "$img" || { notok blk-root "cannot build the ext4 root image (needs mke2fs and busybox)"; return; }
	fi
	local copy=$work/root.ext4
	cp "$img" "$copy"
	vm_start blk-root /dev/null run --kernel "$kernel" --initrd "$initrd" --disk "$copy" \
		--cmdline "$BASE_CMDLINE mvmroot=/dev/vda"
	vm_wait_exit "$BOOT_TIMEOUT" || :
	time_note blk-root
	if ! grep -qa '^MVM-ROOTFS-INIT root=/dev/vda ext4' "$VM_OUT"; then fail_case blk-root "init did not start from /dev/vda as an ext4 root"
	elif ! grep -qa '^MVM-ROOTFS-WROTE' "$VM_OUT"; then fail_case blk-root "writing and syncing a file on the root disk failed"
	elif [ -n "$(unclean_end)" ]; then fail_case blk-root "$(unclean_end)"
	else ok blk-root; fi
}

case_bad-disk-missing() {
	local f=$work/no-such-disk.img
	bad_input_case bad-disk-missing "$f" --kernel "$kernel" --initrd "$initrd" --disk "$f"
}

case_rng() {
	set_echo
	open_session rng "${ECHO[@]}" --rng || return
	say 'echo MVM-RNG-$(cat /sys/class/misc/hw_random/rng_current)'
	say 'echo MVM-RNG-BYTES-$(head -c 32 /dev/hwrng | od -An -tx1 | tr -d " \n")'
	vm_wait_for 'MVM-RNG-BYTES-' 20
	close_session
	local hex; hex=$(tr -d '\r' <"$VM_OUT" | sed -n 's/^MVM-RNG-BYTES-\([0-9a-f]*\).*/\1/p' | head -n1)
	if ! grep -qa 'MVM-RNG-virtio_rng' "$VM_OUT"; then fail_case rng "the guest's hw_random is not virtio_rng"
	elif [ ${#hex} -ne 64 ]; then fail_case rng "read ${#hex} hex digits from /dev/hwrng, expected 64"
	elif [ "$hex" = "$(printf '0%.0s' $(seq 64))" ]; then fail_case rng "/dev/hwrng gave zeros"
	elif [ -n "$(unclean_end)" ]; then fail_case rng "$(unclean_end)"
	else ok rng; fi
}

# --console virtio: stdin goes to hvc0, where the guest runs its shell.
case_hvc() {
	local fifo=$work/hvc.fifo r
	rm -f "$fifo"; mkfifo "$fifo"
	vm_start hvc "$fifo" run --kernel "$kernel" --initrd "$initrd" --console virtio \
		--cmdline "$BASE_CMDLINE mvmtest=hvc"
	exec 3>"$fifo"
	vm_wait_for '^MVM-GUEST-HVC-SHELL' "$BOOT_TIMEOUT"; r=$?
	if [ $r -ne 0 ]; then
		exec 3>&-; BOOT_WAIT=$r; vm_kill
		if grep -qa 'no /dev/hvc0' "$VM_OUT"; then fail_case hvc "the guest has no /dev/hvc0"
		else fail_case hvc "$(boot_failed_reason)"; fi
		return
	fi
	# ash asks the terminal for the cursor position (ESC[6n) as it prints its prompt and
	# reads the answer from its input: a line sent before that would be eaten as the answer.
	vm_wait_for '/ # ' 20 || :
	sleep 2
	say 'echo hvc-$((6*7)) $(tty)'
	vm_wait_for 'hvc-42 /dev/hvc0' 20; r=$?
	close_session
	if [ $r -ne 0 ]; then fail_case hvc "a line written to mvm's stdin got no answer from the shell on /dev/hvc0"
	elif [ -n "$(unclean_end)" ]; then fail_case hvc "$(unclean_end)"
	else ok hvc; fi
}

# User networking: DHCP, guest -> host service on 127.0.0.1 (as 10.0.2.2), host -> guest via hostfwd.
case_net-user() {
	local got=$work/net-user.got hport=15556 sport=15555 srv r
	command -v nc >/dev/null || { notok net-user "no nc on the host"; return; }
	nc -l -p "$sport" >"$got" 2>/dev/null & srv=$!
	set_echo
	open_session net-user "${ECHO[@]}" --net "user,hostfwd=tcp::$hport-:80" || { kill $srv 2>/dev/null; return; }
	say 'ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 -T 2 >/dev/null 2>&1; echo MVM-NET-ADDR-$(ip -4 addr show eth0 | sed -n "s/.*inet \([0-9.]*\).*/\1/p")'
	vm_wait_for 'MVM-NET-ADDR-' 40
	say "echo from-guest-\$((3*3)) | nc -w 5 10.0.2.2 $sport; echo MVM-NET-SENT-\$?"
	vm_wait_for 'MVM-NET-SENT-' 20
	say '(echo from-guest-server-$((5*5)) | nc -l -p 80 >/dev/null 2>&1 &); sleep 1; echo MVM-NET-LISTENING-$((0+1))'
	vm_wait_for 'MVM-NET-LISTENING-1' 20; r=$?
	local fwd=''
	# nc -w bounds only the connect: slirp accepts at once even when the guest never answers.
	[ $r -eq 0 ] && fwd=$(timeout 10 nc -w 5 127.0.0.1 "$hport" </dev/null 2>/dev/null | tr -d '\r')
	close_session
	kill $srv 2>/dev/null; wait $srv 2>/dev/null
	if ! grep -qa 'MVM-NET-ADDR-10.0.2.15' "$VM_OUT"; then fail_case net-user "the guest got no 10.0.2.15 lease over user networking"
	elif ! grep -qa 'from-guest-9' "$got"; then fail_case net-user "the host service on 127.0.0.1:$sport got nothing from the guest (10.0.2.2:$sport)"
	elif [ "$fwd" != from-guest-server-25 ]; then fail_case net-user "hostfwd 127.0.0.1:$hport -> guest:80 gave '$fwd'"
	elif [ -n "$(unclean_end)" ]; then fail_case net-user "$(unclean_end)"
	else ok net-user; fi
}

# TAP: mvm creates mvmtap0; the host side gets 192.168.77.1, the guest 192.168.77.2; ping.
case_net-tap() {
	if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ]; then
		if [ "${CI:-}" = true ]; then notok net-tap "needs root and /dev/net/tun"; else skip net-tap "needs root and /dev/net/tun"; fi
		return
	fi
	set_echo
	open_session net-tap "${ECHO[@]}" --net tap=mvmtap0 || return
	ip addr add 192.168.77.1/24 dev mvmtap0 && ip link set mvmtap0 up
	say 'ip addr add 192.168.77.2/24 dev eth0; ip link set eth0 up; ping -c 3 -W 5 192.168.77.1 >/dev/null 2>&1; echo MVM-TAP-PING-$?'
	vm_wait_for 'MVM-TAP-PING-[0-9]' 40
	local hostping=1
	ping -c 2 -W 5 192.168.77.2 >/dev/null 2>&1 && hostping=0
	close_session
	if ! grep -qa 'MVM-TAP-PING-0' "$VM_OUT"; then fail_case net-tap "the guest could not ping the host over the tap"
	elif [ $hostping -ne 0 ]; then fail_case net-tap "the host could not ping the guest over the tap"
	elif [ -n "$(unclean_end)" ]; then fail_case net-tap "$(unclean_end)"
	else ok net-tap; fi
}

# DHCP on eth0; prints MVM-NET-ADDR-<address> (a case waits for it).
net_user_dhcp() {
	say 'ip link set eth0 up; udhcpc -i eth0 -n -q -t 5 -T 2 >/dev/null 2>&1; echo MVM-NET-ADDR-$(ip -4 addr show eth0 | sed -n "s/.*inet \([0-9.]*\).*/\1/p")'
	vm_wait_for 'MVM-NET-ADDR-10' 40
}

# utime + stime of process PID (all its threads; with NAME, its threads of that name), in ticks.
proc_cpu_ticks() {
	if [ -n "${2:-}" ]; then
		cat /proc/"$1"/task/*/stat 2>/dev/null |
			awk -v n="($2)" '$2 == n { sub(/.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
	else
		awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
	fi
}

# A guest sends one datagram from each of 4000 source ports through user networking (max-flows=256):
# while it does, mvm's fd count stays under the cap, the API answers, and afterwards the guest's
# disk and console still work. tests/linux/guest/udpflood.c is built static on the host (run.sh
# ships it with the tiny guests) and reaches the guest as the raw disk /dev/vda.
case_net-user-flood() {
	local tool img=$work/udpflood.img sock=$work/flood.sock size base n peak=0 i t0 worst=0 bad='' api_n=0
	tool=${guests:-/nonexistent}/udpflood
	if [ ! -x "$tool" ]; then
		tool=$work/udpflood
		cc -static -O2 -o "$tool" "$MVM_ROOT/tests/linux/guest/udpflood.c" 2>/dev/null ||
			{ notok net-user-flood "cannot build tests/linux/guest/udpflood.c (cc -static)"; return; }
	fi
	size=$(stat -c %s "$tool")
	cp "$tool" "$img" && truncate -s 2M "$img"
	# With --api-sock the VM comes from a config file (booted at once); mvm_user's max_flows is
	# the file's spelling of max-flows=256.
	cat >"$work/flood.json" <<-JSON
	{"boot-source": {"kernel_image_path": "$kernel", "initrd_path": "$initrd",
	                 "boot_args": "$BASE_CMDLINE mvmtest=echo"},
	 "drives": [{"drive_id": "tool", "path_on_host": "$img", "is_root_device": false}],
	 "network-interfaces": [{"iface_id": "eth0", "mvm_user": {"max_flows": 256}}]}
	JSON
	open_session net-user-flood run --config-file "$work/flood.json" --api-sock "$sock" || return
	net_user_dhcp
	base=$(ls "/proc/$VM_PID/fd" | wc -l)
	local cpu0 net0; cpu0=$(proc_cpu_ticks "$VM_PID"); net0=$(proc_cpu_ticks "$VM_PID" mvm-net)
	say "head -c $size /dev/vda >/tmp/uf; chmod +x /tmp/uf; /tmp/uf 10.0.2.2 9 4000 20000; echo MVM-FLOOD-DONE-\$((6*7))"
	for i in $(seq 1 90); do
		n=$(ls "/proc/$VM_PID/fd" 2>/dev/null | wc -l)
		[ "$n" -gt "$peak" ] && peak=$n
		t0=$(mvm_now)
		if timeout 10 "$mvm" ctl --api-sock "$sock" config 2>/dev/null | grep -q '"boot-source"'; then
			api_n=$((api_n + 1))
			worst=$(awk -v a="$t0" -v b="$(mvm_now)" -v w="$worst" 'BEGIN { d = b - a; print (d > w ? d : w) }')
		else
			bad="mvm ctl config got no answer within 10 s during the flood"
		fi
		grep -qa 'MVM-FLOOD-DONE-42' "$VM_OUT" && break
		sleep 1
	done
	n=$(ls "/proc/$VM_PID/fd" 2>/dev/null | wc -l)
	[ "$n" -gt "$peak" ] && peak=$n
	local cpu=$(( $(proc_cpu_ticks "$VM_PID") - cpu0 )) net=$(( $(proc_cpu_ticks "$VM_PID" mvm-net) - net0 ))
	say 'echo MVM-DISK-$(dd if=/dev/vda bs=1k count=64 2>/dev/null | wc -c)'
	vm_wait_for 'MVM-DISK-65536' 20; local disk=$?
	echo "# net-user-flood: mvm fds $base before, $peak at most during 4000 guest UDP flows (max-flows=256);" \
		"$api_n API answers, the slowest in $worst s; $(grep -ac 'guest frames dropped' "$VM_ERR") cap warning line(s);" \
		"$(awk -v t="$cpu" -v w="$net" -v hz="$(getconf CLK_TCK 2>/dev/null || echo 100)" 'BEGIN {
			printf "mvm used %.2f s CPU (%.2f ms per datagram), its net worker %.2f s (%.2f ms)",
				t / hz, t / hz * 1000 / 4000, w / hz, w / hz * 1000 / 4000 }')"
	close_session
	if ! grep -qa 'MVM-NET-ADDR-10.0.2.15' "$VM_OUT"; then fail_case net-user-flood "the guest got no 10.0.2.15 lease"
	elif ! grep -qa 'MVM-FLOOD-DONE-42' "$VM_OUT"; then fail_case net-user-flood "the guest's flood did not finish in 90 s"
	elif ! grep -qaE 'MVM-UDPFLOOD-SENT-(3[5-9]|40)[0-9][0-9]' "$VM_OUT"; then fail_case net-user-flood "the guest sent fewer than 3500 of its 4000 datagrams"
	elif [ $((peak - base)) -gt 260 ]; then fail_case net-user-flood "mvm's fds grew from $base to $peak (max-flows=256)"
	elif [ -n "$bad" ]; then fail_case net-user-flood "$bad"
	elif [ $disk -ne 0 ]; then fail_case net-user-flood "the guest could not read its disk after the flood"
	elif ! grep -qa 'at the cap of 256 host sockets' "$VM_ERR"; then fail_case net-user-flood "mvm did not report frames dropped at the cap"
	elif [ -n "$(unclean_end)" ]; then fail_case net-user-flood "$(unclean_end)"
	else ok net-user-flood; fi
}

# restrict=on: the guest reaches nothing of the host (10.0.2.2 is its loopback, over TCP and UDP),
# while hostfwd still brings host connections in.
case_net-user-restrict() {
	local got=$work/restrict.got ugot=$work/restrict.ugot hport=15558 sport=15557 srv usrv r fwd=''
	command -v nc >/dev/null || { notok net-user-restrict "no nc on the host"; return; }
	nc -l -p "$sport" >"$got" 2>/dev/null & srv=$!
	nc -u -l -p "$sport" >"$ugot" 2>/dev/null & usrv=$!
	set_echo
	open_session net-user-restrict "${ECHO[@]}" --net "user,restrict=on,hostfwd=tcp::$hport-:80" ||
		{ kill $srv $usrv 2>/dev/null; return; }
	net_user_dhcp
	say "echo from-guest-\$((3*3)) | nc -w 3 10.0.2.2 $sport; echo udp-from-guest-\$((3*3)) | nc -u -w 1 10.0.2.2 $sport; echo MVM-NET-SENT-\$((1+1))"
	vm_wait_for 'MVM-NET-SENT-2' 20
	say '(echo from-guest-server-$((5*5)) | nc -l -p 80 >/dev/null 2>&1 &); sleep 1; echo MVM-NET-LISTENING-$((0+1))'
	vm_wait_for 'MVM-NET-LISTENING-1' 20; r=$?
	[ $r -eq 0 ] && fwd=$(timeout 10 nc -w 5 127.0.0.1 "$hport" </dev/null 2>/dev/null | tr -d '\r')
	close_session
	kill $srv $usrv 2>/dev/null; wait $srv $usrv 2>/dev/null
	if ! grep -qa 'MVM-NET-ADDR-10.0.2.15' "$VM_OUT"; then fail_case net-user-restrict "the guest got no 10.0.2.15 lease (DHCP works under restrict=on)"
	elif ! grep -qa 'MVM-NET-SENT-2' "$VM_OUT"; then fail_case net-user-restrict "the guest's nc attempts did not end"
	elif grep -qa 'from-guest-9' "$got" "$ugot"; then fail_case net-user-restrict "the host service on 127.0.0.1:$sport got data from the guest under restrict=on"
	elif [ "$fwd" != from-guest-server-25 ]; then fail_case net-user-restrict "hostfwd 127.0.0.1:$hport -> guest:80 gave '$fwd' under restrict=on"
	elif [ -n "$(unclean_end)" ]; then fail_case net-user-restrict "$(unclean_end)"
	else ok net-user-restrict; fi
}
