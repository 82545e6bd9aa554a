#include "compiler/codegen.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

namespace {

// Sizes of the shared structs in bpf-templates/rtd_event.h.
constexpr std::uint32_t kHeaderBytes = 64;
constexpr std::uint32_t kPacketBytes = 72;
constexpr std::uint32_t kStackBytes = 264;
// Arguments the kprobe form can read (libbpf's PT_REGS_PARM1..5) and that
// BPF_PROG can declare.
constexpr std::size_t kKprobeArgs = 5;
constexpr std::size_t kTracingArgs = 12;

std::uint32_t round8(std::uint32_t n) { return (n + 7) & ~7u; }

// "struct sock *" + "a2" -> "struct sock *a2"
std::string declare(const std::string& type, const std::string& name)
{
    return type + (type.back() == '*' ? "" : " ") + name;
}

// The C spelling of a type as vmlinux.h declares it, or nothing for types
// C cannot name (pointers to anonymous structs).
std::optional<std::string> c_type(const Btf& btf, const Type& t)
{
    std::string stars(t.depth, '*');
    if (t.builtin != Builtin::None) return std::string(builtin_c_name(t.builtin)) + (t.depth ? " " + stars : "");
    if (t.depth > 0) {
        Type pointee = t;
        pointee.depth = 0;
        if (btf.is_void(pointee) || btf.is_func_proto(pointee)) return "void " + std::string(t.depth == 1 ? "*" : stars);
        auto p = c_type(btf, pointee);
        if (!p) return std::nullopt;
        return *p + " " + stars;
    }
    if (btf.is_void(t)) return "void";
    std::string s = btf.spelling(t);  // typedef name, "struct x", "enum x", "unsigned int"
    // A plain 'char' is signed for clang's BPF target but unsigned in BTF:
    // name its width and the signedness the checker used instead.
    bool plain_char = btf.is_integer(t) && btf.size(t) == 1 && s == "char";
    if (s.find("(anonymous)") == std::string::npos && !plain_char) return s;
    if (btf.is_enum(t) || btf.is_integer(t)) {
        std::uint32_t size = btf.size(t);
        bool sign = btf.is_signed(t);
        Builtin b = size == 1 ? (sign ? Builtin::S8 : Builtin::U8) : size == 2 ? (sign ? Builtin::S16 : Builtin::U16)
                    : size == 4 ? (sign ? Builtin::S32 : Builtin::U32) : (sign ? Builtin::S64 : Builtin::U64);
        return std::string(builtin_c_name(b));
    }
    return std::nullopt;
}

// The enumerator a constant takes from the target kernel through CO-RE: a
// kernel enumerator of a named enum of at most 32 bits. Anonymous enums
// (typedef-only ones included) cannot be named in C and keep this kernel's
// number, as does arithmetic the checker folded.
std::optional<EnumeratorUse> core_enumerator(const Btf& btf, const TExpr& e)
{
    if (e.kind != TKind::Const || e.enumerator.empty() || !btf.is_enum(e.type) || e.type.depth) return std::nullopt;
    std::string name = btf.enum_name(e.type);
    if (name.empty() || name.find("(anonymous)") != std::string::npos || btf.size(e.type) > 4) return std::nullopt;
    return EnumeratorUse{name, e.enumerator};
}

// bpf_core_enum_value() of a 32-bit enum, widened by the enum's signedness.
std::string core_enum_value(const Btf& btf, const TExpr& e, const EnumeratorUse& u)
{
    return fmt::format("((__s64)({})bpf_core_enum_value(enum {}, {}))", btf.is_signed(e.type) ? "__s32" : "__u32", u.enum_name, u.name);
}

// The constant of `reason == X` (either way round), or null.
const TExpr* reason_constant(const TExpr& e)
{
    if (e.kind != TKind::Binary || e.binary_op != BinaryOp::Eq) return nullptr;
    for (int side = 0; side < 2; ++side) {
        const TExpr& a = *e.kids[side];
        const TExpr& b = *e.kids[1 - side];
        if (a.kind == TKind::Arg && a.name == "reason" && b.kind == TKind::Const) return &b;
    }
    return nullptr;
}

// C that tests kfree_skb's reason argument r<arg> against one reason: the
// target kernel's value of its enumerator (false where the kernel lacks it:
// that enumerator names no drop there), else the number.
std::string reason_test(std::size_t arg, std::uint64_t value, const std::optional<EnumeratorUse>& u)
{
    if (u)
        return fmt::format("(bpf_core_enum_value_exists(enum {0}, {1}) && (__u64)r{2} == (__u64)(__u32)bpf_core_enum_value(enum {0}, {1}))",
                           u->enum_name, u->name, arg);
    return fmt::format("(__u64)r{} == 0x{:x}ULL", arg, value);
}

std::string literal(const Btf& btf, const TExpr& e)
{
    if (auto u = core_enumerator(btf, e)) return core_enum_value(btf, e, *u);
    return fmt::format("(({})0x{:x}ULL)", btf.is_signed(e.type) || btf.is_enum(e.type) ? "__s64" : "__u64", e.value);
}

void collect_enumerators(const Btf& btf, const TExpr& e, std::set<EnumeratorUse>& out)
{
    if (auto u = core_enumerator(btf, e)) out.insert(*u);
    for (const TExprPtr& k : e.kids) collect_enumerators(btf, *k, out);
}

// Writes one body function: typed expressions become straight-line C with
// temporaries, one CO-RE read per kernel load.
class BodyWriter {
public:
    BodyWriter(const Btf& btf, std::string& out) : btf_(btf), out_(out) {}

