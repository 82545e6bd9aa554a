// run --track in user space: ring records with an rtd_path, as the kernel
// writes them (hops round a ring of `kept`), decoded in the order the packet
// met them, with NAT told between hops and at the drop; their text lines,
// their JSON and their flow in the summary.
#include <arpa/inet.h>
#include <bpf/btf.h>
#include <linux/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf-templates/rtd_event.h"
#include "runtime/decoder.h"
#include "runtime/path_text.h"
#include "runtime/report.h"
#include "runtime/symbols.h"

namespace rtd {
namespace {

using nlohmann::json;

// The decoder names enums and drop reasons from BTF; these events have
// none, so a BTF without types will do.
const Btf& empty_btf()
{
    static const std::unique_ptr<Btf> btf = [] {
        struct btf* b = btf__new_empty();
        __u32 size = 0;
        const void* raw = btf__raw_data(b, &size);
        const std::string path = (std::filesystem::temp_directory_path() / ("rtd-path-test-" + std::to_string(getpid()) + ".btf")).string();
        std::FILE* f = std::fopen(path.c_str(), "wb");
        std::fwrite(raw, 1, size, f);
        std::fclose(f);
        btf__free(b);
        std::string error;
        auto loaded = Btf::load(path, error);
        std::filesystem::remove(path);
        if (!loaded) throw std::runtime_error("empty BTF: " + error);
        return loaded;
    }();
    return *btf;
}

// One rule: header, packet, stack, one u64 capture; as lower() lays it out.
CompiledRuleSet one_rule()
{
    CompiledRuleSet set;
    RuleEntry rule;
    rule.id = "t.path";
    rule.layer = 3;
    rule.condition = ConditionKind::Drop;
    rule.event.struct_name = "rtd_ev_0";
    rule.event.has_packet = true;
    rule.event.packet_offset = sizeof(rtd_event_header);
    rule.event.has_stack = true;
    rule.event.stack_offset = rule.event.packet_offset + sizeof(rtd_packet);
    EventField n;
    n.name = "n", n.kind = ValueKind::Unsigned, n.offset = rule.event.stack_offset + sizeof(rtd_stack);
    rule.event.fields.push_back(n);
    rule.event.size = n.offset + 8;
    set.rules.push_back(rule);
    return set;
}

void ipv4(__u8* out, const char* text) { ASSERT_EQ(inet_pton(AF_INET, text, out), 1) << text; }

rtd_hop hop(std::uint64_t ns, const char* dev, std::uint16_t places, const char* saddr = nullptr, std::uint16_t sport = 0,
            const char* daddr = nullptr, std::uint16_t dport = 0)
{
    rtd_hop h{};
    h.time_ns = ns;
    h.netns = 4026532301;
    h.ifindex = 7;
    h.len = 60;
    std::strncpy(h.dev, dev, sizeof h.dev - 1);
    h.places = places;
    if (saddr) {
        h.family = 2, h.proto = 6, h.tcp_flags = 0x02;
        ipv4(h.saddr, saddr), ipv4(h.daddr, daddr);
        h.sport = sport, h.dport = dport;
    }
    return h;
}

// As rtd_track.bpf.h appends: hop[0] first, then round hop[1..kept-1].
void append(rtd_path& p, const rtd_hop& h)
{
    const std::uint32_t slot = p.hops == 0 ? 0 : p.kept == 1 ? 0 : 1 + (p.hops - 1) % (p.kept - 1);
    if (p.hops == 0 || p.kept > 1) p.hop[slot] = h;
    p.last = static_cast<__u8>(slot);
    ++p.hops;
}

rtd_packet packet(const char* saddr, std::uint16_t sport, const char* daddr, std::uint16_t dport)
{
    rtd_packet p{};
    p.family = 2, p.proto = 6, p.tcp_flags = 0x02, p.len = 60, p.ifindex = 9;
    ipv4(p.saddr, saddr), ipv4(p.daddr, daddr);
    p.sport = sport, p.dport = dport;
    std::strcpy(p.dev, "veth-m1");
    return p;
}

// A ring record: the rule's event, then the path, then the capture (each
// only with its flag).
std::vector<std::uint8_t> record(const EventSchema& s, std::uint64_t ns, const rtd_packet& pkt, const rtd_path* path,
                                 const std::vector<std::uint8_t>* capture = nullptr)
{
    rtd_event_header h{};
    h.time_ns = ns;
    h.netns = 4026532301;
    h.flags = RTD_EV_PACKET | (path ? RTD_EV_PATH : 0) | (capture ? RTD_EV_CAPTURE : 0);
    std::strcpy(h.comm, "curl");
    std::vector<std::uint8_t> r(s.size);
    std::memcpy(r.data(), &h, sizeof h);
    std::memcpy(r.data() + s.packet_offset, &pkt, sizeof pkt);
    if (path) r.insert(r.end(), reinterpret_cast<const std::uint8_t*>(path), reinterpret_cast<const std::uint8_t*>(path + 1));
    if (capture) {
        rtd_capture c{};
        c.caplen = c.origlen = static_cast<__u32>(capture->size());
        c.linktype = RTD_LINKTYPE_RAW;
        c.direction = RTD_DIR_IN;
        r.insert(r.end(), reinterpret_cast<const std::uint8_t*>(&c), reinterpret_cast<const std::uint8_t*>(&c + 1));
        r.insert(r.end(), capture->begin(), capture->end());
    }
    return r;
}

constexpr std::uint64_t kStart = 5023118842118ull;
const std::uint16_t kOut = RTD_HOP_QUEUE | RTD_HOP_XMIT;
const std::uint16_t kIn = RTD_HOP_RX | RTD_HOP_RECEIVE;

// The brief's example: DNAT on the bridge's host, SNAT before the drop.
rtd_path nat_path()
{
    rtd_path p{};
    p.head = 0xffff8881044c2000ull;
    p.first_ns = kStart;
    p.kept = 8;
    p.flags = RTD_PATH_MATCHED;
    rtd_hop h0 = hop(kStart, "veth-c", kOut, "10.77.1.2", 40412, "10.77.2.10", 80);
    h0.netns = 4026532245;
    h0.flags = RTD_HOP_MATCHED;
    rtd_hop h1 = hop(kStart + 31000, "veth-m0", kIn, "10.77.1.2", 40412, "10.77.2.10", 80);
    std::strcpy(h1.master, "br0");
    append(p, h0);
    append(p, h1);
    append(p, hop(kStart + 45000, "vxlan0", RTD_HOP_QUEUE));  // no IP header read there
    append(p, hop(kStart + 58000, "veth-m1", kOut, "10.77.1.2", 40412, "10.77.3.2", 8080));
    return p;
}

struct Decoded {
    CompiledRuleSet set = one_rule();
    EventDecoder decoder{set, empty_btf()};
    std::optional<DecodedEvent> decode(const std::vector<std::uint8_t>& r) const { return decoder.decode(r.data(), r.size()); }
};

template <typename Write>
std::string written(Write write)
{
    char* buf = nullptr;
    std::size_t size = 0;
    std::FILE* f = open_memstream(&buf, &size);
    write(f);
    std::fclose(f);
    std::string out(buf, size);
    std::free(buf);
    return out;
}

TEST(PathDecode, RingOrderWithOmittedHops)
{
    Decoded d;
    rtd_path p{};
    p.kept = 4;
    for (std::uint64_t j = 0; j < 7; ++j) append(p, hop(kStart + j * 1000, ("dev" + std::to_string(j)).c_str(), kOut));
    auto e = d.decode(record(d.set.rules[0].event, kStart + 9000, packet("10.0.0.1", 1, "10.0.0.2", 2), &p));
    ASSERT_TRUE(e && e->path);
    EXPECT_EQ(e->path->seen, 7u);
    EXPECT_EQ(e->path->kept, 4u);
    EXPECT_EQ(e->path->omitted, 3u);
    std::vector<std::string> devs;
    for (const HopInfo& h : e->path->hops) devs.push_back(h.dev);
    EXPECT_EQ(devs, (std::vector<std::string>{"dev0", "dev4", "dev5", "dev6"}));
    EXPECT_EQ(e->path->hops[3].mono_ns, kStart + 6000);
}

TEST(PathDecode, FewerHopsThanKeptAndDegenerateCounts)
{
    Decoded d;
    const rtd_packet pkt = packet("10.0.0.1", 1, "10.0.0.2", 2);
    auto devs_of = [&](const rtd_path& p) {
        auto e = d.decode(record(d.set.rules[0].event, kStart, pkt, &p));
        std::vector<std::string> devs;
        if (e && e->path)
            for (const HopInfo& h : e->path->hops) devs.push_back(h.dev);
        return devs;
    };
    rtd_path p{};
    p.kept = 8;
    for (int j = 0; j < 3; ++j) append(p, hop(kStart + j, ("d" + std::to_string(j)).c_str(), kIn));
    EXPECT_EQ(devs_of(p), (std::vector<std::string>{"d0", "d1", "d2"}));

    rtd_path one{};  // --track-hops 1: only the first hop
    one.kept = 1;
    for (int j = 0; j < 3; ++j) append(one, hop(kStart + j, ("d" + std::to_string(j)).c_str(), kIn));
    EXPECT_EQ(devs_of(one), (std::vector<std::string>{"d0"}));

    rtd_path bogus = p;  // a count the kernel cannot write reads as a full ring
    bogus.kept = 200;
    bogus.hops = 1000;
    EXPECT_EQ(devs_of(bogus).size(), std::size_t{RTD_TRACK_HOPS});
}

TEST(PathDecode, NatBetweenHopsAndAtTheDrop)
{
    Decoded d;
    const rtd_path p = nat_path();
    auto e = d.decode(record(d.set.rules[0].event, kStart + 91000, packet("10.77.9.9", 40412, "10.77.3.2", 8080), &p));
    ASSERT_TRUE(e && e->path);
    const auto& hops = e->path->hops;
    ASSERT_EQ(hops.size(), 4u);
    EXPECT_EQ(hops[1].nat, "");
    EXPECT_FALSE(hops[2].tuple);
    EXPECT_EQ(hops[2].nat, "");
    EXPECT_EQ(hops[3].nat, "dnat");  // against hop 1, the last one with a tuple
    EXPECT_EQ(e->path->nat_at_drop, "snat");
    EXPECT_TRUE(e->path->matched);
    EXPECT_TRUE(hops[0].matched);
    EXPECT_FALSE(hops[1].matched);
    EXPECT_EQ(hops[1].master, "br0");
}

TEST(PathDecode, NatRule)
{
    PacketInfo a{.family = 2, .proto = 6, .saddr = "10.0.0.1", .daddr = "10.0.0.2", .sport = 1000, .dport = 80};
    PacketInfo b = a;
    EXPECT_EQ(nat_change(a, b), "");
    b.sport = 2000;
    EXPECT_EQ(nat_change(a, b), "snat");
    b.daddr = "10.0.0.3";
    EXPECT_EQ(nat_change(a, b), "snat+dnat");
    b = a, b.dport = 8080;
    EXPECT_EQ(nat_change(a, b), "dnat");
    b.proto = 17;  // another protocol: encapsulation, not NAT
    EXPECT_EQ(nat_change(a, b), "");
    PacketInfo icmp{.family = 2, .proto = 1, .saddr = "10.0.0.1", .daddr = "10.0.0.2", .sport = 8, .dport = 0};
    PacketInfo reply = icmp;
    reply.sport = 0;  // type and code are not ports
    EXPECT_EQ(nat_change(icmp, reply), "");
    reply.saddr = "10.9.9.9";
    EXPECT_EQ(nat_change(icmp, reply), "snat");
    PacketInfo v6{.family = 10, .proto = 6, .saddr = "fd00::1", .daddr = "fd00::2", .sport = 1000, .dport = 80};
    EXPECT_EQ(nat_change(a, v6), "");
    EXPECT_EQ(nat_change(PacketInfo{}, PacketInfo{}), "");
    // A UDP tunnel's outer packet (VXLAN) and its inner UDP datagram.
    PacketInfo inner{.family = 2, .proto = 17, .saddr = "10.1.0.1", .daddr = "10.1.0.2", .sport = 5000, .dport = 7631};
    PacketInfo outer{.family = 2, .proto = 17, .saddr = "192.0.2.1", .daddr = "192.0.2.2", .sport = 51000, .dport = 4789};
    EXPECT_EQ(nat_change(inner, outer), "");
    EXPECT_EQ(nat_change(outer, inner), "");
    // A later fragment (no ports) and the packet reassembled from it.
    PacketInfo fragment = inner;
    fragment.sport = fragment.dport = 0;
    EXPECT_EQ(nat_change(fragment, inner), "");
    fragment.daddr = "10.1.0.9";
    EXPECT_EQ(nat_change(fragment, inner), "dnat");
    EXPECT_EQ(nat_text(a, PacketInfo{.family = 2, .proto = 6, .saddr = "10.0.0.9", .daddr = "10.0.0.7", .sport = 1000, .dport = 8080}),
              "SNAT 10.0.0.1:1000 -> 10.0.0.9:1000  DNAT 10.0.0.2:80 -> 10.0.0.7:8080");
}

TEST(PathDecode, WithoutTrackOrNotFollowed)
{
    Decoded d;
    const rtd_packet pkt = packet("10.0.0.1", 1, "10.0.0.2", 2);
    auto none = d.decode(record(d.set.rules[0].event, kStart, pkt, nullptr));
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->path);

