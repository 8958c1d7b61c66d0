# tests/linux/jail-cases.sh - the `mvm jail` cases of tests/linux/run.sh (sourced by it; uses its
# vm_* helpers, open_session/say/close_session from virtio-cases.sh, $kernel, $initrd, $work and
# $BASE_CMDLINE). They run as root (the test host's /init is root); the test host's / is its
# initramfs, so the jail is entered by the move-and-chroot path (pivot_root refuses an
# initramfs root), and cgroup v2 is mounted here when the test host has not done it.

JAIL_CASES=(jail-boot jail-refusals jail-daemonize)
JAIL_UID=1000 JAIL_GID=1000

# cgroup v2 at /sys/fs/cgroup (mounted when missing); 1 when it cannot be.
jail_is_cgroup2() { awk '$2 == "/sys/fs/cgroup" && $3 == "cgroup2" { f = 1 } END { exit !f }' /proc/mounts; }
jail_cgroup2() {
	jail_is_cgroup2 && return 0
	mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null && jail_is_cgroup2
}

# The jailed mvm's pid, from the jailer's "mvm runs as pid N" line.
jail_mvm_pid() { tr -d '\r' <"$VM_ERR" | sed -n 's/.*mvm runs as pid \([0-9]*\),.*/\1/p' | head -n1; }

# Why the running jailed mvm (pid $1, jail root $2, cgroup $3) is not jailed as asked, or nothing.
# Allowed names in its "/": the jail's own and the files it linked ($4...).
jail_inspect() {
	local pid=$1 root=$2 cg=$3 e ok; shift 3
	[ -n "$pid" ] && [ -d "/proc/$pid" ] || { echo "no running jailed mvm (pid '${pid}')"; return; }
	grep -qE "^Uid:[[:space:]]+$JAIL_UID[[:space:]]+$JAIL_UID[[:space:]]+$JAIL_UID[[:space:]]+$JAIL_UID" "/proc/$pid/status" ||
		{ echo "mvm does not run as uid $JAIL_UID: $(grep Uid: "/proc/$pid/status")"; return; }
	grep -qE "^Gid:[[:space:]]+$JAIL_GID[[:space:]]" "/proc/$pid/status" || { echo "mvm does not run as gid $JAIL_GID"; return; }
	grep -qE '^Groups:[[:space:]]*$' "/proc/$pid/status" || { echo "mvm kept supplementary groups: $(grep Groups: "/proc/$pid/status")"; return; }
	grep -qE '^NoNewPrivs:[[:space:]]+1' "/proc/$pid/status" || { echo "no_new_privs is not set"; return; }
	grep -qE '^NSpid:[[:space:]]+[0-9]+[[:space:]]+2$' "/proc/$pid/status" ||
		{ echo "mvm is not pid 2 of a new PID namespace (under the jail's init): $(grep NSpid: "/proc/$pid/status")"; return; }
	# Its "/" holds only the jail: nothing of the test host's (init, testhost, proc, tmp...).
	[ -e "/proc/$pid/root/dev/kvm" ] || { echo "no /dev/kvm in mvm's root"; return; }
	for e in $(ls -A "/proc/$pid/root"); do
		ok=0
		for a in dev mvm lib lib64 usr "$@"; do [ "$e" = "$a" ] && ok=1; done
		[ $ok = 1 ] || { echo "mvm's / holds '$e', which is not the jail's ($(ls -A "/proc/$pid/root" | tr '\n' ' '))"; return; }
	done
	[ "$(stat -c %i "/proc/$pid/root/")" = "$(stat -c %i "$root/")" ] || { echo "mvm's / is not $root"; return; }
	grep -qE '^Max open files +512 +512 ' "/proc/$pid/limits" || { echo "RLIMIT_NOFILE is not 512/512: $(grep 'open files' "/proc/$pid/limits")"; return; }
	grep -qE '^Max file size +1073741824 +1073741824 ' "/proc/$pid/limits" || { echo "RLIMIT_FSIZE is not 1 GiB: $(grep 'file size' "/proc/$pid/limits")"; return; }
	[ "$(cat "$cg/pids.max" 2>/dev/null)" = 64 ] || { echo "$cg/pids.max is '$(cat "$cg/pids.max" 2>&1)', expected 64"; return; }
	[ "$(cat "$cg/memory.max" 2>/dev/null)" = 1073741824 ] || { echo "$cg/memory.max is '$(cat "$cg/memory.max" 2>&1)', expected 1073741824"; return; }
	grep -qx "$pid" "$cg/cgroup.procs" || { echo "mvm's pid $pid is not in $cg/cgroup.procs ($(tr '\n' ' ' <"$cg/cgroup.procs"))"; return; }
}

