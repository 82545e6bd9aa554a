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
    "$bin" check --btf "$btf" rules
done
