// The pcapng writer: its bytes read back by a small reader of the test's
// own (block layout, padding, option values), then by tshark (what
// Wireshark makes of them, packet by packet), rotation, standard output
// (live, through a pipe) and the errors: paths it cannot write, a broken
// pipe, a file that stops growing mid-block.
// tshark is the Debian package `tshark`; without it those tests skip,
// unless RTRACE_DROP_REQUIRE_KERNEL=1, which makes them fail.
#include "runtime/pcapng.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/kernel_support.h"

namespace rtd {
namespace {

namespace fs = std::filesystem;

// ---- A pcapng reader of our own, strict about what the writer promises.

struct Option {
    uint16_t code;
    std::string value;
};
struct ParsedBlock {
    uint32_t type = 0;
    std::string fixed;  // the fields before the options (EPB: with the padded packet data)
    std::vector<Option> options;

    std::optional<std::string> option(uint16_t code) const
    {
        for (const Option& o : options)
            if (o.code == code) return o.value;
        return std::nullopt;
    }
};

template <typename T>
T get(const std::string& s, std::size_t at)
{
    T v{};
    if (at + sizeof v <= s.size()) std::memcpy(&v, s.data() + at, sizeof v);
    return v;
}

uint64_t get_time(const std::string& s, std::size_t at)
{
    return (uint64_t(get<uint32_t>(s, at)) << 32) | get<uint32_t>(s, at + 4);
}

// Size of a block's fixed part, from its type (and, for an EPB, its captured length).
std::optional<std::size_t> fixed_size(uint32_t type, const std::string& body)
{
    switch (type) {
    case 0x0A0D0D0A: return 16;  // byte-order magic, version, section length
    case 1: return 8;            // linktype, reserved, snaplen
    case 5: return 12;           // interface id, timestamp
    case 6: return 20 + (get<uint32_t>(body, 12) + 3) / 4 * 4;
    default: return std::nullopt;
    }
}

// The blocks, or an empty list and what is wrong in `problem`.
std::vector<ParsedBlock> parse(const std::string& bytes, std::string& problem)
{
    std::vector<ParsedBlock> blocks;
    auto bad = [&](std::size_t at, const std::string& what) {
        problem = "at byte " + std::to_string(at) + ": " + what;
        return std::vector<ParsedBlock>{};
    };
    std::size_t at = 0;
    while (at < bytes.size()) {
        if (bytes.size() - at < 12) return bad(at, "a block cut short");
        uint32_t type = get<uint32_t>(bytes, at), length = get<uint32_t>(bytes, at + 4);
        if (length < 12 || length % 4 != 0) return bad(at, "block length " + std::to_string(length));
        if (at + length > bytes.size()) return bad(at, "block runs past the end");
        if (get<uint32_t>(bytes, at + length - 4) != length) return bad(at, "trailing length differs");
        if (blocks.empty() && (type != 0x0A0D0D0A || get<uint32_t>(bytes, at + 8) != 0x1A2B3C4D))
            return bad(at, "no section header with the host's byte-order magic first");
        std::string body = bytes.substr(at + 8, length - 12);
        auto fixed = fixed_size(type, body);
        if (!fixed) return bad(at, "unexpected block type " + std::to_string(type));
        if (*fixed > body.size()) return bad(at, "fixed part longer than the block");
        ParsedBlock b{type, body.substr(0, *fixed), {}};
        if (type == 6) {
            uint32_t caplen = get<uint32_t>(body, 12);
            if (body.find_first_not_of('\0', 20 + caplen) < *fixed) return bad(at, "packet padding not zero");
        }
        std::size_t o = *fixed;
        bool ended = o == body.size();  // no options at all
        while (o < body.size()) {
            if (body.size() - o < 4) return bad(at, "option header cut short");
            uint16_t code = get<uint16_t>(body, o), len = get<uint16_t>(body, o + 2);
            std::size_t padded = (len + 3u) / 4 * 4;
            if (o + 4 + padded > body.size()) return bad(at, "option runs past the block");
            if (body.find_first_not_of('\0', o + 4 + len) < o + 4 + padded) return bad(at, "option padding not zero");
            o += 4 + padded;
            if (code == 0) {
                if (len != 0 || o != body.size()) return bad(at, "opt_endofopt not last or not empty");
                ended = true;
                break;
            }
            b.options.push_back({code, body.substr(o - padded, len)});
        }
        if (!ended) return bad(at, "options without opt_endofopt");
        blocks.push_back(std::move(b));
        at += length;
    }
    return blocks;
}

std::string read_file(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string u32_bytes(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::string u64_bytes(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }

// ---- Real packets.

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint16_t v) { b.push_back(uint8_t(v >> 8)), b.push_back(uint8_t(v)); }

Bytes ipv4(uint8_t protocol, const uint8_t (&src)[4], const uint8_t (&dst)[4], const Bytes& payload)
{
    Bytes h = {0x45, 0};
    put16(h, uint16_t(20 + payload.size()));
    h.insert(h.end(), {0x12, 0x34, 0x40, 0, 64, protocol, 0, 0});  // id, DF, ttl
    h.insert(h.end(), src, src + 4);
    h.insert(h.end(), dst, dst + 4);
    uint32_t sum = 0;
    for (std::size_t i = 0; i < 20; i += 2) sum += uint32_t(h[i] << 8 | h[i + 1]);
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    h[10] = uint8_t(~sum >> 8), h[11] = uint8_t(~sum);
    h.insert(h.end(), payload.begin(), payload.end());
    return h;
}

Bytes tcp_syn(uint16_t sport, uint16_t dport)
{
    Bytes t;
    put16(t, sport), put16(t, dport);
    t.insert(t.end(), {0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xFF, 0xFF, 0, 0, 0, 0});  // seq 1, SYN, window
    return t;
}

Bytes udp(uint16_t sport, uint16_t dport, std::size_t payload)
{
    Bytes u;
    put16(u, sport), put16(u, dport), put16(u, uint16_t(8 + payload)), put16(u, 0);
    u.insert(u.end(), payload, 'x');
    return u;
}

Bytes ethernet_ipv4(const Bytes& ip)
{
    Bytes e = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00};
    e.insert(e.end(), ip.begin(), ip.end());
    return e;
}

constexpr uint8_t kA[4] = {10, 0, 0, 1}, kB[4] = {10, 0, 0, 2}, kC[4] = {192, 168, 7, 9};
constexpr uint64_t kT0 = 1700000000123456789u;  // 2023-11-14, with every nanosecond digit set

// ---- Running things.

struct Ran {
    int status = -1;  // exit status, -1 if it did not exit
    std::string out, err;
};

// `command` with stdout captured; stderr without tshark's warning about running as root.
Ran run(const std::string& command, const fs::path& dir)
{
    Ran r;
    fs::path err = dir / "stderr";
    std::fflush(stdout);
    FILE* p = popen((command + " 2>" + err.string()).c_str(), "r");
    if (!p) return r;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    std::istringstream lines(read_file(err));
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("Running as user", 0) != 0) r.err += line + "\n";
    return r;
}

bool have_program(const char* name) { return std::system((std::string("command -v ") + name + " >/dev/null 2>&1").c_str()) == 0; }

#define NEED_TSHARK() RTD_NEED_KERNEL(have_program("tshark"), "tshark is not installed (Debian package tshark)")

const char* const kFields =
    " -T fields -e frame.interface_name -e frame.comment -e frame.packet_flags_direction -e frame.len -e frame.cap_len"
    " -e ip.src -e tcp.dstport -e udp.dstport -e frame.time_epoch -E separator=/t";

std::vector<std::vector<std::string>> rows(const std::string& out)
{
    std::vector<std::vector<std::string>> r;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> fields;
        std::size_t start = 0;
        for (std::size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
            fields.push_back(line.substr(start, tab - start));
        fields.push_back(line.substr(start));
        r.push_back(fields);
    }
    return r;
}

class Pcapng : public ::testing::Test {
protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/rtd-pcapng-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::unique_ptr<PcapngWriter> open(const fs::path& p, PcapngRotation rotation = {})
    {
        std::string error;
        auto w = PcapngWriter::open(p.string(), rotation, "1.2.3", error);
        EXPECT_TRUE(w) << error;
        return w;
    }

