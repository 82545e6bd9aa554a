// 'counted as' held to the counters this machine has. A rule names the
// kernel counters its drops increment (docs/LANGUAGE.md, Counters); the
// parser checks their form, this checks the SNMP names against the running
// kernel's /proc/net/{snmp,netstat,snmp6}, as `nstat` names them:
//
//   - a name the machine has: fine;
//   - a near miss of a name in the same table (UdpRcvbufErorrs): an error
//     with did-you-mean (only within the table, so that Udp6RcvbufErrors on
//     a host without IPv6 is not taken for a typo of UdpRcvbufErrors);
//   - a known table without that name, no near miss: an older or newer
//     kernel's counter, or IPv6 off. Nothing when another alternative of the
//     group is here, else a warning (an error with --strict);
//   - no known table prefix: an error.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ast.h"
#include "compiler/diagnostics.h"

namespace rtd {

struct CounterCatalog {
    // Every SNMP counter name of the machine; nullopt: not known (the rules
    // are built for another kernel, or /proc/net cannot be read): no check.
    std::optional<std::vector<std::string>> snmp;
};

// The table an nstat name belongs to ("Udp6" for Udp6RcvbufErrors, "TcpExt"
// for TcpExtListenDrops), "" when no table of snmp_tables() is its prefix.
std::string snmp_table_of(std::string_view name);

void check_counted(const std::vector<const RuleDecl*>& rules, const CounterCatalog& machine, Diagnostics& diags, bool strict);

}  // namespace rtd
