// The language's fixed vocabulary: keywords, probe and source types,
// builtin placeholders. One place, so the grammar, the parser's messages,
// the resolver and `--help` agree.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtd {

// The backslash escapes of strings: the character after '\' and the byte it
// stands for ('\xHH' aside: two hex digits, ASCII only).
struct Escape {
    char letter;
    char byte;
};
inline constexpr Escape kEscapes[] = {{'n', '\n'}, {'t', '\t'}, {'r', '\r'}, {'0', '\0'}, {'\\', '\\'},
                                      {'"', '"'},   {'\'', '\''}, {'{', '{'},  {'}', '}'}};

const std::vector<std::string>& top_level_keywords();  // rule, monitor, const, def, use
const std::vector<std::string>& clause_keywords();     // layer, probe, capture, ...
const std::vector<std::string>& probe_kinds();         // kprobe, kretprobe, tracepoint
const std::vector<std::string>& source_kinds();        // snmp, link, sysctl, netdev, softnet
// The source types that are counters a drop can increment ('counted as').
const std::vector<std::string>& counter_kinds();       // snmp, link, softnet
// The SNMP tables as nstat prefixes their counters (Udp, Udp6, TcpExt, ...).
const std::vector<std::string>& snmp_tables();
// The per-device counters netlink reports (struct rtnl_link_stats64).
const std::vector<std::string>& link_statistics();
// The named columns of /proc/net/softnet_stat, in line order
// (compiler/proc_counters.cpp has their places in a line).
const std::vector<std::string>& softnet_columns();

// "unsigned long" -> "u64"; nothing for a combination C does not have.
std::optional<std::string> canonical_scalar(std::string_view words);

// Placeholders a message or hint may use besides captures and params.
const std::vector<std::string>& task_placeholders();     // every probe rule
const std::vector<std::string>& packet_placeholders();   // rules with 'packet'
const std::vector<std::string>& reason_placeholders();   // skb:kfree_skb rules
const std::vector<std::string>& monitor_placeholders();  // every monitor
// The identifiers a monitor's expressions may use for its source.
const std::vector<std::string>& monitor_values();        // value, delta, rate

}  // namespace rtd
