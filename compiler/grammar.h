// The rule language's grammar (PEGTL). One named struct per rule, its EBNF
// in the comment above it. Tokens swallow the separators that follow them,
// so every rule starts on a significant character; the parser trims the
// trailing separators off node ranges.
//
// After an unambiguous prefix the grammar commits with must<>; each must<>
// target has an entry in error<> (or a message computed in parser.cpp), so
// no grammar rule name ever reaches a user.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <tao/pegtl.hpp>
#include <tao/pegtl/contrib/analyze_traits.hpp>

namespace rtd::grammar {

namespace pegtl = tao::pegtl;
using pegtl::at;
using pegtl::eof;
using pegtl::eolf;
using pegtl::not_at;
using pegtl::not_one;
using pegtl::one;
using pegtl::opt;
using pegtl::plus;
using pegtl::ranges;
using pegtl::seq;
using pegtl::sor;
using pegtl::star;
using pegtl::until;
template <typename... R> using must = pegtl::must<R...>;

// Expression nesting deeper than this is refused while parsing (the parser
// recurses once per level; this keeps its stack use small and bounded).
inline constexpr std::size_t kMaxNesting = 200;

// Parser bookkeeping shared by the custom rules and the error messages.
struct ParseState {
    const char* text = nullptr;          // start of the file
    std::size_t depth = 0;               // current expression nesting
    std::vector<std::size_t> parens;     // offsets of the open '(' being parsed
    std::size_t item_begin = 0;          // offset of the top-level item being parsed
};

// Raised from the grammar; the parser turns it into a diagnostic.
struct SyntaxError {
    std::size_t offset;
    std::string message;
    std::string hint;
    std::string note;          // printed with the location of `related`
    std::size_t related = 0;
};

template <typename Rule> struct error {
    static constexpr const char* message = nullptr;
};
#define RTD_SYNTAX_ERROR(Rule, text)                   \
    template <> struct error<Rule> {                   \
        static constexpr const char* message = text;   \
    }

template <typename S, typename... Rest> ParseState& parse_state(S& s, Rest&...)
{
    return s;
}

// Counts expression nesting around R and refuses to go deeper than
// kMaxNesting; with Paren it also remembers where the '(' was so that a
// missing ')' can point back at it.
template <typename R, bool Paren = false> struct nested {
    using rule_t = nested;
    using subs_t = pegtl::type_list<R>;

    template <pegtl::apply_mode A, pegtl::rewind_mode M, template <typename...> class Action,
              template <typename...> class Control, typename Input, typename... States>
    static bool match(Input& in, States&&... st)
    {
        ParseState& ps = parse_state(st...);
        std::size_t here = static_cast<std::size_t>(in.current() - ps.text);
        if (ps.depth >= kMaxNesting)
            throw SyntaxError{here, "expression is nested too deeply (more than " + std::to_string(kMaxNesting) + " levels)", "split it with 'capture' or a 'def' macro", {}};
        ++ps.depth;
        if constexpr (Paren) ps.parens.push_back(here);
        struct Leave {
            ParseState& ps;
            ~Leave()
            {
                --ps.depth;
                if constexpr (Paren) ps.parens.pop_back();
            }
        } leave{ps};
        return pegtl::match<R, A, M, Action, Control>(in, st...);
    }
};

}  // namespace rtd::grammar

// analyze() sees nested<R> as R.
template <typename Name, typename R, bool Paren>
struct tao::pegtl::analyze_traits<Name, rtd::grammar::nested<R, Paren>>
    : tao::pegtl::analyze_traits<Name, typename tao::pegtl::seq<R>::rule_t> {};

