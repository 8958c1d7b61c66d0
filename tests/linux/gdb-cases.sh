# tests/linux/gdb-cases.sh - the gdb stub (--gdb, --gdb-wait) driven by Debian's gdb in batch
# mode: a tiny SDK guest held at its first instruction (registers, memory read and write, steps,
# threads, continue to its exit), a hostile client (garbage, bad checksums, an oversize packet,
# ^C, leaving while the VM is stopped), and Debian's kernel (attached while it runs, a kernel
# string read by virtual address through its page tables, a step, detach). Sourced by run.sh.
# Hardware breakpoints and watchpoints (gdb-break, gdb-linux-break) need a test host of QEMU
# >= 9.1 (GDB_HW_CASES below). Software breakpoints are not tested here: QEMU's emulated AMD-V
# (7.2 and 10.0 alike) checks INT3 against the INTn intercept, never the #BP exception intercept
# KVM sets, so an int3 goes straight to the guest. The unit tests cover them.
# The client is gdb-minimal (Debian's gdb without Python, whose libraries the test host lacks):
# `gdb-minimal` on PATH, or its package fetched with apt-get download into .cache/gdb-minimal.
GDB_CASES=(gdb-tiny gdb-hostile gdb-linux)
# Hardware breakpoints and watchpoints: not in the default list, since the test host's QEMU 7.2
# never fires them; scripts/test.sh runs them (--only) in a test host of bookworm-backports' QEMU
# (scripts/fetch-qemu-backports.sh).
GDB_HW_CASES=(gdb-break gdb-linux-break)
GDB_SHIPPED=/usr/local/bin/gdb-minimal   # where run.sh puts it in the test host

# A gdb without Python, here: its path, or nothing.
gdb_client_fetch() {
	local dir=$MVM_ROOT/.cache/gdb-minimal new
	command -v gdb-minimal 2>/dev/null && return 0
	if [ ! -x "$dir/usr/bin/gdb" ]; then
		# Unpacked beside it and renamed into place: two runners started at once
		# may both fetch, and neither may see the other's half-unpacked tree.
		mkdir -p "$MVM_ROOT/.cache" && new=$(mktemp -d "$dir.XXXXXX") || return 1
		mkdir -p "$new/deb" &&
		(cd "$new/deb" && apt-get download gdb-minimal >/dev/null 2>&1) &&
		dpkg-deb -x "$new"/deb/gdb-minimal_*.deb "$new" || { rm -rf "$new"; return 1; }
		[ -x "$dir/usr/bin/gdb" ] || rm -rf "$dir"   # an older layout, or a cut-off fetch
		mv -T "$new" "$dir" 2>/dev/null || rm -rf "$new"
	fi
	[ -x "$dir/usr/bin/gdb" ] && echo "$dir/usr/bin/gdb"
}

gdb_client() {
	[ -x "$GDB_SHIPPED" ] && { echo "$GDB_SHIPPED"; return 0; }
	gdb_client_fetch
}

# A TCP port for each case (the test host has no cksum to derive one).
gdb_port() {
	case $1 in gdb-tiny) echo 23451 ;; gdb-hostile) echo 23452 ;; gdb-break) echo 23454 ;; gdb-linux-break) echo 23455 ;; *) echo 23453 ;; esac
}

