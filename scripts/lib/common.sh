# scripts/lib/common.sh - shared paths and helpers for mvm's shell scripts (source it; bash only).
# shellcheck shell=bash disable=SC2034
#
# Contract: defines MVM_ROOT (the repository), MVM_CACHE (.cache/, git-ignored), MVM_DEBIAN
# (.cache/debian/, where fetch-debian.sh extracts Debian packages) and small helpers that print
# to stderr. Sourcing has no side effect beyond setting these.

MVM_ROOT=${MVM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MVM_CACHE=${MVM_CACHE:-$MVM_ROOT/.cache}
MVM_DEBIAN=${MVM_DEBIAN:-$MVM_CACHE/debian}

mvm_say() { printf '%s\n' "$*" >&2; }
mvm_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Seconds on a monotonic clock (since boot, 10 ms steps), for the timings the scripts report;
# /proc/uptime also works in the test host, whose busybox date has no %N.
mvm_now() { local up _; read -r up _ </proc/uptime; printf '%s\n' "$up"; }
mvm_elapsed() { awk -v a="$1" -v b="$(mvm_now)" 'BEGIN { printf "%.1f", b - a }'; }

# Run as root or through sudo when it is there; the scripts install packages.
mvm_sudo() {
	if [ "$(id -u)" -eq 0 ]; then "$@"
	elif command -v sudo >/dev/null 2>&1; then sudo "$@"
	else mvm_die "need root to run: $*"
	fi
}
