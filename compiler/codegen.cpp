#include "compiler/codegen.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "compiler/expr_c.h"
#include "compiler/lower.h"

namespace rtd {

namespace {

// The marker that opens each rule's part of the generated file; clang's
// errors on that file are traced back to a rule through it.
constexpr std::string_view kRuleMarker = "/* rule ";

// Whether --summary sends the rule's first drop of each flow (RTD_EV_SAMPLE):
// only user space can look up the evidence its message or hint asks for.
bool flow_samples(const RuleDecl& d) { return (d.message && d.message->asks_evidence()) || (d.hint && d.hint->asks_evidence()); }

class Generator {
public:
    Generator(CompiledRuleSet& set, const std::vector<const RuleDecl*>& rules, const std::vector<TypedRule>& typed, const Btf& btf,
              const EmitOptions& options);
    void run();

private:
    void collect_covered_reasons();
    void emit_event_struct(const EventSchema& s);
    void emit_probe(std::size_t plan_index);
    void emit_method(std::size_t plan_index, const AttachMethod& m);
    std::size_t emit_dispatchers();  // how many
    std::string track_filter() const;
    std::string reason_guard(const TypedProbe& p) const;

    // One probe's body function, in the order it runs.
    std::string body(std::size_t rule, std::size_t probe);
    std::string prologue(std::size_t rule, std::size_t probe, const TypedProbe& p);
    void lower_early_captures(BodyWriter& w, std::string& code, const TypedRule& r, const TypedProbe& p, std::set<std::string>& early);
    void lower_capture(BodyWriter& w, std::string& code, const TypedRule& r, const TypedProbe& p, std::size_t i);
    void filters(std::string& code, std::size_t rule, std::size_t probe, const TypedProbe& p, bool& locals, bool& decoded);
    void pcap_filter(std::string& code, const TypedProbe& p);
    void fill_event(std::string& code, BodyWriter& w, std::size_t rule, std::size_t probe, const TypedProbe& p, bool locals, bool decoded);