# The jailed mvm boots Debian (a disk on another file system comes in by a bind mount), runs
# as the uid in the jail with the rlimits and the cgroup's limits, and after the guest powers
# off nothing of the jail is left.
case_jail-boot() {
	local base=$work/jail-base id=jail-boot img=/dev/shm/jail-boot.img root cg=/sys/fs/cgroup/mvm/jail-boot why
	jail_cgroup2 || { notok jail-boot "no cgroup v2 at /sys/fs/cgroup and it cannot be mounted"; return; }
	mkdir -p "$base" && rm -f "$img" && truncate -s 4M "$img" && chown "$JAIL_UID:$JAIL_GID" "$img"
	root=$base/mvm/$id/root
	# A network namespace to join: a sleeper's, made with unshare -n (when busybox has it).
	local ns_pid='' netns=()
	if unshare -n true 2>/dev/null; then
		unshare -n sleep 600 </dev/null >/dev/null 2>&1 &
		ns_pid=$! netns=(--netns "/proc/$ns_pid/ns/net")
	fi
	open_session jail-boot jail --id "$id" --uid "$JAIL_UID" --gid "$JAIL_GID" --chroot-base "$base" \
		"${netns[@]}" --cgroup pids.max=64 --cgroup memory.max=1G --resource-limit no-file=512 \
		--resource-limit fsize=1073741824 -- mvm run --kernel "$kernel" --initrd "$initrd" \
		--disk "$img" --cmdline "$BASE_CMDLINE mvmtest=echo" || return
	say 'echo MVM-JAIL-VDA-$([ -b /dev/vda ] && echo $((40+2)))'
	vm_wait_for 'MVM-JAIL-VDA-42' 20 || :
	why=$(jail_inspect "$(jail_mvm_pid)" "$root" "$cg" "${kernel##*/}" "${initrd##*/}" "${img##*/}")
	if [ -z "$why" ] && [ -n "$ns_pid" ] &&
	   [ "$(readlink "/proc/$(jail_mvm_pid)/ns/net")" != "$(readlink "/proc/$ns_pid/ns/net")" ]; then
		why="mvm is not in the --netns namespace: $(readlink "/proc/$(jail_mvm_pid)/ns/net"), want $(readlink "/proc/$ns_pid/ns/net")"
	fi
	[ -n "$ns_pid" ] || echo "# jail-boot: no unshare -n here: --netns not tried"
	echo "# jail-boot: mvm pid $(jail_mvm_pid); its /: $(ls -A "/proc/$(jail_mvm_pid)/root" 2>/dev/null | tr '\n' ' ')"
	close_session
	[ -z "$ns_pid" ] || kill "$ns_pid" 2>/dev/null
	if [ -n "$why" ]; then fail_case jail-boot "$why"
	elif ! grep -qa 'MVM-JAIL-VDA-42' "$VM_OUT"; then fail_case jail-boot "the guest has no /dev/vda (the disk bound into the jail)"
	elif [ -n "$(unclean_end)" ]; then fail_case jail-boot "$(unclean_end)"
	elif [ -e "$base/mvm/$id" ]; then fail_case jail-boot "$base/mvm/$id is left: $(find "$base/mvm/$id" | head -n 5 | tr '\n' ' ')"
	elif [ -e "$cg" ]; then fail_case jail-boot "the cgroup $cg is left"
	elif [ ! -s "$kernel" ] || [ ! -f "$img" ]; then fail_case jail-boot "a host file the jail linked is gone"
	else ok jail-boot; fi
	rm -f "$img"
}

