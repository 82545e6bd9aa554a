#include "compiler/parser.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <tuple>
#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <tao/pegtl/contrib/parse_tree.hpp>

#include "compiler/filter_address.h"
#include "compiler/grammar.h"
#include "compiler/language.h"
#include "compiler/proc_counters.h"
#include "compiler/suggest.h"

namespace rtd {

namespace g = grammar;
namespace pegtl = tao::pegtl;
using Node = pegtl::parse_tree::node;

namespace {

// Expressions deeper than this (long operator chains included) are refused:
// every later pass walks expressions recursively.
constexpr std::uint32_t kMaxExprDepth = 256;

bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string_view word_at(std::string_view text, std::size_t off)
{
    std::size_t e = off;
    while (e < text.size() && is_word_char(text[e])) ++e;
    return text.substr(off, e - off);
}

// ---- Error messages computed from the input ------------------------------

g::SyntaxError item_error(std::string_view text, std::size_t off)
{
    std::string_view w = word_at(text, off);
    g::SyntaxError e{off, "expected 'rule', 'monitor', 'const', 'def' or 'use'", {}, {}};
    if (!w.empty()) {
        for (const std::string& c : clause_keywords())
            if (w == c) {
                e.message = fmt::format("'{}' outside of a rule", w);
                e.hint = "clauses belong inside the braces of a 'rule' or 'monitor'";
                return e;
            }
        e.hint = did_you_mean(w, top_level_keywords());
    } else if (text[off] == '}') {
        e.message = "unexpected '}'";
        e.hint = "there is one '}' too many before this point";
    }
    return e;
}

g::SyntaxError clause_error(std::string_view text, std::size_t off)
{
    std::string_view w = word_at(text, off);
    if (off >= text.size())
        return {off, "expected '}' at end of file", {}, "the unclosed body belongs to the item"};
    if (text[off] == '=' && (off + 1 >= text.size() || text[off + 1] != '='))
        return {off, "unexpected '='", "use '==' to compare", {}};
    if (w == "if") return {off, "'if' must follow 'drop' or 'warn'", {}, {}};
    for (const std::string& k : top_level_keywords())
        if (w == k)
            return {off, fmt::format("expected '}}' before '{}'", w), {}, "the unclosed body belongs to the item"};
    if (!w.empty()) {
        if (auto m = closest_match(w, clause_keywords()))
            return {off, fmt::format("unknown clause '{}'", w), fmt::format("did you mean '{}'?", *m), {}};
    }
    return {off, "expected a clause or '}'",
            "clauses are: layer, probe, source, capture, param, drop if, warn if, noise if, fallback, instead of, counted as, "
            "packet, stack, track, message, hint",
            {}};
}

template <typename T> struct is_operand_after : std::false_type {};
template <typename Op, typename Next> struct is_operand_after<g::operand_after<Op, Next>> : std::true_type {
    static constexpr const char* op = Op::text;
};

// Every must<> failure ends here: a message of ours, never a rule name.
template <typename Rule> struct control : pegtl::normal<Rule> {
    template <typename Input, typename... States>
    [[noreturn]] static void raise(const Input& in, States&&... st)
    {
        g::ParseState& ps = g::parse_state(st...);
        std::size_t off = static_cast<std::size_t>(in.current() - ps.text);
        std::string_view text(ps.text, static_cast<std::size_t>(in.end() - ps.text));
        if constexpr (std::is_same_v<Rule, g::item>) {
            throw item_error(text, off);
        } else if constexpr (std::is_same_v<Rule, g::body_close>) {
            g::SyntaxError e = clause_error(text, off);
            if (!e.note.empty()) e.related = ps.item_begin;
            throw e;
        } else if constexpr (std::is_same_v<Rule, g::paren_close>) {
            g::SyntaxError e{off, "expected ')'", {}, "to match the '('"};
            e.related = ps.parens.empty() ? off : ps.parens.back();
            throw e;
        } else if constexpr (is_operand_after<Rule>::value) {
            throw g::SyntaxError{off, fmt::format("expected an expression after '{}'", is_operand_after<Rule>::op), {}, {}};
        } else {
            static_assert(g::error<Rule>::message != nullptr, "every must<> target needs an error message");
            throw g::SyntaxError{off, g::error<Rule>::message, {}, {}};
        }
    }
};

template <typename Rule>
using base_selector = pegtl::parse_tree::selector<
    Rule,
    pegtl::parse_tree::store_content::on<
        g::ident, g::int_lit, g::addr_lit, g::str_lit, g::op_in, g::callee, g::call, g::cast, g::type_name, g::type_tag, g::type_ident,
        g::scalar_type, g::pointer_star, g::paren, g::field_name, g::member_dot, g::member_arrow,
        g::index_op, g::unary_op, g::unary_expr, g::op_coalesce, g::op_or, g::op_and, g::op_bitor,
        g::op_bitxor, g::op_bitand, g::op_eq, g::op_ne, g::op_le, g::op_ge, g::op_lt, g::op_gt,
        g::op_shl, g::op_shr, g::op_add, g::op_sub, g::op_mul, g::op_div, g::op_mod, g::layer_clause,
        g::layer_name, g::probe_clause, g::probe_spec, g::probe_kind, g::probe_part, g::source_clause,
        g::source_kind, g::source_key, g::capture_clause, g::param_clause, g::binding_name,
        g::drop_clause, g::warn_clause, g::packet_clause, g::stack_clause, g::track_clause, g::message_clause,
        g::hint_clause, g::text_value, g::rule_id, g::rule_decl, g::monitor_decl, g::use_decl,
        g::noise_clause, g::fallback_clause, g::instead_clause, g::instead_target, g::counted_clause, g::counter_group, g::counter_spec,
        g::use_target, g::const_decl, g::def_decl, g::macro_name, g::macro_param>,
    pegtl::parse_tree::fold_one::on<g::coalesce, g::logical_or, g::logical_and, g::bit_or, g::bit_xor,
                                    g::bit_and, g::equality, g::relational, g::shift, g::additive,
                                    g::multiplicative, g::postfix>>;

// The operand after a binary operator derives from the next precedence
// level (so its message can name the operator) and so is a rule type of its
// own: it needs the same folding as that level, or its operators would be
// hoisted into the parent's list and precedence lost.
template <typename Rule> struct selector : base_selector<Rule> {};
template <typename Op, typename Next> struct selector<g::operand_after<Op, Next>> : std::true_type {
    template <typename N, typename... States> static void transform(std::unique_ptr<N>& n, States&&... st)
    {
        pegtl::parse_tree::fold_one::transform(n, st...);
    }
};

// Where to resume after a syntax error: the next line that starts with a
// top-level keyword (indented or not), or with any other word in column 1
// that is not a clause keyword, or just after a '}' in column 1.
std::size_t recovery_point(std::string_view text, std::size_t from)
{
    auto is_one_of = [](std::string_view w, const std::vector<std::string>& words) {
        return std::find(words.begin(), words.end(), w) != words.end();
    };
    std::size_t nl = text.find('\n', from);
    while (nl != std::string_view::npos) {
        std::size_t line = nl + 1, p = line;
        if (p < text.size() && text[p] == '}') return p + 1;
        while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
        std::string_view w = word_at(text, p);
        if (is_one_of(w, top_level_keywords())) return p;
        if (p == line && !w.empty() && !std::isdigit(static_cast<unsigned char>(w[0])) && !is_one_of(w, clause_keywords()))
            return p;
        nl = text.find('\n', p);
    }
    return text.size();
}

std::optional<BinaryOp> binary_op_of(const Node& n)
{
    static const std::pair<std::string_view, BinaryOp> table[] = {
        {"*", BinaryOp::Mul},   {"/", BinaryOp::Div},     {"%", BinaryOp::Mod},    {"+", BinaryOp::Add},
        {"-", BinaryOp::Sub},   {"<<", BinaryOp::Shl},    {">>", BinaryOp::Shr},   {"<", BinaryOp::Lt},
        {"<=", BinaryOp::Le},   {">", BinaryOp::Gt},      {">=", BinaryOp::Ge},    {"==", BinaryOp::Eq},
        {"!=", BinaryOp::Ne},   {"&", BinaryOp::BitAnd},  {"^", BinaryOp::BitXor}, {"|", BinaryOp::BitOr},
        {"&&", BinaryOp::LogAnd}, {"||", BinaryOp::LogOr},
    };
    std::string_view s = n.string_view();
    for (const auto& [text, op] : table)
        if (s == text) return op;
    return std::nullopt;
}

// Whether a source's key is one of `names`; if not, an error "unknown WHAT
// 'KEY'" at the key, with a did-you-mean or else `fallback` as the hint.
bool known_key(Diagnostics& diags, const std::string& key, SourceRange range, const std::vector<std::string>& names,
               std::string_view what, std::string_view fallback)
{
    if (std::find(names.begin(), names.end(), key) != names.end()) return true;
    Diagnostic& d = diags.error(range, fmt::format("unknown {} '{}'", what, key));
    std::string m = did_you_mean(key, names);
    d.hint(m.empty() ? std::string(fallback) : m);
    return false;
}

// ---- Parse tree -> AST -----------------------------------------------------

class Converter {
public:
    // `filter`: the text is a --where filter (filter.h), which may hold
    // addresses, strings and 'in'; rules may not.
    Converter(FileId file, const SourceFile& src, Diagnostics& diags, Module& module, bool filter = false)
        : file_(file), src_(src), text_(src.text()), diags_(diags), module_(module), filter_(filter)
    {}

