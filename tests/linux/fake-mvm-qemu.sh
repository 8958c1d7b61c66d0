#!/usr/bin/env bash
# tests/linux/fake-mvm-qemu.sh - a stand-in for mvm built on QEMU, to check the Linux tests themselves.
#
# `tests/linux/run.sh --direct --mvm tests/linux/fake-mvm-qemu.sh` runs every case against QEMU
# (TCG, no KVM needed), so the harness can be validated on any machine. It takes mvm's flags and
# maps QEMU's outcomes onto mvm's exit statuses (0 off/reboot, 2 bad input, 3 guest panic). It
# checks inputs only as far as the tests need; it is not a model of mvm.
set -uo pipefail
[ "${1:-}" = version ] && { echo "fake-mvm-qemu (QEMU $(qemu-system-x86_64 --version | head -n1))"; exit 0; }
[ "${1:-}" = run ] || { echo "usage: $0 run --kernel FILE [--initrd FILE] [--cmdline STR] [--cpus N] [--mem SIZE]" >&2; exit 2; }
shift
kernel='' initrd='' cmdline="console=ttyS0 reboot=k panic=1" cpus=1 mem=512M
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) kernel=$2 ;; --initrd) initrd=$2 ;; --cmdline) cmdline=$2 ;;
	--cpus) cpus=$2 ;; --mem) mem=$2 ;;
	*) echo "fake-mvm: unknown flag $1" >&2; exit 2 ;;
	esac
	shift 2
done
[ -r "$kernel" ] || { echo "fake-mvm: $kernel: cannot read kernel" >&2; exit 2; }
[ -z "$initrd" ] || [ -r "$initrd" ] || { echo "fake-mvm: $initrd: cannot read initrd" >&2; exit 2; }
le() { od -An -tu"$2" -j "$1" -N "$2" "$kernel" | tr -d ' '; }
magic=$(head -c4 "$kernel" | od -An -c | tr -d ' ')
if [ "$magic" = 177ELF ]; then
	:
elif [ "$(dd if="$kernel" bs=1 skip=514 count=4 2>/dev/null)" = HdrS ]; then
	setup=$(le 497 1); [ "$setup" -eq 0 ] && setup=4
	need=$(( (setup + 1) * 512 + $(le 500 4) * 16 ))
	[ "$(wc -c <"$kernel")" -ge "$need" ] || { echo "fake-mvm: $kernel: truncated bzImage" >&2; exit 2; }
else
	echo "fake-mvm: $kernel: not a bzImage or ELF kernel" >&2; exit 2
fi
ird=(); [ -n "$initrd" ] && ird=(-initrd "$initrd")
qemu-system-x86_64 -accel tcg -M pc -smp "$cpus" -m "$mem" -nodefaults -no-reboot -display none \
	-kernel "$kernel" "${ird[@]}" -append "$cmdline" -serial stdio \
	-device pvpanic -action panic=exit-failure
rc=$?
[ $rc -eq 1 ] && exit 3   # -action panic=exit-failure
exit $rc
