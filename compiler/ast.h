// The rule language's AST. The parser fills it from text; the resolver
// then imports, folds constants, expands macros and marks what each
// identifier means, in place. Every node keeps the range it was spelled at.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/source.h"

namespace rtd {

enum class UnaryOp { Not, Neg, BitNot };
enum class BinaryOp {
    Mul, Div, Mod, Add, Sub, Shl, Shr,
    Lt, Le, Gt, Ge, Eq, Ne,
    BitAnd, BitXor, BitOr, LogAnd, LogOr,
};
const char* spelling(UnaryOp op);
const char* spelling(BinaryOp op);

enum class ExprKind {
    Int, Ident, Member, Index, Unary, Binary, Cast, Call, Coalesce,
    // Only in a --where filter (filter.h): the parser refuses these in rules,
    // so no pass over rules ever meets one.
    Address, String, In,
};

// What an identifier turned out to be after resolution.
enum class IdentKind {
    Unresolved,    // straight from the parser
    Kernel,        // left for the type checker: a probe argument or a kernel enumerator
    Ret,           // the return value in a kretprobe
    Capture,       // a capture of the same rule
    MonitorValue,  // value / delta / rate of a monitor's source
};

// A cast's target type: struct/union/enum NAME or a builtin scalar, plus '*'s.
struct TypeRef {
    enum class Tag { Struct, Union, Enum, Scalar };
    Tag tag = Tag::Scalar;
    std::string name;
    unsigned pointers = 0;
    SourceRange range;

    std::string spelling() const;
};

// One level of macro expansion: the call site, and the expansion that call
// site itself came from (for macros that call macros).
struct Expansion {
    std::string macro;
    SourceRange call_site;
    std::shared_ptr<const Expansion> parent;
};

// An IPv4 or IPv6 address, or a network (CIDR) when it has a prefix length.
struct AddressLiteral {
    int family = 4;                        // 4 or 6
    std::array<std::uint8_t, 16> bytes{};  // network order; IPv4 fills the first 4
    std::optional<unsigned> prefix;        // in bits; none for a single address
    SourceRange prefix_range;              // the digits after '/'
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    ExprKind kind = ExprKind::Int;
    SourceRange range;
    std::shared_ptr<const Expansion> expansion;  // set on nodes copied out of a macro body
    std::uint32_t depth = 1;                     // height of this subtree

    // Int
    std::uint64_t value = 0;
    bool is_unsigned = false;
    std::string constant;  // name of the constant this literal was folded from, if any

    // Ident (name), Member (field name), Call (macro name)
    std::string name;
    SourceRange name_range;
    IdentKind ident = IdentKind::Unresolved;
    bool arrow = false;  // Member: spelled '->' (means the same as '.')

    UnaryOp unary_op = UnaryOp::Not;
    BinaryOp binary_op = BinaryOp::Add;
    TypeRef type;  // Cast

    AddressLiteral address;    // Address
    std::string string_value;  // String: its bytes, escapes decoded

    // Member: {base}; Index: {base, index}; Unary: {operand}; Binary: {lhs, rhs};
    // Cast: {operand}; Call: arguments; Coalesce: the alternatives in order;
    // In: {lhs, rhs}, as in 'saddr in 10.0.0.0/8'.
    std::vector<ExprPtr> kids;

    std::int64_t signed_value() const { return static_cast<std::int64_t>(value); }
    ExprPtr clone() const;
    void update_depth();
};

ExprPtr make_int(std::uint64_t value, bool is_unsigned, SourceRange range);

enum class ProbeKind { Kprobe, Kretprobe, Tracepoint };

struct Probe {
    ProbeKind kind = ProbeKind::Kprobe;
    std::string function;  // kprobe / kretprobe
    std::string category;  // tracepoint
    std::string event;     // tracepoint
    SourceRange range;

