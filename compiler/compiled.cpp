#include "compiler/compiled.h"

#include <map>

#include <fmt/format.h>

namespace rtd {

const char* attach_form_name(AttachForm f)
{
    switch (f) {
    case AttachForm::Fentry: return "fentry";
    case AttachForm::Fexit: return "fexit";
    case AttachForm::Kprobe: return "kprobe";
    case AttachForm::Kretprobe: return "kretprobe";
    case AttachForm::TpBtf: return "tp_btf";
    case AttachForm::RawTp: return "raw_tp";
    }
    return "?";
}

RuleEntry rule_entry(const RuleDecl& d, const SourceManager& sources)
{
    RuleEntry e;
    e.id = d.id;
    e.layer = d.layer.value_or(0);
    e.is_monitor = d.is_monitor;
    e.condition = d.condition_kind;
    e.file = sources.file(d.range.file).path();
    e.line = sources.file(d.range.file).line_col(d.range.begin).line;
    e.message = d.message;
    e.hint = d.hint;
    if (d.source) e.source = d.source->spelling();
    for (const auto& [target, range] : d.instead_of) e.instead_of.push_back(target);
    for (const CounterGroup& g : d.counted_as) {
        std::vector<std::string>& group = e.counted_as.emplace_back();
        for (const MonitorSource& c : g.alternatives) group.push_back(c.spelling());
    }
    e.fallback = d.fallback;
    e.track = d.track;
    for (const Binding& p : d.params)
        if (p.expr && p.expr->kind == ExprKind::Int)
            e.params.emplace_back(p.name, p.expr->is_unsigned ? std::to_string(p.expr->value) : std::to_string(p.expr->signed_value()));
    return e;
}

std::vector<std::string> CompiledRuleSet::program_names() const
{
    std::vector<std::string> names;
    for (const ProbePlan& p : probes)
        if (p.available)
            for (const AttachMethod& m : p.methods)
                for (const ProgramSpec& s : m.programs) names.push_back(s.name);
    for (const DispatchSpec& d : dispatchers(*this)) names.push_back(d.name);
    return names;
}

std::vector<DispatchSpec> dispatchers(const CompiledRuleSet& set)
{
    std::map<std::pair<std::string, AttachForm>, std::vector<std::size_t>> groups;
    for (std::size_t i = 0; i < set.probes.size(); ++i) {
        const ProbePlan& p = set.probes[i];
        if (!p.available) continue;
        for (const AttachMethod& m : p.methods)
            if (m.programs.size() == 1 && (m.form == AttachForm::TpBtf || m.form == AttachForm::RawTp))
                groups[{m.programs.front().target, m.form}].push_back(i);
    }
    std::vector<DispatchSpec> out;
    for (auto& [key, members] : groups) {
        if (members.size() < 2) continue;
        const char* suffix = key.second == AttachForm::TpBtf ? "tb" : "rt";
        // Even chunks, each under the limit (so none is left with one member).
        const std::size_t chunks = (members.size() + kDispatchMembers - 1) / kDispatchMembers;
        for (std::size_t c = 0, from = 0; c < chunks; ++c) {
            const std::size_t to = members.size() * (c + 1) / chunks;
            std::string name = c == 0 ? fmt::format("rtd_d_{}_{}", key.first, suffix) : fmt::format("rtd_d_{}_{}_{}", key.first, suffix, c);
            out.push_back({std::move(name), key.second, key.first,
                           std::vector<std::size_t>(members.begin() + static_cast<std::ptrdiff_t>(from), members.begin() + static_cast<std::ptrdiff_t>(to)),
                           out.size()});
            from = to;
        }
    }
    return out;
}

}  // namespace rtd
