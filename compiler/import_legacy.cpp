#include "compiler/import_legacy.h"

#include "compiler/toml_source.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "compiler/frontend.h"
#include "compiler/parser.h"
#include "compiler/suggest.h"
#include "compiler/typecheck.h"

namespace rtd {

namespace {

// ---- what the original tool's files hold ---------------------------------------

const std::vector<std::string>& known_keys()
{
    static const std::vector<std::string> keys = {"name", "params", "exprs", "expr", "skb"};
    return keys;
}

// The original's params: "basic" (print the packet), "kretprobe" (probe the return).
bool known_param(const std::string& p) { return p == "basic" || p == "kretprobe"; }

// The drop conditions the original documented, in our syntax; the rule
// reports every hit, as the old tool did, so they are written commented out.
struct DocumentedDrop {
    const char* function;
    const char* condition;  // after "drop if "
    const char* why;        // one line, our words
    bool uses_ret;
    bool uses_net;  // needs use "net" (NF_DROP, ...)
};

constexpr DocumentedDrop kDocumented[] = {
    {"tcp_conn_request",
     "((struct inet_connection_sock *)sk).icsk_accept_queue.qlen.counter > sk.sk_max_ack_backlog"
     " || sk.sk_ack_backlog > sk.sk_max_ack_backlog",
     "the SYN is dropped when the half-open (SYN) queue or the accept queue holds more than the listen backlog",
     false, false},
    {"tcp_v4_syn_recv_sock", "sk.sk_ack_backlog > sk.sk_max_ack_backlog",
     "the finished handshake is dropped when the listener's accept queue is already over its backlog", false, false},
    {"tcp_add_backlog",
     "sk.sk_backlog.len + sk.sk_backlog.rmem_alloc.counter > sk.sk_rcvbuf + sk.sk_sndbuf + 65536",
     "the segment is dropped when the backlog and queued receive memory exceed rcvbuf + sndbuf + headroom"
     " (64 KiB on recent kernels)",
     false, false},
    {"__skb_checksum_complete", "ret != 0",
     "a nonzero result means the checksum did not verify, and the caller drops the packet", true, false},
    {"ipt_do_table", "ret == NF_DROP", "the verdict NF_DROP means one of the table's rules dropped the packet", true,
     true},
    {"fib_validate_source", "ret < 0",
     "a negative result rejects the source address; -EXDEV (-18) is the reverse-path filter (rp_filter)", true,
     false},
};

const DocumentedDrop* documented(const std::string& function)
{
    for (const DocumentedDrop& d : kDocumented)
        if (function == d.function) return &d;
    return nullptr;
}

// The original grouped drop points by layer: tcp and udp under l4,
// iptables, conntrack and FIB under l3. Anything else defaults to l4.
int layer_of(const std::string& function)
{
    static const char* const l3_prefixes[] = {"ipt_", "ip6t_", "arpt_", "nf_",  "nft_", "ipv4_", "ipv6_",
                                              "ip_",  "ip6_",  "fib_",  "fib6_", "xt_", "ipv6_"};
    for (const char* p : l3_prefixes)
        if (function.rfind(p, 0) == 0) return 3;
    return 4;
}

// Arguments the kernel renamed since the original was written: the old
// name, and what reads the same thing on newer kernels. Tried only with BTF,
// when the old name does not type-check; written as NEW ?? OLD so the rule
// works on both.
struct Renamed {
    const char* function;
    const char* old_name;
    const char* replacement;
    const char* why;
};

constexpr Renamed kRenamed[] = {
    {"ipt_do_table", "table", "((struct xt_table *)priv)",
     "newer kernels have ipt_do_table(priv, skb, state), the table in priv"},
};

// ---- names -----------------------------------------------------------------------

bool is_ident(std::string_view s)
{
    if (s.empty()) return false;
    auto first = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
    if (!first(s[0])) return false;
    return std::all_of(s.begin(), s.end(), [&](char c) { return first(c) || (c >= '0' && c <= '9'); });
}

// Words a capture must not be called: reserved words, clause words, the
// builtin placeholders and names with a builtin meaning.
const std::set<std::string>& unusable_names()
{
    static const std::set<std::string> names = {
        // reserved
        "rule", "monitor", "const", "def", "use", "if", "struct", "union", "enum", "u8", "u16", "u32", "u64", "s8",
        "s16", "s32", "s64", "bool", "char", "short", "int", "long", "unsigned", "signed",
        // clause words
        "layer", "probe", "source", "capture", "param", "drop", "warn", "noise", "fallback", "instead", "packet",
        "stack", "track", "message", "hint", "counted",
        // builtins and placeholders
        "ret", "value", "delta", "rate", "comm", "pid", "cpu", "netns", "probe", "saddr", "daddr", "sport", "dport",
        "proto", "tcp_flags", "len", "dev", "ifindex", "mark", "reason", "location", "reason_hint",
        // ours
        "retval"};
    return names;
}

// A kernel function name as the old file spells it (may carry .isra.0).
bool is_function_name(std::string_view s)
{
    if (s.empty() || s.size() > 128) return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_')) return false;
    if (s.back() == '.' || s.find("..") != std::string_view::npos) return false;  // name.suffix.N only
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    });
}

