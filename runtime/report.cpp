#include "runtime/report.h"
#include "runtime/json_line.h"
#include "runtime/path_text.h"

#include <ctime>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace rtd {

namespace {

std::string capture_text(const CaptureValue& v)
{
    switch (v.field->kind) {
    case ValueKind::Signed: return std::to_string(v.s);
    case ValueKind::Unsigned: return std::to_string(v.u);
    case ValueKind::Pointer: return fmt::format("{:#x}", v.u);
    case ValueKind::Enum:
    case ValueKind::String: return v.text;
    }
    return {};
}

std::string layer_name(int layer) { return layer ? fmt::format("l{}", layer) : "l?"; }

std::string probe_spelling(const DecodedEvent& e, const ReportContext& ctx)
{
    for (const ProbePlan& p : ctx.set.probes)
        if (p.rule == e.rule && p.probe == e.probe) return p.spelling;
    return {};
}

std::string dev_text(const PacketInfo& p) { return !p.dev.empty() ? p.dev : p.ifindex ? fmt::format("if{}", p.ifindex) : "-"; }

// Wall-clock time, to the microsecond.
std::string timestamp(std::int64_t realtime_ns, bool iso)
{
    std::time_t secs = static_cast<std::time_t>(realtime_ns / 1000000000);
    long micros = static_cast<long>((realtime_ns % 1000000000) / 1000);
    std::tm tm{};
    char buf[64];
    if (iso) {
        gmtime_r(&secs, &tm);
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
        return fmt::format("{}.{:06}Z", buf, micros);
    }
    localtime_r(&secs, &tm);
    std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    return fmt::format("{}.{:06}", buf, micros);
}

std::string timestamp(const DecodedEvent& e, const ReportContext& ctx, bool iso)
{
    return timestamp(static_cast<std::int64_t>(e.mono_ns) + ctx.realtime_offset_ns, iso);
}

}  // namespace

std::string placeholder_value(const std::string& name, const DecodedEvent& e, const ReportContext& ctx)
{
    const RuleEntry& rule = ctx.set.rules[e.rule];
    for (const CaptureValue& v : e.captures)
        if (v.field->name == name) return capture_text(v);
    for (const auto& [param, value] : rule.params)
        if (param == name) return value;
    if (name == "comm") return e.comm;
    if (name == "pid") return std::to_string(e.pid);
    if (name == "cpu") return std::to_string(e.cpu);
    if (name == "netns") return std::to_string(e.netns);
    if (name == "rule") return rule.id;
    if (name == "layer") return layer_name(rule.layer);
    if (name == "probe") return probe_spelling(e, ctx);
    if (name == "reason") return e.has_reason ? ctx.decoder->reason_name(e.reason) : "";
    if (name == "location") return e.has_reason ? ctx.symbols->describe(e.location) : "";
    if (name == "reason_hint") {
        if (!e.has_reason) return "";
        std::string reason = ctx.decoder->reason_name(e.reason);
        const auto* table = e.rule < ctx.reason_hints.size() ? ctx.reason_hints[e.rule] : nullptr;
        if (table)
            if (auto it = table->find(reason); it != table->end()) return it->second;
        return fmt::format("see SKB_DROP_REASON_{} in the kernel's include/net/dropreason-core.h", reason);
    }
    if (e.packet) {
        const PacketInfo& p = *e.packet;
        if (name == "packet") return format_packet(p);
        if (name == "saddr") return p.saddr;
        if (name == "daddr") return p.daddr;
        if (name == "sport") return std::to_string(p.sport);
        if (name == "dport") return std::to_string(p.dport);
        if (name == "proto") return protocol_name(p.proto);
        if (name == "tcp_flags") return tcp_flags_text(p.tcp_flags);
        if (name == "len") return std::to_string(p.len);
        if (name == "dev") return dev_text(p);
        if (name == "ifindex") return std::to_string(p.ifindex);
        if (name == "mark") return std::to_string(p.mark);
    }
    return {};
}

std::string fill(const TextTemplate& t, const std::function<std::string(const std::string&)>& value)
{
    std::string out;
    for (const auto& piece : t.pieces) out += piece.placeholder ? value(piece.text) : piece.text;
    return out;
}

