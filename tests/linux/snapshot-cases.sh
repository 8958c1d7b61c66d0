# tests/linux/snapshot-cases.sh - snapshot and restore cases of tests/linux/run.sh (sourced by it,
# after api-cases.sh; uses its vm_* and api helpers, $mvm, $kernel, $initrd, $work, $BASE_CMDLINE).
#
# The guest runs mvmtest=count: "MVM-COUNT=i T=<guest epoch>" on COM1 every 0.2 s, and each
# count also in block i of its disk. A snapshot is taken with `mvm ctl snapshot --stay-paused`,
# the source killed with SIGKILL, and `mvm run --restore` must continue the count (no second
# MVM-GUEST-READY: /init did not restart), write the following blocks, and never move the
# guest's clock back. Bad snapshot inputs are tried on the same files, each refused with exit
# status 2 and a message naming the file, and leaving the files unchanged.

SNAPSHOT_CASES=(snapshot-restore snapshot-restore-smp2 snapshot-diff snapshot-tiny)

# The last count in FILE (0: none).
snap_last_count() { tr -d '\r' <"$1" | sed -n 's/^MVM-COUNT=\([0-9]*\) .*/\1/p' | tail -n1 | grep . || echo 0; }
snap_first_count() { tr -d '\r' <"$1" | sed -n 's/^MVM-COUNT=\([0-9]*\) .*/\1/p' | head -n1 | grep . || echo 0; }
snap_time_of() { tr -d '\r' <"$1" | sed -n "s/^MVM-COUNT=$2 T=\\([0-9]*\\).*/\\1/p" | head -n1; }

# Wait up to SECS for FILE to hold a count >= N.
# The guest's clocksource watchdog found kvm-clock and its TSC apart (a restore must move both
# on by the same time): the kernel's warning, or nothing. The watchdog compares them every
# 0.5 s (migrate-clock).
snap_tsc_unstable() { tr -d '\r' <"$1" | grep -a -m1 -E "Marking clocksource 'tsc' as unstable|Marking TSC unstable"; }

snap_wait_count() {
	local file=$1 n=$2 secs=$3 t0
	t0=$(mvm_now)
	while [ "$(snap_last_count "$file")" -lt "$n" ]; do
		awk -v a="$t0" -v b="$(mvm_now)" -v t="$secs" 'BEGIN { exit !(b - a > t) }' && return 1
		sleep 0.2
	done
}

