#!/usr/bin/env bash
# bench/lib/io-run.sh - the measuring half of bench/blk.sh and bench/net.sh: boots each VMM, runs iobench, prints figures.
#
# Runs where /dev/kvm can boot Linux: on the host itself or inside the test host VM. It needs only
# bash, busybox-level awk/sort/grep/ip and the files named by these environment variables, which
# bench/lib/io-outer.sh sets:
#   BENCH_KIND     blk or net               BENCH_N         runs per VMM (figures are medians)
#   BENCH_MVM      the mvm binary           BENCH_IOBENCH   bench/guest/iobench.c, built static
#   BENCH_KERNEL   bzImage                  BENCH_INITRD    guest initramfs holding /usr/bin/iobench
#   BENCH_MEM      guest memory (256M)      BENCH_TIMEOUT   seconds a boot may take
#   BENCH_MIB      MiB per sequential transfer (disk and TCP)
#   BENCH_SECS     seconds of 4 KiB random reads          BENCH_QD  random-read threads (depth)
#   BENCH_IMG_MIB  size of the disk image (blk)      BENCH_VMMS  optional: "mvm qemu" or fewer
#   BENCH_LOGS     directory for each boot's logs (and, for blk, the image unless on a scratch disk)
#   MVM_TESTHOST_SCRATCH  optional (blk): a block device holding an empty ext4 file system
#                  (tests/testhost/run.sh --scratch-disk); mounted on /mnt/bench-scratch and the
#                  image made there, so host and guests do their I/O on one real disk
#   BENCH_DROP_CACHES  1: sync and drop the page cache before each read test (needs root), so
#                  buffered monitors read the disk as the host's O_DIRECT reads do
#   BENCH_ENV      one line describing where this runs, printed with the figures
#   BENCH_SHIP     1: also print the first boot's log of each VMM on stdout, each line prefixed
#                  "bench-log[NAME] ", so a caller reading the test host's console can keep them
# The guest runs the initramfs's mvmtest=echo mode: every line written to the VMM's serial stdin
# after MVM-GUEST-ECHO-READY is run by its shell; iobench prints "iobench: TEST VALUE UNIT" on the
# console. Each run boots every VMM once (interleaved: host, mvm, qemu, host, mvm, ...) and runs all
# tests of that boot. Exit status: 0 when every figure was measured, 1 otherwise (the figures that
# were measured are still printed).
# shellcheck disable=SC2054,SC2016  # QEMU's option values hold commas; guest lines are literal
set -uo pipefail

kind=$BENCH_KIND n=$BENCH_N logs=$BENCH_LOGS iob=$BENCH_IOBENCH mib=$BENCH_MIB
cmdline="console=ttyS0 reboot=k panic=1 mvmtest=echo"
cmd_timeout=$((60 + 4 * BENCH_SECS))  # one guest command; TCG-nested I/O is slow
mkdir -p "$logs"
now() { local up _; read -r up _ </proc/uptime; echo "$up"; }
over() { awk -v a="$1" -v b="$(now)" -v t="$2" 'BEGIN { exit !(b - a > t) }'; }

