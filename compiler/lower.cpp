#include "compiler/lower.h"

#include <linux/types.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "bpf-templates/rtd_event.h"
#include "compiler/expr_c.h"

namespace rtd {

namespace {

// Arguments the kprobe form can read (libbpf's PT_REGS_PARM1..5) and that
// BPF_PROG can declare.
constexpr std::size_t kKprobeArgs = 5;
constexpr std::size_t kTracingArgs = 12;

std::uint32_t round8(std::uint32_t n) { return (n + 7) & ~7u; }

// Header, then the packet and stack when the rule asks for them, then each
// capture: 8 bytes, or its string buffer.
EventSchema layout(std::size_t index, const TypedRule& r)
{
    EventSchema s;
    s.struct_name = fmt::format("rtd_ev_{}", index);
    std::uint32_t at = sizeof(rtd_event_header);
    if (r.decl->packet) {
        s.has_packet = true;
        s.packet_offset = at;
        at += sizeof(rtd_packet);
    }
    if (r.decl->stack) {
        s.has_stack = true;
        s.stack_offset = at;
        at += sizeof(rtd_stack);
    }
    for (const CaptureSchema& c : r.captures) {
        EventField f;
        f.name = c.name;
        f.kind = c.kind;
        f.offset = at;
        f.size = c.kind == ValueKind::String ? round8(c.size) : 8;
        f.enum_name = c.enum_name;
        f.enum_signed = c.enum_signed;
        at += f.size;
        s.fields.push_back(f);
    }
    s.size = at;
    return s;
}

// The forms a probe can take, best first, and the programs of each: a
// tracing form takes at most 12 arguments (and fexit the return value as one
// more), a kprobe form reads at most the first five; a kretprobe that reads
// arguments needs an entry program that stashes them.
std::vector<AttachMethod> attach_methods(const TypedProbe& p, const Btf& btf, const std::string& base)
{
    const std::size_t n = p.signature.params.size();
    const std::set<unsigned> args = uses_of(p).args;
    const unsigned max_arg = args.empty() ? 0 : *args.rbegin() + 1;
    const std::string& target = p.signature.symbol;
    auto one = [&](AttachForm form, const char* suffix) { return AttachMethod{form, {{base + suffix, form, target}}}; };
    std::vector<AttachMethod> out;
    switch (p.probe->kind) {
    case ProbeKind::Tracepoint:
        if (n <= kTracingArgs) {
            out.push_back(one(AttachForm::TpBtf, "_tb"));
            out.push_back(one(AttachForm::RawTp, "_rt"));
        }
        break;
    case ProbeKind::Kprobe:
        if (n <= kTracingArgs) out.push_back(one(AttachForm::Fentry, "_fe"));
        if (max_arg <= kKprobeArgs) out.push_back(one(AttachForm::Kprobe, "_kp"));
        break;
    case ProbeKind::Kretprobe:
        if (n + (btf.is_void(p.signature.ret) ? 0 : 1) <= kTracingArgs) out.push_back(one(AttachForm::Fexit, "_fx"));
        if (max_arg <= kKprobeArgs && args.empty()) out.push_back(one(AttachForm::Kretprobe, "_kr"));
        if (max_arg <= kKprobeArgs && !args.empty())
            out.push_back({AttachForm::Kretprobe, {{base + "_ke", AttachForm::Kprobe, target}, {base + "_kr", AttachForm::Kretprobe, target}}});
        break;
    }
    return out;
}

// The enumerators a kernel must have for the probe to run.
std::vector<EnumeratorUse> enumerators_of(const TypedProbe& p, const Btf& btf)
{
    std::set<EnumeratorUse> uses;
    for (const TExprPtr& c : p.captures)
        if (c) collect_enumerators(btf, *c, uses, true);
    for (const TExprPtr* t : {&p.condition, &p.noise, &p.packet})
        if (*t) collect_enumerators(btf, **t, uses, true);
    return {uses.begin(), uses.end()};
}

}  // namespace

CompiledRuleSet lower(const std::vector<const RuleDecl*>& rules, const std::vector<TypedRule>& typed, const Btf* btf,
                      const SourceManager& sources)
{
    CompiledRuleSet out;
    for (const RuleDecl* d : rules) out.rules.push_back(rule_entry(*d, sources));
    for (const TypedRule& r : typed) {
        const std::size_t index = static_cast<std::size_t>(std::find(rules.begin(), rules.end(), r.decl) - rules.begin());
        RuleEntry& entry = out.rules[index];
        entry.skipped = r.skipped;
        entry.event = layout(index, r);
        for (std::size_t pi = 0; pi < r.probes.size(); ++pi) {
            const TypedProbe& p = r.probes[pi];
            ProbePlan plan;
            plan.rule = index;
            plan.probe = pi;
            plan.target = *p.probe;
            plan.spelling = p.probe->spelling();
            plan.symbol = p.signature.symbol;
            plan.available = p.available;
            plan.skip_reason = p.skip_reason;
            plan.choices = p.choices;
            if (p.available) {
                plan.methods = attach_methods(p, *btf, fmt::format("rtd_{}_{}", index, pi));
                plan.enumerators = enumerators_of(p, *btf);
            }
            out.probes.push_back(std::move(plan));
        }
    }
    return out;
}

}  // namespace rtd
