// What runs on this kernel, decided in one place for rules compiled here and
// for objects built elsewhere (.rdo) alike, probe by probe:
//
//   1. selection: a rule -i/-e leaves out does not run (.rdo objects hold
//      every rule they were built with), nor a 'track' rule without --track;
//   2. the kernel: a function probe needs kprobes or trampolines, its function
//      in this kernel's BTF and traceable by ftrace; a tracepoint must exist;
//      every enumerator the probe's code takes through CO-RE must exist;
//   3. the forms: only the attach methods this kernel offers are kept; a probe
//      left without any is skipped;
//   4. 'instead of': unless --all, a rule stands down when one of the rules it
//      stands in for has a probe that will run (one drop, one report).
//
// A probe the type checker already skipped keeps its reason. After this, a
// probe that is `available` has at least one method, and a rule is `skipped`
// when none of its probes is available.
#pragma once

#include <string>
#include <vector>

#include "compiler/btf.h"
#include "compiler/compiled.h"
#include "runtime/features.h"
#include "runtime/status.h"

namespace rtd {

struct KernelPlanOptions {
    std::vector<std::string> include, exclude;  // -i/-e
    bool all = false;                           // --all: 'instead of' rules run too
    bool track = false;                         // --track: 'track' rules run
};

// Why a probe of a rule -i/-e leaves out is skipped: such probes are not
// shown in the status table (a source run never loads those rules).
inline constexpr const char* kNotSelected = "not selected (-i/-e)";
// Why a probe of a 'track' rule is skipped without --track (not shown either).
inline constexpr const char* kTrackOnly = "a track rule: it runs with run --track";
inline bool left_out(const std::string& skip_reason) { return skip_reason == kNotSelected || skip_reason == kTrackOnly; }

// Each probe is a BPF program run on every hit of its hook: thousands on
// one tracepoint would cost the kernel more than any drop is worth, and
// compile for minutes. A selection this large is a mistake (-i/-e).
inline constexpr std::size_t kMaxProbes = 1024;
Status check_probe_count(const CompiledRuleSet& set);

void plan_for_kernel(CompiledRuleSet& set, const Btf& btf, const KernelFeatures& features, const KernelPlanOptions& options);

// What plan_for_kernel read of `features` for the probes of `set`, as text:
// the attach forms, and for each probe whether its tracepoint exists or its
// function is traceable. Equal texts, with the same BTF and options, mean
// the same plan (plan_cache.h keeps a plan with the text it was made under).
std::string kernel_facts(const CompiledRuleSet& set, const KernelFeatures& features);

// How each rule of `set` runs by the plan, by rule index: the attach form of
// each available probe's first method ("tp_btf", "fentry, kprobe"),
// "polled" for monitors, or "skipped: why".
std::vector<std::string> rule_methods(const CompiledRuleSet& set);

}  // namespace rtd