std::string evidence_key(const TextTemplate::Piece& piece, const DecodedEvent& e, const ReportContext& ctx)
{
    std::string arg;
    for (const auto& a : piece.arg) arg += a.placeholder ? placeholder_value(a.text, e, ctx) : a.text;
    return piece.evidence + ":" + arg;
}

std::string fill(const TextTemplate& t, const DecodedEvent& e, const ReportContext& ctx)
{
    std::string out;
    for (const auto& piece : t.pieces) {
        if (!piece.placeholder) {
            out += piece.text;
        } else if (piece.evidence.empty()) {
            out += placeholder_value(piece.text, e, ctx);
        } else {
            const std::string key = evidence_key(piece, e, ctx);
            auto it = std::find_if(e.evidence.begin(), e.evidence.end(), [&](const auto& kv) { return kv.first == key; });
            out += it != e.evidence.end() ? it->second : "(not looked up)";
        }
    }
    return out;
}

std::string event_message(const DecodedEvent& e, const ReportContext& ctx)
{
    const RuleEntry& rule = ctx.set.rules[e.rule];
    if (rule.message) return fill(*rule.message, e, ctx);
    if (e.has_reason) return fmt::format("dropped: {} at {}", ctx.decoder->reason_name(e.reason), ctx.symbols->describe(e.location));
    return rule.condition == ConditionKind::Warn ? "warning" : "dropped";
}

std::string placeholder_value(const std::string& name, const MonitorFinding& f, const ReportContext& ctx)
{
    const RuleEntry& rule = ctx.set.rules[f.rule];
    for (const auto& [capture, value] : f.captures)
        if (capture == name) return std::to_string(value);
    for (const auto& [param, value] : rule.params)
        if (param == name) return value;
    if (name == "value") return std::to_string(f.value);
    if (name == "delta") return std::to_string(f.delta);
    if (name == "rate") return std::to_string(f.rate);
    if (name == "dev") return f.dev;
    if (name == "source") return rule.source;
    if (name == "netns") return std::to_string(f.netns);
    if (name == "rule") return rule.id;
    if (name == "layer") return layer_name(rule.layer);
    return {};
}

std::string fill(const TextTemplate& t, const MonitorFinding& f, const ReportContext& ctx)
{
    return fill(t, [&](const std::string& name) { return placeholder_value(name, f, ctx); });
}

std::string monitor_message(const MonitorFinding& f, const ReportContext& ctx)
{
    const RuleEntry& rule = ctx.set.rules[f.rule];
    if (rule.message) return fill(*rule.message, f, ctx);
    std::string where = f.dev.empty() ? rule.source : fmt::format("{} on {}", rule.source, f.dev);
    return fmt::format("{} = {} ({:+})", where, f.value, f.delta);
}

void TextOutput::event(const DecodedEvent& e)
{
    const RuleEntry& rule = ctx_.set.rules[e.rule];
    auto paint = [&](const char* code, const std::string& s) { return color_ ? fmt::format("\033[{}m{}\033[0m", code, s) : s; };
    std::string line = fmt::format("{} {} {}", timestamp(e, ctx_, false), layer_name(rule.layer), paint("1", rule.id));
    if (e.packet) line += fmt::format(" {} dev {}", format_packet(*e.packet), dev_text(*e.packet));
    line += fmt::format(" netns {}: {}", e.netns, paint(rule.condition == ConditionKind::Warn ? "33" : "31", event_message(e, ctx_)));
    std::fprintf(out_, "%s\n", line.c_str());
    for (const std::string& l : path_lines(e, color_)) std::fprintf(out_, "%s\n", l.c_str());
    if (ctx_.stacks)
        for (const std::string& frame : ctx_.symbols->describe_stack(e.stack)) std::fprintf(out_, "    at %s\n", frame.c_str());
    if (hints_ && rule.hint) std::fprintf(out_, "    %s %s\n", paint("36", "hint:").c_str(), fill(*rule.hint, e, ctx_).c_str());
}

