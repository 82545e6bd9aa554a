// `run --track` end to end (bpf-templates/rtd_track.bpf.h, docs/RUNNING.md):
// a connection from a client namespace through a bridge and a DNAT in a
// middle namespace to a backend whose port is closed; the drop's path names
// the devices, the bridge, the namespaces and where NAT changed the
// addresses. A flood held in a socket that never reads keeps the table
// within its bound and its evictions counted.
#include "tests/e2e/nat_path.h"

namespace e2e {
namespace {

const std::string kTcpPack = RTD_SOURCE_DIR "/rules/tcp";

// The drop happens after DNAT in B; the filter names the address the
// client used, which only the first hops saw.
TEST(TrackE2E, PathShowsBridgeNatAndNamespaces)
{
    NEED_ROOT_AND_BPF();
    NatPath net;
    ASSERT_TRUE(net.ok);
    DropTracer run({kTcpPack, "-i", "tcp.no_socket", "--json", "--track", "--where", "daddr == " + net.vip});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(fmt::format("ip netns exec {} {} {} tcp-connect {} 80 2", net.c, kPy, kTraffic, net.vip));
    EXPECT_EQ(run.stop(), 0) << run.err();
    EXPECT_NE(run.err().find("following packets at "), std::string::npos) << run.err();
    json drop = first(run.events(), "tcp.no_socket", [&](const json& e) { return e["packet"]["dport"] == 8080; });
    ASSERT_FALSE(drop.is_null()) << "the filter on the address before NAT lost the drop\n" << run.out() << run.err();
    EXPECT_EQ(drop["packet"]["daddr"], net.addr_b);
    const json& path = drop["path"];
    ASSERT_TRUE(path.is_object() && path["hops"].is_array()) << drop;
    EXPECT_EQ(path["matched"], true) << path;
    // Leaving the client: its own address and the VIP, in its namespace.
    json out_of_c = hop_where(path, [&](const json& h) { return h["dev"] == net.dev_c; });
    ASSERT_FALSE(out_of_c.is_null()) << path;
    EXPECT_EQ(out_of_c["netns"], net.inode_c) << out_of_c;
    EXPECT_EQ(out_of_c["daddr"], net.vip) << out_of_c;
    EXPECT_EQ(out_of_c["dport"], 80) << out_of_c;
    EXPECT_EQ(out_of_c["matched"], true) << out_of_c;
    // The other end of the veth, a port of the bridge in M.
    json port = hop_where(path, [&](const json& h) { return h["dev"] == net.dev_m0; });
    ASSERT_FALSE(port.is_null()) << path;
    EXPECT_EQ(port["master"], net.bridge) << port;
    EXPECT_EQ(port["netns"], net.inode_m) << port;
    EXPECT_EQ(port["daddr"], net.vip) << port;
    // Where the destination changed: marked, the backend's address after it.
    json nat = hop_where(path, [&](const json& h) { return h["nat"] == "dnat"; });
    ASSERT_FALSE(nat.is_null()) << path;
    EXPECT_EQ(nat["daddr"], net.addr_b) << nat;
    EXPECT_EQ(nat["dport"], 8080) << nat;
    EXPECT_EQ(nat["netns"], net.inode_m) << nat;
    // Into the backend's namespace, where it was dropped.
    const json& last = path["hops"].back();
    EXPECT_EQ(last["dev"], net.dev_b) << path;
    EXPECT_EQ(last["netns"], net.inode_b) << path;
    // The order they were seen in.
    std::vector<std::string> devs;
    for (const json& h : path["hops"]) devs.push_back(h["dev"]);
    auto at = [&](const std::string& d) { return std::find(devs.begin(), devs.end(), d) - devs.begin(); };
    EXPECT_LT(at(net.dev_c), at(net.dev_m0));
    EXPECT_LT(at(net.dev_m0), at(net.dev_m1));
    EXPECT_LT(at(net.dev_m1), at(net.dev_b));
    EXPECT_NE(run.err().find("drop(s) with a path"), std::string::npos) << run.err();
}

// The same drop in text: the path under the event line, NAT marked; a
// --filter on the address before NAT matched at the first hop.
TEST(TrackE2E, TextShowsThePathUnderTheDrop)
{
    NEED_ROOT_AND_BPF();
    NatPath net;
    ASSERT_TRUE(net.ok);
    // libpcap's filter on the address before NAT: it matches at a hop, so the drop is reported.
    DropTracer run({kTcpPack, "-i", "tcp.no_socket", "--track", "--track-hops", "4", "--filter", "dst host " + net.vip});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(fmt::format("ip netns exec {} {} {} tcp-connect {} 80 2", net.c, kPy, kTraffic, net.vip));
    EXPECT_EQ(run.stop(), 0) << run.err();
    const std::string out = run.out();
    EXPECT_TRUE(line_with(out, {"tcp.no_socket", net.addr_b + ":8080"})) << out;
    EXPECT_TRUE(line_with(out, {"path: ", "hops over"})) << out;
    EXPECT_TRUE(line_with(out, {net.dev_c, fmt::format("netns {}", net.inode_c), net.vip + ":80", "(matched)"})) << out;
    // Five hops, four kept: the first and the three latest.
    EXPECT_TRUE(line_with(out, {"not kept (--track-hops 4)"})) << out;
    EXPECT_TRUE(line_with(out, {net.dev_b, fmt::format("netns {}", net.inode_b)})) << out;
}

// --summary counted in the kernel: the drop's flow is the one the client
// opened (the VIP, before DNAT), as its first hop saw it.
TEST(TrackE2E, SummaryGroupsFlowsByTheirFirstHop)
{
    NEED_ROOT_AND_BPF();
    NatPath net;
    ASSERT_TRUE(net.ok);
    DropTracer run({kTcpPack, "-i", "tcp.no_socket", "--summary", "--track"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(fmt::format("ip netns exec {} {} {} tcp-connect {} 80 2", net.c, kPy, kTraffic, net.vip));
    EXPECT_EQ(run.stop(), 0) << run.err();
    const std::string out = run.out();
    EXPECT_TRUE(line_with(out, {"tcp.no_socket", fmt::format("TCP {} > {}:80", net.addr_c, net.vip)})) << out;
    EXPECT_FALSE(line_with(out, {"tcp.no_socket", net.addr_b + ":8080"})) << out;
}

// Three namespaces C, D and E on the ports of one bridge in M (no routing):
// 10.N.1.2, .3 and .4. D and E drop UDP to port 7631.
class Bridged {
public:
    Bridged()
    {
        const int id = getpid() % 100000;
        n = 120 + getpid() % 50;
        bridge = fmt::format("rtdc{}br", id);
        m = fmt::format("rtd-trc-{}-m", id);
        ok = sh("ip netns add " + m) == 0 && sh(fmt::format("ip -n {} link add {} type bridge", m, bridge)) == 0 &&
             sh(fmt::format("ip -n {} link set {} up", m, bridge)) == 0;
        for (const char* end : {"c", "d", "e"}) {
            const std::string ns = fmt::format("rtd-trc-{}-{}", id, end), dev = fmt::format("rtdc{}{}", id, end),
                              port = fmt::format("rtdc{}m{}", id, end);
            const int host = end[0] == 'c' ? 2 : end[0] == 'd' ? 3 : 4;
            for (const std::string& step : {"ip netns add " + ns, fmt::format("ip link add {} type veth peer name {}", dev, port),
                                            fmt::format("ip link set {} netns {}", dev, ns), fmt::format("ip link set {} netns {}", port, m),
                                            fmt::format("ip -n {} link set {} master {}", m, port, bridge),
                                            fmt::format("ip -n {} addr add 10.{}.1.{}/24 dev {}", ns, n, host, dev),
                                            fmt::format("ip -n {} link set {} up", ns, dev), fmt::format("ip -n {} link set {} up", m, port),
                                            fmt::format("ip netns exec {} iptables -A INPUT -p udp --dport 7631 -j DROP", ns)})
                ok = ok && sh(step) == 0;
            names.push_back(ns);
            devs.push_back(dev);
            ports.push_back(port);
        }
    }
    ~Bridged()
    {
        for (const std::string& ns : names) sh("ip netns del " + ns);
        sh("ip netns del " + m);
    }
    std::string addr(int i) const { return fmt::format("10.{}.1.{}", n, 2 + i); }
    int n = 0;
    std::string m, bridge;
    std::vector<std::string> names, devs, ports;  // C, D, E: their namespace, their veth end, its peer (a bridge port)
    bool ok = false;
};

// The devices of a drop's path, in order.
std::vector<std::string> path_devs(const json& drop)
{
    std::vector<std::string> devs;
    for (const json& h : drop["path"]["hops"]) devs.push_back(h["dev"]);
    return devs;
}

// A bridge floods a broadcast to each port as a clone of the frame it
// received. Each clone dropped behind its port continues the original's
// path (the client's hops first, then its own port, marked), not its
// sibling's.
TEST(TrackE2E, FloodedClonesContinueTheirOriginalsPath)
{
    NEED_ROOT_AND_BPF();
    Bridged net;
    ASSERT_TRUE(net.ok);
    DropTracer run({RTD_SOURCE_DIR "/rules/netfilter", "-i", "netfilter.drop", "--json", "--track"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(fmt::format("ip netns exec {} {} -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                   "s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1); s.sendto(b'b' * 16, ('10.{}.1.255', 7631))\"",
                   net.names[0], kPy, net.n));
    EXPECT_EQ(run.stop(), 0) << run.err();
    for (int i : {1, 2}) {
        SCOPED_TRACE(net.devs[i]);
        json drop = first(run.events(), "netfilter.drop", [&](const json& e) { return e["packet"]["dev"] == net.devs[i]; });
        ASSERT_FALSE(drop.is_null()) << run.out() << run.err();
        const std::vector<std::string> devs = path_devs(drop);
        ASSERT_GE(devs.size(), 3u) << drop;
        EXPECT_EQ(devs[0], net.devs[0]) << drop;
        json port = hop_where(drop["path"], [&](const json& h) { return h["dev"] == net.ports[i]; });
        ASSERT_FALSE(port.is_null()) << drop;
        EXPECT_EQ(port["clone"], true) << port;
        EXPECT_EQ(port["master"], net.bridge) << port;
        EXPECT_EQ(std::count(devs.begin(), devs.end(), net.ports[3 - i]), 0) << "a sibling's port in the path: " << drop;
        EXPECT_EQ(devs.back(), net.devs[i]) << drop;
    }
    EXPECT_NE(run.err().find("clone(s) continued their original's path"), std::string::npos) << run.err();
}

// A connection between two containers on one bridge: veth keeps the
// sender's socket on the skb, so a packet leaving by the other port with a
// socket is not taken for a new one. The drop in D shows the way from C.
TEST(TrackE2E, BridgedPacketKeepsItsPathAcrossPorts)
{
    NEED_ROOT_AND_BPF();
    Bridged net;
    ASSERT_TRUE(net.ok);
    DropTracer run({kTcpPack, "-i", "tcp.no_socket", "--json", "--track"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(fmt::format("ip netns exec {} {} {} tcp-connect {} 7632 2", net.names[0], kPy, kTraffic, net.addr(1)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    json drop = first(run.events(), "tcp.no_socket", [&](const json& e) { return e["packet"]["dport"] == 7632; });
    ASSERT_FALSE(drop.is_null()) << run.out() << run.err();
    EXPECT_EQ(path_devs(drop), (std::vector<std::string>{net.devs[0], net.ports[0], net.ports[1], net.devs[1]})) << drop;
}

// A socket that never reads holds every datagram: more live packets than
// the table holds. It stays within its size, the evictions are counted, and
// the run ends normally.
TEST(TrackE2E, FloodStaysWithinTheTableAndCountsEvictions)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    TempFiles tmp("track");
    sh_background(ns.in_b(fmt::format("{} {} udp-sink 7620 4000000 20 {}/rcvbuf", kPy, kTraffic, tmp.path)));
    for (int i = 0; i < 100 && !fs::exists(tmp.path + "/rcvbuf"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    DropTracer run({kTcpPack, "-i", "tcp.no_socket", "--track", "--track-size", "64"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("{} {} udp-flood {} 7620 500 16", kPy, kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    sh(fmt::format("pkill -f 'udp-sink 7620 4000000 20 {}/'", tmp.path));
    const std::string err = run.err();
    // "tracking: N packet(s) followed over H hop(s), F freed, E evicted (...), L still followed"
    const auto at = err.find("tracking: ");
    ASSERT_NE(at, std::string::npos) << err;
    unsigned long long created = 0, hops = 0, freed = 0, evicted = 0, live = 0;
    ASSERT_EQ(std::sscanf(err.c_str() + at, "tracking: %llu packet(s) followed over %llu hop(s), %llu freed, %llu evicted (table full, or freed unseen), %llu still followed",
                          &created, &hops, &freed, &evicted, &live),
              5)
        << err;
    std::printf("followed %llu over %llu hops: %llu freed, %llu evicted, %llu live (table of 64)\n", created, hops, freed, evicted, live);
    EXPECT_GE(created, 500u) << err;
    EXPECT_LE(live, 64u) << err;
    EXPECT_GE(evicted, 500u - 64u) << err;
    // The socket still holds the datagrams: evicted, not freed.
    EXPECT_LT(freed, 64u) << err;
}

}  // namespace
}  // namespace e2e
