#include "runtime/ledger.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compiler/frontend.h"
#include "compiler/proc_counters.h"
#include "runtime/counters.h"
#include "runtime/drop_reasons.h"
#include "runtime/kernel_plan.h"

namespace rtd {

namespace {

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

std::string join(const std::vector<std::string>& parts, const char* sep)
{
    std::string out;
    for (const std::string& p : parts) out += (out.empty() ? "" : sep) + p;
    return out;
}

// A monitor's source the ledger reconciles: a counter of drops that only
// grows (softnet's queue lengths and settings are not).
bool counter_source(const std::string& source)
{
    if (starts_with(source, "snmp:") || starts_with(source, "link:")) return true;
    return starts_with(source, "softnet:") && !softnet_column_is_gauge(source.substr(8));
}

// Per-CPU array values summed over CPUs, by key.
std::vector<rtd_ledger_count> read_percpu(struct bpf_object* obj, const char* name, std::size_t keys)
{
    std::vector<rtd_ledger_count> out(keys);
    struct bpf_map* map = obj ? bpf_object__find_map_by_name(obj, name) : nullptr;
    const int cpus = libbpf_num_possible_cpus();
    if (!map || cpus <= 0 || bpf_map__value_size(map) != sizeof(rtd_ledger_count)) return out;
    std::vector<rtd_ledger_count> raw(static_cast<std::size_t>(cpus));
    for (std::uint32_t key = 0; key < keys && key < bpf_map__max_entries(map); ++key) {
        if (bpf_map__lookup_elem(map, &key, sizeof key, raw.data(), raw.size() * sizeof(rtd_ledger_count), 0) != 0) continue;
        for (const rtd_ledger_count& c : raw) {
            out[key].in_netns += c.in_netns;
            out[key].all += c.all;
        }
    }
    return out;
}

std::uint64_t since(const std::map<std::string, std::uint64_t>& now, const std::map<std::string, std::uint64_t>& base, const std::string& s)
{
    auto n = now.find(s);
    auto b = base.find(s);
    if (n == now.end()) return 0;
    const std::uint64_t from = b == base.end() ? 0 : b->second;
    return n->second >= from ? n->second - from : 0;  // a device gone takes its statistics with it
}

bool same_counts(const std::vector<rtd_ledger_count>& a, const std::vector<rtd_ledger_count>& b)
{
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const rtd_ledger_count& x, const rtd_ledger_count& y) { return x.in_netns == y.in_netns && x.all == y.all; });
}

}  // namespace

const char* ledger_state_name(LedgerState s)
{
    switch (s) {
    case LedgerState::Quiet: return "quiet";
    case LedgerState::Balanced: return "balanced";
    case LedgerState::Settling: return "settling";
    case LedgerState::Unexplained: return "unexplained";
    case LedgerState::Untracked: return "untracked";
    }
    return "?";
}

LedgerState ledger_state(std::uint64_t counted, std::uint64_t traced, std::int64_t previous, bool final, std::uint64_t& difference)
{
    const std::int64_t d = static_cast<std::int64_t>(counted) - static_cast<std::int64_t>(traced);
    difference = 0;
    // Between polls a drop can be in one figure and not yet the other: a
    // difference counts once it is still there a poll later (the part of
    // it that lasted), and at the end as it is.
    std::int64_t lasting = final ? d : d > 0 && previous > 0 ? std::min(d, previous) : d < 0 && previous < 0 ? std::max(d, previous) : 0;
    if (lasting > 0) {
        difference = static_cast<std::uint64_t>(lasting);
        return LedgerState::Unexplained;
    }
    if (lasting < 0) {
        difference = static_cast<std::uint64_t>(-lasting);
        return LedgerState::Untracked;
    }
    if (d != 0) return LedgerState::Settling;
    return counted || traced ? LedgerState::Balanced : LedgerState::Quiet;
}

