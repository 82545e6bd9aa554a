// A tc ingress program that drops everything, for the tests that need
// TC_INGRESS drops. Its own file: <linux/bpf.h> and libpcap's <pcap/bpf.h>
// both define struct bpf_insn.
#pragma once

#include <string>

namespace e2e {

// Attached to `dev` inside namespace `ns`; true when it is.
bool tc_drop_all(const std::string& ns, const std::string& dev);

}  // namespace e2e
