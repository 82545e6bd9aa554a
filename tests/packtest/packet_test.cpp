// Test frames (packtest/packet.h): header layout and checksums checked by
// sums of the test's own, the bad_* flags that must spoil them, VLAN tags,
// fragment bits, header length overrides and the refused inputs; then the
// same frames read by tshark, which verifies every checksum itself.
// Nothing is sent: the only send_frames test is one that must fail.
// tshark is the Debian package `tshark`; without it that test skips,
// unless RTRACE_DROP_REQUIRE_KERNEL=1, which makes it fail.
#include "packtest/packet.h"
#include "tests/kernel_support.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

namespace fs = std::filesystem;
using rtd::packtest::build_frame;
using rtd::packtest::PacketSpec;
using Bytes = std::vector<std::uint8_t>;

namespace {

PacketSpec spec(std::string proto, std::string src = "10.0.0.1", std::string dst = "10.0.0.2")
{
    PacketSpec s;
    s.proto = std::move(proto);
    s.src = std::move(src);
    s.dst = std::move(dst);
    s.src_mac = "02:00:00:00:00:01";
    s.dst_mac = "02:00:00:00:00:02";
    s.payload = 11;  // odd, so the sums' trailing byte is covered
    return s;
}

Bytes build(const PacketSpec& s)
{
    std::string error;
    Bytes frame = build_frame(s, error);
    EXPECT_FALSE(frame.empty()) << error;
    return frame;
}

std::uint16_t be16(const Bytes& b, std::size_t at) { return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]); }

// The one's-complement sum, folded: 0xffff over data that holds its checksum.
std::uint16_t folded_sum(const Bytes& bytes, std::size_t from, std::size_t to, std::uint32_t sum = 0)
{
    for (std::size_t i = from; i < to; i += 2) sum += (bytes[i] << 8) | (i + 1 < to ? bytes[i + 1] : 0);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(sum);
}

// Where the IP header starts, after the Ethernet header and any VLAN tag.
std::size_t ip_at(const Bytes& f) { return be16(f, 12) == 0x8100 ? 18 : 14; }

// Verifies the L4 checksum over the RFC pseudo header, written out as bytes.
bool l4_verifies(const Bytes& f, bool with_pseudo_header = true)
{
    std::size_t ip = ip_at(f);
    bool v6 = (f[ip] >> 4) == 6;
    std::size_t l4 = v6 ? ip + 40 : ip + (f[ip] & 0xf) * 4;
    std::size_t length = f.size() - l4;
    Bytes pseudo;
    if (v6) {
        pseudo.assign(f.begin() + ip + 8, f.begin() + ip + 40);
        pseudo.insert(pseudo.end(), {0, 0, std::uint8_t(length >> 8), std::uint8_t(length), 0, 0, 0, f[ip + 6]});
    } else {
        pseudo.assign(f.begin() + ip + 12, f.begin() + ip + 20);
        pseudo.insert(pseudo.end(), {0, f[ip + 9], std::uint8_t(length >> 8), std::uint8_t(length)});
    }
    std::uint32_t sum = with_pseudo_header ? folded_sum(pseudo, 0, pseudo.size()) : 0;
    return folded_sum(f, l4, f.size(), sum) == 0xffff;
}

bool ip_verifies(const Bytes& f)
{
    std::size_t ip = ip_at(f);
    return folded_sum(f, ip, ip + std::max(5, f[ip] & 0xf) * 4) == 0xffff;
}

}  // namespace

// The IPv4 header is Wikipedia's checksum example, checksum b861 included.
TEST(PacketFrame, UdpIpv4)
{
    PacketSpec s = spec("udp", "192.168.0.1", "192.168.0.199");
    s.ip_id = 0;
    s.dont_fragment = true;
    s.payload = 0x73 - 28;
    Bytes f = build(s);
    ASSERT_EQ(f.size(), 14u + 0x73);
    EXPECT_EQ(Bytes(f.begin(), f.begin() + 14), (Bytes{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0}));
    EXPECT_EQ(Bytes(f.begin() + 14, f.begin() + 34),
              (Bytes{0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61, 192, 168, 0, 1, 192, 168, 0, 199}));
    EXPECT_EQ(Bytes(f.begin() + 34, f.begin() + 40), (Bytes{0x9c, 0x40, 0, 9, 0, 0x73 - 20}));  // ports, length
    EXPECT_EQ(Bytes(f.begin() + 42, f.end()), Bytes(0x73 - 28, 'x'));
    EXPECT_TRUE(ip_verifies(f));
    EXPECT_TRUE(l4_verifies(f));
}

