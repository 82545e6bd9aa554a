// The shipped packs against real drops: for each tracepoint rule, the drop
// is made for real in the test's own namespaces and the test asserts that
// exactly that rule reported the packet (one drop, one report), with the
// right reason, packet and captures. Crafted packets come from scapy
// (tests/e2e/craft.py). Needs root and BPF (tests/kernel_support.h).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>

#include "tests/e2e/e2e_support.h"
#include "tests/e2e/tc_drop.h"

namespace e2e {
namespace {

const std::string kPacks = RTD_SOURCE_DIR "/rules";

// Packets from A to B's `dport` with `proto`, seen in B's namespace.
auto to_b(const Namespaces& ns, const std::string& proto, int dport)
{
    return [&ns, proto, dport](const json& e) {
        return e.contains("packet") && e["packet"]["proto"] == proto && e["packet"]["daddr"] == ns.addr_b &&
               e["packet"]["dport"] == dport && e["netns"] == ns.inode_b;
    };
}

struct PackRun {
    Namespaces ns;
    std::unique_ptr<DropTracer> tracer;
    explicit PackRun(std::vector<std::string> extra = {})
    {
        std::vector<std::string> args{kPacks, "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        tracer = std::make_unique<DropTracer>(args);
    }
    std::vector<json> stop()
    {
        EXPECT_EQ(tracer->stop(), 0) << tracer->err();
        return tracer->events();
    }
};

#define START(run)                                              \
    ASSERT_TRUE((run).ns.ok);                                   \
    ASSERT_TRUE((run).tracer->ready()) << (run).tracer->err()

TEST(PacksE2E, FunctionProbesSkippedEveryTracepointRuleAttached)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    run.stop();
    std::string err = run.tracer->err();
    std::istringstream lines(err);
    int tracepoints = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.find("tracepoint:") != std::string::npos) {
            bool attached = line.find("tp_btf") != std::string::npos || line.find("raw_tp") != std::string::npos;
            bool stood_down = line.find("skipped: not needed: ") != std::string::npos;
            EXPECT_TRUE(attached || stood_down) << line;
            tracepoints += attached;
        }
        bool function_probe = line.find(" kprobe:") != std::string::npos || line.find(" kretprobe:") != std::string::npos;
        if (function_probe && !fs::exists("/sys/bus/event_source/devices/kprobe") &&
            err.find("BPF trampolines available") == std::string::npos)
            EXPECT_NE(line.find("skipped: kernel has no kprobes and refuses BPF trampolines"), std::string::npos) << line;
        else if (function_probe)
            EXPECT_EQ(line.find("skipped: kernel has no kprobes"), std::string::npos) << line;
    }
    EXPECT_GE(tracepoints, 20) << err;
}

TEST(PacksE2E, TcpBadChecksum)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    listen_in_b(run.ns, 7201);
    sh(craft(run.ns, "tcp-bad-csum", 7201));
    auto events = run.stop();
    auto match = to_b(run.ns, "TCP", 7201);
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"tcp.bad_checksum"}) << run.tracer->out();
    json e = first(events, "tcp.bad_checksum", match);
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["reason"], "TCP_CSUM");
    EXPECT_EQ(e["packet"]["saddr"], run.ns.addr_a);
    EXPECT_EQ(e["packet"]["sport"], 40001);
}

TEST(PacksE2E, TcpBadChecksumTracepointWithAll)
{
    NEED_ROOT_AND_BPF();
    PackRun run({"--all"});
    START(run);
    listen_in_b(run.ns, 7202);
    sh(craft(run.ns, "tcp-bad-csum", 7202));
    auto events = run.stop();
    auto match = to_b(run.ns, "TCP", 7202);
    // With --all the 'instead of' form and the fallback report it too.
    EXPECT_EQ(reporters(events, match), (std::set<std::string>{"tcp.bad_checksum", "tcp.bad_checksum_event", "reasons.other"}))
        << run.tracer->out();
}

TEST(PacksE2E, TcpFlagsViolation)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    listen_in_b(run.ns, 7203);
    sh(craft(run.ns, "tcp-fin", 7203));
    auto events = run.stop();
    auto match = to_b(run.ns, "TCP", 7203);
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"tcp.protocol"}) << run.tracer->out();
    json e = first(events, "tcp.protocol", match);
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["reason"], "TCP_FLAGS");
    EXPECT_EQ(e["packet"]["tcp_flags"], "F");
    // {reason_hint} comes from the reasons pack's hints.toml.
    EXPECT_NE(e["hint"].get<std::string>().find("flags that make no sense"), std::string::npos) << e["hint"];
}