    CompiledRuleSet& set_;
    const std::vector<const RuleDecl*>& rules_;
    std::vector<const TypedRule*> typed_;  // by rule index; null for monitors
    const Btf& btf_;
    const EmitOptions& options_;
    // kfree_skb reasons named by non-fallback rules: value -> the enumerator
    // (and its enum) to take through CO-RE, or nothing to use the value.
    std::map<std::uint64_t, std::optional<EnumeratorUse>> covered_reasons_;
    std::string defs_;   // event structs and bodies
    std::string progs_;  // SEC() wrappers
    bool stash_ = false;
};

Generator::Generator(CompiledRuleSet& set, const std::vector<const RuleDecl*>& rules, const std::vector<TypedRule>& typed,
                     const Btf& btf, const EmitOptions& options)
    : set_(set), rules_(rules), typed_(rules.size(), nullptr), btf_(btf), options_(options)
{
    for (const TypedRule& r : typed) {
        auto at = std::find(rules.begin(), rules.end(), r.decl);
        if (at != rules.end()) typed_[static_cast<std::size_t>(at - rules.begin())] = &r;
    }
}

// The drop reasons the specific rules name ('reason == X' in a condition):
// fallback rules leave those to them, so one drop is reported once.
void Generator::collect_covered_reasons()
{
    std::function<void(const TExpr&)> collect = [&](const TExpr& e) {
        if (const TExpr* c = reason_constant(e)) covered_reasons_.emplace(c->value, core_enumerator(btf_, *c));
        for (const TExprPtr& k : e.kids) collect(*k);
    };
    for (const TypedRule* r : typed_) {
        if (!r || r->decl->fallback) continue;
        for (const TypedProbe& p : r->probes)
            if (p.condition && is_kfree_skb(*p.probe)) collect(*p.condition);
    }
}

void Generator::emit_event_struct(const EventSchema& s)
{
    defs_ += fmt::format("struct {} {{\n    struct rtd_event_header h;\n", s.struct_name);
    if (s.has_packet) defs_ += "    struct rtd_packet pkt;\n";
    if (s.has_stack) defs_ += "    struct rtd_stack stack;\n";
    for (std::size_t i = 0; i < s.fields.size(); ++i) {
        const EventField& f = s.fields[i];
        const char* comment_kind = value_kind_name(f.kind);
        if (f.kind == ValueKind::String) defs_ += fmt::format("    char c{}[{}]; /* {}: {} */\n", i, f.size, f.name, comment_kind);
        else {
            bool sign = f.kind == ValueKind::Signed || (f.kind == ValueKind::Enum && f.enum_signed);
            defs_ += fmt::format("    {} c{}; /* {}: {} */\n", sign ? "__s64" : "__u64", i, f.name, comment_kind);
        }
    }
    defs_ += "};\n";
    // A read-only global of the struct's type puts the layout into the
    // object's BTF (locals' types are not there), where the runtime checks it.
    defs_ += fmt::format("struct {} *const volatile rtd_layout_{} = 0;\n\n", s.struct_name, s.struct_name.substr(7));
}

// Typed locals for the arguments the rule reads (and the packet's). A
// function of its own (a BPF-to-BPF call), compiled once however many
// programs run it (its forms, its tracepoint's dispatcher). BPF calls take
// five registers, so the arguments come as an array: r0.. then the return
// value. `dispatched`: run by its tracepoint's dispatcher, which counts the
// hits of all its rules once.
std::string Generator::prologue(std::size_t rule, std::size_t probe, const TypedProbe& p)
{
    const auto [args, ret] = uses_of(p);
    const std::size_t n = p.signature.params.size();
    std::string out = fmt::format("static __noinline int rtd_body_{}_{}(void *ctx, const __u64 *rv, int dispatched)\n{{\n", rule, probe);
    out += "    __u64 __attribute__((unused))";
    for (std::size_t i = 0; i < n; ++i) out += fmt::format(" r{0} = rv[{0}],", i);
    out += fmt::format(" rret = rv[{}];\n", n);
    for (unsigned i : args) {
        const Type& t = p.signature.params[i].type;
        std::string ct = c_type(btf_, t).value_or("void *");
        out += fmt::format("    {} = ({}){}r{};\n", declare(ct, fmt::format("a{}", i)), ct, t.is_pointer() ? "(unsigned long)" : "", i);
    }
    if (ret) {
        std::string ct = c_type(btf_, p.signature.ret).value_or("__u64");
        out += fmt::format("    {} = ({}){}rret;\n", declare(ct, "ret"), ct, p.signature.ret.is_pointer() ? "(unsigned long)" : "");
    }
    // A dispatcher has looked at the gate and counted the hit already.
    out += fmt::format("    struct rtd_counter *cnt = rtd_counter({});\n\n    if (!dispatched) {{\n        if (!rtd_gate_open())\n"
                       "            return 0;\n        if (cnt)\n            cnt->hits++;\n    }}\n",
                       rule);
    return out;
}

void Generator::lower_capture(BodyWriter& w, std::string& code, const TypedRule& r, const TypedProbe& p, std::size_t i)
{
    const TExpr& t = *p.captures[i];
    BodyWriter::Value v = w.lower(t);
    if (!btf_.is_array(t.type)) {
        std::string value = w.load(v);
        std::string ct = c_type(btf_, t.type).value_or("__u64");
        code += fmt::format("    {} = {};\n", declare(ct, fmt::format("v{}", i)), value);
        BodyWriter::Value local;
        local.c = fmt::format("v{}", i);
        local.type = t.type;
        v = local;
    }
    w.captures[r.decl->captures[i].name] = v;
}

// The captures the condition needs (transitively) come before it, the
// others only once it holds: most hits of a busy tracepoint stop early.
// (The packet's too: it is read before the other captures, which a
// filtered or summarised drop never needs.)
void Generator::lower_early_captures(BodyWriter& w, std::string& code, const TypedRule& r, const TypedProbe& p,
                                     std::set<std::string>& early)
{
    const RuleDecl& decl = *r.decl;
    if (p.condition) collect_captures(*p.condition, early);
    if (p.packet) collect_captures(*p.packet, early);
    for (bool grew = true; grew;) {
        grew = false;
        for (std::size_t i = 0; i < decl.captures.size(); ++i)
            if (early.count(decl.captures[i].name) && p.captures[i]) {
                std::size_t before = early.size();
                collect_captures(*p.captures[i], early);
                grew = grew || early.size() != before;
            }
    }
    for (std::size_t i : r.capture_order)
        if (early.count(decl.captures[i].name)) lower_capture(w, code, r, p, i);
}

// After the condition: `run --netns` (a .rodata value, so a built object
// takes it too), then the --where filter. The header and packet the filter
// reads are decoded once, on the stack, and copied into the event if it
// passes; a rule without 'packet' shows the filter a zeroed packet.
void Generator::filters(std::string& code, std::size_t rule, std::size_t probe, const TypedProbe& p, bool& locals, bool& decoded)
{
    code += fmt::format("    if (rtd_netns_only && rtd_drop_netns({}) != rtd_netns_only) {{\n        if (cnt)\n            cnt->filtered++;\n"
                        "        return 0;\n    }}\n",
                        p.packet ? "skb" : "0");
    const Filter* filter = options_.filter ? &*options_.filter : nullptr;
    locals = filter && (filter->uses_packet || filter->uses_task || filter->uses_netns);
    decoded = locals && p.packet && (filter->uses_packet || filter->uses_netns);
    if (!filter) return;
    // run --track: a packet the filter accepted on an earlier hop passes.
    const std::string tracked = p.packet ? " && !rtd_track_matched(path)" : "";
    code += "    /* the --where filter */\n";
    const std::string refuse = "    if (!({}){}) {{\n        if (cnt)\n            cnt->filtered++;\n        return 0;\n    }}\n";
    if (!locals) {
        code += fmt::format(fmt::runtime(refuse), filter->c_expr, tracked);
        return;
    }
    code += "    struct rtd_event_header fh;\n    struct rtd_packet fp;\n\n";
    code += "    __builtin_memset(&fh, 0, sizeof(fh));\n    __builtin_memset(&fp, 0, sizeof(fp));\n";
    code += fmt::format("    rtd_fill_header(&fh, {}, {});\n", rule, probe);
    if (decoded) code += "    rtd_decode_packet(&fp, &fh, skb);\n";
    code += "    {\n        const struct rtd_event_header *h = &fh;\n        const struct rtd_packet *p = &fp;\n\n";
    code += fmt::format("        if (!({}){}) {{\n            if (cnt)\n                cnt->filtered++;\n            return 0;\n        }}\n    }}\n",
                        filter->c_expr, tracked);
}

// `run --filter`: libpcap's program over the packet's first bytes, which
// stay in this CPU's buffer for the event (--pcap). No packet, no match.
void Generator::pcap_filter(std::string& code, const TypedProbe& p)
{
    if (!options_.pcap_filter) return;
    code += "    /* the --filter expression (libpcap's, translated) */\n";
    if (!p.packet) {
        code += "    if (cnt)\n        cnt->filtered++;\n    return 0;\n";
        return;
    }
    code += "    cap = rtd_capture_packet(skb, rtd_snaplen > RTD_FILTER_WINDOW ? rtd_snaplen : RTD_FILTER_WINDOW);\n";
    code += "    if ((!cap || !rtd_pcap_match(cap)) && !rtd_track_matched(path)) {\n        if (cnt)\n            cnt->filtered++;\n        return 0;\n    }\n";
}

// Reserve, fill, submit: nothing between reserve and submit can fail or return.
void Generator::fill_event(std::string& code, BodyWriter& w, std::size_t rule, std::size_t probe, const TypedProbe& p, bool locals,
                           bool decoded)
{
    const EventSchema& schema = set_.rules[rule].event;
    // With --pcap (rtd_snaplen, a constant to the verifier) a packet's event
    // has room for its bytes after it.
    if (p.packet) {
        code += "    if (rtd_snaplen && !cap)\n        cap = rtd_capture_packet(skb, rtd_snaplen);\n";
        code += fmt::format("    struct {} *ev = bpf_ringbuf_reserve(&rtd_events, sizeof(*ev) + (rtd_track_on ? sizeof(struct rtd_path) : 0) +\n"
                            "                                        (rtd_snaplen ? sizeof(struct rtd_capture) + rtd_snaplen : 0), 0);\n\n",
                            schema.struct_name);
    } else {
        code += fmt::format("    struct {} *ev = bpf_ringbuf_reserve(&rtd_events, sizeof(*ev), 0);\n\n", schema.struct_name);
    }
    const bool samples = flow_samples(*typed_[rule]->decl);
    const char* counted = samples ? "cnt && !sample" : "cnt";  // a sample is counted in rtd_flows
    code += fmt::format("    if (!ev) {{\n        if ({})\n            cnt->lost++;\n        return 0;\n    }}\n", counted);
    code += "    __builtin_memset(ev, 0, sizeof(*ev));\n";
    if (locals) code += "    __builtin_memcpy(&ev->h, &fh, sizeof(fh));\n";
    else code += fmt::format("    rtd_fill_header(&ev->h, {}, {});\n", rule, probe);
    if (decoded) code += "    __builtin_memcpy(&ev->pkt, &fp, sizeof(fp));\n";
    else if (p.packet) code += "    rtd_decode_packet(&ev->pkt, &ev->h, skb);\n";
    if (p.packet)
        code += "    if (rtd_track_on)\n        rtd_put_path(&ev->h, ev + 1, path);\n"
                "    if (rtd_snaplen)\n        rtd_put_capture(&ev->h, (char *)(ev + 1) + (rtd_track_on ? sizeof(struct rtd_path) : 0), cap);\n";
    if (is_kfree_skb(*p.probe)) {
        for (std::size_t i = 0; i < p.signature.params.size(); ++i) {
            if (p.signature.params[i].name == "reason") code += fmt::format("    ev->h.reason = (__u32)r{};\n", i);
            if (p.signature.params[i].name == "location") code += fmt::format("    ev->h.location = r{};\n", i);
        }
        code += "    ev->h.flags |= RTD_EV_REASON;\n";
    }
    if (samples) code += "    if (sample)\n        ev->h.flags |= RTD_EV_SAMPLE;\n";
    if (schema.has_stack) {
        code += "    if (rtd_record_stacks) {\n";
        code += "        ev->stack.bytes = bpf_get_stack(ctx, ev->stack.ips, sizeof(ev->stack.ips), 0);\n";
        code += "        ev->h.flags |= RTD_EV_STACK;\n    }\n";
    }
    for (std::size_t i = 0; i < schema.fields.size(); ++i) {
        const EventField& f = schema.fields[i];
        if (!p.captures[i]) continue;
        const BodyWriter::Value& v = w.captures.at(f.name);
        if (f.kind == ValueKind::String && !btf_.is_array(p.captures[i]->type)) {
            // A 'char *' capture: the string it points to.
            code += fmt::format("    if ({0})\n        bpf_probe_read_kernel_str(ev->c{1}, sizeof(ev->c{1}), (const void *)({0}));\n", v.c, i);
        } else if (f.kind == ValueKind::String) {
            code += fmt::format("    if ({})\n        bpf_core_read_str(ev->c{}, sizeof(ev->c{}), &({}));\n", v.guard_or_true(), i, i, v.c);
        } else {
            // Widen from the value's own width and signedness, so an unsigned
            // byte of 0xff is 255 in the event, whatever C thinks of 'char'.
            bool sign = f.kind == ValueKind::Signed || (f.kind == ValueKind::Enum && f.enum_signed);
            std::string width;
            if (f.kind != ValueKind::Pointer) {
                const Type& t = p.captures[i]->type;
                width = fmt::format("({})", builtin_c_name(scalar_of_size(btf_.size(t), btf_.is_signed(t))));
            }
            code += fmt::format("    ev->c{} = ({}){}({});\n", i, sign ? "__s64" : "__u64", f.kind == ValueKind::Pointer ? "(unsigned long)" : width, v.c);
        }
    }
    code += fmt::format("    bpf_ringbuf_submit(ev, rtd_submit_flags());\n    if ({})\n        cnt->emitted++;\n    return 0;\n}}\n\n", counted);
}

std::string Generator::body(std::size_t rule, std::size_t probe)
{
    const TypedRule& r = *typed_[rule];
    const TypedProbe& p = r.probes[probe];
    const RuleDecl& decl = *r.decl;
    std::string code;
    BodyWriter w(btf_, code);
    std::set<std::string> early;
    lower_early_captures(w, code, r, p, early);
    if (decl.track && p.packet) {
        // A track rule: a hop of its packet's path (run --track), no drop.
        code += fmt::format("    struct sk_buff *skb = {};\n\n    if (rtd_track_on)\n        rtd_track_hop(skb, RTD_HOP_RULE, {});\n    return 0;\n}}\n\n",
                            w.rvalue(*p.packet), rule);
        return prologue(rule, probe, p) + code;
    }
    if (decl.fallback && !covered_reasons_.empty()) {
        // Reasons other rules report: theirs, not ours (unless --all).
        for (std::size_t i = 0; i < p.signature.params.size(); ++i)
            if (p.signature.params[i].name == "reason") {
                std::string test;
                for (const auto& [v, u] : covered_reasons_) test += (test.empty() ? "" : " || ") + reason_test(fmt::format("r{}", i), v, u);
                code += fmt::format("    if (!rtd_report_all && ({}))\n        return 0;\n", test);
            }
    }
    if (p.condition) code += fmt::format("    if (!({}))\n        return 0;\n", w.rvalue(*p.condition));
    if (p.noise)
        code += fmt::format("    if (!rtd_report_all && ({})) {{\n        if (cnt)\n            cnt->noise++;\n        return 0;\n    }}\n",
                            w.rvalue(*p.noise));
    code += "    if (cnt)\n        cnt->drops++;\n";
    if (p.packet)
        code += fmt::format("    struct sk_buff *skb = {};\n    struct rtd_capture_buffer *cap = 0;\n"
                            "    struct rtd_path *path = rtd_track_on ? rtd_track_path(skb) : 0;\n",
                            w.rvalue(*p.packet));
    code += fmt::format("    if (rtd_ledger_netns)\n        rtd_ledger_count({}, {});\n", rule, p.packet ? "skb" : "0");
    bool locals = false, decoded = false;
    filters(code, rule, probe, p, locals, decoded);
    pcap_filter(code, p);
    // --metrics: counted by rule and labels in the kernel, events or not.
    std::string reason = "0, 0";
    if (is_kfree_skb(*p.probe))
        for (std::size_t i = 0; i < p.signature.params.size(); ++i)
            if (p.signature.params[i].name == "reason") reason = fmt::format("1, (__u32)r{}", i);
    code += fmt::format("    if (rtd_metrics_labels)\n        rtd_count_drop({}, {}, {});\n", rule, p.packet ? "skb" : "0", reason);
    // --summary: counted by flow in the kernel, no event (and no rate limit:
    // nothing is sent); but a rule whose message or hint asks for evidence,
    // with rtd_flow_samples, also sends the first drop of each flow, marked
    // RTD_EV_SAMPLE, for the summary to show its evidence once per flow (the
    // flow table has counted it).
    const bool samples = flow_samples(decl);
    if (!samples)
        code += fmt::format("    if (rtd_summary_only) {{\n        if (rtd_count_flow({}, {})) {{\n            if (cnt)\n                cnt->emitted++;\n"
                            "        }} else if (cnt) {{\n            cnt->lost++;\n        }}\n        return 0;\n    }}\n",
                            rule, p.packet ? "skb, path" : "0, 0");
    else
        code += fmt::format("    int sample = 0;\n    if (rtd_summary_only) {{\n        int counted = rtd_count_flow({}, {});\n"
                            "        if (counted) {{\n            if (cnt)\n                cnt->emitted++;\n"
                            "        }} else if (cnt) {{\n            cnt->lost++;\n        }}\n"
                            "        if (counted != RTD_FLOW_NEW || !rtd_flow_samples)\n            return 0;\n        sample = 1;\n    }}\n",
                            rule, p.packet ? "skb, path" : "0, 0");
    code += "    if (rtd_events_off)\n        return 0;\n";
    for (std::size_t i : r.capture_order)
        if (!early.count(decl.captures[i].name)) lower_capture(w, code, r, p, i);
    code += fmt::format("    if ({}!rtd_rate_ok({})) {{\n        if (cnt)\n            cnt->suppressed++;\n        return 0;\n    }}\n", samples ? "!sample && " : "", rule);
    fill_event(code, w, rule, probe, p, locals, decoded);
    return prologue(rule, probe, p) + code;
}

// The SEC() wrappers of one attach method: each calls the body with the
// arguments its form can see (zeros for the others).
void Generator::emit_method(std::size_t plan_index, const AttachMethod& m)
{
    const ProbePlan& plan = set_.probes[plan_index];
    const TypedProbe& p = typed_[plan.rule]->probes[plan.probe];
    const std::size_t n = p.signature.params.size();
    auto params = [](std::size_t count) {
        std::string s;
        for (std::size_t i = 0; i < count; ++i) s += fmt::format(", __u64 r{}", i);
        return s;
    };
    auto call = [&](std::size_t have, const char* rret) {
        std::string s = "    __u64 rv[] = {";
        for (std::size_t i = 0; i < n; ++i) s += i < have ? fmt::format("r{}, ", i) : std::string("0, ");
        return s + fmt::format("{}}};\n\n    return rtd_body_{}_{}(ctx, rv, 0);\n", rret, plan.rule, plan.probe);
    };
    auto wrapper = [&](const ProgramSpec& s, const char* macro, const std::string& decl, const std::string& text) {
        static const std::map<AttachForm, const char*> sections{{AttachForm::Fentry, "fentry"}, {AttachForm::Fexit, "fexit"},
                                                                 {AttachForm::Kprobe, "kprobe"}, {AttachForm::Kretprobe, "kretprobe"},
                                                                 {AttachForm::TpBtf, "tp_btf"}, {AttachForm::RawTp, "raw_tp"}};
        progs_ += fmt::format("SEC(\"{}/{}\")\nint {}({}{})\n{{\n{}}}\n\n", sections.at(s.form), s.target, macro, s.name, decl, text);
    };
    const std::size_t k = std::min<std::size_t>(n, 5);  // what PT_REGS_PARM1..5 reach
    const bool void_ret = btf_.is_void(p.signature.ret);
    switch (m.form) {
    case AttachForm::TpBtf:
    case AttachForm::RawTp: {
        const std::size_t read = arguments_read(p);
        wrapper(m.programs[0], "BPF_PROG", params(read), call(read, "0"));
        break;
    }
    case AttachForm::Fentry: wrapper(m.programs[0], "BPF_PROG", params(n), call(n, "0")); break;
    case AttachForm::Kprobe: wrapper(m.programs[0], "BPF_KPROBE", params(k), call(k, "0")); break;
    case AttachForm::Fexit:
        wrapper(m.programs[0], "BPF_PROG", params(n) + (void_ret ? "" : ", __u64 rret"), call(n, void_ret ? "0" : "rret"));
        break;
    case AttachForm::Kretprobe:
        if (m.programs.size() == 1) {  // only the return value is read: no entry program
            wrapper(m.programs[0], "BPF_KRETPROBE", ", __u64 rret", call(0, "rret"));
            break;
        }
        stash_ = true;
        {
            std::string put = fmt::format("    rtd_stash_put({}", plan_index);
            for (std::size_t i = 0; i < 5; ++i) put += i < k ? fmt::format(", r{}", i) : std::string(", 0");
            wrapper(m.programs[0], "BPF_KPROBE", params(k), put + ");\n    return 0;\n");
            std::string take = fmt::format(
                "    struct rtd_stash_args s;\n\n    if (!rtd_stash_take({}, &s)) {{\n        struct rtd_counter *cnt = rtd_counter({});\n\n"
                "        if (cnt)\n            cnt->unstashed++;\n        return 0;\n    }}\n",
                plan_index, plan.rule);
            take += "    __u64 rv[] = {";
            for (std::size_t i = 0; i < n; ++i) take += i < k ? fmt::format("s.arg[{}], ", i) : std::string("0, ");
            take += fmt::format("rret}};\n\n    return rtd_body_{}_{}(ctx, rv, 0);\n", plan.rule, plan.probe);
            wrapper(m.programs[1], "BPF_KRETPROBE", ", __u64 rret", take);
        }
        break;
    }
}

void Generator::emit_probe(std::size_t plan_index)
{
    const ProbePlan& plan = set_.probes[plan_index];
    defs_ += body(plan.rule, plan.probe);
    for (const AttachMethod& m : plan.methods) emit_method(plan_index, m);
}

// A test of skb:kfree_skb's reason that the probe's condition implies (a
// top-level `reason == X`): its dispatcher calls the body only when it
// holds, so a drop costs the rules of other reasons a comparison each.
std::string Generator::reason_guard(const TypedProbe& p) const
{
    if (!p.condition || !is_kfree_skb(*p.probe)) return {};
    std::size_t reason = p.signature.params.size();
    for (std::size_t i = 0; i < p.signature.params.size(); ++i)
        if (p.signature.params[i].name == "reason" && btf_.size(p.signature.params[i].type) == 4) reason = i;
    if (reason == p.signature.params.size()) return {};
    std::vector<const TExpr*> conjuncts{p.condition.get()};
    for (std::size_t k = 0; k < conjuncts.size(); ++k) {
        const TExpr& e = *conjuncts[k];
        if (e.kind == TKind::Binary && e.binary_op == BinaryOp::LogAnd) {
            conjuncts.push_back(e.kids[0].get());
            conjuncts.push_back(e.kids[1].get());
        } else if (const TExpr* c = reason_constant(e)) {
            return reason_test(fmt::format("ctx[{}]", reason), c->value, core_enumerator(btf_, *c));
        }
    }
    return {};
}

std::size_t Generator::emit_dispatchers()
{
    std::vector<DispatchSpec> specs = dispatchers(set_);
    if (specs.empty()) return 0;
    progs_ += fmt::format("/* Which probes the dispatchers below run: set by the runtime before load. */\n"
                          "const volatile __u8 rtd_dispatch_on[{}] = {{}};\n\n",
                          set_.probes.size());
    for (const DispatchSpec& d : specs) {
        // Each member reads the arguments it needs, and only when it is on:
        // the verifier sees no read of an argument no running rule needs.
        // Hits are counted once for all its rules (the runtime adds them to each).
        progs_ += fmt::format("SEC(\"{}/{}\")\nint {}(unsigned long long *ctx)\n{{\n    if (!rtd_gate_open())\n        return 0;\n    rtd_count_dispatch({});\n",
                              d.form == AttachForm::TpBtf ? "tp_btf" : "raw_tp", d.target, d.name, d.index);
        for (std::size_t m : d.members) {
            const ProbePlan& p = set_.probes[m];
            const TypedProbe& tp = typed_[p.rule]->probes[p.probe];
            const std::string guard = reason_guard(tp);
            std::string rv;
            for (std::size_t i = 0, read = arguments_read(tp); i <= tp.signature.params.size(); ++i)
                rv += i < read ? fmt::format("ctx[{}], ", i) : std::string("0, ");
            rv.resize(rv.size() - 2);
            progs_ += fmt::format("    if (rtd_dispatch_on[{}]{}) {{\n        __u64 rv[] = {{{}}};\n\n        rtd_body_{}_{}(ctx, rv, 1);\n    }}\n",
                                  m, guard.empty() ? "" : " && " + guard, rv, p.rule, p.probe);
        }
        progs_ += "    return 0;\n}\n\n";
    }
    return specs.size();
}

// run --track: the run's filters over each hop of a followed packet
// (rtd_track.bpf.h), so one accepted before NAT is reported after it.
std::string Generator::track_filter() const
{
    if (!options_.filter && !options_.pcap_filter) return {};
    std::string test;
    if (options_.filter) test = "(" + options_.filter->c_expr + ")";
    if (options_.pcap_filter) {
        if (!test.empty()) test += " && ";
        test += "rtd_track_pcap_match(skb)";
    }
    std::string out = "static __always_inline int rtd_track_where(struct sk_buff *skb, const struct rtd_event_header *h, const struct rtd_packet *p)\n{\n";
    if (options_.pcap_filter)
        out = "static __always_inline int rtd_track_pcap_match(struct sk_buff *skb)\n{\n"
              "    struct rtd_capture_buffer *b = rtd_capture_packet(skb, RTD_FILTER_WINDOW);\n\n    return b && rtd_pcap_match(b);\n}\n\n" + out;
    return out + fmt::format("    return {};\n}}\n\n", test);
}

void Generator::run()
{
    collect_covered_reasons();
    for (std::size_t i = 0; i < set_.rules.size(); ++i) {
        RuleEntry& entry = set_.rules[i];
        if (entry.is_monitor || !typed_[i]) continue;
        entry.filter_lacks_packet = options_.filter && options_.filter->uses_packet && !rules_[i]->packet;
        if (entry.skipped) continue;
        defs_ += fmt::format("{}{}: {} */\n", kRuleMarker, i, entry.id);
        emit_event_struct(entry.event);
        for (std::size_t pi = 0; pi < set_.probes.size(); ++pi)
            if (set_.probes[pi].rule == i && set_.probes[pi].available && !set_.probes[pi].methods.empty()) emit_probe(pi);
    }
    const std::size_t dispatch_count = emit_dispatchers();
    set_.filter = options_.filter ? options_.filter->text : "";
    set_.source = "/* Generated by rtrace-drop from rule files; do not edit. */\n";
    for (const auto& [name, value] : options_.fixed_settings) set_.source += fmt::format("#define RTD_FIX_{} {}\n", name, value);
    set_.source += fmt::format("#define RTD_RULES {}\n#define RTD_STASH {}\n#define RTD_DISPATCHERS {}\n{}#include \"rtd.bpf.h\"\n\n",
                               std::max<std::size_t>(set_.rules.size(), 1), stash_ ? 1 : 0, std::max<std::size_t>(dispatch_count, 1),
                               options_.filter || options_.pcap_filter ? "#define RTD_TRACK_FILTER 1\n" : "");
    if (options_.pcap_filter)
        set_.source += options_.pcap_filter->c_source +
                       "static __always_inline int rtd_pcap_match(const struct rtd_capture_buffer *b)\n{\n"
                       "    if (b->c.linktype == RTD_LINKTYPE_ETHERNET)\n        return rtd_pcap_filter_eth(b->data, b->c.caplen, b->c.origlen) != 0;\n"
                       "    return rtd_pcap_filter_raw(b->data, b->c.caplen, b->c.origlen) != 0;\n}\n\n";
    set_.source += track_filter() + defs_ + progs_;
}

}  // namespace

void emit_c(CompiledRuleSet& set, const std::vector<const RuleDecl*>& rules, const std::vector<TypedRule>& typed, const Btf& btf,
            const EmitOptions& options)
{
    Generator(set, rules, typed, btf, options).run();
}

CompiledRuleSet lower_and_emit(const std::vector<const RuleDecl*>& rules, const std::vector<TypedRule>& typed, const Btf& btf,
                               const SourceManager& sources, const EmitOptions& options)
{
    CompiledRuleSet set = lower(rules, typed, &btf, sources);
    emit_c(set, rules, typed, btf, options);
    return set;
}

std::string rule_at_generated_line(const std::string& source, unsigned line)
{
    std::string rule = "the shared prelude";
    unsigned n = 1;
    for (std::size_t pos = 0; pos < source.size() && n <= line; ++n) {
        std::size_t nl = source.find('\n', pos);
        std::string_view text(source.data() + pos, (nl == std::string::npos ? source.size() : nl) - pos);
        if (text.substr(0, kRuleMarker.size()) == kRuleMarker && text.size() > 3) {
            std::size_t colon = text.find(": ");
            if (colon != std::string_view::npos) rule = std::string(text.substr(colon + 2, text.size() - colon - 5));
        }
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }
    return rule;
}

}  // namespace rtd
