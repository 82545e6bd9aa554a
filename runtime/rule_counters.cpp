#include "runtime/rule_counters.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace rtd {

namespace {

void add(rtd_counter& total, const rtd_counter& c)
{
    total.hits += c.hits;
    total.drops += c.drops;
    total.emitted += c.emitted;
    total.lost += c.lost;
    total.noise += c.noise;
    total.filtered += c.filtered;
    total.suppressed += c.suppressed;
    total.unstashed += c.unstashed;
}

// rtd_drops in a few bpf() calls (BPF_MAP_LOOKUP_BATCH, Linux 5.6) rather
// than two per key: a scrape of 10,000 series spent most of its time in
// those calls (docs/BENCHMARKS.md). False, with `out` untouched, where the
// kernel has no batch lookup; the caller then walks the keys.
bool read_drops_batched(struct bpf_map* map, std::size_t rules, std::vector<DropCount>& out)
{
    const int fd = bpf_map__fd(map);
    // Room for the whole table per call: a hash map's batch is whole
    // buckets, and a call with less room than a bucket fails (ENOSPC).
    const std::uint32_t room = std::max<std::uint32_t>(bpf_map__max_entries(map), 1);
    std::vector<rtd_drop_key> keys(room);
    std::vector<std::uint64_t> values(room);
    std::uint32_t token = 0;  // the kernel's bucket cursor for hash maps
    const void* in = nullptr;  // NULL: from the start
    std::vector<DropCount> found;
    for (;;) {
        __u32 count = room;
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        const int err = bpf_map_lookup_batch(fd, const_cast<void*>(in), &token, keys.data(), values.data(), &count, &opts);
        const bool end = err != 0 && errno == ENOENT;  // the last batch, possibly with entries
        if (err != 0 && !end) return false;
        for (__u32 i = 0; i < count; ++i)
            if (keys[i].rule < rules) found.push_back({keys[i], values[i]});
        if (end) break;
        in = &token;
    }
    out = std::move(found);
    return true;
}

}  // namespace

std::vector<rtd_counter> read_counters(struct bpf_object* obj, const CompiledRuleSet& set, const std::vector<DispatchSpec>& dispatch)
{
    const std::size_t rules = set.rules.size();
    std::vector<rtd_counter> totals(rules);
    struct bpf_map* map = bpf_object__find_map_by_name(obj, "rtd_counts");
    int cpus = libbpf_num_possible_cpus();
    if (!map || cpus <= 0) return totals;
    // An object built by an older rtrace-drop has a shorter counter: the
    // fields it lacks read as 0.
    const std::size_t size = std::min<std::size_t>(bpf_map__value_size(map), sizeof(rtd_counter));
    const std::size_t stride = (bpf_map__value_size(map) + 7) / 8 * 8;  // per-CPU values are 8-byte aligned
    std::vector<char> raw(stride * static_cast<std::size_t>(cpus));
    for (std::uint32_t key = 0; key < rules; ++key) {
        if (bpf_map__lookup_elem(map, &key, sizeof key, raw.data(), raw.size(), 0) != 0) continue;
        for (int cpu = 0; cpu < cpus; ++cpu) {
            rtd_counter c{};
            std::memcpy(&c, raw.data() + stride * static_cast<std::size_t>(cpu), size);
            add(totals[key], c);
        }
    }
    struct bpf_map* hits_map = bpf_object__find_map_by_name(obj, "rtd_dispatch_hits");
    if (!hits_map || bpf_map__value_size(hits_map) != 8) return totals;
    std::vector<std::uint64_t> hits(static_cast<std::size_t>(cpus));
    for (const DispatchSpec& d : dispatch) {
        auto key = static_cast<std::uint32_t>(d.index);
        if (bpf_map__lookup_elem(hits_map, &key, sizeof key, hits.data(), hits.size() * 8, 0) != 0) continue;
        std::uint64_t sum = 0;
        for (std::uint64_t v : hits) sum += v;
        for (std::size_t m : d.members)
            if (set.probes[m].rule < rules) totals[set.probes[m].rule].hits += sum;
    }
    return totals;
}

