// run --pcap and --filter end to end: real drops between the tests' own
// namespaces, the capture read back by our own pcapng reader, by tshark and
// by libpcap, and --filter checked against libpcap's own interpreter.
#include <pcap/pcap.h>

#include <algorithm>
#include <cstring>

#include "tests/e2e/e2e_support.h"
#include "tests/e2e/tc_drop.h"

namespace e2e {
namespace {

const std::string kPacks = RTD_SOURCE_DIR "/rules";
const std::string kCorpus = RTD_SOURCE_DIR "/tests/e2e/pcap_corpus.py";

// What the test needs of a pcapng file: its interfaces and its packets,
// read block by block (host byte order, as the writer writes).
struct Capture {
    struct Interface {
        std::uint16_t linktype = 0;
        std::string name;
    };
    struct Packet {
        std::uint32_t interface = 0, orig_len = 0, flags = 0;
        std::string bytes, comment;
    };
    std::vector<Interface> interfaces;
    std::vector<Packet> packets;
    int statistics = 0;  // Interface Statistics Blocks
    bool ok = false;
};

std::uint32_t u32(const std::string& s, std::size_t at)
{
    std::uint32_t v = 0;
    std::memcpy(&v, s.data() + at, 4);
    return v;
}

// The options from `at` to the block's end: code -> values.
std::multimap<std::uint16_t, std::string> options(const std::string& s, std::size_t at, std::size_t end)
{
    std::multimap<std::uint16_t, std::string> out;
    while (at + 4 <= end) {
        std::uint16_t code = 0, len = 0;
        std::memcpy(&code, s.data() + at, 2);
        std::memcpy(&len, s.data() + at + 2, 2);
        if (code == 0 || at + 4 + len > end) break;
        out.emplace(code, s.substr(at + 4, len));
        at += 4 + ((len + 3u) & ~3u);
    }
    return out;
}

Capture read_capture(const std::string& path)
{
    Capture c;
    const std::string s = slurp(path);
    std::size_t at = 0;
    while (at + 12 <= s.size()) {
        const std::uint32_t type = u32(s, at), len = u32(s, at + 4);
        if (len < 12 || len % 4 || at + len > s.size() || u32(s, at + len - 4) != len) return c;
        const std::size_t end = at + len - 4;
        if (type == 0x0A0D0D0A) {
            c.interfaces.clear();  // a new section
        } else if (type == 1) {
            Capture::Interface i;
            std::memcpy(&i.linktype, s.data() + at + 8, 2);
            auto o = options(s, at + 16, end);
            if (auto n = o.find(2); n != o.end()) i.name = n->second;
            c.interfaces.push_back(i);
        } else if (type == 6) {
            Capture::Packet p;
            p.interface = u32(s, at + 8);
            const std::uint32_t caplen = u32(s, at + 20);
            p.orig_len = u32(s, at + 24);
            p.bytes = s.substr(at + 28, caplen);
            auto o = options(s, at + 28 + ((caplen + 3u) & ~3u), end);
            if (auto n = o.find(1); n != o.end()) p.comment = n->second;
            if (auto n = o.find(2); n != o.end() && n->second.size() == 4) p.flags = u32(n->second, 0);
            c.packets.push_back(p);
        } else if (type == 5) {
            ++c.statistics;
        }
        at += len;
    }
    c.ok = at == s.size();
    return c;
}

// The packets of a libpcap-readable file (the corpus scapy wrote).
std::vector<std::string> read_pcap(const std::string& path)
{
    std::vector<std::string> out;
    char error[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), error);
    if (!p) return out;
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(p, &h, &data) == 1) out.emplace_back(reinterpret_cast<const char*>(data), h->caplen);
    pcap_close(p);
    return out;
}

