#!/bin/bash
# Writes rtrace-drop(1) from the binary's own --help texts, so the man page
# never drifts from what the program says. Usage: gen_man.sh BINARY > rtrace-drop.1
set -euo pipefail
bin=$1
version=$("$bin" -V | awk '{print $2}')
# roff: a backslash is \e; a line starting with '.' or "'" would be a request.
quote() { sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"; }
cat <<HEAD
.TH RTRACE-DROP 1 "" "rtrace-drop $version" "User Commands"
.SH NAME
rtrace-drop \\- find out where and why Linux drops network packets
.SH SYNOPSIS
.B rtrace-drop
[\\fIOPTIONS\\fR] [\\fICOMMAND\\fR [\\fIARGS\\fR]]
.SH DESCRIPTION
.nf
HEAD
"$bin" --help | quote
echo ".fi"
for cmd in run check list explain build import test; do
    echo ".SH COMMAND: $cmd"
    echo ".nf"
    "$bin" "$cmd" --help | quote
    echo ".fi"
done
cat <<'TAIL'
.SH ENVIRONMENT
.TP
.B RTRACE_DROP_PATH
Colon-separated folders searched for packs by name and for `use` imports.
.TP
.B RTRACE_DROP_STDLIB
The standard library folder (default: share/rtrace-drop/stdlib next to the binary).
.TP
.B XDG_CACHE_HOME
Compiled objects, and the plans run keeps for rule files, live in $XDG_CACHE_HOME/rtrace-drop (default ~/.cache/rtrace-drop).
.TP
.B RTRACE_DROP_NO_COMPILER
When set (not 0), rule files are not compiled; only objects built by `rtrace-drop build` run.
.SH FILES
.TP
.I share/rtrace-drop/rules
The shipped rule packs (tcp, udp, ip, netfilter, dev, nic, reasons, snmp, sysctl).
.TP
.I share/rtrace-drop/stdlib
Constants and macros for `use`.
.SH EXIT STATUS
0 success; 1 a runtime failure (nothing could attach, the kernel refused); 2 bad input (rules, config, command line).
.SH SEE ALSO
bpftool(8), ip(8), nstat(8)
TAIL
