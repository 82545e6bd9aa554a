// Monitors in user space: the /proc parsers against fixture copies (and odd
// spacing), sysctl lookups with a '*' segment, evaluation with the rule
// language's integer semantics, delta/rate/repeat rules across polls, and
// how findings look in text and JSON; softnet_stat read per CPU.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compiler/compiled.h"
#include "compiler/frontend.h"
#include "runtime/counters.h"
#include "runtime/monitor.h"
#include "runtime/report.h"

namespace rtd {
namespace {

namespace fs = std::filesystem;
const std::string kProc = RTD_TEST_DATA "/proc";

std::string slurp(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(SnmpParse, FixtureFilesGiveNstatNames)
{
    SnmpCounters c = read_snmp(kProc + "/net");
    EXPECT_EQ(c.at("TcpExtListenOverflows"), 17u);
    EXPECT_EQ(c.at("TcpExtListenDrops"), 19u);
    EXPECT_EQ(c.at("IpExtInNoRoutes"), 3u);
    EXPECT_EQ(c.at("UdpRcvbufErrors"), 5u);
    EXPECT_EQ(c.at("IpReasmTimeout"), 42u);
    EXPECT_EQ(c.at("Ip6InDiscards"), 7u);
    EXPECT_EQ(c.at("TcpInSegs"), 1963u);
    // UdpLite has the same column names: its own prefix keeps them apart.
    EXPECT_TRUE(c.count("UdpLiteRcvbufErrors"));
    EXPECT_TRUE(c.count("IcmpMsgOutType3") || c.count("IcmpOutMsgs"));
    // Tcp MaxConn is -1: kept as the two's complement, as the kernel prints a signed value.
    EXPECT_EQ(static_cast<std::int64_t>(c.at("TcpMaxConn")), -1);
    EXPECT_GT(c.size(), 300u);
}

TEST(SnmpParse, OddSpacingTabsAndCarriageReturns)
{
    SnmpCounters c;
    parse_snmp_tables("Ip:  Forwarding\tInDiscards   \r\nIp: 1\t\t 12 \r\n\nTcpExt: ListenOverflows  ListenDrops\nTcpExt:   4   5", c);
    EXPECT_EQ(c.at("IpForwarding"), 1u);
    EXPECT_EQ(c.at("IpInDiscards"), 12u);
    EXPECT_EQ(c.at("TcpExtListenOverflows"), 4u);
    EXPECT_EQ(c.at("TcpExtListenDrops"), 5u);
    parse_snmp6("Ip6InReceives  \t 10\n  Udp6RcvbufErrors 3  \nbroken line here\nIp6Bad x\n", c);
    EXPECT_EQ(c.at("Ip6InReceives"), 10u);
    EXPECT_EQ(c.at("Udp6RcvbufErrors"), 3u);
    EXPECT_FALSE(c.count("Ip6Bad"));
}

TEST(SnmpParse, MismatchedOrTruncatedTablesAreSkipped)
{
    SnmpCounters c;
    // A header without its values line, values with another prefix, fewer values than names.
    parse_snmp_tables("Tcp: A B\nUdp: 1 2\nIp: X Y Z\nIp: 7 8\nIcmp: Q\n", c);
    EXPECT_FALSE(c.count("TcpA"));
    EXPECT_FALSE(c.count("UdpA"));
    EXPECT_EQ(c.at("IpX"), 7u);
    EXPECT_EQ(c.at("IpY"), 8u);
    EXPECT_FALSE(c.count("IpZ"));
    EXPECT_FALSE(c.count("IcmpQ"));
}

TEST(SnmpParse, MissingFilesGiveNothing)
{
    EXPECT_TRUE(read_snmp("/nonexistent/net").empty());
}

TEST(Sysctl, PlainKeyAndStarSegment)
{
    auto v = read_sysctl("net.core.somaxconn", kProc + "/sys");
    ASSERT_TRUE(v);
    ASSERT_EQ(v->size(), 1u);
    EXPECT_EQ(v->front().value, 128);
    EXPECT_EQ(v->front().dev, "");

    auto rp = read_sysctl("net.ipv4.conf.*.rp_filter", kProc + "/sys");
    ASSERT_TRUE(rp);
    std::map<std::string, std::int64_t> by_dev;
    for (const SysctlValue& s : *rp) by_dev[s.dev] = s.value;
    // 'all' and 'default' are not devices.
    EXPECT_EQ(by_dev, (std::map<std::string, std::int64_t>{{"eth0", 1}, {"veth1", 2}}));

    auto rmem = read_sysctl("net.ipv4.tcp_rmem", kProc + "/sys");  // several numbers: the first
    ASSERT_TRUE(rmem);
    EXPECT_EQ(rmem->front().value, 4096);

    EXPECT_FALSE(read_sysctl("net.ipv4.tcp_tw_recycle", kProc + "/sys"));
    EXPECT_FALSE(read_sysctl("net.ipv4.conf.*.nothing", kProc + "/sys"));
}

TEST(LinkStats, IndexFollowsRtnlLinkStats64)
{
    EXPECT_EQ(link_stat_index("rx_packets"), 0u);
    EXPECT_EQ(link_stat_index("rx_dropped"), 6u);
    EXPECT_EQ(link_stat_index("rx_over_errors"), 11u);
    EXPECT_EQ(link_stat_index("rx_missed_errors"), 15u);
    EXPECT_EQ(link_stat_index("rx_nohandler"), 23u);
    EXPECT_FALSE(link_stat_index("rx_bogus"));
}

TEST(LinkStats, NetlinkDumpHasLoopback)
{
    std::string error;
    auto links = read_links(error);
    ASSERT_TRUE(links) << error;
    bool lo = false;
    for (const LinkInfo& l : *links)
        if (l.name == "lo") {
            lo = true;
            EXPECT_EQ(l.ifindex, 1);
            EXPECT_TRUE(l.flags & 0x8);  // IFF_LOOPBACK
            EXPECT_GE(l.stats.size(), 23u);
        }
    EXPECT_TRUE(lo);
}

// Monitors over a copy of the fixture tree whose files the test rewrites.
class MonitorPolls : public ::testing::Test {
protected:
    void SetUp() override
    {
        dir_ = fs::temp_directory_path() / ("rtd-monitor-test-" + std::to_string(getpid()));
        fs::remove_all(dir_);
        fs::copy(kProc, dir_, fs::copy_options::recursive);
    }
    void TearDown() override { fs::remove_all(dir_); }

    bool load(const std::string& text)
    {
        frontend_ = std::make_unique<Frontend>(SearchPaths{{RTD_SOURCE_DIR "/stdlib"}, {}});
        bool ok = frontend_->load_text("m.rule", text);
        std::ostringstream diags;
        frontend_->diagnostics().render(diags, frontend_->sources(), false);
        diagnostics_ = diags.str();
        rules_ = frontend_->rules();
        return ok;
    }
    Monitors monitors() { return Monitors(rules_, MonitorPaths{(dir_ / "net").string(), (dir_ / "sys").string()}); }
    void set_counter(const std::string& file, const std::string& prefix, const std::string& name, std::uint64_t value)
    {
        std::string path = (dir_ / "net" / file).string();
        std::istringstream in(slurp(path));
        std::vector<std::string> lines;
        for (std::string l; std::getline(in, l);) lines.push_back(l);
        for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
            std::istringstream h(lines[i]), v(lines[i + 1]);
            std::vector<std::string> hw, vw;
            for (std::string w; h >> w;) hw.push_back(w);
            for (std::string w; v >> w;) vw.push_back(w);
            if (hw.empty() || hw[0] != prefix + ":" || vw.empty() || vw[0] != prefix + ":") continue;
            for (std::size_t k = 1; k < hw.size() && k < vw.size(); ++k)
                if (hw[k] == name) vw[k] = std::to_string(value);
            std::string joined;
            for (const std::string& w : vw) joined += (joined.empty() ? "" : " ") + w;
            lines[i + 1] = joined;
            ++i;
        }
        std::ofstream out(path);
        for (const std::string& l : lines) out << l << '\n';
    }
    void set_sysctl(const std::string& rel, const std::string& value) { std::ofstream(dir_ / "sys" / rel) << value << '\n'; }
    // Two CPUs' softnet_stat lines of `width` fields: column c of CPU i is
    // columns[c][i], column 12 is i, the others 0.
    void set_softnet(std::size_t width, const std::map<std::size_t, std::array<std::uint32_t, 2>>& columns)
    {
        std::ofstream out(dir_ / "net" / "softnet_stat");
        for (std::size_t cpu = 0; cpu < 2; ++cpu, out << '\n')
            for (std::size_t i = 0; i < width; ++i)
                out << fmt::format("{}{:08x}", i ? " " : "", columns.count(i) ? columns.at(i)[cpu] : i == 12 ? cpu : 0);
    }

    fs::path dir_;
    std::unique_ptr<Frontend> frontend_;
    std::vector<const RuleDecl*> rules_;
    std::string diagnostics_;
};

TEST_F(MonitorPolls, DeltaRateAndCaptures)
{
    ASSERT_TRUE(load(R"RULE(
monitor t.overflows {
    layer   l4
    source  snmp:TcpExtListenOverflows
    capture per_drop = delta * 100 / (delta + 1)
    capture twice    = per_drop * 2
    drop if delta > 0
}
)RULE")) << diagnostics_;
    Monitors m = monitors();
    EXPECT_TRUE(m.start().empty());  // first reading: delta 0
    EXPECT_EQ(m.active(), 1u);
    EXPECT_TRUE(m.poll().empty());  // unchanged
    set_counter("netstat", "TcpExt", "ListenOverflows", 20);
    auto f = m.poll();
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].rule, 0u);
    EXPECT_EQ(f[0].value, 20);
    EXPECT_EQ(f[0].delta, 3);
    EXPECT_GE(f[0].rate, 0);
    ASSERT_EQ(f[0].captures.size(), 2u);
    EXPECT_EQ(f[0].captures[0], (std::pair<std::string, std::int64_t>{"per_drop", 75}));
    EXPECT_EQ(f[0].captures[1], (std::pair<std::string, std::int64_t>{"twice", 150}));
    EXPECT_TRUE(m.poll().empty());  // no growth since
    // A counter that went backwards was reset (a device re-created): count from zero.
    set_counter("netstat", "TcpExt", "ListenOverflows", 2);
    f = m.poll();
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].delta, 2);
}

