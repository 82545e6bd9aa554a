// Monitor rules against real namespaces: an accept-queue overflow seen by
// the SNMP monitor (while running, and as a --once snapshot), sysctl checks
// and the promiscuous flag inside a namespace, netlink link statistics
// against `ip -s -j link`, and monitors and probes in one output stream.
// Needs root (namespaces, --netns); traffic stays inside the test's own
// namespaces.
#include "tests/e2e/e2e_support.h"

namespace e2e {
namespace {

const std::string kPacks = RTD_SOURCE_DIR "/rules";
const std::string kBinary = RTD_BINARY;

// A counter of /proc/net/snmp, netstat or snmp6 inside namespace `ns`.
std::uint64_t counter_in(const std::string& ns, const std::string& name)
{
    std::string text = sh_out(fmt::format("ip netns exec {} cat /proc/net/snmp /proc/net/netstat", ns));
    std::istringstream lines(text);
    std::vector<std::string> all;
    for (std::string l; std::getline(lines, l);) all.push_back(l);
    for (std::size_t i = 0; i + 1 < all.size(); i += 2) {
        std::istringstream h(all[i]), v(all[i + 1]);
        std::string prefix, vprefix;
        h >> prefix;
        v >> vprefix;
        prefix.pop_back();  // "TcpExt:"
        for (std::string key, value; h >> key && v >> value;)
            if (prefix + key == name) return std::stoull(value);
    }
    return 0;
}

// Waits until B's TcpExtListenOverflows stops moving (three equal
// readings, 1.5 s) and returns it.
std::uint64_t settled_overflows(const Namespaces& ns)
{
    std::uint64_t last = counter_in(ns.b, "TcpExtListenOverflows");
    for (int i = 0, same = 0; i < 30 && same < 3; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        std::uint64_t now = counter_in(ns.b, "TcpExtListenOverflows");
        same = now == last && now > 0 ? same + 1 : 0;
        last = now;
    }
    return last;
}

// Overflows B's accept queue: a listener with backlog 1 that never accepts,
// and eight connections from A at once. On a veth pair each handshake
// completes before the next SYN, so the overflows here are SYNs refused at
// a full accept queue, which the kernel counts but frees with
// consume_skb(): no skb:kfree_skb event, only the counter tells.
std::uint64_t overflow_accept_queue(const Namespaces& ns, int port)
{
    listen_in_b(ns, port, 1, 8);
    sh(ns.in_a(fmt::format("timeout 5 {} -c \"import socket,time\n"
                           "c=[socket.socket() for _ in range(8)]\n"
                           "[x.setblocking(False) for x in c]\n"
                           "[x.connect_ex(('{}',{})) for x in c]\n"
                           "time.sleep(1.5)\"",
                           kPy, ns.addr_b, port)));
    return settled_overflows(ns);
}

// Overflows B's accept queue at the final ACK of handshakes (the drop
// skb:kfree_skb reports as TCP_LISTEN_OVERFLOW): three connections fill the
// queue of a backlog-4 listener, then four crafted handshakes complete at once.
std::uint64_t overflow_at_handshake(const Namespaces& ns, int port)
{
    listen_in_b(ns, port, 4, 8);
    sh_background(ns.in_a(fmt::format("timeout 8 {} -c \"import socket,time; c=[socket.create_connection(('{}',{})) for _ in range(3)]; "
                                       "time.sleep(6)\"",
                                       kPy, ns.addr_b, port)));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    // A's kernel has no socket for the crafted SYNs: keep it from resetting them.
    sh(ns.in_a("iptables -A OUTPUT -p tcp --tcp-flags RST RST -j DROP"));
    sh(craft(ns, "half-open", port, "4"));
    return settled_overflows(ns);
}

std::vector<json> monitor_findings(const std::vector<json>& events, const std::string& rule)
{
    std::vector<json> out;
    for (const json& e : events)
        if (e["kind"] == "monitor" && e["rule"] == rule) out.push_back(e);
    return out;
}

std::vector<json> json_lines(const std::string& text)
{
    std::vector<json> out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty()) out.push_back(json::parse(line));
    return out;
}

TEST(MonitorsE2E, AcceptQueueOverflowDeltaWhileRunning)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    ASSERT_EQ(counter_in(ns.b, "TcpExtListenOverflows"), 0u);  // a new namespace counts from zero
    DropTracer run({kPacks + "/snmp", "--json", "--netns", ns.b, "--interval", "300ms"});
    ASSERT_TRUE(run.ready()) << run.err();
    std::uint64_t overflows = overflow_accept_queue(ns, 7301);
    ASSERT_GT(overflows, 0u);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // a few more polls
    ASSERT_EQ(run.stop(), 0) << run.err();
    EXPECT_NE(run.err().find("polled every 0.3 s"), std::string::npos) << run.err();

