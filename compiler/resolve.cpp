#include "compiler/resolve.h"

#include <algorithm>
#include <functional>
#include <unordered_map>

#include <fmt/format.h>

#include "compiler/const_eval.h"
#include "compiler/evidence_forms.h"
#include "compiler/language.h"
#include "compiler/suggest.h"

namespace rtd {

namespace {

// Limits that keep hostile input (macro bombs, huge expansions) from
// exhausting memory or the stack of the later recursive passes.
constexpr std::size_t kExpansionBudget = 100000;  // nodes per top-level expression
constexpr std::uint32_t kMaxExpandedDepth = 1024;
constexpr std::size_t kMaxMacroNesting = 32;

std::size_t count_nodes(const Expr& e)
{
    std::size_t n = 1;
    for (const ExprPtr& k : e.kids) n += count_nodes(*k);
    return n;
}

std::string plural(std::size_t n, const char* word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

struct Symbol {
    enum class Kind { Const, Macro } kind;
    std::size_t module;
    std::size_t index;
    bool operator==(const Symbol&) const = default;
};

enum class Mode { Constant, Rule, Monitor };

struct Context {
    Mode mode = Mode::Constant;
    std::size_t module = 0;                        // whose names are visible
    const RuleDecl* rule = nullptr;                // rule or monitor being resolved
    const Binding* defining = nullptr;             // the capture whose expression this is
    const MacroDecl* macro = nullptr;              // body being expanded
    const std::vector<const Expr*>* args = nullptr;  // the call's resolved arguments
    std::shared_ptr<const Expansion> expansion;
    std::vector<const MacroDecl*> stack;           // macros being expanded
    std::size_t* budget = nullptr;
};

class Resolver {
public:
    Resolver(std::vector<LoadedModule>& modules, const SourceManager& sources, Diagnostics& diags)
        : mods_(modules), sources_(sources), diags_(diags)
    {}

    void run();

private:
    Diagnostic& error(const Expr& e, std::string msg) { return report_at(diags_, sources_, Severity::Error, e, std::move(msg)); }
    Module& module(std::size_t i) { return mods_[i].module; }
    const std::string& path_of(std::size_t i) const { return sources_.file(mods_[i].module.file).path(); }
    SourceRange symbol_range(const Symbol& s)
    {
        return s.kind == Symbol::Kind::Const ? module(s.module).constants[s.index].name_range
                                             : module(s.module).macros[s.index].name_range;
    }

    void build_scopes();
    void check_macros();
    const Symbol* lookup(std::size_t module, const std::string& name) const;
    std::vector<std::string> scope_names(std::size_t module, Symbol::Kind kind) const;

    const Expr* constant(std::size_t module, std::size_t index);
    bool resolve_top(ExprPtr& e, Context ctx);
    bool resolve(ExprPtr& e, Context& ctx);
    bool resolve_ident(ExprPtr& e, Context& ctx);
    bool monitor_expression_ok(const Expr& e);
    bool expand(ExprPtr& e, Context& ctx);
    const Expr* first_non_constant(const Expr& e) const;

    void resolve_rule(std::size_t module, RuleDecl& r);
    void check_placeholders(const RuleDecl& r, const TextTemplate& t);
    void check_capture_cycles(const RuleDecl& r);
    void check_rule_ids();
    void check_instead_of();
    void warn_rules_in_imports();

    std::vector<LoadedModule>& mods_;
    const SourceManager& sources_;
    Diagnostics& diags_;
    std::vector<std::unordered_map<std::string, Symbol>> scopes_;
    enum class State : std::uint8_t { Todo, Busy, Done, Failed };
    std::vector<std::vector<State>> const_state_;
    std::vector<std::vector<bool>> macro_broken_;
};

void Resolver::build_scopes()
{
    scopes_.assign(mods_.size(), {});
    // Own definitions first, then imports, so a conflict names both files.
    for (std::size_t m = 0; m < mods_.size(); ++m) {
        auto& scope = scopes_[m];
        auto define = [&](const std::string& name, Symbol s) {
            auto [it, fresh] = scope.emplace(name, s);
            if (!fresh)
                diags_.error(symbol_range(s), fmt::format("redefinition of '{}'", name))
                    .note(fmt::format("previous definition at {}", sources_.describe(symbol_range(it->second))));
        };
        for (std::size_t i = 0; i < module(m).constants.size(); ++i)
            define(module(m).constants[i].name, {Symbol::Kind::Const, m, i});
        for (std::size_t i = 0; i < module(m).macros.size(); ++i)
            define(module(m).macros[i].name, {Symbol::Kind::Macro, m, i});
    }
    for (std::size_t m = 0; m < mods_.size(); ++m) {
        auto& scope = scopes_[m];
        for (std::size_t u = 0; u < mods_[m].imports.size(); ++u) {
            if (!mods_[m].imports[u]) continue;
            std::size_t from = *mods_[m].imports[u];
            const SourceRange use_range = module(m).uses[u].range;
            auto import = [&](const std::string& name, Symbol s) {
                auto [it, fresh] = scope.emplace(name, s);
                if (fresh || it->second == s) return;
                if (it->second.module == m)
                    diags_.error(symbol_range(it->second), fmt::format("'{}' is also defined by '{}'", name, path_of(from)))
                        .note(fmt::format("imported here: {}", sources_.describe(use_range)))
                        .note(fmt::format("other definition at {}", sources_.describe(symbol_range(s))));
                else
                    diags_.error(use_range, fmt::format("'{}' is defined by both '{}' and '{}'", name,
                                                        path_of(it->second.module), path_of(from)))
                        .note(fmt::format("first definition at {}", sources_.describe(symbol_range(it->second))))
                        .note(fmt::format("second definition at {}", sources_.describe(symbol_range(s))));
            };
            for (std::size_t i = 0; i < module(from).constants.size(); ++i)
                import(module(from).constants[i].name, {Symbol::Kind::Const, from, i});
            for (std::size_t i = 0; i < module(from).macros.size(); ++i)
                import(module(from).macros[i].name, {Symbol::Kind::Macro, from, i});
        }
    }
}

const Symbol* Resolver::lookup(std::size_t m, const std::string& name) const
{
    auto it = scopes_[m].find(name);
    return it == scopes_[m].end() ? nullptr : &it->second;
}

std::vector<std::string> Resolver::scope_names(std::size_t m, Symbol::Kind kind) const
{
    std::vector<std::string> out;
    for (const auto& [name, s] : scopes_[m])
        if (s.kind == kind) out.push_back(name);
    std::sort(out.begin(), out.end());  // deterministic suggestions
    return out;
}

// Macro bodies are checked once where they are defined: every call names a
// macro in scope with the right number of arguments, and no macro reaches
// itself. Broken macros are not expanded again (their error is reported once).
void Resolver::check_macros()
{
    macro_broken_.assign(mods_.size(), {});
    for (std::size_t m = 0; m < mods_.size(); ++m) macro_broken_[m].assign(module(m).macros.size(), false);

    std::vector<std::vector<std::vector<std::pair<std::size_t, std::size_t>>>> calls(mods_.size());
    for (std::size_t m = 0; m < mods_.size(); ++m) {
        calls[m].resize(module(m).macros.size());
        for (std::size_t i = 0; i < module(m).macros.size(); ++i) {
            const MacroDecl& def = module(m).macros[i];
            std::function<void(const Expr&)> walk = [&](const Expr& e) {
                for (const ExprPtr& k : e.kids) walk(*k);
                if (e.kind != ExprKind::Call) return;
                if (std::find(def.params.begin(), def.params.end(), e.name) != def.params.end()) {
                    diags_.error(e.name_range, fmt::format("'{}' is a parameter of macro '{}', not a macro", e.name, def.name));
                    macro_broken_[m][i] = true;
                    return;
                }
                const Symbol* s = lookup(m, e.name);
                if (!s || s->kind != Symbol::Kind::Macro) {
                    Diagnostic& d = diags_.error(e.name_range, s ? fmt::format("'{}' is a constant, not a macro", e.name)
                                                                 : fmt::format("unknown macro '{}'", e.name));
                    if (!s) {
                        std::string dym = did_you_mean(e.name, scope_names(m, Symbol::Kind::Macro));
                        if (!dym.empty()) d.hint(dym);
                    }
                    macro_broken_[m][i] = true;
                    return;
                }
                const MacroDecl& callee = module(s->module).macros[s->index];
                if (callee.params.size() != e.kids.size()) {
                    diags_.error(e.range, fmt::format("macro '{}' takes {}, {} given", callee.name,
                                                      plural(callee.params.size(), "argument"), e.kids.size()))
                        .note(fmt::format("'{}' is defined at {}", callee.name, sources_.describe(callee.name_range)));
                    macro_broken_[m][i] = true;
                    return;
                }
                calls[m][i].emplace_back(s->module, s->index);
            };
            walk(*def.body);
        }
    }

    // Depth-first search over the call graph; a grey node reached again closes a cycle.
    enum class Color : std::uint8_t { White, Grey, Black };
    std::vector<std::vector<Color>> color(mods_.size());
    for (std::size_t m = 0; m < mods_.size(); ++m) color[m].assign(module(m).macros.size(), Color::White);
    std::vector<std::pair<std::size_t, std::size_t>> path;
    std::function<void(std::size_t, std::size_t)> visit = [&](std::size_t m, std::size_t i) {
        color[m][i] = Color::Grey;
        path.emplace_back(m, i);
        for (auto [cm, ci] : calls[m][i]) {
            if (color[cm][ci] == Color::Grey) {
                auto start = std::find(path.begin(), path.end(), std::make_pair(cm, ci));
                std::string chain;
                for (auto p = start; p != path.end(); ++p) {
                    chain += module(p->first).macros[p->second].name + " -> ";
                    macro_broken_[p->first][p->second] = true;
                }
                chain += module(cm).macros[ci].name;
                const MacroDecl& head = module(cm).macros[ci];
                diags_.error(head.name_range, fmt::format("macro '{}' is recursive", head.name))
                    .note("expansion would never end: " + chain);
            } else if (color[cm][ci] == Color::White && path.size() < kMaxMacroNesting * 4) {
                visit(cm, ci);
            }
            if (macro_broken_[cm][ci]) macro_broken_[m][i] = true;
        }
        path.pop_back();
        color[m][i] = Color::Black;
    };
    for (std::size_t m = 0; m < mods_.size(); ++m)
        for (std::size_t i = 0; i < module(m).macros.size(); ++i)
            if (color[m][i] == Color::White) visit(m, i);
}

const Expr* Resolver::constant(std::size_t m, std::size_t i)
{
    State& st = const_state_[m][i];
    Binding& c = module(m).constants[i];
    switch (st) {
    case State::Done: return c.expr.get();
    case State::Failed: return nullptr;
    case State::Busy:
        diags_.error(c.name_range, fmt::format("constant '{}' is defined in terms of itself", c.name));
        st = State::Failed;
        return nullptr;
    case State::Todo: break;
    }
    st = State::Busy;
    Context ctx;
    ctx.mode = Mode::Constant;
    ctx.module = m;
    bool ok = resolve_top(c.expr, ctx);
    if (st == State::Failed) return nullptr;  // a cycle was reported on the way
    st = ok ? State::Done : State::Failed;
    return ok ? c.expr.get() : nullptr;
}

const Expr* Resolver::first_non_constant(const Expr& e) const
{
    if (e.kind == ExprKind::Member || e.kind == ExprKind::Index || e.kind == ExprKind::Coalesce ||
        (e.kind == ExprKind::Cast && (e.type.tag != TypeRef::Tag::Scalar || e.type.pointers > 0)))
        return &e;
    for (const ExprPtr& k : e.kids)
        if (const Expr* bad = first_non_constant(*k)) return bad;
    return nullptr;
}

bool Resolver::resolve_top(ExprPtr& e, Context ctx)
{
    if (!e) return false;
    std::size_t budget = kExpansionBudget;
    ctx.budget = &budget;
    if (!resolve(e, ctx) || !fold_constants(e, sources_, diags_)) return false;
    if (ctx.mode == Mode::Constant && e->kind != ExprKind::Int) {
        const Expr* bad = first_non_constant(*e);
        const Expr& at = bad ? *bad : *e;
        std::string what = at.kind == ExprKind::Member  ? "a field access"
                           : at.kind == ExprKind::Index ? "indexing"
                           : at.kind == ExprKind::Cast  ? fmt::format("a cast to '{}'", at.type.spelling())
                           : at.kind == ExprKind::Coalesce ? "'??'"
                                                           : "this";
        error(at, fmt::format("{} is not allowed in a constant expression", what))
            .hint("constants and params are integers known before the rule is loaded");
        return false;
    }
    return true;
}

bool Resolver::resolve(ExprPtr& e, Context& ctx)
{
    if (*ctx.budget == 0) {
        error(*e, fmt::format("macro expansion is too large (more than {} nodes)", kExpansionBudget));
        return false;
    }
    --*ctx.budget;
    if (ctx.expansion) e->expansion = ctx.expansion;
    bool ok = true;
    switch (e->kind) {
    case ExprKind::Int: return true;
    case ExprKind::Ident: return resolve_ident(e, ctx);
    case ExprKind::Call: return expand(e, ctx);
    default:
        for (ExprPtr& k : e->kids) ok = resolve(k, ctx) && ok;
    }
    if (!ok) return false;
    if (ctx.mode == Mode::Monitor && !monitor_expression_ok(*e)) return false;
    e->update_depth();
    if (e->depth > kMaxExpandedDepth) {
        error(*e, fmt::format("expression is nested more than {} levels deep after macro expansion", kMaxExpandedDepth));
        return false;
    }
    return true;
}

bool Resolver::monitor_expression_ok(const Expr& e)
{
    // Monitors are evaluated in user space over plain numbers: no kernel
    // memory to follow and no kernel types to cast to.
    bool scalar_cast = e.kind == ExprKind::Cast && e.type.tag == TypeRef::Tag::Scalar && e.type.pointers == 0;
    if (e.kind != ExprKind::Member && e.kind != ExprKind::Index && (e.kind != ExprKind::Cast || scalar_cast)) return true;
    std::string what = e.kind == ExprKind::Member  ? "a field access"
                       : e.kind == ExprKind::Index ? "indexing"
                                                   : fmt::format("a cast to '{}'", e.type.spelling());
    error(e, fmt::format("{} is not allowed in a monitor", what))
        .hint("a monitor's values are numbers read in user space; casts to integer types such as (s64) are allowed");
    return false;
}

bool Resolver::resolve_ident(ExprPtr& e, Context& ctx)
{
    const std::string name = e->name;
    if (ctx.macro) {
        const auto& params = ctx.macro->params;
        for (std::size_t i = 0; i < params.size(); ++i)
            if (params[i] == name) {
                const Expr& arg = *(*ctx.args)[i];
                std::size_t n = count_nodes(arg);
                if (n > *ctx.budget) {
                    error(*e, fmt::format("macro expansion is too large (more than {} nodes)", kExpansionBudget));
                    return false;
                }
                *ctx.budget -= n;
                e = arg.clone();
                return true;
            }
    } else if (ctx.rule) {
        // Hygiene: a rule's own names are visible in its text, never inside macro bodies.
        // Inside its own definition a capture's name means the kernel's
        // ('capture table = table.name' reads the argument 'table').
        if (ctx.rule->find_capture(name) && !(ctx.defining && ctx.defining->name == name)) {
            e->ident = IdentKind::Capture;
            return true;
        }
        if (const Binding* p = ctx.rule->find_param(name)) {
            if (!p->expr || p->expr->kind != ExprKind::Int) return false;
            auto v = make_int(p->expr->value, p->expr->is_unsigned, e->range);
            v->constant = name;
            v->expansion = e->expansion;
            e = std::move(v);
            return true;
        }
    }
    if (const Symbol* s = lookup(ctx.module, name)) {
        if (s->kind == Symbol::Kind::Macro) {
            const MacroDecl& m = module(s->module).macros[s->index];
            error(*e, fmt::format("'{}' is a macro; call it with {}", name, plural(m.params.size(), "argument")));
            return false;
        }
        const Expr* v = constant(s->module, s->index);
        if (!v) return false;
        auto r = make_int(v->value, v->is_unsigned, e->range);
        r->constant = name;
        r->expansion = e->expansion;
        e = std::move(r);
        return true;
    }
    if (name == "ret") {
        if (ctx.mode == Mode::Rule) {
            for (const Probe& p : ctx.rule->probes)
                if (p.kind != ProbeKind::Kretprobe) {
                    error(*e, "'ret' is only available in kretprobe probes")
                        .note(fmt::format("'{}' at {} does not see the return value", p.spelling(), sources_.describe(p.range)))
                        .hint("probe the function with 'kretprobe:' to compare its return value");
                    return false;
                }
            e->ident = IdentKind::Ret;
            return true;
        }
        error(*e, ctx.mode == Mode::Monitor ? "'ret' is not available in a monitor" : "'ret' is not a constant");
        return false;
    }
    if (ctx.mode == Mode::Monitor) {
        const auto& values = monitor_values();
        if (std::find(values.begin(), values.end(), name) != values.end()) {
            e->ident = IdentKind::MonitorValue;
            return true;
        }
        std::vector<std::string> known = values;
        for (const Binding& c : ctx.rule->captures) known.push_back(c.name);
        for (const Binding& p : ctx.rule->params) known.push_back(p.name);
        for (auto& n : scope_names(ctx.module, Symbol::Kind::Const)) known.push_back(n);
        Diagnostic& d = error(*e, fmt::format("unknown name '{}' in monitor '{}'", name, ctx.rule->id));
        std::string dym = did_you_mean(name, known);
        d.hint(dym.empty() ? "a monitor's expressions use value, delta, rate, its captures, params and constants" : dym);
        return false;
    }
    if (ctx.mode == Mode::Constant) {
        Diagnostic& d = error(*e, fmt::format("'{}' is not a constant", name));
        std::string dym = did_you_mean(name, scope_names(ctx.module, Symbol::Kind::Const));
        d.hint(dym.empty() ? "constants and params may only use integers and other constants" : dym);
        return false;
    }
    e->ident = IdentKind::Kernel;  // the type checker looks it up in BTF
    return true;
}

bool Resolver::expand(ExprPtr& e, Context& ctx)
{
    if (ctx.macro && std::find(ctx.macro->params.begin(), ctx.macro->params.end(), e->name) != ctx.macro->params.end())
        return false;  // reported once by check_macros
    const Symbol* s = lookup(ctx.module, e->name);
    if (!s || s->kind != Symbol::Kind::Macro) {
        if (ctx.macro) return false;  // reported once by check_macros
        Diagnostic& d = diags_.error(e->name_range, s ? fmt::format("'{}' is a constant, not a macro", e->name)
                                                      : fmt::format("unknown macro '{}'", e->name));
        if (!s) {
            std::string dym = did_you_mean(e->name, scope_names(ctx.module, Symbol::Kind::Macro));
            d.hint(dym.empty() ? "macros are defined with 'def NAME(PARAMS) = EXPR' here or in a file named by 'use'" : dym);
        }
        return false;
    }
    const MacroDecl& m = module(s->module).macros[s->index];
    if (macro_broken_[s->module][s->index]) return false;
    if (m.params.size() != e->kids.size()) {
        error(*e, fmt::format("macro '{}' takes {}, {} given", m.name, plural(m.params.size(), "argument"), e->kids.size()))
            .note(fmt::format("'{}' is defined at {}", m.name, sources_.describe(m.name_range)));
        return false;
    }
    if (std::find(ctx.stack.begin(), ctx.stack.end(), &m) != ctx.stack.end() || ctx.stack.size() >= kMaxMacroNesting) {
        error(*e, fmt::format("macro '{}' expands into itself or nests more than {} macros deep", m.name, kMaxMacroNesting));
        return false;
    }
    bool ok = true;
    for (ExprPtr& k : e->kids) ok = resolve(k, ctx) && ok;
    if (!ok) return false;
    std::vector<const Expr*> args;
    for (const ExprPtr& k : e->kids) args.push_back(k.get());

    Context inner;
    inner.mode = ctx.mode;
    inner.module = s->module;  // the body sees the names of the file that defines it
    inner.rule = ctx.rule;
    inner.macro = &m;
    inner.args = &args;
    inner.expansion = std::make_shared<Expansion>(Expansion{m.name, e->range, ctx.expansion});
    inner.stack = ctx.stack;
    inner.stack.push_back(&m);
    inner.budget = ctx.budget;
    ExprPtr body = m.body->clone();
    if (!resolve(body, inner)) return false;
    e = std::move(body);
    return true;
}

void Resolver::check_capture_cycles(const RuleDecl& r)
{
    const std::size_t n = r.captures.size();
    std::vector<std::vector<std::size_t>> uses(n);
    for (std::size_t i = 0; i < n; ++i) {
        std::function<void(const Expr&)> walk = [&](const Expr& e) {
            if (e.kind == ExprKind::Ident && e.ident == IdentKind::Capture)
                for (std::size_t j = 0; j < n; ++j)
                    if (r.captures[j].name == e.name) uses[i].push_back(j);
            for (const ExprPtr& k : e.kids) walk(*k);
        };
        if (r.captures[i].expr) walk(*r.captures[i].expr);
    }
    std::vector<int> color(n, 0);
    std::vector<std::size_t> path;
    std::function<bool(std::size_t)> visit = [&](std::size_t i) {
        color[i] = 1;
        path.push_back(i);
        for (std::size_t j : uses[i]) {
            if (color[j] == 1) {
                std::string chain;
                for (auto p = std::find(path.begin(), path.end(), j); p != path.end(); ++p) chain += r.captures[*p].name + " -> ";
                chain += r.captures[j].name;
                diags_.error(r.captures[j].name_range, fmt::format("capture '{}' depends on itself", r.captures[j].name))
                    .note("through " + chain);
                return false;
            }
            if (color[j] == 0 && !visit(j)) return false;
        }
        path.pop_back();
        color[i] = 2;
        return true;
    };
    for (std::size_t i = 0; i < n; ++i)
        if (color[i] == 0 && !visit(i)) return;
}

void Resolver::check_placeholders(const RuleDecl& r, const TextTemplate& t)
{
    std::vector<std::string> valid;
    for (const Binding& c : r.captures) valid.push_back(c.name);
    for (const Binding& p : r.params) valid.push_back(p.name);
    bool kfree_skb = !r.probes.empty() && std::all_of(r.probes.begin(), r.probes.end(), is_kfree_skb);
    // softnet: reads one line per CPU, and {dev} names it ("cpu3").
    bool per_device = r.source && (r.source->kind == SourceKind::Link || r.source->kind == SourceKind::Netdev ||
                                   r.source->kind == SourceKind::Softnet ||
                                   (r.source->kind == SourceKind::Sysctl && r.source->key.find('*') != std::string::npos));
    auto add = [&](const std::vector<std::string>& names) { valid.insert(valid.end(), names.begin(), names.end()); };
    if (r.is_monitor) {
        for (const std::string& n : monitor_placeholders())
            if (n != "dev" || per_device) valid.push_back(n);
    } else {
        add(task_placeholders());
        if (r.packet) add(packet_placeholders());
        if (kfree_skb) add(reason_placeholders());
    }
    auto in = [](const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); };
    std::vector<const TextTemplate::Piece*> plain;
    for (const auto& piece : t.pieces) {
        if (piece.evidence.empty()) {
            plain.push_back(&piece);
            continue;
        }
        if (r.is_monitor) {
            diags_.error(piece.range, fmt::format("'{{{}:...}}' evidence is looked up for a packet's drop, not a monitor's finding", piece.evidence));
            continue;
        }
        if (!check_evidence_form(piece, diags_)) continue;
        for (const auto& a : piece.arg)
            if (a.placeholder) plain.push_back(&a);
    }
    for (const TextTemplate::Piece* p : plain) {
        const TextTemplate::Piece& piece = *p;
        if (!piece.placeholder || in(valid, piece.text)) continue;
        const std::string& name = piece.text;
        if (!r.is_monitor && in(packet_placeholders(), name)) {
            diags_.error(piece.range, fmt::format("'{{{}}}' needs a 'packet' clause", name))
                .hint("add 'packet skb' naming the struct sk_buff * to decode");
        } else if (!r.is_monitor && in(reason_placeholders(), name)) {
            diags_.error(piece.range, fmt::format("'{{{}}}' is only known to tracepoint:skb:kfree_skb rules", name))
                .hint(fmt::format("capture it instead: capture {} = <expression>", name));
        } else if (r.is_monitor && name == "dev") {
            diags_.error(piece.range, "'{dev}' needs a per-device source")
                .hint("per-device sources are link:, netdev:, softnet: (per CPU) and sysctl keys with a '*' segment");
        } else {
            Diagnostic& d = diags_.error(piece.range, fmt::format("unknown placeholder '{{{}}}'", name));
            std::string dym = did_you_mean(name, valid);
            d.hint(dym.empty() ? "placeholders name captures, params and builtins such as {comm}, {pid}, {netns}" : dym);
        }
    }
}

namespace {

// Where a message or hint names {NAME}, in an evidence argument too; null if nowhere.
const TextTemplate::Piece* placeholder_named(const RuleDecl& r, const std::string& name)
{
    for (const auto* t : {&r.message, &r.hint}) {
        if (!*t) continue;
        for (const auto& p : (*t)->pieces) {
            if (p.placeholder && p.evidence.empty() && p.text == name) return &p;
            for (const auto& a : p.arg)
                if (a.placeholder && a.text == name) return &a;
        }
    }
    return nullptr;
}

}  // namespace

void Resolver::resolve_rule(std::size_t m, RuleDecl& r)
{
    // {ret} in a message: the return value travels with the event as a
    // capture, and 'ret' is checked there (kretprobe rules only).
    const bool has_ret = std::any_of(r.captures.begin(), r.captures.end(), [](const Binding& c) { return c.name == "ret"; });
    if (const TextTemplate::Piece* p = r.is_monitor || has_ret ? nullptr : placeholder_named(r, "ret")) {
        Binding b;
        b.name = "ret";
        b.name_range = b.range = p->range;
        b.expr = std::make_unique<Expr>();
        b.expr->kind = ExprKind::Ident;
        b.expr->name = "ret";
        b.expr->range = b.expr->name_range = p->range;
        r.captures.push_back(std::move(b));
    }

    Context constant_ctx;
    constant_ctx.mode = Mode::Constant;
    constant_ctx.module = m;
    for (Binding& p : r.params) resolve_top(p.expr, constant_ctx);

    Context ctx;
    ctx.mode = r.is_monitor ? Mode::Monitor : Mode::Rule;
    ctx.module = m;
    ctx.rule = &r;
    for (Binding& c : r.captures) {
        const auto& values = monitor_values();
        if (r.is_monitor && std::find(values.begin(), values.end(), c.name) != values.end())
            diags_.error(c.name_range, fmt::format("capture '{}' would hide the monitor's own '{}'", c.name, c.name))
                .hint("give the capture another name");
        ctx.defining = &c;
        resolve_top(c.expr, ctx);
    }
    ctx.defining = nullptr;
    if (r.condition && resolve_top(r.condition, ctx) && r.condition->kind == ExprKind::Int) {
        bool always = r.condition->value != 0;
        diags_.warning(r.condition->range, fmt::format("condition is always {}", always ? "true" : "false"))
            .hint(always ? "a rule without 'drop if' reports every hit" : "this rule can never report anything");
    }
    if (r.noise && resolve_top(r.noise, ctx) && r.noise->kind == ExprKind::Int)
        diags_.warning(r.noise->range, fmt::format("'noise if' is always {}", r.noise->value ? "true" : "false"));
    if (r.fallback && !std::all_of(r.probes.begin(), r.probes.end(), is_kfree_skb))
        diags_.error(r.fallback_range, "'fallback' is only for rules on tracepoint:skb:kfree_skb")
            .hint("a fallback rule reports the drop reasons no other loaded rule names");
    if (!r.counted_as.empty() && r.condition_kind == ConditionKind::Warn)
        diags_.error(r.counted_clause, "'counted as' names the counters a rule's drops increment; a 'warn if' rule reports no drop")
            .hint("use 'drop if', or leave 'counted as' out");
    if (r.packet && resolve_top(r.packet, ctx) && r.packet->kind == ExprKind::Int)
        error(*r.packet, "'packet' needs the struct sk_buff * to decode, not a number");
    check_capture_cycles(r);
    if (r.message) check_placeholders(r, *r.message);
    if (r.hint) check_placeholders(r, *r.hint);
    if (r.is_monitor && r.condition_kind == ConditionKind::None && r.source)
        diags_.warning(r.id_range, fmt::format("monitor '{}' has no 'drop if' or 'warn if'", r.id))
            .hint("it will report on every poll; add e.g. 'drop if delta > 0'");
}

void Resolver::check_instead_of()
{
    // Every target must be a loaded rule, not the rule itself; no cycles.
    std::unordered_map<std::string, const RuleDecl*> by_id;
    std::vector<std::string> ids;
    for (LoadedModule& lm : mods_)
        if (lm.root)
            for (const RuleDecl& r : lm.module.rules) {
                by_id.emplace(r.id, &r);
                ids.push_back(r.id);
            }
    for (const auto& [id, r] : by_id) {
        for (const auto& [target, range] : r->instead_of) {
            if (target == id) {
                diags_.error(range, fmt::format("rule '{}' cannot be used instead of itself", id));
                continue;
            }
            auto it = by_id.find(target);
            if (it == by_id.end()) {
                Diagnostic& d = diags_.error(range, fmt::format("'instead of' names '{}', which is not loaded", target));
                std::string dym = did_you_mean(target, ids);
                d.hint(dym.empty() ? "load the file or pack that defines it, or remove it from the list" : dym);
                continue;
            }
            if (it->second->is_monitor) diags_.error(range, fmt::format("'{}' is a monitor; 'instead of' names probe rules", target));
            for (const auto& [back, back_range] : it->second->instead_of)
                if (back == id && id < target)
                    diags_.error(range, fmt::format("rules '{}' and '{}' are each declared instead of the other", id, target))
                        .note(fmt::format("the other declaration is at {}", sources_.describe(back_range)));
        }
    }
}

void Resolver::check_rule_ids()
{
    std::unordered_map<std::string, SourceRange> seen;
    for (LoadedModule& lm : mods_) {
        if (!lm.root) continue;
        for (const RuleDecl& r : lm.module.rules) {
            if (r.id.find('.') == std::string::npos)
                diags_.error(r.id_range, fmt::format("{} id '{}' has no pack prefix", r.is_monitor ? "monitor" : "rule", r.id))
                    .hint(fmt::format("name it '<pack>.{}': ids are PACK.NAME so that -i/-e globs can pick packs", r.id));
            auto [it, fresh] = seen.emplace(r.id, r.id_range);
            if (!fresh)
                diags_.error(r.id_range, fmt::format("duplicate rule id '{}'", r.id))
                    .note(fmt::format("first defined at {}", sources_.describe(it->second)));
        }
    }
}

void Resolver::warn_rules_in_imports()
{
    for (std::size_t i = 0; i < mods_.size(); ++i) {
        if (mods_[i].root || mods_[i].module.rules.empty()) continue;
        for (std::size_t m = 0; m < mods_.size(); ++m)
            for (std::size_t u = 0; u < mods_[m].imports.size(); ++u)
                if (mods_[m].imports[u] == i) {
                    diags_.warning(module(m).uses[u].range,
                                   fmt::format("'{}' defines {}; 'use' imports only its constants and macros", path_of(i),
                                               plural(mods_[i].module.rules.size(), "rule")))
                        .hint("name the file (or its pack folder) on the command line to load its rules");
                    goto next;
                }
    next:;
    }
}

void Resolver::run()
{
    build_scopes();
    check_macros();
    const_state_.assign(mods_.size(), {});
    for (std::size_t m = 0; m < mods_.size(); ++m) const_state_[m].assign(module(m).constants.size(), State::Todo);
    for (std::size_t m = 0; m < mods_.size(); ++m)
        for (std::size_t i = 0; i < module(m).constants.size() && !diags_.at_limit(); ++i) constant(m, i);
    for (std::size_t m = 0; m < mods_.size(); ++m) {
        if (!mods_[m].root) continue;
        for (RuleDecl& r : module(m).rules) {
            if (diags_.at_limit()) return diags_.stopped_at_limit();
            resolve_rule(m, r);
        }
    }
    check_rule_ids();
    check_instead_of();
    warn_rules_in_imports();
}

}  // namespace

void resolve_modules(std::vector<LoadedModule>& modules, const SourceManager& sources, Diagnostics& diags)
{
    Resolver(modules, sources, diags).run();
}

}  // namespace rtd
