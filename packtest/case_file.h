// A pack's test cases (PACK/tests/*.toml, docs/PACKS.md): for each case a
// topology of throwaway network namespaces, declarative steps that make a
// drop happen (or must not), and what the pack's rules must report. This
// file only reads them; runner.h runs them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "compiler/diagnostics.h"
#include "compiler/source.h"
#include "packtest/packet.h"

namespace rtd::packtest {

// Network namespaces by their name in the case ("a", "b", "router"); the
// runner gives each a unique name of its own on the host.
struct Topology {
    struct End {
        std::string ns, dev;
    };
    struct Link {
        End a, b;  // a veth pair
    };
    struct Address {
        End at;
        std::string cidr;  // "10.0.0.1/24", "fd00::1/64"
    };
    struct Route {
        std::string ns;
        std::vector<std::string> args;  // for 'ip route add': "10.9.0.0/24", "via", "10.0.0.2"
    };
    struct Bridge {
        std::string ns, name;
        std::vector<std::string> ports;  // devices in ns
    };
    std::vector<std::string> namespaces;
    std::vector<Link> links;
    std::vector<Address> addresses;
    std::vector<Route> routes;
    std::vector<Bridge> bridges;

    // a:veth0 10.0.0.1/24, fd00::1/64 <-> b:veth0 10.0.0.2/24, fd00::2/64
    static Topology pair();
};

enum class StepKind {
    Sysctl,      // sysctl = "net.ipv4.ip_forward=1"
    Nft,         // nft = "add table inet t; ..." (nft -f -)
    Iptables,    // iptables = "-A INPUT -p tcp --dport 80 -j DROP" (legacy = true: iptables-legacy)
    Ip6tables,
    Ip,          // ip = "route del 10.0.0.0/24" (link, address, route, neighbour, rule)
    Tc,          // tc = "qdisc add dev veth0 root tbf ..." (qdisc, class)
    TcDrop,      // tc_drop = "veth0": its ingress drops every packet
    Tun,         // tun = "tun0": a tun device, up, with carrier and no reader
    Listen,      // listen = "10.0.0.2:80", backlog, rcvbuf: a TCP listener that never accepts
    Serve,       // serve = "10.0.0.2:80": accepts and reads everything
    UdpSink,     // udp_sink = "10.0.0.2:53", rcvbuf: bound, never reads
    UdpSend,     // udp_send = "10.0.0.2:53", count, size
    TcpConnect,  // tcp_connect = "10.0.0.2:80", count, bytes, hold, name
    Send,        // send = "NAME": bytes more on a held connection
    Ping,        // ping = "10.0.0.1", count, size, rcvbuf: an ICMP socket that never reads the replies
    Packet,      // packet = "udp" | "tcp" | "icmp" | "253", dev and the fields of PacketSpec
    Segment,     // segment = "NAME": crafted TCP segments inside a held connection
    Wait,        // wait = 1.5 (seconds)
    Exec,        // exec = "shell command": refused without --allow-exec
};
const char* step_name(StepKind kind);

struct Step {
    StepKind kind = StepKind::Wait;
    SourceRange at;
    std::string ns;      // 'in': the case's namespace name; "" for steps that have none (wait, send)
    std::string value;   // the action key's value
    std::string dev;     // packet: the device it leaves by
    std::string name;    // tcp_connect: the connection's name for 'send'
    // segment: the first one's sequence number is the connection's first
    // unacknowledged byte + offset, the next ones `spacing` bytes on (0: the
    // payload's length); timestamp "now", "old" (100 s behind: PAWS) or "none"
    std::int64_t offset = 0;
    std::uint32_t spacing = 0;
    std::string timestamp = "now";
    std::uint32_t backlog = 1, count = 1, size = 64, rcvbuf = 0, bytes = 0;
    bool hold = false;   // tcp_connect: keep the connections open until the case ends
    bool legacy = false; // iptables: iptables-legacy (x_tables, ipt_do_table) rather than the nft backend
    double seconds = 0;  // wait
    PacketSpec packet;   // packet: src_mac/dst_mac/src left empty are filled from the topology
    bool packet_src_given = false;
};

// One value an event's field must have: a dotted path into the event's JSON
// ("packet.dport", "captures.max", "reason") and a JSON literal, a text
// starting with a comparison (">= 4", "< 10", "!= 0") for numbers, or
// "~ TEXT" for a text that contains TEXT.
struct FieldMatch {
    std::string path;
    std::string json;  // the expected value as JSON text ("7208", "\"UDP\"")
    SourceRange at;
};

struct Expectation {
    SourceRange at;
    std::string rule;              // a rule id or glob (rule expectations)
    std::string counter;           // a /proc/net/snmp or netstat counter name (counter expectations)
    std::string ns;                // counter: the namespace whose counter is read
    std::optional<std::uint64_t> at_least, exactly;  // neither: at least 1; 'none = true': exactly 0
    std::vector<FieldMatch> where;  // events counted must match all of these
    std::string expected_text() const;  // "≥ 1", "= 3", "0"
};

struct TestCase {
    std::string pack;                 // the pack's name (pack.toml)
    std::filesystem::path file;
    std::string name;
    SourceRange at;
    std::vector<std::string> rules;   // id globs attached; default: those the expectations name
    Topology topology;
    std::vector<Step> steps;
    std::vector<Expectation> expect;
    double settle = 1.0;              // seconds the events are read after the last step
    std::string min_kernel;           // "6.12": skipped on older kernels ("" for any)
    std::string watch;                // the namespace monitor rules read ("" when none)
    bool all = false;                 // as run --all: noise reported, 'instead of' rules run fully
    bool uses_exec = false;
    std::string id() const { return pack + "/" + name; }
};

// Reads one case file of `pack`. False with located diagnostics on errors.
bool read_case_file(const std::filesystem::path& file, const std::string& pack, std::vector<TestCase>& cases,
                    SourceManager& sources, Diagnostics& diags);

// Every PACK_DIR/tests/*.toml, in name order.
std::vector<std::filesystem::path> case_files(const std::filesystem::path& pack_dir);

}  // namespace rtd::packtest
