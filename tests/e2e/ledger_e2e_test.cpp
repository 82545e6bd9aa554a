// `run --ledger` against real drops in the test's own namespaces: the
// kernel's counters in namespace B (read by the run through --netns) and
// the drops the shipped rules traced into them must agree exactly
// (balanced); a rule left out with -e leaves its counter unexplained, named;
// a rule that declares the wrong counter shows as untracked (a rule bug).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tests/e2e/e2e_support.h"

namespace e2e {
namespace {

const std::string kPacks = RTD_SOURCE_DIR "/rules";

void udp_to_closed_port(const Namespaces& ns, int count)
{
    sh(ns.in_a(fmt::format("{} {} udp-flood {} 7308 {} 10", kPy, kTraffic, ns.addr_b, count)));
}

TEST(LedgerE2E, BalancedForUdpBufferClosedPortTcpChecksumAndAcceptQueue)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({kPacks + "/udp", kPacks + "/tcp", "--ledger", "--netns", ns.b, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();

    // A UDP socket with a tiny buffer that never reads: its buffer fills.
    const std::string rcvbuf_file = fmt::format("/tmp/rtd-e2e-ledger-rcvbuf-{}", getpid());
    sh_background(ns.in_b(fmt::format("{} {} udp-sink 7306 4096 4 {}", kPy, kTraffic, rcvbuf_file)));
    for (int i = 0; i < 100 && !fs::exists(rcvbuf_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    fs::remove(rcvbuf_file);
    sh(ns.in_a(fmt::format("{} {} udp-flood {} 7306 100 1000", kPy, kTraffic, ns.addr_b)));
    // 30 datagrams to a closed port.
    udp_to_closed_port(ns, 30);
    // 20 TCP segments with a bad checksum to a listener.
    listen_in_b(ns, 7301, 16, 8);
    sh(craft(ns, "tcp-bad-csum", 7301, "20"));
    overflow_accept_queue_crafted(ns, 7304);
    EXPECT_EQ(run.stop(), 0) << run.err();

    const json ledger = final_ledger(run);
    ASSERT_FALSE(ledger.is_null()) << run.out();
    EXPECT_TRUE(ledger["final"].get<bool>());
    EXPECT_EQ(ledger["netns"], ns.inode_b);
    for (const json& r : ledger["counters"]) {
        EXPECT_TRUE(r["state"] == "balanced" || r["state"] == "quiet") << r;
        EXPECT_EQ(r["counted"], r["traced"]) << r;
    }
    const json rcvbuf = ledger_row(ledger, "snmp:UdpRcvbufErrors | snmp:Udp6RcvbufErrors");
    ASSERT_FALSE(rcvbuf.is_null()) << ledger;
    EXPECT_GT(rcvbuf["counted"].get<int>(), 0);
    EXPECT_EQ(rcvbuf["rules"], json::array({"udp.receive_buffer_full"}));
    // The same drops in the wider counter too.
    EXPECT_EQ(ledger_row(ledger, "snmp:UdpInErrors | snmp:Udp6InErrors")["counted"], rcvbuf["counted"]);
    EXPECT_EQ(ledger_row(ledger, "snmp:UdpNoPorts | snmp:Udp6NoPorts")["counted"], 30) << ledger;
    EXPECT_EQ(ledger_row(ledger, "snmp:UdpNoPorts | snmp:Udp6NoPorts")["traced"], 30) << ledger;
    EXPECT_EQ(ledger_row(ledger, "snmp:TcpInCsumErrors")["counted"], 20) << ledger;
    EXPECT_EQ(ledger_row(ledger, "snmp:TcpInCsumErrors")["traced"], 20) << ledger;
    const json overflows = ledger_row(ledger, "snmp:TcpExtListenOverflows");
    EXPECT_GE(overflows["counted"].get<int>(), 1) << ledger;
    EXPECT_EQ(overflows["rules"], json::array({"tcp.listen_overflow"}));
    // The overall line: skb:kfree_skb's drops in B by reason.
    const json& overall = ledger["overall"];
    ASSERT_FALSE(overall.contains("unavailable")) << overall;
    EXPECT_EQ(overall["reasons"]["TCP_CSUM"], 20) << overall;
    EXPECT_EQ(overall["reasons"]["SOCKET_RCVBUFF"], rcvbuf["counted"]) << overall;
    EXPECT_GE(overall["kfree_skb_drops"].get<int>(), overall["counted"].get<int>());
    EXPECT_EQ(overall["counted"], overall["traced"]);
}

TEST(LedgerE2E, ExcludedRuleLeavesItsCounterUnexplainedAndSaysWhich)
{
    NEED_ROOT_AND_BPF();
    ASSERT_EQ(sh("command -v curl"), 0) << "needs curl (make deps)";
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    const int port = free_port();
    DropTracer run({kPacks + "/udp", "--ledger", "--netns", ns.b, "-e", "udp.no_socket", "--quiet", "--metrics",
                    fmt::format("127.0.0.1:{}", port)});
    ASSERT_TRUE(run.ready()) << run.err();
    udp_to_closed_port(ns, 25);
    // Two polls (a second each): the difference has lasted one.
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    const std::string scrape = sh_out(fmt::format("curl -sf --max-time 5 http://127.0.0.1:{}/metrics", port));
    EXPECT_EQ(run.stop(), 0) << run.err();
    EXPECT_NE(scrape.find("rtrace_drop_ledger_unexplained{counter=\"snmp:UdpNoPorts | snmp:Udp6NoPorts\"} 25"), std::string::npos) << scrape;
    EXPECT_NE(scrape.find("rtrace_drop_ledger_counted_total{counter=\"snmp:UdpNoPorts | snmp:Udp6NoPorts\"} 25"), std::string::npos) << scrape;
    EXPECT_NE(scrape.find("rtrace_drop_ledger_traced_total{counter=\"snmp:UdpNoPorts | snmp:Udp6NoPorts\"} 0"), std::string::npos) << scrape;
    // The text ledger at the end names the rule that would have seen them.
    const std::string out = run.out();
    const std::size_t at = out.find("snmp:UdpNoPorts | snmp:Udp6NoPorts");
    ASSERT_NE(at, std::string::npos) << out;
    const std::string line = out.substr(at, out.find('\n', out.find('\n', at) + 1) - at);
    EXPECT_NE(line.find("unexplained 25"), std::string::npos) << out;
    EXPECT_NE(line.find("udp.no_socket (excluded with -i/-e)"), std::string::npos) << out;
}

TEST(LedgerE2E, SynQueueOverflowNamesTheRuleThatWouldSeeIt)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    // B keeps every request half open (A never answers the SYN-ACKs) and
    // has no SYN cookies: SYNs past its queue are dropped and counted in
    // TCPReqQFullDrop. No tracepoint sees them: only tcp.syn_queue_full's
    // function probe, which needs kprobes or trampolines.
    ASSERT_EQ(sh(ns.in_b("sysctl -qw net.ipv4.tcp_syncookies=0")), 0);
    ASSERT_EQ(sh(ns.in_a("iptables -A INPUT -p tcp --tcp-flags SYN,ACK SYN,ACK -j DROP")), 0);
    DropTracer run({kPacks + "/tcp", "--ledger", "--netns", ns.b, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();
    listen_in_b(ns, 7311, 2, 8);
    sh(ns.in_a(fmt::format("{} {} tcp-syns - {} 7311 6 3", kPy, kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    const json r = ledger_row(final_ledger(run), "snmp:TcpExtTCPReqQFullDrop");
    ASSERT_FALSE(r.is_null()) << run.out();
    EXPECT_GE(r["counted"].get<int>(), 1) << r;
    if (!r["rules"].empty()) {  // a kernel where the function probe runs
        EXPECT_EQ(r["state"], "balanced") << r;
        return;
    }
    EXPECT_EQ(r["state"], "unexplained") << r;
    EXPECT_EQ(r["traced"], 0);
    EXPECT_EQ(r["difference"], r["counted"]);
    const std::string why = r["why"];
    EXPECT_NE(why.find("tcp.syn_queue_full (skipped: "), std::string::npos) << why;
}

TEST(LedgerE2E, RuleDeclaringTheWrongCounterIsUntracked)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    TempFiles dir("ledger");
    // No-socket drops declared as receive-buffer drops: a rule bug.
    std::ofstream(dir.path + "/wrong.rule") << "rule test.wrong_counter {\n"
                                               "    layer   l4\n"
                                               "    probe   tracepoint:skb:kfree_skb\n"
                                               "    drop if reason == SKB_DROP_REASON_NO_SOCKET\n"
                                               "    counted as snmp:UdpRcvbufErrors\n"
                                               "    packet  skb\n"
                                               "    message \"no socket\"\n"
                                               "}\n";
    DropTracer run({dir.path + "/wrong.rule", "--ledger", "--netns", ns.b, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();
    udp_to_closed_port(ns, 15);
    EXPECT_EQ(run.stop(), 0) << run.err();
    const json r = ledger_row(final_ledger(run), "snmp:UdpRcvbufErrors");
    ASSERT_FALSE(r.is_null()) << run.out();
    EXPECT_EQ(r["state"], "untracked") << r;
    EXPECT_EQ(r["counted"], 0);
    EXPECT_EQ(r["traced"], 15);
    EXPECT_EQ(r["difference"], 15);
    EXPECT_NE(r["why"].get<std::string>().find("rule bug: test.wrong_counter"), std::string::npos) << r;
}

}  // namespace
}  // namespace e2e
