// emit_c: typed rules and their plan (lower.h) -> BPF C on
// bpf-templates/rtd.bpf.h.
//
// Per (rule, probe) one body function evaluates, in the kernel: the
// captures the condition needs, the condition, and only then the rest,
// reserving the event last. Each attach method the plan keeps gets its
// wrapper programs, so the runtime can pick what the kernel allows. Kernel
// reads go through CO-RE (bpf_core_read, BPF_CORE_READ_BITFIELD_PROBED) so
// objects survive kernel upgrades, and so do enumerators of named enums
// (bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_...)): each
// probe lists the enumerators it relies on (ProbePlan::enumerators).
//
// After the condition: the namespace (rtd_netns_only), the --where filter
// (EmitOptions::filter) and the pcap filter, then the rate limit
// (rtd_rate_limit); the runtime sets rtd.bpf.h's .rodata values before load.
// With rtd_snaplen set (run --pcap) a packet's event takes its first bytes
// along (bpf-templates/rtd_capture.bpf.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compiler/btf.h"
#include "compiler/compiled.h"
#include "compiler/filter.h"
#include "compiler/pcap_filter.h"
#include "compiler/source.h"
#include "compiler/typed.h"

namespace rtd {

struct EmitOptions {
    // `run --where`: evaluated in the kernel after the condition, the noise
    // check and the drop count; refused drops count as `filtered`.
    std::optional<Filter> filter;
    // `run --filter`: a pcap-filter expression, translated (pcap_filter.h),
    // run over the packet's first bytes right after the --where filter;
    // a rule without a packet matches nothing.
    std::optional<PcapFilter> pcap_filter;
    // .rodata settings of rtd.bpf.h (by name) that this object fixes at a
    // value, the code that value rules out compiled out with them
    // (runtime/run_settings.h): an object for one run's options. Empty:
    // every setting stays settable.
    std::vector<std::pair<std::string, std::uint32_t>> fixed_settings;
};

// Writes `set.source`: the C for every available probe of `set` (lower's
// plan, perhaps narrowed to what the running kernel offers) in each of its
// attach methods, the event struct of every rule that is not skipped, and
// the dispatchers. `rules` are the rule table's declarations, in order;
// `typed` the type checker's output for the probe rules among them.
void emit_c(CompiledRuleSet& set, const std::vector<const RuleDecl*>& rules, const std::vector<TypedRule>& typed, const Btf& btf,
            const EmitOptions& options = {});

// lower() then emit_c() with every attach form: the plan and C that build
// writes and check --load loads, in one call (tests, benchmarks).
CompiledRuleSet lower_and_emit(const std::vector<const RuleDecl*>& rules, const std::vector<TypedRule>& typed, const Btf& btf,
                               const SourceManager& sources, const EmitOptions& options = {});

// The rule whose part of the generated C holds `line` (each part opens with
// a "/* rule N: id */" marker), or "the shared prelude".
std::string rule_at_generated_line(const std::string& source, unsigned line);

}  // namespace rtd
