// Readers for what monitor rules watch, all in the calling thread's
// network namespace: SNMP counters (/proc/net/snmp, netstat, snmp6), per
// device link statistics and flags (netlink RTM_GETLINK), sysctls (/proc/sys).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtd {

// nstat's names: "TcpExtListenOverflows", "IpInDiscards", "Ip6InReceives".
using SnmpCounters = std::map<std::string, std::uint64_t>;

// Parses the two-line "Prefix: Name Name...\nPrefix: 1 2..." tables of
// /proc/net/snmp and /proc/net/netstat.
void parse_snmp_tables(std::string_view text, SnmpCounters& out);
// Parses /proc/net/snmp6's "Name   value" lines.
void parse_snmp6(std::string_view text, SnmpCounters& out);
// All counters of this namespace (files that cannot be read are skipped).
SnmpCounters read_snmp(const std::string& proc_net = "/proc/thread-self/net");

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