void pull_kernel_flows(struct bpf_object* obj, const CompiledRuleSet& set, std::map<std::string, std::uint64_t>& seen, FlowSummary& flows)
{
    struct bpf_map* map = obj ? bpf_object__find_map_by_name(obj, "rtd_flows") : nullptr;
    if (!map || bpf_map__key_size(map) != sizeof(rtd_flow_key) || bpf_map__value_size(map) != 8) return;
    rtd_flow_key key{}, next{};
    const void* at = nullptr;  // NULL: the first key
    while (bpf_map__get_next_key(map, at, &next, sizeof next) == 0) {
        key = next;
        at = &key;
        std::uint64_t total = 0;
        if (bpf_map__lookup_elem(map, &key, sizeof key, &total, sizeof total, 0) != 0) continue;
        std::uint64_t& before = seen[std::string(reinterpret_cast<const char*>(&key), sizeof key)];
        if (total <= before || key.rule >= set.rules.size()) continue;
        if (key.family == RTD_FLOW_OVERFLOW) flows.add_other_flows(key.rule, total - before);
        else flows.add(key.rule, flow_packet(key), total - before);
        before = total;
    }
}

DropCounts read_drop_counts(struct bpf_object* obj, std::size_t rules)
{
    DropCounts out;
    out.unitemized.assign(rules, 0);
    struct bpf_map* map = obj ? bpf_object__find_map_by_name(obj, "rtd_drops") : nullptr;
    if (map && bpf_map__key_size(map) == sizeof(rtd_drop_key) && bpf_map__value_size(map) == 8 &&
        !read_drops_batched(map, rules, out.labelled)) {
        rtd_drop_key key{}, next{};
        const void* at = nullptr;  // NULL: the first key
        while (bpf_map__get_next_key(map, at, &next, sizeof next) == 0) {
            key = next;
            at = &key;
            std::uint64_t total = 0;
            if (bpf_map__lookup_elem(map, &key, sizeof key, &total, sizeof total, 0) == 0 && key.rule < rules)
                out.labelled.push_back({key, total});
        }
    }
    struct bpf_map* other = obj ? bpf_object__find_map_by_name(obj, "rtd_drops_other") : nullptr;
    const int cpus = libbpf_num_possible_cpus();
    if (!other || cpus <= 0 || bpf_map__value_size(other) != 8) return out;
    std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(cpus));
    for (std::uint32_t rule = 0; rule < rules; ++rule)
        if (bpf_map__lookup_elem(other, &rule, sizeof rule, per_cpu.data(), per_cpu.size() * 8, 0) == 0)
            for (std::uint64_t v : per_cpu) out.unitemized[rule] += v;
    return out;
}

void print_counters(StatusSink& status, const CompiledRuleSet& set, const std::vector<rtd_counter>& counts, double seconds,
                    std::uint64_t undecodable)
{
    // FILTERED and LIMITED only when a filter or rate limit could move them.
    auto any = [&](__u64 rtd_counter::*field) {
        return std::any_of(counts.begin(), counts.end(), [&](const rtd_counter& c) { return c.*field != 0; });
    };
    const bool filtered = any(&rtd_counter::filtered) || !set.filter.empty();
    const bool limited = any(&rtd_counter::suppressed);
    const bool unstashed_any = any(&rtd_counter::unstashed);
    auto optional_columns = [&](auto filtered_value, auto limited_value, auto unstashed_value) {
        std::string out;
        if (filtered) out += fmt::format(" {:>12}", filtered_value);
        if (limited) out += fmt::format(" {:>12}", limited_value);
        if (unstashed_any) out += fmt::format(" {:>12}", unstashed_value);
        return out;
    };
    status.say(fmt::format("counted over {:.1f} s", seconds));
    status.line(fmt::format("{:<32} {:>12} {:>12} {:>12} {:>12} {:>12}", "RULE", "HITS", "DROPS", "EVENTS", "LOST", "NOISE") +
                optional_columns("FILTERED", "LIMITED", "UNSTASHED"));
    rtd_counter sum{};
    for (std::size_t i = 0; i < set.rules.size(); ++i) {
        const RuleEntry& r = set.rules[i];
        if (r.is_monitor || r.skipped) continue;
        const rtd_counter& c = counts[i];
        add(sum, c);
        status.line(fmt::format("{:<32} {:>12} {:>12} {:>12} {:>12} {:>12}", r.id, c.hits, c.drops, c.emitted, c.lost, c.noise) +
                    optional_columns(c.filtered, c.suppressed, c.unstashed));
    }
    if (sum.lost) status.say(fmt::format("{} events were lost (ring buffer full); the counts above are exact", sum.lost));
    if (sum.suppressed) status.say(fmt::format("{} events were suppressed by --rate-limit; the counts above are exact", sum.suppressed));
    if (sum.unstashed)
        status.say(fmt::format("{} kretprobe returns found no entry arguments (more calls in flight than the stash holds, or an entry "
                               "the kernel did not deliver) and were not evaluated",
                               sum.unstashed));
    if (undecodable) status.say(fmt::format("{} events could not be decoded", undecodable));
}

}  // namespace rtd
