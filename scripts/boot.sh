#!/usr/bin/env bash
# scripts/boot.sh - boot the reference Linux guest (Debian kernel + busybox shell) under mvm.
#
# Usage: scripts/boot.sh [MVM-RUN-FLAGS]...   e.g. scripts/boot.sh --cpus 2 --mem 1G
# Installs what is missing, fetches the Debian kernel, builds mvm and the guest initramfs, then
# runs `build/mvm run --kernel <bzImage> --initrd <initramfs> FLAGS...` on the terminal: a busybox
# shell in the guest; `exit` (or poweroff -f) ends the VM, Ctrl-A x quits mvm. When this host's
# KVM cannot boot a stock kernel (scripts/lib/hostkvm.sh says why) the same command runs inside a
# test host VM under QEMU emulation, with the terminal wired straight to mvm (slower to boot).
# When the Debian kernel cannot be fetched (no network), it boots mvm's built-in hello demo
# (a tiny ring-3 guest, guest/hello) with --stats instead. The exit status is mvm's.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$MVM_ROOT/scripts/lib/hostkvm.sh"
cd "$MVM_ROOT"

scripts/deps.sh
make -s -j"$(nproc 2>/dev/null || echo 2)" >/dev/null || mvm_die "make failed"
mvm=$MVM_ROOT/build/mvm
if envfile=$(scripts/fetch-debian.sh); then
	# shellcheck disable=SC1090
	. "$envfile"
	initrd=$(scripts/mk-guest-initramfs.sh)
	cmd=("$mvm" run --kernel "$MVM_BZIMAGE" --initrd "$initrd" "$@")
else
	# No download possible: boot the hello demo built into mvm (docs/guest-abi.md).
	# It needs no stock-kernel support from KVM, so it runs on this host's /dev/kvm.
	echo "mvm: the Debian kernel could not be fetched: booting mvm's built-in hello demo instead"
	exec "$mvm" run --stats "$@"
fi

if mvm_hostkvm_check; then
	exec "${cmd[@]}"
fi
if ! mvm_testhost_check; then
	mvm_die "mvm: $MVM_HOSTKVM_WHY, and no test host VM can run here: $MVM_TESTHOST_WHY"
fi
echo "mvm: $MVM_HOSTKVM_WHY: booting the VM inside a test host VM under QEMU emulation instead"
exec tests/testhost/run.sh --interactive --file "$mvm" --file "$MVM_BZIMAGE" --file "$initrd" -- "${cmd[@]}"