std::map<std::string, std::uint64_t> CounterReader::read(const std::vector<std::string>& sources)
{
    std::map<std::string, std::uint64_t> out;
    std::optional<SnmpCounters> snmp;
    std::optional<std::vector<LinkInfo>> links;
    std::optional<std::vector<SoftnetRow>> softnet;
    bool links_read = false, softnet_read = false;
    for (const std::string& s : sources) {
        const std::string key = s.substr(s.find(':') + 1);
        if (starts_with(s, "snmp:")) {
            if (!snmp) snmp = read_snmp();
            if (auto it = snmp->find(key); it != snmp->end()) out[s] = it->second;
        } else if (starts_with(s, "link:")) {
            std::string error;
            if (!links_read) links = read_links(error), links_read = true;
            const std::optional<std::size_t> index = link_stat_index(key);
            if (!links || !index) continue;
            std::uint64_t sum = 0;
            for (const LinkInfo& l : *links)
                if (*index < l.stats.size()) sum += l.stats[*index];
            out[s] = sum;
        } else if (starts_with(s, "softnet:")) {
            if (!softnet_read) softnet = read_softnet(), softnet_read = true;
            const std::optional<std::size_t> column = softnet_column_index(key);
            if (!softnet || !column) continue;
            bool any = false;
            std::uint64_t sum = 0;
            for (const SoftnetRow& row : *softnet) {
                if (*column >= row.fields.size()) continue;
                any = true;
                // Each CPU's u32 wraps: a smaller value is 2^32 on, not a reset.
                const std::string cpu = fmt::format("{}#{}", key, row.cpu);
                const std::uint32_t raw = row.fields[*column];
                auto [it, first] = softnet_raw_.try_emplace(cpu, raw);
                std::uint64_t& total = softnet_[cpu];
                if (first) total = raw;
                else total += static_cast<std::uint32_t>(raw - it->second);
                it->second = raw;
                sum += total;
            }
            if (any) out[s] = sum;
        }
    }
    return out;
}

Ledger::Ledger(const CompiledRuleSet& set, const AttachedProbes& probes, const std::vector<std::string>& include,
               const std::vector<std::string>& exclude, const LeftOut& left_out, std::uint64_t netns, const Btf* btf)
    : set_(set), netns_(netns), overall_off_(probes.ledger_reasons_off)
{
    reason_names_ = core_drop_reason_names(btf);
    // Which rules run, and why the others do not.
    std::vector<bool> running(set.rules.size(), false);
    std::vector<std::string> why(set.rules.size());
    for (std::size_t i = 0; i < set.probes.size() && i < probes.method.size(); ++i) {
        const std::size_t r = set.probes[i].rule;
        if (probes.method[i] != kNoMethod) running[r] = true;
        else if (why[r].empty()) why[r] = probes.skip[i] == kNotSelected ? "excluded with -i/-e" : "skipped: " + probes.skip[i];
    }
    auto row_of = [&](const std::vector<std::string>& alternatives) -> LedgerRow& {
        const std::string name = join(alternatives, " | ");
        for (LedgerRow& row : rows_)
            if (row.counter == name) return row;
        LedgerRow& row = rows_.emplace_back();
        row.counter = name;
        row.sources = alternatives;
        row.host_wide = std::all_of(alternatives.begin(), alternatives.end(), [](const std::string& s) { return starts_with(s, "softnet:"); });
        return row;
    };
    std::set<std::string> primary;
    for (std::size_t r = 0; r < set.rules.size(); ++r) {
        const RuleEntry& rule = set.rules[r];
        for (std::size_t g = 0; g < rule.counted_as.size(); ++g) {
            LedgerRow& row = row_of(rule.counted_as[g]);
            if (running[r]) row.rules.push_back(r);
            else row.unseen.push_back({rule.id, why[r].empty() ? (rule.skipped ? "skipped on this kernel" : "not loaded") : why[r]});
            if (g == 0 && running[r]) primary.insert(row.counter);
        }
    }
    for (const auto& [id, groups] : left_out)
        for (const std::vector<std::string>& group : groups) row_of(group).unseen.push_back({id, "excluded with -i/-e"});
    // The monitors' drop counters that no rule's group already holds.
    for (const RuleEntry& rule : set.rules) {
        if (!rule.is_monitor || !counter_source(rule.source) || !rule_selected(rule.id, include, exclude)) continue;
        auto held = std::find_if(rows_.begin(), rows_.end(), [&](const LedgerRow& row) {
            return std::find(row.sources.begin(), row.sources.end(), rule.source) != row.sources.end();
        });
        (held != rows_.end() ? *held : row_of({rule.source})).monitors.push_back(rule.id);
    }
    std::set<std::string> sources;
    for (std::size_t i = 0; i < rows_.size(); ++i) {
        sources.insert(rows_[i].sources.begin(), rows_[i].sources.end());
        if (primary.count(rows_[i].counter)) primary_rows_.push_back(i);
    }
    all_sources_.assign(sources.begin(), sources.end());
}

