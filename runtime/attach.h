// Load and attach: a planned rule set's BPF object into the kernel, each
// probe by the first of its attach methods the kernel accepts. A program the
// verifier refuses, or the kernel refuses to attach (fentry on a function
// with too many arguments for its trampolines), moves its probe to its next
// method (tp_btf -> raw_tp, fexit -> kretprobe, ...) and the object is
// loaded again; a probe out of methods is skipped with the kernel's reason.
// Probes that share a tracepoint attach as one dispatcher program when the
// kernel takes it (compiled.h's DispatchSpec), else as a program each.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/compiled.h"
#include "runtime/bpf_loader.h"
#include "runtime/features.h"
#include "runtime/status.h"
#include "runtime/tracking.h"

namespace rtd {

// What every opening of the object sets before load (rtd.bpf.h's .rodata).
struct LoadOptions {
    std::string core_btf;               // --btf: CO-RE relocates against this file
    std::uint32_t ring_bytes = 1u << 22;
    bool report_all = false;            // --all
    bool summary_only = false;          // --summary counted in the kernel: no events
    std::uint32_t rate_limit = 0;       // --rate-limit
    std::uint64_t netns_inode = 0;      // --netns: only this namespace's drops
    bool record_stacks = true;          // --no-stack clears it
    std::uint32_t metrics_labels = 0;   // --metrics: RTD_METRICS_ON | RTD_LABEL_* (rtd_event.h); 0 off
    std::uint32_t metrics_series = 0;   // --metrics-max-series: rtd_drops' size (0: the object's)
    bool events_off = false;            // --quiet: no output reads events, send none
    std::uint64_t ledger_netns = 0;     // --ledger: the inode of the namespace whose counters it reads; 0 off
    std::uint32_t snaplen = 0;          // --pcap: packet bytes each event takes along (--snaplen); 0 none
    std::uint32_t track_entries = 0;    // --track: packets followed at once (--track-size); 0 off
    std::uint32_t track_hops = 8;       // --track-hops: hops each keeps (2..8)
    // A reload: the running object's rtd_gate (shared) and this object's
    // generation, which counts once the gate is switched to it.
    int gate_fd = -1;
    std::uint32_t generation = 0;
};

// The object's rtd_gate, -1 if it has none (an object built before reloads).
int gate_fd(struct bpf_object* obj);
// Lets objects of `generation` count, and only them: one map write.
bool open_gate(int gate_fd, std::uint32_t generation);

inline constexpr std::size_t kNoMethod = static_cast<std::size_t>(-1);

struct AttachedProbes {
    Object obj;                        // null when no probe could be loaded
    std::vector<Link> links;
    std::vector<std::size_t> method;   // per probe of the set: the index of its method in use, or kNoMethod
    std::vector<std::string> skip;     // per probe: why it is not used
    std::vector<DispatchSpec> dispatch;  // dispatchers in use (their members attach through them)
    std::size_t attached = 0, skipped = 0;
    // --ledger: why skb:kfree_skb's drops by reason are not counted (the
    // overall line); empty when they are.
    std::string ledger_reasons_off;
    // --track: where packets are followed, or why not (runtime/tracking.h).
    TrackAttach track;
};

// The ledger's program on skb:kfree_skb (rtd.bpf.h).
inline constexpr const char* kLedgerProgram = "rtd_ledger_kfree_skb";

// `object` is the set's BPF ELF, built with the dispatchers `as_built` (a
// built object's plan before this kernel narrowed it: their slots in
// rtd_dispatch_hits are the object's); probes not `available` in the set are
// skipped with their reason. The status table and notes go to `status`.
Expected<AttachedProbes> load_and_attach(const CompiledRuleSet& set, const std::string& object, const std::vector<DispatchSpec>& as_built,
                                         const LoadOptions& options, const KernelFeatures& features, StatusSink& status);

// True when probes are attached and each belongs to a 'track' rule: hops of
// paths, with no drop rule to report a path (`run rules/track --track`).
bool only_track_rules_attached(const CompiledRuleSet& set, const AttachedProbes& probes);

}  // namespace rtd
