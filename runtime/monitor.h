// Monitor rules, evaluated in user space: each poll reads their sources
// (SNMP counters, link statistics and flags, sysctls, softnet_stat's per-CPU
// columns), works out value, delta (since the last poll) and rate (per
// second), evaluates captures and the condition with the rule language's
// integer semantics, and returns the findings for the same reporters as
// probe events.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "compiler/ast.h"
#include "compiler/compiled.h"
#include "runtime/counters.h"

namespace rtd {

struct MonitorFinding {
    std::size_t rule = 0;  // index in the rule table
    std::string dev;       // per-device sources
    std::int64_t value = 0, delta = 0, rate = 0;
    std::vector<std::pair<std::string, std::int64_t>> captures;
    std::uint64_t netns = 0;
    std::int64_t time_ns = 0;  // CLOCK_REALTIME
};

// Where the /proc sources are read (tests point them at fixture copies).
struct MonitorPaths {
    std::string proc_net = "/proc/thread-self/net";  // this thread's namespace (--netns)
    std::string proc_sys = "/proc/sys";
};

class Monitors {
public:
    // `decls` are all rules in table order; only monitors are used.
    explicit Monitors(const std::vector<const RuleDecl*>& decls, MonitorPaths paths = {});

    // Takes the first readings: monitors whose source is absent here are
    // skipped (the reason is kept), the others remember their values and
    // are evaluated with delta and rate 0 (so settings are checked at once).
    // With `since_boot` the delta is the value itself: a snapshot of what
    // has happened on this box so far (--once).
    std::vector<MonitorFinding> start(bool since_boot = false);
    // (rule index, why) for monitors that cannot run here.
    const std::vector<std::pair<std::size_t, std::string>>& skipped() const { return skipped_; }
    std::size_t active() const { return active_.size(); }
    bool has_monitors() const { return !monitors_.empty(); }

    // Reads again and evaluates. A condition that held at the last poll is
    // reported again only when the value moved: a risky setting is named
    // once, a growing counter at every poll it grows.
    std::vector<MonitorFinding> poll();
    // The last reading of each (rule index, device) ("" for sources without one).
    const std::map<std::pair<std::size_t, std::string>, std::int64_t>& last_values() const { return previous_; }

    // Evaluates an expression of a monitor for one reading (tests use it).
    static std::optional<std::int64_t> evaluate(const Expr& e, const std::map<std::string, std::int64_t>& names);

private:
    struct Reading {
        std::string dev;
        std::int64_t value;
    };
    std::optional<std::vector<Reading>> read(const RuleDecl& r, std::string& absent);
    std::vector<MonitorFinding> evaluate_all(bool first, bool since_boot);

    MonitorPaths paths_;
    std::vector<std::pair<std::size_t, const RuleDecl*>> monitors_;
    std::vector<std::size_t> active_;  // indexes into monitors_
    std::vector<std::pair<std::size_t, std::string>> skipped_;
    std::map<std::pair<std::size_t, std::string>, std::int64_t> previous_;  // (rule, dev) -> value
    std::map<std::pair<std::size_t, std::string>, bool> firing_;            // condition held at the last poll
    std::chrono::steady_clock::time_point last_;
    std::uint64_t netns_ = 0;
    // Per poll: sources read once and shared by the rules.
    std::optional<SnmpCounters> snmp_;
    std::optional<std::vector<LinkInfo>> links_;
    std::optional<std::vector<SoftnetRow>> softnet_;
};

}  // namespace rtd
