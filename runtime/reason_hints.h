// Hints for skb:kfree_skb drop reasons, kept with a rule pack as data
// (hints.toml next to its rules) so teams can edit them:
//
//   [reasons]
//   NETFILTER_DROP = "a firewall rule dropped it: ..."
#pragma once

#include <map>
#include <string>

namespace rtd {

// The table for rules in `dir`: `dir`/hints.toml, else the shipped reasons
// pack's next to it (`dir`/../reasons/hints.toml); empty when there is none.
// A file that is there but malformed sets `error` (with its line and column).
std::map<std::string, std::string> load_reason_hints(const std::string& dir, std::string& error);

}  // namespace rtd
