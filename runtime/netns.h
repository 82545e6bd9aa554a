// `--netns NAME|PATH`: a network namespace named as `ip netns` names it
// (/run/netns/NAME) or by a path such as /proc/PID/ns/net. Probes report
// only its drops (by its inode, rtd_netns_only); monitors read it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "runtime/status.h"

namespace rtd {

std::string netns_path(const std::string& spec);

// The namespace's inode, as the kernel reports it in events; 0 when the
// path cannot be read (entering it then says why).
std::uint64_t netns_inode(const std::string& spec);

// While one lives, this thread (the only one that reads /proc/net,
// /proc/sys and netlink) is in the namespace; it returns to the one it came
// from after. Probes are not affected: they see every namespace.
class NetnsScope {
public:
    NetnsScope() = default;
    explicit NetnsScope(int previous) : previous_(previous) {}
    NetnsScope(NetnsScope&& o) noexcept : previous_(std::exchange(o.previous_, -1)) {}
    NetnsScope& operator=(NetnsScope&&) = delete;
    ~NetnsScope();

private:
    int previous_ = -1;  // the namespace to return to
};

Expected<NetnsScope> enter_netns(const std::string& spec);

}  // namespace rtd