void TextOutput::monitor(const MonitorFinding& f)
{
    const RuleEntry& rule = ctx_.set.rules[f.rule];
    auto paint = [&](const char* code, const std::string& s) { return color_ ? fmt::format("\033[{}m{}\033[0m", code, s) : s; };
    std::string line = fmt::format("{} {} {}", timestamp(f.time_ns, false), layer_name(rule.layer), paint("1", rule.id));
    if (!f.dev.empty()) line += fmt::format(" dev {}", f.dev);
    line += fmt::format(" netns {}: {}", f.netns, paint(rule.condition == ConditionKind::Warn ? "33" : "31", monitor_message(f, ctx_)));
    std::fprintf(out_, "%s\n", line.c_str());
    if (hints_ && rule.hint) std::fprintf(out_, "    %s %s\n", paint("36", "hint:").c_str(), fill(*rule.hint, f, ctx_).c_str());
}

void JsonOutput::event(const DecodedEvent& e)
{
    // Keys in byte order, as the monitor lines (nlohmann::json) print theirs.
    const RuleEntry& rule = ctx_.set.rules[e.rule];
    line_.clear();
    JsonLine j(line_);
    j.begin_object("captures");
    std::vector<const CaptureValue*> by_name;
    for (const CaptureValue& v : e.captures) by_name.push_back(&v);
    std::sort(by_name.begin(), by_name.end(), [](const CaptureValue* a, const CaptureValue* b) { return a->field->name < b->field->name; });
    for (const CaptureValue* v : by_name) {
        switch (v->field->kind) {
        case ValueKind::Signed: j.field(v->field->name, v->s); break;
        case ValueKind::Unsigned: j.field(v->field->name, v->u); break;
        default: j.field(v->field->name, capture_text(*v));
        }
    }
    j.end_object();
    j.field("comm", e.comm);
    j.field("cpu", e.cpu);
    if (!e.evidence.empty()) {
        j.begin_object("evidence");
        for (const auto& [key, value] : e.evidence) j.field(key, value);
        j.end_object();
    }
    if (rule.hint) j.field("hint", fill(*rule.hint, e, ctx_));
    j.field("kind", rule.condition == ConditionKind::Warn ? "warning" : "drop");
    j.field("layer", layer_name(rule.layer));
    if (e.has_reason) j.field("location", ctx_.symbols->describe(e.location));
    j.field("message", event_message(e, ctx_));
    j.field("netns", e.netns);
    if (e.packet) {
        const PacketInfo& p = *e.packet;
        j.begin_object("packet");
        j.field("daddr", p.daddr);
        j.field("dev", p.dev);
        j.field("dport", p.dport);
        j.field("ifindex", p.ifindex);
        j.field("len", p.len);
        j.field("mark", p.mark);
        j.field("netns", e.netns);
        j.field("proto", p.family ? protocol_name(p.proto) : std::string());
        j.field("saddr", p.saddr);
        j.field("sport", p.sport);
        j.field("tcp_flags", p.proto == 6 ? tcp_flags_text(p.tcp_flags) : std::string());
        j.end_object();
    }
    if (e.path) write_path_json(j, *e.path);  // no --track: no "path" key
    j.field("pid", e.pid);
    j.field("probe", probe_spelling(e, ctx_));
    if (e.has_reason) j.field("reason", ctx_.decoder->reason_name(e.reason));
    j.field("rule", rule.id);
    if (!e.stack.empty() && ctx_.stacks) {
        j.begin_array("stack");
        for (const std::string& frame : ctx_.symbols->describe_stack(e.stack)) j.element(frame);
        j.end_array();
    }
    j.field("tid", e.tid);
    j.field("time", timestamp(e, ctx_, true));
    j.finish();
    std::fwrite(line_.data(), 1, line_.size(), out_);
}

void JsonOutput::monitor(const MonitorFinding& f)
{
    using nlohmann::json;
    const RuleEntry& rule = ctx_.set.rules[f.rule];
    json j;
    j["time"] = timestamp(f.time_ns, true);
    j["kind"] = "monitor";
    j["severity"] = rule.condition == ConditionKind::Warn ? "warning" : "drop";
    j["rule"] = rule.id;
    j["layer"] = layer_name(rule.layer);
    j["source"] = rule.source;
    j["dev"] = f.dev.empty() ? json(nullptr) : json(f.dev);
    j["value"] = f.value;
    j["delta"] = f.delta;
    j["rate"] = f.rate;
    j["message"] = monitor_message(f, ctx_);
    if (rule.hint) j["hint"] = fill(*rule.hint, f, ctx_);
    json captures = json::object();
    for (const auto& [name, value] : f.captures) captures[name] = value;
    j["captures"] = std::move(captures);
    j["netns"] = f.netns;
    std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), out_);
}