TEST(PacketFrame, TcpIpv4)
{
    PacketSpec s = spec("tcp");
    s.tcp_flags = "SA";
    s.seq = 0x01020304;
    s.ack = 0xa0b0c0d0;
    Bytes f = build(s);
    ASSERT_EQ(f.size(), 14u + 20 + 20 + 11);
    EXPECT_EQ(f[23], 6);
    EXPECT_EQ(be16(f, 38) << 16 | be16(f, 40), 0x01020304);
    EXPECT_EQ(std::uint32_t(be16(f, 42)) << 16 | be16(f, 44), 0xa0b0c0d0u);
    EXPECT_EQ(f[46], 0x50);         // data offset 5
    EXPECT_EQ(f[47], 0x12);         // SYN|ACK
    EXPECT_EQ(be16(f, 48), 65535);  // window
    EXPECT_TRUE(ip_verifies(f));
    EXPECT_TRUE(l4_verifies(f));
    for (auto [letters, bits] : {std::pair{"FSRPAUEC", 0xff}, {"", 0}, {".", 0}, {"RA", 0x14}, {"FPU", 0x29}}) {
        s.tcp_flags = letters;
        EXPECT_EQ(build(s)[47], bits) << letters;
    }
}

TEST(PacketFrame, TcpTimestampOptionAndWindow)
{
    PacketSpec s = spec("tcp");
    s.tcp_flags = "PA";
    s.window = 502;
    s.tcp_timestamp = true;
    s.tsval = 0x11223344;
    s.tsecr = 0x55667788;
    Bytes f = build(s);
    ASSERT_EQ(f.size(), 14u + 20 + 32 + 11);
    EXPECT_EQ(f[46], 0x80);  // data offset 8: 12 bytes of options
    EXPECT_EQ(be16(f, 48), 502);
    EXPECT_EQ(Bytes(f.begin() + 54, f.begin() + 66), (Bytes{1, 1, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}));
    EXPECT_EQ(Bytes(f.begin() + 66, f.end()), Bytes(11, 'x'));
    EXPECT_EQ(be16(f, 16), 20 + 32 + 11);  // IP total length
    EXPECT_TRUE(ip_verifies(f));
    EXPECT_TRUE(l4_verifies(f));
}

TEST(PacketFrame, IcmpEchoIpv4)
{
    PacketSpec s = spec("icmp");
    s.sport = 0x4242;
    s.seq = 0x10007;
    Bytes f = build(s);
    ASSERT_EQ(f.size(), 14u + 20 + 8 + 11);
    EXPECT_EQ(f[23], 1);
    EXPECT_EQ(f[34], 8);  // echo request
    EXPECT_EQ(f[35], 0);
    EXPECT_EQ(be16(f, 38), 0x4242);  // identifier
    EXPECT_EQ(be16(f, 40), 7);       // sequence
    EXPECT_TRUE(l4_verifies(f, false));
}

TEST(PacketFrame, Ipv6)
{
    for (const char* proto : {"udp", "tcp", "icmp"}) {
        PacketSpec s = spec(proto, "fd00::1", "fd00::2");
        s.ttl = 7;
        Bytes f = build(s);
        std::size_t l4 = std::string(proto) == "tcp" ? 20 : 8;
        ASSERT_EQ(f.size(), 14 + 40 + l4 + 11) << proto;
        EXPECT_EQ(be16(f, 12), 0x86dd);
        EXPECT_EQ(f[14], 0x60);
        EXPECT_EQ(be16(f, 18), l4 + 11);  // payload length
        EXPECT_EQ(f[20], std::string(proto) == "udp" ? 17 : std::string(proto) == "tcp" ? 6 : 58);
        EXPECT_EQ(f[21], 7);  // hop limit
        EXPECT_EQ(f[37], 1);
        EXPECT_EQ(f[53], 2);
        if (std::string(proto) == "icmp") {
            EXPECT_EQ(f[54], 128);
        }
        EXPECT_TRUE(l4_verifies(f)) << proto;
    }
}

