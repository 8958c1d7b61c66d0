#!/usr/bin/env bash
# scripts/mk-guest-initramfs.sh - build the reference Linux guest's initramfs (busybox + /init).
#
# Usage: scripts/mk-guest-initramfs.sh [-o OUT] [--module NAME]...
# Builds from the Debian kernel and busybox that scripts/fetch-debian.sh unpacked (run it first)
# and prints OUT's path (default .cache/guest/initramfs.cpio.gz). The guest's /init:
#   mounts proc, sys, dev; loads its modules (pvpanic-mmio so a panic reaches the VMM, and the
#   virtio-mmio drivers, virtio_balloon and vsock's included), passing each its NAME.param=value words from the kernel command line;
#   prints MVM-GUEST-READY, MVM-GUEST-CPUS=<online cpus>, MVM-GUEST-MEMTOTAL-KB=<MemTotal>,
#   MVM-GUEST-PVPANIC=<bound|unbound>; then acts on the kernel parameter mvmtest=:
#     poweroff  poweroff -f          reboot  reboot -f
#     panic     sysrq crash (echo c > /proc/sysrq-trigger)
#     echo      prints MVM-GUEST-ECHO-READY, then runs each line read from the console
#     shell     (default) an interactive shell on the console; leaving it powers off
#     hvc       an interactive shell on /dev/hvc0 (virtio-console) instead of the serial console
#     count     MVM-COUNT=i T=<epoch> every 0.2 s, also into block i of /dev/vda (snapshot tests)
#     tick      MVM-TICK=i every 10 ms (bench/snapshot.sh: the restored guest runs again)
#     spew      MVM-SPEW-i as fast as the console takes it, i = 1, 2, ... (serial back-pressure)
#     kallsyms  the kernel's code symbols (/proc/kallsyms, types t/T) onto /dev/vda, padded with
#               NULs, then MVM-KALLSYMS=<lines> and poweroff (names for mvm run --profile)
#   mvmmemdirty=MIB,RATE (with tick) runs /usr/bin/memdirty MIB RATE when an extra archive
#     holds it (bench/migrate.sh): memory dirtied at a fixed rate
#   mvmdirty=MiB (with count) keeps rewriting a tmpfs file of that size, printing the md5 of
#     each round's content as MVM-DIRTY=n (migration tests)
#   mvmtcp=PORT (with count and a network device) after each lease also sends MVM-TCP-i to
#     10.0.2.2:PORT (slirp's host side) and prints MVM-TCP-OK=i when the connection worked
#   mvmroot=DEV (with any mode) mounts DEV (ext4) and switch_roots into its /sbin/init instead.
#   udhcpc finds /etc/udhcpc/default.script (Debian busybox's path), which configures the interface it leased.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/kmod.sh"

out=$MVM_CACHE/guest/initramfs.cpio.gz
modules=(pvpanic-mmio virtio_mmio virtio_blk virtio_net virtio_console virtio-rng virtio_balloon
	vmw_vsock_virtio_transport)
while [ $# -gt 0 ]; do
	case "$1" in
	-o) out=$2; shift 2 ;;
	--module) modules+=("$2"); shift 2 ;;
	*) mvm_die "usage: $0 [-o OUT] [--module NAME]..." ;;
	esac
done

envfile=$MVM_DEBIAN/env.sh
[ -f "$envfile" ] || mvm_die "no $envfile: run scripts/fetch-debian.sh first"
# shellcheck disable=SC1090
. "$envfile"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,etc,lib/modules,newroot} \
	"$stage/etc/udhcpc"
cat >"$stage/etc/udhcpc/default.script" <<'SCRIPT'
#!/bin/sh
# udhcpc calls this with the lease in the environment: configure $interface with it.
case "$1" in
deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
	: >/etc/resolv.conf
	for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done ;;
esac
exit 0
SCRIPT
chmod 755 "$stage/etc/udhcpc/default.script"
cp "$MVM_BUSYBOX" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
# The kernel opens /dev/console for init before anything is mounted.
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || :

order=$stage/lib/modules/load.order
: >"$order"
while IFS= read -r ko; do
	name=${ko##*/}; name=${name%.zst}; name=${name%.xz}; name=${name%.ko}
	case "$ko" in
	*.xz) xz -dc "$ko" >"$stage/lib/modules/$name.ko" ;;
	*.zst) zstd -qdc "$ko" >"$stage/lib/modules/$name.ko" ;;
	*) cp "$ko" "$stage/lib/modules/$name.ko" ;;
	esac
	echo "$name" >>"$order"
done < <(mvm_kmod_closure "$MVM_MODDIR" "${modules[@]}")

cat >"$stage/init" <<'EOF'
#!/bin/sh
# /init of mvm's reference Linux guest (written by scripts/mk-guest-initramfs.sh).
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=${TERM:-linux}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
hostname mvm-guest

