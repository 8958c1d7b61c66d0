#!/usr/bin/env bash
# tests/layering/check.sh - the include graph keeps mvm's layers: no folder includes a higher
# one, and no two modules (a .c, its .h and its _priv.h) include each other, directly or
# round a cycle.
#
# Usage: tests/layering/check.sh [--self-test] [SRC_DIR]
# Layers, lowest first (a file may include its own layer and any lower one):
#   0 util, mvm (guest/include/mvm: the ABI shared with the guest SDK)
#   1 core snap                 KVM, memory, buses, IRQs, vCPUs, the device interface; snapshot files
#   2 net boot board obs gdb    backends, loaders, legacy devices, observability, gdb protocol
#   3 virtio hcall              devices on the buses, the tiny guests' hypercalls
#   4 platform                  Linux board or tiny guest
#   5 vmm                       the builder: the only code that knows every module
#   6 api check jail            the API server, `mvm check`, `mvm jail`
#   7 cli                       flags and config files
#   8 main                      src/main.c
# Prints `ok`/`not ok` lines; with --self-test, also checks that an upward include and a
# module cycle planted in a copy of the tree are caught. Ends with `N passed, N failed`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$here/../../src
self_test=0
for a in "$@"; do
	case "$a" in
	--self-test) self_test=1 ;;
	*) src=$a ;;
	esac
done

passed=0 failed=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
notok() { echo "not ok $1: $2"; failed=$((failed + 1)); }

# The violations in tree $1, one per line (empty: the layers hold).
violations() {
	local root=$1
	(cd "$root" && grep -rHn --include='*.c' --include='*.h' '^#include "' .) |
	awk -F: '
	BEGIN {
		split("util:0 mvm:0 core:1 snap:1 net:2 boot:2 board:2 obs:2 gdb:2 virtio:3 hcall:3 platform:4 vmm:5 api:6 check:6 jail:6 cli:7 main:8", kv, " ")
		for (i in kv) { split(kv[i], p, ":"); level[p[1]] = p[2] }
	}
	function folder(path,   parts, n) {
		sub(/^\.\//, "", path)
		n = split(path, parts, "/")
		return n == 1 ? "main" : parts[1]
	}
	function module(path) {
		sub(/^\.\//, "", path)
		sub(/\.[ch]$/, "", path)
		sub(/_priv$/, "", path)                     # a private header is part of its module
		return path
	}
	{
		file = $1
		inc = $3
		sub(/^#include "/, "", inc); sub(/".*$/, "", inc)
		if (inc !~ /\//) next                       # a local header of the same folder
		from = folder(file); to = folder(inc)
		if (!(from in level)) { print file ": folder " from " has no layer (add it to tests/layering/check.sh)"; next }
		if (!(to in level)) { print file ": includes " inc ", whose folder " to " has no layer"; next }
		if (level[to] > level[from])
			print file ":" $2 ": " from " (layer " level[from] ") includes " inc " (" to ", layer " level[to] ")"
		a = module(file); b = module(inc)
		if (a != b && !((a, b) in edge)) { edge[a, b] = 1; out[a] = out[a] " " b; nodes[a] = 1; nodes[b] = 1 }
	}
	# Depth-first search for a module cycle; each one found is printed once.
	function dfs(n,   k, m, list, i, cyc) {
		color[n] = 1; stack[++sp] = n
		k = split(out[n], list, " ")
		for (i = 1; i <= k; i++) {
			m = list[i]
			if (color[m] == 1) {
				cyc = m
				for (j = sp; j >= 1 && stack[j] != m; j--) cyc = stack[j] " -> " cyc
				print "include cycle: " m " -> " cyc
			} else if (!color[m])
				dfs(m)
		}
		sp--; color[n] = 2
	}
	END { for (n in nodes) if (!color[n]) dfs(n) }'
}

v=$(violations "$src")
if [ -z "$v" ]; then
	ok layering
else
	notok layering "$(echo "$v" | wc -l) violation(s)"
	echo "$v" | sed 's/^/#   /'
fi

if [ $self_test -eq 1 ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cp -r "$src" "$tmp/up" && cp -r "$src" "$tmp/cycle"
	# core/bus.c including the builder: a lower layer reaching up.
	sed -i '1a #include "vmm/vm.h"' "$tmp/up/core/bus.c"
	if violations "$tmp/up" | grep -q 'core/bus.c:.*includes vmm/vm.h'; then
		ok layering-catches-upward-include
	else
		notok layering-catches-upward-include "an include of vmm/vm.h planted in core/bus.c was not reported"
	fi
	# core/memory.c including core/vcpu.h while vcpu includes memory: a cycle inside one layer.
	sed -i '1a #include "core/vcpu.h"' "$tmp/cycle/core/memory.c"
	if violations "$tmp/cycle" | grep -q 'include cycle:.*core/memory.*core/vcpu\|include cycle:.*core/vcpu.*core/memory'; then
		ok layering-catches-cycle
	else
		notok layering-catches-cycle "a core/memory <-> core/vcpu cycle planted was not reported"
	fi
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
