// Evidence: what a message's {sysctl:KEY}, {route:ADDR ...}, {neigh:ADDR
// dev DEV}, {socket:PROTO ADDR PORT} and {nft:drop} say, looked up on the
// live system in the packet's network namespace when the event is reported
// (docs/LANGUAGE.md). Look-ups
// are cached for a short time and bounded in rate, so a flood of drops costs
// a few look-ups a second, not one per drop.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "runtime/iptables_evidence.h"
#include "runtime/nft_evidence.h"

namespace rtd {

struct EvidenceStats {
    std::uint64_t lookups = 0;  // made on the system
    std::uint64_t cached = 0;   // answered from the cache
    std::uint64_t limited = 0;  // not made: over the rate bound
};

class EvidenceResolver {
public:
    struct Limits {
        std::chrono::milliseconds ttl{1000};  // a value is reused this long
        unsigned per_second = 200;            // look-ups made per second, at most
        std::size_t cache_entries = 4096;
    };
    EvidenceResolver() : EvidenceResolver(Limits{}) {}
    explicit EvidenceResolver(Limits limits) : limits_(limits) {}

    // `kind` "sysctl", "route", "neigh", "socket" or "nft"; `arg` with its placeholders filled
    // in; `netns` the packet's namespace inode (0: this process's). The answer
    // is text for a person ("1", "via 10.0.0.1 dev eth0", "FAILED"), or what
    // went wrong in parentheses.
    std::string lookup(const std::string& kind, const std::string& arg, std::uint64_t netns);

    const EvidenceStats& stats() const { return stats_; }

private:
    struct Entry {
        std::string value;
        std::chrono::steady_clock::time_point at;
    };
    std::string lookup_now(const std::string& kind, const std::string& arg, std::uint64_t netns);
    // A path to enter the namespace with this inode ("" when none is found).
    std::string netns_by_inode(std::uint64_t inode);

    Limits limits_;
    EvidenceStats stats_;
    std::map<std::tuple<std::uint64_t, std::string, std::string>, Entry> cache_;
    std::map<std::uint64_t, std::string> netns_paths_;
    NftDropRules nft_;
    IptablesDropRules iptables_;  // {nft:drop} asks both: iptables-nft rules are nft rules
    std::chrono::steady_clock::time_point second_{};
    unsigned made_this_second_ = 0;
};

// The look-ups themselves, in the calling thread's namespace (exposed for tests).
std::string read_sysctl(const std::string& key);
std::string route_get(const std::string& arg);
std::string neigh_get(const std::string& arg);

}  // namespace rtd
