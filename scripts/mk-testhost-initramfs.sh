#!/usr/bin/env bash
# scripts/mk-testhost-initramfs.sh - build the initramfs of a test host VM that runs one command.
#
# Usage: scripts/mk-testhost-initramfs.sh -o OUT [--file SRC[:DEST]]... [--env NAME=VALUE]...
#            [--cwd DIR] [--interactive] -- COMMAND [ARG]...
# The test host (L1) is a Debian kernel under QEMU emulation with nested AMD-V; its /init loads
# irqbypass, kvm, kvm_amd, tun and veth (migrate-netns; from the same kernel package, see fetch-debian.sh), brings lo up, makes sure
# /dev/kvm exists, copies nothing at run time, runs COMMAND in DIR (default: the caller's working
# directory) with ttyS0 as its terminal and reports `TESTHOST-EXIT=<status>` on ttyS0 (not with
# --interactive) and on ttyS1, then powers off; the kernel's own console is ttyS2. Files keep their host path unless DEST is given; a dynamically linked
# ELF file brings every library ldd names, at the same paths, with the ELF interpreter. bash is
# always included so scripts written for bash run inside. With --interactive COMMAND gets the
# console (ttyS0) as its controlling terminal; otherwise its stdin is /dev/null.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/kmod.sh"

out='' cwd=$PWD interactive=0
files=() envs=()
while [ $# -gt 0 ]; do
	case "$1" in
	-o) out=$2; shift 2 ;;
	--file) files+=("$2"); shift 2 ;;
	--env) envs+=("$2"); shift 2 ;;
	--cwd) cwd=$2; shift 2 ;;
	--interactive) interactive=1; shift ;;
	--) shift; break ;;
	*) mvm_die "mk-testhost-initramfs: unknown argument $1" ;;
	esac
done
[ -n "$out" ] && [ $# -gt 0 ] || mvm_die "usage: $0 -o OUT [--file SRC[:DEST]]... -- COMMAND [ARG]..."

envfile=$MVM_DEBIAN/env.sh
[ -f "$envfile" ] || mvm_die "no $envfile: run scripts/fetch-debian.sh first"
# shellcheck disable=SC1090
. "$envfile"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,etc,testhost/modules}
cp "$MVM_BUSYBOX" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || :

# Copy one file or tree to DEST inside the stage, plus the libraries an ELF file needs.
is_elf() { [ -f "$1" ] && [ "$(head -c4 "$1" | od -An -c | tr -d ' ')" = 177ELF ]; }
add_libs() {
	local lib
	# ldd prints "name => /path (addr)" and "/path/ld-linux (addr)"; static files print nothing.
	for lib in $(ldd "$1" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
		[ -e "$stage$lib" ] && continue
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
	# What the file loads with dlopen, which ldd cannot see: mvm's libslirp (util/slirp_lib.c),
	# with what it needs in turn.
	if grep -qa 'libslirp\.so\.0' "$1" 2>/dev/null; then
		# awk reads to the end: stopping at the match would leave ldconfig writing into a
		# closed pipe, and under pipefail its SIGPIPE (141) ended this script in 8 of 200 tries.
		lib=$(ldconfig -p 2>/dev/null | awk '$1 == "libslirp.so.0" && /x86-64/ && !found { print $NF; found = 1 }')
		if [ -n "$lib" ] && [ ! -e "$stage$lib" ]; then
			mkdir -p "$stage$(dirname "$lib")"
			cp -L "$lib" "$stage$lib"
			add_libs "$lib"
		fi
	fi
}
add_path() {
	local src=$1 dest=$2
	[ -e "$src" ] || mvm_die "mk-testhost-initramfs: no such file: $src"
	mkdir -p "$stage$(dirname "$dest")"
	if [ -d "$src" ]; then
		mkdir -p "$stage$dest"
		cp -a "$src/." "$stage$dest/"
	else
		cp -L "$src" "$stage$dest"
		is_elf "$src" && add_libs "$src"
	fi
	return 0
}

if command -v bash >/dev/null 2>&1; then
	add_path "$(readlink -f "$(command -v bash)")" /bin/bash
fi
for spec in "${files[@]}"; do
	src=${spec%%:*}
	if [ "$src" != "$spec" ]; then dest=${spec#*:}; else dest=$(readlink -f "$src"); fi
	case "$dest" in /*) ;; *) dest=$cwd/$dest ;; esac
	add_path "$src" "$dest"
done
mkdir -p "$stage$cwd"

while IFS= read -r ko; do
	name=${ko##*/}; name=${name%.zst}; name=${name%.xz}; name=${name%.ko}
	case "$ko" in
	*.xz) xz -dc "$ko" >"$stage/testhost/modules/$name.ko" ;;
	*.zst) zstd -qdc "$ko" >"$stage/testhost/modules/$name.ko" ;;
	*) cp "$ko" "$stage/testhost/modules/$name.ko" ;;
	esac
	echo "$name" >>"$stage/testhost/modules/load.order"
