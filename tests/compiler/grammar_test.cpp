// Grammar: PEGTL's own analysis, every construct, every precedence level.
#include <gtest/gtest.h>
#include <tao/pegtl/contrib/analyze.hpp>

#include "compiler/ast_dump.h"
#include "compiler/grammar.h"
#include "compiler/parser.h"
#include "tests/compiler/test_util.h"

namespace rtd {
namespace {

using test::check_text;
using test::expr_of;

TEST(Grammar, AnalyzeFindsNoProblems)
{
    // Detects rules that can loop without consuming input.
    EXPECT_EQ(tao::pegtl::analyze<grammar::file>(-1), 0u);
    EXPECT_EQ(tao::pegtl::analyze<grammar::top_item>(-1), 0u);
    EXPECT_EQ(tao::pegtl::analyze<grammar::filter>(-1), 0u);
}

TEST(Grammar, EveryTopLevelConstruct)
{
    auto c = check_text(R"(# a comment on its own line
use "net"   # trailing comment
const A = 1
const B = A + 2      # constants may use constants
def zero() = 0
def one(x) = x
def two(x, y) = x + y
rule p.r {
    layer l3
    probe kprobe:f, kretprobe:g.isra.0, tracepoint:skb:kfree_skb
    capture a = one(skb) + two(B, zero())
    param limit = 90
    drop if a > limit
    packet skb
    stack
    message "m {a} {limit}"
    hint "h"
}
monitor p.m {
    layer l1
    source link:rx_dropped
    capture d = delta * 2
    warn if d > 0
    message "{dev}: {d}"
}
)");
    ASSERT_TRUE(c.ok) << c.diagnostics;
    ASSERT_EQ(c.rules().size(), 2u);
    const RuleDecl& r = *c.rules()[0];
    EXPECT_EQ(r.id, "p.r");
    EXPECT_EQ(r.layer, 3);
    ASSERT_EQ(r.probes.size(), 3u);
    EXPECT_EQ(r.probes[0].spelling(), "kprobe:f");
    EXPECT_EQ(r.probes[1].spelling(), "kretprobe:g.isra.0");
    EXPECT_EQ(r.probes[2].category, "skb");
    EXPECT_EQ(r.probes[2].event, "kfree_skb");
    EXPECT_TRUE(r.stack);
    EXPECT_EQ(r.condition_kind, ConditionKind::Drop);
    ASSERT_TRUE(r.hint.has_value());
    const RuleDecl& m = *c.rules()[1];
    EXPECT_TRUE(m.is_monitor);
    ASSERT_TRUE(m.source.has_value());
    EXPECT_EQ(m.source->spelling(), "link:rx_dropped");
    EXPECT_EQ(m.condition_kind, ConditionKind::Warn);
}

TEST(Grammar, AllSourceKinds)
{
    for (const char* src : {"snmp:TcpExtListenOverflows", "link:rx_over_errors", "sysctl:net.ipv4.tcp_tw_recycle",
                            "sysctl:net/ipv4/conf/all/rp_filter", "sysctl:net.ipv4.conf.*.rp_filter", "netdev:flags",
                            "softnet:dropped", "softnet:process_qlen"}) {
        auto c = check_text(std::string("monitor a.b {\n layer l1\n source ") + src + "\n drop if value > 0\n}\n");
        EXPECT_TRUE(c.ok) << src << "\n" << c.diagnostics;
    }
    auto c = check_text("monitor a.b {\n layer l1\n source sysctl:net/ipv4/conf/all/rp_filter\n drop if value > 0\n}\n");
    ASSERT_TRUE(c.ok);
    EXPECT_EQ(c.rules()[0]->source->key, "net.ipv4.conf.all.rp_filter");
}

TEST(Grammar, CountedAsGroupsAndAlternatives)
{
    auto c = check_text("rule a.b {\n layer l4\n probe tracepoint:skb:kfree_skb\n drop if reason == 2\n"
                        " counted as snmp:UdpRcvbufErrors | snmp:Udp6RcvbufErrors, snmp:UdpInErrors|snmp:Udp6InErrors ,link:rx_dropped\n"
                        " message \"m\"\n}\n");
    ASSERT_TRUE(c.ok) << c.diagnostics;
    const RuleDecl& r = *c.rules()[0];
    ASSERT_EQ(r.counted_as.size(), 3u);
    ASSERT_EQ(r.counted_as[0].alternatives.size(), 2u);
    EXPECT_EQ(r.counted_as[0].alternatives[1].spelling(), "snmp:Udp6RcvbufErrors");
    EXPECT_EQ(r.counted_as[1].alternatives[0].key, "UdpInErrors");
    EXPECT_EQ(r.counted_as[2].alternatives[0].kind, SourceKind::Link);
    EXPECT_EQ(counted_spelling(r.counted_as),
              "snmp:UdpRcvbufErrors | snmp:Udp6RcvbufErrors, snmp:UdpInErrors | snmp:Udp6InErrors, link:rx_dropped");
    ASSERT_TRUE(r.message.has_value()) << "the clause ends where the next one starts";
}

TEST(Grammar, ClausesInAnyOrderAndLayout)
{
    auto c = check_text("rule a.b{message \"x\" probe tracepoint:skb:kfree_skb layer l2 drop if\n reason\n ==\n 3}");
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_EQ(c.rules()[0]->layer, 2);
}

TEST(Grammar, IntegerLiterals)
{
    EXPECT_EQ(expr_of("42"), "42");
    EXPECT_EQ(expr_of("0x1F"), "31");
    EXPECT_EQ(expr_of("0b101"), "5");
    EXPECT_EQ(expr_of("017"), "15");  // octal, as in C
    EXPECT_EQ(expr_of("0"), "0");
    EXPECT_EQ(expr_of("9223372036854775807"), "9223372036854775807");
    EXPECT_EQ(expr_of("0xffffffffffffffff"), "18446744073709551615u");
}

// One test per precedence level, lowest to highest, plus associativity.
TEST(Grammar, Precedence)
{
    EXPECT_EQ(expr_of("a ?? b || c"), "(?? (kernel a) (|| (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a ?? b ?? c"), "(?? (kernel a) (kernel b) (kernel c))");
    EXPECT_EQ(expr_of("a || b && c"), "(|| (kernel a) (&& (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a && b | c"), "(&& (kernel a) (| (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a | b ^ c"), "(| (kernel a) (^ (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a ^ b & c"), "(^ (kernel a) (& (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a & b == c"), "(& (kernel a) (== (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a == b < c"), "(== (kernel a) (< (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a != b >= c"), "(!= (kernel a) (>= (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a < b << c"), "(< (kernel a) (<< (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a <= b >> c"), "(<= (kernel a) (>> (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a << b + c"), "(<< (kernel a) (+ (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a + b * c"), "(+ (kernel a) (* (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a - b % c"), "(- (kernel a) (% (kernel b) (kernel c)))");
    EXPECT_EQ(expr_of("a * -b"), "(* (kernel a) (- (kernel b)))");
    EXPECT_EQ(expr_of("-a.b"), "(- (. b (kernel a)))");
    EXPECT_EQ(expr_of("!a == b"), "(== (! (kernel a)) (kernel b))");
    EXPECT_EQ(expr_of("~-!a"), "(~ (- (! (kernel a))))");
}

