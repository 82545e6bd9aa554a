// `run --ledger`: every drop the kernel counted, explained by a rule or
// named as unexplained. For each counter the loaded rules declare ('counted
// as') and each drop counter a loaded monitor reads, the counter's delta
// since the start against the drops the rules traced into it, in the
// namespace the run reads (--netns, else its own; softnet_stat's counters
// are the host's). The counters (/proc/net, netlink) and the kernel's
// per-rule counts (rtd_ledger) are read at the same poll; a difference is
// reported only once it has lasted a poll, exact figures at the end.
// docs/RUNNING.md describes the output.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <linux/types.h>

#include "bpf-templates/rtd_event.h"
#include "compiler/btf.h"
#include "compiler/compiled.h"
#include "runtime/attach.h"

struct bpf_object;

namespace rtd {

// Settling: counted and traced differ, but not yet for a whole poll.
enum class LedgerState { Quiet, Balanced, Settling, Unexplained, Untracked };
const char* ledger_state_name(LedgerState s);

struct LedgerRow {
    std::string counter;               // the group's alternatives: "snmp:UdpRcvbufErrors | snmp:Udp6RcvbufErrors"
    std::vector<std::string> sources;  // each alternative
    bool host_wide = false;            // softnet_stat: every namespace's drops count in it
    std::vector<std::size_t> rules;    // running rules that declare it (rule indexes)
    std::vector<std::pair<std::string, std::string>> unseen;  // rules that declare it and do not run: id, why
    std::vector<std::string> monitors;                        // monitors that read it
    std::string unreadable;            // why this machine has none of its sources ("" when read)

    std::uint64_t counted = 0, traced = 0;  // since the start
    std::int64_t last_difference = 0;       // counted - traced at the poll before
    // What a difference that lasted a poll (or, at the end, any) says.
    LedgerState state = LedgerState::Quiet;
    std::uint64_t difference = 0;  // unexplained or untracked drops
    std::string why;               // for an unexplained or untracked row
};

// The overall line: skb:kfree_skb's drops with a reason in the namespace
// against the sum of the rules' first counters ('counted as' A, B: A names
// the drop, B is a wider count such as UdpInErrors).
struct LedgerOverall {
    std::string unavailable;  // why there is no figure ("" when there is)
    std::uint64_t dropped = 0;                                   // with a reason other than NOT_SPECIFIED
    std::vector<std::pair<std::string, std::uint64_t>> reasons;  // the largest, by name
    std::uint64_t counted = 0;                                   // the first counters' deltas, each counter once
    std::uint64_t traced = 0;                                    // by the rules that declare them
};

// Counter readings of this thread's namespace: each source's value (a
// softnet column summed over CPUs, with its 32-bit wraps unfolded since the
// last reading; a link statistic summed over devices).
class CounterReader {
public:
    // Values by source; a source this machine does not have is absent.
    std::map<std::string, std::uint64_t> read(const std::vector<std::string>& sources);

private:
    std::map<std::string, std::uint64_t> softnet_;  // "col#cpu" -> unfolded total
    std::map<std::string, std::uint32_t> softnet_raw_;
};

class Ledger {
public:
    // `probes`: what attached (rules that do not run are named with why);
    // `include`/`exclude`: -i/-e (monitors left out are not read);
    // `netns`: the inode the run reads, shown in the output; `btf` names
    // the drop reasons (may be null).
    // `left_out`: rules -i/-e left out of the set, with their counters.
    using LeftOut = std::vector<std::pair<std::string, std::vector<std::vector<std::string>>>>;
    Ledger(const CompiledRuleSet& set, const AttachedProbes& probes, const std::vector<std::string>& include,
           const std::vector<std::string>& exclude, const LeftOut& left_out, std::uint64_t netns, const Btf* btf);

    // The first readings: every figure counts from here.
    void start(struct bpf_object* obj);
    // Reads the counters and the kernel's counts; `final`: exact figures,
    // no poll's tolerance, read again until they stand still (at most
    // 200 ms).
    void poll(struct bpf_object* obj, bool final);

    // The table (text) or one JSON object per line; `final` at the end.
    void print(std::FILE* out, bool json, bool final, double seconds) const;

    const std::vector<LedgerRow>& rows() const { return rows_; }
    const LedgerOverall& overall() const { return overall_; }
    bool empty() const { return rows_.empty(); }

private:
    struct KernelCounts {
        std::vector<rtd_ledger_count> rules;
        std::vector<rtd_ledger_count> reasons;
    };
    KernelCounts read_kernel(struct bpf_object* obj) const;
    void settle(LedgerRow& row, bool final) const;

    const CompiledRuleSet& set_;
    std::uint64_t netns_;
    std::map<std::uint32_t, std::string> reason_names_;
    std::vector<LedgerRow> rows_;
    std::vector<std::string> all_sources_;
    std::map<std::string, std::uint64_t> counter_base_, counter_last_;
    KernelCounts kernel_base_;
    CounterReader reader_;
    LedgerOverall overall_;
    std::vector<std::size_t> primary_rows_;
    std::string overall_off_;  // why skb:kfree_skb is not counted by reason  // rows that are some rule's first counter
};

// Pure: what a row's figures say (tests). `previous` is counted - traced
// at the poll before; `final` ignores it.
LedgerState ledger_state(std::uint64_t counted, std::uint64_t traced, std::int64_t previous, bool final, std::uint64_t& difference);

}  // namespace rtd
