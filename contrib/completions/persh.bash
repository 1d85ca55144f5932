# bash completion for persh(1).
#
# Session names come from `persh ls --json`, which only asks a running
# daemon and never starts one (with none it lists nothing), run with the
# -c FILE of the command line if there is one.

# The names of the sessions of the daemon persh ($1...) reaches.
_persh_sessions()
{
	local json names=() re='"name":"([A-Za-z0-9._-]+)"'

	json=$("$@" ls --json 2>/dev/null </dev/null) || return 0
	while [[ $json =~ $re ]]; do
		names+=("${BASH_REMATCH[1]}")
		json=${json#*"${BASH_REMATCH[0]}"}
	done
	printf '%s\n' "${names[@]}"
}

# Complete the persh command line in COMP_WORDS up to COMP_CWORD.
_persh()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local prog=${COMP_WORDS[0]} cmd="" cmdi=0 nargs=0 i w
	local -a ls_cmd
	local commands="attach ls kill detach serve proxy bridge help"

	COMPREPLY=()
	# A typed ~/bin/persh: the word is as typed, unexpanded.
	# shellcheck disable=SC2088
	[[ ${prog:0:2} == "~/" ]] && prog=$HOME/${prog:2}
	ls_cmd=("$prog")

	# The command is the first word that is no global option.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ -z $cmd ]]; then
			case $w in
			-c) ((i++)); ls_cmd+=(-c "${COMP_WORDS[i]}") ;;
			-*) ;;
			*) cmd=$w cmdi=$i ;;
			esac
		elif [[ $w == -c ]]; then
			((i++))
			ls_cmd+=(-c "${COMP_WORDS[i]}")
		elif [[ $w == --max-reconnect-delay ]]; then
			((i++))
		elif [[ $w != -* ]]; then
			((nargs++))
		fi
	done

	if [[ $prev == -c ]]; then
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return 0
	fi
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "-c -V --version -h --help" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
		fi
		return 0
	fi
	((cmdi > 0)) || return 0

	case $cmd in
	attach)
		if [[ $prev == --max-reconnect-delay ]]; then
			mapfile -t COMPREPLY < <(compgen -W "1s 5s 15s 1m" -- "$cur")
		elif [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "-r --read-only -d --no-reconnect
			    --max-reconnect-delay -c -h --help" -- "$cur")
		elif ((nargs == 0)) && [[ $cur != */* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "$(_persh_sessions "${ls_cmd[@]}")" -- "$cur")
		fi
		;;
	kill | detach | bridge)
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "-c -h --help" -- "$cur")
		elif ((nargs == 0)); then
			mapfile -t COMPREPLY < <(compgen -W "$(_persh_sessions "${ls_cmd[@]}")" -- "$cur")
		fi
		;;
	ls)
		mapfile -t COMPREPLY < <(compgen -W "--json -c -h --help" -- "$cur")
		;;
	serve)
		mapfile -t COMPREPLY < <(compgen -W "-f -T -c -h --help" -- "$cur")
		;;
	proxy)
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "-c -h --help" -- "$cur")
		elif ((nargs == 0)); then
			if declare -F _known_hosts_real >/dev/null; then
				_known_hosts_real -- "$cur"
			else
				mapfile -t COMPREPLY < <(compgen -A hostname -- "$cur")
			fi
		fi
		;;
	help)
		((nargs == 0)) && mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
		;;
	esac
	return 0
}

complete -F _persh persh