# A boot that never counted: is the guest still writing COM1 (output growing), and where are
# its vCPUs? (Two runs saw the output stop mid-line during boot; this tells a guest that
# stopped from output mvm lost.)
snap_diagnose() {
	local s1 s2
	s1=$(wc -c <"$VM_OUT"); sleep 3; s2=$(wc -c <"$VM_OUT")
	echo "# diagnose: stdout $s1 -> $s2 bytes over 3 s"
	api GET /mvm/stats >/dev/null && echo "# diagnose: stats $(api_body | head -c 1500)"
	api PATCH /vm '{"state": "Paused"}' >/dev/null
	api GET /mvm/vcpus >/dev/null && echo "# diagnose: vcpus $(api_body | tr -d '\n ' | head -c 800)"
	snap_threads
}
# Each mvm thread's name, state and kernel wait channel (a vCPU blocked in a host call shows here).
snap_threads() {
	local t
	for t in /proc/"$VM_PID"/task/*; do
		echo "# diagnose: thread $(cat "$t/comm" 2>/dev/null) state $(cut -d' ' -f3 "$t/stat" 2>/dev/null) wchan $(cat "$t/wchan" 2>/dev/null)"
	done
}

# snap_output_settled FILE SECS: wait until FILE has not grown for a second (at most SECS).
snap_output_settled() {
	local file=$1 secs=$2 n m i=0
	n=$(wc -c <"$file")
	while [ $i -lt "$secs" ]; do
		sleep 1
		m=$(wc -c <"$file")
		[ "$m" = "$n" ] && return 0
		n=$m i=$((i + 1))
	done
	return 1
}

# Take a snapshot of the VM behind $API_SOCK into DIR and kill it: the count it stopped at goes
# to SNAP_AT. 0, or 1 with $bad set.
snap_take_and_kill() {
	local dir=$1 out
	SNAP_HOST_T0=$(date +%s)   # at or before the pause: the guest's time away starts after it
	out=$("$mvm" ctl --api-sock "$API_SOCK" snapshot "$dir" --stay-paused 2>&1) ||
		{ bad="mvm ctl snapshot failed: $out"; return 1; }
	echo "# $out"
	[ -s "$dir/vmstate" ] && [ -s "$dir/memory" ] || { bad="snapshot files missing in $dir"; return 1; }
	# What the guest wrote before the pause and this paused mvm still holds is written by it,
	# not by the restored one (uart8250_save waits 100 ms for it, no longer): read the count
	# once its output has stopped growing (a loaded test host once took longer, and the kill
	# below lost a count the guest had written).
	snap_output_settled "$VM_OUT" 10
	SNAP_AT=$(snap_last_count "$VM_OUT")
	kill -KILL "$VM_PID"; vm_reap
	return 0
}

# tests/tools/snap-edit, built beside mvm: well-formed state files with one thing wrong.
snap_edit_bin() { echo "$(dirname "$mvm")/tests/tools/snap-edit"; }

# What shows a file was not written: its size and modification time (ns).
snap_stamp() { stat -c '%s %y' "$1"; }

# $work/bad/NAME: a copy of $dir's state file beside a link to its memory file (not copied:
# no refusal may write it, and the check below proves none did).
snap_bad_copy() { mkdir -p "$work/bad/$1"; cp "$dir/vmstate" "$work/bad/$1/"; ln -s "$dir/memory" "$work/bad/$1/memory"; }

# Cut the last N bytes of FILE (busybox truncate takes no relative size).
snap_shrink() { truncate -s $(($(stat -c %s "$1") - $2)) "$1"; }

# A restored mvm in the background: PID in RPID, stdout in $work/$1.out.
snap_restore_bg() {
	local name=$1; shift
	"$mvm" run --restore "$@" </dev/null >"$work/$name.out" 2>"$work/$name.err" &
	RPID=$!
}

# mvm run --restore DIR ARGS... must fail with status 2 and a message matching RE.
snap_refused() {
	local what=$1 re=$2 rc; shift 2
	[ -n "$bad" ] && return
	timeout 30 "$mvm" run --restore "$@" </dev/null >"$work/refused.out" 2>"$work/refused.err"
	rc=$?
	if [ $rc -ne 2 ]; then bad="$what: exit status $rc, expected 2 ($(tr '\n' ' ' <"$work/refused.err" | head -c 300))"
	elif ! grep -qE "$re" "$work/refused.err"; then bad="$what: message does not match /$re/: $(tr '\n' ' ' <"$work/refused.err" | head -c 300)"
	fi
}

snap_run_snapshot-restore() {
	local name=snapshot-restore dir=$work/snap1 disk=$work/snap1.img rc t_before t_after first n
	have_curl "$name" || return
	bad=
	rm -rf "$dir" "$work/bad"; mkdir -p "$work/bad"
	dd if=/dev/zero of="$disk" bs=1M count=4 2>/dev/null
	# The guest's clock on the TSC here (kvm-clock in snapshot-restore-smp2): both must move
	# on across a restore, and the guest would otherwise pick one boot by boot.
	api_start "$name" /dev/null --disk "$disk" --kernel "$kernel" --initrd "$initrd" \
		--cmdline "$BASE_CMDLINE clocksource=tsc tsc=reliable mvmtest=count" || return
	expect "$name" 204 "$(api PUT /actions '{"action_type": "InstanceStart"}')" "InstanceStart"
	snap_wait_count "$VM_OUT" 5 "$BOOT_TIMEOUT" || { bad=${bad:-"the guest never counted to 5 ($(vm_tail | tail -n 3 | tr '\n' ' '))"}; snap_diagnose; }
	# Firecracker's rule: a running VM is not snapshotted.
	expect "$name" 400 "$(api PUT /snapshot/create "{\"snapshot_path\": \"$dir/x\", \"mem_file_path\": \"$dir/y\"}")" \
		"snapshot/create on a running VM"
	expect_grep 'pause it first' "$(api_body)" "snapshot/create on a running VM's message"
	# Diff needs dirty tracking, which this VM was not started with.
	expect "$name" 204 "$(api PATCH /vm '{"state": "Paused"}')" "pause"
	expect "$name" 400 "$(api PUT /snapshot/create "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"$dir/x\", \"mem_file_path\": \"$dir/y\"}")" \
		"a Diff without track_dirty_pages"
	expect_grep 'track_dirty_pages' "$(api_body)" "a Diff without track_dirty_pages: message"
	[ -z "$bad" ] && snap_take_and_kill "$dir"
	[ -n "$bad" ] && { notok "$name" "$bad"; vm_kill; return; }
	t_before=$(snap_time_of "$VM_OUT" "$SNAP_AT")
	cp "$dir/vmstate" "$work/vmstate.orig"
	local mem_stamp disk_sum host_after
	mem_stamp=$(snap_stamp "$dir/memory") disk_sum=$(md5sum <"$disk")

	# Bad inputs first (each leaves the snapshot as it was).
	snap_bad_copy trunc; snap_shrink "$work/bad/trunc/vmstate" 100
	snap_refused "a truncated state file" "vmstate" "$work/bad/trunc"
	snap_bad_copy flip
	printf '\xff' | dd of="$work/bad/flip/vmstate" bs=1 seek=200 conv=notrunc 2>/dev/null
	snap_refused "a corrupted state file" "vmstate.*(CRC|checksum|section)" "$work/bad/flip"
	cp -r "$dir" "$work/bad/mem"; snap_shrink "$work/bad/mem/memory" 4096
	snap_refused "a memory file of the wrong size" "memory" "$work/bad/mem"
	mv "$disk" "$disk.away"
	snap_refused "a missing disk image" "snap1.img" "$dir"
	mv "$disk.away" "$disk"
	# Another format version is refused before any checksum is looked at.
	snap_bad_copy ver
	printf '\002' | dd of="$work/bad/ver/vmstate" bs=1 seek=8 conv=notrunc 2>/dev/null
	snap_refused "another format version" "vmstate.*format version 2" "$work/bad/ver"
	# The disk image resized since the snapshot (the guest sized its disk from the old capacity).
	cp "$disk" "$work/bad/grown.img"
	truncate -s $(($(stat -c %s "$disk") + 1048576)) "$work/bad/grown.img"
	snap_refused "a resized disk image" "grown.img.*capacity" "$dir" --override-drive disk0="$work/bad/grown.img"
	# Well-formed state files with one thing wrong, their checksums right (tests/tools/snap-edit):
	# another CPU vendor, a section this mvm does not know, CPUID features no host offers.
	local edit vendor other
	edit=$(snap_edit_bin)
	if [ ! -x "$edit" ]; then
		bad=${bad:-"$edit is not built (make kvm-tests)"}
	else
		vendor=$(dd if="$dir/vmstate" bs=1 skip=48 count=12 2>/dev/null)
		other=GenuineIntel; [ "$vendor" = GenuineIntel ] && other=AuthenticAMD
		for e in vendor cpuid section; do snap_bad_copy "$e"; done
		"$edit" "$dir/vmstate" "$work/bad/vendor/vmstate" vendor "$other" &&
			"$edit" "$dir/vmstate" "$work/bad/section/vmstate" add-section dev.tpm0 &&
			"$edit" "$dir/vmstate" "$work/bad/cpuid/vmstate" cpuid-extra ||
			bad=${bad:-"snap-edit could not write the bad state files"}
		snap_refused "another CPU vendor" "vmstate: taken on a $other CPU; this host's is $vendor" "$work/bad/vendor"
		snap_refused "an unknown section" "vmstate: section dev.tpm0 is unknown" "$work/bad/section"
		snap_refused "CPUID features this host cannot offer" "vmstate: vCPU 0 saw CPUID leaf 0x7 features this host cannot offer" \
			"$work/bad/cpuid"
	fi
	cmp -s "$dir/vmstate" "$work/vmstate.orig" || bad=${bad:-"the refused restores changed vmstate"}
	[ "$(snap_stamp "$dir/memory")" = "$mem_stamp" ] || bad=${bad:-"the refused restores wrote the memory file"}
	[ "$(md5sum <"$disk")" = "$disk_sum" ] || bad=${bad:-"the refused restores wrote the disk image"}

	# The restore proper, after 3 s away: the count goes on, /init does not start again.
	sleep 3
	VM_NAME=$name-restored VM_OUT=$work/$name-restored.out VM_ERR=$work/$name-restored.err
	vm_start "$name-restored" /dev/null run --restore "$dir" --api-sock "$work/$name-r.sock"
	API_SOCK=$work/$name-r.sock
	n=$((SNAP_AT + 8))
	snap_wait_count "$VM_OUT" "$n" 60 || bad=${bad:-"the restored guest did not count to $n after the snapshot's $SNAP_AT"}
	host_after=$(date +%s)
	first=$(snap_first_count "$VM_OUT")
	t_after=$(snap_time_of "$VM_OUT" "$first")
	grep -qa '^MVM-GUEST-READY' "$VM_OUT" && bad=${bad:-"the restored guest booted again (MVM-GUEST-READY)"}
	[ -z "$bad" ] && { [ "$first" -ge "$SNAP_AT" ] && [ "$first" -le $((SNAP_AT + 1)) ]; } ||
		bad=${bad:-"the restored count started at $first; the snapshot was taken at $SNAP_AT"}
	# The guest's clock moved on by about the wall time it was away: at least the 3 s slept, at
	# most the host's time from before the pause to after the restored counts (+2: date's
	# 1 s steps on both sides).
	[ -z "$bad" ] && [ -n "$t_before" ] && [ -n "$t_after" ] && [ "$t_after" -lt $((t_before + 2)) ] &&
		bad="the guest's clock did not move on by the 3 s the VM was away: $t_before -> $t_after"
	[ -z "$bad" ] && [ -n "$t_before" ] && [ -n "$t_after" ] &&
		[ $((t_after - t_before)) -gt $((host_after - SNAP_HOST_T0 + 2)) ] &&
		bad="the guest's clock jumped: $t_before -> $t_after, while the host's moved $((host_after - SNAP_HOST_T0)) s"
	echo "# $name: count $SNAP_AT at the snapshot, $first first after restore; guest clock (TSC) $t_before -> $t_after; host's $((host_after - SNAP_HOST_T0)) s from before the pause to after the restored counts"
	"$mvm" ctl --api-sock "$API_SOCK" stop --grace 10 >/dev/null 2>&1
	api_wait_exit 15 || :
	[ "$VM_RC" = 0 ] || bad=${bad:-"the restored mvm exited $VM_RC after Ctrl-Alt-Del, expected 0"}
	# Every count's block is in the image: those written and flushed before the snapshot (with
	# the background writer's requests in flight), and those the restored guest wrote.
	for n in $(seq 1 $((SNAP_AT + 5))); do
		dd if="$disk" bs=512 skip="$n" count=1 2>/dev/null | grep -qa "^MVM-COUNT=$n\$" ||
			{ bad=${bad:-"block $n of the disk does not hold count $n (snapshot at $SNAP_AT)"}; break; }
	done
	[ -z "$bad" ] && snap_load_over_api "$name" "$dir"
	if [ -n "$bad" ]; then notok "$name" "$bad"; vm_tail; else ok "$name"; fi
}

# The same snapshot loaded over Firecracker's API (PUT /snapshot/load) into an mvm started with
# only --api-sock: refusals first (no such file, a Uffd backend, an interface the snapshot does
# not have), then a load that stays paused (resume_vm false) until PATCH /vm Resumed, after
# which the count goes on from the snapshot's; a second load is refused. Sets $bad.
snap_load_over_api() {
	local name=$1-api dir=$2 n s1
	api_start "$name" /dev/null || { bad="mvm run --api-sock did not start"; return; }
	expect "$name" 400 "$(api PUT /snapshot/load "{\"snapshot_path\": \"$dir/nothing\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$dir/memory\"}}")" \
		"snapshot/load of a missing file"
	expect_grep "$dir/nothing" "$(api_body)" "snapshot/load of a missing file: message"
	expect "$name" 400 "$(api PUT /snapshot/load "{\"snapshot_path\": \"$dir/vmstate\", \"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": \"$work/uffd.sock\"}}")" \
		"snapshot/load with a Uffd backend"
	expect_grep 'Uffd' "$(api_body)" "snapshot/load with a Uffd backend: message"
	expect "$name" 204 "$(api PUT /snapshot/load "{\"snapshot_path\": \"$dir/vmstate\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$dir/memory\"}, \"resume_vm\": false}")" \
		"snapshot/load (resume_vm false)"
	expect "$name" 200 "$(api GET /)" "GET / after the load"
	expect_grep '"state": *"Paused"' "$(api_body)" "the loaded VM is not Paused"
	sleep 1
	s1=$(wc -c <"$VM_OUT")
	sleep 1.5
	[ -n "$bad" ] || [ "$(wc -c <"$VM_OUT")" = "$s1" ] || bad="the VM loaded with resume_vm false ran: $(tail -c 200 "$VM_OUT" | tr '\r\n' '  ')"
	expect "$name" 204 "$(api PATCH /vm '{"state": "Resumed"}')" "resume after the load"
	n=$((SNAP_AT + 5))
	[ -n "$bad" ] || snap_wait_count "$VM_OUT" "$n" 60 || bad="the VM loaded over the API did not count to $n (snapshot at $SNAP_AT)"
	[ -n "$bad" ] || [ "$(snap_first_count "$VM_OUT")" -le $((SNAP_AT + 1)) ] ||
		bad="the VM loaded over the API started counting at $(snap_first_count "$VM_OUT"), the snapshot at $SNAP_AT"
	expect "$name" 400 "$(api PUT /snapshot/load "{\"snapshot_path\": \"$dir/vmstate\", \"mem_file_path\": \"$dir/memory\"}")" \
		"a second snapshot/load"
	echo "# $name: loaded paused, resumed, counted $(snap_first_count "$VM_OUT") to $(snap_last_count "$VM_OUT")"
	vm_kill
	# Firecracker's older form (mem_file_path) with an override for an interface the snapshot
	# does not have: refused naming it, and this process refuses further loads.
	api_start "$name-2" /dev/null || { bad=${bad:-"mvm run --api-sock did not start"}; return; }
	expect "$name" 400 "$(api PUT /snapshot/load "{\"snapshot_path\": \"$dir/vmstate\", \"mem_file_path\": \"$dir/memory\", \"network_overrides\": [{\"iface_id\": \"eth7\", \"host_dev_name\": \"tap7\"}]}")" \
		"snapshot/load overriding an interface the snapshot lacks"
	expect_grep "no interface 'eth7'" "$(api_body)" "snapshot/load overriding an unknown interface: message"
	vm_kill
}

# 2 vCPUs, a disk, virtio-console, virtio-rng and user networking saved and restored; then two
# restores of the one snapshot side by side, each on its own copy of the disk
# (--override-drive), as clones are run: each RAM is the memory file copy-on-write.
snap_run_snapshot-restore-smp2() {
	local name=snapshot-restore-smp2 dir=$work/snap2 disk=$work/snap2.img n pid2 c srv tc got
	local port=$((20000 + RANDOM % 20000)) got=$work/snap2-tcp.got
	have_curl "$name" || return
	bad=
	rm -rf "$dir"
	dd if=/dev/zero of="$disk" bs=1M count=4 2>/dev/null
	# The host side of the guest's TCP connections through slirp (mvmtcp=): one at a time.
	# busybox nc -l closes the connection when its stdin ends: a FIFO open for writing too
	# never ends.
	: >"$got"; rm -f "$work/snap2-tcp.in"; mkfifo "$work/snap2-tcp.in"
	( exec 3<>"$work/snap2-tcp.in"
	  trap 'kill $! 2>/dev/null; exit 0' TERM
	  while :; do nc -l -p "$port" >>"$got" 2>/dev/null <&3 & wait $! || sleep 0.2; done ) & srv=$!
	api_start "$name" /dev/null --cpus 2 --disk "$disk" --console virtio --rng --net user \
		--kernel "$kernel" --initrd "$initrd" \
		--cmdline "$BASE_CMDLINE clocksource=kvm-clock mvmtest=count mvmtcp=$port" ||
		{ kill "$srv"; return; }
	expect "$name" 204 "$(api PUT /actions '{"action_type": "InstanceStart"}')" "InstanceStart"
	snap_wait_count "$VM_OUT" 5 "$BOOT_TIMEOUT" || { bad=${bad:-"the guest never counted to 5"}; snap_diagnose; }
	[ -z "$bad" ] && snap_take_and_kill "$dir"
	[ -n "$bad" ] && { notok "$name" "$bad"; vm_kill; kill "$srv"; return; }
	VM_OUT_SRC=$VM_OUT
	cp "$disk" "$work/clone-a.img"; cp "$disk" "$work/clone-b.img"
	# --override-net names an interface of the snapshot and gives it another tap: net0 here is
	# user networking, which has no host device to override (refused before anything opens).
	snap_refused "--override-net of an interface on user networking" "net0 uses user networking, not a tap" \
		"$dir" --override-net net0=tap9
	snap_refused "--override-net of an interface the snapshot lacks" "no interface 'net5'" \
		"$dir" --override-net net5=tap9
	sleep 5   # away long enough that `date +%s` must show it (1 s granularity; see the check below)
	n=$((SNAP_AT + 22))   # two DHCP rounds (every 10th count) past the snapshot
	snap_restore_bg "$name-b" "$dir" --override-drive disk0="$work/clone-b.img"; pid2=$RPID
	VM_NAME=$name-a VM_OUT=$work/$name-a.out VM_ERR=$work/$name-a.err
	vm_start "$name-a" /dev/null run --restore "$dir" --override-drive disk0="$work/clone-a.img"
	snap_wait_count "$VM_OUT" "$n" 90 || bad="restore a did not count to $n (snapshot at $SNAP_AT)"
	snap_wait_count "$work/$name-b.out" "$n" 30 || bad=${bad:-"restore b (beside a) did not count to $n"}
	grep -qa '^MVM-GUEST-READY' "$VM_OUT" "$work/$name-b.out" && bad=${bad:-"a restored guest booted again"}
	# --net user works after the restore: a DHCP lease from slirp at a count past the snapshot.
	c=$(tr -d '\r' <"$VM_OUT" | sed -n 's/^MVM-NET-OK=\([0-9]*\).*/\1/p' | tail -n1)
	[ -n "$c" ] && [ "$c" -gt "$SNAP_AT" ] ||
		bad=${bad:-"restore a: no DHCP lease through --net user after the restore (last MVM-NET-OK=${c:-none}, snapshot at $SNAP_AT)"}
	# ... and a TCP connection to the host: the guest said it connected, the host got its line.
	tc=$(tr -d '\r' <"$VM_OUT" | sed -n 's/^MVM-TCP-OK=\([0-9]*\).*/\1/p' | tail -n1)
	[ -n "$tc" ] && [ "$tc" -gt "$SNAP_AT" ] && grep -qa "^MVM-TCP-$tc\$" "$got" ||
		bad=${bad:-"restore a: no TCP connection to the host through --net user after the restore (last MVM-TCP-OK=${tc:-none}, snapshot at $SNAP_AT; the host got: $(tr '\n' ' ' <"$got" | tail -c 200))"}
	# The guest's clock moved on by the time away (5 s and the restore). The restore's first
	# lines may have been written before the pause (a line the guest's tty or the console's
	# queue still held: its old time is right), so the time is read two counts later: a
	# clock that moved on shows >= 5 s more than the source's last line, one that stood
	# still at most the ~1 s it ran between them (counts every 0.2-0.4 s here) plus 1 s of
	# `date +%s` rounding.
	local t_before t_after first last_src
	last_src=$(snap_last_count "$VM_OUT_SRC")
	t_before=$(snap_time_of "$VM_OUT_SRC" "$last_src")
	first=$(snap_first_count "$VM_OUT")
	t_after=$(snap_time_of "$VM_OUT" $((first + 2)))
	[ -n "$t_before" ] && [ -n "$t_after" ] && [ "$t_after" -lt $((t_before + 4)) ] &&
		bad=${bad:-"kvm-clock: the guest's clock did not move on across the restore: count $last_src at $t_before -> count $((first + 2)) at $t_after"}
	echo "# $name: guest clock (kvm-clock) count $last_src at $t_before -> count $((first + 2)) at $t_after (5 s + restore away)"
	echo "# $name: snapshot at $SNAP_AT; restores a and b at $(snap_last_count "$VM_OUT") and $(snap_last_count "$work/$name-b.out"); lease after restore at $c, TCP to the host at $tc"
	kill -TERM "$pid2" 2>/dev/null; wait "$pid2" 2>/dev/null
	kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
	vm_kill
	# Each clone wrote its own copy; the original image is as the snapshot left it.
	for c in a b; do
		dd if="$work/clone-$c.img" bs=512 skip=$((SNAP_AT + 3)) count=1 2>/dev/null |
			grep -qa "^MVM-COUNT=$((SNAP_AT + 3))\$" || bad=${bad:-"clone $c's disk copy lacks count $((SNAP_AT + 3))"}
	done
	dd if="$disk" bs=512 skip=$((SNAP_AT + 3)) count=1 2>/dev/null | grep -qa "^MVM-COUNT=" &&
		bad=${bad:-"a clone wrote to the original image"}
	if [ -n "$bad" ]; then notok "$name" "$bad"; tail -n 5 "$work/$name-b.err" | sed 's/^/#   b err: /'; vm_tail; else ok "$name"; fi
}