    void item(const Node& n);
    ExprPtr expr(const Node& n);
    ExprPtr refuse_in_rule(SourceRange at, const char* message, const char* hint);

private:
    SourceRange range_of(const Node& n) const
    {
        auto b = static_cast<std::uint32_t>(n.m_begin.data - text_.data());
        auto e = static_cast<std::uint32_t>(n.m_end.data - text_.data());
        return {file_, b, src_.trim_end(b, e)};
    }
    std::string describe(SourceRange r) const
    {
        LineCol lc = src_.line_col(r.begin);
        return fmt::format("{}:{}:{}", src_.path(), lc.line, lc.col);
    }
    std::string text_of(const Node& n) const { return std::string(text_.substr(range_of(n).begin, range_of(n).end - range_of(n).begin)); }

    ExprPtr int_literal(const Node& n);
    ExprPtr finish(ExprPtr e);
    TypeRef type_ref(const Node& n);
    std::optional<TextTemplate> text(const Node& n, bool placeholders);
    template <typename Flush, typename Bad>
    std::uint32_t evidence(TextTemplate& t, std::uint32_t open, std::uint32_t colon, std::uint32_t e, Flush& flush, Bad& bad);
    template <typename Bad>
    std::uint32_t escape(std::uint32_t i, std::uint32_t e, std::string& literal, Bad& bad) const;
    Binding binding(const Node& n);

    void use(const Node& n);
    void constant(const Node& n);
    void macro(const Node& n);
    void rule(const Node& n, bool monitor);
    void track_rule(const RuleDecl& r, const std::map<std::string, SourceRange>& seen);
    void probe(const Node& spec, RuleDecl& r);
    // A source's kind and key, checked; `counter`: for 'counted as', which
    // takes counters only.
    std::optional<MonitorSource> source_of(const Node& spec, bool counter);
    void counted(const Node& clause, RuleDecl& r);