# --- One guest session: boot with stdin on a FIFO (fd 3), wait for lines, shut down. --------------
VM_PID='' VM_OUT='' VM_ERR=''
vm_start() {  # NAME RUN CMD... (the VMM's console goes to NAME.RUN.out, its stderr to .err)
	local base=$logs/$1.$2; shift 2
	VM_OUT=$base.out VM_ERR=$base.err
	rm -f "$base.fifo" && mkfifo "$base.fifo"
	{ printf '#'; printf ' %q' "$@"; echo; } >"$base.cmd"
	"$@" <"$base.fifo" >"$VM_OUT" 2>"$VM_ERR" &
	VM_PID=$!
	exec 3>"$base.fifo"
	rm -f "$base.fifo"
}
# wait_for FILE ERE SECS: 0 when a line of FILE matches, 1 when the VM died first, 2 on timeout.
wait_for() {
	local t0; t0=$(now)
	while :; do
		grep -qaE "$2" "$1" && return 0
		if [ -n "$VM_PID" ] && ! kill -0 "$VM_PID" 2>/dev/null; then
			grep -qaE "$2" "$1" && return 0
			return 1
		fi
		over "$t0" "$3" && return 2
		sleep 0.2
	done
}
say() { printf '%s\n' "$*" >&3; }
vm_stop() {
	local t0; t0=$(now)
	say 'poweroff -f' 2>/dev/null
	while kill -0 "$VM_PID" 2>/dev/null; do
		if over "$t0" 20; then kill -KILL "$VM_PID" 2>/dev/null; break; fi
		sleep 0.2
	done
	wait "$VM_PID" 2>/dev/null
	exec 3>&-
	VM_PID=
}
# value FILE TEST: the figure of the last "iobench: TEST VALUE" line of FILE, or "-".
value() {
	local v
	v=$(tr -d '\r' <"$1" | sed -n "s/.*iobench: $2 \([0-9.]*\) .*/\1/p" | tail -n1)
	echo "${v:--}"
}
failed=0
why() {  # NAME RUN MESSAGE: report a failure with the tail of the console and stderr
	failed=$((failed + 1))
	echo "bench: $1 run $2: $3; last lines of its console and stderr:"
	tail -n 12 "$VM_OUT" | tr -d '\r' | sed 's/^/    /'
	tail -n 8 "$VM_ERR" | sed 's/^/    /'
}
# guest_run NAME RUN TEST CMD: run CMD in the guest, wait for its "iobench: TEST" line; the
# figure (or "-") in GOT, status 1 on failure (reported).
guest_run() {
	local r
	GOT=-
	say "$4"
	wait_for "$VM_OUT" "iobench: ($3 [0-9]|error)" "$cmd_timeout"; r=$?
	if [ $r -ne 0 ] || grep -qa 'iobench: error' "$VM_OUT"; then
		why "$1" "$2" "'$4' gave no result ($([ $r -eq 2 ] && echo timed out || echo failed))"
		return 1
	fi
	GOT=$(value "$VM_OUT" "$3")
}
boot() {  # NAME RUN: start the session; 0 when the guest's shell is ready
	local r
	vm_start "$@" "${cmd[@]}"
	wait_for "$VM_OUT" '^MVM-GUEST-ECHO-READY' "$BENCH_TIMEOUT"; r=$?
	[ $r -eq 0 ] && return 0
	why "$1" "$2" "MVM-GUEST-ECHO-READY not seen ($([ $r -eq 2 ] && echo "timed out after $BENCH_TIMEOUT s" || echo "the VMM exited"))"
	vm_stop
	return 1
}

# Argument list of one VMM's boot with its device arguments (blk image / net mode), in "cmd".
qemu_base=(qemu-system-x86_64 -M microvm,acpi=on -accel kvm -cpu host -smp 1 -m "$BENCH_MEM"
	-nodefaults -no-user-config -nographic -serial stdio -no-reboot
	-kernel "$BENCH_KERNEL" -initrd "$BENCH_INITRD" -append "$cmdline")
mvm_base=("$BENCH_MVM" run --kernel "$BENCH_KERNEL" --initrd "$BENCH_INITRD" --cmdline "$cmdline"
	--cpus 1 --mem "$BENCH_MEM")
img=$logs/disk.img scratch_mnt=
gport=5202 hport=5201 tap=mvmbtap0
set_cmd() {  # VMM MODE
	case "$1:$2" in
	mvm:blk) cmd=("${mvm_base[@]}" --disk "$img") ;;
	# mvm's virtio-blk does buffered pread/pwrite (io_uring) and fdatasync on FLUSH: the page
	# cache in front of the image, as QEMU's cache=writeback (its default).
	qemu:blk) cmd=("${qemu_base[@]}" -drive "id=d0,file=$img,format=raw,if=none,cache=writeback"
		-device virtio-blk-device,drive=d0) ;;
	mvm:user) cmd=("${mvm_base[@]}" --net "user,hostfwd=tcp::$gport-:$gport") ;;
	qemu:user) cmd=("${qemu_base[@]}" -netdev "user,id=n0,hostfwd=tcp::$gport-:$gport"
		-device virtio-net-device,netdev=n0) ;;
	mvm:tap) cmd=("${mvm_base[@]}" --net "tap=$tap") ;;
	qemu:tap) cmd=("${qemu_base[@]}" -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off"
		-device virtio-net-device,netdev=n0) ;;
	esac
}
read -r -a vmms <<<"${BENCH_VMMS:-mvm qemu}"

