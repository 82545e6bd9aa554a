#include "packtest/packet.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>

#include <fmt/format.h>

namespace rtd::packtest {

namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::size_t max_payload = 9000;  // a jumbo frame's worth
constexpr std::size_t no_checksum = static_cast<std::size_t>(-1);

void put16(Bytes& out, std::size_t at, std::uint16_t value)
{
    out[at] = static_cast<std::uint8_t>(value >> 8);
    out[at + 1] = static_cast<std::uint8_t>(value);
}

void append16(Bytes& out, std::uint16_t value) { out.resize(out.size() + 2), put16(out, out.size() - 2, value); }
void append32(Bytes& out, std::uint32_t value) { append16(out, value >> 16 & 0xffff), append16(out, value & 0xffff); }

// RFC 1071: the one's-complement sum of big-endian 16-bit words, unfolded
// (9000 bytes of 0xff stay far below 2^32).
std::uint32_t add_words(const std::uint8_t* bytes, std::size_t size, std::uint32_t sum)
{
    for (std::size_t i = 0; i + 1 < size; i += 2) sum += std::uint32_t{bytes[i]} << 8 | bytes[i + 1];
    if (size % 2) sum += std::uint32_t{bytes[size - 1]} << 8;
    return sum;
}

std::uint16_t checksum(std::uint32_t sum)
{
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

// A wrong checksum: any value but the right one and its one's-complement
// twin (0 and 0xffff both mean zero), and never 0, which a UDP receiver
// reads as "no checksum" and accepts.
std::uint16_t spoil(std::uint16_t right)
{
    std::uint16_t wrong = right ^ 0x1234;
    return wrong ? wrong : right ^ 0x4321;
}

struct Addresses {
    bool v6 = false;
    std::array<std::uint8_t, 16> src{}, dst{};
    std::size_t size() const { return v6 ? 16 : 4; }
};

std::string parse_addresses(const PacketSpec& spec, Addresses& addresses)
{
    if (inet_pton(AF_INET, spec.dst.c_str(), addresses.dst.data()) == 1)
        addresses.v6 = false;
    else if (inet_pton(AF_INET6, spec.dst.c_str(), addresses.dst.data()) == 1)
        addresses.v6 = true;
    else
        return fmt::format("bad destination address '{}'", spec.dst);
    if (inet_pton(addresses.v6 ? AF_INET6 : AF_INET, spec.src.c_str(), addresses.src.data()) != 1)
        return fmt::format("bad source address '{}': the destination is IPv{}", spec.src, addresses.v6 ? 6 : 4);
    return "";
}

enum class L4 { udp, tcp, icmp, raw };

struct Protocol {
    L4 kind;
    std::uint8_t number;  // the IPv4 protocol / IPv6 next header
};

std::optional<Protocol> parse_protocol(const std::string& text, bool v6)
{
    if (text == "udp") return Protocol{L4::udp, IPPROTO_UDP};
    if (text == "tcp") return Protocol{L4::tcp, IPPROTO_TCP};
    if (text == "icmp")
        return Protocol{L4::icmp, v6 ? std::uint8_t{IPPROTO_ICMPV6} : std::uint8_t{IPPROTO_ICMP}};
    unsigned number = 0;
    auto end = text.data() + text.size();
    auto [at, ec] = std::from_chars(text.data(), end, number);
    if (text.empty() || ec != std::errc() || at != end || number > 255) return std::nullopt;
    return Protocol{L4::raw, static_cast<std::uint8_t>(number)};
}

std::optional<std::uint8_t> tcp_flag_bits(const std::string& letters)
{
    static constexpr std::string_view order = "FSRPAUEC";  // from bit 0 up, as in the header
    if (letters == ".") return 0;
    unsigned bits = 0;
    for (char letter : letters) {
        auto bit = order.find(letter);
        if (bit == std::string_view::npos) return std::nullopt;
        bits |= 1u << bit;
    }
    return static_cast<std::uint8_t>(bits);
}

// Everything build_frame needs parsed out of a spec.
struct Parsed {
    std::array<std::uint8_t, 6> src_mac{}, dst_mac{};
    Addresses addresses;
    Protocol protocol{};
    std::uint8_t tcp_flags = 0;
};

// The spec parsed and held to its limits; the error, or "".
std::string parse_spec(const PacketSpec& spec, Parsed& parsed)
{
    if (!parse_mac(spec.dst_mac, parsed.dst_mac)) return fmt::format("bad destination MAC address '{}'", spec.dst_mac);
    if (!parse_mac(spec.src_mac, parsed.src_mac)) return fmt::format("bad source MAC address '{}'", spec.src_mac);
    if (auto error = parse_addresses(spec, parsed.addresses); !error.empty()) return error;
    bool v6 = parsed.addresses.v6;
    auto protocol = parse_protocol(spec.proto, v6);
    if (!protocol) return fmt::format("unknown protocol '{}': not udp, tcp, icmp or 0..255", spec.proto);
    parsed.protocol = *protocol;
    auto tcp_flags = tcp_flag_bits(spec.tcp_flags);
    if (!tcp_flags) return fmt::format("bad TCP flags '{}': letters of FSRPAUEC, or '.'", spec.tcp_flags);
    parsed.tcp_flags = *tcp_flags;
    if (spec.payload > max_payload) return fmt::format("payload of {} bytes is over {}", spec.payload, max_payload);
    if (spec.fragment_offset % 8)
        return fmt::format("fragment offset {} is not a multiple of 8", spec.fragment_offset);
    if (spec.ihl < -1 || spec.ihl > 15) return fmt::format("IPv4 header length {} is not 0..15 words", spec.ihl);
    if (spec.ip_total_length < -1 || spec.ip_total_length > 0xffff)
        return fmt::format("IPv4 total length {} is not 0..65535", spec.ip_total_length);
    if (spec.vlan > 4095) return fmt::format("VLAN id {} is over 4095", spec.vlan);
    if (v6 && (spec.more_fragments || spec.fragment_offset)) return "IPv6 fragments are not supported";
    if (v6 && (spec.dont_fragment || spec.ihl != -1 || spec.ip_total_length != -1 || spec.bad_ip_checksum))
        return "don't-fragment, header length, total length and header checksum are IPv4 only";
    return "";
}

// What follows the IP header: the L4 header (checksum still zero) unless
// this is a later fragment, then the payload.
struct Segment {
    Bytes bytes;
    std::size_t checksum_at = no_checksum;
};

Segment build_segment(const PacketSpec& spec, Protocol protocol, std::uint8_t tcp_flags, bool v6)
{
    Segment segment;
    Bytes& out = segment.bytes;
    if (spec.fragment_offset == 0 && protocol.kind == L4::icmp) {
        out = {std::uint8_t(v6 ? 128 : 8), 0, 0, 0};  // echo request, code 0, checksum
        segment.checksum_at = 2;
        append16(out, spec.sport);
        append16(out, spec.seq & 0xffff);
    } else if (spec.fragment_offset == 0 && protocol.kind != L4::raw) {
        append16(out, spec.sport);
        append16(out, spec.dport);
        if (protocol.kind == L4::udp) {
            append16(out, static_cast<std::uint16_t>(8 + spec.payload));
        } else {
            append32(out, spec.seq);
            append32(out, spec.ack);
            const std::uint8_t words = spec.tcp_timestamp ? 8 : 5;  // NOP, NOP, timestamp (10 bytes)
            out.insert(out.end(), {std::uint8_t(words << 4), tcp_flags});
            append16(out, spec.window);
        }
        segment.checksum_at = out.size();
        out.resize(out.size() + (protocol.kind == L4::udp ? 2 : 4));  // checksum (and TCP's urgent pointer)
        if (protocol.kind == L4::tcp && spec.tcp_timestamp) {
            out.insert(out.end(), {1, 1, 8, 10});
            append32(out, spec.tsval);
            append32(out, spec.tsecr);
        }
    }
    out.insert(out.end(), spec.payload, 'x');
    return segment;
}

// TCP, UDP and ICMPv6 sum a pseudo header of the addresses, the protocol and
// the segment's length (RFC 768, 793, 8200 8.1); the 32-bit IPv6 length and
// the 16-bit IPv4 one add up the same as words.
std::uint32_t pseudo_header_sum(const Addresses& addresses, std::uint8_t protocol, std::size_t length)
{
    std::uint32_t sum = add_words(addresses.src.data(), addresses.size(), 0);
    sum = add_words(addresses.dst.data(), addresses.size(), sum);
    return sum + protocol + static_cast<std::uint32_t>(length >> 16) + static_cast<std::uint32_t>(length & 0xffff);
}

void fill_l4_checksum(Segment& segment, const PacketSpec& spec, Protocol protocol, const Addresses& addresses)
{
    if (segment.checksum_at == no_checksum) return;
    bool plain_icmp = protocol.kind == L4::icmp && !addresses.v6;
    std::uint32_t sum = plain_icmp ? 0 : pseudo_header_sum(addresses, protocol.number, segment.bytes.size());
    std::uint16_t value = checksum(add_words(segment.bytes.data(), segment.bytes.size(), sum));
    if (protocol.kind == L4::udp && value == 0) value = 0xffff;  // 0 would mean "none"
    put16(segment.bytes, segment.checksum_at, spec.bad_l4_checksum ? spoil(value) : value);
}

Bytes ipv4_header(const PacketSpec& spec, const Addresses& addresses, std::uint8_t protocol, std::size_t segment_size)
{
    int words = spec.ihl < 0 ? 5 : spec.ihl;
    // Under 5 words the field lies and the 20 bytes are written anyway.
    std::size_t length = static_cast<std::size_t>(std::max(words, 5)) * 4;
    Bytes header;
    header.push_back(static_cast<std::uint8_t>(0x40 | words));
    header.push_back(0);  // DSCP, ECN
    std::size_t total = spec.ip_total_length < 0 ? length + segment_size
                                                 : static_cast<std::size_t>(spec.ip_total_length);
    append16(header, static_cast<std::uint16_t>(total));
    append16(header, spec.ip_id);
    std::uint16_t fragment = spec.fragment_offset / 8;
    if (spec.dont_fragment) fragment |= 0x4000;
    if (spec.more_fragments) fragment |= 0x2000;
    append16(header, fragment);
    header.push_back(spec.ttl);
    header.push_back(protocol);
    append16(header, 0);  // checksum, below
    header.insert(header.end(), addresses.src.begin(), addresses.src.begin() + 4);
    header.insert(header.end(), addresses.dst.begin(), addresses.dst.begin() + 4);
    header.resize(length, 1);  // options: NOPs, so the header still parses
    std::uint16_t value = checksum(add_words(header.data(), header.size(), 0));
    put16(header, 10, spec.bad_ip_checksum ? spoil(value) : value);
    return header;
}

Bytes ipv6_header(const PacketSpec& spec, const Addresses& addresses, std::uint8_t next_header, std::size_t segment_size)
{
    Bytes header{0x60, 0, 0, 0};  // version 6, traffic class and flow label 0
    append16(header, static_cast<std::uint16_t>(segment_size));
    header.push_back(next_header);
    header.push_back(spec.ttl);
    header.insert(header.end(), addresses.src.begin(), addresses.src.end());
    header.insert(header.end(), addresses.dst.begin(), addresses.dst.end());
    return header;
}

}  // namespace

bool parse_mac(const std::string& text, std::array<std::uint8_t, 6>& mac)
{
    if (text.size() != 17) return false;
    std::array<std::uint8_t, 6> parsed{};
    for (std::size_t i = 0; i < 6; ++i) {
        const char* at = text.data() + i * 3;
        if (i < 5 && at[2] != ':') return false;
        if (!std::isxdigit(static_cast<unsigned char>(at[0])) || !std::isxdigit(static_cast<unsigned char>(at[1])))
            return false;
        std::from_chars(at, at + 2, parsed[i], 16);
    }
    mac = parsed;
    return true;
}

std::vector<std::uint8_t> build_frame(const PacketSpec& spec, std::string& error)
{
    Parsed parsed;
    if (auto refused = parse_spec(spec, parsed); !refused.empty()) {
        error = refused;
        return {};
    }
    const Addresses& addresses = parsed.addresses;
    const Protocol& protocol = parsed.protocol;
    Segment segment = build_segment(spec, protocol, parsed.tcp_flags, addresses.v6);
    fill_l4_checksum(segment, spec, protocol, addresses);
    Bytes ip = addresses.v6 ? ipv6_header(spec, addresses, protocol.number, segment.bytes.size())
                            : ipv4_header(spec, addresses, protocol.number, segment.bytes.size());

    Bytes frame(parsed.dst_mac.begin(), parsed.dst_mac.end());
    frame.insert(frame.end(), parsed.src_mac.begin(), parsed.src_mac.end());
    if (spec.vlan) {
        append16(frame, ETH_P_8021Q);
        append16(frame, spec.vlan);  // priority 0, DEI 0
    }
    append16(frame, addresses.v6 ? ETH_P_IPV6 : ETH_P_IP);
    frame.insert(frame.end(), ip.begin(), ip.end());
    frame.insert(frame.end(), segment.bytes.begin(), segment.bytes.end());
    return frame;
}

bool send_frames(int ifindex, const std::vector<std::uint8_t>& frame, unsigned count, std::string& error)
{
    if (frame.size() < ETH_HLEN) {
        error = fmt::format("frame of {} bytes is shorter than an Ethernet header", frame.size());
        return false;
    }
    // Protocol 0: the socket only sends, and so never queues received traffic.
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = fmt::format("cannot open a packet socket: {}", std::strerror(errno));
        return false;
    }
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex;
    to.sll_protocol = htons(static_cast<std::uint16_t>(frame[12] << 8 | frame[13]));
    to.sll_halen = ETH_ALEN;
    std::memcpy(to.sll_addr, frame.data(), ETH_ALEN);
    bool sent_all = true;
    for (unsigned i = 0; i < count;) {
        if (sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
            if (errno == EINTR) continue;
            if (errno != ENOBUFS) {  // ENOBUFS: taken, then dropped on the way out (tc, netfilter)
                error = fmt::format("cannot send frame {} of {} on interface {}: {}", i + 1, count, ifindex,
                                    std::strerror(errno));
                sent_all = false;
                break;
            }
        }
        ++i;
    }
    close(fd);
    return sent_all;
}

}  // namespace rtd::packtest