namespace rtd::grammar {

// ---- Lexical ------------------------------------------------------------

// comment = '#' { any } eol
struct comment : seq<one<'#'>, until<eolf>> {};
// sep = { space | comment }
struct sep : star<sor<pegtl::space, comment>> {};

struct ident_first : ranges<'a', 'z', 'A', 'Z', '_'> {};
struct ident_other : ranges<'a', 'z', 'A', 'Z', '0', '9', '_'> {};
// word = ident_first { ident_other }
struct word : seq<ident_first, star<ident_other>> {};

template <typename Str> struct key : seq<Str, not_at<ident_other>> {};
struct kw_use : key<TAO_PEGTL_STRING("use")> {};
struct kw_const : key<TAO_PEGTL_STRING("const")> {};
struct kw_def : key<TAO_PEGTL_STRING("def")> {};
struct kw_rule : key<TAO_PEGTL_STRING("rule")> {};
struct kw_monitor : key<TAO_PEGTL_STRING("monitor")> {};
struct kw_if : key<TAO_PEGTL_STRING("if")> {};
struct kw_struct : key<TAO_PEGTL_STRING("struct")> {};
struct kw_union : key<TAO_PEGTL_STRING("union")> {};
struct kw_enum : key<TAO_PEGTL_STRING("enum")> {};

// Clause keywords: keywords only where a clause starts (a kernel argument
// may well be called 'source' or 'hint').
struct kw_layer : key<TAO_PEGTL_STRING("layer")> {};
struct kw_probe : key<TAO_PEGTL_STRING("probe")> {};
struct kw_capture : key<TAO_PEGTL_STRING("capture")> {};
struct kw_param : key<TAO_PEGTL_STRING("param")> {};
struct kw_drop : key<TAO_PEGTL_STRING("drop")> {};
struct kw_warn : key<TAO_PEGTL_STRING("warn")> {};
struct kw_packet : key<TAO_PEGTL_STRING("packet")> {};
struct kw_stack : key<TAO_PEGTL_STRING("stack")> {};
struct kw_track : key<TAO_PEGTL_STRING("track")> {};
struct kw_message : key<TAO_PEGTL_STRING("message")> {};
struct kw_hint : key<TAO_PEGTL_STRING("hint")> {};
struct kw_source : key<TAO_PEGTL_STRING("source")> {};
struct kw_noise : key<TAO_PEGTL_STRING("noise")> {};
struct kw_fallback : key<TAO_PEGTL_STRING("fallback")> {};
struct kw_instead : key<TAO_PEGTL_STRING("instead")> {};
struct kw_of : key<TAO_PEGTL_STRING("of")> {};
struct kw_counted : key<TAO_PEGTL_STRING("counted")> {};
struct kw_as : key<TAO_PEGTL_STRING("as")> {};

// Builtin scalar type words usable in casts: (u32)x, (unsigned long)x.
struct scalar_word : sor<key<TAO_PEGTL_STRING("u8")>, key<TAO_PEGTL_STRING("u16")>,
                         key<TAO_PEGTL_STRING("u32")>, key<TAO_PEGTL_STRING("u64")>,
                         key<TAO_PEGTL_STRING("s8")>, key<TAO_PEGTL_STRING("s16")>,
                         key<TAO_PEGTL_STRING("s32")>, key<TAO_PEGTL_STRING("s64")>,
                         key<TAO_PEGTL_STRING("bool")>, key<TAO_PEGTL_STRING("char")>,
                         key<TAO_PEGTL_STRING("short")>, key<TAO_PEGTL_STRING("int")>,
                         key<TAO_PEGTL_STRING("long")>, key<TAO_PEGTL_STRING("unsigned")>,
                         key<TAO_PEGTL_STRING("signed")>> {};

struct reserved : sor<kw_use, kw_const, kw_def, kw_rule, kw_monitor, kw_if, kw_struct, kw_union,
                      kw_enum, scalar_word> {};
// ident = word - reserved
struct ident : seq<not_at<reserved>, word> {};

// int_lit = ( '0' ('x'|'X') hexdigit+ | '0' ('b'|'B') bindigit+ | digit+ ) !ident_other
struct hex_digits : plus<pegtl::xdigit> {};
struct bin_digits : plus<one<'0', '1'>> {};
struct number_end : not_at<ident_other> {};
struct int_lit : seq<sor<seq<one<'0'>, one<'x', 'X'>, must<hex_digits>>,
                         seq<one<'0'>, one<'b', 'B'>, must<bin_digits>>, plus<pegtl::digit>>,
                     must<number_end>> {};
RTD_SYNTAX_ERROR(hex_digits, "expected hexadecimal digits after '0x'");
RTD_SYNTAX_ERROR(bin_digits, "expected binary digits after '0b'");
RTD_SYNTAX_ERROR(number_end, "invalid character in number");

// string_lit = '"' { '\' char | char - ('"' | '\' | eol) } '"'
// Strings end on the line they start; escapes are checked by the parser.
struct string_char : sor<seq<one<'\\'>, not_one<'\n', '\r'>>, not_one<'"', '\\', '\n', '\r'>> {};
struct string_end : one<'"'> {};
struct string_lit : seq<one<'"'>, star<string_char>, must<string_end>> {};
RTD_SYNTAX_ERROR(string_end, "missing terminating '\"' (a string ends on the line it starts)");

// ---- Filter literals (--where) ----------------------------------------------
// The grammar accepts these in every expression so that one grammar serves
// rules and filters; the rule parser refuses them with a message saying
// they belong to --where filters (an address, a string or 'in' was a
// syntax error in a rule before, so no valid rule changes meaning).
//
// addr_v4  = digit+ '.' digit+ '.' digit+ '.' digit+
// addr_v6  = { hexdigit } ':' ( hexdigit | ':' | '.' ) { hexdigit | ':' | '.' }
// addr_lit = ( addr_v6 | addr_v4 ) [ '/' digit+ ]      (checked by the parser)
// str_lit  = string_lit                                 (dev == "eth0")
struct addr_v4 : seq<plus<pegtl::digit>, one<'.'>, plus<pegtl::digit>, one<'.'>, plus<pegtl::digit>, one<'.'>, plus<pegtl::digit>> {};
struct addr_v6 : seq<star<pegtl::xdigit>, one<':'>, plus<sor<pegtl::xdigit, one<':', '.'>>>> {};
struct addr_prefix : seq<one<'/'>, plus<pegtl::digit>> {};
struct addr_end : not_at<sor<ident_other, one<'.', ':'>>> {};
struct addr_lit : seq<sor<addr_v6, addr_v4>, opt<addr_prefix>, must<addr_end>> {};
RTD_SYNTAX_ERROR(addr_end, "invalid character in address");
struct str_lit : string_lit {};

// ---- Expressions (C precedence, lowest first) ---------------------------

struct expr;
struct unary;

// Operators are their own nodes so the parser knows which one it saw.
struct op_coalesce : pegtl::string<'?', '?'> { static constexpr const char* text = "??"; };
struct op_or : pegtl::string<'|', '|'> { static constexpr const char* text = "||"; };
struct op_and : pegtl::string<'&', '&'> { static constexpr const char* text = "&&"; };
struct op_bitor : seq<one<'|'>, not_at<one<'|'>>> { static constexpr const char* text = "|"; };
struct op_bitxor : one<'^'> { static constexpr const char* text = "^"; };
struct op_bitand : seq<one<'&'>, not_at<one<'&'>>> { static constexpr const char* text = "&"; };
struct op_eq : pegtl::string<'=', '='> { static constexpr const char* text = "=="; };
struct op_ne : pegtl::string<'!', '='> { static constexpr const char* text = "!="; };
struct op_le : pegtl::string<'<', '='> { static constexpr const char* text = "<="; };
struct op_ge : pegtl::string<'>', '='> { static constexpr const char* text = ">="; };
struct op_lt : seq<one<'<'>, not_at<one<'<'>>> { static constexpr const char* text = "<"; };
struct op_gt : seq<one<'>'>, not_at<one<'>'>>> { static constexpr const char* text = ">"; };
struct op_shl : pegtl::string<'<', '<'> { static constexpr const char* text = "<<"; };
struct op_shr : pegtl::string<'>', '>'> { static constexpr const char* text = ">>"; };
struct op_add : one<'+'> { static constexpr const char* text = "+"; };
struct op_sub : seq<one<'-'>, not_at<one<'>'>>> { static constexpr const char* text = "-"; };
struct op_mul : one<'*'> { static constexpr const char* text = "*"; };
struct op_div : one<'/'> { static constexpr const char* text = "/"; };
struct op_mod : one<'%'> { static constexpr const char* text = "%"; };
// ADDR in CIDR (filters only)
struct op_in : key<TAO_PEGTL_STRING("in")> { static constexpr const char* text = "in"; };

// The operand after a binary operator; its error message names the operator.
template <typename Op, typename Next> struct operand_after : Next {};
// rhs<Op, Next> = Op operand_after<Op, Next>
template <typename Op, typename Next> struct rhs : seq<Op, sep, must<operand_after<Op, Next>>> {};

// type_name = ('struct' | 'union' | 'enum') ident { '*' } | scalar_word { scalar_word } { '*' }
struct type_tag : sor<kw_struct, kw_union, kw_enum> {};
struct type_ident : ident {};
struct scalar_type : seq<scalar_word, star<sep, scalar_word>> {};
struct pointer_star : one<'*'> {};
struct type_name : seq<sor<seq<type_tag, sep, must<type_ident>>, scalar_type>, sep, star<pointer_star, sep>> {};
RTD_SYNTAX_ERROR(type_ident, "expected a type name after 'struct', 'union' or 'enum'");

// cast = '(' type_name ')' unary   (the lookahead uses unselected rules: parse_tree records nodes inside at<>)
struct cast_close : one<')'> {};
struct cast_operand : nested<unary> {};
struct cast : seq<one<'('>, sep, at<sor<kw_struct, kw_union, kw_enum, scalar_word>>, type_name, must<cast_close>, sep, must<cast_operand>> {};
RTD_SYNTAX_ERROR(cast_close, "expected ')' after the type name of the cast");
RTD_SYNTAX_ERROR(cast_operand, "expected an expression after the cast");

// paren = '(' expr ')'
struct paren_expr;
struct paren_close : one<')'> {};  // message computed in parser.cpp (points at the '(')
struct paren : nested<seq<one<'('>, sep, must<paren_expr>, must<paren_close>>, true> {};

// call = ident '(' [ expr { ',' expr } ] ')'
struct callee : ident {};
struct call_arg;
struct call_close : one<')'> {};
struct call : seq<callee, sep, one<'('>, sep, opt<call_arg, star<one<','>, sep, must<call_arg>>>, must<call_close>> {};
RTD_SYNTAX_ERROR(call_close, "expected ',' or ')' in the macro call");

// primary = addr_lit | int_lit | str_lit | call | ident | paren | cast
struct primary : seq<sor<addr_lit, int_lit, str_lit, call, ident, cast, paren>, sep> {};

// postfix = primary { '.' ident | '->' ident | '[' expr ']' }
struct field_name : ident {};
struct member_dot : seq<one<'.'>, sep, must<field_name>> {};
struct member_arrow : seq<pegtl::string<'-', '>'>, sep, must<field_name>> {};
struct index_expr;
struct index_close : one<']'> {};
struct index_op : seq<one<'['>, sep, must<index_expr>, must<index_close>> {};
struct postfix : seq<primary, star<sor<member_dot, member_arrow, index_op>, sep>> {};
RTD_SYNTAX_ERROR(field_name, "expected a field name");
RTD_SYNTAX_ERROR(index_close, "expected ']'");

// unary = ('!' | '-' | '~') unary | postfix
struct unary_op : one<'!', '-', '~'> {};
struct unary_operand : nested<unary> {};
struct unary_expr : seq<unary_op, sep, must<unary_operand>> {};
struct unary : sor<unary_expr, postfix> {};
RTD_SYNTAX_ERROR(unary_operand, "expected an expression after the unary operator");

// Binary levels: level = next { op next }
struct multiplicative : seq<unary, star<sor<rhs<op_mul, unary>, rhs<op_div, unary>, rhs<op_mod, unary>>>> {};
struct additive : seq<multiplicative, star<sor<rhs<op_add, multiplicative>, rhs<op_sub, multiplicative>>>> {};
struct shift : seq<additive, star<sor<rhs<op_shl, additive>, rhs<op_shr, additive>>>> {};
struct relational : seq<shift, star<sor<rhs<op_le, shift>, rhs<op_ge, shift>, rhs<op_lt, shift>, rhs<op_gt, shift>>>> {};
// equality = relational { ('==' | '!=' | 'in') relational }
struct equality : seq<relational, star<sor<rhs<op_eq, relational>, rhs<op_ne, relational>, rhs<op_in, relational>>>> {};
struct bit_and : seq<equality, star<rhs<op_bitand, equality>>> {};
struct bit_xor : seq<bit_and, star<rhs<op_bitxor, bit_and>>> {};
struct bit_or : seq<bit_xor, star<rhs<op_bitor, bit_xor>>> {};
struct logical_and : seq<bit_or, star<rhs<op_and, bit_or>>> {};
struct logical_or : seq<logical_and, star<rhs<op_or, logical_and>>> {};
// coalesce = logical_or { '??' logical_or }   (first alternative that type-checks)
struct coalesce : seq<logical_or, star<rhs<op_coalesce, logical_or>>> {};
struct expr : nested<coalesce> {};

struct paren_expr : expr {};
struct call_arg : expr {};
struct index_expr : expr {};
RTD_SYNTAX_ERROR(paren_expr, "expected an expression after '('");
RTD_SYNTAX_ERROR(call_arg, "expected a macro argument");
RTD_SYNTAX_ERROR(index_expr, "expected an index expression after '['");

// filter = sep expr eof      (rtrace-drop run --where EXPR)
struct filter_expr : expr {};
struct filter_end : eof {};
struct filter : seq<sep, must<filter_expr>, must<filter_end>> {};
RTD_SYNTAX_ERROR(filter_expr, "expected a filter expression, e.g. 'dport == 443' or 'saddr in 10.0.0.0/8'");
RTD_SYNTAX_ERROR(filter_end, "unexpected text after the filter expression");

// ---- Clauses -------------------------------------------------------------

struct equals : seq<one<'='>, not_at<one<'='>>> {};

// layer = 'layer' word
struct layer_name : word {};
struct layer_clause : seq<kw_layer, sep, must<layer_name>> {};
RTD_SYNTAX_ERROR(layer_name, "expected a layer after 'layer': l1, l2, l3 or l4");

// probe = 'probe' probe_spec { ',' probe_spec }
// probe_spec = word ':' part { ':' part }      (kprobe:F, kretprobe:F, tracepoint:C:N)
struct probe_kind : word {};
struct probe_part : plus<sor<ident_other, one<'.'>>> {};
struct probe_colon : one<':'> {};
struct probe_spec : seq<probe_kind, must<probe_colon>, must<probe_part>, star<one<':'>, must<probe_part>>> {};
struct probe_clause : seq<kw_probe, sep, must<probe_spec>, sep, star<one<','>, sep, must<probe_spec>, sep>> {};
RTD_SYNTAX_ERROR(probe_spec, "expected a probe: kprobe:FUNCTION, kretprobe:FUNCTION or tracepoint:CATEGORY:NAME");
RTD_SYNTAX_ERROR(probe_colon, "expected ':' after the probe type (no spaces inside a probe)");
RTD_SYNTAX_ERROR(probe_part, "expected a function or tracepoint name after ':'");

// source = 'source' word ':' key         (snmp:NAME, link:STAT, sysctl:KEY, netdev:flags, softnet:COLUMN)
struct source_kind : word {};
struct source_key : plus<sor<ident_other, one<'.', '-', '*', '/'>>> {};
struct source_colon : one<':'> {};
struct source_spec : seq<source_kind, must<source_colon>, must<source_key>> {};
struct source_clause : seq<kw_source, sep, must<source_spec>> {};
RTD_SYNTAX_ERROR(source_spec, "expected a source: snmp:COUNTER, link:STAT, sysctl:KEY, netdev:flags or softnet:COLUMN");
RTD_SYNTAX_ERROR(source_colon, "expected ':' after the source type (no spaces inside a source)");
RTD_SYNTAX_ERROR(source_key, "expected a counter, statistic or key name after ':'");

// counted = 'counted' 'as' counter_group { ',' counter_group }
// counter_group = counter { '|' counter }       (counter: snmp:NAME, link:STAT or softnet:COLUMN)
// Each drop increments one counter of every group: '|' lists alternatives
// (the IPv4 or the IPv6 table), ',' a second counter the same drop moves.
struct as_after : kw_as {};
struct counter_spec : source_spec {};
struct counter_alt : seq<one<'|'>, sep, must<counter_spec>, sep> {};
struct counter_group : seq<counter_spec, sep, star<counter_alt>> {};
struct counted_clause : seq<kw_counted, sep, must<as_after>, sep, must<counter_group>, star<one<','>, sep, must<counter_group>>> {};
RTD_SYNTAX_ERROR(as_after, "expected 'as' (write 'counted as snmp:COUNTER')");
RTD_SYNTAX_ERROR(counter_spec, "expected a counter: snmp:COUNTER, link:STAT or softnet:COLUMN");
RTD_SYNTAX_ERROR(counter_group, "expected a counter: snmp:COUNTER, link:STAT or softnet:COLUMN");

// capture = 'capture' ident '=' expr ;  param = 'param' ident '=' expr
struct binding_name : ident {};
struct binding_equals : equals {};
struct binding_value : expr {};
struct capture_clause : seq<kw_capture, sep, must<binding_name>, sep, must<binding_equals>, sep, must<binding_value>> {};
struct param_clause : seq<kw_param, sep, must<binding_name>, sep, must<binding_equals>, sep, must<binding_value>> {};
RTD_SYNTAX_ERROR(binding_name, "expected a name");
RTD_SYNTAX_ERROR(binding_equals, "expected '=' after the name");
RTD_SYNTAX_ERROR(binding_value, "expected an expression after '='");

// drop = 'drop' 'if' expr ;  warn = 'warn' 'if' expr
struct if_after : kw_if {};
struct condition_expr : expr {};
struct drop_clause : seq<kw_drop, sep, must<if_after>, sep, must<condition_expr>> {};
struct warn_clause : seq<kw_warn, sep, must<if_after>, sep, must<condition_expr>> {};
RTD_SYNTAX_ERROR(if_after, "expected 'if' (write 'drop if CONDITION' or 'warn if CONDITION')");
RTD_SYNTAX_ERROR(condition_expr, "expected a condition after 'if'");

// noise = 'noise' 'if' expr      (hits that are not worth reporting unless --all)
struct noise_clause : seq<kw_noise, sep, must<if_after>, sep, must<condition_expr>> {};

// fallback = 'fallback'            (skb:kfree_skb rules: only reasons no other rule names)
struct fallback_clause : kw_fallback {};

// instead = 'instead' 'of' rule_id { ',' rule_id }   (used only when those cannot attach)
struct of_after : kw_of {};
struct instead_target : seq<word, star<one<'.'>, word>> {};
struct instead_clause : seq<kw_instead, sep, must<of_after>, sep, must<instead_target>, sep,
                            star<one<','>, sep, must<instead_target>, sep>> {};
RTD_SYNTAX_ERROR(of_after, "expected 'of' (write 'instead of RULE_ID')");
RTD_SYNTAX_ERROR(instead_target, "expected a rule id such as 'tcp.accept_queue_full'");

// packet = 'packet' expr ;  stack = 'stack' ;  track = 'track'
struct packet_expr : expr {};
struct packet_clause : seq<kw_packet, sep, must<packet_expr>> {};
struct stack_clause : kw_stack {};
struct track_clause : kw_track {};
RTD_SYNTAX_ERROR(packet_expr, "expected the 'struct sk_buff *' to decode after 'packet', e.g. 'packet skb'");

// message = 'message' string ;  hint = 'hint' string
struct text_value : string_lit {};
struct message_clause : seq<kw_message, sep, must<text_value>> {};
struct hint_clause : seq<kw_hint, sep, must<text_value>> {};
RTD_SYNTAX_ERROR(text_value, "expected a quoted string");

struct clause : seq<sor<layer_clause, probe_clause, capture_clause, param_clause, drop_clause,
                        warn_clause, noise_clause, fallback_clause, instead_clause, packet_clause,
                        stack_clause, track_clause, message_clause, hint_clause, source_clause, counted_clause>,
                    sep> {};

// ---- Top level -------------------------------------------------------------

// rule_id = word { '.' word }
struct rule_id : seq<word, star<one<'.'>, word>> {};
struct body_open : one<'{'> {};
struct body_close : one<'}'> {};  // message computed in parser.cpp (clause suggestions)
// rule = 'rule' rule_id '{' { clause } '}' ;  monitor = 'monitor' rule_id '{' { clause } '}'
struct rule_body : seq<must<rule_id>, sep, must<body_open>, sep, star<clause>, must<body_close>> {};
struct rule_decl : seq<kw_rule, sep, rule_body> {};
struct monitor_decl : seq<kw_monitor, sep, rule_body> {};
RTD_SYNTAX_ERROR(rule_id, "expected a rule id such as 'tcp.syn_queue_full'");
RTD_SYNTAX_ERROR(body_open, "expected '{' after the rule id");

// use = 'use' string
struct use_target : string_lit {};
struct use_decl : seq<kw_use, sep, must<use_target>> {};
RTD_SYNTAX_ERROR(use_target, "expected a quoted file name after 'use', e.g. use \"net\"");

// const = 'const' ident '=' expr
struct const_decl : seq<kw_const, sep, must<binding_name>, sep, must<binding_equals>, sep, must<binding_value>> {};

// def = 'def' ident '(' [ ident { ',' ident } ] ')' '=' expr
struct macro_name : ident {};
struct macro_param : ident {};
struct macro_open : one<'('> {};
struct macro_close : one<')'> {};
struct macro_body : expr {};
struct def_decl : seq<kw_def, sep, must<macro_name>, sep, must<macro_open>, sep,
                      opt<macro_param, sep, star<one<','>, sep, must<macro_param>, sep>>,
                      must<macro_close>, sep, must<binding_equals>, sep, must<macro_body>> {};
RTD_SYNTAX_ERROR(macro_name, "expected a macro name after 'def'");
RTD_SYNTAX_ERROR(macro_open, "expected '(' after the macro name (a macro without parameters is written 'def name() = ...')");
RTD_SYNTAX_ERROR(macro_param, "expected a parameter name");
RTD_SYNTAX_ERROR(macro_close, "expected ',' or ')' after a parameter name");
RTD_SYNTAX_ERROR(macro_body, "expected the macro's expression after '='");

// item = use | const | def | rule | monitor
struct item : sor<use_decl, const_decl, def_decl, rule_decl, monitor_decl> {};  // message computed in parser.cpp
struct top_item : seq<must<item>, sep> {};
// file = sep { item } eof
struct file : seq<sep, star<item, sep>, eof> {};  // the whole language, for analyze()

#undef RTD_SYNTAX_ERROR

}  // namespace rtd::grammar