namespace {

std::string flow_text(const std::optional<PacketInfo>& packet)
{
    if (!packet || !packet->family) return "-";
    const PacketInfo& p = *packet;
    bool ports = p.proto == 6 || p.proto == 17 || p.proto == 132;
    return ports ? fmt::format("{} {} > {}:{}", protocol_name(p.proto), p.saddr, p.daddr, p.dport)
                 : fmt::format("{} {} > {}", protocol_name(p.proto), p.saddr, p.daddr);
}

}  // namespace

void FlowSummary::event(const DecodedEvent& e)
{
    // run --track: a flow is named by its first hop, before any NAT changed
    // it (as rtd_count_flow keys the kernel's count, which a sample joins).
    const bool by_first_hop = e.path && !e.path->hops.empty() && e.path->hops[0].tuple;
    std::tuple<std::size_t, std::string> flow{e.rule, flow_text(by_first_hop ? e.path->hops[0].tuple : e.packet)};
    if (!e.sample) ++counts_[flow];
    // A flow's first drop, when its hint (or message) asks for evidence:
    // filled, it shows under the flow's row. Counted in the kernel, that drop
    // comes as a sample (already counted), one per flow for the whole run,
    // so it is kept across --interval tables.
    const RuleEntry& r = ctx_.set.rules[e.rule];
    const std::optional<TextTemplate>& t = r.hint && r.hint->asks_evidence() ? r.hint : r.message;
    if (t && t->asks_evidence() && !evidence_.count(flow)) evidence_.emplace(std::move(flow), fill(*t, e, ctx_));
}

void FlowSummary::add(std::size_t rule, const std::optional<PacketInfo>& packet, std::uint64_t n) { counts_[{rule, flow_text(packet)}] += n; }

void FlowSummary::monitor(const MonitorFinding& f)
{
    MonitorTotal& t = monitors_[{f.rule, f.dev.empty() ? "-" : f.dev}];
    ++t.findings;
    t.value = f.value;
    t.delta += f.delta;
}

void FlowSummary::print(std::FILE* out, std::size_t top) const
{
    std::vector<std::pair<std::uint64_t, const std::tuple<std::size_t, std::string>*>> rows;
    for (const auto& [key, n] : counts_) rows.emplace_back(n, &key);
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    // A run of monitors only has no flows: no empty table for them.
    if (!rows.empty() || monitors_.empty()) std::fprintf(out, "%-32s %-48s %10s\n", "RULE", "FLOW", "EVENTS");
    for (std::size_t i = 0; i < rows.size() && i < top; ++i) {
        std::fprintf(out, "%-32s %-48s %10llu\n", ctx_.set.rules[std::get<0>(*rows[i].second)].id.c_str(),
                     std::get<1>(*rows[i].second).c_str(), static_cast<unsigned long long>(rows[i].first));
        if (auto it = evidence_.find(*rows[i].second); it != evidence_.end()) std::fprintf(out, "  %s\n", it->second.c_str());
    }
    if (rows.size() > top) std::fprintf(out, "(%zu more flows)\n", rows.size() - top);
    if (!monitors_.empty()) {
        std::fprintf(out, "%-32s %-16s %16s %12s %10s\n", "MONITOR", "DEV", "VALUE", "DELTA", "FINDINGS");
        for (const auto& [key, t] : monitors_)
            std::fprintf(out, "%-32s %-16s %16lld %12lld %10llu\n", ctx_.set.rules[std::get<0>(key)].id.c_str(),
                         std::get<1>(key).c_str(), static_cast<long long>(t.value), static_cast<long long>(t.delta),
                         static_cast<unsigned long long>(t.findings));
    }
    std::fflush(out);
}

}  // namespace rtd
