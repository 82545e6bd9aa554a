// Test packets: a PacketSpec (what a case file's `send` asks for) built into
// a whole Ethernet frame, and the frame sent raw on an interface. Frames are
// crafted by hand rather than through the kernel's stack because the cases
// need what the stack never sends: bad checksums, bad header lengths, lying
// total lengths, stray fragments, unknown protocols.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rtd::packtest {

struct PacketSpec {
    // "udp", "tcp", "icmp" (echo request; ICMPv6 for IPv6), or a protocol
    // number "0".."255": that number in the IP header and only the payload
    // after it (so "17" is a UDP datagram without its UDP header).
    std::string proto = "udp";
    std::string src, dst;          // IPv4 or IPv6 literals; dst's family is the frame's
    std::string src_mac, dst_mac;  // "aa:bb:cc:dd:ee:ff"; the caller fills defaults
    std::uint16_t sport = 40000, dport = 9;  // ICMP echo: sport is the identifier
    std::string tcp_flags = "S";   // letters of "FSRPAUEC", or "" / "." for none
    std::uint32_t seq = 1000, ack = 0;  // ICMP echo: seq's low 16 bits are its sequence
    std::uint16_t window = 65535;  // TCP
    bool tcp_timestamp = false;    // TCP: a timestamp option (RFC 7323) with these values
    std::uint32_t tsval = 0, tsecr = 0;
    std::uint8_t ttl = 64;         // the hop limit for IPv6
    std::uint16_t ip_id = 1;
    // IPv4 only: IPv6 refuses fragments and the header overrides below.
    bool more_fragments = false, dont_fragment = false;
    std::uint16_t fragment_offset = 0;  // in bytes, a multiple of 8
    int ihl = -1;                  // header length field in 32-bit words; -1: 5
    int ip_total_length = -1;      // total length field; -1: computed
    bool bad_ip_checksum = false;  // header checksum deliberately wrong
    bool bad_l4_checksum = false;  // TCP/UDP/ICMP checksum deliberately wrong
    std::uint16_t vlan = 0;        // 802.1Q VLAN id (1..4095) when non-zero
    std::size_t payload = 0;       // bytes of 'x' after the L4 header, at most 9000
};

// The whole frame, Ethernet header first, exactly as long as its headers and
// payload (no padding to 60 bytes: a lying total length stays visible).
// A fragment at offset 0 carries the L4 header, its checksum taken over this
// fragment only; a fragment at a later offset carries only payload.
// Empty with `error` set on bad input.
std::vector<std::uint8_t> build_frame(const PacketSpec& spec, std::string& error);

// Sends `frame` `count` times on interface `ifindex` through an AF_PACKET
// raw socket opened in the calling thread's network namespace (the caller
// enters the namespace first). A frame the kernel drops on its way out
// counts as sent, since drops are what the cases look for: a tc egress drop
// fails sendto() with ENOBUFS. False with `error` on any other failure.
bool send_frames(int ifindex, const std::vector<std::uint8_t>& frame, unsigned count,
                 std::string& error);

// "aa:bb:cc:dd:ee:ff", hex digits in either case; false on anything else.
bool parse_mac(const std::string& text, std::array<std::uint8_t, 6>& mac);

}  // namespace rtd::packtest