    std::string spelling() const;
    // Parses what spelling() writes ("kprobe:f", "tracepoint:skb:kfree_skb");
    // nothing for anything else (a damaged manifest).
    static std::optional<Probe> from_spelling(std::string_view text);
};

// tracepoint:skb:kfree_skb, the one whose arguments carry the drop reason
// and location.
bool is_kfree_skb(const Probe& p);

enum class SourceKind { Snmp, Link, Sysctl, Netdev, Softnet };

struct MonitorSource {
    SourceKind kind = SourceKind::Snmp;
    std::string key;
    SourceRange range;
    SourceRange key_range;  // the part after ':'

    std::string spelling() const;
};

// 'counted as A | B, C': a drop the rule reports increments one counter of
// every group (A or B, and C).
struct CounterGroup {
    std::vector<MonitorSource> alternatives;
    SourceRange range;
};
// As the clause writes them: "snmp:UdpRcvbufErrors | snmp:Udp6RcvbufErrors, snmp:UdpInErrors".
std::string counted_spelling(const std::vector<CounterGroup>& groups);

// A message or hint: literal text and {placeholder}s, escapes decoded.
// An evidence placeholder ({sysctl:net.ipv4.conf.{dev}.rp_filter}) is looked
// up on the live system when the event is reported (runtime/evidence.h).
struct TextTemplate {
    struct Piece {
        bool placeholder = false;
        std::string text;        // literal text, the placeholder's name, or an evidence argument as written
        SourceRange range;
        std::string evidence;    // "sysctl", "route", "neigh": a look-up of `arg`; "" otherwise
        std::vector<Piece> arg;  // the argument: literal text and plain placeholders
    };
    std::vector<Piece> pieces;
    SourceRange range;

    // As the rule language writes it: quoted, escaped, placeholders in braces.
    std::string quoted() const;
    // Whether a piece is an evidence look-up.
    bool asks_evidence() const;
};

struct Binding {  // capture NAME = EXPR, param NAME = EXPR, const NAME = EXPR
    std::string name;
    SourceRange name_range;
    SourceRange range;
    ExprPtr expr;
};

enum class ConditionKind { None, Drop, Warn };

struct RuleDecl {
    bool is_monitor = false;
    std::string id;
    SourceRange id_range;
    SourceRange range;

    std::optional<int> layer;  // 1..4
    SourceRange layer_range;
    std::vector<Probe> probes;
    SourceRange probe_clause;
    std::optional<MonitorSource> source;
    std::vector<CounterGroup> counted_as;  // the kernel counters each drop increments
    SourceRange counted_clause;
    std::vector<Binding> captures;
    std::vector<Binding> params;
    ConditionKind condition_kind = ConditionKind::None;
    ExprPtr condition;
    SourceRange condition_clause;
    ExprPtr noise;  // 'noise if': matching hits are counted, not reported (unless --all)
    SourceRange noise_clause;
    bool fallback = false;  // kfree_skb rules: skip reasons other loaded rules name
    SourceRange fallback_range;
    std::vector<std::pair<std::string, SourceRange>> instead_of;  // used only when these cannot attach
    ExprPtr packet;
    SourceRange packet_clause;
    bool stack = false;
    // 'track': not a drop point but a place a packet passes; under run
    // --track each hit adds a hop to its packet's path (rtd_track.bpf.h).
    bool track = false;
    SourceRange track_range;
    std::optional<TextTemplate> message;
    std::optional<TextTemplate> hint;

    const Binding* find_capture(std::string_view name) const;
    const Binding* find_param(std::string_view name) const;
};

struct MacroDecl {
    std::string name;
    SourceRange name_range;
    SourceRange range;
    std::vector<std::string> params;
    std::vector<SourceRange> param_ranges;
    ExprPtr body;
};

struct UseDecl {
    std::string target;  // as written: "net", "tcp/helpers"
    SourceRange range;   // of the string
};

// One .rule file.
struct Module {
    FileId file = kNoFile;
    std::vector<UseDecl> uses;
    std::vector<Binding> constants;
    std::vector<MacroDecl> macros;
    std::vector<RuleDecl> rules;
    // Something was dropped (a syntax error, an unreadable literal): later
    // passes would only report follow-on errors, so they do not run.
    bool incomplete = false;
};

}  // namespace rtd
