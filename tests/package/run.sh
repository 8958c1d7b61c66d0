#!/usr/bin/env bash
# tests/package/run.sh - mvm installs like a Debian tool: `make install` into a DESTDIR (the file
# list, the man pages render, the bash completion loads and knows every flag, the guest SDK
# builds a guest outside the tree through pkg-config only), and `dpkg-buildpackage -us -uc -b`
# of a clean copy of the tree gives .debs that install (dpkg into a throwaway root) and run.
#
# Usage: tests/package/run.sh [--build DIR] [--no-deb] [--keep]
#   --build DIR  the build directory `make install` uses (default build/, as scripts/test.sh)
#   --no-deb     skip the .deb part (needs dpkg-buildpackage and debhelper)
#   --keep       keep the temporary directory and say where it is
# Prints `ok NAME` / `not ok NAME: why` lines and ends with `N passed, N failed`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib/common.sh"
cd "$MVM_ROOT" || exit 1

build=build deb=1 keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build needs a directory}; shift ;;
	--no-deb) deb=0 ;;
	--keep) keep=1 ;;
	*) echo "usage: tests/package/run.sh [--build DIR] [--no-deb] [--keep]" >&2; exit 2 ;;
	esac
	shift
done

passed=0 failed=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
notok() { echo "not ok $1: $2"; failed=$((failed + 1)); }
# check NAME WHY COMMAND...: ok when COMMAND succeeds.
check() { local n=$1 why=$2; shift 2; if "$@"; then ok "$n"; else notok "$n" "$why"; fi; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mvm-package.XXXXXX")
if [ $keep -eq 1 ]; then echo "# keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi

version=$(sed -n '1s/^mvm (\([^)]*\)).*/\1/p' debian/changelog)
[ -n "$version" ] || version=unknown
echo "# version in debian/changelog: $version"

# ---- what the sources say: the lists the man pages and the completion must cover ----
# `mvm run`'s long options (src/cli/cli.c's table), `mvm jail`'s (src/jail/args.c), `mvm ctl`'s
# documented ones (src/api/ctl.c; --chunk, --delay-ms, --timeout-ms and --no-shutdown belong to
# the test-only `raw` command), and every key the config file parser accepts.
run_flags=$(sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", *\(no\|required\)_argument.*/--\1/p' src/cli/cli.c | sort)
jail_flags=$( { awk '/names\[\] = \{/,/NULL \};/' src/jail/args.c | grep -o '"--[a-z-]*"' | tr -d '"'
		grep -o 'strcmp(arg, "--[a-z-]*")' src/jail/args.c | grep -o -- '--[a-z-]*'; } |
		grep -vx -- -- | sort -u)
ctl_flags=$(grep -o 'strcmp(a, "--[a-z-]*")' src/api/ctl.c | grep -o -- '--[a-z-]*' |
	grep -vx -e --chunk -e --delay-ms -e --timeout-ms -e --no-shutdown | sort -u)
commands=$(sed -n 's/.*(commands: \([a-z, -]*\)).*/\1/p' src/main.c | tr -d ',' | tr ' ' '\n' | sort)
config_keys=$(awk '/keys\[\] = \{/,/NULL \};/' src/api/fc_config.c src/api/fc_resources.c \
	src/api/fc_devices.c src/api/fc_balloon.c src/api/fc_vsock.c src/api/fc_json.c |
	grep -o '"[a-z_-]*"' | tr -d '"' | sort -u)
[ "$(echo "$run_flags" | wc -l)" -ge 20 ] && [ -n "$jail_flags" ] && [ -n "$ctl_flags" ] &&
	[ "$(echo "$commands" | wc -l)" -ge 6 ] && [ "$(echo "$config_keys" | wc -l)" -ge 50 ] ||
	notok source-lists "could not read the flag, command or key lists from src/ (parsers moved?)"

# missing_in FILE WORDS: the words FILE (roff: \- is -) does not mention as a whole word
# (--debug inside --debug-exit does not count).
missing_in() {
	local text w
	text=$(sed 's/\\-/-/g; s/\\(dq/"/g' "$1")
	for w in $2; do
		grep -qE -- "(^|[^a-z_-])$w([^a-z_-]|\$)" <<<"$text" || printf '%s ' "$w"
	done
}

# ---- man pages (the sources, before anything is installed) ----
for page in docs/man/mvm.1 docs/man/mvm-config.5; do
	warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
	check "man-groff-clean:${page##*/}" "groff -man -ww warns: $warn" [ -z "$warn" ]
done
th=$(sed -n 's/^\.TH .* "mvm \([^"]*\)".*/\1/p' docs/man/mvm.1 docs/man/mvm-config.5 | sort -u)
check man-version "the pages' .TH say '$(echo $th)', debian/changelog $version" [ "$th" = "$version" ]
m=$(missing_in docs/man/mvm.1 "$run_flags $jail_flags $ctl_flags $(echo "$commands" | grep -vx help)")
check man-names-every-flag "mvm.1 does not mention: $m" [ -z "$m" ]
m=
for s in 'EXIT STATUS' 'mvm check' 'mvm ctl' 'mvm jail' 'mvm run'; do
	grep -q "^\.S[HS] $s\$" docs/man/mvm.1 || m="$m'$s' "
done
check man-exit-status-sections "mvm.1 has no section for: $m" [ -z "$m" ]
m=$(missing_in docs/man/mvm-config.5 "$config_keys")
check man-config-names-every-key "mvm-config.5 does not mention: $m" [ -z "$m" ]

# ---- make install into a DESTDIR ----
root=$tmp/root
if make -s BUILD="$build" install PREFIX=/usr/local DESTDIR="$root" >"$tmp/install.log" 2>&1; then
	ok make-install
else
	notok make-install "make install failed: $(tail -n 5 "$tmp/install.log" | tr '\n' ' ')"
fi
expected='usr/local/bin/mvm
usr/local/include/mvm-guest/mvm/abi.h
usr/local/include/mvm-guest/mvm/virtio_mmio.h
usr/local/include/mvm-guest/mvm_guest.h
usr/local/lib/libmvm-guest.a
usr/local/lib/mvm-guest/link.ld
usr/local/lib/pkgconfig/mvm-guest.pc
usr/local/share/bash-completion/completions/mvm
usr/local/share/man/man1/mvm.1
usr/local/share/man/man5/mvm-config.5'
got=$(cd "$root" 2>/dev/null && find . -type f -o -type l | sed 's|^\./||' | sort)
check install-file-list "installed files differ from the list: $(diff <(echo "$expected") <(echo "$got") | grep '^[<>]' | tr '\n' ' ')" \
	[ "$got" = "$expected" ]
modes=$(cd "$root" 2>/dev/null && find . -type f -printf '%m %p\n' | sort -k2)
bad=$(echo "$modes" | awk '($2 == "./usr/local/bin/mvm" && $1 != 755) || ($2 != "./usr/local/bin/mvm" && $1 != 644)')
check install-modes "wrong modes: $bad" [ -z "$bad" ]

imvm=$root/usr/local/bin/mvm
out=$("$imvm" version 2>&1)
check installed-version "installed mvm version printed '$out', debian/changelog says $version" \
	[ "$out" = "mvm $version" ]

# ---- bash completion ----
comp=$root/usr/local/share/bash-completion/completions/mvm
# complete WORDS...: what the completion offers for the last word (COMP_CWORD), sorted.
complete_words() {
	bash --norc --noprofile -c 'source "$1" || exit 1; shift; COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1)); _mvm; printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$@" | sort
}
out=$(bash --norc --noprofile -c 'source "$1" && complete -p mvm' _ "$comp" 2>&1)
check completion-loads "bash: $out" [ "$out" = "complete -F _mvm mvm" ]
got=$(complete_words mvm '')
check completion-commands "offers [$(echo $got)], main.c knows [$(echo $commands)] and help" \
	[ "$got" = "$(printf '%s\nhelp\n' "$commands" | sort)" ]
got=$(complete_words mvm run --)
check completion-run-flags "offers [$(echo $got)], src/cli/cli.c has [$(echo $run_flags)]" \
	[ "$got" = "$run_flags" ]
got=$(complete_words mvm jail -)
check completion-jail-flags "offers [$(echo $got)], src/jail/args.c has [$(echo $jail_flags) --]" \
	[ "$got" = "$(printf '%s\n--\n' "$jail_flags" | sort)" ]
got=$(complete_words mvm ctl --api-sock /tmp/s snapshot /tmp/d --; complete_words mvm ctl --api-sock s stop --
	complete_words mvm ctl --api-sock s migrate tcp:h:1 --; complete_words mvm ctl --)
m=$(for f in $ctl_flags; do grep -qx -- "$f" <<<"$got" || printf '%s ' "$f"; done)
check completion-ctl-flags "no completion offers: $m" [ -z "$m" ]
got=$(complete_words mvm run --console ''; complete_words mvm run --seccomp ''
	complete_words mvm jail --id x -- mvm ''; complete_words mvm jail --id x -- mvm run --initr)
check completion-values "got [$(echo $got)]" \
	[ "$(echo $got)" = "serial virtio kill log off run --initrd" ]

# ---- the guest SDK, outside the tree: a temporary folder, hello.c, and pkg-config only ----
# pkg-config_in ROOT PREFIX ARGS...: the installed mvm-guest.pc, read as if ROOT were /.
pkg_config_in() {
	local r=$1 p=$2; shift 2
	PKG_CONFIG_PATH=$(dirname "$(find "$r" -name mvm-guest.pc | head -n1)") PKG_CONFIG_LIBDIR='' \
		pkg-config --define-variable=prefix="$r$p" "$@"
}
# sdk_build NAME ROOT PREFIX: build the hello guest in a fresh folder; sets $elf.
sdk_build() {
	local n=$1 r=$2 p=$3 d=$tmp/guest-$1 cflags libs
	mkdir -p "$d" && cp guest/hello/hello.c "$d/" || return 1
	elf=$d/hello.elf
	if ! cflags=$(pkg_config_in "$r" "$p" --cflags mvm-guest) ||
	   ! libs=$(pkg_config_in "$r" "$p" --libs mvm-guest); then
		notok "$n-pkg-config" "pkg-config --cflags --libs mvm-guest failed"; return 1
	fi
	ok "$n-pkg-config"
	check "$n-pkg-config-version" "--modversion is not $version" \
		[ "$(pkg_config_in "$r" "$p" --modversion mvm-guest)" = "$version" ]
	case "$cflags $libs" in
	*"$MVM_ROOT"*) notok "$n-no-tree-paths" "pkg-config names the source tree: $cflags $libs" ;;
	*) ok "$n-no-tree-paths" ;;
	esac
	# shellcheck disable=SC2086
	if (cd "$d" && gcc -std=gnu11 -O2 $cflags -c hello.c && gcc hello.o $libs -o hello.elf) \
		>"$d/log" 2>&1; then
		ok "$n-builds-hello"
	else
		notok "$n-builds-hello" "$(tr '\n' ' ' <"$d/log")"; return 1
	fi
	local hdr entry start
	hdr=$(readelf -h "$elf" 2>/dev/null)
	entry=$(sed -n 's/.*Entry point address: *0x\([0-9a-f]*\).*/\1/p' <<<"$hdr")
	start=$(nm "$elf" | awk '$3 == "_start" { sub(/^0+/, "", $1); print $1 }')
	local good=0
	grep -q 'ELF64' <<<"$hdr" && grep -q 'EXEC' <<<"$hdr" && grep -q 'X86-64' <<<"$hdr" &&
		[ -n "$entry" ] && [ "$entry" = "$start" ] && good=1
	check "$n-guest-is-tiny-elf" "not an x86-64 ELF64 ET_EXEC entered at _start ($entry vs $start)" \
		[ $good -eq 1 ]
}
# The same code as the tree's own hello guest (which the suite boots): every function the SDK
# guest has (the linker takes only the library members it needs) has the tree's size, so the
# codegen flags the .pc gives are the tree's (a dropped -mno-red-zone or -mcmodel shows here).
same_as_tree() {
	local ref=$build/guest/hello/hello.elf diff
	[ -f "$ref" ] || { notok "$1-same-code-as-tree" "$ref was not built"; return; }
	diff=$(LC_ALL=C join <(nm -S "$elf" | awk 'tolower($3) == "t" { print $4, $2 }' | LC_ALL=C sort) \
		<(nm -S "$ref" | awk 'tolower($3) == "t" { print $4, $2 }' | LC_ALL=C sort) -a1 |
		awk 'NF != 3 || $2 != $3')
	[ "$(nm "$elf" | grep -c ' [Tt] ')" -ge 10 ] || diff="$diff (fewer than 10 functions)"
	check "$1-same-code-as-tree" "functions missing or of other sizes than in $ref: $(echo $diff)" \
		[ -z "$diff" ]
}
if sdk_build sdk "$root" /usr/local; then same_as_tree sdk; fi