std::string rule_name_of(const std::string& function)
{
    std::string out = function;
    for (char& c : out)
        if (c == '.') c = '_';
    return out;
}

// ---- expressions -----------------------------------------------------------------

// Roots (probe arguments, `ret`) and the member path an expression reads.
struct Shape {
    std::vector<std::string> roots;
    std::vector<std::string> path;  // for naming: root then fields, casts looked through
};

void collect_roots(const Expr& e, std::vector<std::string>& out)
{
    if (e.kind == ExprKind::Ident) out.push_back(e.name);
    for (const ExprPtr& k : e.kids)
        if (k) collect_roots(*k, out);
}

bool member_path(const Expr& e, std::vector<std::string>& out)
{
    switch (e.kind) {
    case ExprKind::Ident: out.push_back(e.name); return true;
    case ExprKind::Member:
        if (!member_path(*e.kids.at(0), out)) return false;
        out.push_back(e.name);
        return true;
    case ExprKind::Cast:
    case ExprKind::Index: return member_path(*e.kids.at(0), out);
    default: return false;
    }
}

void all_names(const Expr& e, std::vector<std::string>& out)
{
    if (e.kind == ExprKind::Ident && e.name != "ret") out.push_back(e.name);
    for (const ExprPtr& k : e.kids)
        if (k) all_names(*k, out);
    if (e.kind == ExprKind::Member) out.push_back(e.name);
}

Shape shape_of(const Expr& e)
{
    Shape s;
    collect_roots(e, s.roots);
    if (!member_path(e, s.path)) {
        s.path.clear();
        all_names(e, s.path);
    }
    return s;
}

// Characters that could end a capture clause early (a comment, a string,
// a brace, a new line) are never part of our expression syntax.
bool safe_expression_text(std::string_view s)
{
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7F || c == '#' || c == '"' || c == '{' || c == '}' || c == ';' || c == '\'' ||
            c == '\\' || c == '`' || c == '$' || c == '@')
            return false;
    }
    return true;
}

std::string trim(std::string_view s)
{
    std::size_t b = 0, e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
    return std::string(s.substr(b, e - b));
}

// A comment line must stay one line: control characters become '?'.
std::string one_line(std::string_view s)
{
    std::string out(s);
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
    return out;
}

// The expression checked on its own, in a rule of its own: parsed and
// resolved, and with a signature type-checked. Returns the first error, or
// empty when it is fine; `shape` is filled when it parsed and resolved.
std::string check_expression(const std::string& function, bool kretprobe, const std::string& text, const Btf* btf,
                             Shape* shape)
{
    Frontend fe(SearchPaths{}, 10);
    std::string rule = fmt::format("rule imported.check {{\n    layer l4\n    probe {}:{}\n    capture v = {}\n}}\n",
                                   kretprobe ? "kretprobe" : "kprobe", function, text);
    bool ok = fe.load_text("<import>", rule);
    auto first_error = [&fe]() -> std::string {
        for (const Diagnostic& d : fe.diagnostics().all())
            if (d.severity == Severity::Error) return d.message;
        return "cannot be read";
    };
    if (!ok) return first_error();
    std::vector<const RuleDecl*> rules = fe.rules();
    if (rules.size() != 1 || rules[0]->captures.size() != 1 || !rules[0]->captures[0].expr)
        return "not a single expression";
    if (shape) *shape = shape_of(*rules[0]->captures[0].expr);
    if (btf) {
        type_check(rules, *btf, fe.sources(), fe.diagnostics());
        if (fe.diagnostics().has_errors()) return first_error();
    }
    return {};
}

