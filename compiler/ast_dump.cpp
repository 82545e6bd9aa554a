#include "compiler/ast_dump.h"

#include <filesystem>

#include <fmt/format.h>

namespace rtd {

namespace {

std::string where(SourceRange r, FileId home, const SourceManager& sources)
{
    if (!r.valid()) return "@?";
    const SourceFile& f = sources.file(r.file);
    LineCol b = f.line_col(r.begin);
    LineCol e = f.line_col(r.end > r.begin ? r.end - 1 : r.begin);
    // Nodes spelled in another file (macro bodies) name that file.
    std::string file = r.file == home ? "" : std::filesystem::path(f.path()).filename().string() + ":";
    return fmt::format("@{}{}:{}-{}:{}", file, b.line, b.col, e.line, e.col);
}

const char* ident_kind(IdentKind k)
{
    switch (k) {
    case IdentKind::Unresolved: return "ident";
    case IdentKind::Kernel: return "kernel";
    case IdentKind::Ret: return "ret";
    case IdentKind::Capture: return "capture";
    case IdentKind::MonitorValue: return "value";
    }
    return "?";
}

void dump(const Expr& e, FileId home, const SourceManager& sources, std::string& out, bool ranges = true)
{
    std::string at = ranges ? where(e.range, home, sources) : "";
    if (e.expansion) at += "{" + e.expansion->macro + "}";
    switch (e.kind) {
    case ExprKind::Int:
        out += e.is_unsigned ? fmt::format("{}u", e.value) : fmt::format("{}", e.signed_value());
        if (!e.constant.empty()) out += "=" + e.constant;
        out += at;
        return;
    case ExprKind::Ident: out += fmt::format("({} {}{})", ident_kind(e.ident), e.name, at); return;
    case ExprKind::Member: out += fmt::format("({} {}{} ", e.arrow ? "->" : ".", e.name, at); break;
    case ExprKind::Index: out += fmt::format("([]{} ", at); break;
    case ExprKind::Unary: out += fmt::format("({}{} ", spelling(e.unary_op), at); break;
    case ExprKind::Binary: out += fmt::format("({}{} ", spelling(e.binary_op), at); break;
    case ExprKind::Cast: out += fmt::format("(cast '{}'{} ", e.type.spelling(), at); break;
    case ExprKind::Call: out += fmt::format("(call {}{} ", e.name, at); break;
    case ExprKind::Coalesce: out += fmt::format("(??{} ", at); break;
    // Filter-only forms: the parser refuses them in rules, so no rule dump shows one.
    case ExprKind::Address: out += fmt::format("(address{})", at); return;
    case ExprKind::String: out += fmt::format("(string{})", at); return;
    case ExprKind::In: out += fmt::format("(in{} ", at); break;
    }
    for (std::size_t i = 0; i < e.kids.size(); ++i) {
        if (i) out += ' ';
        dump(*e.kids[i], home, sources, out, ranges);
    }
    out += ')';
}


}  // namespace

std::string dump_expr(const Expr& e, const SourceManager& sources, bool ranges)
{
    std::string out;
    dump(e, e.range.file, sources, out, ranges);
    return out;
}

std::string dump_rule(const RuleDecl& r, const SourceManager& sources)
{
    FileId home = r.range.file;
    std::string out = fmt::format("{} {} {}\n", r.is_monitor ? "monitor" : "rule", r.id, where(r.range, home, sources));
    if (r.layer) out += fmt::format("  layer l{}\n", *r.layer);
    for (const Probe& p : r.probes) out += fmt::format("  probe {} {}\n", p.spelling(), where(p.range, home, sources));
    if (r.source) out += fmt::format("  source {} {}\n", r.source->spelling(), where(r.source->range, home, sources));
    auto expr = [&](const ExprPtr& e) {
        std::string s;
        if (e) dump(*e, home, sources, s);
        return s;
    };
    for (const Binding& p : r.params) out += fmt::format("  param {} = {}\n", p.name, expr(p.expr));
    for (const Binding& c : r.captures) out += fmt::format("  capture {} = {}\n", c.name, expr(c.expr));
    if (r.condition_kind != ConditionKind::None)
        out += fmt::format("  {} if {}\n", r.condition_kind == ConditionKind::Drop ? "drop" : "warn", expr(r.condition));
    if (r.noise) out += fmt::format("  noise if {}\n", expr(r.noise));
    if (r.fallback) out += "  fallback\n";
    if (!r.instead_of.empty()) {
        out += "  instead of";
        for (std::size_t i = 0; i < r.instead_of.size(); ++i) out += (i ? ", " : " ") + r.instead_of[i].first;
        out += "\n";
    }
    if (!r.counted_as.empty()) out += fmt::format("  counted as {}\n", counted_spelling(r.counted_as));
    if (r.packet) out += fmt::format("  packet {}\n", expr(r.packet));
    if (r.stack) out += "  stack\n";
    if (r.track) out += "  track\n";
    if (r.message) out += fmt::format("  message {}\n", r.message->quoted());
    if (r.hint) out += fmt::format("  hint {}\n", r.hint->quoted());
    return out;
}


std::string dump_typed(const TExpr& e, const Btf& btf)
{
    std::string type = "'" + btf.spelling(e.type) + "'";
    std::string head;
    switch (e.kind) {
    case TKind::Const: return fmt::format("{}:{}", btf.is_signed(e.type) ? fmt::format("{}", static_cast<std::int64_t>(e.value)) : fmt::format("{}", e.value), type);
    case TKind::Arg: return fmt::format("(arg {} {})", e.name, type);
    case TKind::Ret: return fmt::format("(ret {})", type);
    case TKind::Capture: return fmt::format("(capture {} {})", e.name, type);
    case TKind::Member:
        head = fmt::format("{} {}{}", e.through_pointer ? "->" : ".", e.name, e.bitfield_size ? fmt::format(":{}", e.bitfield_size) : "");
        break;
    case TKind::Index: head = "[]"; break;
    case TKind::Unary: head = spelling(e.unary_op); break;
    case TKind::Binary: head = spelling(e.binary_op); break;
    case TKind::Cast: head = "cast"; break;
    }
    std::string out = "(" + head + " " + type;
    for (const TExprPtr& k : e.kids) out += " " + dump_typed(*k, btf);
    return out + ")";
}

std::string dump_typed_rule(const TypedRule& r, const Btf& btf)
{
    std::string out = fmt::format("rule {}{}\n", r.decl->id, r.skipped ? " (skipped on this kernel)" : "");
    for (std::size_t i = 0; i < r.captures.size(); ++i) {
        const CaptureSchema& c = r.captures[i];
        out += fmt::format("  capture {}: {}{}\n", c.name, value_kind_name(c.kind),
                           c.kind == ValueKind::Enum ? " " + c.enum_name : c.kind == ValueKind::String ? fmt::format("[{}]", c.size) : "");
    }
    for (const TypedProbe& p : r.probes) {
        out += fmt::format("  probe {}", p.probe->spelling());
        if (!p.available) {
            out += fmt::format(": skipped ({})\n", p.skip_reason);
            continue;
        }
        out += fmt::format(" -> {}(", p.signature.symbol);
        for (std::size_t i = 0; i < p.signature.params.size(); ++i)
            out += fmt::format("{}{} {}", i ? ", " : "", btf.spelling(p.signature.params[i].type), p.signature.params[i].name);
        out += fmt::format(") {}\n", btf.spelling(p.signature.ret));
        for (const std::string& c : p.choices) out += "    " + c + "\n";
        for (std::size_t i : r.capture_order)
            if (p.captures[i]) out += fmt::format("    capture {} = {}\n", r.decl->captures[i].name, dump_typed(*p.captures[i], btf));
        if (p.condition) out += fmt::format("    {} if {}\n", r.decl->condition_kind == ConditionKind::Warn ? "warn" : "drop", dump_typed(*p.condition, btf));
        if (p.packet) out += fmt::format("    packet {}\n", dump_typed(*p.packet, btf));
    }
    return out;
}

}  // namespace rtd
