# tests/linux/config-cases.sh - the --config-file cases of tests/linux/run.sh (sourced by it; uses
# its vm_* helpers, open_session/say/close_session from virtio-cases.sh, $kernel, $initrd, $work
# and $BASE_CMDLINE): a Firecracker-style JSON file boots the same VM as the flags, and a bad
# file is refused with status 2 and the field named.

CONFIG_CASES=(config-file-boot config-file-devices config-file-invalid config-file-firecracker)

# A JSON string literal of $1 (paths here hold no control characters).
cfg_json_str() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

# write_config FILE BOOT_ARGS ROOT_RO: kernel, initrd, 1 vCPU, 256 MiB, one root drive (a fresh
# 4 MiB image next to FILE), an entropy device.
write_config() {
	local f=$1 args=$2 ro=$3 img=${1%.json}.img
	dd if=/dev/zero of="$img" bs=1M count=4 2>/dev/null
	cat >"$f" <<EOF
{
  "boot-source": {
    "kernel_image_path": $(cfg_json_str "$kernel"),
    "initrd_path": $(cfg_json_str "$initrd"),
    "boot_args": $(cfg_json_str "$args")
  },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 256, "smt": false },
  "drives": [
    { "drive_id": "rootfs", "path_on_host": $(cfg_json_str "$img"),
      "is_root_device": true, "is_read_only": $ro }
  ],
  "entropy": {}
}
EOF
}

# The same VM from a file and from flags: both reach userspace and power off with status 0, and
# the guest sees the same CPUs and the same MemTotal.
case_config-file-boot() {
	local f=$work/boot.json cli_cpus cli_mem cpus mem
	write_config "$f" "$BASE_CMDLINE mvmtest=poweroff" true
	vm_start config-file-boot-cli /dev/null run --kernel "$kernel" --initrd "$initrd" --cpus 1 \
		--mem 256M --disk "${f%.json}.img,ro" --rng --cmdline "$BASE_CMDLINE mvmtest=poweroff root=/dev/vda ro"
	vm_wait_exit "$BOOT_TIMEOUT" || :
	time_note config-file-boot-cli
	cli_cpus=$(marker MVM-GUEST-CPUS) cli_mem=$(marker MVM-GUEST-MEMTOTAL-KB)
	if [ "$VM_RC" != 0 ] || [ -z "$cli_mem" ]; then
		fail_case config-file-boot "the reference boot with flags failed (status $VM_RC)"; return
	fi
	vm_start config-file-boot /dev/null run --config-file "$f"
	vm_wait_exit "$BOOT_TIMEOUT" || :
	time_note config-file-boot
	cpus=$(marker MVM-GUEST-CPUS) mem=$(marker MVM-GUEST-MEMTOTAL-KB)
	if [ "$VM_RC" = killed ]; then fail_case config-file-boot "mvm still running $BOOT_TIMEOUT s after start"
	elif ! grep -qa '^MVM-GUEST-READY' "$VM_OUT"; then fail_case config-file-boot "mvm exited $VM_RC before the guest reached userspace"
	elif [ "$VM_RC" != 0 ]; then fail_case config-file-boot "mvm exited $VM_RC, expected 0"
	elif [ "$cpus" != 1 ] || [ "$cpus" != "$cli_cpus" ]; then
		fail_case config-file-boot "guest reports ${cpus:-no} CPUs (flags: $cli_cpus), expected 1"
	elif [ "$mem" != "$cli_mem" ]; then fail_case config-file-boot "MemTotal $mem kB, with flags $cli_mem kB"
	elif grep -qaE 'AddressSanitizer|runtime error|LeakSanitizer' "$VM_ERR"; then fail_case config-file-boot "mvm printed a sanitizer report"
	else ok config-file-boot; fi
}