TEST(PacksE2E, TcpListenOverflow)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    const Namespaces& ns = run.ns;
    overflow_accept_queue_crafted(ns, 7204);
    auto events = run.stop();
    auto match = [&](const json& e) { return to_b(ns, "TCP", 7204)(e) && e["packet"]["sport"].get<int>() >= 43000; };
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"tcp.listen_overflow"}) << run.tracer->out();
    json e = first(events, "tcp.listen_overflow", match);
    ASSERT_FALSE(e.is_null()) << run.tracer->out();
    EXPECT_EQ(e["reason"], "TCP_LISTEN_OVERFLOW");
    EXPECT_EQ(e["captures"]["max"], 4);
    EXPECT_GE(e["captures"]["backlog"].get<int>(), 4);
    EXPECT_EQ(e["packet"]["tcp_flags"], ".");
}

TEST(PacksE2E, TcpNoSocket)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh(run.ns.in_a(fmt::format("{} {} tcp-connect {} 7205 1", kPy, kTraffic, run.ns.addr_b)));
    auto events = run.stop();
    EXPECT_EQ(reporters(events, to_b(run.ns, "TCP", 7205)), std::set<std::string>{"tcp.no_socket"}) << run.tracer->out();
}

TEST(PacksE2E, UdpReceiveBufferFull)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    std::string rcvbuf_file = fmt::format("/tmp/rtd-e2e-packs-rcvbuf-{}", getpid());
    sh_background(run.ns.in_b(fmt::format("{} {} udp-sink 7206 4096 3 {}", kPy, kTraffic, rcvbuf_file)));
    for (int i = 0; i < 100 && !fs::exists(rcvbuf_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    sh(run.ns.in_a(fmt::format("{} {} udp-flood {} 7206 100 1000", kPy, kTraffic, run.ns.addr_b)));
    auto events = run.stop();
    long rcvbuf = std::stol(slurp(rcvbuf_file));
    fs::remove(rcvbuf_file);
    auto match = to_b(run.ns, "UDP", 7206);
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"udp.receive_buffer_full"}) << run.tracer->out();
    json e = first(events, "udp.receive_buffer_full", match);
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["captures"]["rcvbuf"], rcvbuf);
    EXPECT_GT(e["captures"]["rmem"].get<long>(), 0);
}

TEST(PacksE2E, ReceiveQueueFullTracepointWithAll)
{
    NEED_ROOT_AND_BPF();
    PackRun run({"--all"});
    START(run);
    // A ping socket in B with the smallest buffer pings A and never reads the replies.
    sh(run.ns.in_b("sysctl -qw net.ipv4.ping_group_range='0 2147483647'"));
    sh(run.ns.in_b(fmt::format("{} {} ping-sink {} 60 1", kPy, kTraffic, run.ns.addr_a)));
    auto events = run.stop();
    json e = first(events, "udp.receive_queue_full", [&](const json& e) {
        return e.contains("packet") && e["packet"]["proto"] == "ICMP" && e["netns"] == run.ns.inode_b;
    });
    ASSERT_FALSE(e.is_null()) << run.tracer->out();
    EXPECT_GT(e["captures"]["rcvbuf"].get<long>(), 0);
    EXPECT_GT(e["captures"]["truesize"].get<long>(), 1000);
}

TEST(PacksE2E, UdpBadChecksum)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh_background(run.ns.in_b(fmt::format("{} -c \"import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                                          "s.bind(('0.0.0.0',7207)); time.sleep(3)\"",
                                          kPy)));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    sh(craft(run.ns, "udp-bad-csum", 7207));
    auto events = run.stop();
    EXPECT_EQ(reporters(events, to_b(run.ns, "UDP", 7207)), std::set<std::string>{"udp.bad_checksum"}) << run.tracer->out();
}

TEST(PacksE2E, UdpNoSocket)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh(run.ns.in_a(fmt::format("{} {} udp-flood {} 7208 1 10", kPy, kTraffic, run.ns.addr_b)));
    auto events = run.stop();
    EXPECT_EQ(reporters(events, to_b(run.ns, "UDP", 7208)), std::set<std::string>{"udp.no_socket"}) << run.tracer->out();
}

TEST(PacksE2E, ReversePathFilter)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh(run.ns.in_b(fmt::format("sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.{}.rp_filter=1", run.ns.dev_b)));
    sh(craft(run.ns, "spoofed", 7209, "10.99.0.5"));
    auto events = run.stop();
    auto match = to_b(run.ns, "UDP", 7209);
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"ip.rp_filter_reason"}) << run.tracer->out();
    json e = first(events, "ip.rp_filter_reason", match);
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["packet"]["saddr"], "10.99.0.5");
    EXPECT_EQ(e["reason"], "IP_RPFILTER");
}