Ledger::KernelCounts Ledger::read_kernel(struct bpf_object* obj) const
{
    return {read_percpu(obj, "rtd_ledger", set_.rules.size()), read_percpu(obj, "rtd_ledger_reasons", RTD_LEDGER_REASONS)};
}

void Ledger::start(struct bpf_object* obj)
{
    kernel_base_ = read_kernel(obj);
    counter_base_ = reader_.read(all_sources_);
    counter_last_ = counter_base_;
    for (LedgerRow& row : rows_)
        if (std::none_of(row.sources.begin(), row.sources.end(), [&](const std::string& s) { return counter_base_.count(s) > 0; }))
            row.unreadable = "this machine has no such counter (in this namespace)";
}

void Ledger::settle(LedgerRow& row, bool final) const
{
    row.state = ledger_state(row.counted, row.traced, row.last_difference, final, row.difference);
    row.last_difference = static_cast<std::int64_t>(row.counted) - static_cast<std::int64_t>(row.traced);
    row.why.clear();
    std::vector<std::string> ids;
    for (std::size_t r : row.rules) ids.push_back(set_.rules[r].id);
    if (row.state == LedgerState::Untracked) {
        row.why = fmt::format("a rule bug: {} reported drops the kernel did not count here", join(ids, ", "));
        return;
    }
    if (row.state != LedgerState::Unexplained) return;
    if (!row.unseen.empty()) {
        std::vector<std::string> who;
        for (const auto& [id, why] : row.unseen) who.push_back(fmt::format("{} ({})", id, why));
        row.why = "rules that would see them do not run: " + join(who, "; ");
    } else if (!row.rules.empty()) {
        row.why = fmt::format("drops on a path {} does not watch (another function, or a condition it does not test)", join(ids, ", "));
    } else if (std::all_of(row.sources.begin(), row.sources.end(), [](const std::string& s) { return !starts_with(s, "snmp:"); })) {
        row.why = "no loaded rule traces them: below the kernel's probes (the NIC or its driver), or a path no rule declares";
    } else {
        row.why = "no loaded rule declares this counter";
    }
}