# What the file asked for reached the guest: root=/dev/vda rw appended to boot_args (the drive
# is the root device and writable), /dev/vda present, hw_random from virtio-rng.
case_config-file-devices() {
	local f=$work/devices.json line
	write_config "$f" "$BASE_CMDLINE mvmtest=echo" false
	open_session config-file-devices run --config-file "$f" || return
	say 'echo MVM-CF-CMDLINE-$((1+1)): $(cat /proc/cmdline)'
	say '[ -b /dev/vda ] && echo MVM-CF-VDA-$((2+1))'
	say 'echo MVM-CF-RNG-$(cat /sys/class/misc/hw_random/rng_current)'
	vm_wait_for 'MVM-CF-RNG-[a-z]' 20
	close_session
	# Not anchored: the three commands go in at once, and the tty's echo of a later one can
	# start the line the first one's answer lands on ("echoMVM-CF-CMDLINE-2: ...", CI).
	line=$(tr -d '\r' <"$VM_OUT" | grep -ao 'MVM-CF-CMDLINE-2:.*' | head -n1)
	echo "# config-file-devices: ${line#MVM-CF-CMDLINE-2: }"
	if ! grep -q ' root=/dev/vda rw' <<<"$line"; then fail_case config-file-devices "the guest's /proc/cmdline has no 'root=/dev/vda rw'"
	elif ! grep -q 'mvmtest=echo' <<<"$line"; then fail_case config-file-devices "the guest's /proc/cmdline lacks the file's boot_args"
	elif ! grep -qa 'MVM-CF-VDA-3' "$VM_OUT"; then fail_case config-file-devices "the guest has no /dev/vda"
	elif ! grep -qa 'MVM-CF-RNG-virtio_rng' "$VM_OUT"; then fail_case config-file-devices "the guest's hw_random is not virtio_rng"
	elif [ -n "$(unclean_end)" ]; then fail_case config-file-devices "$(unclean_end)"
	else ok config-file-devices; fi
}

# Refused before any VM exists, status 2, the message names the field (or the clashing flag).
case_config-file-invalid() {
	local f=$work/invalid.json why=
	try_invalid() { # WANT-TEXT ARGS...
		local want=$1; shift
		vm_start config-file-invalid /dev/null run "$@"
		if ! vm_wait_exit "$QUICK_TIMEOUT"; then why="mvm $* still running $QUICK_TIMEOUT s after start"
		elif [ "$VM_RC" != 2 ]; then why="mvm $* exited $VM_RC, expected 2"
		elif ! grep -qaF "$want" "$VM_ERR"; then why="mvm $*: no message '$want'"
		fi
		[ -z "$why" ]
	}
	printf '{"boot-source": {"kernel_image_path": %s}, "drives": [{"drive_id": "d", "path_on_hots": "/x", "is_root_device": false}]}\n' \
		"$(cfg_json_str "$kernel")" >"$f"
	try_invalid 'drives[0].path_on_hots: unknown field' --config-file "$f" &&
	printf '{"boot-source": {"kernel_image_path": %s}, "machine-config": {"vcpu_count": "2", "mem_size_mib": 256}}\n' \
		"$(cfg_json_str "$kernel")" >"$f" &&
	try_invalid 'machine-config.vcpu_count: expected an integer, got string' --config-file "$f" &&
	printf '{"machine-config": {"vcpu_count": 1, "mem_size_mib": 256}}\n' >"$f" &&
	try_invalid 'boot-source: required' --config-file "$f" &&
	printf '[1, 2]' >"$f" &&
	try_invalid 'expected a JSON object, got array' --config-file "$f" &&
	write_config "$f" "$BASE_CMDLINE" false &&
	try_invalid 'cannot be combined with --kernel' --config-file "$f" --kernel "$kernel"
	if [ -n "$why" ]; then fail_case config-file-invalid "$why"; else ok config-file-invalid; fi
}