    struct Value {
        std::string c;
        bool lvalue = false;  // `c` names kernel memory that must be read
        Type type;
        std::string bit_parent;  // bitfields: pointer to the containing struct
        std::string bit_field;
        // The pointer the lvalue is reached through. Reads are done only when
        // it is not NULL: that is the value C would give (none), reads 0, and
        // the verifier refuses arithmetic on possibly-NULL trusted pointers
        // (tp_btf arguments that may be NULL).
        std::string guard;
        const std::string& guard_or_true() const
        {
            static const std::string always = "1";
            return guard.empty() ? always : guard;
        }
    };

    Value lower(const TExpr& e);
    std::string rvalue(const TExpr& e) { return load(lower(e)); }
    std::string load(const Value& v);
    // vmlinux.h marks every struct preserve_access_index, so plain member
    // accesses are CO-RE relocated; an explicit builtin here would nest
    // inside bpf_core_read's own, which clang refuses.
    static std::string address(const Value& v) { return "(&(" + v.c + "))"; }

    // Lowered captures by name: a local for scalars, the kernel lvalue for
    // char arrays (copied into the event as strings).
    std::map<std::string, Value> captures;

private:
    std::string temp() { return fmt::format("t{}", next_++); }
    std::string c_or_typeof(const Type& t, const std::string& expr)
    {
        auto c = c_type(btf_, t);
        return c ? *c : "__typeof__(" + expr + ")";
    }
    std::string binary(const TExpr& e);