    FileId file_;
    const SourceFile& src_;
    std::string_view text_;
    Diagnostics& diags_;
    Module& module_;
    const bool filter_;
};

ExprPtr Converter::finish(ExprPtr e)
{
    if (!e) return e;
    e->update_depth();
    if (e->depth > kMaxExprDepth) {
        Diagnostic& d = diags_.error(e->range, fmt::format("{} is too deeply nested (more than {} levels)", filter_ ? "filter" : "expression",
                                                           kMaxExprDepth));
        if (!filter_) d.hint("split it with 'capture' or a 'def' macro");
        module_.incomplete = true;
        return nullptr;
    }
    return e;
}

ExprPtr Converter::int_literal(const Node& n)
{
    std::string_view s = n.string_view();
    SourceRange r = range_of(n);
    unsigned base = 10;
    std::size_t i = 0;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) base = 16, i = 2;
    else if (s.size() > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) base = 2, i = 2;
    else if (s.size() > 1 && s[0] == '0') base = 8, i = 1;
    std::uint64_t v = 0;
    for (; i < s.size(); ++i) {
        char c = s[i];
        unsigned d = c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0';
        if (d >= base) {
            diags_.error({file_, r.begin + static_cast<std::uint32_t>(i), r.begin + static_cast<std::uint32_t>(i) + 1},
                         fmt::format("invalid digit '{}' in octal constant", c))
                .hint("a leading 0 makes a number octal, as in C; drop the 0 for decimal");
            module_.incomplete = true;
            return nullptr;
        }
        if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v)) {
            diags_.error(r, "integer literal does not fit in 64 bits");
            module_.incomplete = true;
            return nullptr;
        }
    }
    // Decimal literals are signed while they fit, as in C; others become
    // unsigned past INT64_MAX.
    return make_int(v, v > static_cast<std::uint64_t>(INT64_MAX), r);
}

TypeRef Converter::type_ref(const Node& n)
{
    TypeRef t;
    t.range = range_of(n);
    for (const auto& k : n.children) {
        if (k->is_type<g::type_tag>()) {
            std::string_view tag = k->string_view();
            t.tag = tag == "struct" ? TypeRef::Tag::Struct : tag == "union" ? TypeRef::Tag::Union : TypeRef::Tag::Enum;
        } else if (k->is_type<g::type_ident>()) {
            t.name = k->string();
        } else if (k->is_type<g::scalar_type>()) {
            t.tag = TypeRef::Tag::Scalar;
            std::string words;
            for (char c : text_of(*k)) {
                bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
                if (space && (words.empty() || words.back() == ' ')) continue;
                words += space ? ' ' : c;
            }
            auto canonical = canonical_scalar(words);
            if (!canonical) {
                diags_.error(range_of(*k), fmt::format("'{}' is not a scalar type", words))
                    .hint("scalar casts are u8, u16, u32, u64, s8, s16, s32, s64, bool and C's int types");
                t.name = "s64";
            } else {
                t.name = *canonical;
            }
        } else if (k->is_type<g::pointer_star>()) {
            ++t.pointers;
        }
    }
    return t;
}

// What only filters have (addresses, strings, 'in'), met in a rule.
ExprPtr Converter::refuse_in_rule(SourceRange at, const char* message, const char* hint)
{
    diags_.error(at, message).hint(hint);
    module_.incomplete = true;
    return nullptr;
}

ExprPtr Converter::expr(const Node& n)
{
    auto e = std::make_unique<Expr>();
    if (n.has_content()) e->range = range_of(n);  // folded operator chains keep no content
    if (n.is_type<g::int_lit>()) return int_literal(n);
    if (n.is_type<g::addr_lit>()) {
        if (!filter_)
            return refuse_in_rule(e->range, "an address is only allowed in a --where filter",
                                  "rules compare numbers; filter drops by address with 'rtrace-drop run --where \"saddr in 10.0.0.0/8\"'");
        auto address = parse_address_literal(text_of(n), e->range, diags_);
        if (!address) return nullptr;
        e->kind = ExprKind::Address;
        e->address = *address;
        return e;
    }
    if (n.is_type<g::str_lit>()) {
        if (!filter_)
            return refuse_in_rule(e->range, "a string is only allowed in 'message', 'hint', 'use' and --where filters",
                                  "expressions in rules compute numbers");
        auto t = text(n, false);
        if (!t) return nullptr;
        e->kind = ExprKind::String;
        for (const auto& p : t->pieces) e->string_value += p.text;
        return e;
    }
    if (n.is_type<g::ident>()) {
        e->kind = ExprKind::Ident;
        e->name = n.string();
        e->name_range = e->range;
        return e;
    }
    if (n.is_type<g::call>()) {
        e->kind = ExprKind::Call;
        e->name = n.children[0]->string();
        e->name_range = range_of(*n.children[0]);
        for (std::size_t i = 1; i < n.children.size(); ++i) {
            ExprPtr a = expr(*n.children[i]);
            if (!a) return nullptr;
            e->kids.push_back(std::move(a));
        }
        return finish(std::move(e));
    }
    if (n.is_type<g::paren>()) {
        ExprPtr inner = expr(*n.children[0]);
        if (inner) inner->range = e->range;  // errors on "(a + b)" underline the parentheses too
        return inner;
    }
    if (n.is_type<g::cast>()) {
        e->kind = ExprKind::Cast;
        e->type = type_ref(*n.children[0]);
        ExprPtr operand = expr(*n.children[1]);
        if (!operand) return nullptr;
        e->kids.push_back(std::move(operand));
        return finish(std::move(e));
    }
    if (n.is_type<g::unary_expr>()) {
        e->kind = ExprKind::Unary;
        char op = n.children[0]->string_view()[0];
        e->unary_op = op == '!' ? UnaryOp::Not : op == '-' ? UnaryOp::Neg : UnaryOp::BitNot;
        ExprPtr operand = expr(*n.children[1]);
        if (!operand) return nullptr;
        e->kids.push_back(std::move(operand));
        return finish(std::move(e));
    }
    if (n.is_type<g::postfix>()) {
        ExprPtr base = expr(*n.children[0]);
        for (std::size_t i = 1; base && i < n.children.size(); ++i) {
            const Node& op = *n.children[i];
            auto p = std::make_unique<Expr>();
            p->range = SourceRange::join(base->range, range_of(op));
            if (op.is_type<g::index_op>()) {
                p->kind = ExprKind::Index;
                ExprPtr index = expr(*op.children[0]);
                if (!index) return nullptr;
                p->kids.push_back(std::move(base));
                p->kids.push_back(std::move(index));
            } else {
                p->kind = ExprKind::Member;
                p->arrow = op.is_type<g::member_arrow>();
                p->name = op.children[0]->string();
                p->name_range = range_of(*op.children[0]);
                p->kids.push_back(std::move(base));
            }
            base = finish(std::move(p));
        }
        return base;
    }
    if (n.is_type<g::coalesce>()) {
        e->kind = ExprKind::Coalesce;
        for (std::size_t i = 0; i < n.children.size(); i += 2) {
            ExprPtr alt = expr(*n.children[i]);
            if (!alt) return nullptr;
            e->range = SourceRange::join(e->range.valid() && i ? e->range : alt->range, alt->range);
            e->kids.push_back(std::move(alt));
        }
        e->range = SourceRange::join(e->kids.front()->range, e->kids.back()->range);
        return finish(std::move(e));
    }
    // A binary level: operand { operator operand }, folded to the left.
    for (std::size_t i = 1; !filter_ && i + 1 < n.children.size(); i += 2)
        if (n.children[i]->is_type<g::op_in>())
            return refuse_in_rule(range_of(*n.children[i]), "'in' is only allowed in a --where filter",
                                  "in a rule, compare with '==' or test bits with '&'");
    ExprPtr lhs = expr(*n.children[0]);
    for (std::size_t i = 1; lhs && i + 1 < n.children.size(); i += 2) {
        ExprPtr rhs = expr(*n.children[i + 1]);
        if (!rhs) return nullptr;
        auto b = std::make_unique<Expr>();
        const Node& op = *n.children[i];
        if (op.is_type<g::op_in>()) {
            b->kind = ExprKind::In;
        } else {
            b->kind = ExprKind::Binary;
            b->binary_op = binary_op_of(op).value_or(BinaryOp::Add);
        }
        b->range = SourceRange::join(lhs->range, rhs->range);
        b->kids.push_back(std::move(lhs));
        b->kids.push_back(std::move(rhs));
        lhs = finish(std::move(b));
    }
    return lhs;
}