TEST_F(MonitorPolls, OnceReportsSinceBoot)
{
    ASSERT_TRUE(load(R"RULE(
monitor t.overflows {
    layer   l4
    source  snmp:TcpExtListenOverflows
    drop if delta > 0
}
monitor t.ip6 {
    layer   l3
    source  snmp:Ip6InDiscards
    drop if delta > 0
}
monitor t.quiet {
    layer   l4
    source  snmp:TcpExtTCPOFODrop
    drop if delta > 0
}
)RULE")) << diagnostics_;
    Monitors m = monitors();
    auto f = m.start(true);
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].delta, 17);
    EXPECT_EQ(f[0].rate, 0);
    EXPECT_EQ(f[1].rule, 1u);
    EXPECT_EQ(f[1].delta, 7);
}

TEST_F(MonitorPolls, SettingIsReportedOnceUntilItChanges)
{
    ASSERT_TRUE(load(R"RULE(
use "ip"
monitor t.rp {
    layer   l3
    source  sysctl:net.ipv4.conf.*.rp_filter
    warn if value == RP_FILTER_STRICT
    message "{dev} strict"
}
monitor t.somaxconn {
    layer   l4
    source  sysctl:net.core.somaxconn
    param   min = 1024
    warn if value < min
}
)RULE")) << diagnostics_;
    Monitors m = monitors();
    auto f = m.start();
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].dev, "eth0");
    EXPECT_EQ(f[1].value, 128);
    EXPECT_TRUE(m.poll().empty());  // still true, unchanged: said already
    set_sysctl("net/ipv4/conf/veth1/rp_filter", "1");
    set_sysctl("net/core/somaxconn", "100");
    f = m.poll();
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].dev, "veth1");
    EXPECT_EQ(f[1].value, 100);
    EXPECT_EQ(f[1].delta, -28);  // settings may go down
    set_sysctl("net/core/somaxconn", "4096");
    EXPECT_TRUE(m.poll().empty());
    set_sysctl("net/core/somaxconn", "128");  // true again: said again
    f = m.poll();
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].value, 128);
}