// ---- locations in the TOML file --------------------------------------------------

class Locator {
public:
    Locator(FileId file, const SourceFile& src) : file_(file), src_(src) {}

    SourceRange point(const toml::source_position& p) const
    {
        std::uint32_t o = toml_offset(src_, p);
        return {file_, o, o};
    }
    SourceRange range(const toml::source_region& r) const { return toml_range(file_, src_, r); }
    std::string where(SourceRange r) const
    {
        LineCol lc = src_.line_col(r.begin);
        return fmt::format("{}:{}:{}", src_.path(), lc.line, lc.col);
    }
    std::uint32_t line(SourceRange r) const { return src_.line_col(r.begin).line; }

private:
    FileId file_;
    const SourceFile& src_;
};

std::string kind_of(const toml::node& n)
{
    switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "nothing";
    }
}

bool before(const toml::source_position& a, const toml::source_position& b)
{
    return a.line != b.line ? a.line < b.line : a.column < b.column;
}

// toml++ tables iterate in key order; diagnostics and rules follow the file.
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& t)
{
    std::vector<std::pair<const toml::key*, const toml::node*>> keys;
    for (auto&& [k, v] : t) keys.emplace_back(&k, &v);
    std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
        return before(a.first->source().begin, b.first->source().begin);
    });
    return keys;
}

// BPF trampolines read at most 12 arguments (kprobes fewer).
constexpr std::int64_t kMaxArguments = 12;

// ---- reading the old file --------------------------------------------------------

struct Located {
    std::string text;
    SourceRange range;
};

struct Entry {
    std::string table;  // "function", or another [[name]] holding the same keys
    SourceRange header;
    std::optional<Located> name;
    std::vector<Located> params;
    std::vector<Located> exprs;
    std::optional<SourceRange> expr_key;  // the typo 'expr' was used
    std::optional<std::int64_t> skb;
    SourceRange skb_range;
};

class Reader {
public:
    Reader(const Locator& loc, Diagnostics& diags) : loc_(loc), diags_(diags) {}