# Dirty tracking on: a Full snapshot A, then a Diff B on top of it; B alone is refused, B merged
# into A restores to B's state; B's memory file holds only the pages written in between.
snap_run_snapshot-diff() {
	local name=snapshot-diff a=$work/snapA b=$work/snapB out first at_a alloc_a alloc_b
	have_curl "$name" || return
	bad=
	rm -rf "$a" "$b"
	api_start "$name" /dev/null --kernel "$kernel" --initrd "$initrd" \
		--cmdline "$BASE_CMDLINE mvmtest=count" || return
	expect "$name" 204 "$(api PATCH /machine-config '{"track_dirty_pages": true}')" "track_dirty_pages"
	expect "$name" 204 "$(api PUT /actions '{"action_type": "InstanceStart"}')" "InstanceStart"
	snap_wait_count "$VM_OUT" 5 "$BOOT_TIMEOUT" || { bad=${bad:-"the guest never counted to 5"}; snap_diagnose; }
	expect "$name" 204 "$(api PATCH /vm '{"state": "Paused"}')" "pause"
	expect "$name" 400 "$(api PUT /snapshot/create "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"$b/x\", \"mem_file_path\": \"$b/y\"}")" \
		"a Diff before any Full snapshot"
	expect_grep 'needs a base' "$(api_body)" "a Diff before any Full snapshot: message"
	expect "$name" 204 "$(api PATCH /vm '{"state": "Resumed"}')" "resume"
	if [ -z "$bad" ]; then
		out=$("$mvm" ctl --api-sock "$API_SOCK" snapshot "$a" 2>&1) || bad="the Full snapshot failed: $out"
		echo "# $out"
	fi
	at_a=$(snap_last_count "$VM_OUT")
	[ -z "$bad" ] && { snap_wait_count "$VM_OUT" $((at_a + 5)) 30 || bad="the guest stopped counting after the Full snapshot"; }
	if [ -z "$bad" ]; then
		out=$("$mvm" ctl --api-sock "$API_SOCK" snapshot "$b" --diff --stay-paused 2>&1) ||
			bad="the Diff snapshot failed: $out"
		echo "# $out"
	fi
	sleep 0.5
	SNAP_AT=$(snap_last_count "$VM_OUT")
	kill -KILL "$VM_PID"; vm_reap
	[ -n "$bad" ] && { notok "$name" "$bad"; return; }
	alloc_a=$(du -k "$a/memory" | cut -f1) alloc_b=$(du -k "$b/memory" | cut -f1)
	echo "# $name: Full at count $at_a ($alloc_a KiB of memory on disk), Diff at $SNAP_AT ($alloc_b KiB)"
	[ "$alloc_b" -lt $((alloc_a / 4)) ] || bad="the Diff's memory file ($alloc_b KiB) is not much smaller than the Full one's ($alloc_a KiB)"
	snap_refused "a Diff restored alone" "Diff snapshot.*merge" "$b"
	"$mvm" snapshot-merge "$b" "$a" >"$work/merge.out" 2>&1 && bad=${bad:-"snapshot-merge took a Full snapshot as the diff"}
	"$mvm" snapshot-merge "$a" "$b" >"$work/merge.out" 2>&1 || bad=${bad:-"snapshot-merge failed: $(cat "$work/merge.out")"}
	VM_NAME=$name-restored VM_OUT=$work/$name-restored.out VM_ERR=$work/$name-restored.err
	[ -z "$bad" ] && vm_start "$name-restored" /dev/null run --restore "$a"
	[ -z "$bad" ] && { snap_wait_count "$VM_OUT" $((SNAP_AT + 5)) 60 || bad="the merged snapshot did not count on from $SNAP_AT"; }
	first=$(snap_first_count "$VM_OUT")
	[ -z "$bad" ] && { [ "$first" -ge "$SNAP_AT" ] && [ "$first" -le $((SNAP_AT + 1)) ]; } ||
		bad=${bad:-"the merged snapshot restored at count $first, not at the Diff's $SNAP_AT (the Full one was at $at_a)"}
	grep -qa '^MVM-GUEST-READY' "$VM_OUT" && bad=${bad:-"the restored guest booted again"}
	vm_kill
	if [ -n "$bad" ]; then notok "$name" "$bad"; vm_tail; else ok "$name"; fi
}