    fs::path dir_;
};

// The five packets the tshark tests write: two interfaces, both
// directions, one without flags or comment, one cut to the snaplen.
struct Sample {
    std::string if_name;
    uint16_t linktype;
    Bytes data;
    uint32_t orig_len;
    std::string comment;
    PacketDirection direction;
};
std::vector<Sample> samples()
{
    return {
        {"eth0", kLinktypeEthernet, ethernet_ipv4(ipv4(6, kA, kB, tcp_syn(40000, 443))), 0, "drop: tcp_v4_rcv NO_SOCKET",
         PacketDirection::Inbound},
        {"wg0", kLinktypeRaw, ipv4(17, kC, kB, udp(5353, 53, 3)), 0, "drop: udp_queue_rcv_skb SOCKET_RCVBUFF (ü)",
         PacketDirection::Outbound},
        {"eth0", kLinktypeEthernet, ethernet_ipv4(ipv4(6, kB, kA, tcp_syn(443, 8080))), 0, "", PacketDirection::Unknown},
        {"wg0", kLinktypeRaw, ipv4(17, kA, kC, udp(1000, 4789, 40)), 1400, "cut", PacketDirection::Inbound},
        {"eth0", kLinktypeEthernet, ethernet_ipv4(ipv4(6, kC, kA, tcp_syn(1, 22))), 0, "last", PacketDirection::Outbound},
    };
}

bool write_samples(PcapngWriter& w)
{
    auto all = samples();
    for (std::size_t i = 0; i < all.size(); ++i) {
        const Sample& s = all[i];
        PcapngPacket p{kT0 + i * 1000, s.orig_len, s.data, s.comment, s.direction};
        if (!w.write(s.if_name, s.linktype, 262144, p)) return false;
    }
    return true;
}

TEST_F(Pcapng, BlocksReadBackWithTheirOptions)
{
    fs::path file = dir_ / "drops.pcapng";
    auto w = open(file);
    ASSERT_TRUE(w);
    Bytes odd = {1, 2, 3, 4, 5};  // not a multiple of 4: padded
    EXPECT_EQ(w->interface("eth0", kLinktypeEthernet, 65535), 0u);
    ASSERT_TRUE(w->write("eth0", kLinktypeEthernet, 65535, {kT0, 60, odd, "first", PacketDirection::Inbound}));
    ASSERT_TRUE(w->write("lo", kLinktypeRaw, 128, {kT0 + 5, 0, odd, "", PacketDirection::Unknown}));
    // The same name with another link type is another interface; the same pair is the same one.
    EXPECT_EQ(w->interface("eth0", kLinktypeRaw, 65535), 2u);
    EXPECT_EQ(w->interface("lo", kLinktypeRaw, 999), 1u);
    Bytes big(200, 0xAB);
    ASSERT_TRUE(w->write("lo", kLinktypeRaw, 999, {kT0 + 9, 0, big, "cut to lo's snaplen", PacketDirection::Outbound}));
    w->set_lost(42);
    ASSERT_TRUE(w->close());
    EXPECT_TRUE(w->close());  // idempotent
    EXPECT_FALSE(w->write("eth0", kLinktypeEthernet, 65535, {kT0, 0, odd, "", PacketDirection::Unknown}));
    EXPECT_EQ(w->packets_written(), 3u);

    std::string problem;
    auto blocks = parse(read_file(file), problem);
    ASSERT_EQ(problem, "");
    std::vector<uint32_t> types;
    for (const auto& b : blocks) types.push_back(b.type);
    EXPECT_EQ(types, (std::vector<uint32_t>{0x0A0D0D0A, 1, 6, 1, 6, 1, 6, 5, 5, 5}));
    ASSERT_EQ(blocks.size(), 10u);

    const ParsedBlock& shb = blocks[0];
    EXPECT_EQ(get<uint16_t>(shb.fixed, 4), 1);  // version 1.0
    EXPECT_EQ(get<uint16_t>(shb.fixed, 6), 0);
    EXPECT_EQ(get<uint64_t>(shb.fixed, 8), ~uint64_t{0});
    EXPECT_EQ(shb.option(4), "rtrace-drop 1.2.3");
    ASSERT_TRUE(shb.option(3));
    EXPECT_EQ(shb.option(3)->rfind("Linux ", 0), 0u) << *shb.option(3);

    const ParsedBlock& eth0 = blocks[1];
    EXPECT_EQ(get<uint16_t>(eth0.fixed, 0), kLinktypeEthernet);
    EXPECT_EQ(get<uint32_t>(eth0.fixed, 4), 65535u);
    EXPECT_EQ(eth0.option(2), "eth0");
    EXPECT_EQ(eth0.option(9), std::string(1, '\x09'));
    EXPECT_EQ(get<uint16_t>(blocks[3].fixed, 0), kLinktypeRaw);
    EXPECT_EQ(blocks[3].option(2), "lo");
    EXPECT_EQ(get<uint32_t>(blocks[3].fixed, 4), 128u);
    EXPECT_EQ(blocks[5].option(2), "eth0");
    EXPECT_EQ(get<uint16_t>(blocks[5].fixed, 0), kLinktypeRaw);

    const ParsedBlock& first = blocks[2];
    EXPECT_EQ(get<uint32_t>(first.fixed, 0), 0u);
    EXPECT_EQ(get_time(first.fixed, 4), kT0);
    EXPECT_EQ(get<uint32_t>(first.fixed, 12), 5u);   // captured
    EXPECT_EQ(get<uint32_t>(first.fixed, 16), 60u);  // original
    EXPECT_EQ(first.fixed.substr(20, 5), std::string("\1\2\3\4\5"));
    EXPECT_EQ(first.option(1), "first");
    EXPECT_EQ(first.option(2), u32_bytes(0b01));

    const ParsedBlock& plain = blocks[4];
    EXPECT_EQ(get<uint32_t>(plain.fixed, 0), 1u);
    EXPECT_EQ(get<uint32_t>(plain.fixed, 16), 5u);  // orig_len 0: the data's length
    EXPECT_TRUE(plain.options.empty());

    const ParsedBlock& cut = blocks[6];
    EXPECT_EQ(get<uint32_t>(cut.fixed, 0), 1u);
    EXPECT_EQ(get<uint32_t>(cut.fixed, 12), 128u);  // lo's snaplen is the first one given
    EXPECT_EQ(get<uint32_t>(cut.fixed, 16), 200u);
    EXPECT_EQ(cut.option(2), u32_bytes(0b10));

    for (uint32_t i = 0; i < 3; ++i) {
        const ParsedBlock& isb = blocks[7 + i];
        EXPECT_EQ(get<uint32_t>(isb.fixed, 0), i);
        ASSERT_TRUE(isb.option(2) && isb.option(3));
        uint64_t start = get_time(*isb.option(2), 0), end = get_time(*isb.option(3), 0);
        EXPECT_LE(start, kT0);
        EXPECT_GE(end, kT0 + 9);
        EXPECT_EQ(get_time(isb.fixed, 4), end);
        EXPECT_EQ(isb.option(8), u64_bytes(i == 1 ? 2 : i == 0 ? 1 : 0));  // isb_usrdeliv
        EXPECT_EQ(isb.option(7).has_value(), i == 0);                       // isb_osdrop on the first only
        EXPECT_EQ(isb.option(1).has_value(), i == 0);
    }
    EXPECT_EQ(blocks[7].option(7), u64_bytes(42));
    EXPECT_NE(blocks[7].option(1)->find("over all interfaces"), std::string::npos);
}

TEST_F(Pcapng, TsharkReadsEveryField)
{
    NEED_TSHARK();
    fs::path file = dir_ / "drops.pcapng";
    auto w = open(file);
    ASSERT_TRUE(w);
    ASSERT_TRUE(write_samples(*w)) << w->last_error();
    w->set_lost(7);
    ASSERT_TRUE(w->close());

    Ran r = run("tshark -r " + file.string() + kFields, dir_);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    // frame.packet_flags_direction shows the whole epb_flags word, in hex.
    std::vector<std::vector<std::string>> want = {
        {"eth0", "drop: tcp_v4_rcv NO_SOCKET", "0x00000001", "54", "54", "10.0.0.1", "443", "", "1700000000.123456789"},
        {"wg0", "drop: udp_queue_rcv_skb SOCKET_RCVBUFF (ü)", "0x00000002", "31", "31", "192.168.7.9", "", "53", "1700000000.123457789"},
        {"eth0", "", "", "54", "54", "10.0.0.2", "8080", "", "1700000000.123458789"},
        {"wg0", "cut", "0x00000001", "1400", "68", "10.0.0.1", "", "4789", "1700000000.123459789"},
        {"eth0", "last", "0x00000002", "54", "54", "192.168.7.9", "22", "", "1700000000.123460789"},
    };
    EXPECT_EQ(rows(r.out), want) << r.out;

    // The ISBs: capinfos reads the whole file, statistics blocks included.
    if (have_program("capinfos")) {
        Ran c = run("capinfos " + file.string(), dir_);
        EXPECT_EQ(c.status, 0) << c.err;
        EXPECT_EQ(c.err, "");
        EXPECT_NE(c.out.find("Number of packets:   5"), std::string::npos) << c.out;
        EXPECT_NE(c.out.find("Number of interfaces in file: 2"), std::string::npos) << c.out;
        EXPECT_NE(c.out.find("Number of stat entries = 1"), std::string::npos) << c.out;
    }
    Ran s = run("tshark -q -z io,stat,0 -r " + file.string(), dir_);
    EXPECT_EQ(s.status, 0) << s.err;
    EXPECT_EQ(s.err, "");
}

TEST_F(Pcapng, RotationKeepsTheNewestFiles)
{
    NEED_TSHARK();
    fs::path file = dir_ / "drops.pcapng";
    fs::path leftover = dir_ / "drops.pcapng.3";  // from a run that kept more
    std::ofstream(leftover) << "old";
    auto w = open(file, {.max_bytes = 600, .keep = 3});
    ASSERT_TRUE(w);
    Bytes packet = ipv4(17, kA, kB, udp(1, 9, 80));
    for (int i = 0; i < 20; ++i)
        ASSERT_TRUE(w->write("eth0", kLinktypeRaw, 65535, {kT0 + uint64_t(i), 0, packet, "packet " + std::to_string(i),
                                                          PacketDirection::Inbound}))
            << w->last_error();
    ASSERT_TRUE(w->close());
    EXPECT_EQ(w->packets_written(), 20u);

    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"drops.pcapng", "drops.pcapng.1", "drops.pcapng.2"}));

    // Oldest first: each file holds the packets right after the one before.
    int next = -1;
    for (const char* name : {"drops.pcapng.2", "drops.pcapng.1", "drops.pcapng"}) {
        std::string problem;
        auto blocks = parse(read_file(dir_ / name), problem);
        ASSERT_EQ(problem, "") << name;
        ASSERT_GE(blocks.size(), 4u) << name;
        EXPECT_EQ(blocks[0].type, 0x0A0D0D0Au);
        EXPECT_EQ(blocks[1].type, 1u);
        EXPECT_EQ(blocks.back().type, 5u);
        EXPECT_LT(fs::file_size(dir_ / name), 600u + 300u) << name;  // a packet and the ISB past the limit at most

        Ran r = run("tshark -r " + (dir_ / name).string() + " -T fields -e frame.interface_name -e frame.comment", dir_);
        ASSERT_EQ(r.status, 0) << name << ": " << r.err;
        EXPECT_EQ(r.err, "");
        auto got = rows(r.out);
        ASSERT_FALSE(got.empty()) << name;
        if (next >= 0) EXPECT_EQ(got.front()[1], "packet " + std::to_string(next)) << name;
        for (const auto& row : got) EXPECT_EQ(row[0], "eth0");
        next = std::stoi(got.back()[1].substr(7)) + 1;
    }
    EXPECT_EQ(next, 20);  // drops.pcapng holds the last packet
}

