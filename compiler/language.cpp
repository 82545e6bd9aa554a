#include "compiler/language.h"

#include <utility>

namespace rtd {

const std::vector<std::string>& top_level_keywords()
{
    static const std::vector<std::string> v{"rule", "monitor", "const", "def", "use"};
    return v;
}

const std::vector<std::string>& clause_keywords()
{
    static const std::vector<std::string> v{"layer", "probe", "source", "capture", "param", "drop", "warn", "noise",
                                            "fallback", "instead", "packet", "stack", "track", "message", "hint", "counted"};
    return v;
}

const std::vector<std::string>& probe_kinds()
{
    static const std::vector<std::string> v{"kprobe", "kretprobe", "tracepoint"};
    return v;
}

const std::vector<std::string>& source_kinds()
{
    static const std::vector<std::string> v{"snmp", "link", "sysctl", "netdev", "softnet"};
    return v;
}

const std::vector<std::string>& counter_kinds()
{
    static const std::vector<std::string> v{"snmp", "link", "softnet"};
    return v;
}

const std::vector<std::string>& snmp_tables()
{
    // The tables of /proc/net/snmp, netstat and snmp6, as nstat prefixes them.
    static const std::vector<std::string> v{"Ip",  "IpExt",   "Icmp", "IcmpMsg", "Tcp",  "TcpExt",   "MPTcpExt",
                                            "Udp", "UdpLite", "Ip6",  "Icmp6",   "Udp6", "UdpLite6"};
    return v;
}

const std::vector<std::string>& link_statistics()
{
    static const std::vector<std::string> v{
        "rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors",
        "rx_dropped", "tx_dropped", "multicast", "collisions", "rx_length_errors",
        "rx_over_errors", "rx_crc_errors", "rx_frame_errors", "rx_fifo_errors",
        "rx_missed_errors", "tx_aborted_errors", "tx_carrier_errors", "tx_fifo_errors",
        "tx_heartbeat_errors", "tx_window_errors", "rx_compressed", "tx_compressed",
        "rx_nohandler", "rx_otherhost_dropped"};
    return v;
}

const std::vector<std::string>& softnet_columns()
{
    static const std::vector<std::string> v{"processed",        "dropped",     "time_squeeze", "received_rps",
                                            "flow_limit_count", "backlog_len", "input_qlen",   "process_qlen"};
    return v;
}

std::optional<std::string> canonical_scalar(std::string_view words)
{
    static const std::pair<std::string_view, std::string_view> table[] = {
        {"u8", "u8"}, {"u16", "u16"}, {"u32", "u32"}, {"u64", "u64"},
        {"s8", "s8"}, {"s16", "s16"}, {"s32", "s32"}, {"s64", "s64"}, {"bool", "bool"},
        // char is signed on the architectures BPF targets here (x86-64).
        {"char", "s8"}, {"signed char", "s8"}, {"unsigned char", "u8"},
        {"short", "s16"}, {"short int", "s16"}, {"signed short", "s16"}, {"signed short int", "s16"},
        {"unsigned short", "u16"}, {"unsigned short int", "u16"},
        {"int", "s32"}, {"signed", "s32"}, {"signed int", "s32"},
        {"unsigned", "u32"}, {"unsigned int", "u32"},
        {"long", "s64"}, {"long int", "s64"}, {"signed long", "s64"}, {"signed long int", "s64"},
        {"long long", "s64"}, {"long long int", "s64"}, {"signed long long", "s64"},
        {"unsigned long", "u64"}, {"unsigned long int", "u64"},
        {"unsigned long long", "u64"}, {"unsigned long long int", "u64"},
    };
    for (const auto& [spelled, canonical] : table)
        if (spelled == words) return std::string(canonical);
    return std::nullopt;
}

const std::vector<std::string>& task_placeholders()
{
    static const std::vector<std::string> v{"comm", "pid", "cpu", "netns", "rule", "layer", "probe"};
    return v;
}

const std::vector<std::string>& packet_placeholders()
{
    static const std::vector<std::string> v{"packet", "saddr", "daddr", "sport", "dport", "proto",
                                            "tcp_flags", "len", "dev", "ifindex", "mark"};
    return v;
}

const std::vector<std::string>& reason_placeholders()
{
    static const std::vector<std::string> v{"reason", "location", "reason_hint"};
    return v;
}

const std::vector<std::string>& monitor_placeholders()
{
    static const std::vector<std::string> v{"value", "delta", "rate", "dev", "source", "netns", "rule", "layer"};
    return v;
}

const std::vector<std::string>& monitor_values()
{
    static const std::vector<std::string> v{"value", "delta", "rate"};
    return v;
}

}  // namespace rtd