// libpcap's own verdict on whole Ethernet frames.
std::multiset<std::string> libpcap_accepts(const std::string& expr, const std::vector<std::string>& frames)
{
    std::multiset<std::string> out;
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    bpf_program prog{};
    if (pcap_compile(dead, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        ADD_FAILURE() << expr << ": " << pcap_geterr(dead);
        pcap_close(dead);
        return out;
    }
    for (const std::string& f : frames) {
        pcap_pkthdr h{};
        h.caplen = h.len = static_cast<bpf_u_int32>(f.size());
        if (pcap_offline_filter(&prog, &h, reinterpret_cast<const u_char*>(f.data()))) out.insert(f);
    }
    pcap_freecode(&prog);
    pcap_close(dead);
    return out;
}

// ≥ 50 expressions: protocols, ports, hosts, nets (v4 and v6), TCP flags,
// VLAN, lengths, fragments, ICMP types, raw byte tests and negations.
const std::vector<std::string> kExpressions = {
    "tcp", "udp", "icmp", "ip6", "ip", "arp", "vlan", "vlan 100", "vlan and udp", "vlan 200 and ip6", "not vlan",
    "tcp port 443", "port 53", "udp port 123", "tcp dst port 8080", "src port 22", "portrange 50-130",
    "host 10.1.0.1", "src host 192.168.1.10", "dst host 172.16.5.4", "net 192.168.1.0/24", "src net 10.1.0.0/16 and tcp",
    "not net 10.0.0.0/8", "host 2001:db8::1", "ip6 net 2001:db8::/32", "ip6 and tcp", "ip6 and udp port 53", "icmp6",
    "icmp6 and ip6[40] == 128", "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)",
    "tcp[tcpflags] & tcp-rst != 0", "tcp[tcpflags] == tcp-fin|tcp-ack", "tcp[13] & 32 != 0", "tcp[tcpflags] & tcp-ece != 0",
    "len > 1000", "len <= 100", "greater 500", "less 80", "ip[8] == 1", "ip6[7] == 255", "ip[6:2] & 0x1fff != 0",
    "ip[6] & 0x20 != 0", "ip and udp and not ip[6:2] & 0x1fff != 0", "icmp[icmptype] == icmp-echo",
    "icmp[icmptype] == icmp-unreach and icmp[icmpcode] == 3", "not tcp and not udp", "not (port 22 or port 443)",
    "tcp and (port 80 or port 8080) and not host 10.1.0.2", "udp and len < 200", "ether proto 0x0806", "ether[12:2] == 0x8100",
    "arp and arp[7] == 2", "proto 17", "ip proto 1", "ip6 proto 58", "tcp src portrange 1-100 and dst port 443",
    "udp[8:4] == 0x72746430", "ip[2:2] > 500", "vlan and ip6 and tcp port 443", "ether[12:2] == 0x88a8 and vlan and vlan 101",
};

// The namespaces with B's ingress dropping every frame (TC_INGRESS), and
// the corpus written for A's and B's MACs.
struct DropAll {
    explicit DropAll(const Namespaces& ns, const std::string& dir) : corpus(dir + "/corpus.pcap")
    {
        const std::string mac_a = sh_out(ns.in_a(fmt::format("cat /sys/class/net/{}/address", ns.dev_a)));
        ok = sh(ns.in_a("sysctl -qw net.ipv6.conf.all.disable_ipv6=1")) == 0 &&
             tc_drop_all(ns.b, ns.dev_b) &&
             sh(ns.in_a(fmt::format("{} {} write {} {} {}", kPy, kCorpus, corpus, mac_a.substr(0, 17), ns.mac_b))) == 0;
        frames = read_pcap(corpus);
    }
    std::string corpus;
    std::vector<std::string> frames;
    bool ok = false;
};

std::multiset<std::string> packets_of(const Capture& c)
{
    std::multiset<std::string> out;
    for (const Capture::Packet& p : c.packets) out.insert(p.bytes);
    return out;
}

// Frames in `a` and not in `b`, described (the first few).
std::string missing(const std::multiset<std::string>& a, const std::multiset<std::string>& b)
{
    std::vector<std::string> diff;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(diff));
    std::string out = fmt::format("{} frame(s)", diff.size());
    for (std::size_t i = 0; i < diff.size() && i < 3; ++i) {
        out += "\n   ";
        for (std::size_t k = 0; k < diff[i].size() && k < 48; ++k) out += fmt::format(" {:02x}", static_cast<unsigned char>(diff[i][k]));
    }
    return out;
}