# Wait until mvm listens (a VM takes seconds to build under emulation; gdb would sit in its
# connect retries meanwhile): 0, or 1 when mvm exited or 60 s passed.
gdb_wait_listening() {
	local i=0
	while [ $((i += 1)) -le 300 ]; do
		grep -qa 'gdb: waiting for a client' "$VM_ERR" && return 0
		kill -0 "$VM_PID" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

# Run gdb in batch mode on ELF with the commands in FILE; its output in $work/NAME.gdb.
gdb_batch() {
	local name=$1 elf=$2 script=$3
	timeout 120 "$GDBC" -nx -batch -x "$script" ${elf:+"$elf"} </dev/null >"$work/$name.gdb" 2>&1
}
gdb_tail() { sed 's/^/#   gdb: /' "$work/$1.gdb" | tail -n 40; }
gdb_has() { grep -qaE "$2" "$work/$1.gdb"; }

case_gdb-tiny() {
	local elf=${guests:-/nonexistent}/sdk-gdb.elf port script=$work/gdb-tiny.gdbcmd why=''
	GDBC=$(gdb_client) || { skip_all "no gdb-minimal (apt-get download gdb-minimal failed)" gdb-tiny; return; }
	[ -f "$elf" ] || { notok gdb-tiny "$elf missing (make builds guest/tests/gdb.c)"; return; }
	port=$(gdb_port gdb-tiny)
	cat >"$script" <<-EOS
	set pagination off
	set confirm off
	target remote 127.0.0.1:$port
	info registers rip
	p/x gdb_magic
	p/x \$cr0
	set var gdb_counter = 1000
	p gdb_counter
	stepi
	stepi
	info registers rip
	info threads
	continue
	EOS
	vm_start gdb-tiny /dev/null run --kernel "$elf" --cpus 2 --gdb "tcp:127.0.0.1:$port" --gdb-wait
	gdb_wait_listening
	gdb_batch gdb-tiny "$elf" "$script"
	vm_wait_exit 30 || :
	if ! gdb_has gdb-tiny 'rip +0x[0-9a-f]+ +0x[0-9a-f]+ <_start>'; then why="not halted at _start"
	elif ! gdb_has gdb-tiny '= 0x6762642d6d766d'; then why="gdb_magic not read"
	elif ! gdb_has gdb-tiny '= 0x800100(1|3)3'; then why="CR0 not read (paging and protection on)"
	elif ! gdb_has gdb-tiny '^\$[0-9]+ = 1000$'; then why="gdb_counter not written"
	elif ! gdb_has gdb-tiny 'rip +0x[0-9a-f]+ +0x[0-9a-f]+ <_start\+[0-9]+>'; then why="stepi did not move past _start"
	elif ! gdb_has gdb-tiny 'Thread 2 '; then why="no second vCPU in the thread list"
	elif ! gdb_has gdb-tiny 'exited (normally|with code 00)'; then why="gdb did not see the guest exit"
	elif ! grep -qa 'gdb guest: counter 1015' "$VM_OUT"; then why="the guest did not see gdb's write (counter 1015)"
	elif [ "$VM_RC" != 0 ]; then why="mvm exited $VM_RC"
	fi
	if [ -n "$why" ]; then fail_case gdb-tiny "$why"; gdb_tail gdb-tiny; else ok gdb-tiny; fi
}

# Hardware breakpoints and watchpoints on the tiny guest: a breakpoint in a debug register on
# gdb_add must stop its first call, then a write watchpoint on gdb_counter the write of 1; the
# guest must then finish with its own result (counter 15): no stop lost or doubled. Needs a test
# host whose emulated AMD-V honours the debug registers in a nested guest (QEMU >= 9.1: run.sh's
# GDB_HW_CASES, in a test host of bookworm-backports' QEMU). Software breakpoints (int3) are not
# tested here: every QEMU up to 10.0 checks INT3 against the INTn intercept, never KVM's #BP
# exception intercept, so the int3 goes to the guest (seen under 7.2 and 10.0: the tiny guest
# took a #GP through IDT vector 3); the unit tests cover them.
case_gdb-break() {
	local elf=${guests:-/nonexistent}/sdk-gdb.elf port script=$work/gdb-break.gdbcmd why=''
	GDBC=$(gdb_client) || { skip_all "no gdb-minimal (apt-get download gdb-minimal failed)" gdb-break; return; }
	[ -f "$elf" ] || { notok gdb-break "$elf missing (make builds guest/tests/gdb.c)"; return; }
	port=$(gdb_port gdb-break)
	cat >"$script" <<-EOS
	set pagination off
	set confirm off
	target remote 127.0.0.1:$port
	hbreak gdb_add
	continue
	p gdb_counter
	delete
	watch gdb_counter
	continue
	p gdb_counter
	delete
	continue
	EOS
	vm_start gdb-break /dev/null run --kernel "$elf" --gdb "tcp:127.0.0.1:$port" --gdb-wait
	gdb_wait_listening
	gdb_batch gdb-break "$elf" "$script"
	vm_wait_exit 30 || :
	if ! gdb_has gdb-break 'Hardware assisted breakpoint 1 at'; then why="the hardware breakpoint was not set"
	elif ! gdb_has gdb-break 'Breakpoint 1, (0x[0-9a-f]+ in )?gdb_add'; then why="the hardware breakpoint on gdb_add did not stop the guest"
	elif ! gdb_has gdb-break '^\$1 = 0$'; then why="stopped at gdb_add, but not on its first call (gdb_counter != 0)"
	elif ! gdb_has gdb-break 'Hardware watchpoint 2: gdb_counter'; then why="the watchpoint was not set"
	elif ! gdb_has gdb-break 'New value = 1'; then why="the watchpoint did not stop on the write of 1"
	elif ! gdb_has gdb-break 'exited (normally|with code 00)'; then why="gdb did not see the guest exit"
	elif ! grep -qa 'gdb guest: counter 15 ' "$VM_OUT"; then why="the guest did not finish with counter 15 (a breakpoint changed its run)"
	elif [ "$VM_RC" != 0 ]; then why="mvm exited $VM_RC"
	fi
	if [ -n "$why" ]; then fail_case gdb-break "$why"; gdb_tail gdb-break; else ok gdb-break; fi
}

# Bytes to the stub over bash's /dev/tcp; the replies (5 s at most) in $work/NAME.raw.
gdb_raw() {
	local port=$1 out=$2; shift 2
	exec 5<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf "$@" >&5
	timeout 5 cat <&5 >"$out" & local rd=$!
	sleep 2
	exec 5>&-
	wait "$rd" 2>/dev/null
	return 0
}

case_gdb-hostile() {
	local elf=${guests:-/nonexistent}/sdk-gdb.elf port why='' big ticks1 ticks2 script=$work/gdb-hostile.gdbcmd
	GDBC=$(gdb_client) || { skip_all "no gdb-minimal" gdb-hostile; return; }
	[ -f "$elf" ] || { notok gdb-hostile "$elf missing"; return; }
	port=$(gdb_port gdb-hostile)
	vm_start gdb-hostile /dev/null run --kernel "$elf" --cmdline spin=1 --gdb "tcp:127.0.0.1:$port"
	vm_wait_for 'gdb guest: tick 2' 60 || { fail_case gdb-hostile "the spinning guest never ticked"; vm_kill; return; }
	big=$(head -c 9000 /dev/zero | tr '\0' a)
	# Garbage, bad checksums, a packet longer than PacketSize, then a good '?' (checksum 3f),
	# continue and ^C: the stub NAKs, refuses, answers, stops the VM again (SIGINT); then the
	# client vanishes with the VM stopped.
	gdb_raw "$port" "$work/gdb-hostile.raw" 'noise\001\377$g#00$m0,4#zz$%s#28$?#3f$c#63\003' "$big"
	sleep 2
	ticks1=$(grep -ac 'tick' "$VM_OUT")
	sleep 4
	ticks2=$(grep -ac 'tick' "$VM_OUT")
	# A client that connects and leaves at once, twice; then a real one.
	(exec 6<>"/dev/tcp/127.0.0.1/$port"; exec 6>&-) 2>/dev/null
	(exec 6<>"/dev/tcp/127.0.0.1/$port"; printf '$Z0,100000,1#' >&6; exec 6>&-) 2>/dev/null
	sleep 1
	cat >"$script" <<-EOS
	set confirm off
	target remote 127.0.0.1:$port
	p gdb_counter > 0
	info registers rip
	kill
	EOS
	gdb_batch gdb-hostile "$elf" "$script"
	vm_wait_exit 20 || :
	echo "# gdb-hostile: raw replies: $(head -c 200 "$work/gdb-hostile.raw" | tr -c '[:print:]' '.')"
	echo "# gdb-hostile: ticks while the first client was gone: $ticks1 -> $ticks2"
	if ! grep -qa -- '-' "$work/gdb-hostile.raw"; then why="no NAK for the bad checksums"
	elif ! grep -qa 'E16' "$work/gdb-hostile.raw"; then why="the oversize packet was not refused with E16"
	elif ! grep -qa 'T05thread:1;' "$work/gdb-hostile.raw"; then why="no stop reply to '?'"
	elif ! grep -qa 'T02thread:1;' "$work/gdb-hostile.raw"; then why="no SIGINT stop after ^C"
	elif [ "$ticks2" -le "$ticks1" ]; then why="the VM did not run on after the client left it stopped"
	elif ! grep -qa 'client disconnected' "$VM_ERR"; then why="mvm did not notice the client leave"
	elif ! gdb_has gdb-hostile '^\$1 = 1'; then why="the next client could not read memory"
	elif [ "$VM_RC" = killed ]; then why="gdb's kill did not stop mvm"
	fi
	if [ -n "$why" ]; then fail_case gdb-hostile "$why"; gdb_tail gdb-hostile; else ok gdb-hostile; fi
}

# Debian's kernel package ships no symbols (its System.map is a placeholder): a first boot with
# nokaslr reads the addresses from /proc/kallsyms, which stay the same in the second, debugged one.
gdb_ksyms() {
	local name=$1
	open_session "$name" "${args[@]}" || return 1
	say 'grep -E " (start_kernel|linux_banner|__x64_sys_sync)$" /proc/kallsyms | sed "s/^/MVM-KSYM /"; echo MVM-KSYM-DONE'
	vm_wait_for '^MVM-KSYM-DONE' 20
	sk=$(tr -d '\r' <"$VM_OUT" | awk '$1 == "MVM-KSYM" && $4 == "start_kernel" { print $2 }')
	banner=$(tr -d '\r' <"$VM_OUT" | awk '$1 == "MVM-KSYM" && $4 == "linux_banner" { print $2 }')
	sys=$(tr -d '\r' <"$VM_OUT" | awk '$1 == "MVM-KSYM" && $4 == "__x64_sys_sync" { print $2 }')
	close_session
	if [ -z "$sk" ] || [ -z "$banner" ] || [ -z "$sys" ] || [ "$sk" = 0000000000000000 ]; then
		fail_case "$name" "no kernel addresses from /proc/kallsyms (start_kernel '$sk', linux_banner '$banner')"
		return 1
	fi
}

case_gdb-linux() {
	local port script=$work/gdb-linux.gdbcmd why='' sk banner sys args
	GDBC=$(gdb_client) || { skip_all "no gdb-minimal" gdb-linux; return; }
	args=(run --kernel "$kernel" --initrd "$initrd" --cmdline "$BASE_CMDLINE mvmtest=echo nokaslr")
	gdb_ksyms gdb-linux || return
	port=$(gdb_port gdb-linux)
	# The test host's emulated AMD-V fires neither int3 nor debug-register breakpoints in a
	# nested guest (README: Debugging with gdb): the kernel is stopped by attaching to it once
	# it runs its shell, read by virtual address through its own page tables, stepped, and
	# let go; its shell must then still answer.
	cat >"$script" <<-EOS
	set pagination off
	set confirm off
	set architecture i386:x86-64
	target remote 127.0.0.1:$port
	info registers rip cr3
	x/s 0x$banner
	info threads
	stepi
	info registers rip
	detach
	EOS
	rm -f "$work/gdb-linux.fifo"
	rm -f "$work/gdb-linux.fifo"; mkfifo "$work/gdb-linux.fifo"
	vm_start gdb-linux "$work/gdb-linux.fifo" "${args[@]}" --gdb "tcp:127.0.0.1:$port"
	exec 3>"$work/gdb-linux.fifo"
	vm_wait_for '^MVM-GUEST-ECHO-READY' "$BOOT_TIMEOUT"; BOOT_WAIT=$?
	[ $BOOT_WAIT -eq 0 ] && gdb_batch gdb-linux '' "$script"
	local synced=1
	[ $BOOT_WAIT -eq 0 ] && say 'sync; echo MVM-GDB-SYNCED-$((40+2))' &&
		{ vm_wait_for 'MVM-GDB-SYNCED-42' 30; synced=$?; }
	if kill -0 "$VM_PID" 2>/dev/null; then close_session; else exec 3>&-; vm_reap; fi
	if [ "$BOOT_WAIT" != 0 ]; then why="the kernel did not reach its shell with --gdb"
	elif ! gdb_has gdb-linux 'rip +0xffffffff8'; then why="not stopped in the kernel"
	elif ! gdb_has gdb-linux 'Linux version'; then why="linux_banner not read through the kernel's page tables"
	elif [ "$synced" != 0 ]; then why="the guest did not run on after detach"
	fi
	if [ -n "$why" ]; then fail_case gdb-linux "$why"; gdb_tail gdb-linux; else ok gdb-linux; fi
}

# Hardware breakpoints in Debian's kernel, from its first instruction: held by --gdb-wait, it
# must stop at start_kernel (an hbreak there: the decompressor would overwrite an int3), show
# that frame in a backtrace and its banner read by virtual address, then boot on to its shell
# (userspace); there an hbreak on the sync syscall must stop it when the shell runs sync, and
# after detach the shell must answer again. Needs QEMU >= 9.1 for the test host (see gdb-break).
case_gdb-linux-break() {
	local name=gdb-linux-break port script=$work/gdb-linux-break.gdbcmd why='' sk banner sys args gpid
	GDBC=$(gdb_client) || { skip_all "no gdb-minimal" $name; return; }
	args=(run --kernel "$kernel" --initrd "$initrd" --cmdline "$BASE_CMDLINE mvmtest=echo nokaslr")
	gdb_ksyms $name || return
	port=$(gdb_port $name)
	cat >"$script" <<-EOS
	set pagination off
	set confirm off
	set architecture i386:x86-64
	target remote 127.0.0.1:$port
	hbreak *0x$sk
	continue
	info registers rip
	bt 3
	x/s 0x$banner
	delete
	hbreak *0x$sys
	continue
	info registers rip
	delete
	detach
	EOS
	rm -f "$work/$name.fifo"; mkfifo "$work/$name.fifo"
	vm_start $name "$work/$name.fifo" "${args[@]}" --gdb "tcp:127.0.0.1:$port" --gdb-wait
	exec 3>"$work/$name.fifo"
	local synced=1 i=0
	BOOT_WAIT=1
	if gdb_wait_listening; then
		gdb_batch $name '' "$script" & gpid=$!
		vm_wait_for '^MVM-GUEST-ECHO-READY' "$BOOT_TIMEOUT"; BOOT_WAIT=$?
	fi
	if [ $BOOT_WAIT -eq 0 ]; then
		# sync every 2 s until the breakpoint stops the kernel (gdb's output comes in blocks, so
		# its "Continuing." is no sign to wait for); 60 s at most, or until gdb is gone.
		until gdb_has $name 'Breakpoint 2, 0x' 2>/dev/null || [ $((i += 1)) -gt 30 ] ||
			! kill -0 $gpid 2>/dev/null; do
			say 'sync'
			sleep 2
		done
		wait $gpid
		say 'sync; echo MVM-GDB-SYNCED-$((40+2))' && { vm_wait_for 'MVM-GDB-SYNCED-42' 30; synced=$?; }
	fi
	[ -z "${gpid:-}" ] || { kill $gpid 2>/dev/null; wait $gpid 2>/dev/null; }
	if kill -0 "$VM_PID" 2>/dev/null; then close_session; else exec 3>&-; vm_reap; fi
	if ! gdb_has $name "Breakpoint 1, 0x0*$sk"; then why="the hardware breakpoint on start_kernel did not stop the kernel"
	elif ! gdb_has $name "^#0 +0x0*$sk"; then why="the backtrace does not start at start_kernel"
	elif ! gdb_has $name 'Linux version'; then why="linux_banner not read at start_kernel"
	elif [ "$BOOT_WAIT" != 0 ]; then why="the kernel did not reach its shell after the start_kernel stop"
	elif ! gdb_has $name "Breakpoint 2, 0x0*$sys"; then why="the hardware breakpoint on __x64_sys_sync did not stop the kernel"
	elif ! gdb_has $name "rip +0x0*$sys"; then why="stopped, but not at __x64_sys_sync"
	elif [ "$synced" != 0 ]; then why="the kernel did not run on after detach"
	fi
	if [ -n "$why" ]; then fail_case $name "$why"; gdb_tail $name; else ok $name; fi
}
