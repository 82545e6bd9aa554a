// What the running kernel offers for attaching, found out at start-up
// rather than assumed: kprobes, BPF trampolines (fentry/fexit), tracefs,
// and which functions ftrace can trace.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>

#include "compiler/btf.h"
#include "compiler/compiled.h"

namespace rtd {

struct KernelFeatures {
    bool kprobes = false;        // /sys/bus/event_source/devices/kprobe exists
    bool trampolines = false;    // a fentry program loads and attaches
    std::string trampoline_error;  // why not ("EPERM: ...")
    std::string tracefs;         // mount point, empty when not mounted

    // Functions ftrace can trace, when available_filter_functions is
    // readable; nothing means "unknown" (no filtering on it).
    std::optional<std::unordered_set<std::string>> traceable;

    // The attach forms worth generating for this kernel.
    std::set<AttachForm> forms() const;
    // Why function probes cannot attach here, or empty when they can.
    std::string function_probe_block() const;
};

KernelFeatures probe_kernel_features(const Btf& kernel_btf);
// The same, testing trampolines on the function with this BTF id (from
// trampoline_test_target of the same BTF; a cached plan keeps it).
KernelFeatures probe_kernel_features(std::int32_t trampoline_target);
// A function every kernel has, to test a fentry program on; -1 when none.
std::int32_t trampoline_test_target(const Btf& kernel_btf);

// Mounts tracefs at /sys/kernel/tracing when none is mounted, as perf and
// bpftrace users would by hand (`run` only: listing rules changes nothing).
// Returns what it did or why it could not, "" when tracefs was there.
std::string mount_tracefs_if_missing();

// The capabilities loading and attaching BPF tracing programs needs that
// this process lacks ("CAP_BPF, CAP_PERFMON"), or "" when it has them
// (or CAP_SYS_ADMIN, which covers both on every kernel).
std::string missing_bpf_capabilities();

// Whether the tracepoint CATEGORY:NAME exists (by tracefs when mounted).
bool tracepoint_exists(const KernelFeatures& f, const std::string& category, const std::string& event);

}  // namespace rtd