    std::vector<Entry> read(const toml::table& root)
    {
        std::vector<std::pair<const toml::key*, const toml::node*>> keys = in_file_order(root);
        std::vector<Entry> entries;
        for (const auto& [k, v] : keys) {
            std::string key = one_line(k->str());
            const toml::array* array = v->as_array();
            bool tables = array && !array->empty() &&
                          std::all_of(array->begin(), array->end(), [](const toml::node& n) { return n.is_table(); });
            if (!tables && std::find(known_keys().begin(), known_keys().end(), key) != known_keys().end()) {
                diags_.error(loc_.range(k->source()), fmt::format("'{}' is outside a [[function]] table", key))
                    .hint("each drop point starts with a [[function]] line, followed by its name, params and exprs");
                continue;
            }
            if (!tables) {
                std::string what = kind_of(*v);
                if (array && array->empty()) what = "an empty array";
                else if (array) what = "an array of values";
                diags_.error(loc_.range(k->source()),
                             fmt::format("'{}' must be an array of tables ([[{}]]), not {}", key, key, what))
                    .hint("each drop point is a [[function]] table with name, params and exprs");
                continue;
            }
            for (const toml::node& n : *array) entries.push_back(read_entry(key, *n.as_table()));
        }
        // File order across the arrays ([[function]] and [[other]] may interleave).
        std::stable_sort(entries.begin(), entries.end(),
                         [](const Entry& a, const Entry& b) { return a.header.begin < b.header.begin; });
        return entries;
    }

private:
    Entry read_entry(const std::string& table, const toml::table& t)
    {
        Entry e;
        e.table = table;
        e.header = loc_.range(t.source());
        std::vector<std::pair<const toml::key*, const toml::node*>> keys = in_file_order(t);
        for (const auto& [k, v] : keys) {
            std::string key = one_line(k->str());
            SourceRange key_range = loc_.range(k->source());
            SourceRange value_range = loc_.range(v->source());
            if (key == "name") {
                if (!v->is_string()) {
                    diags_.error(value_range, fmt::format("'name' must be a string, not {}", kind_of(*v)))
                        .hint("the kernel function to probe: name = \"tcp_conn_request\"");
                    continue;
                }
                std::string name = **v->as_string();
                if (!is_function_name(name)) {
                    diags_.error(value_range, fmt::format("'name' must be a kernel function name, not \"{}\"",
                                                          one_line(name)))
                        .hint("letters, digits, '_' and '.', as in name = \"tcp_conn_request\"");
                    continue;
                }
                e.name = Located{name, value_range};
            } else if (key == "params" || key == "exprs" || key == "expr") {
                std::vector<Located>& out = key == "params" ? e.params : e.exprs;
                if (key == "expr") e.expr_key = key_range;
                const toml::array* a = v->as_array();
                if (!a) {
                    diags_.error(value_range,
                                 fmt::format("'{}' must be an array of strings, not {}", key, kind_of(*v)))
                        .hint(fmt::format("write {} = [\"{}\"]", key, key == "params" ? "basic" : "sk.sk_rcvbuf"));
                    continue;
                }
                for (const toml::node& item : *a) {
                    if (!item.is_string()) {
                        diags_.error(loc_.range(item.source()),
                                     fmt::format("'{}' must be an array of strings; this element is {}", key,
                                                 kind_of(item)));
                        continue;
                    }
                    out.push_back(Located{**item.as_string(), loc_.range(item.source())});
                }
            } else if (key == "skb") {
                if (!v->is_integer()) {
                    diags_.error(value_range, fmt::format("'skb' must be an integer, not {}", kind_of(*v)))
                        .hint("the position of the struct sk_buff * argument, counted from 1: skb = 1");
                    continue;
                }
                std::int64_t n = **v->as_integer();
                if (n < 1) {
                    diags_.error(value_range, fmt::format("'skb' counts arguments from 1, not from {}", n))
                        .hint("the first argument is skb = 1");
                    continue;
                }
                if (n > kMaxArguments) {
                    diags_.error(value_range,
                                 fmt::format("'skb' = {} is past the {} arguments a probe can read", n, kMaxArguments));
                    continue;
                }
                e.skb = n;
                e.skb_range = value_range;
            } else {
                Diagnostic& d = diags_.error(key_range, fmt::format("unknown key '{}' in a [[{}]] entry", key, table));
                std::string dym = did_you_mean(key, known_keys());
                d.hint(dym.empty() ? "the keys are name, params, exprs and skb" : dym);
            }
        }
        if (!e.name && !has_key(t, "name"))
            diags_.error(e.header, fmt::format("[[{}]] entry has no 'name'", table))
                .hint("add the kernel function to probe: name = \"tcp_conn_request\"");
        return e;
    }

    static bool has_key(const toml::table& t, std::string_view k) { return t.contains(k); }

    const Locator& loc_;
    Diagnostics& diags_;
};

// ---- writing the rules -----------------------------------------------------------

// One old expression on its way to a capture.
struct Checked {
    const Located* src;
    std::string text;  // as it will be written
    Shape shape;       // of the expression as the old file wrote it
    std::vector<std::string> comments;  // lines before it
    bool keep = false;  // false: only the comments are written
};

class Writer {
public:
    Writer(const Locator& loc, const Btf* btf, std::vector<std::pair<std::uint32_t, std::string>>& notes)
        : loc_(loc), btf_(btf), notes_(notes)
    {}

