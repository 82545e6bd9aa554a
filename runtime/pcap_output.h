// `run --pcap FILE`: each reported drop whose packet bytes came along
// (bpf-templates/rtd_capture.bpf.h) becomes a packet in a pcapng file
// (pcapng.h), on an interface per device, network namespace and link type,
// with a comment that says which rule dropped it, why, where, and the hint.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "runtime/pcapng.h"
#include "runtime/report.h"

namespace rtd {

struct PcapOptions {
    std::string path;             // "" for none, "-" for standard output
    std::uint32_t snaplen = 256;  // bytes of each packet copied in the kernel (at most RTD_CAPTURE_MAX)
    PcapngRotation rotation;      // --pcap-rotate, --pcap-files
};

// The interface a packet is written on: "eth0@netns:4026531840"
// ("?" for a packet without a device).
std::string pcap_interface_name(const std::string& dev, std::uint64_t netns);

// "rtrace-drop: tcp.no_socket NO_SOCKET at tcp_v4_rcv+0x3a1 — <hint>", then
// the rule's message on a line of its own.
std::string pcap_comment(const DecodedEvent& e, const ReportContext& ctx);

class PcapOutput : public EventSink {
public:
    PcapOutput(PcapngWriter& writer, const ReportContext& ctx, std::uint32_t snaplen) : writer_(writer), ctx_(ctx), snaplen_(snaplen) {}
    // Events without packet bytes (a rule without 'packet', no header to
    // start from) are not written. A write error stops the run.
    void event(const DecodedEvent& e) override;
    void monitor(const MonitorFinding&) override {}

private:
    PcapngWriter& writer_;
    const ReportContext& ctx_;
    std::uint32_t snaplen_;
};

}  // namespace rtd
