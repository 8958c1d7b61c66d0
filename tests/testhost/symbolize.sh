#!/usr/bin/env bash
# tests/testhost/symbolize.sh - name the test host kernel's functions at the given addresses.
#
# Usage: tests/testhost/symbolize.sh ADDRESS...   (hex, as QEMU prints RIP: ffffffff81234567)
# tests/testhost/run.sh boots Debian's kernel with nokaslr, so its addresses are the same in every
# test host; when one goes silent, run.sh prints its CPUs' RIPs. Debian ships no System.map (it is
# in the -dbg package), so this boots a fresh test host and looks the addresses up in its
# /proc/kallsyms: the symbol with the highest address at or below each one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || { echo "usage: $0 ADDRESS..." >&2; exit 2; }
for a in "$@"; do
	case "$a" in *[!0-9a-fA-F]*|'') echo "symbolize: $a is not a hex address" >&2; exit 2 ;; esac
done
want=$(printf '%s ' "$@" | tr 'A-F' 'a-f')
# Equal-length lowercase hex strings compare like the numbers they spell.
exec "$here/run.sh" --timeout 300 -- sh -c "for r in $want; do
	awk -v r=\$r 'length(\$1) == length(r) && \$1 <= r && \$1 > b { b = \$1; s = \$3 } END { print r \" is in \" s \" (at \" b \")\" }' /proc/kallsyms
done"
