#include "runtime/pcap_output.h"

#include <fmt/format.h>

#include "runtime/signals.h"

namespace rtd {

std::string pcap_interface_name(const std::string& dev, std::uint64_t netns)
{
    return fmt::format("{}@netns:{}", dev.empty() ? "?" : dev, netns);
}

std::string pcap_comment(const DecodedEvent& e, const ReportContext& ctx)
{
    const RuleEntry& rule = ctx.set.rules[e.rule];
    std::string line = "rtrace-drop: " + rule.id;
    if (e.has_reason && ctx.decoder) line += " " + ctx.decoder->reason_name(e.reason);
    const std::string place = e.has_reason && ctx.symbols ? ctx.symbols->describe(e.location) : placeholder_value("probe", e, ctx);
    if (!place.empty()) line += " at " + place;
    if (rule.hint) line += " \u2014 " + fill(*rule.hint, e, ctx);
    return line + "\n" + event_message(e, ctx);
}

void PcapOutput::event(const DecodedEvent& e)
{
    if (e.sample || !e.bytes || !writer_.last_error().empty()) return;
    const PacketBytes& b = *e.bytes;
    PcapngPacket p;
    p.time_ns = static_cast<std::uint64_t>(static_cast<std::int64_t>(e.mono_ns) + ctx_.realtime_offset_ns);
    p.orig_len = b.orig_len;
    p.data = std::span<const std::uint8_t>(b.data.data(), b.data.size());
    p.comment = pcap_comment(e, ctx_);
    p.direction = b.direction == 1 ? PacketDirection::Inbound : b.direction == 2 ? PacketDirection::Outbound : PacketDirection::Unknown;
    const std::string name = pcap_interface_name(e.packet ? e.packet->dev : "", e.netns);
    if (!writer_.write(name, b.linktype, snaplen_, p)) request_stop();  // the run ends saying why (session.cpp)
}

}  // namespace rtd
