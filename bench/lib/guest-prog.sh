# bench/lib/guest-prog.sh - static programs for the benchmark guests (source it; bash only).
# shellcheck shell=bash
#
# bench_guest_prog NAME [LIBS...]: build bench/guest/NAME.c static into build/bench/NAME when it
# is missing or older than its source; prints its path. Dies naming libc.a when gcc fails.
bench_guest_prog() {
	local out=$MVM_ROOT/build/bench/$1 src=$MVM_ROOT/bench/guest/$1.c
	shift
	mkdir -p "$(dirname "$out")"
	if [ ! -x "$out" ] || [ "$out" -ot "$src" ]; then
		gcc -O2 -Wall -Wextra -static -o "$out" "$src" "$@" >&2 ||
			mvm_die "bench: cannot build $out (static: needs libc.a, package libc6-dev)"
	fi
	echo "$out"
}

# bench_initrd_with BASE PROG OUT: OUT = the initramfs BASE followed by a second archive holding
# only /usr/bin/<PROG's name> (the kernel unpacks concatenated archives in order, so the shared
# initramfs script stays as it is). OUT may be BASE itself.
bench_initrd_with() {
	local base=$1 prog=$2 out=$3 stage
	stage=$(mktemp -d)
	mkdir -p "$stage/usr/bin" && cp "$prog" "$stage/usr/bin/$(basename "$prog")"
	{ cat "$base"; (cd "$stage" && find usr | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9n); } >"$out.tmp"
	rm -rf "$stage"
	mv "$out.tmp" "$out"
}
