// 'counted as' against a machine's SNMP counters (compiler/counted.h).
#include <gtest/gtest.h>

#include <filesystem>

#include "compiler/counted.h"
#include "compiler/proc_counters.h"
#include "tests/compiler/test_util.h"

namespace rtd {
namespace {

// A machine with IPv4 UDP and TCP counters and no IPv6.
const std::vector<std::string> kMachine{"UdpInDatagrams", "UdpNoPorts",          "UdpInErrors",          "UdpRcvbufErrors",
                                        "UdpInCsumErrors", "TcpInErrs",          "TcpInCsumErrors",      "TcpExtListenDrops",
                                        "TcpExtListenOverflows", "IpExtInNoRoutes", "IpOutNoRoutes"};

// Diagnostics of `counted as CLAUSE` on that machine ("" when none).
std::string check(const std::string& clause, bool strict = false, std::optional<std::vector<std::string>> machine = kMachine)
{
    auto c = test::check_text("rule t.r {\n layer l4\n probe tracepoint:skb:kfree_skb\n drop if reason == 2\n counted as " + clause + "\n}\n");
    EXPECT_TRUE(c.ok) << c.diagnostics;
    Diagnostics diags;
    check_counted(c.rules(), CounterCatalog{std::move(machine)}, diags, strict);
    return diags.render(c.frontend->sources());
}

TEST(Counted, TableOfAName)
{
    EXPECT_EQ(snmp_table_of("UdpRcvbufErrors"), "Udp");
    EXPECT_EQ(snmp_table_of("Udp6RcvbufErrors"), "Udp6");
    EXPECT_EQ(snmp_table_of("UdpLite6InErrors"), "UdpLite6");
    EXPECT_EQ(snmp_table_of("TcpExtListenDrops"), "TcpExt");
    EXPECT_EQ(snmp_table_of("IpExtInNoRoutes"), "IpExt");
    EXPECT_EQ(snmp_table_of("Ip6InNoRoutes"), "Ip6");
    EXPECT_EQ(snmp_table_of("RcvbufErrors"), "");
    EXPECT_EQ(snmp_table_of("Udpx"), "") << "a table is followed by a capital";
}

TEST(Counted, NamesTheMachineHasAreFine)
{
    EXPECT_EQ(check("snmp:UdpRcvbufErrors, snmp:UdpInErrors, link:rx_dropped"), "");
}

TEST(Counted, ANearMissInItsTableIsAnErrorWithDidYouMean)
{
    const std::string d = check("snmp:UdpRcvbufErorrs");
    EXPECT_NE(d.find("5:18-32: error: this machine has no SNMP counter 'UdpRcvbufErorrs'"), std::string::npos) << d;
    EXPECT_NE(d.find("did you mean 'UdpRcvbufErrors'?"), std::string::npos) << d;
}

TEST(Counted, AnotherTablesCounterIsNoTypo)
{
    // No IPv6 here: Udp6RcvbufErrors is one edit from UdpRcvbufErrors but in another table.
    EXPECT_EQ(check("snmp:UdpRcvbufErrors | snmp:Udp6RcvbufErrors"), "") << "the IPv4 alternative is here";
    const std::string alone = check("snmp:Udp6RcvbufErrors");
    EXPECT_NE(alone.find("warning: this machine has no SNMP counter 'Udp6RcvbufErrors' (a counter of an older or newer kernel, or IPv6 is off)"),
              std::string::npos)
        << alone;
    EXPECT_EQ(alone.find("did you mean"), std::string::npos) << alone;
    EXPECT_NE(check("snmp:Udp6RcvbufErrors", true).find("error: this machine has no SNMP counter"), std::string::npos) << "--strict";
}

TEST(Counted, ACounterOfAnotherKernelIsAWarning)
{
    const std::string d = check("snmp:TcpExtTCPSomethingNew");
    EXPECT_NE(d.find("warning: this machine has no SNMP counter 'TcpExtTCPSomethingNew'"), std::string::npos) << d;
    EXPECT_NE(d.find("'nstat -az | grep TcpExt'"), std::string::npos) << d;
}

TEST(Counted, NoTablePrefixIsAnError)
{
    const std::string d = check("snmp:RcvbufErrors");
    EXPECT_NE(d.find("error: 'RcvbufErrors' is not an SNMP counter name"), std::string::npos) << d;
    EXPECT_NE(d.find("did you mean 'UdpRcvbufErrors'?"), std::string::npos) << d;
    const std::string general = check("snmp:Bogus");
    EXPECT_NE(general.find("names are as nstat prints them"), std::string::npos) << general;
}

// Every counter the shipped packs declare is one the fixture machine (a
// 6.x kernel's /proc/net, tests/data/proc) has.
TEST(Counted, ShippedPacksNameCountersTheFixtureHas)
{
    const SnmpCounters fixture = read_snmp(RTD_TEST_DATA "/proc/net");
    ASSERT_GT(fixture.size(), 300u);
    std::vector<std::string> names;
    for (const auto& [name, value] : fixture) names.push_back(name);
    auto c = test::check_paths({(std::filesystem::path(RTD_TEST_DATA) / "../../rules").lexically_normal().string()});
    ASSERT_TRUE(c.ok) << c.diagnostics;
    std::size_t declared = 0;
    for (const RuleDecl* r : c.rules()) declared += r->counted_as.size();
    EXPECT_GE(declared, 20u) << "the packs declare their counters";
    Diagnostics diags;
    check_counted(c.rules(), CounterCatalog{names}, diags, true);
    EXPECT_EQ(diags.render(c.frontend->sources()), "");
}

TEST(Counted, NothingIsCheckedWithoutTheMachinesCounters)
{
    EXPECT_EQ(check("snmp:UdpRcvbufErorrs", false, std::nullopt), "");
}

}  // namespace
}  // namespace rtd
