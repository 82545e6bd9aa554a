#include "runtime/decoder.h"

#include <arpa/inet.h>
#include <linux/types.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

// The layout shared with the BPF side.
#include "bpf-templates/rtd_event.h"

namespace rtd {

namespace {

static_assert(sizeof(rtd_event_header) == 64, "must match the BPF side (bpf-templates/rtd_event.h)");
static_assert(sizeof(rtd_packet) == 72, "must match the BPF side");
static_assert(sizeof(rtd_stack) == 264, "must match the BPF side");
static_assert(sizeof(rtd_capture) == 16, "must match the BPF side");
static_assert(sizeof(rtd_hop) == 104, "must match the BPF side");
static_assert(sizeof(rtd_path) == 872, "must match the BPF side");

std::string address(std::uint8_t family, const std::uint8_t* bytes)
{
    char buf[INET6_ADDRSTRLEN] = {};
    if (family == 2) inet_ntop(AF_INET, bytes, buf, sizeof buf);
    else if (family == 10) inet_ntop(AF_INET6, bytes, buf, sizeof buf);
    return buf;
}

std::string bounded(const char* s, std::size_t max) { return std::string(s, strnlen(s, max)); }

HopInfo hop_info(const rtd_hop& h, const CompiledRuleSet& set)
{
    HopInfo hop{.places = h.places, .matched = (h.flags & RTD_HOP_MATCHED) != 0, .clone = (h.flags & RTD_HOP_CLONE) != 0, .mono_ns = h.time_ns, .netns = h.netns,
                .ifindex = h.ifindex, .len = h.len, .xmit_rc = h.xmit_rc, .dev = bounded(h.dev, sizeof h.dev),
                .master = bounded(h.master, sizeof h.master)};
    if (h.places & RTD_HOP_RULE) hop.rule = h.rule < set.rules.size() ? set.rules[h.rule].id : fmt::format("rule {}", h.rule);
    if (h.family == 2 || h.family == 10)
        hop.tuple = PacketInfo{.family = h.family, .proto = h.proto, .saddr = address(h.family, h.saddr),
                               .daddr = address(h.family, h.daddr), .sport = h.sport, .dport = h.dport, .tcp_flags = h.tcp_flags,
                               .len = h.len, .ifindex = h.ifindex, .dev = hop.dev};
    return hop;
}

// The kept hops in the order the packet met them: hop[0], then hop number j
// (0-based count of appends) at slot 1 + (j-1) % (kept-1), the newest
// kept-1 of them when more were seen than kept.
PathInfo path_info(const rtd_path& p, const std::optional<PacketInfo>& dropped, const CompiledRuleSet& set)
{
    PathInfo path{.head = p.head, .first_ns = p.first_ns, .seen = p.hops, .matched = (p.flags & RTD_PATH_MATCHED) != 0};
    // A count the kernel cannot have written reads as a full ring, not past it.
    const std::uint32_t kept = std::min<std::uint32_t>(p.kept, RTD_TRACK_HOPS);
    path.kept = kept;
    if (kept == 0 || p.hops == 0) return path;
    std::vector<std::uint32_t> slots{0};
    if (p.hops <= kept) {
        for (std::uint32_t j = 1; j < p.hops; ++j) slots.push_back(j);
    } else {
        path.omitted = p.hops - kept;
        if (kept > 1)
            for (std::uint32_t j = p.hops - kept + 1; j < p.hops; ++j) slots.push_back(1 + (j - 1) % (kept - 1));
    }
    path.hops.reserve(slots.size());       // `previous` points into it
    const PacketInfo* previous = nullptr;  // the last hop with a tuple
    for (std::uint32_t slot : slots) {
        HopInfo& hop = path.hops.emplace_back(hop_info(p.hop[slot], set));
        if (!hop.tuple) continue;
        if (previous) hop.nat = nat_change(*previous, *hop.tuple);
        previous = &*hop.tuple;
    }
    if (previous && dropped) path.nat_at_drop = nat_change(*previous, *dropped);
    return path;
}

}  // namespace

EventDecoder::EventDecoder(const CompiledRuleSet& set, const Btf& btf) : set_(set), btf_(btf), reasons_(&btf) {}

std::string EventDecoder::enumerator(const std::string& enum_name, std::uint64_t value) const
{
    auto [it, fresh] = enums_.try_emplace(enum_name);
    if (fresh) {
        // Build the value -> name table once per enum: decoding is per event.
        if (auto t = btf_.find_tagged(Btf::Tag::Enum, enum_name))
            for (auto& [name, v] : btf_.enumerators_of(*t)) it->second.emplace(v, std::move(name));
    }
    auto found = it->second.find(value);
    return found != it->second.end() ? found->second : std::to_string(static_cast<std::int64_t>(value));
}

std::string EventDecoder::reason_name(std::uint32_t value) const { return reasons_.name(value); }

std::optional<DecodedEvent> EventDecoder::decode(const void* data, std::size_t size) const
{
    if (size < sizeof(rtd_event_header)) return std::nullopt;
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    rtd_event_header h;
    std::memcpy(&h, bytes, sizeof h);
    if (h.rule >= set_.rules.size()) return std::nullopt;
    const EventSchema& schema = set_.rules[h.rule].event;
    if (size < schema.size) return std::nullopt;

    DecodedEvent e{.rule = h.rule, .probe = h.probe, .mono_ns = h.time_ns, .pid = h.pid, .tid = h.tid, .cpu = h.cpu,
                   .comm = bounded(h.comm, sizeof h.comm), .netns = h.netns, .sample = (h.flags & RTD_EV_SAMPLE) != 0};
    if (h.flags & RTD_EV_REASON) {
        e.has_reason = true;
        e.reason = h.reason;
        e.location = h.location;
    }
    if (schema.has_packet && (h.flags & RTD_EV_PACKET)) {
        rtd_packet p;
        std::memcpy(&p, bytes + schema.packet_offset, sizeof p);
        e.packet = PacketInfo{.family = p.family, .proto = p.proto, .saddr = address(p.family, p.saddr),
                              .daddr = address(p.family, p.daddr), .sport = p.sport, .dport = p.dport, .tcp_flags = p.tcp_flags,
                              .len = p.len, .mark = p.mark, .ifindex = p.ifindex, .l3proto = p.l3proto, .dev = bounded(p.dev, sizeof p.dev)};
    }
    if (schema.has_stack && (h.flags & RTD_EV_STACK)) {
        rtd_stack s;
        std::memcpy(&s, bytes + schema.stack_offset, sizeof s);
        std::size_t frames = s.bytes > 0 ? std::min<std::size_t>(static_cast<std::size_t>(s.bytes) / 8, RTD_STACK_DEPTH) : 0;
        e.stack.assign(s.ips, s.ips + frames);
    }
    // run --track: the path follows the rule's event, the capture the path.
    // A record too short for it loses the path, not the drop.
    std::size_t capture_offset = schema.size;
    if (h.flags & RTD_EV_PATH) {
        capture_offset += sizeof(rtd_path);
        if (size >= capture_offset) {
            rtd_path p;
            std::memcpy(&p, bytes + schema.size, sizeof p);
            e.path = path_info(p, e.packet, set_);
        }
    }
    if ((h.flags & RTD_EV_CAPTURE) && size >= capture_offset + sizeof(rtd_capture)) {
        rtd_capture c;
        std::memcpy(&c, bytes + capture_offset, sizeof c);
        if (c.caplen <= size - capture_offset - sizeof c) {
            const std::uint8_t* at = bytes + capture_offset + sizeof c;
            e.bytes = PacketBytes{.linktype = c.linktype, .direction = c.direction, .orig_len = std::max(c.origlen, c.caplen),
                                  .data = std::vector<std::uint8_t>(at, at + c.caplen)};
        }
    }
    for (const EventField& f : schema.fields) {
        CaptureValue v;
        v.field = &f;
        if (f.kind == ValueKind::String) {
            v.text = bounded(reinterpret_cast<const char*>(bytes + f.offset), f.size);
        } else {
            std::memcpy(&v.u, bytes + f.offset, 8);
            v.s = static_cast<std::int64_t>(v.u);
            if (f.kind == ValueKind::Enum) v.text = enumerator(f.enum_name, v.u);
        }
        e.captures.push_back(std::move(v));
    }
    return e;
}

std::string protocol_name(std::uint8_t proto)
{
    switch (proto) {
    case 1: return "ICMP";
    case 6: return "TCP";
    case 17: return "UDP";
    case 58: return "ICMPv6";
    case 132: return "SCTP";
    default: return fmt::format("proto {}", proto);
    }
}

namespace {

// The UDP ports of VXLAN (IANA's and Linux's old default), Geneve, VXLAN-GPE
// and WireGuard: a tuple that has one where the other has not is the outer
// or inner packet of a tunnel, not a translation.
bool tunnel_port(const PacketInfo& p)
{
    if (p.proto != 17) return false;
    for (std::uint16_t port : {4789, 8472, 6081, 4790, 51820})
        if (p.sport == port || p.dport == port) return true;
    return false;
}

}  // namespace

std::string nat_change(const PacketInfo& before, const PacketInfo& after)
{
    if (before.family != after.family || before.proto != after.proto || (after.family != 2 && after.family != 10)) return {};
    if (tunnel_port(before) != tunnel_port(after)) return {};
    // ICMP's "ports" are its type and code; a later fragment has none (0).
    const bool ports = after.proto != 1 && after.proto != 58 && (before.sport || before.dport) && (after.sport || after.dport);
    const bool snat = before.saddr != after.saddr || (ports && before.sport != after.sport);
    const bool dnat = before.daddr != after.daddr || (ports && before.dport != after.dport);
    return snat && dnat ? "snat+dnat" : snat ? "snat" : dnat ? "dnat" : "";
}

std::string tcp_flags_text(std::uint8_t flags)
{
    std::string s;
    if (flags & 0x02) s += 'S';
    if (flags & 0x01) s += 'F';
    if (flags & 0x04) s += 'R';
    if (flags & 0x08) s += 'P';
    if (flags & 0x20) s += 'U';
    if (flags & 0x40) s += 'E';
    if (flags & 0x80) s += 'W';
    if (flags & 0x10) s += '.';
    return s.empty() ? "none" : s;
}

std::optional<PacketInfo> flow_packet(const rtd_flow_key& k)
{
    if (k.family != 2 && k.family != 10) return std::nullopt;
    return PacketInfo{.family = k.family, .proto = k.proto, .saddr = address(k.family, k.saddr), .daddr = address(k.family, k.daddr),
                      .dport = k.dport};
}

std::string format_packet(const PacketInfo& p)
{
    if (p.family == 0) return p.l3proto ? fmt::format("ethertype {:#06x} len {}", p.l3proto, p.len) : fmt::format("len {}", p.len);
    bool v6 = p.family == 10;
    auto endpoint = [&](const std::string& a, std::uint16_t port) {
        return v6 ? fmt::format("[{}]:{}", a, port) : fmt::format("{}:{}", a, port);
    };
    switch (p.proto) {
    case 6: return fmt::format("{} > {} TCP [{}]", endpoint(p.saddr, p.sport), endpoint(p.daddr, p.dport), tcp_flags_text(p.tcp_flags));
    case 17:
    case 132: return fmt::format("{} > {} {}", endpoint(p.saddr, p.sport), endpoint(p.daddr, p.dport), protocol_name(p.proto));
    case 1:
    case 58: return fmt::format("{} > {} {} type {} code {}", p.saddr, p.daddr, protocol_name(p.proto), p.sport, p.dport);
    default: return fmt::format("{} > {} {}", p.saddr, p.daddr, protocol_name(p.proto));
    }
}

}  // namespace rtd