# Refused before anything is made, status 2, one line naming the problem: a bad ID, a missing
# kernel, uid 0, a chroot base that does not exist.
case_jail-refusals() {
	local base=$work/jail-refuse why='' c
	mkdir -p "$base"
	local -a runs=(
		"--id bad_id --uid 1000 --gid 1000 --chroot-base $base -- mvm run --kernel $kernel|only letters, digits and '-'"
		"--id r1 --uid 1000 --gid 1000 --chroot-base $base -- mvm run --kernel $work/no-such-kernel|$work/no-such-kernel: No such file"
		"--id r2 --uid 0 --gid 1000 --chroot-base $base -- mvm run --kernel $kernel|--uid 0: mvm would run as root"
		"--id r3 --uid 1000 --gid 1000 --chroot-base $work/no-such-dir -- mvm run --kernel $kernel|--chroot-base $work/no-such-dir: No such file"
		"--id r4 --uid 1000 --gid 1000 --chroot-base $base -- mvm run --kernel $kernel --restore $work|--restore cannot be jailed")
	for c in "${runs[@]}"; do
		# shellcheck disable=SC2086 # the words of the run are the flags
		vm_start jail-refusals /dev/null jail ${c%%|*}
		if ! vm_wait_exit "$QUICK_TIMEOUT"; then why="mvm jail ${c%%|*}: still running"; break
		elif [ "$VM_RC" != 2 ]; then why="mvm jail ${c%%|*}: exited $VM_RC, expected 2"; break
		elif ! grep -qaF -- "${c#*|}" "$VM_ERR"; then why="mvm jail ${c%%|*}: no message with '${c#*|}'"; break
		fi
	done
	if [ -n "$why" ]; then fail_case jail-refusals "$why"
	elif [ -n "$(ls -A "$base")" ]; then fail_case jail-refusals "a refused jail left $(ls -A "$base")"
	else ok jail-refusals; fi
}

# --daemonize with a --config-file: the command returns 0 once mvm runs; the jail holds the
# rewritten file, mvm writes the file's logger.log_path (linked from the host: stdout is
# /dev/null), and the background jailer removes the jail when the guest powers off.
case_jail-daemonize() {
	local base=$work/jail-daemon id=jail-daemon pid t=0 cfg=$work/jail-daemon.json log=$work/jail-daemon.log
	mkdir -p "$base"
	rm -f "$log"
	cat >"$cfg" <<EOF
{
  "boot-source": { "kernel_image_path": $(cfg_json_str "$kernel"), "initrd_path": $(cfg_json_str "$initrd"),
                   "boot_args": $(cfg_json_str "$BASE_CMDLINE mvmtest=poweroff") },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 256, "smt": false },
  "logger": { "log_path": $(cfg_json_str "$log"), "level": "Debug" }
}
EOF
	vm_start jail-daemonize /dev/null jail --id "$id" --uid "$JAIL_UID" --gid "$JAIL_GID" \
		--chroot-base "$base" --daemonize -- mvm run --config-file "$cfg"
	if ! vm_wait_exit "$QUICK_TIMEOUT"; then fail_case jail-daemonize "mvm jail --daemonize did not return within $QUICK_TIMEOUT s"; return; fi
	if [ "$VM_RC" != 0 ]; then fail_case jail-daemonize "mvm jail --daemonize exited $VM_RC, expected 0"; return; fi
	pid=$(for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = mvm-jail-init ] && echo "${p#/proc/}"; done | head -n1)
	if [ -z "$pid" ] || [ ! -d "$base/mvm/$id/root" ]; then
		fail_case jail-daemonize "no jail running after the command returned (init pid '${pid}')"; return
	fi
	if ! grep -q '"kernel_image_path": *"/' "$base/mvm/$id/root/jail-daemon.json" ||
	   grep -q "$work" "$base/mvm/$id/root/jail-daemon.json"; then
		kill -TERM "$pid" 2>/dev/null
		fail_case jail-daemonize "the jail's config file does not have the jail's paths: $(tr -d '\n' <"$base/mvm/$id/root/jail-daemon.json")"; return
	fi
	# The guest powers off; then the background jailer removes the jail.
	while [ -d "/proc/$pid" ] || [ -e "$base/mvm/$id" ]; do
		[ $t -ge $((BOOT_TIMEOUT * 5)) ] && break
		sleep 0.2; t=$((t + 1))
	done
	echo "# jail-daemonize: the jail was gone $((t / 5)) s after the command returned"
	if [ -d "/proc/$pid" ]; then kill -TERM "$pid" 2>/dev/null; fail_case jail-daemonize "the daemonized VM still runs $BOOT_TIMEOUT s later (guest never powered off?)"
	elif [ -e "$base/mvm/$id" ]; then fail_case jail-daemonize "$base/mvm/$id is left after mvm ended"
	elif ! grep -q 'powered off' "$log" 2>/dev/null; then fail_case jail-daemonize "the config's log file $log does not say the guest powered off: $(tail -n 3 "$log" 2>&1 | tr '\n' ' ')"
	else ok jail-daemonize; fi
}