// The escape at `i` (a backslash) appended to `literal`; how many bytes it
// takes. A bad one is reported through `bad`.
template <typename Bad>
std::uint32_t Converter::escape(std::uint32_t i, std::uint32_t e, std::string& literal, Bad& bad) const
{
    const char x = text_[i + 1];
    const Escape* known = std::find_if(std::begin(kEscapes), std::end(kEscapes), [x](const Escape& k) { return k.letter == x; });
    if (known != std::end(kEscapes)) {
        literal += known->byte;
        return 2;
    }
    if (x == 'x') {
        auto hex = [](char h) -> int {
            if (h >= '0' && h <= '9') return h - '0';
            if (h >= 'a' && h <= 'f') return h - 'a' + 10;
            if (h >= 'A' && h <= 'F') return h - 'A' + 10;
            return -1;
        };
        int hi = i + 2 < e ? hex(text_[i + 2]) : -1;
        int lo = i + 3 < e ? hex(text_[i + 3]) : -1;
        if (hi < 0 || lo < 0 || hi > 7) {
            bad(i, std::min(i + 4, e), "'\\x' needs two hex digits naming an ASCII character (00 to 7f)");
            return 2;
        }
        literal += static_cast<char>(hi * 16 + lo);
        return 4;
    }
    std::uint32_t end = i + 2;
    while (end < e && (static_cast<unsigned char>(text_[end]) & 0xC0) == 0x80) ++end;
    bad(i, end, fmt::format("unknown escape sequence '\\{}'", text_.substr(i + 1, end - i - 1)))
        .hint("escapes are \\n \\t \\r \\0 \\\\ \\\" \\' \\{ \\} and \\xHH");
    return end - i;
}

// {KIND:ARG} at `open` ('{'), KIND ending at `colon`: ARG is literal text and
// plain {name}s, closed by the first '}' after them. Returns where the text
// goes on. Which kinds exist and what their arguments say is the resolver's
// to check (compiler/resolve.cpp).
template <typename Flush, typename Bad>
std::uint32_t Converter::evidence(TextTemplate& t, std::uint32_t open, std::uint32_t colon, std::uint32_t e, Flush& flush, Bad& bad)
{
    TextTemplate::Piece ev;
    ev.placeholder = true;
    ev.evidence = std::string(text_.substr(open + 1, colon - open - 1));
    std::string literal;
    std::uint32_t j = colon + 1, literal_begin = j;
    auto keep_literal = [&](std::uint32_t at) {
        if (!literal.empty()) ev.arg.push_back({false, std::move(literal), {file_, literal_begin, at}, {}, {}});
        literal.clear();
    };
    for (; j < e && text_[j] != '}'; ++j) {
        if (text_[j] == '{') {
            std::uint32_t name_b = j + 1, name_e = name_b;
            while (name_e < e && is_word_char(text_[name_e])) ++name_e;
            if (name_e == name_b || name_e >= e || text_[name_e] != '}' || std::isdigit(static_cast<unsigned char>(text_[name_b]))) {
                bad(j, std::min(name_e + 1, e), "expected a name and '}' after '{' in an evidence argument")
                    .hint("an argument holds text and plain placeholders such as {dev}");
                return e;
            }
            keep_literal(j);
            ev.arg.push_back({true, std::string(text_.substr(name_b, name_e - name_b)), {file_, j, name_e + 1}, {}, {}});
            j = name_e;
            literal_begin = name_e + 1;
        } else if (text_[j] == '\\') {
            bad(j, j + 1, "no escapes in an evidence argument");
            return e;
        } else {
            literal += text_[j];
        }
    }
    if (j >= e) {
        bad(open, e, fmt::format("'{{{}:' is not closed with '}}'", ev.evidence));
        return e;
    }
    keep_literal(j);
    ev.text = std::string(text_.substr(colon + 1, j - colon - 1));
    ev.range = {file_, open, j + 1};
    flush(open);
    t.pieces.push_back(std::move(ev));
    return j + 1;
}