// Runs `body` in a child whose stdout is `fd`; its exit status.
template <typename Body>
pid_t spawn_with_stdout(int fd, Body body)
{
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, STDOUT_FILENO);
        if (fd != STDOUT_FILENO) ::close(fd);
        _exit(body() ? 0 : 1);
    }
    return pid;
}

int wait_exit(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST_F(Pcapng, TsharkReadsStandardOutputThroughAPipe)
{
    NEED_TSHARK();
    fs::path out = dir_ / "out", err = dir_ / "err";
    FILE* tshark = popen(("tshark -r -" + std::string(kFields) + " >" + out.string() + " 2>" + err.string()).c_str(), "w");
    ASSERT_NE(tshark, nullptr);
    pid_t child = spawn_with_stdout(fileno(tshark), [] {
        std::string error;
        auto w = PcapngWriter::open("-", {}, "1.2.3", error);
        return w && write_samples(*w) && w->close();
    });
    EXPECT_EQ(wait_exit(child), 0);
    int st = pclose(tshark);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << read_file(err);
    auto got = rows(read_file(out));
    ASSERT_EQ(got.size(), 5u) << read_file(out) << read_file(err);
    EXPECT_EQ(got[1][0], "wg0");
    EXPECT_EQ(got[3][1], "cut");
    EXPECT_EQ(got[4][6], "22");
}

TEST_F(Pcapng, StandardOutputSeesEachPacketAtOnce)
{
    int data[2], go[2];
    ASSERT_EQ(pipe(data), 0);
    ASSERT_EQ(pipe(go), 0);
    pid_t child = spawn_with_stdout(data[1], [&] {
        std::string error;
        auto w = PcapngWriter::open("-", {}, "1.2.3", error);
        Bytes b = {1, 2, 3, 4};
        if (!w || !w->write("eth0", kLinktypeEthernet, 0, {kT0, 0, b, "one", PacketDirection::Inbound})) return false;
        char c;
        if (read(go[0], &c, 1) != 1) return false;  // the reader has seen the first packet
        return w->write("eth0", kLinktypeEthernet, 0, {kT0 + 1, 0, b, "two", PacketDirection::Inbound}) && w->close();
    });
    ::close(data[1]);
    ::close(go[0]);

    // Read until the first packet's block is there, with the writer still open.
    std::string bytes, problem;
    auto have_packet = [&] {
        auto blocks = parse(bytes, problem);
        return !blocks.empty() && blocks.back().type == 6;
    };
    while (!have_packet()) {
        pollfd p{data[0], POLLIN, 0};
        if (poll(&p, 1, 5000) != 1) break;
        char buf[4096];
        ssize_t n = read(data[0], buf, sizeof buf);
        if (n <= 0) break;
        bytes.append(buf, std::size_t(n));
    }
    bool live = have_packet();
    EXPECT_TRUE(live) << "no packet on standard output before close(): " << bytes.size() << " bytes, " << problem;
    if (!live) kill(child, SIGKILL);
    EXPECT_EQ(write(go[1], "g", 1), 1);
    ::close(go[1]);
    char buf[4096];
    for (ssize_t n; (n = read(data[0], buf, sizeof buf)) > 0;) bytes.append(buf, std::size_t(n));
    ::close(data[0]);
    EXPECT_EQ(wait_exit(child), live ? 0 : -1);

    auto blocks = parse(bytes, problem);
    ASSERT_EQ(problem, "");
    std::vector<uint32_t> types;
    for (const auto& b : blocks) types.push_back(b.type);
    EXPECT_EQ(types, (std::vector<uint32_t>{0x0A0D0D0A, 1, 6, 6, 5}));
}

TEST_F(Pcapng, PathsItCannotWriteAreNamed)
{
    for (const std::string& path : {std::string("/proc/nonexistent/x.pcapng"), dir_.string(), std::string("/dev/full")}) {
        std::string error;
        EXPECT_FALSE(PcapngWriter::open(path, {}, "1.2.3", error)) << path;
        EXPECT_EQ(error.rfind("cannot write " + path + ": ", 0), 0u) << error;
    }
    std::string error;
    EXPECT_FALSE(PcapngWriter::open("-", {.max_bytes = 1000, .keep = 2}, "1.2.3", error));
    EXPECT_NE(error.find("standard output"), std::string::npos) << error;
    EXPECT_FALSE(PcapngWriter::open("/dev/null", {.max_bytes = 1000, .keep = 2}, "1.2.3", error));
    EXPECT_EQ(error, "cannot rotate /dev/null: not a regular file");
}

TEST_F(Pcapng, ABrokenPipeFailsAndStaysFailed)
{
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    std::string path = "/proc/self/fd/" + std::to_string(p[1]);
    struct sigaction ignore {}, old {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, &old);
    {
        auto w = open(path);
        ASSERT_TRUE(w);
        ::close(p[0]);
        Bytes b = {1, 2, 3, 4};
        EXPECT_FALSE(w->write("eth0", kLinktypeEthernet, 0, {kT0, 0, b, "", PacketDirection::Unknown}));
        EXPECT_EQ(w->last_error(), "cannot write " + path + ": Broken pipe");
        EXPECT_FALSE(w->write("eth0", kLinktypeEthernet, 0, {kT0, 0, b, "", PacketDirection::Unknown}));
        EXPECT_FALSE(w->flush());
        EXPECT_FALSE(w->close());
        EXPECT_EQ(w->packets_written(), 1u);  // counted before the write failed
    }
    sigaction(SIGPIPE, &old, nullptr);
    ::close(p[1]);
}

TEST_F(Pcapng, AFullFileEndsWithAWholeBlock)
{
    fs::path file = dir_ / "drops.pcapng";
    // A child with a file size limit: the write that crosses it is cut short, then fails.
    std::fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        rlimit limit{3000, 3000};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &limit);
        std::string error;
        auto w = PcapngWriter::open(file.string(), {}, "1.2.3", error);
        Bytes b(499, 7);
        for (int i = 0; i < 20; ++i)
            if (!w->write("eth0", kLinktypeRaw, 0, {kT0, 0, b, "x", PacketDirection::Inbound}) || !w->flush())
                _exit(w->last_error() == "cannot write " + file.string() + ": File too large" ? 0 : 2);
        _exit(1);
    }
    ASSERT_EQ(wait_exit(child), 0);
    std::string bytes = read_file(file), problem;
    auto blocks = parse(bytes, problem);
    ASSERT_EQ(problem, "") << bytes.size() << " bytes";
    ASSERT_GE(blocks.size(), 3u);
    EXPECT_EQ(blocks.back().type, 6u);
    EXPECT_LE(bytes.size(), 3000u);
}

}  // namespace
}  // namespace rtd