# --- blk ------------------------------------------------------------------------------------------
# The monitor's page cache would otherwise serve the reads of what the guest has just written.
drop_caches() {
	[ "${BENCH_DROP_CACHES:-0}" = 1 ] || return 0
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "bench: cannot drop the page cache (not root?)"
}
# mount_scratch: put the image on the scratch disk's file system, when there is one.
mount_scratch() {
	local dev=${MVM_TESTHOST_SCRATCH:-}
	[ -n "$dev" ] || return 0
	# The NVMe namespace is probed asynchronously; it may appear after the test host's /init.
	for _ in $(seq 1 100); do [ -b "$dev" ] && break; sleep 0.2; done
	mkdir -p /mnt/bench-scratch
	mount -t ext4 "$dev" /mnt/bench-scratch || { echo "bench: cannot mount the scratch disk $dev"; return 1; }
	scratch_mnt=/mnt/bench-scratch img=$scratch_mnt/disk.img
}
# One line "write_MBps read_MBps iops" per run in NAME.data ("-" for a figure that failed).
blk_host() {
	local w r i
	w=$("$iob" seq-write "$img" "$mib" 2>&1); echo "$w" >"$logs/host.$1.out"
	drop_caches
	r=$("$iob" seq-read "$img" "$mib" 2>&1); echo "$r" >>"$logs/host.$1.out"
	drop_caches
	i=$("$iob" rand-read "$img" "$BENCH_SECS" "$BENCH_QD" 2>&1); echo "$i" >>"$logs/host.$1.out"
	w=$(value "$logs/host.$1.out" seq-write) r=$(value "$logs/host.$1.out" seq-read)
	i=$(value "$logs/host.$1.out" rand-read)
	case "$w $r $i" in *-*) failed=$((failed + 1)); echo "bench: host run $1 failed:"; sed 's/^/    /' "$logs/host.$1.out" ;; esac
	echo "$w $r $i" >>"$logs/host.data"
	echo "bench: host  run $1: seq-write $w MB/s, seq-read $r MB/s, rand-read $i IOPS ($(grep -o 'direct=[01]' "$logs/host.$1.out" | head -n1))"
}
blk_guest() {  # VMM RUN
	local w=- r=- i=-
	set_cmd "$1" blk
	if boot "$1" "$2"; then
		guest_run "$1" "$2" seq-write "iobench seq-write /dev/vda $mib" && w=$GOT
		drop_caches
		guest_run "$1" "$2" seq-read "iobench seq-read /dev/vda $mib" && r=$GOT
		drop_caches
		guest_run "$1" "$2" rand-read "iobench rand-read /dev/vda $BENCH_SECS $BENCH_QD" && i=$GOT
		vm_stop
	fi
	echo "$w $r $i" >>"$logs/$1.data"
	printf 'bench: %-5s run %s: seq-write %s MB/s, seq-read %s MB/s, rand-read %s IOPS\n' "$1" "$2" "$w" "$r" "$i"
}