TEST(PcapE2E, KernelFilterAcceptsWhatLibpcapAccepts)
{
    NEED_ROOT_AND_BPF();
    ASSERT_GE(kExpressions.size(), 50u);
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    TempFiles tmp("pcapdiff");
    DropAll drop(ns, tmp.path);
    ASSERT_TRUE(drop.ok);
    ASSERT_GE(drop.frames.size(), 300u);
    const std::multiset<std::string> sent(drop.frames.begin(), drop.frames.end());
    // Runs side by side, each with its own filter, see the same drops; a
    // batch at a time keeps the machine's memory and compiles in bounds.
    const std::size_t batch = 12;
    for (std::size_t first = 0; first < kExpressions.size(); first += batch) {
        const std::size_t last = std::min(first + batch, kExpressions.size());
        std::vector<std::unique_ptr<DropTracer>> runs;
        auto args = [&](const std::string& file) {
            return std::vector<std::string>{kPacks + "/dev", "-i", "dev.tc_xdp", "--netns", ns.b, "--snaplen", "2048", "--pcap", file, "-q"};
        };
        runs.push_back(std::make_unique<DropTracer>(args(tmp.path + "/all.pcapng")));
        for (std::size_t i = first; i < last; ++i) {
            std::vector<std::string> a = args(fmt::format("{}/{}.pcapng", tmp.path, i));
            a.insert(a.end(), {"--filter", kExpressions[i]});
            runs.push_back(std::make_unique<DropTracer>(a));
        }
        for (auto& r : runs) ASSERT_TRUE(r->ready(std::chrono::seconds(300))) << r->err();
        ASSERT_EQ(sh(ns.in_a(fmt::format("{} {} send {} {}", kPy, kCorpus, drop.corpus, ns.dev_a))), 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        for (auto& r : runs) EXPECT_EQ(r->stop(), 0) << r->err();
        // Every frame sent was dropped and captured byte for byte (VLAN tags
        // the kernel took off put back), nothing else.
        const Capture all = read_capture(tmp.path + "/all.pcapng");
        ASSERT_TRUE(all.ok) << runs[0]->err();
        const std::multiset<std::string> dropped = packets_of(all);
        EXPECT_EQ(dropped, sent) << "sent, not captured: " << missing(sent, dropped) << "\ncaptured, not sent: " << missing(dropped, sent);
        for (std::size_t i = first; i < last; ++i) {
            const std::string& expr = kExpressions[i];
            const Capture got = read_capture(fmt::format("{}/{}.pcapng", tmp.path, i));
            ASSERT_TRUE(got.ok) << expr << "\n" << runs[i - first + 1]->err();
            const std::multiset<std::string> reported = packets_of(got), expected = libpcap_accepts(expr, {dropped.begin(), dropped.end()});
            EXPECT_EQ(reported, expected) << "'" << expr << "': libpcap accepts, not reported: " << missing(expected, reported)
                                          << "\nreported, libpcap refuses: " << missing(reported, expected);
            // What the filter refused was counted, not lost.
            std::map<std::string, unsigned long long> c = runs[i - first + 1]->counter_columns("dev.tc_xdp");
            EXPECT_EQ(c["FILTERED"], dropped.size() - reported.size()) << expr;
        }
    }
}


std::vector<std::vector<std::string>> tshark_fields(const std::string& file, const std::vector<std::string>& fields)
{
    std::string cmd = "tshark -r " + file + " -T fields -E separator=/t";
    for (const std::string& f : fields) cmd += " -e " + f;
    std::vector<std::vector<std::string>> rows;
    std::istringstream lines(sh_out(cmd + " 2>/dev/null"));
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> row;
        std::size_t at = 0;
        for (std::size_t tab; (tab = line.find('\t', at)) != std::string::npos; at = tab + 1) row.push_back(line.substr(at, tab - at));
        row.push_back(line.substr(at));
        rows.push_back(row);
    }
    return rows;
}

// UDP to a closed port and a SYN to another, both dropped in B for want
// of a socket: the file tshark reads holds exactly the events of the run,
// in order, each saying which rule dropped it and why.
TEST(PcapE2E, TsharkReadsEachDropWithItsRuleAndReason)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    TempFiles tmp("pcapshark");
    const std::string file = tmp.path + "/drops.pcapng";
    DropTracer run({kPacks + "/udp", kPacks + "/tcp", "-i", "udp.no_socket", "-i", "tcp.no_socket", "--netns", ns.b, "--json", "--pcap", file});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("{} {} udp-flood {} 7331 12 40", kPy, kTraffic, ns.addr_b)));
    for (int i = 0; i < 3; ++i) sh(ns.in_a(fmt::format("{} {} tcp-connect {} 7332 1", kPy, kTraffic, ns.addr_b)));
    ASSERT_EQ(run.stop(), 0) << run.err();
    std::vector<json> events;
    for (const json& e : run.events())
        if (e.contains("rule")) events.push_back(e);
    const auto rows = tshark_fields(file, {"frame.comment", "frame.interface_name", "ip.src", "ip.dst", "udp.srcport", "udp.dstport",
                                           "tcp.srcport", "tcp.dstport", "frame.packet_flags_direction", "frame.len", "ip.len"});
    ASSERT_GE(events.size(), 15u) << run.out() << run.err();
    ASSERT_EQ(rows.size(), events.size()) << sh_out("tshark -r " + file + " 2>&1");
    unsigned long long reported = 0;
    for (const char* rule : {"udp.no_socket", "tcp.no_socket"}) reported += run.counter_columns(rule)["EVENTS"];
    EXPECT_EQ(rows.size(), reported) << run.err();
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const json& e = events[i];
        const std::vector<std::string>& r = rows[i];
        ASSERT_EQ(r.size(), 11u);
        const bool udp = e["rule"] == "udp.no_socket";
        EXPECT_EQ(r[0].rfind(fmt::format("rtrace-drop: {} NO_SOCKET at {}", e["rule"].get<std::string>(), udp ? "__udp4_lib_rcv" : "tcp_v4_rcv"), 0), 0u) << r[0];
        EXPECT_NE(r[0].find(" \u2014 nothing listens on"), std::string::npos) << r[0];  // the hint
        EXPECT_EQ(r[1], fmt::format("{}@netns:{}", ns.dev_b, ns.inode_b));
        EXPECT_EQ(r[2], e["packet"]["saddr"]);
        EXPECT_EQ(r[3], e["packet"]["daddr"]);
        EXPECT_EQ(r[udp ? 4 : 6], std::to_string(e["packet"]["sport"].get<int>()));
        EXPECT_EQ(r[udp ? 5 : 7], std::to_string(e["packet"]["dport"].get<int>()));
        EXPECT_EQ(r[8], "0x00000001") << "inbound";
        EXPECT_EQ(std::stoul(r[9]), 14 + std::stoul(r[10])) << "the whole frame";
        if (udp) EXPECT_EQ(r[10], std::to_string(20 + 8 + 40));
    }
}