    rtd_path empty{};  // first seen at the drop
    empty.kept = 8;
    auto e = d.decode(record(d.set.rules[0].event, kStart, pkt, &empty));
    ASSERT_TRUE(e && e->path);
    EXPECT_TRUE(e->path->hops.empty());
    EXPECT_EQ(e->path->nat_at_drop, "");
}

TEST(PathDecode, CaptureFollowsThePath)
{
    Decoded d;
    const rtd_path p = nat_path();
    const std::vector<std::uint8_t> bytes{0x45, 0x00, 0xde, 0xad};
    auto e = d.decode(record(d.set.rules[0].event, kStart, packet("10.0.0.1", 1, "10.0.0.2", 2), &p, &bytes));
    ASSERT_TRUE(e && e->path && e->bytes);
    EXPECT_EQ(e->path->hops.size(), 4u);
    EXPECT_EQ(e->bytes->data, bytes);
    EXPECT_EQ(e->bytes->linktype, RTD_LINKTYPE_RAW);
}

TEST(PathDecode, ShortRecordsLoseThePathNotTheDrop)
{
    Decoded d;
    const rtd_path p = nat_path();
    const std::vector<std::uint8_t> bytes{1, 2, 3, 4};
    const std::vector<std::uint8_t> full = record(d.set.rules[0].event, kStart, packet("10.0.0.1", 1, "10.0.0.2", 2), &p, &bytes);
    const std::size_t event_size = d.set.rules[0].event.size;
    for (std::size_t size = event_size; size < full.size(); ++size) {
        std::vector<std::uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size));  // exact: ASan sees overreads
        auto e = d.decode(cut);
        ASSERT_TRUE(e) << size;
        EXPECT_EQ(e->path.has_value(), size >= event_size + sizeof(rtd_path)) << size;
        EXPECT_FALSE(e->bytes) << size;
    }
    std::vector<std::uint8_t> too_short(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(event_size - 1));
    EXPECT_FALSE(d.decode(too_short));
}

