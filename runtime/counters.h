// Readers for what monitor rules watch, all in the calling thread's
// network namespace: SNMP counters and softnet_stat (/proc/net, parsed in
// compiler/proc_counters.h), per device link statistics and flags (netlink
// RTM_GETLINK), sysctls (/proc/sys).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compiler/proc_counters.h"

namespace rtd {

struct LinkInfo {
    std::string name;
    int ifindex = 0;
    std::uint32_t flags = 0;                  // IFF_*
    std::vector<std::uint64_t> stats;         // rtnl_link_stats64, in field order
};

// Every device of this namespace with its statistics; nothing on error
// (with `error` set).
std::optional<std::vector<LinkInfo>> read_links(std::string& error);

// The index of a statistic in LinkInfo::stats ("rx_over_errors" -> 11).
std::optional<std::size_t> link_stat_index(const std::string& name);

// sysctl KEY (dots) -> value for each match; '*' in a segment matches every
// entry there and gives its name as the device. Nothing when nothing matches.
struct SysctlValue {
    std::string dev;  // the '*' segment's match, or empty
    std::int64_t value = 0;
};
std::optional<std::vector<SysctlValue>> read_sysctl(const std::string& key, const std::string& proc_sys = "/proc/sys");

}  // namespace rtd
