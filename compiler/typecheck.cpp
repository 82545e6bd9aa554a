#include "compiler/typecheck.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "compiler/report.h"
#include "compiler/suggest.h"

namespace rtd {

const char* value_kind_name(ValueKind k)
{
    switch (k) {
    case ValueKind::Signed: return "signed";
    case ValueKind::Unsigned: return "unsigned";
    case ValueKind::Enum: return "enum";
    case ValueKind::String: return "string";
    case ValueKind::Pointer: return "pointer";
    }
    return "?";
}

const char* covering_drop_reason(const std::string& function)
{
    static const std::pair<const char*, const char*> table[] = {
        {"ipt_do_table", "NETFILTER_DROP"},      {"nft_do_chain", "NETFILTER_DROP"},
        {"nf_hook_slow", "NETFILTER_DROP"},      {"fib_validate_source", "IP_RPFILTER"},
        {"tcp_add_backlog", "SOCKET_BACKLOG"},   {"tcp_v4_syn_recv_sock", "TCP_LISTEN_OVERFLOW"},
        {"tcp_conn_request", "TCP_LISTEN_OVERFLOW"}, {"__skb_checksum_complete", "TCP_CSUM"},
        {"tcp_rcv_established", "TCP_CSUM"},     {"__udp_queue_rcv_skb", "SOCKET_RCVBUFF"},
        {"udp_queue_rcv_one_skb", "SOCKET_RCVBUFF"}, {"ip_rcv_finish_core", "IP_RPFILTER"},
        {"ip_expire", "FRAG_REASM_TIMEOUT"},     {"ip_frag_queue", "DUP_FRAG"},
        {"nf_conntrack_in", "NETFILTER_DROP"},
    };
    for (const auto& [fn, reason] : table)
        if (function == fn) return reason;
    return nullptr;
}

namespace {

std::string join(const std::vector<std::string>& v)
{
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
}

class Checker {
public:
    Checker(const Btf& btf, const SourceManager& sources, Diagnostics& diags, TypeCheckOptions options)
        : btf_(btf), sources_(sources), diags_(&diags), options_(options)
    {}

    TypedRule check_rule(const RuleDecl& r);

private:
    Diagnostic& error(const Expr& e, std::string msg)
    {
        ++errors_;
        return report_at(*diags_, sources_, Severity::Error, e.range, e.expansion, std::move(msg));
    }
    Diagnostic& error_at(SourceRange r, const Expr& e, std::string msg)
    {
        ++errors_;
        return report_at(*diags_, sources_, Severity::Error, r, e.expansion, std::move(msg));
    }
    std::string spell(const Type& t) const { return btf_.spelling(t); }

    bool signature_for(TypedProbe& tp, const RuleDecl& r);
    TExprPtr check(const Expr& e);
    TExprPtr check_ident(const Expr& e);
    TExprPtr check_member(const Expr& e);
    TExprPtr check_index(const Expr& e);
    TExprPtr check_unary(const Expr& e);
    TExprPtr check_binary(const Expr& e);
    TExprPtr check_cast(const Expr& e);
    TExprPtr check_coalesce(const Expr& e);
    std::optional<CaptureSchema> schema_for(const Binding& c, const TExpr& t);
    TExprPtr check_condition(const ExprPtr& e);

    // A kernel enumerator a rule names that this kernel lacks (added later,
    // renamed): the probe is skipped, like a missing function, unless a '??'
    // alternative does without it.
    struct MissingEnumerator {
        std::string name;
        std::string enum_name;  // "skb_drop_reason"; empty for anonymous enums or mixed families
        std::string prefix;     // the family's prefix, "SKB_DROP_REASON_TCP_"
        SourceRange range;
        std::shared_ptr<const Expansion> expansion;
        std::string what() const
        {
            return enum_name.empty() ? fmt::format("'{}' is not among this kernel's {}* enumerators", name, prefix)
                                     : fmt::format("'{}' is not in this kernel's enum {}", name, enum_name);
        }
    };
    std::optional<MissingEnumerator> missing_enumerator(const Expr& e, std::vector<std::string>& family) const;
    // What each probe of the rule lacks (distinct names, in the order found);
    // reported once per rule and place, naming the probes it skips.
    struct Lacking {
        const Probe* probe = nullptr;
        std::vector<MissingEnumerator> missing;
    };
    std::vector<Lacking> lacking_;
    void note_missing_enumerators(TypedProbe& tp);
    void report_missing_enumerators(const RuleDecl& r);

