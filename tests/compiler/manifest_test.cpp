// What prebuilt objects carry: the manifest read back equals what was
// written, damage is refused, and monitors written back as text parse to the
// same rules.
#include <algorithm>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "compiler/codegen.h"
#include "compiler/manifest.h"
#include "compiler/rule_text.h"
#include "compiler/typecheck.h"
#include "tests/compiler/test_util.h"

namespace rtd {
namespace {

const char* kRules = R"(use "net"
rule t.probe {
    layer   l4
    probe   kprobe:tcp_conn_request, tracepoint:skb:kfree_skb
    capture backlog = sk.sk_ack_backlog ?? rx_sk.sk_ack_backlog
    param   max = 7
    drop if backlog > max
    counted as snmp:TcpExtListenOverflows | snmp:TcpExtTCPReqQFullDrop, snmp:TcpExtListenDrops
    message "backlog {backlog} > {max}"
    hint    "braces {{ }} and \"quotes\", somaxconn {sysctl:net.core.somaxconn}"
}
monitor t.counter {
    layer   l4
    source  snmp:TcpExtListenOverflows
    param   min = -3
    capture twice = delta * 2
    drop if delta > 0 && twice >= min || !(rate < 0x10) && -value < (1 << 40)
    message "{delta} overflows ({twice}) {{literal}}\tend"
    hint    "\x01 odd bytes \\ kept"
}
)";

// `text` checked, typed against the fixture BTF, lowered and emitted.
CompiledRuleSet compiled(const std::string& text)
{
    test::Checked c = test::check_text(text);
    EXPECT_TRUE(c.ok) << c.diagnostics;
    std::string error;
    auto btf = Btf::load(RTD_FIXTURE_BTF, error);
    EXPECT_TRUE(btf) << error;
    if (!c.ok || !btf) return {};
    std::vector<TypedRule> typed = type_check(c.rules(), *btf, c.frontend->sources(), c.frontend->diagnostics(), {});
    return lower_and_emit(c.rules(), typed, *btf, c.frontend->sources());
}

TEST(Manifest, ReadBackEqualsWhatWasWritten)
{
    CompiledRuleSet set = compiled(kRules);
    set.filter = "dport == 443";
    std::string error;
    std::string written = set.manifest_json();
    std::optional<CompiledRuleSet> read = read_manifest(written, error);
    ASSERT_TRUE(read) << error;
    EXPECT_EQ(read->manifest_json(), written);
    EXPECT_EQ(read->rules.at(0).params, (std::vector<std::pair<std::string, std::string>>{{"max", "7"}}));
    EXPECT_EQ(read->probes.size(), set.probes.size());
    EXPECT_EQ(read->filter, "dport == 443");
    // An evidence placeholder keeps its kind and argument.
    ASSERT_TRUE(read->rules.at(0).hint);
    const auto& pieces = read->rules.at(0).hint->pieces;
    ASSERT_FALSE(pieces.empty());
    EXPECT_EQ(pieces.back().evidence, "sysctl");
    ASSERT_EQ(pieces.back().arg.size(), 1u);
    EXPECT_EQ(pieces.back().arg[0].text, "net.core.somaxconn");
    EXPECT_EQ(read->rules.at(0).counted_as, (std::vector<std::vector<std::string>>{
                                                {"snmp:TcpExtListenOverflows", "snmp:TcpExtTCPReqQFullDrop"}, {"snmp:TcpExtListenDrops"}}));
    // An object built before 'counted as' declares no counter.
    nlohmann::json old = nlohmann::json::parse(written);
    for (auto& r : old["rules"]) r.erase("counted_as");
    read = read_manifest(old.dump(), error);
    ASSERT_TRUE(read) << error;
    EXPECT_TRUE(read->rules.at(0).counted_as.empty());
}

// Objects travel between machines with different rtrace-drop versions: an
// older reader takes a rule's enumerators from the rule (every one its
// probes need), a newer one from each probe; one written before probes had
// their own gives each probe its rule's.
TEST(Manifest, EnumeratorsAreWrittenForOlderReadersAndReadFromThem)
{
    CompiledRuleSet set = compiled("rule t.a {\n layer l4\n probe tracepoint:skb:kfree_skb\n"
                                   " drop if reason == SKB_DROP_REASON_TCP_LISTEN_OVERFLOW\n}\n");
    std::string error;
    nlohmann::json j = nlohmann::json::parse(set.manifest_json());
    const nlohmann::json expected = nlohmann::json::array({{{"enum", "skb_drop_reason"}, {"name", "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW"}}});
    EXPECT_EQ(j["rules"][0]["enumerators"], expected);
    EXPECT_EQ(j["probes"][0]["enumerators"], expected);
    j["probes"][0].erase("enumerators");  // as an older rtrace-drop wrote it
    std::optional<CompiledRuleSet> old = read_manifest(j.dump(), error);
    ASSERT_TRUE(old) << error;
    ASSERT_EQ(old->probes.at(0).enumerators.size(), 1u);
    EXPECT_EQ(old->probes[0].enumerators[0].name, "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW");
}

TEST(Manifest, DamageIsRefused)
{
    std::string error;
    EXPECT_FALSE(read_manifest("{", error));
    EXPECT_NE(error.find("damaged manifest"), std::string::npos) << error;
    EXPECT_FALSE(read_manifest(R"({"format": 2})", error));
    EXPECT_NE(error.find("manifest format 2"), std::string::npos) << error;
    EXPECT_FALSE(read_manifest(R"({"format": 1, "ring_bytes": 4096, "filter": "", "rules": [], "probes": [{"rule": 3}]})", error));
    EXPECT_NE(error.find("names rule 3"), std::string::npos) << error;
    const char* outside = R"({"format": 1, "ring_bytes": 4096, "filter": "", "probes": [], "rules": [{"id": "a.b", "layer": 4,
        "monitor": false, "condition": "drop", "file": "f", "line": 1, "message": null, "hint": null, "params": [],
        "instead_of": [], "fallback": false, "skipped": false, "filter_lacks_packet": false, "enumerators": [],
        "event": {"struct": "rtd_ev_0", "size": 72, "packet_offset": null, "stack_offset": null,
                  "fields": [{"name": "x", "kind": "signed", "offset": 70, "size": 8, "enum": "", "enum_signed": false}]}}]})";
    EXPECT_FALSE(read_manifest(outside, error));
    EXPECT_NE(error.find("lies outside its event"), std::string::npos) << error;
    EXPECT_FALSE(read_manifest(std::string(outside).replace(std::string(outside).find("signed\""), 7, "weird\""), error));
}