TEST(PacketFrame, RawProtocolNumberIsPayloadOnly)
{
    Bytes f = build(spec("47"));
    ASSERT_EQ(f.size(), 14u + 20 + 11);
    EXPECT_EQ(f[23], 47);
    EXPECT_EQ(f[34], 'x');
    EXPECT_TRUE(ip_verifies(f));
}

TEST(PacketFrame, UdpChecksumZeroIsSentAsAllOnes)
{
    // The sport that makes the sum come out at zero exists once in 65536.
    PacketSpec s = spec("udp");
    int all_ones = 0;
    for (unsigned sport = 0; sport <= 0xffff; ++sport) {
        s.sport = static_cast<std::uint16_t>(sport);
        Bytes f = build(s);
        ASSERT_NE(be16(f, 40), 0) << sport;
        all_ones += be16(f, 40) == 0xffff;
        ASSERT_TRUE(l4_verifies(f)) << sport;
    }
    EXPECT_EQ(all_ones, 1);
}

TEST(PacketFrame, BadChecksumsDoNotVerify)
{
    for (bool v6 : {false, true}) {
        for (std::string proto : {"udp", "tcp", "icmp"}) {
            PacketSpec s = v6 ? spec(proto, "fd00::1", "fd00::2") : spec(proto);
            s.bad_l4_checksum = true;
            Bytes f = build(s);
            EXPECT_FALSE(l4_verifies(f, v6 || proto != "icmp")) << proto << " v6 " << v6;
            EXPECT_TRUE(v6 || ip_verifies(f));
        }
    }
    PacketSpec s = spec("udp");
    s.bad_ip_checksum = true;
    Bytes f = build(s);
    EXPECT_FALSE(ip_verifies(f));
    EXPECT_TRUE(l4_verifies(f));
}

TEST(PacketFrame, VlanTag)
{
    PacketSpec s = spec("udp");
    s.vlan = 0x123;
    Bytes f = build(s);
    ASSERT_EQ(f.size(), 18u + 20 + 8 + 11);
    EXPECT_EQ(be16(f, 12), 0x8100);
    EXPECT_EQ(be16(f, 14), 0x123);
    EXPECT_EQ(be16(f, 16), 0x0800);
    EXPECT_EQ(f[18], 0x45);
    EXPECT_TRUE(ip_verifies(f));
    EXPECT_TRUE(l4_verifies(f));
}

TEST(PacketFrame, FragmentBits)
{
    PacketSpec s = spec("udp");
    s.more_fragments = true;
    Bytes first = build(s);
    EXPECT_EQ(be16(first, 20), 0x2000);
    EXPECT_EQ(be16(first, 34), 40000);  // the UDP header, in the first fragment only
    EXPECT_TRUE(l4_verifies(first));

    s.dont_fragment = true;
    s.more_fragments = false;
    EXPECT_EQ(be16(build(s), 20), 0x4000);

    s.dont_fragment = false;
    s.more_fragments = true;
    s.fragment_offset = 1480;
    Bytes later = build(s);
    EXPECT_EQ(be16(later, 20), 0x2000 | 185);
    ASSERT_EQ(later.size(), 14u + 20 + 11);  // payload only
    EXPECT_EQ(Bytes(later.begin() + 34, later.end()), Bytes(11, 'x'));
    EXPECT_EQ(be16(later, 16), 20 + 11);
    EXPECT_TRUE(ip_verifies(later));
}