std::optional<TextTemplate> Converter::text(const Node& n, bool placeholders)
{
    TextTemplate t;
    t.range = range_of(n);
    std::uint32_t b = t.range.begin + 1, e = t.range.end - 1;  // inside the quotes
    std::string literal;
    std::uint32_t literal_begin = b;
    bool ok = true;
    auto flush = [&](std::uint32_t at) {
        if (!literal.empty()) t.pieces.push_back({false, std::move(literal), {file_, literal_begin, at}, {}, {}});
        literal.clear();
    };
    auto bad = [&](std::uint32_t from, std::uint32_t to, std::string msg) -> Diagnostic& {
        ok = false;
        return diags_.error({file_, from, to}, std::move(msg));
    };
    for (std::uint32_t i = b; i < e;) {
        char c = text_[i];
        if (c == '\\') {
            i += escape(i, e, literal, bad);
        } else if (c == '{' && placeholders) {
            if (i + 1 < e && text_[i + 1] == '{') {
                literal += '{';
                i += 2;
                continue;
            }
            std::uint32_t name_b = i + 1, name_e = name_b;
            while (name_e < e && is_word_char(text_[name_e])) ++name_e;
            if (name_e > name_b && name_e < e && text_[name_e] == ':') {
                i = evidence(t, i, name_e, e, flush, bad);
                literal_begin = i;
                continue;
            }
            if (name_e == name_b || name_e >= e || text_[name_e] != '}' || std::isdigit(static_cast<unsigned char>(text_[name_b]))) {
                bad(i, std::min(name_e + 1, e), "expected a name and '}' after '{'").hint("write '{{' for a literal brace");
                i = name_e;
                continue;
            }
            flush(i);
            t.pieces.push_back({true, std::string(text_.substr(name_b, name_e - name_b)), {file_, i, name_e + 1}, {}, {}});
            i = name_e + 1;
            literal_begin = i;
        } else if (c == '}' && placeholders) {
            if (i + 1 < e && text_[i + 1] == '}') {
                literal += '}';
                i += 2;
                continue;
            }
            bad(i, i + 1, "unmatched '}'").hint("write '}}' for a literal brace");
            ++i;
        } else {
            literal += c;
            ++i;
        }
    }
    flush(e);
    if (!ok) return std::nullopt;
    return t;
}

Binding Converter::binding(const Node& n)
{
    Binding b;
    b.range = range_of(n);
    b.name = n.children[0]->string();
    b.name_range = range_of(*n.children[0]);
    b.expr = expr(*n.children[1]);
    return b;
}

void Converter::use(const Node& n)
{
    auto t = text(*n.children[0], false);
    if (!t) return;
    UseDecl u;
    u.range = t->range;
    for (const auto& p : t->pieces) u.target += p.text;
    if (u.target.empty()) {
        diags_.error(u.range, "empty file name in 'use'");
        return;
    }
    if (u.target.find('\0') != std::string::npos) {
        diags_.error(u.range, "file name in 'use' contains a NUL character");
        return;
    }
    module_.uses.push_back(std::move(u));
}

void Converter::constant(const Node& n)
{
    Binding b = binding(n);
    if (!b.expr) return;
    module_.constants.push_back(std::move(b));
}

void Converter::macro(const Node& n)
{
    MacroDecl m;
    m.range = range_of(n);
    for (const auto& k : n.children) {
        if (k->is_type<g::macro_name>()) {
            m.name = k->string();
            m.name_range = range_of(*k);
        } else if (k->is_type<g::macro_param>()) {
            std::string p = k->string();
            for (std::size_t i = 0; i < m.params.size(); ++i)
                if (m.params[i] == p) {
                    diags_.error(range_of(*k), fmt::format("duplicate parameter '{}' in macro '{}'", p, m.name));
                    module_.incomplete = true;
                    return;
                }
            m.params.push_back(std::move(p));
            m.param_ranges.push_back(range_of(*k));
        } else {
            m.body = expr(*k);
        }
    }
    if (!m.body) return;
    module_.macros.push_back(std::move(m));
}

void Converter::probe(const Node& spec, RuleDecl& r)
{
    Probe p;
    p.range = range_of(spec);
    std::string kind = spec.children[0]->string();
    std::vector<std::string> parts;
    for (std::size_t i = 1; i < spec.children.size(); ++i) parts.push_back(spec.children[i]->string());
    SourceRange kind_range = range_of(*spec.children[0]);
    auto valid_name = [](const std::string& s, bool dots) {
        if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.') return false;
        for (char c : s)
            if (!is_word_char(c) && !(dots && c == '.')) return false;
        return s.back() != '.';
    };
    if (kind == "kprobe" || kind == "kretprobe") {
        p.kind = kind == "kprobe" ? ProbeKind::Kprobe : ProbeKind::Kretprobe;
        if (parts.size() != 1) {
            diags_.error(p.range, fmt::format("'{}' takes one function name: {}:FUNCTION", kind, kind));
            return;
        }
        if (!valid_name(parts[0], true)) {
            diags_.error(range_of(*spec.children[1]), fmt::format("'{}' is not a function name", parts[0]));
            return;
        }
        p.function = parts[0];
    } else if (kind == "tracepoint") {
        p.kind = ProbeKind::Tracepoint;
        if (parts.size() != 2) {
            diags_.error(p.range, "a tracepoint is written tracepoint:CATEGORY:NAME, e.g. tracepoint:skb:kfree_skb");
            return;
        }
        for (std::size_t i = 0; i < 2; ++i)
            if (!valid_name(parts[i], false)) {
                diags_.error(range_of(*spec.children[i + 1]), fmt::format("'{}' is not a tracepoint name", parts[i]));
                return;
            }
        p.category = parts[0];
        p.event = parts[1];
    } else {
        Diagnostic& d = diags_.error(kind_range, fmt::format("unknown probe type '{}'", kind));
        if (kind == "fentry" || kind == "kfunc")
            d.hint("write kprobe:FUNCTION; the runtime uses fentry when the kernel allows it");
        else if (kind == "fexit" || kind == "kretfunc")
            d.hint("write kretprobe:FUNCTION; the runtime uses fexit when the kernel allows it");
        else if (kind == "tp" || kind == "raw_tp" || kind == "tp_btf" || kind == "raw_tracepoint")
            d.hint("write tracepoint:CATEGORY:NAME; the runtime picks tp_btf or raw_tp");
        else if (auto m = closest_match(kind, probe_kinds()))
            d.hint(fmt::format("did you mean '{}'?", *m));
        else
            d.hint("probe types are kprobe, kretprobe and tracepoint");
        return;
    }
    for (const Probe& q : r.probes)
        if (q.spelling() == p.spelling()) {
            diags_.error(p.range, fmt::format("probe '{}' is listed twice", p.spelling()));
            return;
        }
    r.probes.push_back(std::move(p));
}