void Ledger::poll(struct bpf_object* obj, bool final)
{
    // The kernel's counts, then the counters at once: what moves in
    // between is one poll's noise, which settle() tolerates.
    KernelCounts now = read_kernel(obj);
    counter_last_ = reader_.read(all_sources_);
    // At the end, a drop still on its way (a probe at a function's entry
    // runs before the kernel counts; a tracepoint after) would be in one
    // figure only: read again until a round changes nothing (a quiet end
    // settles in one or two rounds of 20 ms).
    for (int round = 0; final && round < 10; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        KernelCounts again = read_kernel(obj);
        std::map<std::string, std::uint64_t> counters = reader_.read(all_sources_);
        const bool same = counters == counter_last_ && same_counts(again.rules, now.rules) && same_counts(again.reasons, now.reasons);
        now = std::move(again);
        counter_last_ = std::move(counters);
        if (same) break;
    }
    for (LedgerRow& row : rows_) {
        row.counted = 0;
        for (const std::string& s : row.sources) row.counted += since(counter_last_, counter_base_, s);
        row.traced = 0;
        for (std::size_t r : row.rules) {
            const rtd_ledger_count& n = now.rules[r];
            const rtd_ledger_count& b = kernel_base_.rules[r];
            row.traced += row.host_wide ? n.all - b.all : n.in_netns - b.in_netns;
        }
        settle(row, final);
    }
    overall_ = {};
    overall_.unavailable = !obj ? "no probe rule is loaded" : overall_off_;
    std::vector<std::pair<std::string, std::uint64_t>> reasons;
    for (std::uint32_t reason = 0; reason < RTD_LEDGER_REASONS; ++reason) {
        const std::uint64_t n = now.reasons[reason].in_netns - kernel_base_.reasons[reason].in_netns;
        if (!n) continue;
        auto it = reason_names_.find(reason);
        const std::string name = reason + 1 == RTD_LEDGER_REASONS ? "(subsystem reasons)" : it != reason_names_.end() ? it->second : std::to_string(reason);
        if (name == "NOT_DROPPED_YET" || name == "SKB_NOT_DROPPED_YET" || name == "SKB_CONSUMED" || name == "CONSUMED" || name == "NOT_SPECIFIED")
            continue;
        overall_.dropped += n;
        reasons.push_back({name, n});
    }
    std::sort(reasons.begin(), reasons.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (reasons.size() > 5) reasons.resize(5);
    overall_.reasons = std::move(reasons);
    for (std::size_t i : primary_rows_) {
        if (rows_[i].host_wide) continue;  // softnet counts every namespace's
        overall_.counted += rows_[i].counted;
        overall_.traced += rows_[i].traced;
    }
}

void Ledger::print(std::FILE* out, bool json, bool final, double seconds) const
{
    if (json) {
        nlohmann::json rows = nlohmann::json::array();
        for (const LedgerRow& row : rows_) {
            nlohmann::json j{{"counter", row.counter}, {"counted", row.counted}, {"traced", row.traced}, {"state", ledger_state_name(row.state)}};
            std::vector<std::string> ids;
            for (std::size_t r : row.rules) ids.push_back(set_.rules[r].id);
            j["rules"] = ids;
            if (row.difference) j["difference"] = row.difference;
            if (!row.why.empty()) j["why"] = row.why;
            if (row.host_wide) j["host_wide"] = true;
            if (!row.unreadable.empty()) j["unavailable"] = row.unreadable;
            rows.push_back(std::move(j));
        }
        nlohmann::json overall;
        if (!overall_.unavailable.empty()) overall["unavailable"] = overall_.unavailable;
        else {
            overall = {{"kfree_skb_drops", overall_.dropped}, {"counted", overall_.counted}, {"traced", overall_.traced}};
            nlohmann::json reasons = nlohmann::json::object();
            for (const auto& [name, n] : overall_.reasons) reasons[name] = n;
            overall["reasons"] = reasons;
        }
        nlohmann::json line{{"ledger", {{"final", final}, {"seconds", seconds}, {"netns", netns_}, {"counters", rows}, {"overall", overall}}}};
        std::fprintf(out, "%s\n", line.dump().c_str());
        return;
    }
    std::fprintf(out, "\n%s, network namespace %llu, %.1f s%s\n", final ? "ledger" : "ledger so far", static_cast<unsigned long long>(netns_),
                 seconds, final ? " (exact)" : " (differences shown once they last a poll)");
    std::size_t width = 7;
    for (const LedgerRow& row : rows_) width = std::max(width, row.counter.size());
    std::fprintf(out, "  %-*s %10s %10s  %s\n", static_cast<int>(width), "COUNTER", "COUNTED", "TRACED", "STATE");
    std::size_t quiet = 0;
    std::vector<std::string> unreadable;
    for (const LedgerRow& row : rows_) {
        if (!row.unreadable.empty()) {
            unreadable.push_back(row.counter);
            continue;
        }
        if (row.state == LedgerState::Quiet) {
            ++quiet;
            continue;
        }
        std::string state = ledger_state_name(row.state);
        if (row.difference) state += fmt::format(" {}", row.difference);
        std::vector<std::string> ids;
        for (std::size_t r : row.rules) ids.push_back(set_.rules[r].id);
        if (!ids.empty()) state += " (" + join(ids, ", ") + ")";
        if (row.host_wide) state += " [host-wide]";
        std::fprintf(out, "  %-*s %10llu %10llu  %s\n", static_cast<int>(width), row.counter.c_str(), static_cast<unsigned long long>(row.counted),
                     static_cast<unsigned long long>(row.traced), state.c_str());
        if (!row.why.empty()) std::fprintf(out, "  %-*s   %s\n", static_cast<int>(width), "", row.why.c_str());
    }
    if (quiet) std::fprintf(out, "  %zu more counter(s) did not move and no rule traced into them\n", quiet);
    if (!unreadable.empty()) std::fprintf(out, "  not on this machine: %s\n", join(unreadable, ", ").c_str());
    if (!overall_.unavailable.empty()) {
        std::fprintf(out, "  overall: unavailable (%s)\n", overall_.unavailable.c_str());
        return;
    }
    std::vector<std::string> reasons;
    for (const auto& [name, n] : overall_.reasons) reasons.push_back(fmt::format("{} {}", name, n));
    std::fprintf(out, "  overall: skb:kfree_skb dropped %llu packet(s) with a reason%s; the rules' counters moved %llu, the rules traced %llu\n",
                 static_cast<unsigned long long>(overall_.dropped), reasons.empty() ? "" : (" (" + join(reasons, ", ") + ")").c_str(),
                 static_cast<unsigned long long>(overall_.counted), static_cast<unsigned long long>(overall_.traced));
}

}  // namespace rtd
