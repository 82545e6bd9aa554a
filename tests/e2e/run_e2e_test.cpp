// End to end: `rtrace-drop run` against real drops made in network
// namespaces this test creates (a veth pair between two of them), with
// traffic only inside them. Every test removes its namespaces and leaves no
// BPF program behind. Needs root and BPF (tests/kernel_support.h).
#include <fstream>
#include <map>

#include "tests/e2e/e2e_support.h"

namespace e2e {
namespace {

// The events of `rule` whose packet went to B's port `dport` in B's namespace.
std::vector<json> matching(const std::vector<json>& events, const std::string& rule, const Namespaces& ns, int dport)
{
    std::vector<json> out;
    for (const json& e : events)
        if (e["rule"] == rule && e.contains("packet") && e["packet"]["dport"] == dport && e["packet"]["daddr"] == ns.addr_b &&
            e["packet"]["netns"] == ns.inode_b)
            out.push_back(e);
    return out;
}

TEST(RunE2E, IptablesDropOfTcpSyn)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    ASSERT_EQ(sh(ns.in_b("iptables -A INPUT -p tcp --dport 5555 -j DROP")), 0) << "iptables is needed (Debian: iptables)";
    DropTracer run({kDrops, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5555 1.5", kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();

    auto events = matching(run.events(), "e2e.netfilter", ns, 5555);
    ASSERT_FALSE(events.empty()) << run.out() << run.err();
    const json& e = events.front();
    EXPECT_EQ(e["reason"], "NETFILTER_DROP");
    EXPECT_EQ(e["layer"], "l3");
    EXPECT_EQ(e["packet"]["proto"], "TCP");
    EXPECT_EQ(e["packet"]["saddr"], ns.addr_a);
    EXPECT_EQ(e["packet"]["tcp_flags"], "S");
    EXPECT_GT(e["packet"]["sport"].get<int>(), 1023);
    EXPECT_EQ(e["packet"]["dev"], ns.dev_b);
    EXPECT_GT(e["packet"]["ifindex"].get<int>(), 0);
    EXPECT_EQ(e["netns"], ns.inode_b);
    EXPECT_NE(e["location"].get<std::string>().find("+0x"), std::string::npos);
    EXPECT_EQ(e["message"], fmt::format("netfilter dropped {}:{} > {}:5555 TCP [S]", ns.addr_a, e["packet"]["sport"].get<int>(), ns.addr_b));
    for (const char* key : {"time", "captures", "comm", "pid", "cpu"}) EXPECT_TRUE(e.contains(key)) << key;
    // One program on the tracepoint runs all three rules.
    EXPECT_TRUE(line_with(run.err(), {"the 3 probes on kfree_skb run in one tp_btf program"})) << run.err();
}

// More probes on one tracepoint than one dispatcher takes (kDispatchMembers,
// compiler/compiled.h): they run in several programs, and each rule still
// sees each drop once.
TEST(RunE2E, ManyRulesOnOneTracepointRunInSeveralPrograms)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    TempFiles dir("many-rules");
    const std::string file = dir.path + "/many.rule";
    {
        std::ofstream rules(file);
        for (int i = 0; i < 130; ++i)
            rules << fmt::format("rule many.r{:03} {{\n    layer l4\n    probe tracepoint:skb:kfree_skb\n"
                                 "    drop if reason == SKB_DROP_REASON_NO_SOCKET\n    packet skb\n}}\n\n",
                                 i);
    }
    DropTracer run({file, "--json", "--netns", ns.b, "--where", "dport == 5599"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} udp-flood {} 5599 1 16", kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    EXPECT_TRUE(line_with(run.err(), {"the 130 probes on kfree_skb run in 2 tp_btf programs"})) << run.err();
    std::map<std::string, int> per_rule;
    for (const json& e : run.events()) ++per_rule[e["rule"].get<std::string>()];
    EXPECT_EQ(per_rule.size(), 130u) << run.err();
    for (const auto& [rule, n] : per_rule) EXPECT_EQ(n, 1) << rule;
    const auto first = run.counter_columns("many.r000"), last = run.counter_columns("many.r129");
    ASSERT_TRUE(first.count("HITS") && last.count("HITS")) << run.err();
    EXPECT_EQ(first.at("HITS"), last.at("HITS")) << "both programs see every free";
}

TEST(RunE2E, SynToClosedPortIsNoSocket)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({kDrops, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5556 1", kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    auto events = matching(run.events(), "e2e.no_socket", ns, 5556);
    ASSERT_EQ(events.size(), 1u) << run.out();
    EXPECT_EQ(events[0]["reason"], "NO_SOCKET");
    EXPECT_EQ(events[0]["packet"]["tcp_flags"], "S");
    EXPECT_EQ(events[0]["packet"]["saddr"], ns.addr_a);
    EXPECT_EQ(events[0]["message"], fmt::format("no socket for {}:5556", ns.addr_b));
}

TEST(RunE2E, UdpReceiveBufferFullCapturesSocketMemory)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    std::string rcvbuf_file = fmt::format("/tmp/rtd-e2e-rcvbuf-{}", getpid());
    DropTracer run({kDrops, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();
    // B binds with a tiny receive buffer and never reads; A sends 200 datagrams.
    std::string sink = ns.in_b(fmt::format("/usr/bin/python3 {} udp-sink 6000 4096 4 {}", kTraffic, rcvbuf_file));
    std::thread receiver([&] { sh(sink); });
    for (int i = 0; i < 100 && !fs::exists(rcvbuf_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} udp-flood {} 6000 200 1000", kTraffic, ns.addr_b)));
    receiver.join();
    EXPECT_EQ(run.stop(), 0) << run.err();
    long rcvbuf = std::stol(slurp(rcvbuf_file));
    fs::remove(rcvbuf_file);

    auto events = matching(run.events(), "e2e.rcvbuf", ns, 6000);
    ASSERT_FALSE(events.empty()) << run.out() << run.err();
    for (const json& e : events) {
        EXPECT_EQ(e["reason"], "SOCKET_RCVBUFF");
        EXPECT_EQ(e["packet"]["proto"], "UDP");
        EXPECT_EQ(e["captures"]["rcvbuf"], rcvbuf);  // what SO_RCVBUF reports for the socket
        EXPECT_GT(e["captures"]["rmem"].get<long>(), 0);
        EXPECT_LE(e["captures"]["rmem"].get<long>(), rcvbuf + 65536);
    }
}

TEST(RunE2E, RingBufferOverflowLosesEventsNeverCounts)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    auto no_ports = [&] {
        // Udp: InDatagrams NoPorts ... (the second "Udp:" line holds the values)
        std::istringstream snmp(sh_out(ns.in_b("cat /proc/net/snmp")));
        std::vector<std::string> header, values;
        for (std::string line; std::getline(snmp, line);) {
            if (line.rfind("Udp: ", 0) != 0) continue;
            std::istringstream words(line.substr(5));
            std::vector<std::string>& into = header.empty() ? header : values;
            for (std::string w; words >> w;) into.push_back(w);
        }
        for (std::size_t i = 0; i < header.size() && i < values.size(); ++i)
            if (header[i] == "NoPorts") return std::stoull(values[i]);
        return 0ull;
    };
    // The smallest ring buffer and a large event (with a stack): most events
    // cannot fit while the burst lasts. With the other rules on kfree_skb, the
    // rule runs inside the tracepoint's one program: its counts stay its own.
    DropTracer run({RTD_TEST_DATA "/e2e/udp_noport.rule", kDrops, "--json", "--ring-size", "4096"});
    ASSERT_TRUE(run.ready()) << run.err();
    unsigned long long before = no_ports();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} udp-flood {} 7777 20000 16", kTraffic, ns.addr_b)));
    unsigned long long dropped = no_ports() - before;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(run.stop(), 0) << run.err();

    auto c = run.counters("e2e.udp_noport");
    ASSERT_EQ(c.size(), 5u) << run.err();
    EXPECT_GT(dropped, 10000ull);
    EXPECT_EQ(c[1], dropped) << "the drop count must equal the kernel's UDP NoPorts count";
    EXPECT_EQ(c[2] + c[3], c[1]) << "every drop is either an event or a lost event";
    EXPECT_GT(c[3], 0ull) << "a 4 KiB ring buffer should overflow in this burst";
    std::size_t reported = 0;
    for (const json& e : run.events()) reported += e["rule"] == "e2e.udp_noport";
    EXPECT_EQ(reported, c[2]) << "every emitted event is reported";
    EXPECT_TRUE(line_with(run.err(), {"the 4 probes on kfree_skb run in one tp_btf program"})) << run.err();
    // The shared program counts the tracepoint's hits once, for each rule.
    EXPECT_GE(c[0], c[1]) << "HITS >= DROPS: " << run.err();
    EXPECT_EQ(run.counters("e2e.netfilter").at(0), c[0]) << run.err();
    EXPECT_NE(run.err().find("events were lost (ring buffer full); the counts above are exact"), std::string::npos) << run.err();
}

TEST(RunE2E, CtrlCDetachesEverything)
{
    NEED_ROOT_AND_BPF();
    DropTracer run({kDrops, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();
    std::string during = sh_out("bpftool prog show");
    EXPECT_NE(during.find("rtd_"), std::string::npos) << "programs should be loaded while attached";
    EXPECT_EQ(run.stop(), 0) << run.err();
    EXPECT_EQ(leftover_bpf(), "");
}

TEST(RunE2E, FunctionProbesUseWhatTheKernelOffers)
{
    NEED_ROOT_AND_BPF();
    DropTracer run({kDrops, "--json", "--duration", "1s"});
    ASSERT_TRUE(run.ready()) << run.err();
    EXPECT_EQ(run.wait(), 0) << run.err();
    std::string err = run.err();
    bool kprobes = fs::exists("/sys/bus/event_source/devices/kprobe");
    if (!kprobes && err.find("BPF trampolines available") == std::string::npos) {
        // This project's machines: no kprobes, trampolines refused.
        EXPECT_TRUE(line_with(err, {"e2e.function_probe", "kprobe:tcp_conn_request",
                                    "skipped: kernel has no kprobes and refuses BPF trampolines"}))
            << err;
    } else {
        EXPECT_TRUE(line_with(err, {"e2e.function_probe", "kprobe:tcp_conn_request", "fentry"}) ||
                    line_with(err, {"e2e.function_probe", "kprobe:tcp_conn_request", "kprobe"}))
            << err;
    }
    // The tracepoint rules attach either way.
    EXPECT_TRUE(line_with(err, {"e2e.netfilter", "tracepoint:skb:kfree_skb", "tp_btf"})) << err;
    EXPECT_NE(err.find("rtrace-drop: ready: "), std::string::npos);
}

TEST(RunE2E, StrictRefusesSkippedProbesAndNothingAttachableFails)
{
    NEED_ROOT_AND_BPF();
    if (fs::exists("/sys/bus/event_source/devices/kprobe")) GTEST_SKIP() << "this kernel can attach function probes";
    DropTracer strict({kDrops, "--strict", "--duration", "1s"});
    EXPECT_EQ(strict.wait(), 2) << strict.err();
    EXPECT_NE(strict.err().find("skipped and --strict is set"), std::string::npos) << strict.err();

    std::string only_function = fmt::format("/tmp/rtd-e2e-fn-{}.rule", getpid());
    std::ofstream(only_function) << "rule e2e.fn {\n layer l4\n probe kprobe:tcp_conn_request\n}\n";
    DropTracer none({only_function, "--duration", "1s"});
    EXPECT_EQ(none.wait(), 1) << none.err();
    EXPECT_NE(none.err().find("nothing could be attached on this kernel"), std::string::npos) << none.err();
    fs::remove(only_function);
}

TEST(RunE2E, TextOutputAndSummary)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer text({kDrops, "--hints", "--count", "1"});
    ASSERT_TRUE(text.ready()) << text.err();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5557 1", kTraffic, ns.addr_b)));
    EXPECT_EQ(text.wait(), 0) << text.err();  // --count 1 ends it
    EXPECT_NE(text.out().find(fmt::format("l4 e2e.no_socket {}:", ns.addr_a)), std::string::npos) << text.out();
    EXPECT_NE(text.out().find(fmt::format("> {}:5557 TCP [S] dev {} netns {}: no socket for {}:5557", ns.addr_b, ns.dev_b, ns.inode_b,
                                          ns.addr_b)),
              std::string::npos)
        << text.out();

    DropTracer summary({kDrops, "--summary"});
    ASSERT_TRUE(summary.ready()) << summary.err();
    for (int i = 0; i < 3; ++i) sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5558 1", kTraffic, ns.addr_b)));
    EXPECT_EQ(summary.stop(), 0) << summary.err();
    EXPECT_NE(summary.out().find(fmt::format("TCP {} > {}:5558", ns.addr_a, ns.addr_b)), std::string::npos) << summary.out();
    EXPECT_NE(summary.out().find("RULE"), std::string::npos);
}

// --summary counts in the kernel, by rule and flow: no event crosses the
// ring (4 KiB here, far too small for the burst), and every drop is in the
// table, equal to what iptables counted.
TEST(RunE2E, SummaryCountsEveryDropInTheKernel)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    ASSERT_EQ(sh(ns.in_b("iptables -A INPUT -p udp --dport 7788 -j DROP")), 0);
    DropTracer run({kDrops, "--summary", "--ring-size", "4096"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} udp-flood {} 7788 20000 16", kTraffic, ns.addr_b)));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(run.stop(), 0) << run.err();
    std::uint64_t dropped = std::stoull(sh_out(ns.in_b("iptables -nvxL INPUT | awk '/dpt:7788/ {print $1}'")));
    EXPECT_GE(dropped, 20000u);
    std::string row;
    std::istringstream lines(run.out());
    for (std::string line; std::getline(lines, line);)
        if (line.find(fmt::format("UDP {} > {}:7788", ns.addr_a, ns.addr_b)) != std::string::npos) row = line;
    ASSERT_NE(row, "") << run.out();
    EXPECT_TRUE(row.starts_with("e2e.netfilter ") && row.ends_with(fmt::format(" {}", dropped))) << row << " vs iptables " << dropped;
    auto c = run.counters("e2e.netfilter");
    ASSERT_EQ(c.size(), 5u) << run.err();
    EXPECT_EQ(c[1], dropped) << run.err();
    EXPECT_EQ(c[2], dropped) << "EVENTS counts the drops in the table";
    EXPECT_EQ(c[3], 0u) << "nothing lost: " << run.err();
}

TEST(RunE2E, BadInputExitsTwo)
{
    NEED_ROOT_AND_BPF();
    DropTracer bad({RTD_TEST_DATA "/failure/unknown_clause.rule"});
    EXPECT_EQ(bad.wait(), 2);
    EXPECT_NE(bad.err().find("unknown clause 'captrue'"), std::string::npos) << bad.err();
    DropTracer duration({kDrops, "--duration", "soon"});
    EXPECT_EQ(duration.wait(), 2);
    DropTracer ring({kDrops, "--ring-size", "5000"});
    EXPECT_EQ(ring.wait(), 2);
}

}  // namespace
}  // namespace e2e
