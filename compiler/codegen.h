// emit_c: typed rules -> BPF C (on bpf-templates/rtd.bpf.h) and the rule
// table, event layouts and attach plan around it.
//
// Per (rule, probe) one body function evaluates, in the kernel: the
// captures the condition needs, the condition, and only then the rest,
// reserving the event last. Every probe is generated in both attach forms
// (fentry/fexit or kprobe/kretprobe, tp_btf or raw_tp) so the runtime can
// pick what the kernel allows. Kernel reads go through CO-RE
// (bpf_core_read, BPF_CORE_READ_BITFIELD_PROBED) so objects survive kernel
// upgrades, and so do enumerators of named enums
// (bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_...)): each
// rule lists the enumerators it relies on (RuleEntry::enumerators).
//
// After the condition: the --where filter (EmitOptions::filter), then the
// rate limit (rtd_rate_limit in rtd.bpf.h, set by the runtime before load),
// then the event.
#pragma once

#include <set>
#include <vector>

#include "compiler/btf.h"
#include "compiler/compiled.h"
#include "compiler/filter.h"
#include "compiler/source.h"
#include "compiler/typed.h"

namespace rtd {

// Which attach forms to generate: all of them for `check --load`, `explain`
// and prebuilt objects; only those the running kernel offers for `run`
// (each form left out is compile time saved).
struct EmitOptions {
    std::set<AttachForm> forms = {AttachForm::Fentry, AttachForm::Fexit, AttachForm::Kprobe,
                                  AttachForm::Kretprobe, AttachForm::TpBtf, AttachForm::RawTp};
    // `run --where`: evaluated in the kernel after the condition, the noise
    // check and the drop count; refused drops count as `filtered`.
    std::optional<Filter> filter;
};

// `rules` are all rules and monitors, in table order; `typed` the type
// checker's output for the probe rules among them.
CompiledRuleSet emit_c(const std::vector<const RuleDecl*>& rules, const std::vector<TypedRule>& typed, const Btf& btf,
                       const SourceManager& sources, const EmitOptions& options = {});

}  // namespace rtd