std::optional<MonitorSource> Converter::source_of(const Node& spec, bool counter)
{
    MonitorSource s;
    s.range = range_of(spec);
    std::string kind = spec.children[0]->string();
    s.key = spec.children[1]->string();
    const SourceRange key_range = s.key_range = range_of(*spec.children[1]);
    const SourceRange kind_range = range_of(*spec.children[0]);
    if (counter && std::find(counter_kinds().begin(), counter_kinds().end(), kind) == counter_kinds().end()) {
        const bool source = std::find(source_kinds().begin(), source_kinds().end(), kind) != source_kinds().end();
        Diagnostic& d = diags_.error(kind_range, source ? fmt::format("'{}:' is not a counter a drop can increment", kind)
                                                        : fmt::format("unknown counter type '{}'", kind));
        std::string m = source ? "" : did_you_mean(kind, counter_kinds());
        d.hint(m.empty() ? "counters are snmp:NAME (as nstat prints it), link:STAT (as 'ip -s -s link' does) and softnet:COLUMN" : m);
        return std::nullopt;
    }
    if (kind == "snmp") {
        s.kind = SourceKind::Snmp;
        bool ok = !s.key.empty() && !std::isdigit(static_cast<unsigned char>(s.key[0]));
        for (char c : s.key) ok = ok && is_word_char(c);
        if (!ok) {
            diags_.error(key_range, fmt::format("'{}' is not an SNMP counter name", s.key))
                .hint("counters are named as nstat prints them, e.g. TcpExtListenOverflows or IpInDiscards");
            return std::nullopt;
        }
    } else if (kind == "link") {
        s.kind = SourceKind::Link;
        if (!known_key(diags_, s.key, key_range, link_statistics(), "link statistic",
                       "link statistics are the fields of 'ip -s -s link', e.g. rx_dropped, rx_over_errors, rx_missed_errors"))
            return std::nullopt;
    } else if (kind == "sysctl") {
        s.kind = SourceKind::Sysctl;
        std::string key = s.key;
        std::replace(key.begin(), key.end(), '/', '.');
        bool ok = key.front() != '.' && key.back() != '.' && key.find("..") == std::string::npos;
        // '*' stands for one whole segment (every interface), nothing else.
        for (std::size_t i = 0; ok && i < key.size(); ++i)
            if (key[i] == '*')
                ok = (i == 0 || key[i - 1] == '.') && (i + 1 == key.size() || key[i + 1] == '.');
        if (!ok) {
            diags_.error(key_range, fmt::format("'{}' is not a sysctl key", s.key))
                .hint("write it as sysctl(8) does, e.g. net.ipv4.tcp_max_syn_backlog or net.ipv4.conf.*.rp_filter");
            return std::nullopt;
        }
        s.key = key;
    } else if (kind == "netdev") {
        s.kind = SourceKind::Netdev;
        if (s.key != "flags") {
            diags_.error(key_range, fmt::format("unknown netdev source '{}'", s.key)).hint("the netdev source is 'netdev:flags'");
            return std::nullopt;
        }
    } else if (kind == "softnet") {
        s.kind = SourceKind::Softnet;
        if (!known_key(diags_, s.key, key_range, softnet_columns(), "softnet_stat column",
                       fmt::format("softnet_stat columns are {}", fmt::join(softnet_columns(), ", "))))
            return std::nullopt;
        if (counter && softnet_column_is_gauge(s.key)) {
            diags_.error(key_range, fmt::format("'softnet:{}' is a queue length, not a counter a drop increments", s.key))
                .hint("the softnet_stat counters are processed, dropped, time_squeeze, received_rps and flow_limit_count");
            return std::nullopt;
        }
    } else {
        Diagnostic& d = diags_.error(kind_range, fmt::format("unknown source type '{}'", kind));
        std::string m = did_you_mean(kind, source_kinds());
        d.hint(m.empty() ? "source types are snmp, link, sysctl, netdev and softnet" : m);
        return std::nullopt;
    }
    return s;
}

void Converter::counted(const Node& clause, RuleDecl& r)
{
    r.counted_clause = range_of(clause);
    std::map<std::string, SourceRange> listed;
    for (const auto& group : clause.children) {
        CounterGroup g;
        g.range = range_of(*group);
        for (const auto& spec : group->children) {
            std::optional<MonitorSource> s = source_of(*spec, true);
            if (!s) continue;
            auto [it, fresh] = listed.emplace(s->spelling(), s->range);
            if (!fresh) {
                diags_.error(s->range, fmt::format("counter '{}' is listed twice", s->spelling()))
                    .note(fmt::format("first listed at {}", describe(it->second)));
                continue;
            }
            g.alternatives.push_back(std::move(*s));
        }
        if (!g.alternatives.empty()) r.counted_as.push_back(std::move(g));
    }
}

// A 'track' rule marks a place packets pass (a hop of run --track's path):
// it has a packet and reports nothing.
void Converter::track_rule(const RuleDecl& r, const std::map<std::string, SourceRange>& seen)
{
    for (const char* clause : {"condition", "noise if", "fallback", "instead of", "counted as", "stack", "message", "hint"}) {
        auto it = seen.find(clause);
        if (it == seen.end()) continue;
        const std::string name = std::string(clause) == "condition" ? (r.condition_kind == ConditionKind::Warn ? "warn if" : "drop if") : clause;
        diags_.error(it->second, fmt::format("'{}' does not go with 'track' in rule '{}'", name, r.id))
            .note(fmt::format("'track' at {}", describe(r.track_range)))
            .hint("a track rule reports nothing: each hit is a hop of its packet's path under 'run --track'; write the drop point as a rule of its own");
    }
    if (!r.packet && !seen.count("packet"))
        diags_.error(r.track_range, fmt::format("track rule '{}' has no 'packet' clause", r.id))
            .hint("name the 'struct sk_buff *' the hop follows, e.g. 'packet skb'");
}