TEST(RuleText, MonitorsWrittenBackParseToTheSameRule)
{
    test::Checked c = test::check_text(kRules);
    ASSERT_TRUE(c.ok) << c.diagnostics;
    std::string error, text;
    for (const RuleDecl* r : c.rules()) {
        if (!r->is_monitor) {
            EXPECT_FALSE(monitor_text(*r, error));
            continue;
        }
        std::optional<std::string> t = monitor_text(*r, error);
        ASSERT_TRUE(t) << error;
        text += *t;
    }
    test::Checked again = test::check_text(text, "again.rule");
    ASSERT_TRUE(again.ok) << again.diagnostics << text;
    ASSERT_EQ(again.rules().size(), 1u);
    std::string twice;
    ASSERT_TRUE(monitor_text(*again.rules()[0], error));
    EXPECT_EQ(*monitor_text(*again.rules()[0], error), text) << "a fixed point";
    const RuleDecl& m = *again.rules()[0];
    EXPECT_EQ(m.source->spelling(), "snmp:TcpExtListenOverflows");
    ASSERT_TRUE(m.message);
    std::string message;
    for (const auto& p : m.message->pieces) message += p.placeholder ? "{" + p.text + "}" : p.text;
    EXPECT_EQ(message, "{delta} overflows ({twice}) {literal}\tend");
    EXPECT_EQ(m.find_param("min")->expr->signed_value(), -3);
}

TEST(RuleText, EveryShippedMonitorTravels)
{
    test::Checked c = test::check_paths({RTD_SOURCE_DIR "/rules/snmp", RTD_SOURCE_DIR "/rules/nic", RTD_SOURCE_DIR "/rules/sysctl"});
    ASSERT_TRUE(c.ok) << c.diagnostics;
    std::string text, error;
    for (const RuleDecl* r : c.rules()) {
        std::optional<std::string> t = monitor_text(*r, error);
        ASSERT_TRUE(t) << error;
        text += *t + "\n";
    }
    test::Checked again = test::check_text(text, "monitors.rule");
    ASSERT_TRUE(again.ok) << again.diagnostics;
    EXPECT_EQ(again.rules().size(), c.rules().size());
}

}  // namespace
}  // namespace rtd

