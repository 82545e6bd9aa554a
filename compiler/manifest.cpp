#include "compiler/manifest.h"

#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace rtd {

namespace {

using nlohmann::json;

json pieces_json(const std::vector<TextTemplate::Piece>& pieces)
{
    json out = json::array();
    for (const auto& p : pieces) {
        if (!p.evidence.empty()) out.push_back({{"evidence", p.evidence}, {"text", p.text}, {"arg", pieces_json(p.arg)}});
        else out.push_back({{p.placeholder ? "placeholder" : "text", p.text}});
    }
    return out;
}

json text_json(const std::optional<TextTemplate>& t) { return t ? pieces_json(t->pieces) : json(nullptr); }

std::vector<TextTemplate::Piece> pieces_from(const json& j)
{
    std::vector<TextTemplate::Piece> out;
    for (const json& p : j) {
        TextTemplate::Piece piece;
        if (p.contains("evidence")) {
            piece.placeholder = true;
            piece.evidence = p.at("evidence").get<std::string>();
            piece.text = p.at("text").get<std::string>();
            piece.arg = pieces_from(p.at("arg"));
        } else {
            piece.placeholder = p.contains("placeholder");
            piece.text = p.at(piece.placeholder ? "placeholder" : "text").get<std::string>();
        }
        out.push_back(std::move(piece));
    }
    return out;
}

std::optional<TextTemplate> text_from(const json& j)
{
    if (j.is_null()) return std::nullopt;
    TextTemplate t;
    t.pieces = pieces_from(j);
    return t;
}

AttachForm form_from(const std::string& name)
{
    for (AttachForm f : {AttachForm::Fentry, AttachForm::Fexit, AttachForm::Kprobe, AttachForm::Kretprobe, AttachForm::TpBtf,
                         AttachForm::RawTp})
        if (name == attach_form_name(f)) return f;
    throw std::invalid_argument("unknown attach form '" + name + "'");
}

json enumerators_json(const std::vector<EnumeratorUse>& uses)
{
    json out = json::array();
    for (const EnumeratorUse& e : uses) out.push_back({{"enum", e.enum_name}, {"name", e.name}});
    return out;
}

std::vector<EnumeratorUse> rule_enumerators(const CompiledRuleSet& set, std::size_t rule)
{
    std::set<EnumeratorUse> all;
    for (const ProbePlan& p : set.probes)
        if (p.rule == rule) all.insert(p.enumerators.begin(), p.enumerators.end());
    return {all.begin(), all.end()};
}

std::vector<EnumeratorUse> enumerators_from(const json& j)
{
    std::vector<EnumeratorUse> out;
    for (const json& u : j) out.push_back({u.at("enum").get<std::string>(), u.at("name").get<std::string>()});
    return out;
}

ValueKind kind_from(const std::string& name)
{
    for (ValueKind k : {ValueKind::Signed, ValueKind::Unsigned, ValueKind::Enum, ValueKind::String, ValueKind::Pointer})
        if (name == value_kind_name(k)) return k;
    throw std::invalid_argument("unknown value kind '" + name + "'");
}

}  // namespace

std::string CompiledRuleSet::manifest_json() const
{
    const CompiledRuleSet& set = *this;
    json j;
    j["format"] = 1;
    j["ring_bytes"] = ring_bytes;
    j["filter"] = set.filter;
    j["rules"] = json::array();
    j["probes"] = json::array();
    for (std::size_t ri = 0; ri < rules.size(); ++ri) {
        const RuleEntry& r = rules[ri];
        json fields = json::array();
        for (const EventField& f : r.event.fields)
            fields.push_back({{"name", f.name}, {"kind", value_kind_name(f.kind)}, {"offset", f.offset}, {"size", f.size},
                              {"enum", f.enum_name}, {"enum_signed", f.enum_signed}});
        json params = json::array();
        for (const auto& [name, value] : r.params) params.push_back({name, value});
        json rule = {{"id", r.id},
                     {"layer", r.layer},
                     {"monitor", r.is_monitor},
                     {"warning", r.condition == ConditionKind::Warn},
                     {"condition", r.condition == ConditionKind::None ? "none" : r.condition == ConditionKind::Drop ? "drop" : "warn"},
                     {"file", r.file},
                     {"line", r.line},
                     {"message", text_json(r.message)},
                     {"hint", text_json(r.hint)},
                     {"params", params},
                     {"instead_of", r.instead_of},
                     {"counted_as", r.counted_as},
                     {"fallback", r.fallback},
                     {"track", r.track},
                     {"skipped", r.skipped},
                     {"filter_lacks_packet", r.filter_lacks_packet},
                     // What a reader from before probes listed their own reads:
                     // every enumerator the rule's probes need.
                     {"enumerators", enumerators_json(rule_enumerators(set, ri))},
                     {"event",
                      {{"struct", r.event.struct_name},
                       {"size", r.event.size},
                       {"packet_offset", r.event.has_packet ? json(r.event.packet_offset) : json(nullptr)},
                       {"stack_offset", r.event.has_stack ? json(r.event.stack_offset) : json(nullptr)},
                       {"fields", fields}}}};
        if (r.is_monitor) rule["source"] = r.source;
        j["rules"].push_back(rule);
    }
    for (const ProbePlan& p : probes) {
        json methods = json::array();
        for (const AttachMethod& m : p.methods) {
            json progs = json::array();
            for (const ProgramSpec& s : m.programs) progs.push_back({{"name", s.name}, {"form", attach_form_name(s.form)}, {"target", s.target}});
            methods.push_back({{"form", attach_form_name(m.form)}, {"programs", progs}});
        }
        j["probes"].push_back({{"rule", p.rule},
                               {"probe", p.probe},
                               {"spelling", p.spelling},
                               {"symbol", p.symbol},
                               {"available", p.available},
                               {"skip_reason", p.skip_reason},
                               {"choices", p.choices},
                               {"methods", methods},
                               {"enumerators", enumerators_json(p.enumerators)}});
    }
    return j.dump(2);
}