void Converter::rule(const Node& n, bool monitor)
{
    RuleDecl r;
    r.is_monitor = monitor;
    r.range = range_of(n);
    r.id = n.children[0]->string();
    r.id_range = range_of(*n.children[0]);
    const char* what = monitor ? "monitor" : "rule";

    std::map<std::string, SourceRange> seen;  // clause keyword -> first occurrence
    auto once = [&](const std::string& clause, SourceRange at) {
        auto [it, fresh] = seen.emplace(clause, at);
        if (!fresh)
            diags_.error(at, fmt::format("duplicate '{}' clause in {} '{}'", clause, what, r.id))
                .note(fmt::format("first '{}' at {}", clause, describe(it->second)));
        return fresh;
    };
    auto not_in_monitor = [&](const char* clause, SourceRange at) {
        if (!monitor) return true;
        diags_.error(at, fmt::format("'{}' is not allowed in a monitor", clause))
            .hint("monitors read a 'source' in user space; probes, packets and stacks belong to rules");
        return false;
    };
    // A clause only probe rules take, once.
    auto rule_clause = [&](const char* clause, SourceRange at) { return not_in_monitor(clause, at) && once(clause, at); };
    for (std::size_t i = 1; i < n.children.size(); ++i) {
        const Node& c = *n.children[i];
        SourceRange at = range_of(c);
        if (c.is_type<g::layer_clause>()) {
            if (!once("layer", at)) continue;
            std::string l = c.children[0]->string();
            r.layer_range = range_of(*c.children[0]);
            if (l.size() == 2 && l[0] == 'l' && l[1] >= '1' && l[1] <= '4') {
                r.layer = l[1] - '0';
            } else {
                Diagnostic& d = diags_.error(r.layer_range, fmt::format("unknown layer '{}'", l));
                if (l.size() == 2 && (l[0] == 'L' || l[0] == 'l') && l[1] >= '1' && l[1] <= '4')
                    d.hint(fmt::format("did you mean 'l{}'?", l[1]));
                d.note("layers are l1 (physical), l2 (link), l3 (network) and l4 (transport)");
            }
        } else if (c.is_type<g::probe_clause>()) {
            if (!rule_clause("probe", at)) continue;
            r.probe_clause = at;
            for (const auto& spec : c.children) probe(*spec, r);
        } else if (c.is_type<g::source_clause>()) {
            if (!monitor) {
                diags_.error(at, "'source' is only allowed in a monitor").hint("rules attach to a 'probe'");
                continue;
            }
            if (!once("source", at)) continue;
            r.source = source_of(c, false);
        } else if (c.is_type<g::capture_clause>() || c.is_type<g::param_clause>()) {
            bool is_capture = c.is_type<g::capture_clause>();
            Binding b = binding(c);
            const Binding* prev = r.find_capture(b.name);
            if (!prev) prev = r.find_param(b.name);
            if (prev) {
                diags_.error(b.name_range, fmt::format("'{}' is already defined in {} '{}'", b.name, what, r.id))
                    .note(fmt::format("previous definition at {}", describe(prev->name_range)));
                continue;
            }
            if (!b.expr) continue;
            (is_capture ? r.captures : r.params).push_back(std::move(b));
        } else if (c.is_type<g::drop_clause>() || c.is_type<g::warn_clause>()) {
            bool drop = c.is_type<g::drop_clause>();
            auto it = seen.find("condition");
            if (it != seen.end()) {
                bool same = (r.condition_kind == ConditionKind::Drop) == drop;
                diags_.error(at, same ? fmt::format("duplicate '{} if' clause in {} '{}'", drop ? "drop" : "warn", what, r.id)
                                      : fmt::format("{} '{}' has both 'drop if' and 'warn if'", what, r.id))
                    .note(fmt::format("first condition at {}", describe(it->second)))
                    .hint(same ? "combine the conditions with '&&' or '||'" : "a finding is either a drop or a warning; split it into two rules");
                continue;
            }
            seen.emplace("condition", at);
            r.condition_kind = drop ? ConditionKind::Drop : ConditionKind::Warn;
            r.condition_clause = at;
            r.condition = expr(*c.children[0]);
        } else if (c.is_type<g::noise_clause>() && rule_clause("noise if", at)) {
            std::tie(r.noise_clause, r.noise) = std::pair(at, expr(*c.children[0]));
        } else if (c.is_type<g::fallback_clause>() && rule_clause("fallback", at)) {
            std::tie(r.fallback, r.fallback_range) = std::pair(true, at);
        } else if (c.is_type<g::counted_clause>()) {
            if (monitor) {
                diags_.error(at, "'counted as' is not allowed in a monitor").hint("a monitor's counter is its 'source'");
                continue;
            }
            if (once("counted as", at)) counted(c, r);
        } else if (c.is_type<g::instead_clause>() && rule_clause("instead of", at)) {
            for (const auto& k : c.children) r.instead_of.push_back({k->string(), range_of(*k)});
        } else if (c.is_type<g::packet_clause>() && rule_clause("packet", at)) {
            std::tie(r.packet_clause, r.packet) = std::pair(at, expr(*c.children[0]));
        } else if (c.is_type<g::stack_clause>() && rule_clause("stack", at)) {
            r.stack = true;
        } else if (c.is_type<g::track_clause>() && rule_clause("track", at)) {
            std::tie(r.track, r.track_range) = std::pair(true, at);
        } else if (c.is_type<g::message_clause>() && once("message", at)) {
            r.message = text(*c.children[0], true);
        } else if (c.is_type<g::hint_clause>() && once("hint", at)) {
            r.hint = text(*c.children[0], true);
        }
    }
    if (!r.layer && !seen.count("layer"))
        diags_.error(r.id_range, fmt::format("{} '{}' has no 'layer' clause", what, r.id))
            .hint("add 'layer l1' (physical), 'l2' (link), 'l3' (network) or 'l4' (transport)");
    if (!monitor && !seen.count("probe"))
        diags_.error(r.id_range, fmt::format("rule '{}' has no 'probe' clause", r.id))
            .hint("add e.g. 'probe tracepoint:skb:kfree_skb' or 'probe kprobe:FUNCTION'");
    if (r.track) track_rule(r, seen);
    if (monitor && !seen.count("source"))
        diags_.error(r.id_range, fmt::format("monitor '{}' has no 'source' clause", r.id))
            .hint("add e.g. 'source snmp:TcpExtListenOverflows' or 'source link:rx_dropped'");
    module_.rules.push_back(std::move(r));
}