cmdline=$(cat /proc/cmdline)
# NAME.param=value words of the command line belong to module NAME; insmod does not read them.
modparams() {
	for w in $cmdline; do
		case "$w" in "$1".*=*) echo "${w#"$1".}" ;; esac
	done
}
while read -r m; do
	norm=$(echo "$m" | tr - _)
	# shellcheck disable=SC2046
	insmod "/lib/modules/$m.ko" $(modparams "$norm") 2>/dev/null ||
		echo "MVM-GUEST-WARN: could not load module $m"
done </lib/modules/load.order

mode=shell
root=
dirty=
memdirty=
tcp=
for w in $cmdline; do
	case "$w" in
	mvmtest=*) mode=${w#mvmtest=} ;;
	mvmroot=*) root=${w#mvmroot=} ;;
	mvmdirty=*) dirty=${w#mvmdirty=} ;;
	mvmmemdirty=*) memdirty=${w#mvmmemdirty=} ;;
	mvmtcp=*) tcp=${w#mvmtcp=} ;;
	esac
done
if [ -n "$root" ]; then
	if mount -t ext4 "$root" /newroot; then
		echo "MVM-GUEST-ROOT-MOUNTED=$root"
		umount /dev/pts /proc /sys 2>/dev/null
		exec switch_root /newroot /sbin/init
	fi
	echo "MVM-GUEST-ERROR: cannot mount $root"
fi

ncpu=0
online=$(cat /sys/devices/system/cpu/online 2>/dev/null)
if [ -n "$online" ]; then
	for r in $(echo "$online" | tr , ' '); do
		case "$r" in
		*-*) ncpu=$((ncpu + ${r#*-} - ${r%-*} + 1)) ;;
		*) ncpu=$((ncpu + 1)) ;;
		esac
	done
else
	ncpu=$(nproc)
fi
memkb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
pvpanic=unbound
for d in /sys/bus/platform/drivers/pvpanic-mmio/*; do
	[ -L "$d" ] && case "${d##*/}" in module) ;; *) pvpanic=bound ;; esac
done

echo "MVM-GUEST-READY"
echo "MVM-GUEST-CPUS=$ncpu"
echo "MVM-GUEST-MEMTOTAL-KB=$memkb"
echo "MVM-GUEST-PVPANIC=$pvpanic"
echo "MVM-GUEST-MODE=$mode"

case "$mode" in
poweroff)
	poweroff -f ;;
reboot)
	reboot -f ;;
panic)
	echo 1 >/proc/sys/kernel/sysrq
	echo c >/proc/sysrq-trigger ;;
echo)
	# Ctrl-Alt-Del (the API's SendCtrlAltDel): soft mode makes the kernel send SIGINT to
	# init (this shell) instead of rebooting at once.
	echo 0 >/proc/sys/kernel/ctrl-alt-del 2>/dev/null
	trap 'echo MVM-GUEST-CAD; poweroff -f' INT
	echo "MVM-GUEST-ECHO-READY"
	while IFS= read -r line; do
		eval "$line"
	done
	poweroff -f ;;