case_snapshot-restore() { snap_run_snapshot-restore; }

case_snapshot-restore-smp2() { snap_run_snapshot-restore-smp2; }

case_snapshot-diff() { snap_run_snapshot-diff; }

# snapshot-tiny: a tiny ring-3 guest of the SDK (guest/tests/ticker.c: a tick every 100 ms, its
# count in guest RAM) is snapshotted at tick >= 5 and its mvm killed; the restored one goes on
# from the next tick to the 30th, prints the sum of 1..30 its RAM kept (465), and exits 0. Its
# platform comes back by name from the snapshot, opens its --net user backend again, and leaves
# the boot information in its RAM as it was. A migration of such a guest is refused by name (the stream does not carry the platform).
ticks_in() { tr -d '\r' <"$1" | sed -n 's/^ticker: tick \([0-9]*\)$/\1/p'; }
case_snapshot-tiny() {
	local name=snapshot-tiny dir=$work/snap-tiny f at first last out rc
	have_curl "$name" || return
	bad=
	rm -rf "$dir"
	f=$(sdk_guest ticker) || { notok "$name" "no build/guest/tests/ticker.elf (run make)"; return; }
	# --net user: the net hypercalls' backend, which the restore opens again (platform open()).
	api_start "$name" /dev/null --kernel "$f" --cmdline "ticks=30 ms=100" --net user || return
	expect "$name" 204 "$(api PUT /actions '{"action_type": "InstanceStart"}')" "InstanceStart"
	api_wait '^ticker: tick 5' 60 || bad=${bad:-"the guest never ticked 5 times ($(vm_tail | tail -n 3 | tr '\n' ' '))"}
	if [ -z "$bad" ]; then
		out=$("$mvm" ctl --api-sock "$API_SOCK" migrate tcp:127.0.0.1:47330 2>&1); rc=$?
		{ [ $rc != 0 ] && grep -q 'a tiny guest cannot migrate' <<<"$out"; } ||
			bad="a tiny guest's migration was not refused by name (exit $rc: $(echo "$out" | tail -n 2 | tr '\n' ' '))"
	fi
	[ -z "$bad" ] && snap_take_and_kill "$dir"
	at=$(ticks_in "$VM_OUT" | tail -n1)
	if [ -z "$bad" ]; then
		vm_start "$name-restored" /dev/null run --restore "$dir"
		vm_wait_exit 60 || bad="the restored guest did not finish within 60 s"
	fi
	first=$(ticks_in "$VM_OUT" | head -n1)
	last=$(ticks_in "$VM_OUT" | tail -n1)
	echo "# $name: snapshot at tick ${at:-?}; restored ticks ${first:-none} to ${last:-none}"
	if [ -z "$bad" ]; then
		if [ "$VM_RC" != 0 ]; then bad="the restored mvm exited $VM_RC, expected 0"
		elif [ "${first:-0}" != $((at + 1)) ]; then bad="the restored guest began at tick ${first:-none}, not $((at + 1))"
		elif [ "${last:-0}" != 30 ]; then bad="the restored guest's last tick is ${last:-none}, not 30"
		elif ! grep -qa '^ticker: done, sum 465' "$VM_OUT"; then bad="no 'ticker: done, sum 465' (its RAM did not keep the count)"
		fi
	fi
	if [ -n "$bad" ]; then notok "$name" "$bad"; vm_tail; else ok "$name"; fi
}