# ---- make uninstall leaves no file behind ----
make -s BUILD="$build" uninstall PREFIX=/usr/local DESTDIR="$root" >/dev/null 2>&1
left=$(find "$root" -type f | sed "s|^$root/||")
check make-uninstall "left behind: $(echo $left)" [ -z "$left" ]

# ---- the Debian packages, from a clean copy of the tree ----
if [ $deb -eq 1 ]; then
	src=$tmp/src/mvm-$version
	mkdir -p "$src"
	# What git has (tracked and new files, not the ignored build folders or .cache); outside a
	# git checkout, the tree without them.
	if git rev-parse --git-dir >/dev/null 2>&1; then
		git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
			[ -e "$f" ] && printf '%s\0' "$f"; done | tar --null -T - -cf - | tar -xf - -C "$src"
	else
		tar --exclude='./build*' --exclude=./.cache --exclude=./.git -cf - . | tar -xf - -C "$src"
	fi
	t0=$(mvm_now)
	if (cd "$src" && dpkg-buildpackage -us -uc -b) >"$tmp/deb.log" 2>&1; then
		ok deb-build
	else
		notok deb-build "dpkg-buildpackage failed: $(tail -n 8 "$tmp/deb.log" | tr '\n' ' ')"
	fi
	echo "# dpkg-buildpackage took $(mvm_elapsed "$t0") s"
	# The compiler's and the linker's warnings (not dpkg's own notes).
	wre=':[0-9]+(:[0-9]+)?: warning:|ld: warning:'
	w=$(grep -c -E "$wre" "$tmp/deb.log")
	check deb-build-warnings-clean "$w compiler warnings with Debian's build flags: $(grep -m3 -E "$wre" "$tmp/deb.log" | tr '\n' ' ')" \
		[ "$w" -eq 0 ]
	d_mvm=$(ls "$tmp/src/mvm_${version}_"*.deb 2>/dev/null | head -n1)
	d_dev=$(ls "$tmp/src/mvm-guest-dev_${version}_"*.deb 2>/dev/null | head -n1)
	if [ -n "$d_mvm" ] && [ -n "$d_dev" ]; then
		ok deb-files
		c=$(dpkg-deb -c "$d_mvm"; dpkg-deb -c "$d_dev")
		m=$(for f in ./usr/bin/mvm ./usr/share/man/man1/mvm.1.gz ./usr/share/man/man5/mvm-config.5.gz \
			./usr/share/bash-completion/completions/mvm ./usr/include/mvm-guest/mvm_guest.h \
			/libmvm-guest.a /pkgconfig/mvm-guest.pc /mvm-guest/link.ld; do
			grep -qF -- "$f" <<<"$c" || printf '%s ' "$f"; done)
		check deb-contents "missing from the .debs: $m" [ -z "$m" ]

		# Can this system satisfy mvm's Depends (the libraries dh_shlibdeps found)?
		m=$(dpkg-deb -f "$d_mvm" Depends | tr ',' '\n' | while read -r p op v; do
			[ -n "$p" ] || continue
			have=$(dpkg-query -W -f='${Version}' "$p:$(dpkg --print-architecture)" 2>/dev/null ||
				dpkg-query -W -f='${Version}' "$p" 2>/dev/null) || { printf '%s ' "$p"; continue; }
			[ -z "$op" ] || dpkg --compare-versions "$have" "${op#(}" "${v%)}" || printf '%s ' "$p($have)"
		done)
		check deb-depends-satisfiable "not installed or too old: $m" [ -z "$m" ]

		# dpkg -i into a throwaway root: dpkg's own install (file list, no conflicts), then run it.
		droot=$tmp/droot
		mkdir -p "$droot/var/lib/dpkg/info" "$droot/var/lib/dpkg/updates"
		: >"$droot/var/lib/dpkg/status"; : >"$droot/var/lib/dpkg/available"
		dpkg_r() { dpkg --root="$droot" --log=/dev/null --force-not-root --force-depends \
			--force-script-chrootless "$@"; }
		if dpkg_r -i "$d_mvm" "$d_dev" >"$tmp/dpkg.log" 2>&1; then
			ok deb-install
		else
			notok deb-install "dpkg -i failed: $(tail -n 5 "$tmp/dpkg.log" | tr '\n' ' ')"
		fi
		dmvm=$droot/usr/bin/mvm
		out=$("$dmvm" version 2>&1)
		check deb-mvm-version "the packaged mvm version printed '$out'" [ "$out" = "mvm $version" ]
		# mvm check: 0 exactly when no line FAILs, and its verdict line last, on any host.
		out=$("$dmvm" check 2>&1); rc=$?
		echo "# packaged mvm check exited $rc; $(tail -n1 <<<"$out")"
		if grep -q '^FAIL' <<<"$out"; then want=1; else want=0; fi
		check deb-mvm-check-status "exit status $rc with$( [ $want -eq 0 ] && echo out) FAIL lines" \
			[ "$rc" -eq "$want" ]
		check deb-mvm-check-verdict "last line: $(tail -n1 <<<"$out")" \
			grep -qE '^mvm can run: Linux guests: (yes|no); tiny ring-3 guests: (yes|no)$' <<<"$(tail -n1 <<<"$out")"
		# Without a KVM device: a FAIL naming it, and status 1.
		out=$("$dmvm" check --kvm "$tmp/no-kvm" 2>&1); rc=$?
		good=0
		[ "$rc" -eq 1 ] && grep -q "^FAIL .*$tmp/no-kvm does not exist" <<<"$out" && good=1
		check deb-mvm-check-no-kvm "status $rc, output: $(grep FAIL <<<"$out" | head -n2)" \
			[ $good -eq 1 ]
		warn=$(zcat "$droot/usr/share/man/man1/mvm.1.gz" | groff -man -Tutf8 -ww -z 2>&1)
		check deb-man-renders "groff: $warn" [ -z "$warn" ]
		if sdk_build deb-sdk "$droot" /usr; then same_as_tree deb-sdk; fi
		dpkg_r -r mvm mvm-guest-dev >>"$tmp/dpkg.log" 2>&1
		left=$(find "$droot" -type f -not -path "$droot/var/*" | sed "s|^$droot/||")
		check deb-remove "dpkg -r left: $(echo $left)" [ -z "$left" ]
	else
		notok deb-files "no mvm_${version}_*.deb and mvm-guest-dev_${version}_*.deb in $tmp/src"
	fi
fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