# --- net ------------------------------------------------------------------------------------------
# host_sink PORT FILE: start a host tcp-sink in the background (pid in SINK), 0 once it listens.
host_sink() {
	"$iob" tcp-sink "$1" >"$2" 2>&1 &
	SINK=$!
	local pid=$VM_PID r; VM_PID=$SINK
	wait_for "$2" 'iobench: listening' 10; r=$?
	VM_PID=$pid
	return $r
}
# g2h VMM RUN ADDR: guest tcp-source to the host's sink at ADDR; GOT = MB/s as the sink saw it.
g2h() {
	local f=$logs/$1.$2.sink r
	GOT=-
	if ! host_sink "$hport" "$f"; then
		kill "$SINK" 2>/dev/null; wait "$SINK" 2>/dev/null
		why "$1" "$2" "the host's tcp-sink did not start: $(cat "$f")"
		return 1
	fi
	say "iobench tcp-source $3 $hport $mib"
	wait_for "$VM_OUT" 'iobench: (tcp-source [0-9]|error)' "$cmd_timeout"; r=$?
	# The sink prints its figure on EOF, just before the source sees the close and prints its own.
	sleep 0.5
	kill "$SINK" 2>/dev/null; wait "$SINK" 2>/dev/null
	GOT=$(value "$f" tcp-sink)
	[ $r -eq 0 ] && [ "$GOT" != - ] && return 0
	why "$1" "$2" "guest -> host TCP gave no figure (host sink: $(tr '\n' ' ' <"$f"))"
	return 1
}
# h2g VMM RUN GUESTADDR: host tcp-source to the guest's sink; GOT = MB/s as the guest's sink saw it.
h2g() {
	local r=1 before
	GOT=-
	before=$(grep -ac 'iobench: listening' "$VM_OUT")
	say "iobench tcp-sink $gport &"
	for _ in $(seq 1 100); do
		[ "$(grep -ac 'iobench: listening' "$VM_OUT")" -gt "$before" ] && { r=0; break; }
		sleep 0.2
	done
	if [ $r -ne 0 ]; then why "$1" "$2" "the guest's tcp-sink did not start"; return 1; fi
	"$iob" tcp-source "$3" "$gport" "$mib" >>"$logs/$1.$2.source" 2>&1
	if ! wait_for "$VM_OUT" 'iobench: tcp-sink [0-9]' 30; then
		why "$1" "$2" "host -> guest TCP gave no figure (host source: $(tr '\n' ' ' <"$logs/$1.$2.source"))"
		return 1
	fi
	GOT=$(value "$VM_OUT" tcp-sink)
}
net_host() {
	local f=$logs/host.$1.sink v
	if host_sink "$hport" "$f"; then
		"$iob" tcp-source 127.0.0.1 "$hport" "$mib" >"$logs/host.$1.source" 2>&1
		wait "$SINK" 2>/dev/null
	fi
	v=$(value "$f" tcp-sink)
	[ "$v" = - ] && { failed=$((failed + 1)); echo "bench: host loopback run $1 failed:"; cat "$f" "$logs/host.$1.source" | sed 's/^/    /'; }
	# Loopback is one figure for both directions; tap and user rows compare against it alike.
	echo "$v $v $v $v" >>"$logs/host.data"
	echo "bench: host  run $1: loopback TCP $v MB/s"
}
net_guest() {  # VMM RUN MODE -> appends "g2h h2g" for MODE to VMM.MODE.data
	local name=$1-$3 g=- h=- r
	set_cmd "$1" "$3"
	if boot "$name" "$2"; then
		if [ "$3" = user ]; then
			# Wait for the carrier first: udhcpc gives up on a link that is still down.
			say 'ip link set eth0 up; for i in 1 2 3 4 5 6 7 8 9 10; do [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = 1 ] && break; sleep 1; done; udhcpc -i eth0 -n -q -t 10 -T 2 2>&1 | grep -v "^udhcpc: \(started\|broadcasting\)"; echo BENCH-ADDR-$(ip -4 addr show eth0 | sed -n "s/.*inet \([0-9.]*\).*/\1/p")-'
			wait_for "$VM_OUT" 'BENCH-ADDR-[0-9.]*-' 90; r=$?
			grep -qa 'BENCH-ADDR-[0-9]' "$VM_OUT" || r=1
			haddr=10.0.2.2 gaddr=127.0.0.1
		else
			r=1
			for _ in $(seq 1 50); do [ -e "/sys/class/net/$tap" ] && { r=0; break; }; sleep 0.2; done
			if [ $r -eq 0 ]; then
				ip addr add 192.168.77.1/24 dev "$tap" && ip link set "$tap" up
				say 'ip addr add 192.168.77.2/24 dev eth0; ip link set eth0 up; ping -c 1 -W 10 192.168.77.1 >/dev/null 2>&1; echo BENCH-PING-$?-'
				wait_for "$VM_OUT" 'BENCH-PING-0-' 60; r=$?
			fi
			haddr=192.168.77.1 gaddr=192.168.77.2
		fi
		if [ $r -eq 0 ]; then
			g2h "$name" "$2" "$haddr" && g=$GOT
			h2g "$name" "$2" "$gaddr" && h=$GOT
		else
			why "$name" "$2" "the guest's network did not come up"
		fi
		vm_stop
	fi
	echo "$g $h" >>"$logs/$name.data"
	printf 'bench: %-5s run %s: %s guest->host %s MB/s, host->guest %s MB/s\n' "$1" "$2" "$3" "$g" "$h"
}

