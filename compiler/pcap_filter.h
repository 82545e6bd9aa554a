// `run --filter EXPR`: a tcpdump-style pcap-filter expression ("tcp port 443
// and host 10.0.0.1"), compiled by libpcap itself and translated from the
// classic BPF it produces into C the generated program runs in the kernel,
// so the decision is made there before any event is reserved.
//
// libpcap compiles the expression twice: for Ethernet frames and for raw IP
// (packets captured without a MAC header); the kernel side picks per packet
// by the link type of the bytes it copied (bpf-templates/rtd.bpf.h,
// rtd_capture_packet). Each classic instruction becomes one labelled C
// statement; classic BPF only jumps forward, so the C has no loop. Loads read
// the copied bytes through rtd_pcap_ld8/16/32, each checked against the
// captured length as libpcap's own interpreter (bpf_filter) checks it: a
// load past the end rejects the packet.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rtd {

struct PcapFilter {
    std::string text;      // as the user wrote it
    std::string c_source;  // defines rtd_pcap_filter_eth/raw (const __u8 *b, __u32 caplen, __u32 wirelen) -> __u32
    bool raw_ip = true;    // false: libpcap refused the expression for raw IP; such packets never match
};

// Compiles `text` with libpcap for both link types and translates both. An
// expression libpcap refuses for Ethernet is an error: nullopt and
// libpcap's message in `error`.
std::optional<PcapFilter> compile_pcap_filter(std::string_view text, std::string& error);

// The classic program libpcap makes of `text` for `linktype` (DLT_EN10MB or
// DLT_RAW), one instruction per line as bpf_image() writes them (tests and
// messages); nullopt and libpcap's message in `error` if it refuses.
std::optional<std::string> pcap_filter_listing(std::string_view text, int linktype, std::string& error);

}  // namespace rtd
