// The settings of a run and where they come from: defaults, then a TOML
// config file (--config), then command-line flags, each overriding the one
// before. `--gen` writes the defaults as a commented file that reads back
// to the same settings.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/diagnostics.h"
#include "compiler/frontend.h"
#include "compiler/source.h"

namespace rtd {

struct Settings {
    // [rules]
    std::vector<std::string> packs;    // pack names, folders or .rule/.rdo files; empty: the shipped packs
    std::vector<std::string> include;  // rule id globs; empty: every rule
    std::vector<std::string> exclude;  // rule id globs; exclude wins over include
    // [filter]
    std::string where;                 // a filter expression (docs/LANGUAGE.md, Filters)
    std::vector<std::string> host;     // addresses or CIDRs, either direction
    std::vector<std::uint32_t> port;   // either direction
    std::string proto;                 // tcp, udp, icmp, icmpv6, sctp or a number
    std::string netns;                 // a name from `ip netns list` or a path (also where monitors read)
    std::string dev;                   // device name
    std::uint32_t rate_limit = 0;      // events per rule per second; 0: no limit
    std::string pcap_filter;           // a pcap-filter expression, as tcpdump takes (run --filter)
    // [output]
    std::string format = "text";       // text, json, summary
    std::string color = "auto";        // auto, always, never
    bool stack = true;                 // print recorded kernel stacks
    bool hints = false;                // print each event's hint
    std::string interval = "1s";       // monitor poll (and, when given, the counters' period)
    std::string duration;              // empty: until Ctrl-C
    bool ledger = false;               // reconcile counters with traced drops (run --ledger)
    bool quiet = false;                // no event or finding lines (metrics and counters only)
    std::string pcap;                  // write the dropped packets to this pcapng file ("-": stdout); "": none
    std::uint32_t snaplen = 256;       // bytes of each packet captured in the kernel
    std::string pcap_rotate;           // start a new file at this size ("100M"); "": never
    std::uint32_t pcap_files = 10;     // files kept when rotating, the current one included
    bool track = false;                // follow each packet's hops; a drop shows its path (run --track)
    std::uint32_t track_size = 16384;  // packets followed at once
    std::uint32_t track_hops = 8;      // hops each keeps (2..8)
    // [metrics]
    std::string metrics;               // "[ADDR]:PORT" to serve /metrics on; empty: no exporter
    std::vector<std::string> metrics_labels = {"rule", "layer", "reason", "dev", "netns"};  // of rtrace_drop_drops_total
    std::uint32_t metrics_max_series = 4096;  // label sets the kernel counts apart; the rest count as dev="other"
    // [params."rule.id"] name = value
    ParamOverrides params;
};

// Reads a config file into `settings` (keys it does not set keep their
// value). Syntax errors and unknown keys or wrong types are errors at the
// file's line:col. False on any error.
bool load_config(const std::string& path, Settings& settings, SourceManager& sources, Diagnostics& diags);
// The same for text already read (tests).
bool load_config_text(const std::string& display_path, std::string text, Settings& settings, SourceManager& sources,
                      Diagnostics& diags);

// `settings` as a config file; with `commented`, every key is explained
// (what --gen writes).
std::string config_text(const Settings& settings, bool commented);

// The filter the [filter] keys and their flags describe, as one --where
// expression ("" when there is none). False with `error` set when a value
// is not what its key expects.
bool combined_filter(const Settings& s, std::string& filter, std::string& error);

}  // namespace rtd