void Converter::item(const Node& n)
{
    if (n.is_type<g::use_decl>()) use(n);
    else if (n.is_type<g::const_decl>()) constant(n);
    else if (n.is_type<g::def_decl>()) macro(n);
    else if (n.is_type<g::rule_decl>()) rule(n, false);
    else if (n.is_type<g::monitor_decl>()) rule(n, true);
}

void report_syntax_error(const g::SyntaxError& e, FileId file, const SourceManager& sources, std::string_view text, Diagnostics& diags)
{
    auto off = static_cast<std::uint32_t>(std::min(e.offset, text.size()));
    std::uint32_t end = off;
    std::string_view w = word_at(text, off);
    if (!w.empty()) end += static_cast<std::uint32_t>(w.size());
    else if (off < text.size() && !std::isspace(static_cast<unsigned char>(text[off]))) {
        end = off + 1;
        while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    }
    Diagnostic& d = diags.error({file, off, end}, e.message);
    if (!e.hint.empty()) d.hint(e.hint);
    if (!e.note.empty()) d.note(fmt::format("{} at {}", e.note, sources.describe({file, static_cast<std::uint32_t>(e.related), static_cast<std::uint32_t>(e.related)})));
}

}  // namespace

bool check_encoding(FileId file, const SourceFile& source, Diagnostics& diags)
{
    std::string_view t = source.text();
    auto fail = [&](std::size_t at, std::size_t len, std::string msg) {
        diags.error({file, static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(at + len)}, std::move(msg));
        return false;
    };
    for (std::size_t i = 0; i < t.size();) {
        auto c = static_cast<unsigned char>(t[i]);
        if (c == 0) return fail(i, 1, "file contains a NUL byte");
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
        if (c > 0xF4) len = 0;
        bool ok = len != 0 && i + len <= t.size();
        std::uint32_t cp = len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
        for (std::size_t k = 1; ok && k < len; ++k) {
            auto cc = static_cast<unsigned char>(t[i + k]);
            ok = (cc & 0xC0) == 0x80;
            cp = (cp << 6) | (cc & 0x3F);
        }
        // Reject overlong forms, surrogates and code points past U+10FFFF.
        if (ok) ok = !(len == 3 && cp < 0x800) && !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (!ok) return fail(i, 1, fmt::format("invalid UTF-8 byte 0x{:02x}", c));
        i += len;
    }
    return true;
}

// Names and strings are short in any real pack; a megabyte-long one is a
// mistake or an attack, and every event's message would carry it.
constexpr std::size_t kMaxNameLength = 128;
constexpr std::size_t kMaxStringBytes = 4096;

void check_lengths(const Node& n, const char* text)
{
    const std::size_t length = static_cast<std::size_t>(n.m_end.data - n.m_begin.data);
    const std::size_t offset = static_cast<std::size_t>(n.m_begin.data - text);
    if ((n.is_type<g::ident>() || n.is_type<g::rule_id>() || n.is_type<g::field_name>() || n.is_type<g::macro_name>() ||
         n.is_type<g::binding_name>()) &&
        length > kMaxNameLength)
        throw g::SyntaxError{offset, fmt::format("name is {} characters long; names are at most {}", length, kMaxNameLength), {}, {}};
    if ((n.is_type<g::str_lit>() || n.is_type<g::text_value>() || n.is_type<g::use_target>()) && length > kMaxStringBytes + 2)
        throw g::SyntaxError{offset, fmt::format("string is {} bytes long; strings are at most {}", length - 2, kMaxStringBytes), {}, {}};
    for (const auto& child : n.children) check_lengths(*child, text);
}

Module parse_module(FileId file, const SourceManager& sources, Diagnostics& diags)
{
    Module module;
    module.file = file;
    const SourceFile& src = sources.file(file);
    std::string_view text = src.text();
    pegtl::memory_input<pegtl::tracking_mode::lazy> in(text.data(), text.data() + text.size(), src.path());
    g::ParseState state;
    state.text = text.data();
    Converter convert(file, src, diags, module);
    (void)pegtl::parse<g::sep>(in);
    while (!in.empty() && !diags.at_limit()) {
        state.item_begin = static_cast<std::size_t>(in.current() - text.data());
        state.depth = 0;
        state.parens.clear();
        try {
            auto root = pegtl::parse_tree::parse<g::top_item, Node, selector, pegtl::nothing, control>(in, state);
            check_lengths(*root, text.data());
            for (const auto& n : root->children) convert.item(*n);
        } catch (const g::SyntaxError& e) {
            module.incomplete = true;
            report_syntax_error(e, file, sources, text, diags);
            std::size_t resume = recovery_point(text, std::max<std::size_t>(e.offset, state.item_begin));
            std::size_t here = static_cast<std::size_t>(in.current() - text.data());
            if (resume <= here) break;
            in.bump(resume - here);
        }
        (void)pegtl::parse<g::sep>(in);
    }
    if (!in.empty()) diags.stopped_at_limit();
    return module;
}

ExprPtr parse_expression(FileId file, const SourceManager& sources, Diagnostics& diags)
{
    const SourceFile& src = sources.file(file);
    std::string_view text = src.text();
    if (!check_encoding(file, src, diags)) return nullptr;
    pegtl::memory_input<pegtl::tracking_mode::lazy> in(text.data(), text.data() + text.size(), src.path());
    g::ParseState state;
    state.text = text.data();
    Module scratch;  // takes the 'incomplete' mark, which a lone expression does not need
    scratch.file = file;
    Converter convert(file, src, diags, scratch, true);
    try {
        auto root = pegtl::parse_tree::parse<g::filter, Node, selector, pegtl::nothing, control>(in, state);
        if (!root || root->children.size() != 1) {
            diags.error({file, 0, static_cast<std::uint32_t>(text.size())}, "internal error: unexpected filter parse");
            return nullptr;
        }
        return convert.expr(*root->children[0]);
    } catch (const g::SyntaxError& e) {
        report_syntax_error(e, file, sources, text, diags);
        return nullptr;
    }
}

}  // namespace rtd