    // A typed node for `e` over its typed operands.
    template <typename... Kids>
    TExprPtr node(TKind k, Type type, const Expr& e, Kids&&... kids)
    {
        auto t = std::make_unique<TExpr>();
        t->kind = k;
        t->type = type;
        t->range = e.range;
        (t->kids.push_back(std::forward<Kids>(kids)), ...);
        return t;
    }
    Type widened(const Type& t) const { return Type::of(btf_.is_signed(t) || !btf_.is_integer(t) ? Builtin::S64 : Builtin::U64); }

    const Btf& btf_;
    const SourceManager& sources_;
    Diagnostics* diags_;  // swapped for a scratch sink while trying '??' alternatives
    TypeCheckOptions options_;
    std::size_t errors_ = 0;

    // The probe being checked.
    const RuleDecl* rule_ = nullptr;
    TypedProbe* probe_ = nullptr;
    std::vector<std::optional<Type>> capture_types_;  // aligned with rule_->captures
    std::vector<MissingEnumerator> missing_;          // of the probe being checked, in the order found
    std::vector<std::vector<MissingEnumerator>> capture_missing_;  // what each capture lacked, aligned with captures
};

// A name that is not an argument or an enumerator of this kernel is taken for
// an enumerator of a known family, missing here, when it starts with a capital
// letter and shares a prefix of at least two words ("SKB_DROP_REASON_TCP_",
// "TCP_CA_"; the longest prefix ending at a '_' that any enumerator has) with
// enumerators this kernel has. One edit away from one of them (or a different
// case) is a typo, not a missing enumerator. `family` gets the enumerators
// sharing that prefix, for suggestions.
std::optional<Checker::MissingEnumerator> Checker::missing_enumerator(const Expr& e, std::vector<std::string>& family) const
{
    const std::string& name = e.name;
    if (name.empty() || !std::isupper(static_cast<unsigned char>(name[0]))) return std::nullopt;
    for (std::size_t cut = name.rfind('_'); cut != std::string::npos && cut > 0; cut = name.rfind('_', cut - 1)) {
        std::string prefix = name.substr(0, cut + 1);
        std::size_t words = 0;
        for (std::size_t i = 0; i < prefix.size(); ++i)
            if (prefix[i] == '_' && i > 0 && prefix[i - 1] != '_') ++words;
        if (words < 2) break;
        std::vector<std::string> like = btf_.enumerators_like(prefix);
        if (like.empty()) continue;
        family = std::move(like);
        for (const std::string& f : family) {
            bool same_but_case = f.size() == name.size() && std::equal(f.begin(), f.end(), name.begin(), [](char x, char y) {
                                     return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
                                 });
            if (same_but_case || edit_distance(f, name) <= 1) return std::nullopt;
        }
        // The enum the family belongs to, when it is one named enum.
        std::map<std::uint32_t, Type> enums;
        for (const std::string& f : family)
            if (auto en = btf_.enumerator(f)) enums.emplace(en->type.base, en->type);
        MissingEnumerator m;
        m.name = name;
        m.prefix = prefix;
        m.range = e.range;
        m.expansion = e.expansion;
        if (enums.size() == 1) m.enum_name = btf_.enum_name(enums.begin()->second);
        return m;
    }
    return std::nullopt;
}

// The probe is skipped; its reason names the first enumerator it lacks.
void Checker::note_missing_enumerators(TypedProbe& tp)
{
    Lacking l;
    l.probe = tp.probe;
    for (const MissingEnumerator& m : missing_)
        if (std::none_of(l.missing.begin(), l.missing.end(), [&](const MissingEnumerator& d) { return d.name == m.name; }))
            l.missing.push_back(m);
    const MissingEnumerator& first = l.missing.front();
    tp.skip_reason = first.enum_name.empty() ? fmt::format("this kernel has no enumerator {}", first.name)
                                             : fmt::format("this kernel has no {} in enum {}", first.name, first.enum_name);
    lacking_.push_back(std::move(l));
}

// One diagnostic per place, at the first enumerator a probe lacks (usually
// every probe of the rule lacks the same); the others are notes.
void Checker::report_missing_enumerators(const RuleDecl& r)
{
    auto same_place = [](const MissingEnumerator& a, const MissingEnumerator& b) {
        return a.name == b.name && a.range.file == b.range.file && a.range.begin == b.range.begin;
    };
    std::vector<bool> done(lacking_.size(), false);
    for (std::size_t i = 0; i < lacking_.size(); ++i) {
        if (done[i]) continue;
        const MissingEnumerator& first = lacking_[i].missing.front();
        std::vector<std::string> probes;
        for (std::size_t j = i; j < lacking_.size(); ++j)
            if (!done[j] && same_place(lacking_[j].missing.front(), first)) {
                done[j] = true;
                probes.push_back("'" + lacking_[j].probe->spelling() + "'");
            }
        std::string skipped = probes.size() == r.probes.size() ? "rule '" + r.id + "' will be skipped on this kernel"
                              : probes.size() == 1             ? fmt::format("probe {} of rule '{}' will be skipped", probes[0], r.id)
                                                               : fmt::format("probes {} of rule '{}' will be skipped", join(probes), r.id);
        Severity sev = options_.strict ? Severity::Error : Severity::Warning;
        Diagnostic& d = report_at(*diags_, sources_, sev, first.range, first.expansion, fmt::format("{}; {}", first.what(), skipped));
        if (sev == Severity::Error) ++errors_;
        const std::vector<MissingEnumerator>& missing = lacking_[i].missing;
        for (std::size_t k = 1; k < missing.size(); ++k)
            d.note(fmt::format("{} either (at {})", missing[k].what(), sources_.describe(missing[k].range)));
        d.note(options_.kernel.empty() ? std::string("the enumerator may be newer than this kernel, or renamed")
                                       : fmt::format("the enumerator may be newer than kernel {}, or renamed", options_.kernel));
    }
    lacking_.clear();
}

bool Checker::signature_for(TypedProbe& tp, const RuleDecl& r)
{
    const Probe& p = *tp.probe;
    std::optional<Btf::Signature> sig;
    std::string what;
    if (p.kind == ProbeKind::Tracepoint) {
        sig = btf_.tracepoint(p.event);
        what = fmt::format("tracepoint '{}:{}'", p.category, p.event);
    } else {
        sig = btf_.function(p.function);
        what = fmt::format("function '{}'", p.function);
    }
    if (sig) {
        tp.signature = std::move(*sig);
        return true;
    }
    tp.skip_reason = fmt::format("{} not in kernel BTF", p.kind == ProbeKind::Tracepoint ? "tracepoint " + p.category + ":" + p.event
                                                                                         : "function " + p.function);
    Severity sev = options_.strict ? Severity::Error : Severity::Warning;
    std::string msg = fmt::format("{} is not in this kernel's BTF; {}", what,
                                  r.probes.size() > 1 ? "this probe of rule '" + r.id + "' will be skipped"
                                                      : "rule '" + r.id + "' will be skipped on this kernel");
    Diagnostic& d = sev == Severity::Error ? diags_->error(p.range, msg) : diags_->warning(p.range, msg);
    if (sev == Severity::Error) ++errors_;
    if (p.kind != ProbeKind::Tracepoint) {
        d.note(options_.kernel.empty() ? std::string("the function may be inlined, static or renamed on this kernel")
                                       : fmt::format("the function may be inlined, static or renamed on kernel {}", options_.kernel));
        const char* reason = covering_drop_reason(p.function);
        if (reason && btf_.enumerator(std::string("SKB_DROP_REASON_") + reason))
            d.hint(fmt::format("tracepoint:skb:kfree_skb with reason == SKB_DROP_REASON_{} reports the same drops", reason));
        else if (auto m = closest_match(p.function, btf_.function_names()))
            d.hint(fmt::format("did you mean '{}'?", *m));
    }
    return false;
}

TExprPtr Checker::check(const Expr& e)
{
    switch (e.kind) {
    case ExprKind::Int: {
        auto t = node(TKind::Const, Type::of(e.is_unsigned ? Builtin::U64 : Builtin::S64), e);
        t->value = e.value;
        return t;
    }
    case ExprKind::Ident: return check_ident(e);
    case ExprKind::Member: return check_member(e);
    case ExprKind::Index: return check_index(e);
    case ExprKind::Unary: return check_unary(e);
    case ExprKind::Binary: return check_binary(e);
    case ExprKind::Cast: return check_cast(e);
    case ExprKind::Coalesce: return check_coalesce(e);
    case ExprKind::Call: break;  // expanded by the resolver
    case ExprKind::Address:
    case ExprKind::String:
    case ExprKind::In:
        error(e, "internal error: a --where filter's form in a rule");  // the parser refuses them
        return nullptr;
    }
    error(e, "internal error: unexpanded macro call");
    return nullptr;
}

TExprPtr Checker::check_ident(const Expr& e)
{
    switch (e.ident) {
    case IdentKind::Ret: {
        const Type& ret = probe_->signature.ret;
        if (btf_.is_void(ret)) {
            error(e, fmt::format("'{}' returns void: there is no 'ret' to read", probe_->signature.symbol));
            return nullptr;
        }
        return node(TKind::Ret, ret, e);
    }
    case IdentKind::Capture: {
        for (std::size_t i = 0; i < rule_->captures.size(); ++i)
            if (rule_->captures[i].name == e.name) {
                if (!capture_types_[i]) {
                    // Its own error was reported; an enumerator it lacks is lacked here too ('??').
                    missing_.insert(missing_.end(), capture_missing_[i].begin(), capture_missing_[i].end());
                    return nullptr;
                }
                auto t = node(TKind::Capture, *capture_types_[i], e);
                t->name = e.name;
                return t;
            }
        break;
    }
    case IdentKind::Kernel: {
        const auto& params = probe_->signature.params;
        for (std::size_t i = 0; i < params.size(); ++i) {
            std::string name = params[i].name.empty() ? fmt::format("arg{}", i) : params[i].name;
            if (name == e.name) {
                if (btf_.is_struct_or_union(params[i].type)) {
                    error(e, fmt::format("argument '{}' is a '{}' passed by value, which BPF cannot read", name, spell(params[i].type)));
                    return nullptr;
                }
                auto t = node(TKind::Arg, params[i].type, e);
                t->arg = static_cast<unsigned>(i);
                t->name = name;
                return t;
            }
        }
        if (auto en = btf_.enumerator(e.name)) {
            auto t = node(TKind::Const, en->type, e);
            t->value = en->value;
            t->enumerator = e.name;
            return t;
        }
        std::vector<std::string> family;
        if (auto m = missing_enumerator(e, family)) {
            missing_.push_back(std::move(*m));
            return nullptr;
        }
        std::vector<std::string> names;
        for (std::size_t i = 0; i < params.size(); ++i)
            names.push_back(params[i].name.empty() ? fmt::format("arg{}", i) : params[i].name);
        const Probe& p = *probe_->probe;
        std::string where = p.kind == ProbeKind::Tracepoint ? "tracepoint " + p.category + ":" + p.event : probe_->signature.symbol + "()";
        Diagnostic& d = error(e, fmt::format("'{}' is neither an argument of {} nor a kernel enumerator", e.name, where));
        std::vector<std::string> candidates = names;
        if (!family.empty()) {
            candidates.insert(candidates.end(), family.begin(), family.end());
        } else if (e.name.find('_') != std::string::npos) {
            auto like = btf_.enumerators_like(e.name);
            candidates.insert(candidates.end(), like.begin(), like.end());
        }
        std::string dym = did_you_mean(e.name, candidates);
        if (!dym.empty()) d.hint(dym);
        d.note(names.empty() ? where + " has no arguments" : fmt::format("arguments of {}: {}", where, join(names)));
        return nullptr;
    }
    default: break;
    }
    error(e, fmt::format("internal error: unresolved name '{}'", e.name));
    return nullptr;
}

TExprPtr Checker::check_member(const Expr& e)
{
    TExprPtr base = check(*e.kids[0]);
    if (!base) return nullptr;
    Type agg = base->type;
    bool through = false;
    if (agg.depth == 1 && btf_.is_struct_or_union(agg.pointee())) {
        agg = agg.pointee();
        through = true;
    }
    if (!btf_.is_struct_or_union(agg)) {
        Diagnostic& d = error_at(e.name_range, e, fmt::format("cannot take member '{}' of '{}': it is not a struct or union", e.name,
                                                            spell(base->type)));
        if (base->type.depth > 1) d.hint("only one level of pointer is followed automatically; index it first: x[0].field");
        return nullptr;
    }
    auto m = btf_.member(agg, e.name);
    if (!m) {
        Diagnostic& d = error_at(e.name_range, e, fmt::format("'{}' has no member '{}'", spell(agg), e.name));
        std::string dym = did_you_mean(e.name, btf_.member_names(agg));
        if (!dym.empty()) d.hint(dym);
        return nullptr;
    }
    auto t = node(TKind::Member, m->type, e, std::move(base));
    t->name = e.name;
    t->through_pointer = through;
    t->bitfield_size = m->bitfield_size;
    return t;
}

TExprPtr Checker::check_index(const Expr& e)
{
    TExprPtr base = check(*e.kids[0]);
    TExprPtr index = check(*e.kids[1]);
    if (!base || !index) return nullptr;
    Type element;
    if (auto el = btf_.array_element(base->type)) element = *el;
    else if (base->type.is_pointer() && !btf_.is_void(base->type.pointee()) && !btf_.is_func_proto(base->type.pointee()))
        element = base->type.pointee();
    else {
        error(*e.kids[0], fmt::format("cannot index '{}': it is not an array or a pointer to data", spell(base->type)));
        return nullptr;
    }
    if (!btf_.is_integer(index->type) && !btf_.is_enum(index->type)) {
        error(*e.kids[1], fmt::format("an index must be an integer, not '{}'", spell(index->type)));
        return nullptr;
    }
    return node(TKind::Index, element, e, std::move(base), std::move(index));
}

TExprPtr Checker::check_unary(const Expr& e)
{
    TExprPtr operand = check(*e.kids[0]);
    if (!operand) return nullptr;
    const Type& ot = operand->type;
    Type result;
    if (e.unary_op == UnaryOp::Not) {
        if (!btf_.is_scalar(ot)) {
            error(e, fmt::format("'!' needs a number, enum or pointer, not '{}'", spell(ot)));
            return nullptr;
        }
        result = Type::of(Builtin::S64);
    } else {
        if (!btf_.is_integer(ot) && !btf_.is_enum(ot)) {
            error(e, fmt::format("'{}' needs an integer, not '{}'", spelling(e.unary_op), spell(ot)));
            return nullptr;
        }
        result = widened(ot);
    }
    auto t = node(TKind::Unary, result, e, std::move(operand));
    t->unary_op = e.unary_op;
    return t;
}

TExprPtr Checker::check_binary(const Expr& e)
{
    TExprPtr lhs = check(*e.kids[0]);
    TExprPtr rhs = check(*e.kids[1]);
    if (!lhs || !rhs) return nullptr;
    const Type &a = lhs->type, &b = rhs->type;
    const BinaryOp op = e.binary_op;
    auto numeric = [&](const Type& t) { return btf_.is_integer(t) || btf_.is_enum(t); };
    auto bad = [&](const char* why) {
        error(e, fmt::format("invalid operands to '{}' ('{}' and '{}'){}", spelling(op), spell(a), spell(b), why));
        return nullptr;
    };
    Type result = Type::of(Builtin::S64);
    switch (op) {
    case BinaryOp::LogAnd:
    case BinaryOp::LogOr:
        if (!btf_.is_scalar(a) || !btf_.is_scalar(b)) return bad("");
        break;
    case BinaryOp::Lt:
    case BinaryOp::Le:
    case BinaryOp::Gt:
    case BinaryOp::Ge:
    case BinaryOp::Eq:
    case BinaryOp::Ne:
        if (btf_.is_struct_or_union(a) || btf_.is_struct_or_union(b) || btf_.is_array(a) || btf_.is_array(b))
            return bad(": structs, unions and arrays cannot be compared; compare their fields");
        if (!btf_.is_scalar(a) || !btf_.is_scalar(b)) return bad("");
        break;
    case BinaryOp::Add:
    case BinaryOp::Sub:
        if (a.is_pointer() && numeric(b)) {
            if (btf_.is_void(a.pointee())) return bad(": arithmetic on 'void *' is not allowed; cast it first");
            result = a;
            break;
        }
        if (op == BinaryOp::Add && numeric(a) && b.is_pointer()) {
            if (btf_.is_void(b.pointee())) return bad(": arithmetic on 'void *' is not allowed; cast it first");
            result = b;
            break;
        }
        if (op == BinaryOp::Sub && a.is_pointer() && b.is_pointer()) {
            if (a != b) return bad(": both pointers must have the same type");
            break;
        }
        [[fallthrough]];
    default:
        if (!numeric(a) || !numeric(b)) return bad("");
        // Arithmetic is done in 64 bits; it is unsigned when an operand is a
        // 64-bit unsigned value (C's usual conversions at that width).
        if (op == BinaryOp::Shl || op == BinaryOp::Shr) result = widened(a);
        else {
            bool uns = (!btf_.is_signed(a) && btf_.size(a) == 8) || (!btf_.is_signed(b) && btf_.size(b) == 8);
            result = Type::of(uns ? Builtin::U64 : Builtin::S64);
        }
    }
    auto t = node(TKind::Binary, result, e, std::move(lhs), std::move(rhs));
    t->binary_op = op;
    return t;
}

TExprPtr Checker::check_cast(const Expr& e)
{
    TExprPtr operand = check(*e.kids[0]);
    if (!operand) return nullptr;
    const TypeRef& ref = e.type;
    Type target;
    if (ref.tag == TypeRef::Tag::Scalar) {
        auto b = builtin_from_name(ref.name);
        if (!b) {
            error_at(ref.range, e, fmt::format("unknown scalar type '{}'", ref.name));
            return nullptr;
        }
        target = Type::of(*b);
    } else {
        Btf::Tag tag = ref.tag == TypeRef::Tag::Struct ? Btf::Tag::Struct : ref.tag == TypeRef::Tag::Union ? Btf::Tag::Union : Btf::Tag::Enum;
        auto found = btf_.find_tagged(tag, ref.name);
        if (!found) {
            const char* word = tag == Btf::Tag::Struct ? "struct" : tag == Btf::Tag::Union ? "union" : "enum";
            Diagnostic& d = error_at(ref.range, e, fmt::format("unknown type '{} {}' in this kernel's BTF", word, ref.name));
            std::string dym = did_you_mean(ref.name, btf_.tagged_names(tag));
            if (!dym.empty()) d.hint(dym);
            return nullptr;
        }
        target = *found;
    }
    target.depth = static_cast<std::uint8_t>(ref.pointers);
    const Type& from = operand->type;
    if (btf_.is_struct_or_union(target)) {
        error_at(ref.range, e, fmt::format("cannot cast to the struct value '{}'", spell(target)))
            .hint(fmt::format("cast to a pointer: ({} *)", spell(target)));
        return nullptr;
    }
    bool from_ok = btf_.is_scalar(from) || (target.is_pointer() && btf_.is_array(from));
    if (!from_ok) {
        error(e, fmt::format("cannot cast '{}' to '{}'", spell(from), spell(target)));
        return nullptr;
    }
    return node(TKind::Cast, target, e, std::move(operand));
}

TExprPtr Checker::check_coalesce(const Expr& e)
{
    // Each alternative is tried against a scratch sink; the first without
    // errors (and without enumerators this kernel lacks) wins. If none does
    // and some alternative had an error, every alternative's first problem is
    // shown; if each only lacked enumerators, the '??' lacks them too (an
    // outer '??' may do without, else the probe is skipped).
    Diagnostics* real = diags_;
    std::vector<std::string> failures;
    const std::size_t missing_before = missing_.size();
    std::vector<MissingEnumerator> lacked;
    bool only_lacking = true;
    for (std::size_t i = 0; i < e.kids.size(); ++i) {
        Diagnostics scratch;
        diags_ = &scratch;
        std::size_t before = errors_;
        TExprPtr t = check(*e.kids[i]);
        bool erred = errors_ != before;
        bool lacks = missing_.size() != missing_before;
        bool ok = t && !erred && !lacks;
        errors_ = before;
        diags_ = real;
        if (ok) {
            LineCol lc = sources_.file(e.range.file).line_col(e.range.begin);
            probe_->choices.push_back(fmt::format("{}:{}: '??' took alternative {} of {}", lc.line, lc.col, i + 1, e.kids.size()));
            for (std::size_t j = i + 1; j < e.kids.size() && reads_no_memory(*t); ++j)
                if (e.kids[j]->kind == ExprKind::Int) {
                    t->coalesce_fallback = e.kids[j]->value;
                    break;
                }
            return t;
        }
        if (lacks && !erred) {
            const MissingEnumerator& m = missing_[missing_before];
            failures.push_back(fmt::format("alternative {} at {}: {}", i + 1, sources_.describe(m.range), m.what()));
            lacked.insert(lacked.end(), missing_.begin() + static_cast<std::ptrdiff_t>(missing_before), missing_.end());
        } else {
            only_lacking = false;
            const Diagnostic& first = scratch.all().empty() ? Diagnostic{} : scratch.all().front();
            failures.push_back(fmt::format("alternative {} at {}: {}", i + 1,
                                           sources_.describe(first.range.valid() ? first.range : e.kids[i]->range), first.message));
        }
        missing_.resize(missing_before);
    }
    if (only_lacking && !lacked.empty()) {
        missing_.insert(missing_.end(), lacked.begin(), lacked.end());
        return nullptr;
    }
    Diagnostic& d = error(e, "no alternative of '??' type-checks on this kernel");
    for (const std::string& f : failures) d.note(f);
    return nullptr;
}

std::optional<CaptureSchema> Checker::schema_for(const Binding& c, const TExpr& t)
{
    CaptureSchema s;
    s.name = c.name;
    const Type& ty = t.type;
    if (btf_.is_char_array(ty)) {
        s.kind = ValueKind::String;
        s.size = std::min<std::uint32_t>(std::max<std::uint32_t>(btf_.array_length(ty), 1), 128);
    } else if (btf_.is_char_pointer(ty)) {
        // Kernel names are often 'char *' (nft tables, chains): the text, not the address.
        s.kind = ValueKind::String;
        s.size = 64;
    } else if (ty.is_pointer()) {
        s.kind = ValueKind::Pointer;
    } else if (btf_.is_enum(ty)) {
        s.kind = ValueKind::Enum;
        s.enum_name = btf_.enum_name(ty);
        s.enum_signed = btf_.is_signed(ty);
    } else if (btf_.is_integer(ty)) {
        s.kind = btf_.is_signed(ty) ? ValueKind::Signed : ValueKind::Unsigned;
    } else {
        Diagnostic& d = report_at(*diags_, sources_, Severity::Error, c.expr->range, c.expr->expansion,
                                  fmt::format("capture '{}' is a '{}'; a capture must be a number, enum, pointer or char array", c.name, spell(ty)));
        ++errors_;
        if (btf_.is_struct_or_union(ty)) d.hint("capture one of its fields");
        return std::nullopt;
    }
    return s;
}

// 'drop if', 'warn if', 'noise if': a number, enum or pointer (C's truth).
TExprPtr Checker::check_condition(const ExprPtr& e)
{
    if (!e) return nullptr;
    TExprPtr t = check(*e);
    if (t && !btf_.is_scalar(t->type)) {
        report_at(*diags_, sources_, Severity::Error, e->range, e->expansion,
                  fmt::format("a condition must be a number, enum or pointer, not '{}'", spell(t->type)));
        ++errors_;
    }
    return t;
}

TypedRule Checker::check_rule(const RuleDecl& r)
{
    TypedRule out;
    out.decl = &r;
    rule_ = &r;

    // Captures are evaluated dependencies first (the resolver ruled out cycles).
    const std::size_t n = r.captures.size();
    std::vector<int> state(n, 0);
    std::function<void(std::size_t)> visit = [&](std::size_t i) {
        if (state[i]) return;
        state[i] = 1;
        std::function<void(const Expr&)> walk = [&](const Expr& e) {
            if (e.kind == ExprKind::Ident && e.ident == IdentKind::Capture)
                for (std::size_t j = 0; j < n; ++j)
                    if (r.captures[j].name == e.name && state[j] == 0) visit(j);
            for (const ExprPtr& k : e.kids) walk(*k);
        };
        if (r.captures[i].expr) walk(*r.captures[i].expr);
        out.capture_order.push_back(i);
    };
    for (std::size_t i = 0; i < n; ++i) visit(i);

    std::vector<std::optional<CaptureSchema>> schemas(n);
    for (const Probe& p : r.probes) {
        TypedProbe tp;
        tp.probe = &p;
        probe_ = &tp;
        if (!signature_for(tp, r)) {
            out.probes.push_back(std::move(tp));
            continue;
        }
        std::size_t errors_before = errors_;
        capture_types_.assign(n, std::nullopt);
        missing_.clear();
        capture_missing_.assign(n, {});
        tp.captures.resize(n);
        for (std::size_t i : out.capture_order) {
            const Binding& c = r.captures[i];
            if (!c.expr) continue;
            std::size_t missing_before = missing_.size();
            TExprPtr t = check(*c.expr);
            capture_missing_[i].assign(missing_.begin() + static_cast<std::ptrdiff_t>(missing_before), missing_.end());
            if (!t) continue;
            auto s = schema_for(c, *t);
            if (!s) continue;
            capture_types_[i] = t->type;
            tp.captures[i] = std::move(t);
            // One event layout per rule: the probes must agree on each capture.
            if (!schemas[i]) {
                schemas[i] = s;
            } else if (schemas[i]->kind != s->kind || schemas[i]->enum_name != s->enum_name) {
                bool ints = (schemas[i]->kind == ValueKind::Signed || schemas[i]->kind == ValueKind::Unsigned) &&
                            (s->kind == ValueKind::Signed || s->kind == ValueKind::Unsigned);
                if (ints) {
                    schemas[i]->kind = ValueKind::Signed;
                } else {
                    report_at(*diags_, sources_, Severity::Error, c.expr->range, c.expr->expansion,
                              fmt::format("capture '{}' is {} at '{}' but {} at '{}'", c.name, value_kind_name(s->kind),
                                          p.spelling(), value_kind_name(schemas[i]->kind), r.probes.front().spelling()))
                        .hint("cast it to one type, e.g. (u64)");
                    ++errors_;
                }
            } else if (s->kind == ValueKind::String) {
                schemas[i]->size = std::max(schemas[i]->size, s->size);
            }
        }
        tp.condition = check_condition(r.condition);
        tp.noise = check_condition(r.noise);
        if (r.packet) {
            tp.packet = check(*r.packet);
            if (tp.packet) {
                auto skb = btf_.find_tagged(Btf::Tag::Struct, "sk_buff");
                Type want = skb ? *skb : Type{};
                want.depth = 1;
                if (!skb || tp.packet->type != want) {
                    Diagnostic& d = report_at(*diags_, sources_, Severity::Error, r.packet->range, r.packet->expansion,
                                              fmt::format("'packet' needs a 'struct sk_buff *', not '{}'", spell(tp.packet->type)));
                    ++errors_;
                    for (std::size_t i = 0; i < tp.signature.params.size(); ++i)
                        if (tp.signature.params[i].type == want) {
                            d.hint(fmt::format("did you mean 'packet {}'?", tp.signature.params[i].name));
                            break;
                        }
                }
            }
        }
        tp.available = errors_ == errors_before && missing_.empty();
        if (!missing_.empty()) {
            note_missing_enumerators(tp);
            // A skipped probe's condition names no reason for the code generator
            // to leave to it ('fallback'): nothing of it runs.
            tp.condition.reset();
            tp.noise.reset();
            tp.packet.reset();
            for (TExprPtr& c : tp.captures) c.reset();
        }
        if (!tp.available && tp.skip_reason.empty()) tp.skip_reason = "does not type-check";
        out.probes.push_back(std::move(tp));
    }
    for (std::size_t i = 0; i < n; ++i) {
        CaptureSchema fallback;  // a capture that failed everywhere: its error was reported
        fallback.name = r.captures[i].name;
        out.captures.push_back(schemas[i].value_or(fallback));
    }
    report_missing_enumerators(r);
    out.skipped = std::none_of(out.probes.begin(), out.probes.end(), [](const TypedProbe& p) { return p.available; });
    probe_ = nullptr;
    return out;
}

}  // namespace

bool reads_no_memory(const TExpr& e)
{
    if (e.kind == TKind::Member || e.kind == TKind::Index || e.kind == TKind::Capture) return false;
    return std::all_of(e.kids.begin(), e.kids.end(), [](const TExprPtr& k) { return reads_no_memory(*k); });
}

std::vector<TypedRule> type_check(const std::vector<const RuleDecl*>& rules, const Btf& btf, const SourceManager& sources,
                                  Diagnostics& diags, TypeCheckOptions options)
{
    Checker checker(btf, sources, diags, options);
    std::vector<TypedRule> out;
    for (const RuleDecl* r : rules) {
        if (r->is_monitor) continue;
        if (diags.at_limit()) {
            diags.stopped_at_limit();
            break;
        }
        out.push_back(checker.check_rule(*r));
    }
    return out;
}

}  // namespace rtd