    auto found = monitor_findings(run.events(), "snmp.listen_overflows");
    ASSERT_FALSE(found.empty()) << run.out();
    // Each finding's delta is its growth since the previous poll: they add
    // up to the namespace's counter exactly.
    std::int64_t sum = 0, previous = 0;
    for (const json& f : found) {
        EXPECT_GT(f["delta"].get<std::int64_t>(), 0);
        EXPECT_EQ(f["value"].get<std::int64_t>() - previous, f["delta"].get<std::int64_t>()) << f;
        EXPECT_GE(f["rate"].get<std::int64_t>(), 0);
        previous = f["value"].get<std::int64_t>();
        sum += f["delta"].get<std::int64_t>();
        EXPECT_EQ(f["netns"], ns.inode_b);
        EXPECT_EQ(f["source"], "snmp:TcpExtListenOverflows");
        EXPECT_EQ(f["layer"], "l4");
        EXPECT_TRUE(f["dev"].is_null());
        EXPECT_NE(f["message"].get<std::string>().find("accept queue was full"), std::string::npos);
    }
    EXPECT_EQ(static_cast<std::uint64_t>(sum), overflows);
    // ListenDrops counts every overflow too.
    auto drops = monitor_findings(run.events(), "snmp.listen_drops");
    ASSERT_FALSE(drops.empty());
    EXPECT_GE(drops.back()["value"].get<std::uint64_t>(), overflows);
}

TEST(MonitorsE2E, OnceNamesAFreshOverflowWithItsExplanation)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    std::uint64_t overflows = overflow_accept_queue(ns, 7302);
    ASSERT_GT(overflows, 0u);
    std::string err_file = fs::temp_directory_path() / fmt::format("rtd-once-{}.err", getpid());
    std::string text = sh_out(fmt::format("{} run {}/snmp --once --netns {} 2>{}", kBinary, kPacks, ns.b, err_file));
    std::string err = slurp(err_file);
    fs::remove(err_file);
    EXPECT_TRUE(line_with(text, {"l4 snmp.listen_overflows netns " + std::to_string(ns.inode_b),
                                 fmt::format("{} connection attempts dropped because a listener's accept queue was full", overflows)}))
        << text << err;
    EXPECT_TRUE(line_with(text, {"hint:", "accept()"})) << text;  // explained without --hints
    EXPECT_NE(err.find("finding(s) from"), std::string::npos) << err;

    // JSON: the same finding, delta = everything since the namespace began.
    auto found = monitor_findings(json_lines(sh_out(fmt::format("{} run {}/snmp --once --json --netns {} 2>/dev/null", kBinary,
                                                                kPacks, ns.b))),
                                  "snmp.listen_overflows");
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0]["delta"].get<std::uint64_t>(), overflows);
    EXPECT_EQ(found[0]["value"].get<std::uint64_t>(), overflows);
    EXPECT_EQ(found[0]["netns"], ns.inode_b);
}

