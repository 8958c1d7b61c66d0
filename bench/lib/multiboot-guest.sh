# bench/lib/multiboot-guest.sh - sourced by bench/migrate.sh and bench/snapshot.sh for
# --guest multiboot: the 32-bit multiboot guest of tests/guests/mk-pvh-guest.py
# (multiboot-memdirty) that runs on this host's own /dev/kvm, PVM-backed ones too, and the line
# that says which KVM that is.

# This host's TSC rate in kHz, as its kernel found it (the guest paces itself by it); dies when
# it cannot be told.
bench_tsc_khz() {
	local khz
	khz=$(cat /sys/devices/system/cpu/cpu0/tsc_freq_khz 2>/dev/null ||
		dmesg 2>/dev/null | sed -n 's/.*tsc: Refined TSC clocksource calibration: \([0-9.]*\) MHz.*/\1/p; s/.*tsc: Detected \([0-9.]*\) MHz.*/\1/p' |
		tail -n1 | awk 'NF { printf "%d", $1 * 1000 }')
	[ -n "$khz" ] || khz=$(awk -F': ' '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
	[ -n "$khz" ] && [ "$khz" -gt 0 ] || mvm_die "bench: cannot tell this host's TSC rate (--guest multiboot paces itself by it)"
	echo "$khz"
}

# Check that the multiboot guest can run here: python3 to build it, /dev/kvm to run it.
bench_multiboot_check() {
	command -v python3 >/dev/null || mvm_die "bench: --guest multiboot needs python3 (tests/guests/mk-pvh-guest.py)"
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || mvm_die "bench: --guest multiboot runs on this host's /dev/kvm, and it cannot be opened read-write"
}

# OUT TSC_KHZ MIB RATE: write the guest image (working set MIB MiB, RATE MiB/s rewritten, 0: idle).
bench_multiboot_guest() {
	python3 "$MVM_ROOT/tests/guests/mk-pvh-guest.py" multiboot-memdirty "$1" "$2" "$3" "$4"
}

# "this host directly (CPU, kernel, /dev/kvm of MODULE)", and under kvm_pvm what that means.
bench_direct_env() { # CPU-LINE
	local m mods=
	for m in kvm_intel kvm_amd kvm_pvm; do [ -d "/sys/module/$m" ] && mods=${mods:+$mods,}$m; done
	printf 'this host directly (%s, %s, /dev/kvm of %s)' "$1" "$(uname -r)" "${mods:-an unknown module}"
	case "$mods" in *kvm_pvm*) printf "; kvm_pvm: the guest's kernel mode is emulated, mvm's and QEMU's own work runs on the real CPU" ;; esac
	echo
}