TEST(PacketFrame, HeaderLengthOverrides)
{
    PacketSpec s = spec("udp");
    s.ihl = 7;
    Bytes longer = build(s);
    ASSERT_EQ(longer.size(), 14u + 28 + 8 + 11);
    EXPECT_EQ(longer[14], 0x47);
    EXPECT_EQ(be16(longer, 16), 28 + 8 + 11);
    EXPECT_EQ(Bytes(longer.begin() + 34, longer.begin() + 42), Bytes(8, 1));  // NOP options
    EXPECT_TRUE(ip_verifies(longer));
    EXPECT_TRUE(l4_verifies(longer));

    s.ihl = 3;
    Bytes lying = build(s);
    ASSERT_EQ(lying.size(), 14u + 20 + 8 + 11);  // the 20 bytes are written anyway
    EXPECT_EQ(lying[14], 0x43);
    EXPECT_EQ(be16(lying, 16), 20 + 8 + 11);

    s.ihl = -1;
    s.ip_total_length = 1000;
    Bytes long_total = build(s);
    EXPECT_EQ(be16(long_total, 16), 1000);
    EXPECT_EQ(long_total.size(), 14u + 20 + 8 + 11);
    EXPECT_TRUE(ip_verifies(long_total));
}

TEST(PacketFrame, RefusedInputs)
{
    auto with = [](auto change) {
        PacketSpec s = spec("udp");
        change(s);
        std::string error;
        EXPECT_TRUE(build_frame(s, error).empty());
        return error;
    };
    EXPECT_EQ(with([](PacketSpec& s) { s.dst = "10.0.0"; }), "bad destination address '10.0.0'");
    EXPECT_EQ(with([](PacketSpec& s) { s.src = "fd00::1"; }), "bad source address 'fd00::1': the destination is IPv4");
    EXPECT_EQ(with([](PacketSpec& s) { s.dst_mac = "02:00:00:00:00"; }), "bad destination MAC address '02:00:00:00:00'");
    EXPECT_EQ(with([](PacketSpec& s) { s.src_mac = ""; }), "bad source MAC address ''");
    EXPECT_EQ(with([](PacketSpec& s) { s.proto = "sctp"; }), "unknown protocol 'sctp': not udp, tcp, icmp or 0..255");
    EXPECT_NE(with([](PacketSpec& s) { s.proto = "256"; }), "");
    EXPECT_NE(with([](PacketSpec& s) { s.proto = "-1"; }), "");
    EXPECT_NE(with([](PacketSpec& s) { s.proto = ""; }), "");
    EXPECT_EQ(with([](PacketSpec& s) { s.tcp_flags = "SX"; }), "bad TCP flags 'SX': letters of FSRPAUEC, or '.'");
    EXPECT_EQ(with([](PacketSpec& s) { s.fragment_offset = 100; }), "fragment offset 100 is not a multiple of 8");
    EXPECT_EQ(with([](PacketSpec& s) { s.payload = 9001; }), "payload of 9001 bytes is over 9000");
    EXPECT_NE(with([](PacketSpec& s) { s.ihl = 16; }), "");
    EXPECT_NE(with([](PacketSpec& s) { s.ip_total_length = 70000; }), "");
    EXPECT_NE(with([](PacketSpec& s) { s.vlan = 4096; }), "");
    auto v6 = [](PacketSpec& s) { s.src = "fd00::1", s.dst = "fd00::2"; };
    EXPECT_EQ(with([&](PacketSpec& s) { v6(s), s.more_fragments = true; }), "IPv6 fragments are not supported");
    EXPECT_NE(with([&](PacketSpec& s) { v6(s), s.bad_ip_checksum = true; }), "");
    EXPECT_NE(with([&](PacketSpec& s) { v6(s), s.ihl = 5; }), "");
    PacketSpec s = spec("udp");
    s.payload = 9000;
    EXPECT_EQ(build(s).size(), 14u + 20 + 8 + 9000);
}

TEST(PacketFrame, ParseMac)
{
    std::array<std::uint8_t, 6> mac{};
    ASSERT_TRUE(rtd::packtest::parse_mac("aA:bB:0c:D0:ff:01", mac));
    EXPECT_EQ(mac, (std::array<std::uint8_t, 6>{0xaa, 0xbb, 0x0c, 0xd0, 0xff, 0x01}));
    for (const char* bad : {"", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:", "aa-bb-cc-dd-ee-ff", "aa:bb:cc:dd:ee:fg",
                            "aabb:cc:dd:ee:ff:0", "a:bb:cc:dd:ee:ff0", "+a:bb:cc:dd:ee:ff"})
        EXPECT_FALSE(rtd::packtest::parse_mac(bad, mac)) << bad;
}

