# scripts/lib/kmod.sh - find a kernel module and the modules it depends on, in load order.
# shellcheck shell=bash disable=SC2034
#
# Contract: mvm_kmod_closure MODDIR NAME... prints one .ko path per line, every dependency before
# the module that needs it, each module once. NAME may use '-' or '_'. Reads each module's
# .modinfo section with objcopy (binutils), so it needs neither kmod nor a modules.dep file
# (Debian's kernel package leaves that to depmod at install time). Fails naming a missing module.

# Normalised module name: the kernel treats '-' and '_' alike.
mvm_kmod_norm() { printf '%s\n' "${1//-/_}"; }

# Path of module NAME under MODDIR (plain .ko, or .ko.xz/.ko.zst, which the caller must unpack).
# The first call for a MODDIR indexes it once: a few thousand files, one find and one awk.
mvm_kmod_find() {
	local moddir=$1 want
	want=$(mvm_kmod_norm "$2")
	if [ "${_mvm_kmod_index_dir:-}" != "$moddir" ]; then
		declare -gA _mvm_kmod_index=()
		local name path
		while read -r name path; do
			_mvm_kmod_index[$name]=$path
		done < <(find "$moddir" \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' \) |
			awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko(\.xz|\.zst)?$/, "", n);
			       gsub(/-/, "_", n); print n, $0 }')
		_mvm_kmod_index_dir=$moddir
	fi
	[ -n "${_mvm_kmod_index[$want]:-}" ] || return 1
	printf '%s\n' "${_mvm_kmod_index[$want]}"
}

mvm_kmod_depends() {
	local f=$1 tmp
	tmp=$(mktemp)
	case "$f" in
	*.xz) xz -dc "$f" >"$tmp.ko" ;;
	*.zst) zstd -qdc "$f" >"$tmp.ko" ;;
	*) cp "$f" "$tmp.ko" ;;
	esac
	objcopy -O binary --only-section=.modinfo "$tmp.ko" "$tmp" 2>/dev/null || : >"$tmp"
	tr '\0' '\n' <"$tmp" | sed -n 's/^depends=//p' | tr ',' '\n' | sed '/^$/d'
	rm -f "$tmp" "$tmp.ko"
}

mvm_kmod_closure() {
	local moddir=$1; shift
	local -A seen=()
	local out=()
	_mvm_kmod_visit() {
		local n path d
		n=$(mvm_kmod_norm "$1")
		[ -n "${seen[$n]:-}" ] && return 0
		seen[$n]=1
		path=${_mvm_kmod_index[$n]:-}
		[ -n "$path" ] || { echo "error: kernel module $n not found under $moddir" >&2; return 1; }
		for d in $(mvm_kmod_depends "$path"); do
			_mvm_kmod_visit "$d" || return 1
		done
		out+=("$path")
	}
	mvm_kmod_find "$moddir" "$1" >/dev/null || :	# builds the index in this shell
	local m
	for m in "$@"; do
		_mvm_kmod_visit "$m" || return 1
	done
	printf '%s\n' "${out[@]}"
}