done < <(mvm_kmod_closure "$MVM_MODDIR" kvm-amd tun veth)

# The KVM anchor (tests/testhost/kvm-anchor.c says why), built once into the cache; static, so it
# needs nothing at run time. MVM_TESTHOST_ANCHOR=0 leaves it out.
if [ "${MVM_TESTHOST_ANCHOR:-1}" != 0 ]; then
	anchor_src=$MVM_ROOT/tests/testhost/kvm-anchor.c anchor=$MVM_CACHE/testhost/kvm-anchor
	if [ ! -x "$anchor" ] || [ "$anchor_src" -nt "$anchor" ]; then
		mkdir -p "${anchor%/*}"
		${CC:-cc} -O2 -Wall -Wextra -static -o "$anchor.$$.tmp" "$anchor_src" ||
			mvm_die "mk-testhost-initramfs: cannot build $anchor_src"
		mv "$anchor.$$.tmp" "$anchor"
	fi
	cp "$anchor" "$stage/testhost/kvm-anchor"
fi

# The command and environment, single-quoted for a POSIX shell.
q() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }
{
	echo "export MVM_IN_TESTHOST=1"
	for e in "${envs[@]}"; do echo "export $(q "$e")"; done
	printf 'cd %s || exit 125\n' "$(q "$cwd")"
	printf 'exec'
	for a in "$@"; do printf ' %s' "$(q "$a")"; done
	echo
} >"$stage/testhost/cmd"
echo "$interactive" >"$stage/testhost/interactive"

cat >"$stage/init" <<'EOF'
#!/bin/sh
# /init of mvm's test host VM (written by scripts/mk-testhost-initramfs.sh).
# Serial ports: ttyS0 the command's terminal, ttyS1 the status line, ttyS2 the kernel's console
# (kept apart so kernel messages never mix with the command's output).
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
for n in 0 1 2; do [ -e /dev/ttyS$n ] || mknod /dev/ttyS$n c 4 $((64 + n)); done
exec </dev/ttyS0 >/dev/ttyS0 2>&1
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
hostname mvm-testhost
interactive=$(cat /testhost/interactive)

report() {
	[ "$interactive" = 1 ] || echo "TESTHOST-EXIT=$1"
	echo "TESTHOST-EXIT=$1" >/dev/ttyS1
	sync
	poweroff -f
	sleep 10
}

while read -r m; do
	if ! insmod "/testhost/modules/$m.ko"; then
		echo "TESTHOST-ERROR: insmod $m failed"
		dmesg | tail -n 20
		report 120
	fi
done </testhost/modules/load.order
[ -e /dev/kvm ] || mknod /dev/kvm c 10 232
# Loopback for user-networking tests (slirp reaches host services on 127.0.0.1); tun for TAP tests.
ip link set lo up
mkdir -p /dev/net && { [ -e /dev/net/tun ] || mknod /dev/net/tun c 10 200; }
if ! (exec 3<>/dev/kvm) 2>/dev/null; then
	echo "TESTHOST-ERROR: /dev/kvm unusable"
	dmesg | tail -n 20
	report 121
fi

# One idle vCPU for the VM's whole life: test VMs then never make KVM live-patch this kernel.
if [ -x /testhost/kvm-anchor ]; then
	/testhost/kvm-anchor </dev/null >/dev/ttyS2 2>&1 &
fi

if [ "$interactive" = 1 ]; then
	stty sane 2>/dev/null
	setsid -c sh /testhost/cmd
else
	# A line on the kernel's port every 10 s: tests/testhost/run.sh --heartbeat-timeout
	# tells a test host that hung (no line) from a command that is quiet for a while.
	(while sleep 10; do echo "TESTHOST-HEARTBEAT $(cut -d' ' -f1 /proc/uptime)" >/dev/ttyS2; done) \
		</dev/null >/dev/null 2>&1 &
	sh /testhost/cmd </dev/null
fi
report $?
EOF
chmod 755 "$stage/init"

mkdir -p "$(dirname "$out")"
# Uncompressed: under emulation, unpacking is cheaper than decompressing.
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