    const Btf& btf_;
    std::string& out_;
    unsigned next_ = 0;
};

std::string BodyWriter::load(const Value& v)
{
    if (!v.lvalue) return v.c;
    std::string t = temp();
    if (!v.bit_field.empty()) {
        out_ += fmt::format("    __u64 {} = 0;\n    if ({})\n        {} = BPF_CORE_READ_BITFIELD_PROBED({}, {});\n", t, v.guard_or_true(), t, v.bit_parent,
                            v.bit_field);
        return fmt::format("(({}){})", c_or_typeof(v.type, "__u64"), t);
    }
    std::string ct = c_or_typeof(v.type, v.c);
    out_ += fmt::format("    {};\n    __builtin_memset(&{}, 0, sizeof({}));\n    if ({})\n        bpf_core_read(&{}, sizeof({}), &({}));\n",
                        declare(ct, t), t, t, v.guard_or_true(), t, t, v.c);
    return t;
}

BodyWriter::Value BodyWriter::lower(const TExpr& e)
{
    Value v;
    v.type = e.type;
    switch (e.kind) {
    case TKind::Const: v.c = literal(btf_, e); return v;
    case TKind::Arg: v.c = fmt::format("a{}", e.arg); return v;
    case TKind::Ret: v.c = "ret"; return v;
    case TKind::Capture: return captures.at(e.name);  // lowered earlier: dependencies first
    case TKind::Member: {
        Value base = lower(*e.kids[0]);
        if (e.through_pointer) {
            std::string ptr = load(base);
            v.guard = ptr;
            if (e.bitfield_size) {
                v.lvalue = true;
                v.bit_parent = ptr;
                v.bit_field = e.name;
                return v;
            }
            v.c = fmt::format("({})->{}", ptr, e.name);
            v.lvalue = true;
            return v;
        }
        v.guard = base.guard;
        if (e.bitfield_size) {
            v.lvalue = true;
            v.bit_parent = address(base);
            v.bit_field = e.name;
            return v;
        }
        v.c = fmt::format("({}).{}", base.c, e.name);
        v.lvalue = true;
        return v;
    }
    case TKind::Index: {
        Value base = lower(*e.kids[0]);
        const TExpr& index = *e.kids[1];
        v.lvalue = true;
        v.guard = base.guard;
        if (btf_.is_array(base.type)) {
            if (index.kind == TKind::Const) {
                v.c = fmt::format("({})[{}]", base.c, index.value);
            } else {
                // CO-RE relocates the array's address; the variable offset is plain arithmetic.
                std::string i = rvalue(index);
                v.c = fmt::format("(*(__typeof__(({0})[0]) *)((char *){1} + (__s64)({2}) * sizeof(({0})[0])))", base.c, address(base), i);
            }
            return v;
        }
        std::string ptr = load(base);
        v.guard = ptr;
        v.c = fmt::format("({})[(__s64)({})]", ptr, rvalue(index));
        return v;
    }
    case TKind::Unary: {
        std::string x = rvalue(*e.kids[0]);
        const char* t = btf_.is_signed(e.type) ? "__s64" : "__u64";
        switch (e.unary_op) {
        case UnaryOp::Not: v.c = fmt::format("((__s64)!({}))", x); break;
        case UnaryOp::Neg: v.c = fmt::format("(-({})({}))", t, x); break;
        case UnaryOp::BitNot: v.c = fmt::format("(~({})({}))", t, x); break;
        }
        return v;
    }
    case TKind::Binary: v.c = binary(e); return v;
    case TKind::Cast: {
        Value operand = lower(*e.kids[0]);
        std::string target = c_type(btf_, e.type).value_or("__u64");
        if (btf_.is_array(operand.type)) v.c = fmt::format("(({}){})", target, address(operand));
        else v.c = fmt::format("(({})({}))", target, load(operand));
        return v;
    }
    }
    return v;
}

std::string BodyWriter::binary(const TExpr& e)
{
    const TExpr &l = *e.kids[0], &r = *e.kids[1];
    std::string a = rvalue(l), b = rvalue(r);
    const bool pointers = l.type.is_pointer() || r.type.is_pointer();
    const char* t = btf_.is_signed(e.type) || e.type.is_pointer() ? "__s64" : "__u64";
    auto cmp_type = [&]() -> const char* {
        if (pointers) return "__u64";
        bool uns = (!btf_.is_signed(l.type) && btf_.size(l.type) == 8) || (!btf_.is_signed(r.type) && btf_.size(r.type) == 8);
        return uns ? "__u64" : "__s64";
    };
    switch (e.binary_op) {
    case BinaryOp::Add:
    case BinaryOp::Sub:
        if (l.type.is_pointer() && r.type.is_pointer()) return fmt::format("((__s64)(({}) - ({})))", a, b);
        if (l.type.is_pointer()) return fmt::format("(({}) {} (__s64)({}))", a, spelling(e.binary_op), b);
        if (r.type.is_pointer()) return fmt::format("((__s64)({}) + ({}))", a, b);
        [[fallthrough]];
    case BinaryOp::Mul:
    case BinaryOp::BitAnd:
    case BinaryOp::BitOr:
    case BinaryOp::BitXor:
        return fmt::format("(({0})({1}) {2} ({0})({3}))", t, a, spelling(e.binary_op), b);
    case BinaryOp::Div:
    case BinaryOp::Mod:
        if (btf_.is_signed(e.type))
            return fmt::format("{}((__s64)({}), (__s64)({}))", e.binary_op == BinaryOp::Div ? "rtd_sdiv" : "rtd_smod", a, b);
        return fmt::format("((__u64)({}) {} (__u64)({}))", a, spelling(e.binary_op), b);
    case BinaryOp::Shl:
    case BinaryOp::Shr:
        // Shifting by 64 or more is undefined in C; BPF masks the count.
        return fmt::format("(({0})({1}) {2} (({3}) & 63))", t, a, spelling(e.binary_op), b);
    case BinaryOp::Lt:
    case BinaryOp::Le:
    case BinaryOp::Gt:
    case BinaryOp::Ge:
    case BinaryOp::Eq:
    case BinaryOp::Ne: {
        const char* ct = cmp_type();
        return fmt::format("((__s64)(({0})({1}) {2} ({0})({3})))", ct, a, spelling(e.binary_op), b);
    }
    case BinaryOp::LogAnd:
    case BinaryOp::LogOr: return fmt::format("((__s64)(({}) {} ({})))", a, spelling(e.binary_op), b);
    }
    return "0";
}

void collect_args(const TExpr& e, std::set<unsigned>& args)
{
    if (e.kind == TKind::Arg) args.insert(e.arg);
    for (const TExprPtr& k : e.kids) collect_args(*k, args);
}

bool uses_ret(const TExpr& e)
{
    if (e.kind == TKind::Ret) return true;
    return std::any_of(e.kids.begin(), e.kids.end(), [](const TExprPtr& k) { return uses_ret(*k); });
}

// The arguments a probe's expressions read, and whether they read `ret`.
struct ProbeUses {
    std::set<unsigned> args;
    bool ret = false;
};

ProbeUses uses_of(const TypedProbe& p)
{
    ProbeUses u;
    auto scan = [&](const TExprPtr& t) {
        if (!t) return;
        collect_args(*t, u.args);
        u.ret = u.ret || uses_ret(*t);
    };
    for (const TExprPtr& c : p.captures) scan(c);
    scan(p.condition);
    scan(p.noise);
    scan(p.packet);
    return u;
}

void collect_captures(const TExpr& e, std::set<std::string>& names)
{
    if (e.kind == TKind::Capture) names.insert(e.name);
    for (const TExprPtr& k : e.kids) collect_captures(*k, names);
}

class Generator {
public:
    Generator(const Btf& btf, const SourceManager& sources, const EmitOptions& options)
        : btf_(btf), sources_(sources), options_(options)
    {}
    CompiledRuleSet run(const std::vector<const RuleDecl*>& rules, const std::vector<TypedRule>& typed);

private:
    EventSchema layout(std::size_t index, const TypedRule& r);
    void emit_event_struct(const EventSchema& s, const TypedRule& r);
    void emit_probe(std::size_t rule_index, const TypedRule& r, std::size_t probe_index, ProbePlan& plan);
    std::size_t emit_dispatchers(const CompiledRuleSet& set);  // how many
    std::string body(std::size_t rule_index, const TypedRule& r, std::size_t probe_index, const TypedProbe& p);

