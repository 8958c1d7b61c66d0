# mvm.bash - bash completion for mvm(1): the commands, each command's flags, and the values of
# the flags that take a fixed set or a path. Installed as
# $(PREFIX)/share/bash-completion/completions/mvm; needs bash only (not bash-completion's helpers).
# tests/package/run.sh checks these flag lists against the parsers in src/.

_mvm_run_flags='--kernel --initrd --cmdline --cpus --mem --disk --net --rng --vsock --console
	--debug --stats --trace-exits --profile --debug-exit --pc-testdev --cpu-hyperv --gdb --gdb-wait --dumpable --seccomp --metrics --api-sock
	--config-file --restore --override-drive --override-net --incoming --help'
_mvm_ctl_cmds='pause resume stop stat vcpus config info snapshot migrate migrate-set'
_mvm_jail_flags='--id --uid --gid --chroot-base --netns --cgroup --resource-limit --daemonize
	--allow-root --help --'

# _mvm_files [-d]: file (or directory) names completing $cur.
_mvm_files()
{
	compopt -o filenames 2>/dev/null
	if [ "$1" = -d ]; then
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
	else
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	fi
}

_mvm_words()
{
	mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

_mvm_run()
{
	case $prev in
	--kernel | --initrd | --disk | --config-file | --metrics | --api-sock | --profile) _mvm_files; return ;;
	--restore) _mvm_files -d; return ;;
	--console) _mvm_words 'serial virtio'; return ;;
	--seccomp) _mvm_words 'off log kill'; return ;;
	--net) _mvm_words 'tap= user'; compopt -o nospace 2>/dev/null; return ;;
	--vsock) _mvm_words 'cid='; compopt -o nospace 2>/dev/null; return ;;
	--incoming) _mvm_words 'tcp: unix:'; compopt -o nospace 2>/dev/null; return ;;
	--cmdline | --cpus | --mem | --override-drive | --override-net) return ;;
	esac
	_mvm_words "$_mvm_run_flags"
}

# $1: index of the word after "ctl".
_mvm_ctl()
{
	local i sub=
	case $prev in
	--api-sock) _mvm_files; return ;;
	--grace | --max-downtime | --bandwidth) return ;;
	esac
	for ((i = $1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--api-sock | --grace | --max-downtime | --bandwidth) i=$((i + 1)) ;;
		-*) ;;
		*) sub=${COMP_WORDS[i]}; break ;;
		esac
	done
	case $sub in
	'') _mvm_words "--api-sock --help $_mvm_ctl_cmds" ;;
	stop) _mvm_words '--grace' ;;
	snapshot)
		if [[ $cur == -* ]]; then _mvm_words '--stay-paused --diff'; else _mvm_files -d; fi ;;
	migrate) _mvm_words '--max-downtime --bandwidth --auto-converge' ;;
	migrate-set)
		if [[ $prev == --auto-converge ]]; then _mvm_words 'on off'
		else _mvm_words '--max-downtime --bandwidth --auto-converge'; fi ;;
	esac
}

_mvm()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local start=0 i cmd
	COMPREPLY=()

	# mvm jail ... -- mvm run ...: after the "--", the words are a command line of their own.
	for ((i = 1; i < COMP_CWORD; i++)); do
		if [ "${COMP_WORDS[i]}" = -- ] && [ "${COMP_WORDS[start + 1]}" = jail ]; then
			start=$((i + 1))
		fi
	done
	if [ "$COMP_CWORD" -eq "$start" ]; then
		_mvm_words 'mvm'   # the program jail runs: mvm itself
		return 0
	fi
	if [ "$COMP_CWORD" -eq $((start + 1)) ]; then
		if [ "$start" -eq 0 ]; then
			_mvm_words 'run ctl jail check snapshot-merge version help'
		else
			_mvm_words 'run'
		fi
		return 0
	fi
	cmd=${COMP_WORDS[start + 1]}
	case $cmd in
	run) _mvm_run ;;
	ctl) _mvm_ctl $((start + 2)) ;;
	jail)
		case $prev in
		--chroot-base) _mvm_files -d ;;
		--netns) _mvm_files ;;
		--resource-limit) _mvm_words 'no-file= fsize='; compopt -o nospace 2>/dev/null ;;
		--id | --uid | --gid | --cgroup) ;;
		*) _mvm_words "$_mvm_jail_flags" ;;
		esac ;;
	check)
		if [ "$prev" = --kvm ]; then _mvm_files; else _mvm_words '--kvm --help'; fi ;;
	snapshot-merge) [ $((COMP_CWORD - start)) -le 3 ] && _mvm_files -d ;;
	esac
	return 0
}
complete -F _mvm mvm
