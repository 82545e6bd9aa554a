#include "compiler/filter.h"

#include <algorithm>

#include <fmt/format.h>

#include "compiler/const_eval.h"
#include "compiler/parser.h"
#include "compiler/suggest.h"

namespace rtd {

namespace {

constexpr std::size_t kNameBytes = 15;  // dev and comm: 16 bytes with the NUL

enum class VKind { Num, AddrField, AddrLit, StrField, StrLit };

struct FilterBuiltin {
    const char* name;
    VKind kind;
    const char* c;  // the C that reads it
    int uses;       // 1 packet, 2 task, 4 netns
};

// The builtins a filter may read and the C that reads them from
// `const struct rtd_event_header *h` and `const struct rtd_packet *p`.
constexpr FilterBuiltin kBuiltins[] = {
    {"saddr", VKind::AddrField, "p->saddr", 1}, {"daddr", VKind::AddrField, "p->daddr", 1},
    {"sport", VKind::Num, "((__s64)p->sport)", 1}, {"dport", VKind::Num, "((__s64)p->dport)", 1},
    {"proto", VKind::Num, "((__s64)p->proto)", 1}, {"dev", VKind::StrField, "p->dev", 1},
    {"netns", VKind::Num, "((__s64)h->netns)", 4}, {"comm", VKind::StrField, "h->comm", 2},
    {"pid", VKind::Num, "((__s64)h->pid)", 2},
};

constexpr std::pair<const char*, int> kProtocols[] = {{"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"icmpv6", 58}, {"sctp", 132}};

struct Val {
    VKind kind = VKind::Num;
    std::string c;           // Num: a C expression of 64 bits; fields: the array
    bool is_unsigned = false;  // Num
    const Expr* node = nullptr;  // literals
    std::string field;       // fields: the builtin's name
};

const char* describe(const Val& v)
{
    switch (v.kind) {
    case VKind::Num: return "a number";
    case VKind::AddrField: return "an address";
    case VKind::AddrLit: return v.node && v.node->address.prefix ? "a network" : "an address";
    case VKind::StrField:
    case VKind::StrLit: return "a string";
    }
    return "?";
}

bool is_addr(const Val& v) { return v.kind == VKind::AddrField || v.kind == VKind::AddrLit; }
bool is_str(const Val& v) { return v.kind == VKind::StrField || v.kind == VKind::StrLit; }

class FilterChecker {
public:
    FilterChecker(Diagnostics& diags, Filter& out) : diags_(diags), out_(out) {}
    std::optional<Val> check(const Expr& n);

private:
    std::optional<Val> name(const Expr& n);
    std::optional<Val> unary(const Expr& n);
    std::optional<Val> binary(const Expr& n);
    std::optional<Val> in(const Expr& n);
    std::optional<Val> equality(const Expr& n, const Val& a, const Val& b);
    Diagnostic& error(SourceRange r, std::string msg) { return diags_.error(r, std::move(msg)); }

    Diagnostics& diags_;
    Filter& out_;
};

// `field` (a 16-byte array) against an address literal: the family, then the
// bytes the prefix covers, the last one masked. /0 matches the whole family.
std::string address_match(const std::string& field, const AddressLiteral& lit)
{
    int bits = static_cast<int>(lit.prefix.value_or(lit.family == 4 ? 32 : 128));
    std::string c = fmt::format("(p->family == {}", lit.family == 4 ? 2 : 10);
    for (int i = 0; bits > 0; ++i, bits -= 8) {
        unsigned mask = bits >= 8 ? 0xff : (0xff00u >> bits) & 0xff;
        unsigned byte = lit.bytes[static_cast<std::size_t>(i)] & mask;
        if (mask == 0xff) c += fmt::format(" && {}[{}] == 0x{:02x}", field, i, byte);
        else c += fmt::format(" && ({}[{}] & 0x{:02x}) == 0x{:02x}", field, i, mask, byte);
    }
    return c + ")";
}

// A char[16] field against a string literal, terminating NUL included.
std::string string_match(const std::string& field, const std::string& s)
{
    std::string c = "(";
    for (std::size_t i = 0; i <= s.size(); ++i)
        c += fmt::format("{}{}[{}] == 0x{:02x}", i ? " && " : "", field, i, i < s.size() ? static_cast<unsigned char>(s[i]) : 0u);
    return c + ")";
}

std::optional<Val> FilterChecker::check(const Expr& n)
{
    switch (n.kind) {
    case ExprKind::Int: {
        Val v;
        v.is_unsigned = n.is_unsigned;
        v.c = fmt::format("(({})0x{:x}ULL)", n.is_unsigned ? "__u64" : "__s64", n.value);
        return v;
    }
    case ExprKind::Ident: return name(n);
    case ExprKind::Address: {
        Val v;
        v.kind = VKind::AddrLit;
        v.node = &n;
        return v;
    }
    case ExprKind::String: {
        Val v;
        v.kind = VKind::StrLit;
        v.node = &n;
        return v;
    }
    case ExprKind::Unary: return unary(n);
    case ExprKind::Binary: return binary(n);
    case ExprKind::In: return in(n);
    case ExprKind::Member:
    case ExprKind::Index:
    case ExprKind::Cast:
    case ExprKind::Call:
    case ExprKind::Coalesce: break;  // refused before folding (refuse_rule_forms)
    }
    return std::nullopt;
}

std::optional<Val> FilterChecker::name(const Expr& n)
{
    for (const FilterBuiltin& b : kBuiltins)
        if (n.name == b.name) {
            Val v;
            v.kind = b.kind;
            v.c = b.c;
            v.field = b.name;
            out_.uses_packet = out_.uses_packet || (b.uses & 1);
            out_.uses_task = out_.uses_task || (b.uses & 2);
            out_.uses_netns = out_.uses_netns || (b.uses & 4);
            return v;
        }
    for (const auto& [proto, number] : kProtocols)
        if (n.name == proto) {
            Val v;
            v.c = fmt::format("((__s64){})", number);
            return v;
        }
    std::vector<std::string> names;
    for (const FilterBuiltin& b : kBuiltins) names.emplace_back(b.name);
    for (const auto& p : kProtocols) names.emplace_back(p.first);
    Diagnostic& d = error(n.range, fmt::format("unknown name '{}' in a filter", n.name));
    std::string dym = did_you_mean(n.name, names);
    d.hint(dym.empty() ? "filters read saddr, daddr, sport, dport, proto, dev, netns, comm and pid; proto may be tcp, udp, icmp, icmpv6 or sctp"
                       : dym);
    return std::nullopt;
}

std::optional<Val> FilterChecker::unary(const Expr& n)
{
    auto x = check(*n.kids[0]);
    if (!x) return std::nullopt;
    if (x->kind != VKind::Num) {
        error(n.range, fmt::format("'{}' needs a number, not {}", spelling(n.unary_op), describe(*x)))
            .hint(is_addr(*x) ? "compare addresses with '==', '!=' or 'in'" : "compare strings with '==' or '!='");
        return std::nullopt;
    }
    Val v;
    const char* t = x->is_unsigned ? "__u64" : "__s64";
    switch (n.unary_op) {
    case UnaryOp::Not: v.c = fmt::format("((__s64)!({}))", x->c); break;
    case UnaryOp::Neg: v.c = fmt::format("(-({})({}))", t, x->c), v.is_unsigned = x->is_unsigned; break;
    case UnaryOp::BitNot: v.c = fmt::format("(~({})({}))", t, x->c), v.is_unsigned = x->is_unsigned; break;
    }
    return v;
}

std::optional<Val> FilterChecker::equality(const Expr& n, const Val& a, const Val& b)
{
    const bool ne = n.binary_op == BinaryOp::Ne;
    const char* op = ne ? "!=" : "==";
    auto wrap = [&](const std::string& match) {
        Val v;
        v.c = fmt::format("((__s64){}{})", ne ? "!" : "", match);
        return v;
    };
    if (is_addr(a) || is_addr(b)) {
        if (!is_addr(a) || !is_addr(b)) {
            error(n.range, fmt::format("cannot compare {} with {}", describe(a), describe(b)))
                .hint("compare saddr or daddr with an address (saddr == 10.0.0.1) or test a network (saddr in 10.0.0.0/8); ports are sport and dport");
            return std::nullopt;
        }
        if (a.kind == VKind::AddrField && b.kind == VKind::AddrField) {
            std::string c = "(";
            for (int i = 0; i < 16; ++i) c += fmt::format("{}{}[{}] == {}[{}]", i ? " && " : "", a.c, i, b.c, i);
            return wrap(c + ")");
        }
        if (a.kind == VKind::AddrLit && b.kind == VKind::AddrLit) {
            error(n.range, "cannot compare two address literals").hint("compare saddr or daddr with an address");
            return std::nullopt;
        }
        const Val& field = a.kind == VKind::AddrField ? a : b;
        const Val& lit = a.kind == VKind::AddrField ? b : a;
        if (lit.node->address.prefix) {
            error(lit.node->range, fmt::format("'{}' compares with one address, not a network", op))
                .hint(fmt::format("test a network with 'in', e.g. '{}{} in 10.0.0.0/8{}'", ne ? "!(" : "", field.field, ne ? ")" : ""));
            return std::nullopt;
        }
        return wrap(address_match(field.c, lit.node->address));
    }
    if (is_str(a) || is_str(b)) {
        if (!is_str(a) || !is_str(b)) {
            error(n.range, fmt::format("cannot compare {} with {}", describe(a), describe(b)))
                .hint("dev and comm compare with a string such as \"eth0\"");
            return std::nullopt;
        }
        if (a.kind == b.kind) {
            error(n.range, a.kind == VKind::StrLit ? "cannot compare two string literals" : "cannot compare two names with each other")
                .hint("compare dev or comm with a string such as \"eth0\"");
            return std::nullopt;
        }
        const Val& field = a.kind == VKind::StrField ? a : b;
        const Val& lit = a.kind == VKind::StrField ? b : a;
        const std::string& s = lit.node->string_value;
        if (s.find('\0') != std::string::npos) {
            error(lit.node->range, "a NUL character cannot be part of a device or task name");
            return std::nullopt;
        }
        if (s.size() > kNameBytes) {
            error(lit.node->range, fmt::format("'{}' is longer than a {} ({} bytes at most)", s, field.field == "dev" ? "device name" : "task name",
                                               kNameBytes))
                .hint(field.field == "dev" ? "device names have at most 15 bytes" : "the kernel keeps the first 15 bytes of a task's name; compare with those");
            return std::nullopt;
        }
        return wrap(string_match(field.c, s));
    }
    Val v;
    const char* ct = a.is_unsigned || b.is_unsigned ? "__u64" : "__s64";
    v.c = fmt::format("((__s64)(({0})({1}) {2} ({0})({3})))", ct, a.c, op, b.c);
    return v;
}

std::optional<Val> FilterChecker::binary(const Expr& n)
{
    auto a = check(*n.kids[0]);
    auto b = check(*n.kids[1]);
    if (!a || !b) return std::nullopt;
    const BinaryOp op = n.binary_op;
    if (op == BinaryOp::Eq || op == BinaryOp::Ne) return equality(n, *a, *b);
    if (a->kind != VKind::Num || b->kind != VKind::Num) {
        Diagnostic& d = error(n.range, fmt::format("invalid operands to '{}' ({} and {})", spelling(op), describe(*a), describe(*b)));
        if (is_addr(*a) || is_addr(*b)) d.hint("addresses compare with '==', '!=' and 'in' only");
        else d.hint("strings compare with '==' and '!=' only");
        return std::nullopt;
    }
    Val v;
    const bool uns = a->is_unsigned || b->is_unsigned;
    const char* t = uns ? "__u64" : "__s64";
    switch (op) {
    case BinaryOp::LogAnd:
    case BinaryOp::LogOr: v.c = fmt::format("((__s64)(({}) {} ({})))", a->c, spelling(op), b->c); return v;
    case BinaryOp::Lt:
    case BinaryOp::Le:
    case BinaryOp::Gt:
    case BinaryOp::Ge: v.c = fmt::format("((__s64)(({0})({1}) {2} ({0})({3})))", t, a->c, spelling(op), b->c); return v;
    case BinaryOp::Div:
    case BinaryOp::Mod:
        // As in rules and BPF: x / 0 is 0, x % 0 is x.
        if (uns) v.c = fmt::format("((__u64)({}) {} (__u64)({}))", a->c, spelling(op), b->c);
        else v.c = fmt::format("{}((__s64)({}), (__s64)({}))", op == BinaryOp::Div ? "rtd_sdiv" : "rtd_smod", a->c, b->c);
        v.is_unsigned = uns;
        return v;
    case BinaryOp::Shl:
    case BinaryOp::Shr:
        v.is_unsigned = a->is_unsigned;
        v.c = fmt::format("(({0})({1}) {2} (({3}) & 63))", a->is_unsigned ? "__u64" : "__s64", a->c, spelling(op), b->c);
        return v;
    default:
        v.is_unsigned = uns;
        v.c = fmt::format("(({0})({1}) {2} ({0})({3}))", t, a->c, spelling(op), b->c);
        return v;
    }
}

std::optional<Val> FilterChecker::in(const Expr& n)
{
    auto a = check(*n.kids[0]);
    auto b = check(*n.kids[1]);
    if (!a || !b) return std::nullopt;
    if (a->kind != VKind::AddrField) {
        error(n.kids[0]->range, fmt::format("'in' needs saddr or daddr on its left, not {}", a->kind == VKind::AddrLit ? "an address literal" : describe(*a)))
            .hint("write e.g. 'saddr in 10.0.0.0/8'");
        return std::nullopt;
    }
    if (b->kind != VKind::AddrLit) {
        error(n.kids[1]->range, fmt::format("'in' needs a network on its right, not {}", describe(*b)))
            .hint("write a network as ADDRESS/PREFIX, e.g. 10.0.0.0/8 or 2001:db8::/32");
        return std::nullopt;
    }
    Val v;
    v.c = fmt::format("((__s64){})", address_match(a->c, b->node->address));
    return v;
}

// The rule language's forms that mean nothing over a drop's packet and
// task. Only the first is reported, and before folding, which would take
// '(u8)1' for a plain 1.
bool refuse_rule_forms(const Expr& e, Diagnostics& diags)
{
    const char* what = nullptr;
    switch (e.kind) {
    case ExprKind::Call: what = "macro calls are"; break;
    case ExprKind::Cast: what = "casts are"; break;
    case ExprKind::Member:
    case ExprKind::Index: what = "fields and indexes are"; break;
    case ExprKind::Coalesce: what = "'??' is"; break;
    default:
        for (const ExprPtr& k : e.kids)
            if (!refuse_rule_forms(*k, diags)) return false;
        return true;
    }
    diags.error(e.range, fmt::format("{} not available in a filter", what))
        .hint("filters use the builtins saddr, daddr, sport, dport, proto, dev, netns, comm and pid");
    return false;
}

}  // namespace

std::optional<Filter> compile_filter(std::string_view text, SourceManager& sources, Diagnostics& diags)
{
    FileId file = sources.add("--where", std::string(text));
    std::size_t errors = diags.error_count();
    ExprPtr tree = parse_expression(file, sources, diags);
    if (!tree || !refuse_rule_forms(*tree, diags) || !fold_constants(tree, sources, diags) || diags.error_count() != errors)
        return std::nullopt;
    Filter f;
    f.text = std::string(text);
    FilterChecker checker(diags, f);
    auto v = checker.check(*tree);
    if (!v || diags.error_count() != errors) return std::nullopt;
    if (v->kind != VKind::Num) {
        diags.error(tree->range, fmt::format("a filter must be a condition, not {}", describe(*v)))
            .hint(is_addr(*v) ? "e.g. saddr == 10.0.0.1 or saddr in 10.0.0.0/8" : "e.g. dev == \"eth0\"");
        return std::nullopt;
    }
    f.c_expr = v->c;
    return f;
}

}  // namespace rtd
