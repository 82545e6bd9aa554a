# bash completion for rtrace-drop. Installed to
# share/bash-completion/completions/rtrace-drop; a test keeps its option
# lists equal to what `--help` prints.

_rtrace_drop_packs()
{
    local dirs=(rules) d bin
    local IFS=:
    for d in $RTRACE_DROP_PATH; do dirs+=("$d"); done
    unset IFS
    bin=$(command -v rtrace-drop 2>/dev/null) && dirs+=("$(dirname "$bin")/../share/rtrace-drop/rules")
    for d in "${dirs[@]}"; do
        [ -d "$d" ] || continue
        for p in "$d"/*/pack.toml; do
            [ -e "$p" ] && basename "$(dirname "$p")"
        done
    done
}

_rtrace_drop()
{
    local cur prev cmd i
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    local commands="run check list explain build import test"
    local run_opts=" -i --include -e --exclude --config --show-config --json --summary --hints --no-stack --duration --count --interval --where --host --port --proto --dev --netns --rate-limit --once --metrics --metrics-labels --metrics-max-series -q --quiet --ledger --filter --pcap --snaplen --pcap-rotate --pcap-files --track --no-track --track-size --track-hops --top --ready-file --ring-size --strict --all --no-cache --btf --btf-modules --no-trampolines --color -h --help "
    local main_opts=" -l --list --gen -V --version --log-format $run_opts "
    local check_opts=" --btf --btf-modules --strict --dump-ast --dump-types --load -h --help "
    local explain_opts=" --btf --btf-modules --manifest -h --help "
    local list_opts=" --markdown -h --help "
    local build_opts=" -o --output --btf --btf-modules --where -i --include -e --exclude -h --help "
    local import_opts=" -o --output --btf -h --help "
    local test_opts=" -k --strict --allow-exec --junit --json --list -v --verbose -h --help "

    cmd=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        run | check | list | explain | build | import | test) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done

    case $prev in
    --config | --gen | --ready-file | -o | --output | --btf | --junit)
        COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --btf-modules) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --color) COMPREPLY=($(compgen -W "auto always never" -- "$cur")); return ;;
    --log-format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return ;;
    --proto) COMPREPLY=($(compgen -W "tcp udp icmp icmpv6 sctp" -- "$cur")); return ;;
    --netns) COMPREPLY=($(compgen -W "$(ip netns list 2>/dev/null | awk '{print $1}')" -- "$cur")); return ;;
    --dev) COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return ;;
    --metrics-labels) COMPREPLY=($(compgen -W "rule,layer,reason,dev,netns rule,reason,dev rule,reason" -- "$cur")); return ;;
    esac

    if [[ $cur == -* ]]; then
        local opts=$main_opts
        case $cmd in
        run) opts=$run_opts ;;
        check) opts=$check_opts ;;
        explain) opts=$explain_opts ;;
        list) opts=$list_opts ;;
        build) opts=$build_opts ;;
        import) opts=$import_opts ;;
        test) opts=$test_opts ;;
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    case $cmd in
    "") COMPREPLY=($(compgen -W "$commands" -- "$cur")) ;;
    import) COMPREPLY=($(compgen -f -X '!*.toml' -- "$cur") $(compgen -d -- "$cur")) ;;
    *) COMPREPLY=($(compgen -W "$(_rtrace_drop_packs)" -- "$cur") $(compgen -f -- "$cur")) ;;
    esac
}
complete -o filenames -F _rtrace_drop rtrace-drop
