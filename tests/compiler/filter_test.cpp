// The --where filter compiler: valid filters lower to the expected C over
// `h` and `p`, every mistake gets its exact diagnostic.
#include <gtest/gtest.h>

#include "compiler/filter.h"

namespace rtd {
namespace {

struct Compiled {
    std::optional<Filter> filter;
    std::string diagnostics;
};

Compiled compile(const std::string& text)
{
    SourceManager sources;
    Diagnostics diags;
    Compiled c;
    c.filter = compile_filter(text, sources, diags);
    c.diagnostics = diags.render(sources);
    EXPECT_EQ(c.filter.has_value(), !diags.has_errors()) << text;
    return c;
}

std::string c_of(const std::string& text)
{
    Compiled c = compile(text);
    EXPECT_TRUE(c.filter) << c.diagnostics;
    return c.filter ? c.filter->c_expr : c.diagnostics;
}

std::string error_of(const std::string& text)
{
    Compiled c = compile(text);
    EXPECT_FALSE(c.filter) << text << " compiled to " << (c.filter ? c.filter->c_expr : "");
    return c.diagnostics;
}

TEST(Filter, PortComparison)
{
    Compiled c = compile("dport == 443");
    ASSERT_TRUE(c.filter) << c.diagnostics;
    EXPECT_EQ(c.filter->text, "dport == 443");
    EXPECT_EQ(c.filter->c_expr, "((__s64)((__s64)(((__s64)p->dport)) == (__s64)(((__s64)0x1bbULL))))");
    EXPECT_TRUE(c.filter->uses_packet);
    EXPECT_FALSE(c.filter->uses_task);
    EXPECT_FALSE(c.filter->uses_netns);
}

TEST(Filter, WhatItReads)
{
    Compiled task = compile("pid == 1 || comm == \"sshd\"");
    ASSERT_TRUE(task.filter) << task.diagnostics;
    EXPECT_FALSE(task.filter->uses_packet);
    EXPECT_TRUE(task.filter->uses_task);
    Compiled ns = compile("netns == 4026531840");
    ASSERT_TRUE(ns.filter) << ns.diagnostics;
    EXPECT_EQ(ns.filter->c_expr, "((__s64)((__s64)(((__s64)h->netns)) == (__s64)(((__s64)0xf0000000ULL))))");
    EXPECT_TRUE(ns.filter->uses_netns);
    EXPECT_FALSE(ns.filter->uses_packet);
    Compiled none = compile("1 + 1 == 2");
    ASSERT_TRUE(none.filter) << none.diagnostics;
    EXPECT_FALSE(none.filter->uses_packet || none.filter->uses_task || none.filter->uses_netns);
}

TEST(Filter, Ipv4AddressesAndNetworks)
{
    EXPECT_EQ(c_of("daddr == 10.1.2.3"),
              "((__s64)(p->family == 2 && p->daddr[0] == 0x0a && p->daddr[1] == 0x01 && p->daddr[2] == 0x02 && p->daddr[3] == 0x03))");
    EXPECT_EQ(c_of("daddr != 192.168.0.1"),
              "((__s64)!(p->family == 2 && p->daddr[0] == 0xc0 && p->daddr[1] == 0xa8 && p->daddr[2] == 0x00 && p->daddr[3] == 0x01))");
    EXPECT_EQ(c_of("saddr in 10.0.0.0/8"), "((__s64)(p->family == 2 && p->saddr[0] == 0x0a))");
    // A prefix inside a byte masks it; host bits of the network are ignored.
    EXPECT_EQ(c_of("saddr in 172.16.0.0/12"), "((__s64)(p->family == 2 && p->saddr[0] == 0xac && (p->saddr[1] & 0xf0) == 0x10))");
    EXPECT_EQ(c_of("saddr in 172.31.255.255/12"), c_of("saddr in 172.16.0.0/12"));
    // /0 is the whole family, /32 one address, and no prefix means /32.
    EXPECT_EQ(c_of("saddr in 0.0.0.0/0"), "((__s64)(p->family == 2))");
    EXPECT_EQ(c_of("saddr in 10.1.2.3/32"), c_of("saddr == 10.1.2.3"));
    EXPECT_EQ(c_of("saddr in 10.1.2.3"), c_of("saddr == 10.1.2.3"));
    // The address may be written first.
    EXPECT_EQ(c_of("10.1.2.3 == saddr"), c_of("saddr == 10.1.2.3"));
}

TEST(Filter, Ipv6AddressesAndNetworks)
{
    std::string loopback = c_of("daddr == ::1");
    EXPECT_EQ(loopback.find("((__s64)(p->family == 10 && p->daddr[0] == 0x00"), 0u) << loopback;
    EXPECT_NE(loopback.find("p->daddr[14] == 0x00 && p->daddr[15] == 0x01))"), std::string::npos) << loopback;
    EXPECT_EQ(c_of("saddr in 2001:db8::/32"),
              "((__s64)(p->family == 10 && p->saddr[0] == 0x20 && p->saddr[1] == 0x01 && p->saddr[2] == 0x0d && p->saddr[3] == 0xb8))");
    EXPECT_EQ(c_of("saddr in fe80::/10"), "((__s64)(p->family == 10 && p->saddr[0] == 0xfe && (p->saddr[1] & 0xc0) == 0x80))");
    EXPECT_EQ(c_of("saddr in ::/0"), "((__s64)(p->family == 10))");
    EXPECT_EQ(c_of("saddr in 2001:db8::1/128"), c_of("saddr == 2001:db8::1"));
    // Every text form of one address is the same address.
    EXPECT_EQ(c_of("saddr == 2001:db8:0:0:1:0:0:1"), c_of("saddr == 2001:db8::1:0:0:1"));
    EXPECT_EQ(c_of("saddr == 2001:DB8::1"), c_of("saddr == 2001:db8:0:0:0:0:0:1"));
    EXPECT_EQ(c_of("saddr == fe80::"), c_of("saddr == fe80:0:0:0:0:0:0:0"));
    EXPECT_EQ(c_of("saddr == ::"), c_of("saddr == 0:0:0:0:0:0:0:0"));
    // An IPv4-mapped address is an IPv6 address: it matches IPv6 packets only.
    std::string mapped = c_of("saddr == ::ffff:10.0.0.1");
    EXPECT_NE(mapped.find("p->family == 10 && p->saddr[0] == 0x00"), std::string::npos) << mapped;
    EXPECT_NE(mapped.find("p->saddr[10] == 0xff && p->saddr[11] == 0xff && p->saddr[12] == 0x0a && p->saddr[13] == 0x00 && "
                          "p->saddr[14] == 0x00 && p->saddr[15] == 0x01"),
              std::string::npos)
        << mapped;
}

TEST(Filter, StringsAndProtocols)
{
    EXPECT_EQ(c_of("dev == \"eth0\""), "((__s64)(p->dev[0] == 0x65 && p->dev[1] == 0x74 && p->dev[2] == 0x68 && p->dev[3] == 0x30 && p->dev[4] == 0x00))");
    EXPECT_EQ(c_of("comm != \"\""), "((__s64)!(h->comm[0] == 0x00))");
    // Fifteen bytes is the longest name; escapes are decoded before compare.
    EXPECT_NE(c_of("dev == \"abcdefghijklmno\"").find("p->dev[15] == 0x00"), std::string::npos);
    EXPECT_EQ(c_of("dev == \"\\x41\""), "((__s64)(p->dev[0] == 0x41 && p->dev[1] == 0x00))");
    EXPECT_EQ(c_of("proto == tcp"), "((__s64)((__s64)(((__s64)p->proto)) == (__s64)(((__s64)6))))");
    EXPECT_NE(c_of("proto == icmpv6 || proto == sctp || proto == udp || proto == icmp").find("((__s64)58)"), std::string::npos);
}

TEST(Filter, OperatorsAndPrecedence)
{
    // 'in' and '==' bind tighter than '&&', which binds tighter than '||'.
    EXPECT_EQ(c_of("saddr in 10.0.0.0/8 && dport == 22 || pid == 1"),
              "((__s64)((((__s64)((((__s64)(p->family == 2 && p->saddr[0] == 0x0a))) && (((__s64)((__s64)(((__s64)p->dport)) == "
              "(__s64)(((__s64)0x16ULL)))))))) || (((__s64)((__s64)(((__s64)h->pid)) == (__s64)(((__s64)0x1ULL)))))))");
    EXPECT_EQ(c_of("!(sport < 1024)"), "((__s64)!(((__s64)((__s64)(((__s64)p->sport)) < (__s64)(((__s64)0x400ULL))))))");
    EXPECT_EQ(c_of("dport / sport == 0"),
              "((__s64)((__s64)(rtd_sdiv((__s64)(((__s64)p->dport)), (__s64)(((__s64)p->sport)))) == (__s64)(((__s64)0x0ULL))))");
    EXPECT_EQ(c_of("(dport & 0xff00) >> 8 == 1"),
              "((__s64)((__s64)(((__s64)(((__s64)(((__s64)p->dport)) & (__s64)(((__s64)0xff00ULL)))) >> ((((__s64)0x8ULL)) & 63))) == "
              "(__s64)(((__s64)0x1ULL))))");
    // Every operator of the language is accepted over numbers.
    Compiled all = compile("-dport + ~1 * 2 % 3 / 4 - 5 << 1 >> 1 < 1 <= 2 > 3 >= 4 != 5 & 6 ^ 7 | 8 && !9 || 18446744073709551615");
    EXPECT_TRUE(all.filter) << all.diagnostics;
    EXPECT_NE(all.filter->c_expr.find("(__u64)"), std::string::npos);  // the unsigned literal
    // Two addresses compare byte by byte.
    std::string same = c_of("saddr == daddr");
    EXPECT_EQ(same.find("((__s64)(p->saddr[0] == p->daddr[0] && "), 0u) << same;
    EXPECT_NE(same.find("p->saddr[15] == p->daddr[15]))"), std::string::npos) << same;
}

// Constant subexpressions fold as in rules (compiler/const_eval.h), with
// the same errors at the same places.
TEST(Filter, ConstantsFoldAsInRules)
{
    EXPECT_EQ(c_of("dport == 400 + 43"), c_of("dport == 443"));
    EXPECT_EQ(c_of("sport < 1 << 10 && pid != -(2 * 3)"), c_of("sport < 1024 && pid != -6"));
    EXPECT_EQ(c_of("1 + 1 == 2"), "((__s64)0x1ULL)");
    EXPECT_EQ(error_of("pid == 9223372036854775807 + 1"),
              "--where:1:8-30: error: integer overflow in constant expression\n"
              "    pid == 9223372036854775807 + 1\n"
              "           ~~~~~~~~~~~~~~~~~~~~~~~\n");
    EXPECT_EQ(error_of("pid == 1/0"),
              "--where:1:8-10: error: division by zero\n"
              "    pid == 1/0\n"
              "           ~~~\n");
    // A literal zero divides nothing, constant or not; what folds to zero is one.
    EXPECT_EQ(error_of("dport / 0 == 0"),
              "--where:1:9: error: division by zero\n"
              "    dport / 0 == 0\n"
              "            ~\n");
    EXPECT_EQ(error_of("dport % (2 - 2) == 0"),
              "--where:1:9-15: error: remainder by zero\n"
              "    dport % (2 - 2) == 0\n"
              "            ~~~~~~~\n");
    // Casts are refused before folding could take '(u8)256' for a 0.
    EXPECT_NE(error_of("dport == (u8)256").find("error: casts are not available in a filter"), std::string::npos);
}

TEST(Filter, NothingFromTheTextReachesTheC)
{
    Compiled c = compile("dev == \"*/ evil\" || comm == \"x\\\"y\"");
    ASSERT_TRUE(c.filter) << c.diagnostics;
    EXPECT_EQ(c.filter->c_expr.find("evil"), std::string::npos);
    EXPECT_EQ(c.filter->c_expr.find('"'), std::string::npos);
    EXPECT_EQ(c.filter->c_expr.find("*/"), std::string::npos);
}

TEST(Filter, UnknownNames)
{
    EXPECT_EQ(error_of("dprot == 80"),
              "--where:1:1-5: error: unknown name 'dprot' in a filter\n"
              "    dprot == 80\n"
              "    ~~~~~\n"
              "hint: did you mean 'dport'?\n");
    EXPECT_EQ(error_of("dport == 80 && frobnicate"),
              "--where:1:16-25: error: unknown name 'frobnicate' in a filter\n"
              "    dport == 80 && frobnicate\n"
              "                   ~~~~~~~~~~\n"
              "hint: filters read saddr, daddr, sport, dport, proto, dev, netns, comm and pid; proto may be tcp, udp, icmp, icmpv6 or sctp\n");
    EXPECT_EQ(error_of("proto == tpc"),
              "--where:1:10-12: error: unknown name 'tpc' in a filter\n"
              "    proto == tpc\n"
              "             ~~~\n"
              "hint: did you mean 'tcp'?\n");
}

TEST(Filter, TypeErrors)
{
    EXPECT_EQ(error_of("saddr == 80"),
              "--where:1:1-11: error: cannot compare an address with a number\n"
              "    saddr == 80\n"
              "    ~~~~~~~~~~~\n"
              "hint: compare saddr or daddr with an address (saddr == 10.0.0.1) or test a network (saddr in 10.0.0.0/8); ports are sport and dport\n");
    EXPECT_EQ(error_of("dport in 10.0.0.0/8"),
              "--where:1:1-5: error: 'in' needs saddr or daddr on its left, not a number\n"
              "    dport in 10.0.0.0/8\n"
              "    ~~~~~\n"
              "hint: write e.g. 'saddr in 10.0.0.0/8'\n");
    EXPECT_EQ(error_of("saddr in 80"),
              "--where:1:10-11: error: 'in' needs a network on its right, not a number\n"
              "    saddr in 80\n"
              "             ~~\n"
              "hint: write a network as ADDRESS/PREFIX, e.g. 10.0.0.0/8 or 2001:db8::/32\n");
    EXPECT_EQ(error_of("10.0.0.1 in 10.0.0.0/8"),
              "--where:1:1-8: error: 'in' needs saddr or daddr on its left, not an address literal\n"
              "    10.0.0.1 in 10.0.0.0/8\n"
              "    ~~~~~~~~\n"
              "hint: write e.g. 'saddr in 10.0.0.0/8'\n");
    EXPECT_EQ(error_of("saddr == 10.0.0.0/8"),
              "--where:1:10-19: error: '==' compares with one address, not a network\n"
              "    saddr == 10.0.0.0/8\n"
              "             ~~~~~~~~~~\n"
              "hint: test a network with 'in', e.g. 'saddr in 10.0.0.0/8'\n");
    EXPECT_EQ(error_of("daddr != ::/0"),
              "--where:1:10-13: error: '!=' compares with one address, not a network\n"
              "    daddr != ::/0\n"
              "             ~~~~\n"
              "hint: test a network with 'in', e.g. '!(daddr in 10.0.0.0/8)'\n");
    EXPECT_EQ(error_of("saddr < daddr"),
              "--where:1:1-13: error: invalid operands to '<' (an address and an address)\n"
              "    saddr < daddr\n"
              "    ~~~~~~~~~~~~~\n"
              "hint: addresses compare with '==', '!=' and 'in' only\n");
    EXPECT_EQ(error_of("!saddr"),
              "--where:1:1-6: error: '!' needs a number, not an address\n"
              "    !saddr\n"
              "    ~~~~~~\n"
              "hint: compare addresses with '==', '!=' or 'in'\n");
    EXPECT_EQ(error_of("dev == 1"),
              "--where:1:1-8: error: cannot compare a string with a number\n"
              "    dev == 1\n"
              "    ~~~~~~~~\n"
              "hint: dev and comm compare with a string such as \"eth0\"\n");
    EXPECT_EQ(error_of("dev + 1 == 2"),
              "--where:1:1-7: error: invalid operands to '+' (a string and a number)\n"
              "    dev + 1 == 2\n"
              "    ~~~~~~~\n"
              "hint: strings compare with '==' and '!=' only\n");
    EXPECT_EQ(error_of("comm == dev"),
              "--where:1:1-11: error: cannot compare two names with each other\n"
              "    comm == dev\n"
              "    ~~~~~~~~~~~\n"
              "hint: compare dev or comm with a string such as \"eth0\"\n");
    EXPECT_EQ(error_of("\"a\" == \"a\""),
              "--where:1:1-10: error: cannot compare two string literals\n"
              "    \"a\" == \"a\"\n"
              "    ~~~~~~~~~~\n"
              "hint: compare dev or comm with a string such as \"eth0\"\n");
    EXPECT_EQ(error_of("10.0.0.1 == 10.0.0.1"),
              "--where:1:1-20: error: cannot compare two address literals\n"
              "    10.0.0.1 == 10.0.0.1\n"
              "    ~~~~~~~~~~~~~~~~~~~~\n"
              "hint: compare saddr or daddr with an address\n");
    EXPECT_EQ(error_of("dev == \"a-very-long-name0\""),
              "--where:1:8-26: error: 'a-very-long-name0' is longer than a device name (15 bytes at most)\n"
              "    dev == \"a-very-long-name0\"\n"
              "           ~~~~~~~~~~~~~~~~~~~\n"
              "hint: device names have at most 15 bytes\n");
    EXPECT_EQ(error_of("comm == \"systemd-resolved\""),
              "--where:1:9-26: error: 'systemd-resolved' is longer than a task name (15 bytes at most)\n"
              "    comm == \"systemd-resolved\"\n"
              "            ~~~~~~~~~~~~~~~~~~\n"
              "hint: the kernel keeps the first 15 bytes of a task's name; compare with those\n");
    EXPECT_EQ(error_of("dev == \"a\\0b\""),
              "--where:1:8-13: error: a NUL character cannot be part of a device or task name\n"
              "    dev == \"a\\0b\"\n"
              "           ~~~~~~\n");
    EXPECT_EQ(error_of("saddr"),
              "--where:1:1-5: error: a filter must be a condition, not an address\n"
              "    saddr\n"
              "    ~~~~~\n"
              "hint: e.g. saddr == 10.0.0.1 or saddr in 10.0.0.0/8\n");
    EXPECT_EQ(error_of("\"eth0\""),
              "--where:1:1-6: error: a filter must be a condition, not a string\n"
              "    \"eth0\"\n"
              "    ~~~~~~\n"
              "hint: e.g. dev == \"eth0\"\n");
}

TEST(Filter, AddressErrors)
{
    EXPECT_EQ(error_of("saddr in 10.0.0.0/33"),
              "--where:1:19-20: error: IPv4 prefix length 33 is larger than 32\n"
              "    saddr in 10.0.0.0/33\n"
              "                      ~~\n"
              "hint: an IPv4 prefix length is a number from 0 to 32\n");
    EXPECT_EQ(error_of("saddr in ::/129"),
              "--where:1:13-15: error: IPv6 prefix length 129 is larger than 128\n"
              "    saddr in ::/129\n"
              "                ~~~\n"
              "hint: an IPv6 prefix length is a number from 0 to 128\n");
    EXPECT_EQ(error_of("saddr in ::/99999999999999999999999"),
              "--where:1:13-35: error: IPv6 prefix length 99999999999999999999999 is larger than 128\n"
              "    saddr in ::/99999999999999999999999\n"
              "                ~~~~~~~~~~~~~~~~~~~~~~~\n"
              "hint: an IPv6 prefix length is a number from 0 to 128\n");
    EXPECT_EQ(error_of("saddr in 10.0.0.0/08"),
              "--where:1:19-20: error: prefix length '08' has a leading zero\n"
              "    saddr in 10.0.0.0/08\n"
              "                      ~~\n"
              "hint: an IPv4 prefix length is a number from 0 to 32\n");
    EXPECT_EQ(error_of("saddr == 10.0.0.256"),
              "--where:1:10-19: error: invalid IPv4 address '10.0.0.256'\n"
              "    saddr == 10.0.0.256\n"
              "             ~~~~~~~~~~\n"
              "hint: write four numbers from 0 to 255 separated by '.', without leading zeros\n");
    EXPECT_EQ(error_of("saddr == 010.0.0.1"),
              "--where:1:10-18: error: invalid IPv4 address '010.0.0.1'\n"
              "    saddr == 010.0.0.1\n"
              "             ~~~~~~~~~\n"
              "hint: write four numbers from 0 to 255 separated by '.', without leading zeros\n");
    const char* v6_hint = "hint: write eight groups of up to four hex digits separated by ':', with at most one '::'\n";
    EXPECT_EQ(error_of("saddr == 1:2:3"), std::string("--where:1:10-14: error: invalid IPv6 address '1:2:3'\n"
                                                      "    saddr == 1:2:3\n"
                                                      "             ~~~~~\n") + v6_hint);
    EXPECT_EQ(error_of("saddr == 1::2::3"), std::string("--where:1:10-16: error: invalid IPv6 address '1::2::3'\n"
                                                        "    saddr == 1::2::3\n"
                                                        "             ~~~~~~~\n") + v6_hint);
    EXPECT_EQ(error_of("saddr == 12345::1"), std::string("--where:1:10-17: error: invalid IPv6 address '12345::1'\n"
                                                         "    saddr == 12345::1\n"
                                                         "             ~~~~~~~~\n") + v6_hint);
    EXPECT_EQ(error_of("saddr == 1:2:3:4:5:6:7:8:9"), std::string("--where:1:10-26: error: invalid IPv6 address '1:2:3:4:5:6:7:8:9'\n"
                                                                  "    saddr == 1:2:3:4:5:6:7:8:9\n"
                                                                  "             ~~~~~~~~~~~~~~~~~\n") + v6_hint);
    EXPECT_EQ(error_of("saddr == 1:2:3:4:5:6:7::8"), std::string("--where:1:10-25: error: invalid IPv6 address '1:2:3:4:5:6:7::8'\n"
                                                                 "    saddr == 1:2:3:4:5:6:7::8\n"
                                                                 "             ~~~~~~~~~~~~~~~~\n") + v6_hint);
    EXPECT_EQ(error_of("saddr == 1:2:"), std::string("--where:1:10-13: error: invalid IPv6 address '1:2:'\n"
                                                     "    saddr == 1:2:\n"
                                                     "             ~~~~\n") + v6_hint);
    EXPECT_EQ(error_of("saddr == :1"), std::string("--where:1:10-11: error: invalid IPv6 address ':1'\n"
                                                   "    saddr == :1\n"
                                                   "             ~~\n") + v6_hint);
    // One colon and nothing after it is no address at all.
    EXPECT_EQ(error_of("saddr == 1:"),
              "--where:1:11: error: unexpected text after the filter expression\n"
              "    saddr == 1:\n"
              "              ~\n");
    EXPECT_EQ(error_of("saddr == 10.0.0.1x"),
              "--where:1:18: error: invalid character in address\n"
              "    saddr == 10.0.0.1x\n"
              "                     ~\n");
}

TEST(Filter, SyntaxErrors)
{
    EXPECT_EQ(error_of(""),
              "--where:1:1: error: expected a filter expression, e.g. 'dport == 443' or 'saddr in 10.0.0.0/8'\n"
              "    \n"
              "    ^\n");
    EXPECT_EQ(error_of("dport =="),
              "--where:1:9: error: expected an expression after '=='\n"
              "    dport ==\n"
              "            ^\n");
    EXPECT_EQ(error_of("dport == 80 )"),
              "--where:1:13: error: unexpected text after the filter expression\n"
              "    dport == 80 )\n"
              "                ~\n");
    EXPECT_EQ(error_of("(dport == 80"),
              "--where:1:13: error: expected ')'\n"
              "    (dport == 80\n"
              "                ^\n"
              "note: to match the '(' at --where:1:1\n");
    EXPECT_EQ(error_of("dport == 0x"),
              "--where:1:12: error: expected hexadecimal digits after '0x'\n"
              "    dport == 0x\n"
              "               ^\n");
    EXPECT_EQ(error_of("dev == \"eth0"),
              "--where:1:13: error: missing terminating '\"' (a string ends on the line it starts)\n"
              "    dev == \"eth0\n"
              "                ^\n");
}

TEST(Filter, RuleOnlyFormsAreRefused)
{
    const char* hint = "hint: filters use the builtins saddr, daddr, sport, dport, proto, dev, netns, comm and pid\n";
    EXPECT_EQ(error_of("skb.len > 0"), std::string("--where:1:1-7: error: fields and indexes are not available in a filter\n"
                                                   "    skb.len > 0\n"
                                                   "    ~~~~~~~\n") + hint);
    EXPECT_EQ(error_of("f(1)"), std::string("--where:1:1-4: error: macro calls are not available in a filter\n"
                                            "    f(1)\n"
                                            "    ~~~~\n") + hint);
    EXPECT_EQ(error_of("(u32)dport == 1"), std::string("--where:1:1-10: error: casts are not available in a filter\n"
                                                       "    (u32)dport == 1\n"
                                                       "    ~~~~~~~~~~\n") + hint);
    EXPECT_EQ(error_of("sport ?? dport"), std::string("--where:1:1-14: error: '??' is not available in a filter\n"
                                                      "    sport ?? dport\n"
                                                      "    ~~~~~~~~~~~~~~\n") + hint);
}

TEST(Filter, DeepFiltersAreRefusedNotCrashing)
{
    std::string chain = "dport";
    for (int i = 0; i < 400; ++i) chain += " + 1";
    std::string d = error_of(chain + " == 0");
    EXPECT_NE(d.find("error: filter is too deeply nested (more than 256 levels)"), std::string::npos) << d;
    std::string parens(300, '(');
    d = error_of(parens + "1");
    EXPECT_NE(d.find("error: expression is nested too deeply (more than 200 levels)"), std::string::npos) << d;
}

}  // namespace
}  // namespace rtd
