#include "runtime/kernel_plan.h"

#include <algorithm>

#include <fmt/format.h>

#include "compiler/frontend.h"

namespace rtd {

namespace {

// Why this kernel cannot run the probe, or "" when it can.
std::string kernel_lacks(const ProbePlan& p, const Btf& btf, const KernelFeatures& f)
{
    const Probe& t = p.target;
    if (t.kind == ProbeKind::Tracepoint) {
        if (!btf.tracepoint(t.event)) return fmt::format("tracepoint {}:{} not in kernel BTF", t.category, t.event);
        if (!tracepoint_exists(f, t.category, t.event)) return fmt::format("tracepoint {}:{} not in tracefs", t.category, t.event);
    } else {
        if (std::string why = f.function_probe_block(); !why.empty()) return why;
        if (!btf.function(p.symbol)) return fmt::format("function {} not in kernel BTF", p.symbol);
        if (f.traceable && !f.traceable->count(p.symbol))
            return fmt::format("function {} is not traceable (not in available_filter_functions)", p.symbol);
    }
    for (const EnumeratorUse& use : p.enumerators)
        if (auto e = btf.enumerator(use.name); !e || btf.enum_name(e->type) != use.enum_name)
            return fmt::format("this kernel has no {} in enum {}", use.name, use.enum_name);
    return {};
}

void skip(ProbePlan& p, std::string why)
{
    p.available = false;
    p.skip_reason = std::move(why);
}

bool rule_runs(const CompiledRuleSet& set, std::size_t rule)
{
    return std::any_of(set.probes.begin(), set.probes.end(), [&](const ProbePlan& p) { return p.rule == rule && p.available; });
}

}  // namespace

Status check_probe_count(const CompiledRuleSet& set)
{
    if (set.probes.size() <= kMaxProbes) return kDone;
    return RunError::bad_input(fmt::format("{} probes selected; at most {} run at once (each is a BPF program on its hook)",
                                           set.probes.size(), kMaxProbes),
                               {"select fewer rules with -i/--include and -e/--exclude"});
}

void plan_for_kernel(CompiledRuleSet& set, const Btf& btf, const KernelFeatures& features, const KernelPlanOptions& options)
{
    const std::set<AttachForm> forms = features.forms();
    for (ProbePlan& p : set.probes) {
        if (!rule_selected(set.rules[p.rule].id, options.include, options.exclude)) {
            skip(p, kNotSelected);
            continue;
        }
        if (set.rules[p.rule].track && !options.track) {
            skip(p, kTrackOnly);
            continue;
        }
        if (!p.available) continue;
        if (std::string why = kernel_lacks(p, btf, features); !why.empty()) {
            skip(p, why);
            continue;
        }
        std::erase_if(p.methods, [&](const AttachMethod& m) { return !forms.count(m.form); });
        if (p.methods.empty()) skip(p, "no attach method for it on this kernel");
    }
    // -i/-e came first: a rule stands down only for a target that will run.
    for (std::size_t r = 0; r < set.rules.size() && !options.all; ++r)
        for (const std::string& target : set.rules[r].instead_of) {
            auto t = std::find_if(set.rules.begin(), set.rules.end(), [&](const RuleEntry& e) { return e.id == target; });
            if (t == set.rules.end() || !rule_runs(set, static_cast<std::size_t>(t - set.rules.begin()))) continue;
            for (ProbePlan& p : set.probes)
                if (p.rule == r && p.available) skip(p, fmt::format("not needed: {} is used instead", target));
            break;
        }
    for (std::size_t r = 0; r < set.rules.size(); ++r)
        if (!set.rules[r].is_monitor) set.rules[r].skipped = !rule_runs(set, r);
}

std::string kernel_facts(const CompiledRuleSet& set, const KernelFeatures& features)
{
    std::string facts;
    for (AttachForm form : features.forms()) facts += attach_form_name(form) + std::string(" ");
    facts += features.function_probe_block().empty() ? "functions\n" : "no-functions\n";
    for (const ProbePlan& p : set.probes) {
        const Probe& t = p.target;
        if (t.kind == ProbeKind::Tracepoint)
            facts += fmt::format("{}:{} {}\n", t.category, t.event, tracepoint_exists(features, t.category, t.event) ? 1 : 0);
        else
            facts += fmt::format("{} {}\n", p.symbol, !features.traceable ? '?' : features.traceable->count(p.symbol) ? '1' : '0');
    }
    return facts;
}

std::vector<std::string> rule_methods(const CompiledRuleSet& set)
{
    std::vector<std::string> out(set.rules.size());
    for (std::size_t i = 0; i < set.rules.size(); ++i) out[i] = set.rules[i].is_monitor ? "polled" : "";
    for (const ProbePlan& p : set.probes) {
        std::string& o = out[p.rule];
        std::string how = p.available ? attach_form_name(p.methods.front().form) : "skipped: " + p.skip_reason;
        if (o.find(how) == std::string::npos) o += (o.empty() ? "" : ", ") + how;
    }
    return out;
}

}  // namespace rtd