TEST(PathText, HopsUnderTheEventLineBeforeTheStack)
{
    Decoded d;
    rtd_path p = nat_path();
    p.hop[3].xmit_rc = 16;  // NETDEV_TX_BUSY
    std::vector<std::uint8_t> r = record(d.set.rules[0].event, kStart + 91000, packet("10.77.9.9", 40412, "10.77.3.2", 8080), &p);
    rtd_stack stack{};
    stack.bytes = 8;
    stack.ips[0] = 0xffffffff81000000ull;
    std::memcpy(r.data() + d.set.rules[0].event.stack_offset, &stack, sizeof stack);
    reinterpret_cast<rtd_event_header*>(r.data())->flags |= RTD_EV_STACK;
    auto e = d.decode(r);
    ASSERT_TRUE(e && e->path);

    const std::vector<std::string> expected{
        "    path: 4 hops over 0.091 ms (packet 0xffff8881044c2000@5023.118842118)",
        "      +0.000 ms  queue,xmit    veth-c        netns 4026532245  10.77.1.2:40412 > 10.77.2.10:80 TCP [S]  (matched)",
        "      +0.031 ms  rx,receive    veth-m0@br0   netns 4026532301  10.77.1.2:40412 > 10.77.2.10:80 TCP [S]",
        "      +0.045 ms  queue         vxlan0        netns 4026532301  len 60",
        "      +0.058 ms  queue,xmit    veth-m1       netns 4026532301  10.77.1.2:40412 > 10.77.3.2:8080 TCP [S]  DNAT 10.77.2.10:80 -> "
        "10.77.3.2:8080  xmit rc=16",
        "      drop: SNAT 10.77.1.2:40412 -> 10.77.9.9:40412",
    };
    EXPECT_EQ(path_lines(*e, false), expected);

    KernelSymbols symbols;  // not loaded: addresses print as hex
    ReportContext ctx{d.set, &d.decoder, &symbols};
    const std::string text = written([&](std::FILE* f) { TextOutput(f, ctx, false, true).event(*e); });
    const std::size_t path_at = text.find("\n    path: ");
    ASSERT_NE(path_at, std::string::npos) << text;
    EXPECT_EQ(text.find('\n'), path_at) << "the path comes right under the event line\n" << text;
    EXPECT_NE(text.find("drop: SNAT"), std::string::npos) << text;
    EXPECT_LT(text.find("drop: SNAT"), text.find("    at ")) << text;

    const std::string colored = written([&](std::FILE* f) { TextOutput(f, ctx, true, true).event(*e); });
    EXPECT_NE(colored.find("\033[36mpath:\033[0m 4 hops"), std::string::npos) << colored;
}