TEST_F(MonitorPolls, AbsentSourcesAreSkippedWithTheReason)
{
    ASSERT_TRUE(load(R"RULE(
monitor t.tw {
    layer   l4
    source  sysctl:net.ipv4.tcp_tw_recycle
    warn if value == 1
}
monitor t.none {
    layer   l4
    source  snmp:TcpExtNoSuchThing
    drop if delta > 0
}
monitor t.ok {
    layer   l4
    source  snmp:TcpExtListenDrops
    drop if delta > 0
}
)RULE")) << diagnostics_;
    Monitors m = monitors();
    m.start();
    EXPECT_EQ(m.active(), 1u);
    ASSERT_EQ(m.skipped().size(), 2u);
    EXPECT_EQ(m.skipped()[0].first, 0u);
    EXPECT_EQ(m.skipped()[0].second, "sysctl net.ipv4.tcp_tw_recycle does not exist on this kernel");
    EXPECT_EQ(m.skipped()[1].second, "SNMP counter TcpExtNoSuchThing does not exist on this kernel");
}

TEST_F(MonitorPolls, SoftnetReadsOneValuePerCpu)
{
    ASSERT_TRUE(load(R"RULE(
monitor t.backlog {
    layer   l2
    source  softnet:dropped
    drop if delta > 0
    message "{dev} dropped {delta}"
}
)RULE")) << diagnostics_;
    Monitors m = monitors();
    auto f = m.start(true);
    EXPECT_TRUE(m.skipped().empty());
    ASSERT_EQ(f.size(), 2u);  // the fixture's CPU 1 dropped nothing
    EXPECT_EQ(f[0].dev, "cpu0");
    EXPECT_EQ(f[0].value, 7);
    EXPECT_EQ(f[1].dev, "cpu2");
    EXPECT_EQ(f[1].value, 0x10);
    EXPECT_EQ(m.last_values().size(), 3u);
    EXPECT_EQ(m.last_values().at({0, "cpu1"}), 0);
}

TEST_F(MonitorPolls, SoftnetCountersWrapAndQueueLengthsGoDown)
{
    ASSERT_TRUE(load(R"RULE(
monitor t.dropped {
    layer   l2
    source  softnet:dropped
    drop if delta > 0
}
monitor t.queue {
    layer   l2
    source  softnet:backlog_len
    warn if delta != 0
}
)RULE")) << diagnostics_;
    set_softnet(15, {{1, {0xfffffffe, 5}}, {11, {3, 0}}});
    Monitors m = monitors();
    m.start();
    // CPU 0's drops went past 2^32: 5 more, not a reset; its queue shrank by 2.
    set_softnet(15, {{1, {3, 5}}, {11, {1, 0}}});
    auto f = m.poll();
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].dev, "cpu0");
    EXPECT_EQ(f[0].value, 3);
    EXPECT_EQ(f[0].delta, 5);
    EXPECT_EQ(f[1].rule, 1u);
    EXPECT_EQ(f[1].delta, -2);
}

TEST_F(MonitorPolls, SoftnetColumnPastTheLineOrNoFileIsSkipped)
{
    ASSERT_TRUE(load(R"RULE(
monitor t.qlen {
    layer   l2
    source  softnet:input_qlen
    warn if value > 100
}
monitor t.dropped {
    layer   l2
    source  softnet:dropped
    drop if delta > 0
}
)RULE")) << diagnostics_;
    set_softnet(13, {{1, {1, 2}}});  // a kernel without the queue lengths
    Monitors m = monitors();
    m.start();
    EXPECT_EQ(m.active(), 1u);
    ASSERT_EQ(m.skipped().size(), 1u);
    EXPECT_EQ(m.skipped()[0].second, "softnet_stat has no input_qlen column on this kernel (its lines have 13 fields)");
    fs::remove(dir_ / "net" / "softnet_stat");
    Monitors gone = monitors();
    gone.start();
    ASSERT_EQ(gone.skipped().size(), 2u);
    EXPECT_EQ(gone.skipped()[1].second, "cannot read " + (dir_ / "net").string() + "/softnet_stat");
}

TEST_F(MonitorPolls, IntegerSemanticsOfTheLanguage)
{
    ASSERT_TRUE(load(R"RULE(
monitor t.math {
    layer   l4
    source  snmp:TcpExtListenOverflows
    capture div0  = value / (delta - delta)
    capture mod0  = value % (delta - delta)
    capture neg   = -value >> 1
    capture small = (u8)(value + 250)
    capture logic = (delta > 0 || value == 17) && !(value != 17)
    capture pick  = 3 ?? 4
    drop if value > 0
}
)RULE")) << diagnostics_;
    Monitors m = monitors();
    auto f = m.start();
    ASSERT_EQ(f.size(), 1u);
    std::map<std::string, std::int64_t> c(f[0].captures.begin(), f[0].captures.end());
    EXPECT_EQ(c.at("div0"), 0);  // like BPF: x / 0 is 0
    EXPECT_EQ(c.at("mod0"), 17); // and x % 0 is x
    EXPECT_EQ(c.at("neg"), -9);  // arithmetic shift of a signed value
    EXPECT_EQ(c.at("small"), 11);
    EXPECT_EQ(c.at("logic"), 1);
    EXPECT_EQ(c.at("pick"), 3);
}

TEST_F(MonitorPolls, FindingsInTextAndJson)
{
    ASSERT_TRUE(load(R"RULE(
monitor t.overflows {
    layer   l4
    source  snmp:TcpExtListenOverflows
    param   limit = 5
    capture over = delta - limit
    drop if delta > 0
    message "accept queue full {delta} times ({over} over {limit}) in {rule} at {layer} from {source}"
    hint    "raise the backlog (netns {netns})"
}
monitor t.rp {
    layer   l3
    source  sysctl:net.ipv4.conf.*.rp_filter
    warn if value == 1
}
)RULE")) << diagnostics_;
    std::vector<RuleEntry> entries;
    for (const RuleDecl* r : rules_) entries.push_back(rule_entry(*r, frontend_->sources()));
    CompiledRuleSet set;
    set.rules = entries;
    ReportContext ctx{set};
    Monitors m = monitors();
    auto findings = m.start(true);
    ASSERT_EQ(findings.size(), 2u);

    std::FILE* text_file = std::tmpfile();
    std::FILE* json_file = std::tmpfile();
    TextOutput text(text_file, ctx, false, true);
    JsonOutput json(json_file, ctx);
    for (const MonitorFinding& f : findings) {
        text.monitor(f);
        json.monitor(f);
    }
    auto read_all = [](std::FILE* f) {
        std::fflush(f);
        std::rewind(f);
        std::string out;
        char buf[4096];
        while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
        std::fclose(f);
        return out;
    };
    std::string t = read_all(text_file);
    EXPECT_NE(t.find(" l4 t.overflows netns "), std::string::npos) << t;
    EXPECT_NE(t.find(": accept queue full 17 times (12 over 5) in t.overflows at l4 from snmp:TcpExtListenOverflows\n"),
              std::string::npos) << t;
    EXPECT_NE(t.find("    hint: raise the backlog (netns "), std::string::npos) << t;
    // No message: the source, the device, the value and its growth.
    EXPECT_NE(t.find(" l3 t.rp dev eth0 netns "), std::string::npos) << t;
    EXPECT_NE(t.find(": sysctl:net.ipv4.conf.*.rp_filter on eth0 = 1 (+1)"), std::string::npos) << t;

    std::istringstream lines(read_all(json_file));
    std::string first, second;
    std::getline(lines, first);
    std::getline(lines, second);
    auto a = nlohmann::json::parse(first);
    EXPECT_EQ(a["kind"], "monitor");
    EXPECT_EQ(a["severity"], "drop");
    EXPECT_EQ(a["rule"], "t.overflows");
    EXPECT_EQ(a["layer"], "l4");
    EXPECT_EQ(a["source"], "snmp:TcpExtListenOverflows");
    EXPECT_TRUE(a["dev"].is_null());
    EXPECT_EQ(a["value"], 17);
    EXPECT_EQ(a["delta"], 17);
    EXPECT_EQ(a["rate"], 0);
    EXPECT_EQ(a["captures"]["over"], 12);
    EXPECT_EQ(a["hint"].get<std::string>().rfind("raise the backlog (netns ", 0), 0u);
    EXPECT_GT(a["netns"].get<std::uint64_t>(), 0u);
    EXPECT_EQ(a["time"].get<std::string>().back(), 'Z');
    auto b = nlohmann::json::parse(second);
    EXPECT_EQ(b["severity"], "warning");
    EXPECT_EQ(b["dev"], "eth0");
}

}  // namespace
}  // namespace rtd
