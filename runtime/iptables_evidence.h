// {nft:drop} for iptables-legacy: which legacy IPv4 rule dropped, read
// through libiptc in the drop's network namespace (runtime/evidence.h enters
// it): the rules whose target drops (DROP, REJECT), and built-in chains
// whose policy is DROP, whose packet counter grew since the last look there. Only tables the namespace already has are
// read (/proc/thread-self/net/ip_tables_names): asking for another would
// make the kernel create it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rtd {

struct IptablesRule {
    std::string id;    // "filter INPUT rule 2"
    std::string text;  // "-p udp -d 10.0.0.2/32 -m udp --dport 7609 -j DROP"
    std::uint64_t packets = 0;
};

// The dropping rules of the calling thread's namespace's legacy tables; an
// empty list when it has none. `error` says why they could not be read.
std::vector<IptablesRule> legacy_drop_rules(std::string& error);

class IptablesDropRules {
public:
    // "the iptables-legacy rule 'filter INPUT rule 2: -p udp ... -j DROP'
    // counted it", or "" when no legacy rule counted a drop since the last
    // look in namespace `netns` (the calling thread's).
    std::string look(std::uint64_t netns);

private:
    std::map<std::uint64_t, std::map<std::string, std::uint64_t>> last_;  // per namespace: rule id -> packets at the last look
};

}  // namespace rtd