TEST(MonitorsE2E, SysctlChecksFireInsideTheNamespace)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    ASSERT_EQ(sh(ns.in_a(fmt::format("sysctl -w net.ipv4.conf.{}.rp_filter=1", ns.dev_a))), 0);
    ASSERT_EQ(sh(ns.in_a("sysctl -w net.core.somaxconn=64")), 0);
    ASSERT_EQ(sh(ns.in_a("sysctl -w net.ipv4.tcp_syncookies=0")), 0);
    auto findings = json_lines(sh_out(fmt::format("{} run {}/sysctl --once --json --netns {} 2>/dev/null", kBinary, kPacks, ns.a)));

    auto rp = monitor_findings(findings, "sysctl.rp_filter_strict");
    ASSERT_EQ(rp.size(), 1u) << findings.size();
    EXPECT_EQ(rp[0]["dev"], ns.dev_a);
    EXPECT_EQ(rp[0]["severity"], "warning");
    EXPECT_EQ(rp[0]["netns"], ns.inode_a);
    EXPECT_NE(rp[0]["hint"].get<std::string>().find("net.ipv4.conf." + ns.dev_a + ".rp_filter=2"), std::string::npos);
    auto somaxconn = monitor_findings(findings, "sysctl.somaxconn_small");
    ASSERT_EQ(somaxconn.size(), 1u);
    EXPECT_EQ(somaxconn[0]["value"], 64);
    EXPECT_NE(somaxconn[0]["message"].get<std::string>().find("net.core.somaxconn is 64"), std::string::npos);
    EXPECT_EQ(monitor_findings(findings, "sysctl.tcp_syncookies_off").size(), 1u);

    // Namespace B keeps the defaults: none of these fire there.
    auto b = json_lines(sh_out(fmt::format("{} run {}/sysctl --once --json --netns {} 2>/dev/null", kBinary, kPacks, ns.b)));
    EXPECT_TRUE(monitor_findings(b, "sysctl.rp_filter_strict").empty());
    EXPECT_TRUE(monitor_findings(b, "sysctl.somaxconn_small").empty());
    EXPECT_TRUE(monitor_findings(b, "sysctl.tcp_syncookies_off").empty());
}

TEST(MonitorsE2E, PromiscuousFlagFiresWhenSetWhileRunning)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({kPacks + "/sysctl", "--json", "--netns", ns.a, "--interval", "200ms"});
    ASSERT_TRUE(run.ready()) << run.err();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ASSERT_EQ(sh(fmt::format("ip -n {} link set {} promisc on", ns.a, ns.dev_a)), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    ASSERT_EQ(run.stop(), 0) << run.err();
    auto found = monitor_findings(run.events(), "sysctl.promiscuous");
    ASSERT_EQ(found.size(), 1u) << run.out();  // said once, not on every poll
    EXPECT_EQ(found[0]["dev"], ns.dev_a);
    EXPECT_EQ(found[0]["source"], "netdev:flags");
    EXPECT_TRUE(found[0]["value"].get<std::uint64_t>() & 0x100);
    EXPECT_EQ(found[0]["netns"], ns.inode_a);
}

TEST(MonitorsE2E, LinkStatisticsMatchIpLink)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    sh(ns.in_a(fmt::format("timeout 5 {} -c \"import socket\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                           "[s.sendto(b'x'*100, ('{}', 9)) for _ in range(50)]\"",
                           kPy, ns.addr_b)));
    std::string dir = fs::temp_directory_path() / fmt::format("rtd-link-{}", getpid());
    fs::create_directories(dir);
    const std::vector<std::string> stats{"rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped"};
    {
        std::ofstream rule(dir + "/link.rule");
        for (const std::string& s : stats)
            rule << fmt::format("monitor t.{} {{\n layer l2\n source link:{}\n drop if value >= 0\n}}\n", s, s);
    }
    // `ip` before and after: netlink's counters only grow, so ours lie between.
    auto ip_stats = [&]() { return json::parse(sh_out(fmt::format("ip -n {} -s -j link show", ns.a))); };
    json before = ip_stats();
    auto findings = json_lines(sh_out(fmt::format("{} run {}/link.rule --once --json --netns {} 2>/dev/null", kBinary, dir, ns.a)));
    json after = ip_stats();
    fs::remove_all(dir);

    auto ip_value = [](const json& links, const std::string& dev, const std::string& stat) -> std::int64_t {
        for (const json& l : links)
            if (l["ifname"] == dev) {
                bool rx = stat.rfind("rx_", 0) == 0;
                const json& side = l["stats64"][rx ? "rx" : "tx"];
                std::string field = stat.substr(3);
                return side[field == "packets" ? "packets" : field == "bytes" ? "bytes" : "dropped"].get<std::int64_t>();
            }
        return -1;
    };
    int checked = 0;
    for (const std::string& dev : {ns.dev_a, std::string("lo")})
        for (const std::string& s : stats) {
            std::int64_t value = -1;
            for (const json& f : monitor_findings(findings, "t." + s))
                if (f["dev"] == dev) value = f["value"].get<std::int64_t>();
            std::int64_t lo = ip_value(before, dev, s), hi = ip_value(after, dev, s);
            ASSERT_GE(lo, 0) << dev << " " << s;
            EXPECT_GE(value, lo) << dev << " " << s;
            EXPECT_LE(value, hi) << dev << " " << s;
            ++checked;
        }
    EXPECT_EQ(checked, 12);
    // The datagrams were sent: A's veth counted them.
    EXPECT_GE(ip_value(after, ns.dev_a, "tx_packets"), 50);
}