# Firecracker's own example, tests/framework/vm_config.json (every key it has, the nulls and the
# empty "pmem" and "network-interfaces" lists), written here with this run's kernel, initramfs,
# a fresh root image and the test's boot arguments; everything else as Firecracker's file says:
# it boots to userspace with its 2 vCPUs and 1024 MiB, and powers off with status 0.
case_config-file-firecracker() {
	local f=$work/fc-vm-config.json img=$work/fc-rootfs.ext4 cpus mem
	dd if=/dev/zero of="$img" bs=1M count=4 2>/dev/null
	cat >"$f" <<EOF
{
  "boot-source": {
    "kernel_image_path": $(cfg_json_str "$kernel"),
    "boot_args": $(cfg_json_str "$BASE_CMDLINE mvmtest=poweroff"),
    "initrd_path": $(cfg_json_str "$initrd")
  },
  "drives": [
    {
      "drive_id": "rootfs",
      "partuuid": null,
      "is_root_device": true,
      "cache_type": "Unsafe",
      "is_read_only": false,
      "path_on_host": $(cfg_json_str "$img"),
      "io_engine": "Sync",
      "rate_limiter": null,
      "socket": null
    }
  ],
  "machine-config": {
    "vcpu_count": 2,
    "mem_size_mib": 1024,
    "smt": false,
    "track_dirty_pages": false,
    "huge_pages": "None"
  },
  "cpu-config": null,
  "balloon": null,
  "network-interfaces": [],
  "vsock": null,
  "logger": null,
  "metrics": null,
  "mmds-config": null,
  "entropy": null,
  "pmem": [],
  "memory-hotplug": null
}
EOF
	vm_start config-file-firecracker /dev/null run --config-file "$f"
	vm_wait_exit "$BOOT_TIMEOUT" || :
	time_note config-file-firecracker
	cpus=$(marker MVM-GUEST-CPUS) mem=$(marker MVM-GUEST-MEMTOTAL-KB)
	if [ "$VM_RC" = killed ]; then fail_case config-file-firecracker "mvm still running $BOOT_TIMEOUT s after start"
	elif ! grep -qa '^MVM-GUEST-READY' "$VM_OUT"; then
		fail_case config-file-firecracker "mvm exited $VM_RC before the guest reached userspace: $(head -c 300 "$VM_ERR")"
	elif [ "$VM_RC" != 0 ]; then fail_case config-file-firecracker "mvm exited $VM_RC, expected 0"
	elif [ "$cpus" != 2 ]; then fail_case config-file-firecracker "guest reports ${cpus:-no} CPUs, expected 2"
	elif [ -z "$mem" ] || [ "$mem" -lt 900000 ] || [ "$mem" -gt 1048576 ]; then
		fail_case config-file-firecracker "MemTotal ${mem:-?} kB, expected about 1 GiB"
	elif grep -qaE 'AddressSanitizer|runtime error|LeakSanitizer' "$VM_ERR"; then fail_case config-file-firecracker "mvm printed a sanitizer report"
	else ok config-file-firecracker; fi
}

