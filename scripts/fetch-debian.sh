#!/usr/bin/env bash
# scripts/fetch-debian.sh - download and unpack the Debian kernel and busybox the VM tests boot.
#
# Fetches (apt-get download) linux-image-cloud-amd64, the linux-image-<version>-cloud-amd64 package
# it depends on, and busybox-static into .cache/debian/debs/, unpacks them into .cache/debian/root/
# and writes .cache/debian/env.sh, which defines:
#   MVM_KVER       kernel release, e.g. 6.1.0-56-cloud-amd64
#   MVM_BZIMAGE    the bzImage
#   MVM_MODDIR     its lib/modules/<release> directory
#   MVM_BUSYBOX    a static busybox binary
# Idempotent: when env.sh exists and its files are there it does nothing (and needs no network);
# --refresh asks apt again for the newest kernel. Prints the path of env.sh on stdout.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

refresh=0
[ "${1:-}" = --refresh ] && refresh=1

envfile=$MVM_DEBIAN/env.sh
if [ $refresh -eq 0 ] && [ -f "$envfile" ]; then
	# shellcheck disable=SC1090
	. "$envfile"
	if [ -f "$MVM_BZIMAGE" ] && [ -d "$MVM_MODDIR" ] && [ -x "$MVM_BUSYBOX" ]; then
		echo "$envfile"
		exit 0
	fi
fi

apt_cache_ok() { apt-cache show "$1" >/dev/null 2>&1; }
if ! apt_cache_ok linux-image-cloud-amd64 || ! apt_cache_ok busybox-static; then
	mvm_say "fetch-debian: package lists lack linux-image-cloud-amd64; running apt-get update"
	mvm_sudo apt-get update -qq >&2 || mvm_die "apt-get update failed"
fi

kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n1)
[ -n "$kpkg" ] || mvm_die "cannot resolve the kernel package linux-image-cloud-amd64 depends on"
kver=${kpkg#linux-image-}

debs=$MVM_DEBIAN/debs
root=$MVM_DEBIAN/root
mkdir -p "$debs"
for p in linux-image-cloud-amd64 "$kpkg" busybox-static; do
	if ! ls "$debs/${p}_"*.deb >/dev/null 2>&1; then
		mvm_say "fetch-debian: downloading $p"
		# apt-get download writes into the current directory; as root it warns that _apt
		# cannot write there, which is harmless.
		(cd "$debs" && apt-get download -q "$p" >&2 2>/dev/null) ||
			(cd "$debs" && apt-get download "$p" >&2) ||
			mvm_die "apt-get download $p failed"
	fi
done

# Unpack afresh into a temporary tree so an interrupted run never leaves a half-filled root.
tmp=$MVM_DEBIAN/root.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
for deb in "$debs/${kpkg}_"*.deb "$debs/busybox-static_"*.deb; do
	dpkg-deb -x "$deb" "$tmp"
done
rm -rf "$root"
mv "$tmp" "$root"

bz="$root/boot/vmlinuz-$kver"
[ -f "$bz" ] || mvm_die "no kernel image at $bz"
[ -d "$root/lib/modules/$kver" ] || mvm_die "no modules at $root/lib/modules/$kver"
bb="$root/bin/busybox"
[ -x "$bb" ] || mvm_die "no busybox at $bb"
# Drop the .debs of kernels no longer wanted, so the cache does not grow with each Debian update.
for old in "$debs"/linux-image-[0-9]*-cloud-amd64_*.deb; do
	case "$old" in "$debs/${kpkg}_"*) ;; *) rm -f "$old" ;; esac
done

cat >"$envfile.tmp" <<EOT
# Written by scripts/fetch-debian.sh; source it.
MVM_KVER=$kver
MVM_BZIMAGE=$bz
MVM_MODDIR=$root/lib/modules/$kver
MVM_BUSYBOX=$bb
EOT
mv "$envfile.tmp" "$envfile"
mvm_say "fetch-debian: kernel $kver ready in $root"
echo "$envfile"