count)
	# Snapshot tests: a count on the console every 0.2 s with the guest's clock, each also
	# written (synced) to its own 512-byte block of /dev/vda when there is a disk, while a
	# background writer keeps disk I/O in flight past the first MiB (so a snapshot catches
	# requests in flight). With a network device, every 10th count asks slirp's DHCP server
	# for a lease (MVM-NET-OK=i): the device and its backend work at that count.
	# Ctrl-Alt-Del (SIGINT to init) powers off.
	echo 0 >/proc/sys/kernel/ctrl-alt-del 2>/dev/null
	trap 'echo MVM-GUEST-CAD; sync; poweroff -f' INT
	if [ -b /dev/vda ]; then
		( while :; do dd if=/dev/zero of=/dev/vda bs=64k seek=16 count=32 conv=notrunc,fsync 2>/dev/null; done ) &
	fi
	# mvmdirty=MiB (migration tests): a file of that size in tmpfs written once now, and
	# another rewritten in a loop (each page dirtied again, as fast as the guest can, with
	# content that names the round: yes "MVM-DIRTY-PAGE-n");
	# after each rewrite, MVM-DIRTY=n with the md5 of both: a page a migration lost or
	# sent stale shows as a wrong sum.
	if [ -n "$dirty" ]; then
		mkdir -p /run/dirty && mount -t tmpfs -o size=$((dirty * 2 + 8))m tmpfs /run/dirty
		yes MVM-FIXED-PAGE | head -c $((dirty * 1048576)) >/run/dirty/fixed
		( n=0
		while :; do
			n=$((n + 1))
			yes "MVM-DIRTY-PAGE-$n" | head -c $((dirty * 1048576)) | dd of=/run/dirty/moving bs=1M conv=notrunc 2>/dev/null
			echo "MVM-DIRTY=$n $(md5sum </run/dirty/fixed | cut -c1-32) $(md5sum </run/dirty/moving | cut -c1-32)"
		done ) &
	fi
	net=
	[ -e /sys/class/net/eth0 ] && ip link set eth0 up && net=eth0
	lease_script=/bin/true
	[ -n "$tcp" ] && lease_script=/etc/udhcpc/default.script
	echo "MVM-CLOCKSOURCE=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
	i=0
	while :; do
		i=$((i + 1))
		echo "MVM-COUNT=$i T=$(date +%s)"
		# With mvmdirty, every 25th count: each user process's state and kernel wait
		# (MVM-DIRTY-PS=i pid:comm:state:wchan ...), so a rewrite loop that stops printing
		# shows where it stands.
		if [ -n "$dirty" ] && [ $((i % 25)) = 0 ]; then
			pl=
			for d in /proc/[0-9]*; do
				read -r _ c st pp _ <"$d/stat" 2>/dev/null || continue
				# not kthreadd's children (kernel threads)
				[ "$pp" = 2 ] || [ "${d#/proc/}" = 2 ] && continue
				pl="$pl ${d#/proc/}:$c:$st:$(cat "$d/wchan" 2>/dev/null)"
			done
			echo "MVM-DIRTY-PS=$i$pl"
		fi
		[ -b /dev/vda ] && printf 'MVM-COUNT=%d\n' "$i" |
			dd of=/dev/vda bs=512 seek="$i" conv=notrunc,fsync 2>/dev/null
		# With mvmtcp the lease configures the interface (the default script), so the
		# connection has an address and a route; without, it only proves DHCP answers.
		if [ -n "$net" ] && [ $((i % 10)) = 0 ] &&
			udhcpc -n -q -t 3 -T 1 -i "$net" -s "$lease_script" >/dev/null 2>&1; then
			echo "MVM-NET-OK=$i"
			[ -n "$tcp" ] && echo "MVM-TCP-$i" | nc -w 3 10.0.2.2 "$tcp" >/dev/null 2>&1 &&
				echo "MVM-TCP-OK=$i"
		fi
		usleep 200000
	done ;;
tick)
	# Restore benchmark (bench/snapshot.sh): MVM-TICK=i on the console every 10 ms, so a
	# restored guest shows it runs again within about 10 ms. Ctrl-Alt-Del powers off.
	echo 0 >/proc/sys/kernel/ctrl-alt-del 2>/dev/null
	trap 'echo MVM-GUEST-CAD; poweroff -f' INT
	# mvmmemdirty=MIB,RATE (bench/migrate.sh, whose extra archive holds /usr/bin/memdirty,
	# bench/guest/memdirty.c): MIB MiB dirtied at RATE MiB/s while it ticks.
	if [ -n "$memdirty" ]; then
		if [ -x /usr/bin/memdirty ]; then
			/usr/bin/memdirty "${memdirty%,*}" "${memdirty#*,}" &
		else
			echo "MVM-GUEST-ERROR: mvmmemdirty given but no /usr/bin/memdirty"
		fi
	fi
	i=0
	while :; do
		i=$((i + 1))
		echo "MVM-TICK=$i"
		usleep 10000
	done ;;
spew)
	# Serial back-pressure (tests/linux/api-cases.sh api-serial-stall): numbered lines in a
	# tight loop; a console nobody reads makes the tty, not the vCPU, wait.
	i=0
	while :; do
		i=$((i + 1))
		echo "MVM-SPEW-$i"
	done ;;
kallsyms)
	# A disk, not the console: 60,000 lines over a serial port would take minutes in a test host.
	grep ' [tT] ' /proc/kallsyms >/tmp/kallsyms
	dd if=/tmp/kallsyms of=/dev/vda bs=1M conv=fsync 2>/dev/null
	echo "MVM-KALLSYMS=$(wc -l </tmp/kallsyms)"
	poweroff -f ;;
hvc)
	if [ -c /dev/hvc0 ]; then
		echo "MVM-GUEST-HVC-SHELL"
		setsid sh -c 'exec sh -l </dev/hvc0 >/dev/hvc0 2>&1'
	else
		echo "MVM-GUEST-ERROR: no /dev/hvc0"
	fi
	poweroff -f ;;
shell|*)
	[ "$mode" = shell ] || echo "MVM-GUEST-WARN: unknown mvmtest=$mode, starting a shell"
	echo "mvm reference guest: busybox shell; 'exit' powers the VM off."
	setsid cttyhack sh -l
	poweroff -f ;;
esac
# Only reached if the action above failed; sleeping keeps init alive so the failure is visible.
echo "MVM-GUEST-ERROR: mvmtest=$mode did not stop the VM"
while :; do sleep 3600; done
EOF
chmod 755 "$stage/init"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9n >"$out.$$.tmp"
mv "$out.$$.tmp" "$out"
echo "$out"