    bool wanted(AttachForm f) const { return options_.forms.count(f) != 0; }

    const Btf& btf_;
    const SourceManager& sources_;
    const EmitOptions& options_;
    std::vector<EventSchema> schemas_;  // by rule index
    // kfree_skb reasons named by non-fallback rules: value -> the enumerator
    // (and its enum) to take through CO-RE, or nothing to use the value.
    std::map<std::uint64_t, std::optional<EnumeratorUse>> covered_reasons_;
    std::string defs_;   // event structs and bodies
    std::string progs_;  // SEC() wrappers
    bool stash_ = false;
    std::size_t plan_index_ = 0;
    std::map<std::size_t, std::size_t> tracepoint_args_;  // probe plan index -> its tracepoint's argument count
    std::map<std::size_t, std::string> dispatch_guard_;   // probe plan index -> test its dispatcher makes first (or "")
    std::string reason_guard(const TypedProbe& p) const;
};

EventSchema Generator::layout(std::size_t index, const TypedRule& r)
{
    EventSchema s;
    s.struct_name = fmt::format("rtd_ev_{}", index);
    std::uint32_t at = kHeaderBytes;
    if (r.decl->packet) {
        s.has_packet = true;
        s.packet_offset = at;
        at += kPacketBytes;
    }
    if (r.decl->stack) {
        s.has_stack = true;
        s.stack_offset = at;
        at += kStackBytes;
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

void Generator::emit_event_struct(const EventSchema& s, const TypedRule& r)
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
    (void)r;
}

std::string Generator::body(std::size_t rule_index, const TypedRule& r, std::size_t probe_index, const TypedProbe& p)
{
    const RuleDecl& decl = *r.decl;
    const EventSchema& schema = schemas_[rule_index];
    std::string code;
    BodyWriter w(btf_, code);

    // Typed locals for the arguments the rule reads (and the packet's).
    const auto [args, ret] = uses_of(p);
    const std::size_t n = p.signature.params.size();
    // A function of its own (a BPF-to-BPF call), compiled once however many
    // programs run it (its forms, its tracepoint's dispatcher). BPF calls
    // take five registers, so the arguments come as an array: r0.. then the
    // return value.
    // `dispatched`: run by its tracepoint's dispatcher, which counts the hits
    // of all its rules once.
    std::string out =
        fmt::format("static __noinline int rtd_body_{}_{}(void *ctx, const __u64 *rv, int dispatched)\n{{\n", rule_index, probe_index);
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
    out += fmt::format("    struct rtd_counter *cnt = rtd_counter({});\n\n    if (cnt && !dispatched)\n        cnt->hits++;\n", rule_index);

    // The captures the condition needs (transitively) come before it, the
    // others only once it holds: most hits of a busy tracepoint stop early.
    // (The packet's too: it is read before the other captures, which a
    // filtered or summarised drop never needs.)
    std::set<std::string> early;
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
    auto lower_capture = [&](std::size_t i) {
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
        w.captures[decl.captures[i].name] = v;
    };
    for (std::size_t i : r.capture_order)
        if (early.count(decl.captures[i].name)) lower_capture(i);
    if (decl.fallback && !covered_reasons_.empty()) {
        // Reasons other rules report: theirs, not ours (unless --all).
        for (std::size_t i = 0; i < n; ++i)
            if (p.signature.params[i].name == "reason") {
                std::string test;
                for (const auto& [v, u] : covered_reasons_) test += (test.empty() ? "" : " || ") + reason_test(i, v, u);
                code += fmt::format("    if (!rtd_report_all && ({}))\n        return 0;\n", test);
            }
    }
    if (p.condition) {
        std::string cond = w.rvalue(*p.condition);
        code += fmt::format("    if (!({}))\n        return 0;\n", cond);
    }
    if (p.noise) {
        std::string noise = w.rvalue(*p.noise);
        code += fmt::format("    if (!rtd_report_all && ({})) {{\n        if (cnt)\n            cnt->noise++;\n        return 0;\n    }}\n", noise);
    }
    code += "    if (cnt)\n        cnt->drops++;\n";
    std::string skb;
    if (p.packet) {
        skb = w.rvalue(*p.packet);
        code += fmt::format("    struct sk_buff *skb = {};\n", skb);
    }

    // --where: the header and packet it reads are decoded once, on the stack,
    // and copied into the event if it passes. A rule without 'packet' shows
    // the filter a zeroed packet.
    const Filter* filter = options_.filter ? &*options_.filter : nullptr;
    const bool locals = filter && (filter->uses_packet || filter->uses_task || filter->uses_netns);
    const bool decoded = locals && p.packet && (filter->uses_packet || filter->uses_netns);
    if (filter) {
        code += "    /* the --where filter */\n";
        if (locals) {
            code += "    struct rtd_event_header fh;\n    struct rtd_packet fp;\n\n";
            code += "    __builtin_memset(&fh, 0, sizeof(fh));\n    __builtin_memset(&fp, 0, sizeof(fp));\n";
            code += fmt::format("    rtd_fill_header(&fh, {}, {});\n", rule_index, probe_index);
            if (decoded) code += "    rtd_decode_packet(&fp, &fh, skb);\n";
            code += "    {\n        const struct rtd_event_header *h = &fh;\n        const struct rtd_packet *p = &fp;\n\n";
            code += fmt::format("        if (!({})) {{\n            if (cnt)\n                cnt->filtered++;\n            return 0;\n        }}\n    }}\n",
                                filter->c_expr);
        } else {
            code += fmt::format("    if (!({})) {{\n        if (cnt)\n            cnt->filtered++;\n        return 0;\n    }}\n", filter->c_expr);
        }
    }
    // --summary: counted by flow in the kernel, no event (and no rate limit:
    // nothing is sent).
    code += fmt::format("    if (rtd_summary_only) {{\n        if (rtd_count_flow({}, {})) {{\n            if (cnt)\n                cnt->emitted++;\n"
                        "        }} else if (cnt) {{\n            cnt->lost++;\n        }}\n        return 0;\n    }}\n",
                        rule_index, p.packet ? "skb" : "0");
    for (std::size_t i : r.capture_order)
        if (!early.count(decl.captures[i].name)) lower_capture(i);
    code += fmt::format("    if (!rtd_rate_ok({})) {{\n        if (cnt)\n            cnt->suppressed++;\n        return 0;\n    }}\n", rule_index);

    // Reserve last: nothing between reserve and submit can fail or return.
    code += fmt::format("    struct {} *ev = bpf_ringbuf_reserve(&rtd_events, sizeof(*ev), 0);\n\n", schema.struct_name);
    code += "    if (!ev) {\n        if (cnt)\n            cnt->lost++;\n        return 0;\n    }\n";
    code += "    __builtin_memset(ev, 0, sizeof(*ev));\n";
    if (locals) code += "    __builtin_memcpy(&ev->h, &fh, sizeof(fh));\n";
    else code += fmt::format("    rtd_fill_header(&ev->h, {}, {});\n", rule_index, probe_index);
    if (decoded) code += "    __builtin_memcpy(&ev->pkt, &fp, sizeof(fp));\n";
    else if (p.packet) code += "    rtd_decode_packet(&ev->pkt, &ev->h, skb);\n";
    const Probe& probe = *p.probe;
    if (probe.kind == ProbeKind::Tracepoint && probe.category == "skb" && probe.event == "kfree_skb") {
        for (std::size_t i = 0; i < n; ++i) {
            if (p.signature.params[i].name == "reason") code += fmt::format("    ev->h.reason = (__u32)r{};\n", i);
            if (p.signature.params[i].name == "location") code += fmt::format("    ev->h.location = r{};\n", i);
        }
        code += "    ev->h.flags |= RTD_EV_REASON;\n";
    }
    if (schema.has_stack) {
        code += "    ev->stack.bytes = bpf_get_stack(ctx, ev->stack.ips, sizeof(ev->stack.ips), 0);\n";
        code += "    ev->h.flags |= RTD_EV_STACK;\n";
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
                std::uint32_t size = btf_.size(p.captures[i]->type);
                bool own_sign = btf_.is_signed(p.captures[i]->type);
                Builtin b = size == 1 ? (own_sign ? Builtin::S8 : Builtin::U8) : size == 2 ? (own_sign ? Builtin::S16 : Builtin::U16)
                            : size == 4 ? (own_sign ? Builtin::S32 : Builtin::U32) : (own_sign ? Builtin::S64 : Builtin::U64);
                width = fmt::format("({})", builtin_c_name(b));
            }
            code += fmt::format("    ev->c{} = ({}){}({});\n", i, sign ? "__s64" : "__u64", f.kind == ValueKind::Pointer ? "(unsigned long)" : width, v.c);
        }
    }
    code += "    bpf_ringbuf_submit(ev, rtd_submit_flags());\n    if (cnt)\n        cnt->emitted++;\n    return 0;\n}\n\n";
    return out + code;
}

