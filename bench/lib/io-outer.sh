# bench/lib/io-outer.sh - the launching half shared by bench/blk.sh and bench/net.sh (source it; bash only).
# shellcheck shell=bash
#
# Contract: after the caller has set kind (blk|net), n, mem, timeout, mib, secs, qd, img_mib,
# where (auto|direct|testhost) and logs, io_outer_run builds what the guest needs (mvm, iobench
# static, the guest initramfs plus a second archive holding /usr/bin/iobench), then runs
# bench/lib/io-run.sh directly (this host's KVM boots Linux) or inside ONE test host VM
# (tests/testhost/run.sh), streams its progress and figures to stdout, keeps the logs in $logs,
# and returns io-run.sh's status (0 unless a figure could not be measured). BENCH_VMMS in the
# environment ("mvm qemu" by default) limits the VMMs measured, e.g. to "qemu". For blk in a test
# host VM, the image lives on a scratch disk (tests/testhost/run.sh --scratch-disk, image + 512
# MiB) so that host and guests do their I/O on one real disk, the host's with O_DIRECT.

io_outer_run() {
	local start envfile initrd iob ioinit cpu runner rc
	. "$MVM_ROOT/scripts/lib/hostkvm.sh"
	logs=$(mkdir -p "$logs" && cd "$logs" && pwd)
	start=$(mvm_now)

	if ! command -v qemu-system-x86_64 >/dev/null; then
		if [ -x "$MVM_ROOT/scripts/deps.sh" ]; then
			"$MVM_ROOT/scripts/deps.sh" >&2
		else
			mvm_say "bench: installing qemu-system-x86"
			mvm_sudo apt-get install -y -q qemu-system-x86 >&2
		fi
	fi
	envfile=$("$MVM_ROOT/scripts/fetch-debian.sh")
	# shellcheck disable=SC1090
	. "$envfile"
	initrd=$("$MVM_ROOT/scripts/mk-guest-initramfs.sh")
	case " ${BENCH_VMMS:-mvm qemu} " in
	*" mvm "*)
		if ! make -C "$MVM_ROOT" -s build/mvm >&2; then
			[ -x "$MVM_ROOT/build/mvm" ] || mvm_die "bench: building mvm failed (make build/mvm)"
			mvm_say "bench: WARNING: make build/mvm failed; measuring the existing build/mvm, which may be stale"
		fi ;;
	esac
	. "$MVM_ROOT/bench/lib/guest-prog.sh"
	iob=$(bench_guest_prog iobench -lpthread)
	# The reference initramfs, then an archive holding only /usr/bin/iobench.
	ioinit=$MVM_CACHE/bench/initramfs-io.cpio.gz
	if [ ! -s "$ioinit" ] || [ "$ioinit" -ot "$initrd" ] || [ "$ioinit" -ot "$iob" ]; then
		bench_initrd_with "$initrd" "$iob" "$ioinit"
	fi

	if [ "$where" = auto ]; then
		where=testhost
		mvm_hostkvm_check && where=direct
	fi
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
	cpu="$cpu, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
	export BENCH_KIND=$kind BENCH_N=$n BENCH_MEM=$mem BENCH_TIMEOUT=$timeout BENCH_MIB=$mib
	export BENCH_SECS=$secs BENCH_QD=$qd BENCH_IMG_MIB=$img_mib BENCH_VMMS=${BENCH_VMMS:-mvm qemu}
	# Physical paths: the test host VM gets each file at its resolved path (tests/testhost/run.sh).
	BENCH_MVM=$(readlink -f "$MVM_ROOT/build/mvm") BENCH_IOBENCH=$(readlink -f "$iob")
	BENCH_KERNEL=$(readlink -f "$MVM_BZIMAGE") BENCH_INITRD=$(readlink -f "$ioinit")
	export BENCH_MVM BENCH_IOBENCH BENCH_KERNEL BENCH_INITRD
	runner=$(readlink -f "$MVM_ROOT/bench/lib/io-run.sh")
	rm -f "$logs"/*.out "$logs"/*.err "$logs"/*.data "$logs"/*.cmd "$logs"/*.sink "$logs"/*.source

	if [ "$where" = direct ]; then
		export BENCH_LOGS=$logs BENCH_SHIP=0
		export BENCH_ENV="this host directly ($cpu, $(uname -r), /dev/kvm)"
		bash "$runner" && rc=0 || rc=$?
		rm -f "$logs/disk.img"
	else
		mvm_testhost_check || mvm_die "bench: $MVM_TESTHOST_WHY"
		mvm_say "bench: this host's KVM cannot boot Linux ($MVM_HOSTKVM_WHY); running in a test host VM (several minutes)"
		local files=("$runner" "$BENCH_IOBENCH" "$BENCH_KERNEL" "$BENCH_INITRD"
			"$(readlink -f "$(command -v qemu-system-x86_64)")")
		[ -x "$BENCH_MVM" ] && files+=("$BENCH_MVM")
		# -M microvm needs qboot (bios-microvm.bin, a symlink, so named with its destination:
		# --file copies a symlink's target to the link's path only then).
		local qdata fw f e v line last stall rpid fifo budget
		qdata=$(qemu-system-x86_64 -L help 2>/dev/null | head -n1)
		qdata=$(readlink -f "$qdata" 2>/dev/null || echo /usr/share/qemu)
		for fw in "$qdata"/{bios-microvm.bin,qboot.rom,linuxboot_dma.bin}; do
			if [ -e "$fw" ]; then
				files+=("$fw:$fw")
			elif [ -e "/usr/share/seabios/${fw##*/}" ]; then
				files+=("/usr/share/seabios/${fw##*/}:$qdata/${fw##*/}")
			else
				mvm_say "bench: QEMU firmware ${fw##*/} not found; the QEMU runs may fail"
			fi
		done
		local fargs=() envs=() disk=()
		# The test host's root is RAM (no O_DIRECT, no disk): give the image a disk of its own,
		# and drop the page cache before the reads so the monitors' buffered I/O reads it too.
		if [ "$kind" = blk ]; then
			disk=(--scratch-disk "$((img_mib + 512))M")
			envs+=(--env BENCH_DROP_CACHES=1)
		fi
		for f in "${files[@]}"; do fargs+=(--file "$f"); done
		for e in KIND N MEM TIMEOUT MIB SECS QD IMG_MIB VMMS MVM IOBENCH KERNEL INITRD; do
			v=BENCH_$e
			envs+=(--env "$v=${!v}")
		done
		envs+=(--env BENCH_LOGS=/tmp/bench --env BENCH_SHIP=1
			--env "BENCH_ENV=test host VM: QEMU TCG (-cpu EPYC,+svm, 2 vCPUs, 6 GiB) on $cpu, nested kvm_amd; L2 guests are not real-hardware figures")
		# Boots (2 VMMs, 1 or 2 network modes) and their transfers per run, plus the test host's boot.
		budget=$((900 + 4 * n * (timeout + 4 * secs + 240)))
		# The emulated test host can hang (nested SVM under TCG); the runner prints a line per
		# boot, so a silence much longer than one boot and its tests means it is stuck.
		fifo=$(mktemp -u) && mkfifo "$fifo"
		"$MVM_ROOT/tests/testhost/run.sh" --timeout "$budget" --log "$logs/testhost.log" "${disk[@]}" \
			"${fargs[@]}" "${envs[@]}" -- bash "$runner" >"$fifo" &
		rpid=$!
		stall=900 last="(none yet)"
		while :; do
			if IFS= read -r -t "$stall" line; then
				case "$line" in 'bench-log['*) ;; *) printf '%s\n' "$line"; last=$line ;; esac
				stall=$((timeout + 16 * secs + 600))
			elif [ $? -gt 128 ]; then
				mvm_say "bench: no output from the test host VM for $stall s (last line: $last); stopping it"
				kill -TERM "$rpid" 2>/dev/null || :
				cat >/dev/null
				break
			else
				break
			fi
		done <"$fifo"
		wait "$rpid" && rc=0 || rc=$?
		rm -f "$fifo"
		# Keep the boot logs the test host printed (first run of each VMM), one file per VMM.
		if [ -f "$logs/testhost.log" ]; then
			for v in $(sed -n 's/^bench-log\[\([^]]*\)\] .*/\1/p' "$logs/testhost.log" | sort -u); do
				sed -n "s/^bench-log\[$v\] stderr: //p" "$logs/testhost.log" >"$logs/$v.1.err"
				sed -n "/^bench-log\[$v\] stderr: /d; s/^bench-log\[$v\] //p" "$logs/testhost.log" >"$logs/$v.1.out"
			done
		fi
	fi
	mvm_say "bench: done in $(mvm_elapsed "$start") s (load average now $(cut -d' ' -f1-3 /proc/loadavg)); logs in $logs"
	return "$rc"
}