TEST(PathText, OmittedHopsAndNotFollowed)
{
    Decoded d;
    rtd_path p{};
    p.head = 0x1000, p.first_ns = 2000000001, p.kept = 4;
    for (std::uint64_t j = 0; j < 7; ++j) append(p, hop(2000000001 + j * 1000, ("dev" + std::to_string(j)).c_str(), kOut));
    auto e = d.decode(record(d.set.rules[0].event, 2000000001 + 7000, packet("10.0.0.1", 1, "10.0.0.2", 2), &p));
    ASSERT_TRUE(e);
    const std::vector<std::string> lines = path_lines(*e, false);
    ASSERT_EQ(lines.size(), 6u);
    EXPECT_EQ(lines[0], "    path: 7 hops over 0.007 ms (packet 0x1000@2.000000001)");
    EXPECT_EQ(lines[1].substr(0, 32), "      +0.000 ms  queue,xmit    d");
    EXPECT_EQ(lines[2], "      ... 3 hops not kept (--track-hops 4)");
    EXPECT_NE(lines[3].find("+0.004 ms  queue,xmit    dev4"), std::string::npos) << lines[3];

    rtd_path empty{};
    empty.kept = 4;
    auto none = d.decode(record(d.set.rules[0].event, kStart, packet("10.0.0.1", 1, "10.0.0.2", 2), &empty));
    ASSERT_TRUE(none);
    EXPECT_EQ(path_lines(*none, false),
              (std::vector<std::string>{"    path: none (first seen at the drop: not yet followed, a copy, or its entry was evicted)"}));
    auto untracked = d.decode(record(d.set.rules[0].event, kStart, packet("10.0.0.1", 1, "10.0.0.2", 2), nullptr));
    ASSERT_TRUE(untracked);
    EXPECT_TRUE(path_lines(*untracked, false).empty());
}

