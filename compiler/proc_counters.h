// Parsers for the kernel's counter files under /proc/net: the SNMP counters
// (snmp, netstat, snmp6) by nstat's names and softnet_stat's per-CPU rows.
// In the compiler library so rule counter names can be held against this
// machine; the runtime's monitors read them through runtime/counters.h.
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

// One line of /proc/net/softnet_stat: an online CPU's struct softnet_data
// counters. Lines are as wide as this kernel prints them (11, 13 or 15
// fields); `cpu` is field 12 where the kernel prints it, else the line's
// index, which is not the CPU id when a CPU before it is offline.
struct SoftnetRow {
    unsigned cpu = 0;
    std::vector<std::uint32_t> fields;
};
// Fields are hex, separated by any whitespace; a line with a field that is
// not a 32-bit hex number is left out (the others keep their index).
std::vector<SoftnetRow> parse_softnet(std::string_view text);
// PROC_NET/softnet_stat; nothing when it cannot be read.
std::optional<std::vector<SoftnetRow>> read_softnet(const std::string& proc_net = "/proc/thread-self/net");
// The field of a softnet_columns() name ("dropped" -> 1).
std::optional<std::size_t> softnet_column_index(std::string_view name);
// Whether the column is a queue length at the time of reading (a gauge)
// rather than a count since boot that wraps at 2^32.
bool softnet_column_is_gauge(std::string_view name);

// Shared with the sysctl reader (runtime/counters.cpp): a whole /proc file,
// nothing when it cannot be read; the first number of its first line
// ("4096\t131072" -> 4096; "-1", as the kernel prints a signed value, is
// kept as its two's complement).
std::optional<std::string> read_proc_file(const std::string& path);
std::optional<std::uint64_t> first_number(std::string_view text);

}  // namespace rtd
