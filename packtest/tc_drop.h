// A tc ingress program that drops every packet: the `tc_drop` step, and the
// end-to-end tests' TC_INGRESS drops. A file of its own: <linux/bpf.h> and
// libpcap's <pcap/bpf.h> both define struct bpf_insn.
#pragma once

#include <string>

namespace rtd::packtest {

// Attached to the ingress of `dev` inside the namespace at `netns_path`
// (/run/netns/NAME). "" when it is, else why not.
std::string tc_drop_all(const std::string& netns_path, const std::string& dev);

}  // namespace rtd::packtest