void Generator::emit_probe(std::size_t rule_index, const TypedRule& r, std::size_t probe_index, ProbePlan& plan)
{
    const TypedProbe& p = r.probes[probe_index];
    const Probe& probe = *p.probe;
    defs_ += body(rule_index, r, probe_index, p);

    const std::size_t n = p.signature.params.size();
    const std::set<unsigned> args = uses_of(p).args;
    const bool kfree_skb = probe.kind == ProbeKind::Tracepoint && probe.category == "skb" && probe.event == "kfree_skb";
    const bool void_ret = btf_.is_void(p.signature.ret);
    const unsigned max_arg = args.empty() ? 0 : *args.rbegin() + 1;
    const std::string base = fmt::format("rtd_{}_{}", rule_index, probe_index);

    auto params = [](std::size_t count) {
        std::string s;
        for (std::size_t i = 0; i < count; ++i) s += fmt::format(", __u64 r{}", i);
        return s;
    };
    // Calls the body with r0..r<have-1> and zeros for the arguments a form cannot see.
    auto call = [&](std::size_t have, const char* rret) {
        std::string s = "    __u64 rv[] = {";
        for (std::size_t i = 0; i < n; ++i) s += i < have ? fmt::format("r{}, ", i) : std::string("0, ");
        return s + fmt::format("{}}};\n\n    return rtd_body_{}_{}(ctx, rv, 0);\n", rret, rule_index, probe_index);
    };
    auto add = [&](AttachForm method_form, std::vector<ProgramSpec> progs) { plan.methods.push_back({method_form, std::move(progs)}); };
    auto wrapper = [&](const std::string& sec, const char* macro, const std::string& name, const std::string& decl, const std::string& text) {
        progs_ += fmt::format("SEC(\"{}\")\nint {}({}{})\n{{\n{}}}\n\n", sec, macro, name, decl, text);
    };
    const std::string& target = p.signature.symbol;

    if (probe.kind == ProbeKind::Tracepoint) {
        tracepoint_args_[plan_index_] = n;
        dispatch_guard_[plan_index_] = reason_guard(p);
        if (n <= kTracingArgs && wanted(AttachForm::TpBtf)) {
            wrapper("tp_btf/" + target, "BPF_PROG", base + "_tb", params(n), call(n, "0"));
            add(AttachForm::TpBtf, {{base + "_tb", AttachForm::TpBtf, target}});
        }
        if (n <= kTracingArgs && wanted(AttachForm::RawTp)) {
            wrapper("raw_tp/" + target, "BPF_PROG", base + "_rt", params(n), call(n, "0"));
            add(AttachForm::RawTp, {{base + "_rt", AttachForm::RawTp, target}});
        }
        (void)kfree_skb;
    } else if (probe.kind == ProbeKind::Kprobe) {
        if (n <= kTracingArgs && wanted(AttachForm::Fentry)) {
            wrapper("fentry/" + target, "BPF_PROG", base + "_fe", params(n), call(n, "0"));
            add(AttachForm::Fentry, {{base + "_fe", AttachForm::Fentry, target}});
        }
        if (max_arg <= kKprobeArgs && wanted(AttachForm::Kprobe)) {
            std::size_t k = std::min(n, kKprobeArgs);
            wrapper("kprobe/" + target, "BPF_KPROBE", base + "_kp", params(k), call(k, "0"));
            add(AttachForm::Kprobe, {{base + "_kp", AttachForm::Kprobe, target}});
        }
    } else {
        if (n + (void_ret ? 0 : 1) <= kTracingArgs && wanted(AttachForm::Fexit)) {
            wrapper("fexit/" + target, "BPF_PROG", base + "_fx", params(n) + (void_ret ? "" : ", __u64 rret"), call(n, void_ret ? "0" : "rret"));
            add(AttachForm::Fexit, {{base + "_fx", AttachForm::Fexit, target}});
        }
        if (max_arg <= kKprobeArgs && wanted(AttachForm::Kretprobe)) {
            std::size_t slot = plan_index_;
            if (args.empty()) {
                // Only the return value is read: no entry program needed.
                wrapper("kretprobe/" + target, "BPF_KRETPROBE", base + "_kr", ", __u64 rret", call(0, "rret"));
                add(AttachForm::Kretprobe, {{base + "_kr", AttachForm::Kretprobe, target}});
            } else {
                stash_ = true;
                std::size_t k = std::min(n, kKprobeArgs);
                std::string put = fmt::format("    rtd_stash_put({}", slot);
                for (std::size_t i = 0; i < kKprobeArgs; ++i) put += i < k ? fmt::format(", r{}", i) : std::string(", 0");
                put += ");\n    return 0;\n";
                wrapper("kprobe/" + target, "BPF_KPROBE", base + "_ke", params(k), put);
                std::string take = fmt::format(
                    "    struct rtd_stash_args s;\n\n    if (!rtd_stash_take({}, &s)) {{\n        struct rtd_counter *cnt = rtd_counter({});\n\n"
                    "        if (cnt)\n            cnt->unstashed++;\n        return 0;\n    }}\n",
                    slot, rule_index);
                take += "    __u64 rv[] = {";
                for (std::size_t i = 0; i < n; ++i) take += i < k ? fmt::format("s.arg[{}], ", i) : std::string("0, ");
                take += fmt::format("rret}};\n\n    return rtd_body_{}_{}(ctx, rv, 0);\n", rule_index, probe_index);
                wrapper("kretprobe/" + target, "BPF_KRETPROBE", base + "_kr", ", __u64 rret", take);
                add(AttachForm::Kretprobe, {{base + "_ke", AttachForm::Kprobe, target}, {base + "_kr", AttachForm::Kretprobe, target}});
            }
        }
    }
}