TEST(MonitorsE2E, MonitorsAndProbesShareOneStream)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({kPacks + "/tcp", kPacks + "/snmp", "--json", "--netns", ns.b, "--interval", "300ms"});
    ASSERT_TRUE(run.ready()) << run.err();
    std::uint64_t overflows = overflow_at_handshake(ns, 7303);
    ASSERT_GT(overflows, 0u);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    ASSERT_EQ(run.stop(), 0) << run.err();
    auto events = run.events();
    std::size_t probe_events = 0;
    for (const json& e : events)
        if (e["rule"] == "tcp.listen_overflow" && e["netns"] == ns.inode_b) {
            EXPECT_EQ(e["kind"], "drop");
            EXPECT_EQ(e["reason"], "TCP_LISTEN_OVERFLOW");
            ++probe_events;
        }
    EXPECT_GT(probe_events, 0u) << run.out();
    auto found = monitor_findings(events, "snmp.listen_overflows");
    ASSERT_FALSE(found.empty()) << run.out();
    std::int64_t sum = 0;
    for (const json& f : found) sum += f["delta"].get<std::int64_t>();
    EXPECT_EQ(static_cast<std::uint64_t>(sum), overflows);
    // The status table lists both kinds; the counters table still has the probe rules.
    EXPECT_NE(run.err().find("snmp.listen_overflows"), std::string::npos);
    EXPECT_NE(run.err().find("polled every 0.3 s"), std::string::npos);
    EXPECT_FALSE(run.counters("tcp.listen_overflow").empty()) << run.err();
}

TEST(MonitorsE2E, BadNetnsIsBadInput)
{
    NEED_ROOT_AND_BPF();
    EXPECT_EQ(WEXITSTATUS(std::system((kBinary + " run --once --netns rtd-no-such-namespace " + kPacks + "/snmp >/dev/null 2>&1").c_str())),
              2);
    EXPECT_EQ(WEXITSTATUS(std::system((kBinary + " run --once --netns /etc/hostname " + kPacks + "/snmp >/dev/null 2>&1").c_str())), 2);
    // --once with probe rules only: nothing to read.
    EXPECT_EQ(WEXITSTATUS(std::system((kBinary + " run --once " + kPacks + "/tcp >/dev/null 2>&1").c_str())), 2);
}

}  // namespace
}  // namespace e2e

namespace e2e {
namespace {

// Every source the shipped monitor packs name exists on this kernel (a
// misspelt counter would only ever be "skipped"), except tcp_tw_recycle,
// which left the kernel in 4.12; --strict turns that skip into exit 2.
TEST(MonitorsE2E, ShippedMonitorSourcesExistHere)
{
    NEED_ROOT_AND_BPF();
    std::string err_file = fs::temp_directory_path() / fmt::format("rtd-sources-{}.err", getpid());
    int rc = std::system(fmt::format("{} run --once {}/snmp {}/nic {}/sysctl >/dev/null 2>{}", kBinary, kPacks, kPacks, kPacks, err_file).c_str());
    std::string err = slurp(err_file);
    EXPECT_EQ(WEXITSTATUS(rc), 0) << err;
    std::istringstream lines(err);
    std::vector<std::string> skipped;
    for (std::string line; std::getline(lines, line);)
        if (line.find("skipped:") != std::string::npos) skipped.push_back(line);
    ASSERT_EQ(skipped.size(), 1u) << err;
    EXPECT_NE(skipped[0].find("sysctl.tcp_tw_recycle"), std::string::npos);
    EXPECT_NE(skipped[0].find("sysctl net.ipv4.tcp_tw_recycle does not exist on this kernel"), std::string::npos);

    rc = std::system(fmt::format("{} run --once --strict {}/sysctl >/dev/null 2>{}", kBinary, kPacks, err_file).c_str());
    EXPECT_EQ(WEXITSTATUS(rc), 2);
    EXPECT_NE(slurp(err_file).find("1 monitor(s) skipped and --strict is set"), std::string::npos);
    fs::remove(err_file);
}

}  // namespace
}  // namespace e2e
