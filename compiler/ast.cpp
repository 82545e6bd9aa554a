#include "compiler/ast.h"

#include "compiler/language.h"

#include <algorithm>

#include <fmt/format.h>

namespace rtd {

const char* spelling(UnaryOp op)
{
    switch (op) {
    case UnaryOp::Not: return "!";
    case UnaryOp::Neg: return "-";
    case UnaryOp::BitNot: return "~";
    }
    return "?";
}

const char* spelling(BinaryOp op)
{
    switch (op) {
    case BinaryOp::Mul: return "*";
    case BinaryOp::Div: return "/";
    case BinaryOp::Mod: return "%";
    case BinaryOp::Add: return "+";
    case BinaryOp::Sub: return "-";
    case BinaryOp::Shl: return "<<";
    case BinaryOp::Shr: return ">>";
    case BinaryOp::Lt: return "<";
    case BinaryOp::Le: return "<=";
    case BinaryOp::Gt: return ">";
    case BinaryOp::Ge: return ">=";
    case BinaryOp::Eq: return "==";
    case BinaryOp::Ne: return "!=";
    case BinaryOp::BitAnd: return "&";
    case BinaryOp::BitXor: return "^";
    case BinaryOp::BitOr: return "|";
    case BinaryOp::LogAnd: return "&&";
    case BinaryOp::LogOr: return "||";
    }
    return "?";
}

std::string TypeRef::spelling() const
{
    std::string s;
    switch (tag) {
    case Tag::Struct: s = "struct "; break;
    case Tag::Union: s = "union "; break;
    case Tag::Enum: s = "enum "; break;
    case Tag::Scalar: break;
    }
    s += name;
    if (pointers > 0) s += ' ' + std::string(pointers, '*');
    return s;
}

ExprPtr Expr::clone() const
{
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->range = range;
    e->expansion = expansion;
    e->depth = depth;
    e->value = value;
    e->is_unsigned = is_unsigned;
    e->constant = constant;
    e->name = name;
    e->name_range = name_range;
    e->ident = ident;
    e->arrow = arrow;
    e->unary_op = unary_op;
    e->binary_op = binary_op;
    e->type = type;
    e->address = address;
    e->string_value = string_value;
    e->kids.reserve(kids.size());
    for (const ExprPtr& k : kids) e->kids.push_back(k->clone());
    return e;
}

void Expr::update_depth()
{
    std::uint32_t d = 0;
    for (const ExprPtr& k : kids) d = std::max(d, k->depth);
    depth = d + 1;
}

ExprPtr make_int(std::uint64_t value, bool is_unsigned, SourceRange range)
{
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::Int;
    e->value = value;
    e->is_unsigned = is_unsigned;
    e->range = range;
    return e;
}

std::string Probe::spelling() const
{
    switch (kind) {
    case ProbeKind::Kprobe: return "kprobe:" + function;
    case ProbeKind::Kretprobe: return "kretprobe:" + function;
    case ProbeKind::Tracepoint: return fmt::format("tracepoint:{}:{}", category, event);
    }
    return {};
}

std::optional<Probe> Probe::from_spelling(std::string_view text)
{
    Probe p;
    std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string_view kind = text.substr(0, colon), rest = text.substr(colon + 1);
    if (rest.empty()) return std::nullopt;
    if (kind == "kprobe" || kind == "kretprobe") {
        p.kind = kind == "kprobe" ? ProbeKind::Kprobe : ProbeKind::Kretprobe;
        p.function = std::string(rest);
        return p;
    }
    std::size_t second = rest.find(':');
    if (kind != "tracepoint" || second == std::string_view::npos || second == 0 || second + 1 == rest.size()) return std::nullopt;
    p.kind = ProbeKind::Tracepoint;
    p.category = std::string(rest.substr(0, second));
    p.event = std::string(rest.substr(second + 1));
    return p;
}

bool is_kfree_skb(const Probe& p) { return p.kind == ProbeKind::Tracepoint && p.category == "skb" && p.event == "kfree_skb"; }

bool TextTemplate::asks_evidence() const
{
    return std::any_of(pieces.begin(), pieces.end(), [](const Piece& p) { return !p.evidence.empty(); });
}

std::string TextTemplate::quoted() const
{
    std::string out = "\"";
    for (const TextTemplate::Piece& p : pieces) {
        if (p.placeholder && !p.evidence.empty()) {
            out += "{" + p.evidence + ":";
            for (const TextTemplate::Piece& a : p.arg) out += a.placeholder ? "{" + a.text + "}" : a.text;
            out += "}";
            continue;
        }
        if (p.placeholder) {
            out += "{" + p.text + "}";
            continue;
        }
        for (char c : p.text) {
            const Escape* e = std::find_if(std::begin(kEscapes), std::end(kEscapes), [c](const Escape& k) { return k.byte == c; });
            if (c == '{' || c == '}') out += std::string(2, c);  // not a placeholder
            else if (e != std::end(kEscapes)) out += std::string("\\") + e->letter;
            else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
            else out += c;  // UTF-8 as it is: '\x' names ASCII only
        }
    }
    return out + "\"";
}
std::string MonitorSource::spelling() const
{
    switch (kind) {
    case SourceKind::Snmp: return "snmp:" + key;
    case SourceKind::Link: return "link:" + key;
    case SourceKind::Sysctl: return "sysctl:" + key;
    case SourceKind::Netdev: return "netdev:" + key;
    case SourceKind::Softnet: return "softnet:" + key;
    }
    return {};
}

std::string counted_spelling(const std::vector<CounterGroup>& groups)
{
    std::string out;
    for (const CounterGroup& g : groups) {
        if (!out.empty()) out += ", ";
        for (std::size_t i = 0; i < g.alternatives.size(); ++i) out += (i ? " | " : "") + g.alternatives[i].spelling();
    }
    return out;
}

const Binding* RuleDecl::find_capture(std::string_view name) const
{
    for (const Binding& c : captures)
        if (c.name == name) return &c;
    return nullptr;
}

const Binding* RuleDecl::find_param(std::string_view name) const
{
    for (const Binding& p : params)
        if (p.name == name) return &p;
    return nullptr;
}


}  // namespace rtd
