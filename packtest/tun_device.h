// A tun device with carrier and no reader: the `tun` step.
#pragma once

#include <string>

namespace rtd::packtest {

// Creates the tun device `name` inside the namespace at `netns_path`, brings
// it up and detaches its only queue: the link has carrier, so the stack
// transmits to it, and what it transmits is dropped for want of a reader
// (tun_net_xmit: SKB_DROP_REASON_DEV_READY). The device lives while `fd`
// stays open. "" when done, else why not; `no_tun` when the kernel has no
// tun driver.
std::string detached_tun(const std::string& netns_path, const std::string& name, int& fd, bool& no_tun);

}  // namespace rtd::packtest