std::optional<CompiledRuleSet> read_manifest(const std::string& json_text, std::string& error)
{
    try {
        json j = json::parse(json_text);
        if (j.at("format").get<int>() != 1) {
            error = "manifest format " + j.at("format").dump() + " is not one this rtrace-drop reads (1)";
            return std::nullopt;
        }
        CompiledRuleSet set;
        std::vector<std::vector<EnumeratorUse>> per_rule;
        set.ring_bytes = j.at("ring_bytes").get<std::uint32_t>();
        set.filter = j.at("filter").get<std::string>();
        for (const json& r : j.at("rules")) {
            RuleEntry e;
            e.id = r.at("id").get<std::string>();
            e.layer = r.at("layer").get<int>();
            e.is_monitor = r.at("monitor").get<bool>();
            std::string cond = r.at("condition").get<std::string>();
            e.condition = cond == "drop" ? ConditionKind::Drop : cond == "warn" ? ConditionKind::Warn : ConditionKind::None;
            e.file = r.at("file").get<std::string>();
            e.line = r.at("line").get<std::uint32_t>();
            e.message = text_from(r.at("message"));
            e.hint = text_from(r.at("hint"));
            for (const json& p : r.at("params")) e.params.emplace_back(p.at(0).get<std::string>(), p.at(1).get<std::string>());
            e.instead_of = r.at("instead_of").get<std::vector<std::string>>();
            // Objects built before 'counted as' existed declare no counter.
            if (r.contains("counted_as")) e.counted_as = r.at("counted_as").get<std::vector<std::vector<std::string>>>();
            e.fallback = r.at("fallback").get<bool>();
            e.track = r.value("track", false);  // objects built before track rules have none
            e.skipped = r.at("skipped").get<bool>();
            e.filter_lacks_packet = r.at("filter_lacks_packet").get<bool>();
            // Objects built before probes listed their own enumerators listed
            // them per rule: each probe of the rule then needs them all.
            if (r.contains("enumerators")) per_rule.push_back(enumerators_from(r.at("enumerators")));
            else per_rule.emplace_back();
            if (e.is_monitor) e.source = r.at("source").get<std::string>();
            const json& ev = r.at("event");
            e.event.struct_name = ev.at("struct").get<std::string>();
            e.event.size = ev.at("size").get<std::uint32_t>();
            e.event.has_packet = !ev.at("packet_offset").is_null();
            if (e.event.has_packet) e.event.packet_offset = ev.at("packet_offset").get<std::uint32_t>();
            e.event.has_stack = !ev.at("stack_offset").is_null();
            if (e.event.has_stack) e.event.stack_offset = ev.at("stack_offset").get<std::uint32_t>();
            for (const json& f : ev.at("fields")) {
                EventField field;
                field.name = f.at("name").get<std::string>();
                field.kind = kind_from(f.at("kind").get<std::string>());
                field.offset = f.at("offset").get<std::uint32_t>();
                field.size = f.at("size").get<std::uint32_t>();
                field.enum_name = f.at("enum").get<std::string>();
                field.enum_signed = f.at("enum_signed").get<bool>();
                if (field.offset > e.event.size || field.size > e.event.size - field.offset) {
                    error = "capture '" + field.name + "' of rule " + e.id + " lies outside its event";
                    return std::nullopt;
                }
                e.event.fields.push_back(field);
            }
            set.rules.push_back(std::move(e));
        }
        for (const json& p : j.at("probes")) {
            ProbePlan plan;
            plan.rule = p.at("rule").get<std::size_t>();
            if (plan.rule >= set.rules.size()) {
                error = "a probe names rule " + std::to_string(plan.rule) + ", which is not in the table";
                return std::nullopt;
            }
            plan.probe = p.at("probe").get<std::size_t>();
            plan.spelling = p.at("spelling").get<std::string>();
            std::optional<Probe> target = Probe::from_spelling(plan.spelling);
            if (!target) {
                error = "a probe is spelled '" + printable(plan.spelling.substr(0, 80)) + "', which is no probe";
                return std::nullopt;
            }
            plan.target = *target;
            plan.symbol = p.at("symbol").get<std::string>();
            plan.available = p.at("available").get<bool>();
            plan.skip_reason = p.at("skip_reason").get<std::string>();
            plan.choices = p.at("choices").get<std::vector<std::string>>();
            for (const json& m : p.at("methods")) {
                AttachMethod method;
                method.form = form_from(m.at("form").get<std::string>());
                for (const json& s : m.at("programs"))
                    method.programs.push_back({s.at("name").get<std::string>(), form_from(s.at("form").get<std::string>()),
                                               s.at("target").get<std::string>()});
                plan.methods.push_back(std::move(method));
            }
            plan.enumerators = p.contains("enumerators") ? enumerators_from(p.at("enumerators")) : per_rule[plan.rule];
            set.probes.push_back(std::move(plan));
        }
        return set;
    } catch (const std::exception& e) {
        error = std::string("damaged manifest: ") + e.what();
        return std::nullopt;
    }
}

}  // namespace rtd
