#include "runtime/path_text.h"

#include <linux/types.h>

#include <algorithm>

#include <fmt/format.h>

#include "bpf-templates/rtd_event.h"
#include "runtime/json_line.h"

namespace rtd {

namespace {

constexpr std::pair<std::uint16_t, const char*> kPlaces[] = {
    {RTD_HOP_GRO, "gro"}, {RTD_HOP_RX, "rx"}, {RTD_HOP_RECEIVE, "receive"}, {RTD_HOP_QUEUE, "queue"}, {RTD_HOP_XMIT, "xmit"},
};

bool failed_xmit(const HopInfo& h) { return (h.places & RTD_HOP_XMIT) && h.xmit_rc != 0; }

// Signed: a hop stamped after the drop (another CPU's clock) reads as negative, not as 584 years.
std::int64_t since(std::uint64_t from, std::uint64_t to) { return static_cast<std::int64_t>(to - from); }

std::string ms(std::int64_t ns) { return fmt::format("{:.3f} ms", static_cast<double>(ns) / 1e6); }

// An address with its port where the protocol has ports.
std::string endpoint(const PacketInfo& p, const std::string& address, std::uint16_t port)
{
    if (p.proto != 6 && p.proto != 17 && p.proto != 132) return address;
    return p.family == 10 ? fmt::format("[{}]:{}", address, port) : fmt::format("{}:{}", address, port);
}

std::string dev_text(const HopInfo& h)
{
    std::string dev = !h.dev.empty() ? h.dev : h.ifindex ? fmt::format("if{}", h.ifindex) : "-";
    return h.master.empty() ? dev : dev + "@" + h.master;
}

std::string hop_tuple_text(const HopInfo& h)
{
    if (h.tuple) return format_packet(*h.tuple);
    return h.len ? fmt::format("len {}", h.len) : "-";
}

std::string plural(std::uint64_t n, const char* word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

}  // namespace

std::string path_id(const PathInfo& path)
{
    return fmt::format("{:#x}@{}.{:09}", path.head, path.first_ns / 1000000000, path.first_ns % 1000000000);
}

std::vector<std::string> place_names(const HopInfo& hop)
{
    std::vector<std::string> out;
    for (const auto& [bit, name] : kPlaces)
        if (hop.places & bit) out.emplace_back(name);
    if (!hop.rule.empty()) out.push_back(hop.rule);
    return out;
}

std::string nat_text(const PacketInfo& before, const PacketInfo& after)
{
    const std::string kind = nat_change(before, after);
    std::string out;
    if (kind.find("snat") != std::string::npos)
        out = fmt::format("SNAT {} -> {}", endpoint(before, before.saddr, before.sport), endpoint(after, after.saddr, after.sport));
    if (kind.find("dnat") != std::string::npos)
        out += fmt::format("{}DNAT {} -> {}", out.empty() ? "" : "  ", endpoint(before, before.daddr, before.dport),
                           endpoint(after, after.daddr, after.dport));
    return out;
}

std::vector<std::string> path_lines(const DecodedEvent& e, bool color)
{
    auto paint = [&](const char* code, const std::string& s) { return color ? fmt::format("\033[{}m{}\033[0m", code, s) : s; };
    std::vector<std::string> lines;
    if (!e.path) return lines;
    const PathInfo& path = *e.path;
    const std::string label = paint("36", "path:");
    if (path.hops.empty()) {
        lines.push_back(fmt::format("    {} none (first seen at the drop: not yet followed, a copy, or its entry was evicted)", label));
        return lines;
    }
    const std::uint64_t start = path.hops.front().mono_ns;
    lines.push_back(fmt::format("    {} {} over {} (packet {})", label, plural(path.seen, "hop"), ms(since(start, e.mono_ns)), path_id(path)));

    // Columns as wide as their widest cell, so one path's hops line up.
    std::vector<std::string> offsets, places, devs;
    std::size_t offset_width = 0, places_width = 12, dev_width = 12;
    for (const HopInfo& h : path.hops) {
        std::string names;
        for (const std::string& name : place_names(h)) names += (names.empty() ? "" : ",") + name;
        offsets.push_back("+" + ms(since(start, h.mono_ns)));
        places.push_back(names.empty() ? "-" : names);
        devs.push_back(dev_text(h));
        offset_width = std::max(offset_width, offsets.back().size());
        places_width = std::max(places_width, places.back().size());
        dev_width = std::max(dev_width, devs.back().size());
    }
    const PacketInfo* previous = nullptr;  // the last hop with a tuple: NAT is told against it
    for (std::size_t i = 0; i < path.hops.size(); ++i) {
        const HopInfo& h = path.hops[i];
        std::string line = fmt::format("      {:>{}}  {:<{}}  {:<{}}  netns {:<10}  {}", offsets[i], offset_width, places[i], places_width,
                                       devs[i], dev_width, h.netns, hop_tuple_text(h));
        if (h.tuple) {
            if (previous && !h.nat.empty()) line += "  " + paint("33", nat_text(*previous, *h.tuple));
            previous = &*h.tuple;
        }
        if (failed_xmit(h)) line += "  " + paint("31", fmt::format("xmit rc={}", h.xmit_rc));
        if (h.clone) line += "  (a clone from here on)";
        if (h.matched) line += "  (matched)";
        lines.push_back(std::move(line));
        if (i == 0 && path.omitted > 0)
            lines.push_back(fmt::format("      ... {} not kept (--track-hops {})", plural(path.omitted, "hop"), path.kept));
    }
    if (previous && e.packet && !path.nat_at_drop.empty())
        lines.push_back(fmt::format("      drop: {}", paint("33", nat_text(*previous, *e.packet))));
    return lines;
}

void write_path_json(JsonLine& j, const PathInfo& path)
{
    if (path.hops.empty()) {
        j.field("path", nullptr);  // not followed
        return;
    }
    const std::uint64_t start = path.hops.front().mono_ns;
    j.begin_object("path");
    j.begin_array("hops");
    for (const HopInfo& h : path.hops) {
        // A hop without an IP header has its tuple fields (daddr, dport,
        // proto, saddr, sport, tcp_flags) null, so every hop has every key.
        // xmit_rc is null unless the hop saw net_dev_xmit.
        const PacketInfo* t = h.tuple ? &*h.tuple : nullptr;
        j.begin_element_object();
        j.field("clone", h.clone);
        t ? j.field("daddr", t->daddr) : j.field("daddr", nullptr);
        j.field("dev", h.dev);
        t ? j.field("dport", t->dport) : j.field("dport", nullptr);
        j.field("ifindex", h.ifindex);
        j.field("len", h.len);
        j.field("master", h.master);
        j.field("matched", h.matched);
        j.field("nat", h.nat);
        j.field("netns", h.netns);
        j.begin_array("places");
        for (const std::string& name : place_names(h)) j.element(name);
        j.end_array();
        t ? j.field("proto", protocol_name(t->proto)) : j.field("proto", nullptr);
        t ? j.field("saddr", t->saddr) : j.field("saddr", nullptr);
        t ? j.field("sport", t->sport) : j.field("sport", nullptr);
        t ? j.field("tcp_flags", t->proto == 6 ? tcp_flags_text(t->tcp_flags) : std::string()) : j.field("tcp_flags", nullptr);
        j.field("time_offset_ns", since(start, h.mono_ns));
        (h.places & RTD_HOP_XMIT) ? j.field("xmit_rc", std::int64_t{h.xmit_rc}) : j.field("xmit_rc", nullptr);
        j.end_object();
    }
    j.end_array();
    j.field("id", path_id(path));
    j.field("kept", path.kept);
    j.field("matched", path.matched);
    j.field("nat_at_drop", path.nat_at_drop);
    j.field("omitted", path.omitted);
    j.field("seen", path.seen);
    j.end_object();
}

}  // namespace rtd