TEST(PacksE2E, NoRouteIn)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh(run.ns.in_b("sysctl -qw net.ipv4.ip_forward=1"));
    // B forwards, but has no route to 10.77.0.0/16.
    sh(run.ns.in_a(fmt::format("{} {} {} 10.77.0.9 to-mac 7210 {},{}", kPy, kCraft, run.ns.dev_a, run.ns.mac_b, run.ns.addr_a)));
    auto events = run.stop();
    auto match = [&](const json& e) { return e.contains("packet") && e["packet"]["daddr"] == "10.77.0.9" && e["packet"]["dport"] == 7210; };
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"ip.no_route_in"}) << run.tracer->out();
}

TEST(PacksE2E, NoRouteOut)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    const Namespaces& ns = run.ns;
    listen_in_b(ns, 7211);
    // A connects, loses its route to B, then sends: the segment has nowhere to go.
    sh(ns.in_a(fmt::format("{} -c \"import socket,subprocess,time; s=socket.create_connection(('{}',7211)); "
                           "subprocess.run(['ip','route','del','{}/24','dev','{}']); s.send(b'data'*10); time.sleep(0.5)\"",
                           kPy, ns.addr_b, ns.addr_b.substr(0, ns.addr_b.rfind('.')) + ".0", ns.dev_a)));
    auto events = run.stop();
    std::set<std::string> rules;
    for (const json& e : events)
        if (e["reason"] == "IP_OUTNOROUTES" && e["netns"] == ns.inode_a) rules.insert(e["rule"].get<std::string>());
    EXPECT_EQ(rules, std::set<std::string>{"ip.no_route_out"}) << run.tracer->out();
}

TEST(PacksE2E, BadIpHeaderChecksum)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh(craft(run.ns, "ip-bad-csum", 7212));
    auto events = run.stop();
    auto match = to_b(run.ns, "UDP", 7212);
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"ip.bad_header"}) << run.tracer->out();
    EXPECT_EQ(first(events, "ip.bad_header", match)["reason"], "IP_CSUM");
}

TEST(PacksE2E, FragmentReassemblyTimeout)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh(run.ns.in_b("sysctl -qw net.ipv4.ipfrag_time=1"));
    sh(craft(run.ns, "first-fragment", 7213));
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the queue expires after 1 s
    auto events = run.stop();
    auto match = to_b(run.ns, "UDP", 7213);
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"ip.fragment_timeout"}) << run.tracer->out();
    json e = first(events, "ip.fragment_timeout", match);
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["reason"], "FRAG_REASM_TIMEOUT");
    EXPECT_EQ(e["packet"]["dev"], run.ns.dev_b);
}

TEST(PacksE2E, DuplicateFragment)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh(craft(run.ns, "dup-fragment", 7214));
    auto events = run.stop();  // before the fragment queue times out
    auto match = to_b(run.ns, "UDP", 7214);
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"ip.fragment_overlap"}) << run.tracer->out();
    EXPECT_EQ(first(events, "ip.fragment_overlap", match)["reason"], "DUP_FRAG");
}

TEST(PacksE2E, NetfilterDrop)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh(run.ns.in_b("iptables -A INPUT -p tcp --dport 7215 -j DROP"));
    sh(run.ns.in_a(fmt::format("{} {} tcp-connect {} 7215 1", kPy, kTraffic, run.ns.addr_b)));
    auto events = run.stop();
    auto match = to_b(run.ns, "TCP", 7215);
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"netfilter.drop"}) << run.tracer->out();
    json e = first(events, "netfilter.drop", match);
    ASSERT_FALSE(e.is_null());
    EXPECT_NE(e["message"].get<std::string>().find("in nft_do_chain"), std::string::npos) << e["message"];
}

TEST(PacksE2E, FrameForAnotherHost)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh(run.ns.in_b(fmt::format("ip link set {} promisc on", run.ns.dev_b)));
    sh(craft(run.ns, "other-host", 7216, "02:00:00:00:00:99"));
    auto events = run.stop();
    auto match = to_b(run.ns, "UDP", 7216);
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"dev.other_host"}) << run.tracer->out();
    EXPECT_EQ(first(events, "dev.other_host", match)["reason"], "OTHERHOST");
}

