// Ring-buffer bytes -> events, using the compiler's event layouts (never
// guessing): header, packet, stack and each capture at its offset.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/btf.h"
#include "compiler/compiled.h"
#include "runtime/drop_reasons.h"

struct rtd_flow_key;

namespace rtd {

struct PacketInfo {
    std::uint8_t family = 0;  // 0, 2 (IPv4), 10 (IPv6)
    std::uint8_t proto = 0;
    std::string saddr, daddr;  // printable; empty when not IP
    std::uint16_t sport = 0, dport = 0;
    std::uint8_t tcp_flags = 0;
    std::uint32_t len = 0, mark = 0, ifindex = 0;
    std::uint16_t l3proto = 0;
    std::string dev;
};

// run --pcap: the packet's first bytes as the kernel copied them
// (bpf-templates/rtd_event.h, rtd_capture).
struct PacketBytes {
    std::uint16_t linktype = 0;  // 1 Ethernet, 101 raw IP
    std::uint8_t direction = 0;  // 0 unknown, 1 in, 2 out
    std::uint32_t orig_len = 0;
    std::vector<std::uint8_t> data;
};

// run --track: one device the packet was seen on before its drop
// (bpf-templates/rtd_event.h, rtd_hop).
struct HopInfo {
    std::uint16_t places = 0;  // RTD_HOP_* bits seen on this device
    bool matched = false;      // the --where filter accepted the packet here
    bool clone = false;        // a clone's first hop: the hops before it are its original's
    std::uint64_t mono_ns = 0;
    std::uint32_t netns = 0, ifindex = 0, len = 0;
    std::int16_t xmit_rc = 0;  // meaningful only with RTD_HOP_XMIT
    std::string dev, master;   // master: the bridge or bond dev is a port of, "" if none
    std::string rule;          // RTD_HOP_RULE: the id of the track rule whose probe saw it
    std::optional<PacketInfo> tuple;  // nullopt when the hop had no IP header
    // "", "snat", "dnat" or "snat+dnat": the tuple against the previous hop that had one.
    std::string nat;
};

// run --track: the hops the packet was seen on, oldest first. Empty hops:
// not followed (first seen at the drop, a clone or copy, or evicted).
struct PathInfo {
    std::uint64_t head = 0, first_ns = 0;  // the packet's id
    std::uint32_t seen = 0;     // hops appended in the kernel
    std::uint32_t omitted = 0;  // of those, the middle ones overwritten (not in `hops`)
    std::uint32_t kept = 0;     // hops the kernel keeps (run --track-hops)
    bool matched = false;       // some hop matched the --where filter
    std::vector<HopInfo> hops;  // hop[0], then the newest ones, in order
    std::string nat_at_drop;    // the drop's packet against the last hop with a tuple
};

struct CaptureValue {
    const EventField* field = nullptr;
    std::int64_t s = 0;
    std::uint64_t u = 0;
    std::string text;  // strings; enum names
};

struct DecodedEvent {
    std::size_t rule = 0;
    std::uint16_t probe = 0;
    std::uint64_t mono_ns = 0;
    std::uint32_t pid = 0, tid = 0, cpu = 0;
    std::string comm;
    std::uint64_t netns = 0;
    std::optional<PacketInfo> packet;
    bool has_reason = false;
    std::uint32_t reason = 0;
    std::uint64_t location = 0;
    // --summary counted in the kernel: the first drop of its flow, sent for
    // its hint's evidence, already counted in the flow table (RTD_EV_SAMPLE).
    bool sample = false;
    std::vector<std::uint64_t> stack;
    std::vector<CaptureValue> captures;
    std::optional<PacketBytes> bytes;
    std::optional<PathInfo> path;  // RTD_EV_PATH (run --track)
    // Evidence looked up for its message and hint (runtime/evidence_stage.h):
    // "sysctl:net.ipv4.conf.veth0.rp_filter" -> "1".
    std::vector<std::pair<std::string, std::string>> evidence;
};

class EventDecoder {
public:
    EventDecoder(const CompiledRuleSet& set, const Btf& btf);

    // Nothing when the bytes are not an event of a known rule and size.
    std::optional<DecodedEvent> decode(const void* data, std::size_t size) const;

    // "NETFILTER_DROP" for this kernel's value, a subsystem's reason
    // ("OVS_DROP_LAST_ACTION"), or the number (runtime/drop_reasons.h).
    std::string reason_name(std::uint32_t value) const;
    // The enumerator of `enum_name` with `value`, or the number.
    std::string enumerator(const std::string& enum_name, std::uint64_t value) const;

private:
    const CompiledRuleSet& set_;
    const Btf& btf_;
    DropReasonNames reasons_;
    mutable std::map<std::string, std::unordered_map<std::uint64_t, std::string>> enums_;
};

// 10.0.0.1:42310 > 10.0.0.2:5555 TCP [S]
std::string format_packet(const PacketInfo& p);
// The packet fields a kernel-counted flow keeps (family, protocol,
// addresses, destination port); nothing for a key without an IP packet.
std::optional<PacketInfo> flow_packet(const rtd_flow_key& k);
std::string protocol_name(std::uint8_t proto);
// What NAT changed from `before` to `after`: "", "snat" (source address or
// port), "dnat" (destination) or "snat+dnat". "" unless both are IP of one
// family and protocol (another one is encapsulation, not NAT); ICMP
// compares addresses only.
std::string nat_change(const PacketInfo& before, const PacketInfo& after);
// tcpdump's letters: S, S., P., F., R.
std::string tcp_flags_text(std::uint8_t flags);

}  // namespace rtd