    std::string rule(const Entry& e, const std::string& id, bool& uses_net)
    {
        const std::string& fn = e.name->text;
        std::vector<std::string> top;  // comments before the clauses
        auto note = [&](SourceRange at, const std::string& text, std::vector<std::string>& where) {
            notes_.emplace_back(at.begin, fmt::format("{}: {}", loc_.where(at), text));
            where.push_back(text);
        };

        if (e.table != "function")
            note(e.header,
                 fmt::format("[[{}]] is not a [[function]] table; its entry is read as one (probing '{}')",
                             one_line(e.table), fn),
                 top);

        std::vector<std::string> body;  // comments after the probe
        bool kret = false, basic = false;
        for (const Located& p : e.params) {
            if (p.text == "kretprobe") kret = true;
            else if (p.text == "basic") basic = true;
            if (!known_param(p.text))
                note(p.range,
                     fmt::format("params entry \"{}\" is not known (the original had \"basic\" and "
                                 "\"kretprobe\"); ignored",
                                 one_line(p.text)),
                     body);
        }
        if (e.expr_key)
            note(*e.expr_key, "'expr' (a slip for 'exprs') is read as 'exprs'", body);

        std::optional<Btf::Signature> sig;
        if (btf_) {
            sig = btf_->function(fn);
            if (!sig)
                note(e.name->range,
                     fmt::format("'{}' is not in this kernel's BTF (inlined, static or renamed): translated without "
                                 "checking, and the probe is skipped on this kernel",
                                 fn),
                     top);
        }

        // The packet.
        std::optional<std::string> packet;
        std::vector<std::string> packet_comments;
        if (basic || e.skb) {
            if (sig) {
                auto is_skb = [&](const Btf::Param& p) {
                    return !p.name.empty() && btf_->spelling(p.type) == "struct sk_buff *";
                };
                if (e.skb) {
                    std::size_t i = static_cast<std::size_t>(*e.skb - 1);
                    if (*e.skb <= static_cast<std::int64_t>(sig->params.size()) && is_skb(sig->params[i])) {
                        packet = sig->params[i].name;
                    } else if (*e.skb > static_cast<std::int64_t>(sig->params.size())) {
                        note(e.skb_range,
                             fmt::format("skb = {}, but {} has {} on this kernel", *e.skb, fn,
                                         sig->params.size() == 1 ? std::string("1 argument")
                                                                 : fmt::format("{} arguments", sig->params.size())),
                             packet_comments);
                    } else {
                        const Btf::Param& p = sig->params[i];
                        note(e.skb_range,
                             fmt::format("skb = {}, but argument {} of {} is '{}' ({}) on this kernel, not a struct "
                                         "sk_buff *",
                                         *e.skb, *e.skb, fn, p.name.empty() ? "unnamed" : p.name,
                                         btf_->spelling(p.type)),
                             packet_comments);
                    }
                }
                if (!packet) {
                    for (std::size_t i = 0; i < sig->params.size() && !packet; ++i)
                        if (is_skb(sig->params[i])) {
                            packet = sig->params[i].name;
                            if (e.skb)
                                packet_comments.push_back(
                                    fmt::format("the packet is '{}', argument {}, instead", *packet, i + 1));
                        }
                    if (!packet)
                        note(e.skb ? e.skb_range : e.name->range,
                             fmt::format("{} has no struct sk_buff * argument on this kernel: no packet clause", fn),
                             packet_comments);
                }
            } else {
                packet = "skb";
                if (e.skb)
                    packet_comments.push_back(fmt::format(
                        "skb = {}: argument {} is taken to be the one named 'skb' (not checked: no BTF signature)", *e.skb,
                        *e.skb));
            }
        }

        // The return value, printed as the old tool did for kretprobes.
        std::vector<std::string> ret_comments;
        bool has_retval = false;
        if (kret) {
            if (sig && btf_->is_void(sig->ret)) {
                note(e.name->range, fmt::format("{} returns void: there is no return value to capture", fn),
                     ret_comments);
            } else {
                has_retval = true;
            }
        }

        // The expressions: checked one by one, named once all are known.
        std::vector<Checked> checked;
        std::set<std::string> seen;
        for (const Located& x : e.exprs) {
            Checked c{&x, trim(x.text), {}, {}, false};
            if (c.text.empty()) {
                note(x.range, "an empty expression; left out", c.comments);
            } else if (!seen.insert(c.text).second) {
                note(x.range, fmt::format("{} is listed twice; captured once", c.text), c.comments);
            } else if (!safe_expression_text(c.text)) {
                note(x.range,
                     fmt::format("\"{}\" is not an expression of the rule language; left out", one_line(c.text)),
                     c.comments);
            } else {
                const Btf* with = sig ? btf_ : nullptr;
                std::string err = check_expression(fn, kret, c.text, nullptr, &c.shape);
                if (!err.empty()) {
                    note(x.range, fmt::format("{} cannot be translated ({}); left out", c.text, err), c.comments);
                } else if (with && !(err = check_expression(fn, kret, c.text, with, nullptr)).empty()) {
                    // An atomic_t (sk_rmem_alloc, ...) is a struct: read its counter.
                    std::string counter = c.text + ".counter";
                    std::optional<std::string> renamed = rename(fn, kret, c, with);
                    if (renamed) {
                        c.text = *renamed;
                        c.keep = true;
                    } else if (c.shape.path.empty() ||
                               !check_expression(fn, kret, counter, with, nullptr).empty()) {
                        note(x.range, fmt::format("{} does not type-check on this kernel ({}); left out", c.text, err),
                             c.comments);
                    } else {
                        c.comments.push_back(fmt::format("{} is an atomic counter: its value is read", c.text));
                        c.text = counter;
                        c.shape.path.push_back("counter");
                        c.keep = true;
                    }
                } else {
                    c.keep = true;
                }
            }
            checked.push_back(std::move(c));
        }

        // Names: the last field, widened leftwards until unique; never a
        // builtin, nor a name another expression (or the documented
        // condition) reads from the kernel, which a capture would shadow.
        const DocumentedDrop* doc = documented(fn);
        Shape condition;
        if (doc) check_expression(fn, doc->uses_ret, doc->condition, nullptr, &condition);
        std::set<std::string> used;
        if (has_retval) used.insert("retval");
        std::vector<std::string> names(checked.size());
        for (std::size_t i = 0; i < checked.size(); ++i) {
            if (!checked[i].keep) continue;
            std::set<std::string> shadowed;
            for (std::size_t j = 0; j < checked.size(); ++j)
                if (j != i && checked[j].keep)
                    shadowed.insert(checked[j].shape.roots.begin(), checked[j].shape.roots.end());
            shadowed.insert(condition.roots.begin(), condition.roots.end());
            names[i] = pick_name(checked[i].shape.path, used, shadowed);
            used.insert(names[i]);
        }

        // Text.
        std::string out;
        for (const std::string& c : top) out += fmt::format("# {}\n", c);
        out += fmt::format("rule {} {{\n", id);
        out += fmt::format("    layer   l{}\n", layer_of(fn));
        out += fmt::format("    probe   {}:{}\n", kret ? "kretprobe" : "kprobe", fn);
        std::size_t width = has_retval ? std::string("retval").size() : 0;
        for (std::size_t i = 0; i < checked.size(); ++i)
            if (checked[i].keep) width = std::max(width, names[i].size());
        for (const std::string& c : body) out += fmt::format("    # {}\n", c);
        for (const std::string& c : ret_comments) out += fmt::format("    # {}\n", c);
        if (has_retval) out += fmt::format("    capture {:<{}} = ret\n", "retval", width);
        std::vector<std::string> shown;
        for (std::size_t i = 0; i < checked.size(); ++i) {
            const Checked& c = checked[i];
            for (const std::string& line : c.comments) out += fmt::format("    # {}\n", line);
            if (!c.keep) continue;
            out += fmt::format("    capture {:<{}} = {}\n", names[i], width, c.text);
            shown.push_back(names[i]);
        }
        if (doc) {
            std::string why = doc->why;
            if (doc->uses_ret && !kret) why += " (needs \"kretprobe\" in params)";
            out += fmt::format("    # documented drop: {}\n", why);
            out += fmt::format("    # drop if {}\n", doc->condition);
            uses_net = uses_net || doc->uses_net;
        }
        for (const std::string& c : packet_comments) out += fmt::format("    # {}\n", c);
        if (packet) out += fmt::format("    packet  {}\n", *packet);
        std::string message = fn + (has_retval ? " returned {retval}" : kret ? " returned" : " called");
        if (packet) message += " for {packet}";
        for (std::size_t i = 0; i < shown.size(); ++i)
            message += fmt::format("{}{}={{{}}}", i == 0 ? ": " : ", ", shown[i], shown[i]);
        out += fmt::format("    message \"{}\"\n", message);
        out += "}\n";
        return out;
    }

private:
    // `c` with an argument the kernel renamed, as NEW ?? OLD, when that type-checks.
    static std::optional<std::string> rename(const std::string& fn, bool kret, Checked& c, const Btf* btf)
    {
        if (c.shape.path.empty() || c.shape.roots.size() != 1) return std::nullopt;
        const std::string& root = c.shape.path.front();
        if (c.text.compare(0, root.size(), root) != 0) return std::nullopt;  // a cast or brackets first
        for (const Renamed& r : kRenamed) {
            if (fn != r.function || root != r.old_name) continue;
            std::string text = r.replacement + c.text.substr(root.size()) + " ?? " + c.text;
            if (!check_expression(fn, kret, text, btf, nullptr).empty()) continue;
            c.comments.push_back(fmt::format("'{}' is gone: {}", root, r.why));
            return text;
        }
        return std::nullopt;
    }

