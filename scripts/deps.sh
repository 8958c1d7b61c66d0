#!/usr/bin/env bash
# scripts/deps.sh - install the Debian packages mvm's build and tests need; silent when all are there.
#
# Usage: scripts/deps.sh   (as root, or with sudo available)
# Packages: the C toolchain, clang (libFuzzer, for tests/fuzz/), cmocka, QEMU (the test host VM), busybox-static, cpio and the
# compressors the initramfs scripts use; debhelper, pkgconf and groff-base for tests/package/ (the .deb, the SDK's .pc, man pages). Runs `apt-get update` once, only when something is
# missing and apt cannot find it in the lists it has.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

pkgs=(build-essential make gcc binutils clang libcmocka-dev liburing-dev libslirp-dev libjson-c-dev zlib1g-dev libseccomp-dev libxxhash-dev qemu-system-x86 busybox-static cpio
	lz4 xz-utils zstd gzip e2fsprogs coreutils curl
	debhelper dpkg-dev pkgconf groff-base)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

export DEBIAN_FRONTEND=noninteractive
mvm_say "deps: installing ${missing[*]}"
need_update=0
for p in "${missing[@]}"; do
	apt-cache show "$p" >/dev/null 2>&1 || need_update=1
done
if [ $need_update -eq 1 ]; then
	mvm_sudo apt-get update -qq >&2 || mvm_die "apt-get update failed"
fi
if ! mvm_sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
	# The lists may be stale (a package moved on); refresh once and retry.
	mvm_sudo apt-get update -qq >&2 || mvm_die "apt-get update failed"
	mvm_sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
		mvm_die "apt-get install ${missing[*]} failed"
fi
