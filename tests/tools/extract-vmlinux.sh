#!/bin/sh
# extract-vmlinux.sh - pull the ELF vmlinux out of a bzImage, for PVH boot tests.
#
# Usage: extract-vmlinux.sh BZIMAGE OUTPUT
# Uses the setup header's payload_offset/payload_length (protocol >= 2.08)
# instead of scanning for compression magic, so it cannot pick up a false
# match. The payload's last 4 bytes are the decompressed size, which some
# decompressors reject as trailing garbage, so they are dropped.
set -eu

die() { echo "extract-vmlinux: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 BZIMAGE OUTPUT"
in=$1 out=$2
[ -r "$in" ] || die "$in: cannot read"

# Little-endian unsigned integer of $2 bytes at offset $1.
le() { od -An -tu"$2" -j "$1" -N "$2" "$in" | tr -d ' '; }

[ "$(dd if="$in" bs=1 skip=514 count=4 2>/dev/null)" = HdrS ] || die "$in: no HdrS magic at 0x202"
version=$(le 518 2)
[ "$version" -ge 520 ] || die "$in: boot protocol $((version >> 8)).$((version & 255)) has no payload_offset (need >= 2.08)"
setup_sects=$(le 497 1)
[ "$setup_sects" -ne 0 ] || setup_sects=4
payload_off=$(( (setup_sects + 1) * 512 + $(le 584 4) ))
payload_len=$(le 588 4)
[ "$payload_len" -gt 4 ] || die "$in: payload_length $payload_len is too small"

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# tail+head: dd with bs=1 would take minutes on a 14 MB kernel.
tail -c +"$((payload_off + 1))" "$in" | head -c "$((payload_len - 4))" > "$tmp"

magic=$(od -An -tx1 -N 4 "$tmp" | tr -d ' ')
case $magic in
1f8b*)     dec="gzip -dc" ;;
425a68*)   dec="bzip2 -dc" ;;
fd377a58)  dec="xz -dc" ;;
5d000000*) dec="xz -dc --format=lzma" ;;
894c5a4f)  dec="lzop -dc" ;;
02214c18)  dec="lz4 -dc" ;;
28b52ffd)  dec="zstd -dc" ;;
*) die "$in: unknown payload compression (magic $magic)" ;;
esac
command -v "${dec%% *}" >/dev/null || die "${dec%% *} not installed (needed for $in)"
# Legacy LZ4 and others may still complain about the stripped size; keep the
# output if it is an ELF file.
$dec < "$tmp" > "$out" 2>/dev/null || true
[ "$(od -An -c -N 4 "$out" | tr -d ' ')" = '177ELF' ] || die "$in: decompressed payload is not an ELF file"
