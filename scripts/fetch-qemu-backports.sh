#!/usr/bin/env bash
# scripts/fetch-qemu-backports.sh - a newer QEMU for the test host, from Debian's bookworm-backports.
#
# Why: QEMU 7.2 (bookworm's) emulates AMD-V without loading a nested guest's debug registers on
# VMRUN, so a hardware breakpoint or watchpoint set through mvm's gdb stub never fires in the
# test host; QEMU 9.1 fixed that. And 7.2's test hosts die far more often (README, Hosts without
# VT-x/AMD-V): scripts/test.sh runs every test host on this QEMU; scripts/boot.sh stays on the
# system's.
# Downloads (apt-get download, with a package list of its own: the system's sources are left
# alone) qemu-system-x86, qemu-system-common, qemu-system-data and seabios from bookworm-backports
# into .cache/qemu-backports/debs/, unpacks them into .cache/qemu-backports/root/ and prints two
# lines for the environment of tests/testhost/run.sh:
#   MVM_TESTHOST_QEMU=<its qemu-system-x86_64>
#   MVM_TESTHOST_QEMU_DATA=<its firmware directories>
# Idempotent: an unpacked copy that runs is used as it is (no network).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

dir=$MVM_CACHE/qemu-backports
root=$dir/root
bin=$root/usr/bin/qemu-system-x86_64
data=$root/usr/share/qemu:$root/usr/share/seabios
pkgs=(qemu-system-x86 qemu-system-common qemu-system-data seabios)

emit() { printf 'MVM_TESTHOST_QEMU=%s\nMVM_TESTHOST_QEMU_DATA=%s\n' "$bin" "$data"; }
if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then emit; exit 0; fi

mkdir -p "$dir/lists/partial" "$dir/debs"
echo "deb http://deb.debian.org/debian bookworm-backports main" >"$dir/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$dir/sources.list" -o Dir::Etc::sourceparts=-
	-o "Dir::State::Lists=$dir/lists" -o APT::Get::List-Cleanup=0)
apt-get "${apt_opts[@]}" update -qq >&2 ||
	mvm_die "fetch-qemu-backports: apt-get update of bookworm-backports failed"
rm -f "$dir"/debs/*.deb
(cd "$dir/debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]/%//bookworm-backports}" >&2) ||
	mvm_die "fetch-qemu-backports: apt-get download ${pkgs[*]} from bookworm-backports failed"
rm -rf "$root"
for d in "$dir"/debs/*.deb; do dpkg-deb -x "$d" "$root"; done
"$bin" --version >&2 || mvm_die "fetch-qemu-backports: $bin does not run (missing libraries?)"
emit