# One Firecracker config file with every device Firecracker has that mvm emulates: a rate-limited
# root drive (the vsock tool, read at boot) and a rate-limited data drive, a balloon that
# inflates at boot, vsock and a rate-limited entropy device; served with --api-sock. The guest
# reads the data drive at the configured rate (a 1 MiB bucket refilled per second: the 8 MiB
# image takes ~7 s), a host client streams to the guest's vsock listener with its checksum
# checked, GET /balloon shows the inflated 64 MiB and GET /vm/config the limiters.
CONFIG_CASES+=(config-file-fc-devices)
case_config-file-fc-devices() {
	local name=config-file-fc-devices f=$work/fc-devices.json data=$work/fc-devices-data.img
	local img=$work/fc-devices-root.img fifo=$work/fc-devices.fifo uds=$work/fc-devices.vsock
	local vt size t0 secs hsend
	have_curl "$name" || return
	vt=$(vsockt_tool) || { notok "$name" "cannot build tests/linux/guest/vsockt.c (cc -static)"; return; }
	size=$(stat -c %s "$vt")
	cp "$vt" "$img" && truncate -s 4M "$img"
	dd if=/dev/urandom of="$data" bs=1M count=8 2>/dev/null
	rm -f "$uds"
	cat >"$f" <<JSON
{
  "boot-source": {
    "kernel_image_path": $(cfg_json_str "$kernel"),
    "initrd_path": $(cfg_json_str "$initrd"),
    "boot_args": $(cfg_json_str "$BASE_CMDLINE mvmtest=echo")
  },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 512 },
  "drives": [
    { "drive_id": "tool", "path_on_host": $(cfg_json_str "$img"), "is_root_device": false,
      "is_read_only": true,
      "rate_limiter": { "bandwidth": { "size": 4194304, "refill_time": 1000 } } },
    { "drive_id": "data", "path_on_host": $(cfg_json_str "$data"), "is_root_device": false,
      "is_read_only": true,
      "rate_limiter": { "bandwidth": { "size": 1048576, "refill_time": 1000 },
                        "ops": { "size": 1000, "refill_time": 1000 } } }
  ],
  "balloon": { "amount_mib": 64, "deflate_on_oom": true, "stats_polling_interval_s": 1 },
  "vsock": { "guest_cid": 3, "uds_path": $(cfg_json_str "$uds") },
  "entropy": { "rate_limiter": { "bandwidth": { "size": 65536, "refill_time": 100 } } }
}
JSON
	rm -f "$fifo"; mkfifo "$fifo"
	exec 3<>"$fifo"
	api_start "$name" "$fifo" --config-file "$f" || { exec 3>&-; return; }
	bad=
	if ! vm_wait_for '^MVM-GUEST-ECHO-READY' "$BOOT_TIMEOUT"; then
		exec 3>&-; vm_kill; fail_case "$name" "$(boot_failed_reason)"; return
	fi
	say "head -c $size /dev/vda >/tmp/vt; chmod +x /tmp/vt; (/tmp/vt serve 1000 </dev/null &)"
	api_wait 'VSOCKT-SERVING 1000' 30 || bad="the guest's vsock server did not start"
	if [ -z "$bad" ]; then
		hsend=$(timeout 120 "$vt" hsend "$uds" 1000 $((4 << 20)) 7)
		[ "${hsend%% *}" = VSOCKT-HSEND-OK ] || bad="host -> guest vsock stream: ${hsend:-no answer}"
	fi
	# The data drive at 1 MiB/s: 8 MiB, the first 1 MiB from the full bucket.
	t0=$(mvm_now)
	say 'dd if=/dev/vdb of=/dev/null bs=64k iflag=direct 2>/dev/null; echo MVM-FCDEV-READ-$((6*7))'
	api_wait '^MVM-FCDEV-READ-42' 60 || bad=${bad:-"the guest did not finish reading /dev/vdb in 60 s"}
	secs=$(awk -v a="$t0" -v b="$(mvm_now)" 'BEGIN { printf "%.1f", b - a }')
	echo "# $name: 8 MiB read from the 1 MiB/s drive in $secs s (expected about 7 s)"
	awk -v s="$secs" 'BEGIN { exit !(s >= 5.5) }' || bad=${bad:-"8 MiB read from a 1 MiB/s drive in $secs s: the limiter did not hold it"}
	balloon_wait_actual 64 60 || bad=${bad:-"GET /balloon never showed actual_mib 64: $(api_body | head -c 200)"}
	expect "$name" 200 "$(api GET /vm/config)" "GET /vm/config"
	expect_grep '"guest_cid": *3' "$(api_body)" "GET /vm/config: no vsock"
	expect_grep '"amount_mib": *64' "$(api_body)" "GET /vm/config: no balloon"
	expect_grep '"size": *1048576' "$(api_body)" "GET /vm/config: no data drive limiter"
	[ -n "$hsend" ] && echo "# $name: vsock $hsend"
	say 'poweroff -f'
	api_wait_exit 45 || :
	exec 3>&-
	time_note "$name"
	if [ -n "$bad" ]; then fail_case "$name" "$bad"
	elif [ -n "$(unclean_end)" ]; then fail_case "$name" "$(unclean_end)"
	else ok "$name"; fi
}