// `--pcap -`: standard output is the capture, read live by tshark; the
// reports go to standard error.
TEST(PcapE2E, StandardOutputPipesIntoTshark)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    TempFiles tmp("pcappipe");
    const std::string ready = tmp.path + "/ready", out = tmp.path + "/tshark.txt", err = tmp.path + "/err", done = tmp.path + "/done";
    sh_background(fmt::format("(XDG_CACHE_HOME=/tmp/rtd-e2e-cache {} run {}/udp -i udp.no_socket --netns {} --pcap - --duration 8 "
                              "--ready-file {} 2>{} | tshark -r - -T fields -e udp.dstport > {}; touch {})",
                              RTD_BINARY, kPacks, ns.b, ready, err, out, done));
    for (int i = 0; i < 1200 && !fs::exists(ready); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(fs::exists(ready)) << slurp(err);
    sh(ns.in_a(fmt::format("{} {} udp-flood {} 7333 7 10", kPy, kTraffic, ns.addr_b)));
    for (int i = 0; i < 600 && !fs::exists(done); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(fs::exists(done)) << "the pipeline did not end";
    EXPECT_NE(slurp(err).find("wrote 7 packet(s)"), std::string::npos) << slurp(err);
    EXPECT_EQ(slurp(out), "7333\n7333\n7333\n7333\n7333\n7333\n7333\n") << slurp(err);
}

// --pcap-rotate: the newest packets in FILE, older ones in FILE.1 and
// FILE.2, no more files than --pcap-files, each a capture of its own.
TEST(PcapE2E, RotationKeepsTheNewestFiles)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    TempFiles tmp("pcaprotate");
    const std::string file = tmp.path + "/drops.pcapng";
    DropTracer run({kPacks + "/udp", "-i", "udp.no_socket", "--netns", ns.b, "-q", "--pcap", file, "--pcap-rotate", "2K", "--pcap-files", "3",
                    "--snaplen", "128"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("{} {} udp-flood {} 7334 60 200", kPy, kTraffic, ns.addr_b)));
    ASSERT_EQ(run.stop(), 0) << run.err();
    EXPECT_NE(run.err().find("wrote 60 packet(s)"), std::string::npos) << run.err();
    EXPECT_TRUE(fs::exists(file) && fs::exists(file + ".1") && fs::exists(file + ".2"));
    EXPECT_FALSE(fs::exists(file + ".3"));
    double newest_before = 1e300;
    std::size_t kept = 0;
    for (const std::string& f : {file, file + ".1", file + ".2"}) {
        const auto rows = tshark_fields(f, {"frame.time_epoch", "frame.cap_len", "frame.len"});
        ASSERT_FALSE(rows.empty()) << f;
        kept += rows.size();
        for (const auto& r : rows) {
            EXPECT_EQ(r[1], "128") << "cut at the snapshot length";
            EXPECT_EQ(r[2], std::to_string(14 + 20 + 8 + 200));
            EXPECT_LE(std::stod(r[0]), newest_before) << f << " holds packets newer than the file after it";
        }
        newest_before = std::stod(rows.front()[0]);
        EXPECT_EQ(read_capture(f).statistics, 1) << f << ": its statistics at its end";
    }
    EXPECT_LT(kept, 60u) << "the oldest files were removed";
}

}  // namespace
}  // namespace e2e
