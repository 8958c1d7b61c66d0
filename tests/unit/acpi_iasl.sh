#!/bin/sh
# acpi_iasl.sh - by hand, not in CI: disassemble mvm's ACPI tables with iasl
# (Debian: acpica-tools) and fail if any table does not decode cleanly.
set -eu
cd "$(dirname "$0")/../.."
command -v iasl >/dev/null || { echo "iasl not found: apt-get install acpica-tools"; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Built from its own sources, so a half-finished module elsewhere can't stop it.
${CC:-cc} -std=gnu11 -D_GNU_SOURCE -Isrc -o "$dir/test_acpi" tests/unit/test_acpi.c \
	src/boot/acpi/*.c src/core/memory.c src/util/log.c src/util/err.c src/util/ratelimit.c -lcmocka
MVM_ACPI_DUMP_DIR="$dir" "$dir/test_acpi" >/dev/null 2>&1
tables="dsdt facp apic xsdt"
# A multiboot kernel's tables (legacy PM1 blocks, FACS, \_S3) with ACPI_LEGACY=1.
if [ "${ACPI_LEGACY:-0}" = 1 ]; then
	MVM_ACPI_DUMP_LEGACY=1 MVM_ACPI_DUMP_DIR="$dir" "$dir/test_acpi" >/dev/null 2>&1
	tables="$tables facs"
fi
status=0
for t in $tables; do
	if ! iasl -d "$dir/$t.dat" >"$dir/$t.log" 2>&1; then
		echo "iasl -d $t.dat failed:"; cat "$dir/$t.log"; status=1; continue
	fi
	if grep -Eiq '(error|warning)' "$dir/$t.log" "$dir/$t.dsl"; then
		echo "$t: iasl reported problems:"; grep -Ei '(error|warning)' "$dir/$t.log" "$dir/$t.dsl"; status=1
	fi
done
# Recompiling the DSDT checks that the disassembly is valid ASL.
if ! iasl -p "$dir/recompiled" "$dir/dsdt.dsl" >"$dir/recompile.log" 2>&1; then
	cat "$dir/recompile.log"; status=1
fi
if [ "${VERBOSE:-0}" = 1 ]; then cat "$dir/dsdt.dsl" "$dir/facp.dsl" "$dir/apic.dsl"; fi
[ $status = 0 ] && echo "iasl: all tables decode cleanly"
exit $status