// A test of skb:kfree_skb's reason that the probe's condition implies (a
// top-level `reason == X`): its dispatcher calls the body only when it
// holds, so a drop costs the rules of other reasons a comparison each.
std::string Generator::reason_guard(const TypedProbe& p) const
{
    const Probe& probe = *p.probe;
    if (!p.condition || probe.kind != ProbeKind::Tracepoint || probe.category != "skb" || probe.event != "kfree_skb") return {};
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
            return reason_test(reason, c->value, core_enumerator(btf_, *c));
        }
    }
    return {};
}

std::size_t Generator::emit_dispatchers(const CompiledRuleSet& set)
{
    std::vector<DispatchSpec> specs = dispatchers(set);
    if (specs.empty()) return 0;
    progs_ += fmt::format("/* Which probes the dispatchers below run: set by the runtime before load. */\n"
                          "const volatile __u8 rtd_dispatch_on[{}] = {{}};\n\n",
                          set.probes.size());
    for (const DispatchSpec& d : specs) {
        const std::size_t n = tracepoint_args_.at(d.members.front());
        std::string params, args;
        for (std::size_t i = 0; i < n; ++i) {
            params += fmt::format(", __u64 r{}", i);
            args += fmt::format("r{}, ", i);
        }
        // Hits once for all its rules (the runtime adds them to each).
        progs_ += fmt::format("SEC(\"{}/{}\")\nint BPF_PROG({}{})\n{{\n    __u64 rv[] = {{{}0}};\n\n    rtd_count_dispatch({});\n",
                              d.form == AttachForm::TpBtf ? "tp_btf" : "raw_tp", d.target, d.name, params, args, d.index);
        for (std::size_t m : d.members) {
            const ProbePlan& p = set.probes[m];
            const std::string& guard = dispatch_guard_[m];
            progs_ += fmt::format("    if (rtd_dispatch_on[{}]{})\n        rtd_body_{}_{}(ctx, rv, 1);\n", m,
                                  guard.empty() ? "" : " && " + guard, p.rule, p.probe);
        }
        progs_ += "    return 0;\n}\n\n";
    }
    return specs.size();
}

