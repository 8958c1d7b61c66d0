# scripts/lib/hostkvm.sh - can this host's KVM boot a stock Linux guest? (source it; bash)
# shellcheck shell=bash disable=SC2034
#
# Contract: mvm_hostkvm_check sets MVM_HOSTKVM_OK (1 or 0), MVM_HOSTKVM_KIND (one word:
# ok, forced, no-dev, no-access, pvm, no-virt) and MVM_HOSTKVM_WHY (one sentence for a person)
# and returns 0 when OK is 1. It never prints. The rules, which `mvm check` mirrors:
#   1. /dev/kvm must exist and open read-write;
#   2. it must not be backed by kvm_pvm (a PVM host: /sys/module/kvm_pvm present and neither
#      kvm_intel nor kvm_amd loaded), whose guests cannot run an unmodified kernel;
#   3. the CPU must show vmx or svm in /proc/cpuinfo (hardware VT-x / AMD-V).
# MVM_HOSTKVM=direct or MVM_HOSTKVM=testhost in the environment overrides the answer (direct:
# trust /dev/kvm; testhost: pretend it cannot), for testing either path on any machine.
#
# mvm_testhost_check sets MVM_TESTHOST_OK and MVM_TESTHOST_WHY: whether the fallback, a test host
# VM under QEMU emulation (tests/testhost/run.sh), can run here: qemu-system-x86_64 present.
# MVM_TESTHOST=off in the environment says it cannot (to check what happens without either).

mvm_hostkvm_check() {
	MVM_HOSTKVM_OK=0
	case "${MVM_HOSTKVM:-}" in
	direct)
		MVM_HOSTKVM_OK=1 MVM_HOSTKVM_KIND=forced
		MVM_HOSTKVM_WHY="MVM_HOSTKVM=direct: using /dev/kvm as it is"
		return 0 ;;
	testhost)
		MVM_HOSTKVM_KIND=forced
		MVM_HOSTKVM_WHY="MVM_HOSTKVM=testhost: not using this host's /dev/kvm"
		return 1 ;;
	esac

	local pvm=0 hwmod=0 virt=0
	[ -d /sys/module/kvm_pvm ] && pvm=1
	{ [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; } && hwmod=1
	grep -qwE 'vmx|svm' /proc/cpuinfo 2>/dev/null && virt=1

	if [ ! -e /dev/kvm ]; then
		MVM_HOSTKVM_KIND=no-dev
		if [ $pvm -eq 1 ] && [ $virt -eq 0 ]; then
			MVM_HOSTKVM_WHY="this host has no /dev/kvm (only kvm_pvm is loaded and the CPU has no VT-x/AMD-V)"
		elif [ $virt -eq 0 ]; then
			MVM_HOSTKVM_WHY="this host has no /dev/kvm and its CPU shows no VT-x/AMD-V"
		else
			MVM_HOSTKVM_WHY="this host has no /dev/kvm (load kvm_intel or kvm_amd, or enable virtualization in the firmware)"
		fi
		return 1
	fi
	if ! (exec 3<>/dev/kvm) 2>/dev/null; then
		MVM_HOSTKVM_KIND=no-access
		MVM_HOSTKVM_WHY="this host's /dev/kvm cannot be opened read-write by $(id -un) (add yourself to the kvm group)"
		return 1
	fi
	if [ $pvm -eq 1 ] && [ $hwmod -eq 0 ]; then
		MVM_HOSTKVM_KIND=pvm
		MVM_HOSTKVM_WHY="this host's /dev/kvm is kvm_pvm-backed (no VT-x/AMD-V)"
		return 1
	fi
	if [ $virt -eq 0 ]; then
		MVM_HOSTKVM_KIND=no-virt
		MVM_HOSTKVM_WHY="this host's CPU shows no VT-x/AMD-V (vmx/svm), so its /dev/kvm cannot run a stock kernel"
		return 1
	fi
	MVM_HOSTKVM_OK=1 MVM_HOSTKVM_KIND=ok
	MVM_HOSTKVM_WHY="this host's /dev/kvm has hardware virtualization"
	return 0
}

mvm_testhost_check() {
	MVM_TESTHOST_OK=0
	if [ "${MVM_TESTHOST:-}" = off ]; then
		MVM_TESTHOST_WHY="MVM_TESTHOST=off"
		return 1
	fi
	if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
		MVM_TESTHOST_WHY="qemu-system-x86_64 is not installed (scripts/deps.sh installs it)"
		return 1
	fi
	MVM_TESTHOST_OK=1
	MVM_TESTHOST_WHY="qemu-system-x86_64 found"
	return 0
}