# --- Runs -----------------------------------------------------------------------------------------
modes=()
if [ "$kind" = net ]; then
	modes=(user)
	if [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && command -v ip >/dev/null; then
		modes+=(tap)
	else
		echo "bench: no tap runs (needs root, /dev/net/tun and ip)"
	fi
fi
: >"$logs/host.data"
for v in "${vmms[@]}"; do
	: >"$logs/$v.data"
	for m in "${modes[@]}"; do : >"$logs/$v-$m.data"; done
done
if [ "$kind" = blk ]; then
	echo "bench: blk: $n runs each of host, ${vmms[*]}; image $BENCH_IMG_MIB MiB, $mib MiB sequential, $BENCH_SECS s 4 KiB random reads at depth $BENCH_QD"
	mount_scratch || exit 1
	# Written out, not sparse: every read reaches allocated blocks on the disk.
	dd if=/dev/zero of="$img" bs=1M count="$BENCH_IMG_MIB" 2>/dev/null || { echo "bench: cannot create $img"; exit 1; }
	sync
else
	echo "bench: net: $n runs each of host loopback, ${vmms[*]} over ${modes[*]}; $mib MiB per transfer"
fi
for ((i = 1; i <= n; i++)); do
	if [ "$kind" = blk ]; then
		blk_host "$i"
		for v in "${vmms[@]}"; do blk_guest "$v" "$i"; done
	else
		net_host "$i"
		for m in "${modes[@]}"; do
			for v in "${vmms[@]}"; do net_guest "$v" "$i" "$m"; done
		done
	fi
done

# --- Figures --------------------------------------------------------------------------------------
# med FILE COLUMN -> "count median" (median of an even count: mean of the middle two).
med() {
	[ -f "$1" ] || { echo "0 -"; return; }
	awk -v c="$2" '$c != "-" && $c != "" { print $c }' "$1" | sort -n | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "0 -"; exit }
			print NR, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)
		}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "-") print "-"; else printf "%." d "f", v }'; }