TEST(Grammar, Associativity)
{
    EXPECT_EQ(expr_of("a - b - c"), "(- (- (kernel a) (kernel b)) (kernel c))");
    EXPECT_EQ(expr_of("a * b / c % d"), "(% (/ (* (kernel a) (kernel b)) (kernel c)) (kernel d))");
    EXPECT_EQ(expr_of("a > b > c"), "(> (> (kernel a) (kernel b)) (kernel c))");
    EXPECT_EQ(expr_of("(a - b) - c"), "(- (- (kernel a) (kernel b)) (kernel c))");
    EXPECT_EQ(expr_of("a - (b - c)"), "(- (kernel a) (- (kernel b) (kernel c)))");
}

TEST(Grammar, PostfixAndCasts)
{
    EXPECT_EQ(expr_of("a.b->c"), "(-> c (. b (kernel a)))");
    EXPECT_EQ(expr_of("a[1][b]"), "([] ([] (kernel a) 1) (kernel b))");
    EXPECT_EQ(expr_of("a.b[2].c"), "(. c ([] (. b (kernel a)) 2))");
    // A cast applies to the whole postfix expression, as in C.
    EXPECT_EQ(expr_of("(struct sock *)a->b"), "(cast 'struct sock *' (-> b (kernel a)))");
    EXPECT_EQ(expr_of("((struct sock *)a)->b"), "(-> b (cast 'struct sock *' (kernel a)))");
    EXPECT_EQ(expr_of("(union u)a"), "(cast 'union u' (kernel a))");
    EXPECT_EQ(expr_of("(enum skb_drop_reason)a"), "(cast 'enum skb_drop_reason' (kernel a))");
    EXPECT_EQ(expr_of("(struct x **)a"), "(cast 'struct x **' (kernel a))");
    EXPECT_EQ(expr_of("(u8 *)a"), "(cast 'u8 *' (kernel a))");
    EXPECT_EQ(expr_of("(unsigned long)a"), "(cast 'u64' (kernel a))");
    EXPECT_EQ(expr_of("(unsigned   char)a"), "(cast 'u8' (kernel a))");
    EXPECT_EQ(expr_of("(int)a + 1"), "(+ (cast 's32' (kernel a)) 1)");
    EXPECT_EQ(expr_of("(a)"), "(kernel a)");
}

