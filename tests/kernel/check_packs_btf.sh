#!/usr/bin/env bash
# The shipped packs type-check against the BTF of each kernel we support:
# Debian 12's 6.1 and 6.12 (extracted from their packages by tests/vm/vm.sh,
# cached) and the running kernel. Usage: check_packs_btf.sh RTRACE_DROP KERNEL...
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$1; shift
for kernel in "$@"; do
    if [ "$kernel" = host ]; then
        btf=/sys/kernel/btf/vmlinux
    else
        btf=$(tests/vm/vm.sh btf "$kernel")
    fi
    echo "== $kernel: $btf"
    # A function or tracepoint missing there is a warning (its rule is skipped
    # on that kernel); any error fails.
    out=$("$bin" check --btf "$btf" rules 2>&1) || { echo "$out"; exit 1; }
    echo "$out" | tail -n 1
    # The package's modules are read too: the netfilter rules' functions
    # (ip_tables, nf_tables, nf_conntrack) are type-checked, not skipped.
    if [ "$kernel" != host ]; then
        for fn in ipt_do_table nft_do_chain nf_conntrack_in; do
            if echo "$out" | grep -q "function '$fn' is not in this kernel's BTF"; then
                echo "$out"
                echo "check_packs_btf: $fn (a module function) was not found in $kernel's module tree" >&2
                exit 1
            fi
        done
    fi
done