    static std::string pick_name(const std::vector<std::string>& path_in, const std::set<std::string>& used,
                                 const std::set<std::string>& shadowed)
    {
        std::vector<std::string> path = path_in;
        if (path.size() > 1 && path.back() == "counter") path.pop_back();  // atomic_t: name what it counts
        if (path.empty()) path.push_back("expr");                          // a literal
        auto fine = [&](const std::string& n) {
            return is_ident(n) && !unusable_names().count(n) && !used.count(n) && !shadowed.count(n);
        };
        for (std::size_t k = 1; k <= path.size(); ++k) {
            std::string n;
            for (std::size_t i = path.size() - k; i < path.size(); ++i) n += (n.empty() ? "" : "_") + path[i];
            if (fine(n)) return n;
        }
        const std::string& base = path.back();
        for (int i = 2;; ++i) {
            std::string n = fmt::format("{}_{}", base, i);
            if (fine(n)) return n;
        }
    }

    const Locator& loc_;
    const Btf* btf_;
    std::vector<std::pair<std::uint32_t, std::string>>& notes_;
};

std::string lowercase_first(std::string s)
{
    if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
    return s;
}

}  // namespace

std::optional<ImportResult> import_legacy_config(const std::string& toml_text, const std::string& display_path,
                                                 const Btf* btf, Diagnostics& diags, SourceManager& sources)
{
    if (toml_text.size() > kMaxSourceBytes) {
        diags.error_in(display_path, "file is larger than 16 MiB");
        return std::nullopt;
    }
    FileId file = sources.add(display_path, toml_text);
    Locator loc(file, sources.file(file));

    toml::table root;
    try {
        root = toml::parse(std::string_view(toml_text), std::string_view(display_path));
    } catch (const toml::parse_error& e) {
        diags.error(loc.point(e.source().begin), "invalid TOML: " + lowercase_first(std::string(e.description())));
        return std::nullopt;
    }

    std::size_t errors_before = diags.error_count();
    std::vector<Entry> entries = Reader(loc, diags).read(root);
    if (diags.error_count() > errors_before) return std::nullopt;

    ImportResult result;
    std::vector<std::pair<std::uint32_t, std::string>> notes;
    Writer writer(loc, btf, notes);
    std::vector<std::string> rules;
    std::set<std::string> ids;
    bool uses_net = false;
    for (const Entry& e : entries) {
        std::string base = "imported." + rule_name_of(e.name->text);
        std::string id = base;
        for (int i = 2; !ids.insert(id).second; ++i) id = fmt::format("{}_{}", base, i);
        rules.push_back(writer.rule(e, id, uses_net));
    }

    std::string& out = result.rule_text;
    out += "# Imported by `rtrace-drop import` from a configuration of the original rtrace-drop:\n";
    out += fmt::format("#   {}\n", one_line(display_path));
    out += "# One rule per [[function]] entry, one capture per expression. The old tool\n";
    out += "# reported every hit, so these rules have no drop condition; where the\n";
    out += "# original documented one, it is given commented out.\n";
    if (btf)
        out += fmt::format("# Arguments and expressions were checked against the BTF in {}.\n", one_line(btf->path()));
    else
        out += "# No BTF was given: argument names and fields are unchecked (run `rtrace-drop check`).\n";
    if (uses_net) out += "\nuse \"net\"\n";
    if (rules.empty()) {
        out += "\n# The file has no drop points.\n";
        result.notes.push_back(fmt::format("{}: the file has no drop points", display_path));
    }
    for (const std::string& r : rules) out += "\n" + r;
    std::stable_sort(notes.begin(), notes.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [at, text] : notes) result.notes.push_back(std::move(text));
    return result;
}

}  // namespace rtd