CompiledRuleSet Generator::run(const std::vector<const RuleDecl*>& rules, const std::vector<TypedRule>& typed)
{
    CompiledRuleSet out;
    schemas_.assign(rules.size(), {});
    // The drop reasons the specific rules name ('reason == X' in a condition):
    // fallback rules leave those to them, so one drop is reported once.
    std::function<void(const TExpr&)> collect = [&](const TExpr& e) {
        if (const TExpr* c = reason_constant(e)) covered_reasons_.emplace(c->value, core_enumerator(btf_, *c));
        for (const TExprPtr& k : e.kids) collect(*k);
    };
    for (const TypedRule& r : typed) {
        if (r.decl->fallback) continue;
        for (const TypedProbe& p : r.probes)
            if (p.condition && p.probe->kind == ProbeKind::Tracepoint && p.probe->category == "skb" && p.probe->event == "kfree_skb")
                collect(*p.condition);
    }
    for (const RuleDecl* d : rules) out.rules.push_back(rule_entry(*d, sources_));
    for (const TypedRule& r : typed) {
        std::size_t index = std::find(rules.begin(), rules.end(), r.decl) - rules.begin();
        RuleEntry& entry = out.rules[index];
        entry.skipped = r.skipped;
        entry.event = layout(index, r);
        entry.filter_lacks_packet = options_.filter && options_.filter->uses_packet && !r.decl->packet;
        std::set<EnumeratorUse> uses;
        for (const TypedProbe& p : r.probes) {
            if (!p.available) continue;
            for (const TExprPtr& c : p.captures)
                if (c) collect_enumerators(btf_, *c, uses);
            for (const TExprPtr* t : {&p.condition, &p.noise, &p.packet})
                if (*t) collect_enumerators(btf_, **t, uses);
        }
        entry.enumerators.assign(uses.begin(), uses.end());
        schemas_[index] = entry.event;
        if (!r.skipped) {
            defs_ += fmt::format("/* rule {}: {} */\n", index, r.decl->id);
            emit_event_struct(entry.event, r);
        }
        for (std::size_t pi = 0; pi < r.probes.size(); ++pi) {
            const TypedProbe& p = r.probes[pi];
            ProbePlan plan;
            plan.rule = index;
            plan.probe = pi;
            plan.spelling = p.probe->spelling();
            plan.symbol = p.signature.symbol;
            plan.available = p.available;
            plan.skip_reason = p.skip_reason;
            plan.choices = p.choices;
            if (p.available) emit_probe(index, r, pi, plan);
            out.probes.push_back(std::move(plan));
            ++plan_index_;
        }
    }
    const std::size_t dispatch_count = emit_dispatchers(out);
    if (options_.filter) out.filter = options_.filter->text;
    out.source = "/* Generated by rtrace-drop from rule files; do not edit. */\n";
    out.source += fmt::format("#define RTD_RULES {}\n#define RTD_STASH {}\n#define RTD_DISPATCHERS {}\n#include \"rtd.bpf.h\"\n\n",
                              std::max<std::size_t>(rules.size(), 1), stash_ ? 1 : 0, std::max<std::size_t>(dispatch_count, 1));
    out.source += defs_ + progs_;
    return out;
}

}  // namespace

CompiledRuleSet emit_c(const std::vector<const RuleDecl*>& rules, const std::vector<TypedRule>& typed, const Btf& btf,
                       const SourceManager& sources, const EmitOptions& options)
{
    return Generator(btf, sources, options).run(rules, typed);
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
    e.fallback = d.fallback;
    for (const Binding& p : d.params)
        if (p.expr && p.expr->kind == ExprKind::Int)
            e.params.emplace_back(p.name, p.expr->is_unsigned ? std::to_string(p.expr->value) : std::to_string(p.expr->signed_value()));
    return e;
}

}  // namespace rtd