namespace rtd {
namespace {

ProbePlan tracepoint_plan(std::size_t rule, const std::string& event, bool available = true)
{
    ProbePlan p;
    p.rule = rule;
    p.spelling = "tracepoint:x:" + event;
    p.symbol = event;
    p.available = available;
    std::string base = fmt::format("rtd_{}_0", rule);
    p.methods = {{AttachForm::TpBtf, {{base + "_tb", AttachForm::TpBtf, event}}},
                 {AttachForm::RawTp, {{base + "_rt", AttachForm::RawTp, event}}}};
    return p;
}

TEST(Dispatchers, OneProgramPerSharedTracepointAndForm)
{
    CompiledRuleSet set;
    set.probes.push_back(tracepoint_plan(0, "kfree_skb"));
    set.probes.push_back(tracepoint_plan(1, "tcp_bad_csum"));  // alone on its tracepoint
    set.probes.push_back(tracepoint_plan(2, "kfree_skb", false));  // not on this kernel
    ProbePlan kprobe;
    kprobe.rule = 3;
    kprobe.available = true;
    kprobe.methods = {{AttachForm::Kprobe, {{"rtd_3_0_kp", AttachForm::Kprobe, "kfree_skb"}}}};
    set.probes.push_back(kprobe);  // a function of the same name is not the tracepoint
    set.probes.push_back(tracepoint_plan(4, "kfree_skb"));
    EXPECT_TRUE(dispatchers(CompiledRuleSet{}).empty());

    std::vector<DispatchSpec> d = dispatchers(set);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].name, "rtd_d_kfree_skb_tb");
    EXPECT_EQ(d[0].form, AttachForm::TpBtf);
    EXPECT_EQ(d[1].name, "rtd_d_kfree_skb_rt");
    EXPECT_EQ(d[1].form, AttachForm::RawTp);
    EXPECT_EQ(d[0].index, 0u);
    EXPECT_EQ(d[1].index, 1u) << "its slot in rtd_dispatch_hits";
    for (const DispatchSpec& s : d) {
        EXPECT_EQ(s.target, "kfree_skb");
        EXPECT_EQ(s.members, (std::vector<std::size_t>{0, 4}));
    }
    std::vector<std::string> names = set.program_names();
    EXPECT_NE(std::find(names.begin(), names.end(), "rtd_d_kfree_skb_rt"), names.end()) << "check --load verifies dispatchers too";
}

// Past kDispatchMembers probes on one tracepoint, even chunks, each its
// own program with its own slot for its hits.
TEST(Dispatchers, ManyProbesOnOneTracepointShareSeveral)
{
    CompiledRuleSet set;
    for (std::size_t i = 0; i < 2 * kDispatchMembers + 1; ++i) set.probes.push_back(tracepoint_plan(i, "kfree_skb"));
    std::vector<DispatchSpec> d = dispatchers(set);
    ASSERT_EQ(d.size(), 6u) << "three chunks in each form";
    EXPECT_EQ(d[0].name, "rtd_d_kfree_skb_tb");
    EXPECT_EQ(d[1].name, "rtd_d_kfree_skb_tb_1");
    EXPECT_EQ(d[2].name, "rtd_d_kfree_skb_tb_2");
    EXPECT_EQ(d[3].name, "rtd_d_kfree_skb_rt");
    std::vector<std::size_t> all;
    for (std::size_t c = 0; c < 3; ++c) {
        EXPECT_EQ(d[c].index, c);
        EXPECT_LE(d[c].members.size(), kDispatchMembers);
        EXPECT_GE(d[c].members.size(), kDispatchMembers * 2 / 3);
        all.insert(all.end(), d[c].members.begin(), d[c].members.end());
    }
    std::vector<std::size_t> expected(2 * kDispatchMembers + 1);
    for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = i;
    EXPECT_EQ(all, expected) << "every probe in exactly one chunk, in order";
}

}  // namespace
}  // namespace rtd