# row LABEL DECIMALS HOSTFILE:COL MVMFILE:COL QEMUFILE:COL HOST_TARGET
row() {
	local h m q hc mc qc
	read -r hc h <<<"$(med "${3%:*}" "${3##*:}")"
	read -r mc m <<<"$(med "${4%:*}" "${4##*:}")"
	read -r qc q <<<"$(med "${5%:*}" "${5##*:}")"
	printf '  %-28s %9s %9s %9s %9s %9s   %s/%s/%s of %s   %s\n' "$1" "$(fmt "$h" "$2")" \
		"$(fmt "$m" "$2")" "$(fmt "$q" "$2")" "$(ratio "$m" "$h")" "$(ratio "$m" "$q")" \
		"$hc" "$mc" "$qc" "$n" "$6"
}
header() {
	printf '  %-28s %9s %9s %9s %9s %9s   %s   %s\n' "$1" host mvm qemu mvm/host mvm/qemu "ok h/m/q" target
}
qv=$(qemu-system-x86_64 --version | head -n1)
echo
if [ "$kind" = blk ]; then
	hdirect=$(grep -ho 'direct=[01]' "$logs"/host.*.out 2>/dev/null | sort -u | tr '\n' ' ')
	echo "=== mvm virtio-blk benchmark ==="
	echo "where:   $BENCH_ENV"
	echo "guest:   $(basename "$BENCH_KERNEL") + $(basename "$BENCH_INITRD"), $BENCH_MEM, 1 vCPU; iobench on /dev/vda with O_DIRECT"
	echo "disk:    raw image of $BENCH_IMG_MIB MiB at $img (file system $(stat -f -c %T "$(dirname "$img")" 2>/dev/null || echo ?); host iobench ${hdirect:-?})"
	if [ -n "$scratch_mnt" ]; then
		echo "         on the test host's scratch disk $MVM_TESTHOST_SCRATCH (ext4; QEMU NVMe, cache=${MVM_TESTHOST_SCRATCH_CACHE:-?}, a raw file on the machine below)"
	fi
	[ "${BENCH_DROP_CACHES:-0}" = 1 ] && echo "         page cache dropped (sync; drop_caches) before each read test, host and guests alike"
	echo "qemu:    $qv; -M microvm,acpi=on -accel kvm -cpu host; -drive cache=writeback (aio=threads) + virtio-blk-device"
	echo "tests:   seq write/read $mib MiB in 1 MiB requests (write timed up to fdatasync); 4 KiB random reads for $BENCH_SECS s, $BENCH_QD thread(s), one read in flight each"
	echo "figures: medians of $n runs; MB = 10^6 bytes"
	echo
	header "virtio-blk"
	row "seq write (MB/s)" 1 "$logs/host.data:1" "$logs/mvm.data:1" "$logs/qemu.data:1" "mvm/host >= 0.90, mvm/qemu >= 1.00"
	row "seq read (MB/s)" 1 "$logs/host.data:2" "$logs/mvm.data:2" "$logs/qemu.data:2" "mvm/host >= 0.90, mvm/qemu >= 1.00"
	row "4K rand read (IOPS)" 0 "$logs/host.data:3" "$logs/mvm.data:3" "$logs/qemu.data:3" "mvm/qemu >= 1.00"
else
	echo "=== mvm virtio-net benchmark ==="
	echo "where:   $BENCH_ENV"
	echo "guest:   $(basename "$BENCH_KERNEL") + $(basename "$BENCH_INITRD"), $BENCH_MEM, 1 vCPU; one TCP stream of $mib MiB per figure, MB/s as the receiver counts it"
	echo "user:    mvm --net user,hostfwd=tcp::$gport-:$gport vs qemu -netdev user,hostfwd=... (libslirp); guest->host to 10.0.2.2, host->guest via hostfwd on 127.0.0.1"
	echo "tap:     mvm --net tap=$tap vs qemu -netdev tap,vhost=off; 192.168.77.1 (host) <-> .2 (guest)"
	echo "host:    iobench tcp-source -> tcp-sink over 127.0.0.1 (the same figure in every row)"
	echo "qemu:    $qv; -M microvm,acpi=on -accel kvm -cpu host; virtio-net-device"
	echo "figures: medians of $n runs; MB = 10^6 bytes"
	echo
	header "virtio-net TCP (MB/s)"
	c=1
	for m in "${modes[@]}"; do
		row "$m: guest -> host" 1 "$logs/host.data:$c" "$logs/mvm-$m.data:1" "$logs/qemu-$m.data:1" "mvm/qemu >= 1.00"
		row "$m: host -> guest" 1 "$logs/host.data:$((c + 1))" "$logs/mvm-$m.data:2" "$logs/qemu-$m.data:2" "mvm/qemu >= 1.00"
		c=$((c + 2))
	done
fi
echo "=== end ==="
[ -n "$scratch_mnt" ] && { rm -f "$img"; umount "$scratch_mnt" 2>/dev/null; }

if [ "${BENCH_SHIP:-0}" = 1 ]; then
	for f in "$logs"/*.1.out; do
		v=${f##*/}; v=${v%.1.out}
		case "$v" in host) continue ;; esac
		tr -d '\r' <"$f" | sed "s/^/bench-log[$v] /"
		[ -f "$logs/$v.1.err" ] && sed "s/^/bench-log[$v] stderr: /" "$logs/$v.1.err"
	done
fi
[ "$failed" -eq 0 ]
