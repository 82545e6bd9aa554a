// {nft:drop}: which nftables rule dropped, read through libnftables in the
// drop's network namespace (runtime/evidence.h enters it): the rules whose
// verdict is drop and whose counter grew since the last look there.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace rtd {

struct NftRule {
    std::string id;    // "inet filter input handle 7"
    std::string text;  // "udp dport 8018 counter drop" (counter values left out)
    bool drop = false;
    bool counted = false;  // has a counter
    std::uint64_t packets = 0;
};

// The ruleset of the calling thread's namespace: `json` from `nft -j list
// ruleset`, `text` from `nft -a list ruleset` (for each rule's text).
std::map<std::string, NftRule> parse_nft_rules(const std::string& json, const std::string& text, std::string& error);

class NftDropRules {
public:
    // What to say about the drop just reported in namespace `netns`, read in
    // the calling thread's (which is that one): "the nft rule 'inet filter
    // input handle 7: udp dport 8018 counter drop' counted it", or why no
    // rule can be named.
    std::string look(std::uint64_t netns);

private:
    std::map<std::uint64_t, std::map<std::string, std::uint64_t>> last_;  // per namespace: rule id -> packets at the last look
};

}  // namespace rtd