TEST(Grammar, MacroCallsExpand)
{
    std::string defs = "def inet_csk(sk) = (struct inet_connection_sock *)sk\ndef add(x, y) = x + y\n";
    EXPECT_EQ(expr_of("inet_csk(sk).icsk_accept_queue", defs),
              "(. icsk_accept_queue (cast 'struct inet_connection_sock *'{inet_csk} (kernel sk)))");
    EXPECT_EQ(expr_of("add(a, add(b, c))", defs), "(+{add} (kernel a) (+{add} (kernel b) (kernel c)))");
}

TEST(Grammar, StringsEscapesAndPlaceholders)
{
    auto c = check_text(R"(rule a.b {
 layer l4
 probe tracepoint:skb:kfree_skb
 capture q = 1
 message "tab\there \"quoted\" {{literal}} \\ \x41 \{q\} {q}{reason}"
})");
    ASSERT_TRUE(c.ok) << c.diagnostics;
    const TextTemplate& t = *c.rules()[0]->message;
    ASSERT_EQ(t.pieces.size(), 3u);
    EXPECT_FALSE(t.pieces[0].placeholder);
    EXPECT_EQ(t.pieces[0].text, "tab\there \"quoted\" {literal} \\ A {q} ");
    EXPECT_TRUE(t.pieces[1].placeholder);
    EXPECT_EQ(t.pieces[1].text, "q");
    EXPECT_EQ(t.pieces[2].text, "reason");
}

TEST(Grammar, ClauseKeywordsAreOrdinaryNamesInExpressions)
{
    // A kernel argument may be called 'source' or 'hint'.
    EXPECT_EQ(expr_of("source + hint"), "(+ (kernel source) (kernel hint))");
}

TEST(Grammar, ReservedWordsAreNotIdentifiers)
{
    auto c = check_text("rule a.b {\n layer l4\n probe kprobe:f\n capture x = struct\n}\n");
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("test.rule:4:14-19: error: expected an expression after '='"), std::string::npos)
        << c.diagnostics;
}

// Addresses, strings and 'in' parse into the shared AST for a --where
// filter, and the rule parser refuses the very same text with its messages.
TEST(Grammar, FilterOnlyFormsAreRefusedInRules)
{
    SourceManager sources;
    Diagnostics diags;
    ExprPtr filter = parse_expression(sources.add("--where", "saddr in 10.0.0.0/8 && dev == \"eth0\""), sources, diags);
    ASSERT_TRUE(filter) << diags.render(sources);
    EXPECT_EQ(dump_expr(*filter, sources, false), "(&& (in (ident saddr) (address)) (== (ident dev) (string)))");
    const Expr& network = *filter->kids[0]->kids[1];
    EXPECT_EQ(network.address.family, 4);
    EXPECT_EQ(network.address.prefix, 8u);
    EXPECT_EQ(network.address.bytes[0], 10);
    EXPECT_EQ(filter->kids[1]->kids[1]->string_value, "eth0");

    EXPECT_EQ(expr_of("saddr == 10.0.0.1"),
              "test.rule:5:23-30: error: an address is only allowed in a --where filter\n"
              "     capture v = saddr == 10.0.0.1\n"
              "                          ~~~~~~~~\n"
              "hint: rules compare numbers; filter drops by address with 'rtrace-drop run --where \"saddr in 10.0.0.0/8\"'\n");
    EXPECT_EQ(expr_of("saddr in fe80::/10"),
              "test.rule:5:20-21: error: 'in' is only allowed in a --where filter\n"
              "     capture v = saddr in fe80::/10\n"
              "                       ~~\n"
              "hint: in a rule, compare with '==' or test bits with '&'\n");
    EXPECT_EQ(expr_of("dev == \"eth0\""),
              "test.rule:5:21-26: error: a string is only allowed in 'message', 'hint', 'use' and --where filters\n"
              "     capture v = dev == \"eth0\"\n"
              "                        ~~~~~~\n"
              "hint: expressions in rules compute numbers\n");
}

TEST(Grammar, SeveralSyntaxErrorsInOneFile)
{
    auto c = check_text("rule a.b {\n captrue x = 1\n}\nrule a.c {\n layer l4 probe kprobe:f capture y = (1\n}\nrul x\n");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.frontend->diagnostics().error_count(), 3u) << c.diagnostics;
    EXPECT_NE(c.diagnostics.find("test.rule:2:2-8: error: unknown clause 'captrue'"), std::string::npos);
    EXPECT_NE(c.diagnostics.find("test.rule:6:1: error: expected ')'"), std::string::npos);
    EXPECT_NE(c.diagnostics.find("test.rule:7:1-3: error: expected 'rule', 'monitor', 'const', 'def' or 'use'"),
              std::string::npos);
}

}  // namespace
}  // namespace rtd
