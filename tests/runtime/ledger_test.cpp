// The ledger's arithmetic (what counted and traced figures say, with a
// poll's tolerance) and its rows (which rules and monitors feed which
// counter, and why a rule that would see a counter's drops does not run).
// Real drops: tests/e2e/ledger_e2e_test.cpp.
#include "runtime/ledger.h"

#include <gtest/gtest.h>

#include "runtime/kernel_plan.h"

namespace rtd {
namespace {

LedgerState state(std::uint64_t counted, std::uint64_t traced, std::int64_t previous, bool final, std::uint64_t* difference = nullptr)
{
    std::uint64_t d = 0;
    LedgerState s = ledger_state(counted, traced, previous, final, d);
    if (difference) *difference = d;
    return s;
}

TEST(LedgerState, EqualFiguresAreBalancedAndNothingIsQuiet)
{
    EXPECT_EQ(state(0, 0, 0, false), LedgerState::Quiet);
    EXPECT_EQ(state(7, 7, 0, false), LedgerState::Balanced);
    EXPECT_EQ(state(7, 7, 3, true), LedgerState::Balanced);
}

TEST(LedgerState, ADifferenceCountsOnceItLastedAPoll)
{
    std::uint64_t d = 0;
    // New this poll: one figure was read a moment before the other.
    EXPECT_EQ(state(10, 9, 0, false, &d), LedgerState::Settling);
    EXPECT_EQ(d, 0u);
    // Still there: the part that lasted.
    EXPECT_EQ(state(10, 6, 2, false, &d), LedgerState::Unexplained);
    EXPECT_EQ(d, 2u);
    EXPECT_EQ(state(6, 10, -3, false, &d), LedgerState::Untracked);
    EXPECT_EQ(d, 3u);
    // It changed sides: nothing lasted.
    EXPECT_EQ(state(6, 10, 2, false, &d), LedgerState::Settling);
    // At the end, exact.
    EXPECT_EQ(state(10, 9, 0, true, &d), LedgerState::Unexplained);
    EXPECT_EQ(d, 1u);
    EXPECT_EQ(state(9, 10, 0, true, &d), LedgerState::Untracked);
    EXPECT_EQ(d, 1u);
}

RuleEntry probe_rule(const std::string& id, std::vector<std::vector<std::string>> counted)
{
    RuleEntry r;
    r.id = id;
    r.counted_as = std::move(counted);
    return r;
}

TEST(LedgerRows, GroupsRulesMonitorsAndWhyRulesDoNotRun)
{
    CompiledRuleSet set;
    set.rules.push_back(probe_rule("udp.rcvbuf", {{"snmp:UdpRcvbufErrors", "snmp:Udp6RcvbufErrors"}, {"snmp:UdpInErrors", "snmp:Udp6InErrors"}}));
    set.rules.push_back(probe_rule("udp.csum", {{"snmp:UdpInCsumErrors"}, {"snmp:UdpInErrors", "snmp:Udp6InErrors"}}));
    set.rules.push_back(probe_rule("tcp.syn", {{"snmp:TcpExtTCPReqQFullDrop"}}));
    RuleEntry monitor;
    monitor.id = "snmp.rcvbuf";
    monitor.is_monitor = true;
    monitor.source = "snmp:UdpRcvbufErrors";  // already a rule's: no row of its own
    set.rules.push_back(monitor);
    monitor.id = "link.dropped";
    monitor.source = "link:rx_dropped";
    set.rules.push_back(monitor);
    monitor.id = "softnet.backlog";
    monitor.source = "softnet:backlog_len";  // a queue length, not a drop counter
    set.rules.push_back(monitor);
    for (std::size_t r = 0; r < 3; ++r) {
        ProbePlan p;
        p.rule = r;
        set.probes.push_back(p);
    }
    AttachedProbes probes;
    probes.method = {0, 0, kNoMethod};
    probes.skip = {"", "", "kernel has no kprobes"};
    probes.ledger_reasons_off = "test";
    Ledger ledger(set, probes, {}, {}, {{"udp.no_socket", {{"snmp:UdpNoPorts"}}}}, 1, nullptr);
    ledger.start(nullptr);
    ledger.poll(nullptr, true);

    std::map<std::string, const LedgerRow*> rows;
    for (const LedgerRow& r : ledger.rows()) rows[r.counter] = &r;
    ASSERT_EQ(rows.size(), 6u);
    const LedgerRow& in_errors = *rows.at("snmp:UdpInErrors | snmp:Udp6InErrors");
    EXPECT_EQ(in_errors.rules, (std::vector<std::size_t>{0, 1}));
    const LedgerRow& rcvbuf = *rows.at("snmp:UdpRcvbufErrors | snmp:Udp6RcvbufErrors");
    EXPECT_EQ(rcvbuf.monitors, std::vector<std::string>{"snmp.rcvbuf"});
    const LedgerRow& syn = *rows.at("snmp:TcpExtTCPReqQFullDrop");
    EXPECT_TRUE(syn.rules.empty());
    ASSERT_EQ(syn.unseen.size(), 1u);
    EXPECT_EQ(syn.unseen[0].first, "tcp.syn");
    EXPECT_EQ(syn.unseen[0].second, "skipped: kernel has no kprobes");
    const LedgerRow& noports = *rows.at("snmp:UdpNoPorts");
    ASSERT_EQ(noports.unseen.size(), 1u);
    EXPECT_EQ(noports.unseen[0].second, "excluded with -i/-e");
    EXPECT_EQ(rows.at("link:rx_dropped")->monitors, std::vector<std::string>{"link.dropped"});
    EXPECT_FALSE(rows.count("softnet:backlog_len"));
    EXPECT_EQ(ledger.overall().unavailable, "no probe rule is loaded");  // no object here
    // Nothing traced here: whatever the counters did, no row is untracked.
    for (const LedgerRow& r : ledger.rows()) EXPECT_NE(r.state, LedgerState::Untracked) << r.counter;
}

TEST(LedgerRows, SoftnetCountersAreHostWide)
{
    CompiledRuleSet set;
    set.rules.push_back(probe_rule("dev.cpu_backlog", {{"softnet:dropped"}, {"link:rx_dropped"}}));
    ProbePlan p;
    set.probes.push_back(p);
    AttachedProbes probes;
    probes.method = {0};
    probes.skip = {""};
    Ledger ledger(set, probes, {}, {}, {}, 1, nullptr);
    ASSERT_EQ(ledger.rows().size(), 2u);
    EXPECT_TRUE(ledger.rows()[0].host_wide);
    EXPECT_FALSE(ledger.rows()[1].host_wide);
}

}  // namespace
}  // namespace rtd
