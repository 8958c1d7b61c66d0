#!/usr/bin/env bash
# scripts/profile-report.sh - turn a `mvm run --profile` file into a table of the guest's functions.
#
# Usage: scripts/profile-report.sh [--top N] [--every MS] [--from MS] [--to MS] [--list] PROFILE [SYMBOLS]...
# PROFILE: the file `mvm run --profile PATH` wrote. SYMBOLS: where the names come from, each an
# ELF file with a symbol table (read with nm: a tiny guest, a vmlinux with symbols) or a text
# list in the format of nm and /proc/kallsyms ("ADDRESS TYPE NAME [MODULE]"; only code symbols,
# types t/T/w/W, count). For Linux: boot once with `nokaslr` and keep the guest's
# /proc/kallsyms, then profile a boot with the same kernel and `nokaslr` (under KASLR the
# addresses move from boot to boot).
# Each sample's RIP goes to the code symbol at or below it; samples at ring 3 that no symbol
# covers count as [user], others as [unknown]. Prints the N (default 25) functions with the most
# samples, their share, and with --every MS the top three of each MS-long window, which shows
# what a boot did when. --from/--to keep the samples between those times (ms since the vCPUs
# started). --list prints instead one line "SAMPLES FUNCTION" per function, unsorted, for
# scripts. Needs only awk and sort (busybox's do).
set -euo pipefail
top=25 every=0 from=0 to=-1 list=0 files=()
usage() { echo "usage: $0 [--top N] [--every MS] [--from MS] [--to MS] [--list] PROFILE [SYMBOLS]..." >&2; exit 2; }
num() { case "$2" in ''|*[!0-9]*) echo "$0: $1 '$2': expected a whole number" >&2; exit 2 ;; esac; }
while [ $# -gt 0 ]; do
	case "$1" in
	--top) [ $# -ge 2 ] || usage; num --top "$2"; top=$2; shift 2 ;;
	--every) [ $# -ge 2 ] || usage; num --every "$2"; every=$2; shift 2 ;;
	--from) [ $# -ge 2 ] || usage; num --from "$2"; from=$2; shift 2 ;;
	--to) [ $# -ge 2 ] || usage; num --to "$2"; to=$2; shift 2 ;;
	--list) list=1; shift ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) usage ;;
	*) files+=("$1"); shift ;;
	esac
done
[ ${#files[@]} -ge 1 ] || usage
prof=${files[0]}
[ -r "$prof" ] || { echo "$0: $prof: cannot read the profile" >&2; exit 2; }
head -n1 "$prof" | grep -q '^# mvm profile v1 ' ||
	{ echo "$0: $prof: not a profile of mvm run --profile (its first line is not '# mvm profile v1 ...')" >&2; exit 2; }

syms=$(mktemp)
trap 'rm -f "$syms"' EXIT
# Every source as "ADDRESS16 NAME" (lower-case hex, 16 digits, so that text order is address
# order: awk's numbers cannot hold a 64-bit address exactly), sorted.
for f in "${files[@]:1}"; do
	[ -r "$f" ] || { echo "$0: $f: cannot read the symbols" >&2; exit 2; }
	if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then
		command -v nm >/dev/null || { echo "$0: $f is an ELF file and nm (binutils) is not installed" >&2; exit 2; }
		nm "$f"
	else
		cat "$f"
	fi
done | awk '
	NF >= 3 && $2 ~ /^[tTwW]$/ && $1 ~ /^[0-9a-fA-F]+$/ && length($1) <= 16 {
		a = tolower($1); while (length(a) < 16) a = "0" a
		name = $3; if (NF >= 4) name = name " " $4
		print a, name
	}' | sort -u >"$syms"

awk -v top="$top" -v every="$every" -v from="$from" -v to="$to" -v list="$list" -v symfile="$syms" '
	BEGIN {
		while ((getline line < symfile) > 0) {
			addr[++ns] = substr(line, 1, 16); name[ns] = substr(line, 18)
		}
	}
	/^# mvm profile v1/ { header = $0; next }
	/^# end / { closing = $0; next }
	/^#/ || NF < 4 { next }
	{
		t = $1 / 1000
		if (t < from || (to >= 0 && t > to)) next
		r = tolower($3); sub(/^0x/, "", r); while (length(r) < 16) r = "0" r
		# The last symbol at or below r (binary search over the sorted addresses).
		lo = 1; hi = ns; hit = 0
		while (lo <= hi) {
			mid = int((lo + hi) / 2)
			if (addr[mid] <= r) { hit = mid; lo = mid + 1 } else hi = mid - 1
		}
		f = hit ? name[hit] : ($4 == 3 ? "[user]" : "[unknown]")
		if ($4 == 3 && hit && substr(r, 1, 1) != substr(addr[hit], 1, 1)) f = "[user]"
		n++; count[f]++
		if (t > last) last = t
		if (n == 1 || t < first) first = t
		if (every > 0) { w = int(t / every); wc[w, f]++; wn[w]++; if (w > maxw) maxw = w }
	}
	END {
		if (list) { for (f in count) print count[f], f; exit }
		print header
		if (closing != "") print closing
		if (n == 0) { print "no samples"; exit }
		printf "%d samples from %.0f ms to %.0f ms after the vCPUs started\n\n", n, first, last
		printf "%8s %7s  %s\n", "samples", "share", "function"
		for (k = 0; k < top; k++) {
			best = ""; bc = 0
			for (f in count) if (!(f in shown) && count[f] > bc) { best = f; bc = count[f] }
			if (bc == 0) break
			shown[best] = 1
			printf "%8d %6.1f%%  %s\n", bc, 100 * bc / n, best
		}
		if (every > 0) {
			printf "\nper %d ms: samples, then the three functions with the most\n", every
			for (w = 0; w <= maxw; w++) {
				if (!wn[w]) continue
				line = ""
				delete used
				for (k = 0; k < 3; k++) {
					best = ""; bc = 0
					for (f in count) if (!(f in used) && wc[w, f] > bc) { best = f; bc = wc[w, f] }
					if (bc == 0) break
					used[best] = 1
					line = line sprintf("  %s %d%%", best, int(100 * bc / wn[w] + 0.5))
				}
				printf "%6d-%-6d %5d%s\n", w * every, (w + 1) * every, wn[w], line
			}
		}
	}' "$prof"
