// The hand-written JSON event line says byte for byte what nlohmann::json
// says for the same object (sorted keys, its escaping), and stays valid
// JSON for any bytes.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/json_line.h"
#include "runtime/report.h"

namespace rtd {
namespace {

using nlohmann::json;

std::string nlohmann_line(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"; }

TEST(JsonLine, StringsEscapeAsNlohmannDoes)
{
    const std::string cases[] = {"", "plain", "quote \" backslash \\ slash /", std::string("nul \0 and \x01\x1f", 12),
                                 "\b\f\n\r\t", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\x7f del"};
    for (const std::string& s : cases) {
        std::string out;
        JsonLine j(out);
        j.field("k", s);
        j.finish();
        EXPECT_EQ(out, nlohmann_line(json{{"k", s}})) << json(s).dump();
    }
}

TEST(JsonLine, InvalidUtf8BecomesReplacementCharacters)
{
    for (std::string bad : {"\xff", "a\xc3", "\xe2\x82", "\xed\xa0\x80 surrogate", "\xc0\xaf overlong", "\xf5\x80\x80\x80"}) {
        std::string out;
        JsonLine j(out);
        j.field("k", bad);
        j.finish();
        json parsed = json::parse(out);  // throws on invalid JSON
        EXPECT_NE(parsed["k"].get<std::string>().find("\xef\xbf\xbd"), std::string::npos) << out;
    }
}

TEST(JsonLine, ObjectsInArraysBooleansAndNull)
{
    std::string out;
    JsonLine j(out);
    j.begin_array("a");
    j.end_array();
    j.begin_array("b");
    for (int i = 0; i < 2; ++i) {
        j.begin_element_object();
        j.field("n", std::uint64_t(i));
        j.begin_array("s");
        j.element("x");
        j.end_array();
        j.field("t", i == 1);
        j.end_object();
    }
    j.begin_element_object();
    j.end_object();
    j.end_array();
    j.field("c", nullptr);
    j.field("d", false);
    j.finish();
    json expected = {{"a", json::array()},
                     {"b", {{{"n", 0}, {"s", {"x"}}, {"t", false}}, {{"n", 1}, {"s", {"x"}}, {"t", true}}, json::object()}},
                     {"c", nullptr},
                     {"d", false}};
    EXPECT_EQ(out, nlohmann_line(expected));
}

TEST(JsonLine, EventLineEqualsTheTreeItReplaced)
{
    CompiledRuleSet set;
    RuleEntry rule;
    rule.id = "t.rule";
    rule.layer = 3;
    rule.condition = ConditionKind::Drop;
    EventField zeta, alpha, text;
    zeta.name = "zeta", zeta.kind = ValueKind::Signed;
    alpha.name = "alpha", alpha.kind = ValueKind::Unsigned;
    text.name = "name", text.kind = ValueKind::String;
    set.rules.push_back(rule);
    ProbePlan plan;
    plan.spelling = "tracepoint:skb:kfree_skb";
    set.probes.push_back(plan);
    ReportContext ctx{set};

    DecodedEvent e;
    e.mono_ns = 1234567890;
    e.pid = 42, e.tid = 43, e.cpu = 1, e.netns = 4026531840ULL;
    e.comm = "nc \"q\"";
    e.captures = {{&zeta, -7, static_cast<std::uint64_t>(-7), ""}, {&alpha, 9, 9, ""}, {&text, 0, 0, "eth\t0"}};
    PacketInfo p;
    p.family = 2, p.proto = 6, p.saddr = "10.0.0.1", p.daddr = "10.0.0.2", p.sport = 40000, p.dport = 443, p.tcp_flags = 0x02;
    p.len = 60, p.mark = 7, p.ifindex = 3, p.dev = "veth0";
    e.packet = p;

    std::FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    JsonOutput out(f, ctx);
    out.event(e);
    std::fflush(f);
    std::rewind(f);
    char buf[4096];
    std::string line(buf, std::fread(buf, 1, sizeof buf, f));
    std::fclose(f);

    json parsed = json::parse(line);
    json expected = {{"captures", {{"zeta", -7}, {"alpha", 9u}, {"name", "eth\t0"}}},
                     {"comm", e.comm},
                     {"cpu", 1},
                     {"kind", "drop"},
                     {"layer", parsed["layer"]},
                     {"message", parsed["message"]},
                     {"netns", e.netns},
                     {"packet",
                      {{"proto", "TCP"}, {"saddr", "10.0.0.1"}, {"daddr", "10.0.0.2"}, {"sport", 40000}, {"dport", 443},
                       {"tcp_flags", "S"}, {"len", 60}, {"dev", "veth0"}, {"ifindex", 3}, {"netns", e.netns}, {"mark", 7}}},
                     {"pid", 42},
                     {"probe", parsed["probe"]},
                     {"rule", "t.rule"},
                     {"tid", 43},
                     {"time", parsed["time"]}};
    EXPECT_EQ(line, nlohmann_line(expected));
    EXPECT_EQ(parsed["layer"], "l3");
    EXPECT_EQ(parsed["probe"], "tracepoint:skb:kfree_skb");
}

}  // namespace
}  // namespace rtd
