#!/bin/sh
# What `make test-vm` runs in the guest: COMMAND (the VM end-to-end tests),
# then the packs' own cases of the function-probe rules, the ones this
# project's hosts skip for want of kprobes and trampolines (docs/PACKS.md).
# The whole matrix, every case on every kernel: tests/vm/kernel_matrix.sh.
#   vm_suite.sh RTRACE_DROP COMMAND...     (RTD_VM_PACK_CASES=0: COMMAND only)
set -u
binary=$1
shift
"$@"
tests=$?
cases=0
if [ "${RTD_VM_PACK_CASES:-1}" != 0 ]; then
    "$binary" test -k 'tcp.syn_queue_full' -k 'tcp.accept_queue_full' -k 'tcp.backlog_full' -k 'tcp.checksum_error' \
        -k 'ip.rp_filter' -k 'ip.wrong_device' -k 'netfilter.iptables_drop' -k 'netfilter.nft_drop' \
        rules
    cases=$?
fi
[ "$tests" -eq 0 ] && [ "$cases" -eq 0 ]