TEST(PathJson, HopsAsObjectsInSortedKeys)
{
    Decoded d;
    const rtd_path p = nat_path();
    auto e = d.decode(record(d.set.rules[0].event, kStart + 91000, packet("10.77.9.9", 40412, "10.77.3.2", 8080), &p));
    ASSERT_TRUE(e);
    ReportContext ctx{d.set, &d.decoder, nullptr, 0, {}, false};
    const std::string line = written([&](std::FILE* f) { JsonOutput(f, ctx).event(*e); });
    json j = json::parse(line);
    EXPECT_EQ(line, j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n") << "keys out of order";
    const json& path = j.at("path");
    EXPECT_EQ(path["id"], "0xffff8881044c2000@5023.118842118");
    EXPECT_EQ(path["seen"], 4);
    EXPECT_EQ(path["omitted"], 0);
    EXPECT_EQ(path["kept"], 8);
    EXPECT_EQ(path["matched"], true);
    EXPECT_EQ(path["nat_at_drop"], "snat");
    ASSERT_EQ(path["hops"].size(), 4u);
    const json& h0 = path["hops"][0];
    EXPECT_EQ(h0["dev"], "veth-c");
    EXPECT_EQ(h0["places"], json::array({"queue", "xmit"}));
    EXPECT_EQ(h0["saddr"], "10.77.1.2");
    EXPECT_EQ(h0["sport"], 40412);
    EXPECT_EQ(h0["proto"], "TCP");
    EXPECT_EQ(h0["tcp_flags"], "S");
    EXPECT_EQ(h0["matched"], true);
    EXPECT_EQ(h0["netns"], 4026532245u);
    EXPECT_EQ(h0["time_offset_ns"], 0);
    EXPECT_EQ(h0["xmit_rc"], 0);
    EXPECT_EQ(path["hops"][1]["master"], "br0");
    EXPECT_EQ(path["hops"][1]["xmit_rc"], nullptr);  // no net_dev_xmit there
    const json& bare = path["hops"][2];
    for (const char* k : {"daddr", "dport", "proto", "saddr", "sport", "tcp_flags"}) EXPECT_EQ(bare[k], nullptr) << k;
    EXPECT_EQ(bare["len"], 60);
    EXPECT_EQ(path["hops"][3]["nat"], "dnat");
    EXPECT_EQ(path["hops"][3]["time_offset_ns"], 58000);
    EXPECT_EQ(path["hops"][3]["dport"], 8080);

    rtd_path empty{};
    empty.kept = 8;
    auto none = d.decode(record(d.set.rules[0].event, kStart, packet("10.0.0.1", 1, "10.0.0.2", 2), &empty));
    json not_followed = json::parse(written([&](std::FILE* f) { JsonOutput(f, ctx).event(*none); }));
    ASSERT_TRUE(not_followed.contains("path"));
    EXPECT_TRUE(not_followed["path"].is_null());
    auto untracked = d.decode(record(d.set.rules[0].event, kStart, packet("10.0.0.1", 1, "10.0.0.2", 2), nullptr));
    EXPECT_FALSE(json::parse(written([&](std::FILE* f) { JsonOutput(f, ctx).event(*untracked); })).contains("path"));
}

TEST(PathSummary, FlowsGroupByTheirFirstHop)
{
    Decoded d;
    ReportContext ctx{d.set, &d.decoder, nullptr, 0, {}, false};
    FlowSummary summary(ctx);
    const rtd_path p = nat_path();
    for (const char* saddr : {"10.77.9.9", "10.77.9.8"}) {  // SNAT'd differently, one flow before it
        auto e = d.decode(record(d.set.rules[0].event, kStart, packet(saddr, 40412, "10.77.3.2", 8080), &p));
        ASSERT_TRUE(e);
        summary.event(*e);
    }
    auto untracked = d.decode(record(d.set.rules[0].event, kStart, packet("10.77.9.9", 40412, "10.77.3.2", 8080), nullptr));
    summary.event(*untracked);
    const std::string table = written([&](std::FILE* f) { summary.print(f, 10); });
    EXPECT_NE(table.find("TCP 10.77.1.2 > 10.77.2.10:80"), std::string::npos) << table;
    EXPECT_NE(table.find("TCP 10.77.9.9 > 10.77.3.2:8080"), std::string::npos) << table;
    EXPECT_EQ(table.find("10.77.9.8"), std::string::npos) << table;
}

}  // namespace
}  // namespace rtd
