#include "compiler/expr_c.h"

#include <algorithm>

#include <fmt/format.h>

namespace rtd {

namespace {

// bpf_core_enum_value() of a 32-bit enum, widened by the enum's signedness.
std::string core_enum_value(const Btf& btf, const TExpr& e, const EnumeratorUse& u)
{
    return fmt::format("((__s64)({})bpf_core_enum_value(enum {}, {}))", btf.is_signed(e.type) ? "__s32" : "__u32", u.enum_name, u.name);
}

std::string literal(const Btf& btf, const TExpr& e)
{
    if (auto u = core_enumerator(btf, e)) return core_enum_value(btf, e, *u);
    return fmt::format("(({})0x{:x}ULL)", btf.is_signed(e.type) || btf.is_enum(e.type) ? "__s64" : "__u64", e.value);
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

}  // namespace

std::string declare(const std::string& type, const std::string& name)
{
    return type + (type.back() == '*' ? "" : " ") + name;
}

Builtin scalar_of_size(std::uint32_t size, bool sign)
{
    switch (size) {
    case 1: return sign ? Builtin::S8 : Builtin::U8;
    case 2: return sign ? Builtin::S16 : Builtin::U16;
    case 4: return sign ? Builtin::S32 : Builtin::U32;
    default: return sign ? Builtin::S64 : Builtin::U64;
    }
}

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
    if (btf.is_enum(t) || btf.is_integer(t)) return std::string(builtin_c_name(scalar_of_size(btf.size(t), btf.is_signed(t))));
    return std::nullopt;
}

std::optional<EnumeratorUse> core_enumerator(const Btf& btf, const TExpr& e)
{
    if (e.kind != TKind::Const || e.enumerator.empty() || !btf.is_enum(e.type) || e.type.depth) return std::nullopt;
    std::string name = btf.enum_name(e.type);
    if (name.empty() || name.find("(anonymous)") != std::string::npos || btf.size(e.type) > 4) return std::nullopt;
    return EnumeratorUse{name, e.enumerator};
}

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

std::string reason_test(const std::string& reason, std::uint64_t value, const std::optional<EnumeratorUse>& u)
{
    if (u)
        return fmt::format("(bpf_core_enum_value_exists(enum {0}, {1}) && (__u64){2} == (__u64)(__u32)bpf_core_enum_value(enum {0}, {1}))",
                           u->enum_name, u->name, reason);
    return fmt::format("(__u64){} == 0x{:x}ULL", reason, value);
}

std::size_t arguments_read(const TypedProbe& p)
{
    std::size_t n = 0;
    for (unsigned a : uses_of(p).args) n = std::max<std::size_t>(n, a + 1);
    if (is_kfree_skb(*p.probe))
        for (std::size_t i = 0; i < p.signature.params.size(); ++i)
            if (p.signature.params[i].name == "reason" || p.signature.params[i].name == "location") n = std::max(n, i + 1);
    return n;
}

void collect_enumerators(const Btf& btf, const TExpr& e, std::set<EnumeratorUse>& out, bool required_only)
{
    if (required_only && e.coalesce_fallback) return;  // tested for in the code
    if (auto u = core_enumerator(btf, e)) out.insert(*u);
    for (const TExprPtr& k : e.kids) collect_enumerators(btf, *k, out, required_only);
}

std::string BodyWriter::temp() { return fmt::format("t{}", next_++); }

std::string BodyWriter::c_or_typeof(const Type& t, const std::string& expr)
{
    auto c = c_type(btf_, t);
    return c ? *c : "__typeof__(" + expr + ")";
}

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

// A '??' alternative with a constant to fall back on: where the target
// kernel lacks one of its enumerators, the constant. The tests are constant
// after CO-RE relocation, so the verifier never sees the other branch (whose
// relocations failed).
BodyWriter::Value BodyWriter::with_fallback(const TExpr& e)
{
    std::set<EnumeratorUse> uses;
    collect_enumerators(btf_, e, uses);
    falling_back_ = true;
    Value inner = lower(e);
    falling_back_ = false;
    if (uses.empty()) return inner;
    std::string test;
    for (const EnumeratorUse& u : uses) test += fmt::format("{}bpf_core_enum_value_exists(enum {}, {})", test.empty() ? "" : " && ", u.enum_name, u.name);
    Value v;
    v.type = e.type;
    v.c = fmt::format("(({}) ? (__s64)({}) : (__s64)0x{:x}ULL)", test, inner.c, *e.coalesce_fallback);
    return v;
}

BodyWriter::Value BodyWriter::lower(const TExpr& e)
{
    if (e.coalesce_fallback && !falling_back_) return with_fallback(e);
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

}  // namespace rtd