TEST(PacketSend, FailsWithTheReason)
{
    // No such interface (or no CAP_NET_RAW): either way nothing leaves.
    std::string error;
    EXPECT_FALSE(rtd::packtest::send_frames(0x7ffffff0, build(spec("udp")), 1, error));
    EXPECT_NE(error, "");
    EXPECT_FALSE(rtd::packtest::send_frames(1, Bytes(10, 0), 1, error));
    EXPECT_EQ(error, "frame of 10 bytes is shorter than an Ethernet header");
}

namespace {

// Classic pcap in host byte order (the magic tells readers which), Ethernet.
void write_pcap(const fs::path& path, const std::vector<Bytes>& frames)
{
    std::ofstream out(path, std::ios::binary);
    auto u16 = [&](std::uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
    auto u32 = [&](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
    u32(0xa1b2c3d4), u16(2), u16(4), u32(0), u32(0), u32(65535), u32(1);
    for (const Bytes& f : frames) {
        u32(1700000000), u32(0), u32(std::uint32_t(f.size())), u32(std::uint32_t(f.size()));
        out.write(reinterpret_cast<const char*>(f.data()), std::streamsize(f.size()));
    }
}

}  // namespace

// tshark checks every checksum itself. Its *.checksum.status fields print
// 1 for good and 0 for bad (2: unverified), nothing where there is no such header.
TEST(PacketFrame, TsharkAgreesOnChecksums)
{
    RTD_NEED_KERNEL(fs::exists("/usr/bin/tshark"), "tshark is not installed (Debian package tshark)");
    std::vector<Bytes> frames;
    std::string want;
    for (bool v6 : {false, true}) {
        for (std::size_t proto = 0; proto < 3; ++proto) {
            for (int bad : {0, 1, 2}) {  // none, L4, IP
                if (v6 && bad == 2) continue;
                PacketSpec s = spec(proto == 0 ? "udp" : proto == 1 ? "tcp" : "icmp", v6 ? "fd00::1" : "10.0.0.1",
                                    v6 ? "fd00::2" : "10.0.0.2");
                s.bad_l4_checksum = bad == 1;
                s.bad_ip_checksum = bad == 2;
                frames.push_back(build(s));
                // Columns: ip, udp, tcp, icmp, icmpv6.
                std::vector<std::string> row(5);
                if (!v6) row[0] = bad == 2 ? "0" : "1";
                row[proto == 2 && v6 ? 4 : 1 + proto] = bad == 1 ? "0" : "1";
                want += row[0] + '\t' + row[1] + '\t' + row[2] + '\t' + row[3] + '\t' + row[4] + '\n';
            }
        }
    }
    PacketSpec tagged = spec("udp");
    tagged.vlan = 7;
    tagged.ihl = 6;
    frames.push_back(build(tagged));
    want += "1\t1\t\t\t\n";
    PacketSpec stamped = spec("tcp");
    stamped.tcp_timestamp = true;
    stamped.tsval = 7;
    frames.push_back(build(stamped));
    want += "1\t\t1\t\t\n";

    fs::path dir = fs::temp_directory_path() / ("rtd-packet-test-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    write_pcap(dir / "frames.pcap", frames);
    std::string command = "tshark -r " + (dir / "frames.pcap").string() +
                          " -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE"
                          " -T fields -e ip.checksum.status -e udp.checksum.status -e tcp.checksum.status"
                          " -e icmp.checksum.status -e icmpv6.checksum.status 2>" + (dir / "stderr").string();
    FILE* p = popen(command.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string got;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) got.append(buf, n);
    int status = pclose(p);
    std::ifstream err(dir / "stderr");
    EXPECT_EQ(status, 0) << std::string(std::istreambuf_iterator<char>(err), {});
    EXPECT_EQ(got, want);
    fs::remove_all(dir);
}
