// What the kernel counted for each rule (rtd_counts, per CPU: hits, drops,
// events sent and lost, noise, filtered, rate-limited, unstashed) and, for
// `run --summary`, by flow (rtd_flows); the counters table a run prints.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <linux/types.h>

#include "bpf-templates/rtd_event.h"
#include "compiler/compiled.h"
#include "runtime/report.h"
#include "runtime/status.h"

struct bpf_object;

namespace rtd {

// The rules' counters summed over CPUs, by rule index. A dispatcher counts
// its tracepoint's hits once (rtd_dispatch_hits): each rule it runs was hit
// that often.
std::vector<rtd_counter> read_counters(struct bpf_object* obj, const CompiledRuleSet& set, const std::vector<DispatchSpec>& dispatch);

// rtd_flows' totals, moved into `flows` as they grow: `seen` keeps the
// totals at the last call (keyed by the key's bytes).
void pull_kernel_flows(struct bpf_object* obj, const CompiledRuleSet& set, std::map<std::string, std::uint64_t>& seen, FlowSummary& flows);

// rtd_drops (run --metrics): drops by rule and the labels the kernel kept,
// and per rule those counted once its table was full (rtd_drops_other).
struct DropCount {
    rtd_drop_key key;
    std::uint64_t drops = 0;
};
struct DropCounts {
    std::vector<DropCount> labelled;
    std::vector<std::uint64_t> unitemized;  // by rule index
};
DropCounts read_drop_counts(struct bpf_object* obj, std::size_t rules);

// RULE HITS DROPS EVENTS LOST NOISE [FILTERED] [LIMITED] [UNSTASHED], then
// what was lost, limited or could not be decoded.
void print_counters(StatusSink& status, const CompiledRuleSet& set, const std::vector<rtd_counter>& counts, double seconds,
                    std::uint64_t undecodable);

}  // namespace rtd