TEST(PacksE2E, QdiscDrop)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh(run.ns.in_a(fmt::format("tc qdisc add dev {} root tbf rate 100kbit burst 1600 limit 3000", run.ns.dev_a)));
    sh(run.ns.in_a(fmt::format("{} {} udp-flood {} 7217 100 1000", kPy, kTraffic, run.ns.addr_b)));
    auto events = run.stop();
    auto match = [&](const json& e) {
        return e.contains("packet") && e["packet"]["dport"] == 7217 && e["packet"]["daddr"] == run.ns.addr_b && e["netns"] == run.ns.inode_a;
    };
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"dev.qdisc"}) << run.tracer->out();
    EXPECT_EQ(first(events, "dev.qdisc", match)["reason"], "QDISC_DROP");
}

TEST(PacksE2E, NeighbourQueueFull)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    std::string unknown = run.ns.addr_b.substr(0, run.ns.addr_b.rfind('.')) + ".78";  // on the link, nobody there
    sh(run.ns.in_a(fmt::format("sysctl -qw net.ipv4.neigh.{}.unres_qlen_bytes=600", run.ns.dev_a)));
    sh(run.ns.in_a(fmt::format("{} {} udp-flood {} 7218 20 100", kPy, kTraffic, unknown)));
    auto events = run.stop();
    auto match = [&](const json& e) { return e.contains("packet") && e["packet"]["daddr"] == unknown && e["packet"]["dport"] == 7218; };
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"dev.neighbour"}) << run.tracer->out();
    EXPECT_EQ(first(events, "dev.neighbour", match)["reason"], "NEIGH_QUEUEFULL");
}

TEST(PacksE2E, TcIngressDrop)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    ASSERT_TRUE(tc_drop_all(run.ns.b, run.ns.dev_b));
    // B answers no ARP any more: tell A its address, so the datagrams leave.
    sh(run.ns.in_a(fmt::format("ip neigh replace {} lladdr {} dev {}", run.ns.addr_b, run.ns.mac_b, run.ns.dev_a)));
    sh(run.ns.in_a(fmt::format("{} {} udp-flood {} 7219 3 10", kPy, kTraffic, run.ns.addr_b)));
    auto events = run.stop();
    auto match = to_b(run.ns, "UDP", 7219);
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"dev.tc_xdp"}) << run.tracer->out();
    EXPECT_EQ(first(events, "dev.tc_xdp", match)["reason"], "TC_INGRESS");
}

TEST(PacksE2E, FallbackReportsReasonsNoOtherRuleNames)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh(craft(run.ns, "no-proto"));
    auto events = run.stop();
    auto match = [&](const json& e) {
        return e.contains("packet") && e["packet"]["daddr"] == run.ns.addr_b && e["packet"]["proto"] == "proto 253";
    };
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"reasons.other"}) << run.tracer->out();
    json e = first(events, "reasons.other", match);
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["reason"], "IP_NOPROTO");
    EXPECT_EQ(e["message"].get<std::string>().rfind("IP_NOPROTO at ip_local_deliver", 0), 0u) << e["message"];
    EXPECT_NE(e["hint"].get<std::string>().find("no handler for this IP protocol"), std::string::npos) << e["hint"];
}

TEST(PacksE2E, NoiseIsCountedNotReportedUnlessAll)
{
    NEED_ROOT_AND_BPF();
    // A UDP socket closed with unread datagrams frees them (NOT_SPECIFIED in
    // udp_destruct_common): housekeeping, not a drop.
    auto purge = [](const Namespaces& ns) {
        sh_background(ns.in_b(fmt::format("{} -c \"import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                                          "s.bind(('0.0.0.0',7220)); time.sleep(1); s.close(); time.sleep(0.5)\"",
                                          kPy)));
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        sh(ns.in_a(fmt::format("{} {} udp-flood {} 7220 3 100", kPy, kTraffic, ns.addr_b)));
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    };
    auto purged = [](const std::vector<json>& events, const Namespaces& ns) {
        for (const json& e : events)
            if (e["rule"] == "reasons.other" && e["reason"] == "NOT_SPECIFIED" && e.contains("packet") && e["packet"]["dport"] == 7220 &&
                e["packet"]["daddr"] == ns.addr_b)
                return true;
        return false;
    };
    {
        PackRun run;
        START(run);
        purge(run.ns);
        auto events = run.stop();
        EXPECT_FALSE(purged(events, run.ns)) << run.tracer->out();
        auto c = run.tracer->counters("reasons.other");
        ASSERT_EQ(c.size(), 5u) << run.tracer->err();
        EXPECT_GT(c[4], 0u) << "the purge is counted as noise\n" << run.tracer->err();
    }
    {
        PackRun run({"--all"});
        START(run);
        purge(run.ns);
        EXPECT_TRUE(purged(run.stop(), run.ns)) << run.tracer->out();
    }
}

}  // namespace
}  // namespace e2e
