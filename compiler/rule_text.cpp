#include "compiler/rule_text.h"

#include <fmt/format.h>

namespace rtd {

namespace {

std::optional<std::string> expr_text(const Expr& e)
{
    switch (e.kind) {
    case ExprKind::Int:
        if (e.is_unsigned) return fmt::format("0x{:x}", e.value);  // hex that does not fit s64 stays unsigned, as in C
        if (e.signed_value() >= 0) return std::to_string(e.value);
        if (e.signed_value() == INT64_MIN) return std::string("(-9223372036854775807 - 1)");
        return fmt::format("(-{})", -e.signed_value());
    case ExprKind::Ident: return e.name;
    case ExprKind::Unary: {
        auto a = expr_text(*e.kids[0]);
        if (!a) return std::nullopt;
        return fmt::format("({}{})", spelling(e.unary_op), *a);
    }
    case ExprKind::Binary: {
        auto a = expr_text(*e.kids[0]), b = expr_text(*e.kids[1]);
        if (!a || !b) return std::nullopt;
        return fmt::format("({} {} {})", *a, spelling(e.binary_op), *b);
    }
    default: return std::nullopt;
    }
}


}  // namespace

std::optional<std::string> monitor_text(const RuleDecl& d, std::string& error)
{
    if (!d.is_monitor || !d.source) {
        error = d.id + " is not a monitor";
        return std::nullopt;
    }
    auto expr = [&](const ExprPtr& e, const char* what) -> std::optional<std::string> {
        auto t = e ? expr_text(*e) : std::nullopt;
        if (!t) error = fmt::format("{}: its {} cannot be written back as text", d.id, what);
        return t;
    };
    std::string out = fmt::format("monitor {} {{\n", d.id);
    if (d.layer) out += fmt::format("    layer l{}\n", *d.layer);
    out += fmt::format("    source {}\n", d.source->spelling());
    for (const Binding& p : d.params) {
        auto v = expr(p.expr, "param");
        if (!v) return std::nullopt;
        out += fmt::format("    param {} = {}\n", p.name, *v);
    }
    for (const Binding& c : d.captures) {
        auto v = expr(c.expr, "capture");
        if (!v) return std::nullopt;
        out += fmt::format("    capture {} = {}\n", c.name, *v);
    }
    if (d.condition) {
        auto v = expr(d.condition, "condition");
        if (!v) return std::nullopt;
        out += fmt::format("    {} if {}\n", d.condition_kind == ConditionKind::Warn ? "warn" : "drop", *v);
    }
    if (d.noise) {
        auto v = expr(d.noise, "noise condition");
        if (!v) return std::nullopt;
        out += fmt::format("    noise if {}\n", *v);
    }
    if (d.message) out += "    message " + d.message->quoted() + "\n";
    if (d.hint) out += "    hint    " + d.hint->quoted() + "\n";
    return out + "}\n";
}

}  // namespace rtd
