#include "runtime/metrics.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include "runtime/drop_reasons.h"
#include "runtime/kernel_plan.h"
#include "runtime/rule_counters.h"

namespace rtd {

namespace {

using Labels = std::vector<prometheus::ClientMetric::Label>;

double unix_now()
{
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string kernel_release()
{
    utsname u{};
    return uname(&u) == 0 ? u.release : "";
}

const char* layer_name(int layer)
{
    static const char* const names[] = {"", "l1", "l2", "l3", "l4"};
    return layer >= 1 && layer <= 4 ? names[layer] : "";
}

// Series of one family by their labels, summed as they are added, in the
// order first added. Found by a hash of the labels: a scrape adds one series
// per label set the kernel kept (10,000 with a full table), and an ordered
// map of label vectors spent a third of such a scrape comparing strings.
struct Family {
    const char* help;
    prometheus::MetricType type;
    std::vector<std::pair<Labels, double>> series;
    std::unordered_map<std::string, std::size_t> index;  // labels joined (names and values) -> place in series
};

class Families {
public:
    void add(const char* name, const char* help, prometheus::MetricType type, Labels labels, double value)
    {
        Family& f = family(name, help, type);
        std::string joined;
        for (const auto& l : labels) {
            joined += l.name;
            joined += '\0';
            joined += l.value;
            joined += '\0';
        }
        auto [it, fresh] = f.index.try_emplace(std::move(joined), f.series.size());
        if (fresh) f.series.emplace_back(std::move(labels), value);
        else f.series[it->second].second += value;
    }
    // Declared even without series, so a scrape always names every family.
    void declare(const char* name, const char* help, prometheus::MetricType type) { family(name, help, type); }
    std::map<std::string, Family, std::less<>>& all() { return families_; }

    // Moves the series out: a scrape's families are built once, used once.
    std::vector<prometheus::MetricFamily> take()
    {
        std::vector<prometheus::MetricFamily> out;
        out.reserve(families_.size());
        for (auto& [name, f] : families_) {
            prometheus::MetricFamily mf{name, f.help, f.type, {}};
            mf.metric.reserve(f.series.size());
            for (auto& [labels, value] : f.series) {
                prometheus::ClientMetric m;
                m.label = std::move(labels);
                if (f.type == prometheus::MetricType::Counter) m.counter.value = value;
                else m.gauge.value = value;
                mf.metric.push_back(std::move(m));
            }
            f.series.clear();
            f.index.clear();
            out.push_back(std::move(mf));
        }
        return out;
    }

private:
    Family& family(const char* name, const char* help, prometheus::MetricType type)
    {
        auto it = families_.find(std::string_view(name));
        if (it == families_.end()) it = families_.emplace(name, Family{help, type, {}, {}}).first;
        return it->second;
    }

    std::map<std::string, Family, std::less<>> families_;
};

constexpr auto kCounter = prometheus::MetricType::Counter;
constexpr auto kGauge = prometheus::MetricType::Gauge;

// The families read from a running object: what retire() carries over.
const std::set<std::string>& kernel_families()
{
    static const std::set<std::string> names{"rtrace_drop_drops_total",  "rtrace_drop_drops_unitemized_total", "rtrace_drop_hits_total",
                                             "rtrace_drop_noise_total",  "rtrace_drop_filtered_total",         "rtrace_drop_events_total",
                                             "rtrace_drop_events_lost_total", "rtrace_drop_events_rate_limited_total"};
    return names;
}

struct ProbeRow {
    std::string rule, probe, method, state, reason;
};

}  // namespace

class MetricsExporter::Collector : public prometheus::Collectable {
public:
    explicit Collector(const MetricLabels& labels) : labels_(labels), kernel_(kernel_release()), started_(unix_now()) {}

    std::vector<prometheus::MetricFamily> Collect() const override
    {
        std::lock_guard lock(mu_);
        Families f;
        collect_kernel(f);
        for (const auto& [key, value] : carried_) f.add(key.first.c_str(), "", kCounter, key.second, value);
        collect_user_space(f);
        last_scrape_ns_ = std::chrono::steady_clock::now().time_since_epoch().count();
        return f.take();
    }

    void serve(const CompiledRuleSet& set, const AttachedProbes& probes, const Btf* btf)
    {
        auto reasons = std::make_unique<DropReasonNames>(btf);
        std::vector<ProbeRow> rows;
        for (std::size_t i = 0; i < set.probes.size() && i < probes.method.size(); ++i) {
            const ProbePlan& pp = set.probes[i];
            const bool on = probes.method[i] != kNoMethod;
            if (!on && left_out(probes.skip[i])) continue;
            rows.push_back({set.rules[pp.rule].id, pp.spelling, on ? attach_form_name(pp.methods[probes.method[i]].form) : "",
                            on ? "attached" : "skipped", on ? "" : probes.skip[i]});
        }
        std::lock_guard lock(mu_);
        set_ = &set;
        obj_ = probes.obj.get();
        dispatch_ = probes.dispatch;
        reasons_ = std::move(reasons);
        probes_ = std::move(rows);
        std::set<std::string> ids;
        for (const RuleEntry& r : set.rules) ids.insert(r.id);
        // Counts of rules that are gone are dropped; those that stay go on.
        std::erase_if(carried_, [&](const auto& entry) {
            for (const auto& l : entry.first.second)
                if (l.name == "rule") return !ids.count(l.value);
            return false;
        });
    }

    void retire()
    {
        std::lock_guard lock(mu_);
        Families f;
        collect_kernel(f);
        for (auto& [name, family] : f.all())
            for (auto& [labels, value] : family.series) carried_[{name, labels}] += value;
        obj_ = nullptr;
        set_ = nullptr;
    }

    void monitor_poll(const Monitors& monitors, const std::vector<MonitorFinding>& findings)
    {
        std::lock_guard lock(mu_);
        if (!set_) return;
        monitor_values_.clear();
        for (const auto& [key, value] : monitors.last_values()) {
            const RuleEntry& r = set_->rules[key.first];
            monitor_values_[{r.id, layer_name(r.layer), r.source, key.second}] = static_cast<double>(value);
            findings_.try_emplace({r.id, layer_name(r.layer), key.second}, 0);  // a series from the first reading
        }
        for (const MonitorFinding& m : findings) {
            const RuleEntry& r = set_->rules[m.rule];
            findings_[{r.id, layer_name(r.layer), m.dev}] += 1;
        }
    }

    void ledger_poll(const Ledger& ledger)
    {
        std::lock_guard lock(mu_);
        ledger_.clear();
        for (const LedgerRow& row : ledger.rows())
            if (row.unreadable.empty()) ledger_.push_back({row.counter, row.counted, row.traced, row.state, row.difference});
    }

    // A scrape builds every series twice over (ours, then prometheus-cpp's
    // text) and frees it all; glibc keeps those pages. Given back half a
    // second after a scrape, when serving it is over (docs/BENCHMARKS.md:
    // the agent's RSS with 10,000 series).
    void after_scrapes()
    {
        const std::int64_t scraped = last_scrape_ns_;
        const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
        if (scraped <= trimmed_ns_ || now - scraped < 500'000'000) return;
        trimmed_ns_ = now;
        ::malloc_trim(0);
    }

    void reloaded(bool ok)
    {
        std::lock_guard lock(mu_);
        last_reload_ = unix_now();
        last_reload_ok_ = ok;
        ++(ok ? reloads_ok_ : reloads_failed_);
    }

    void set_netns_names(std::function<std::string(std::uint64_t)> names)
    {
        std::lock_guard lock(mu_);
        netns_names_ = std::move(names);
    }

private:
    Labels rule_labels(const RuleEntry& r) const { return {{"layer", layer_name(r.layer)}, {"rule", r.id}}; }

    // The drop counter's labels for one kernel key, in name order.
    Labels drop_labels(const RuleEntry& r, const rtd_drop_key* key) const
    {
        Labels l;
        auto other = [&](const std::string& v) { return key ? v : std::string("other"); };
        if (labels_.dev) l.push_back({"dev", other(key ? std::string(key->dev, strnlen(key->dev, sizeof key->dev)) : "")});
        if (labels_.layer) l.push_back({"layer", layer_name(r.layer)});
        if (labels_.netns) {
            l.push_back({"netns", other(key && key->netns ? std::to_string(key->netns) : "")});
            l.push_back({"netns_name", key && key->netns && netns_names_ ? netns_names_(key->netns) : ""});
        }
        if (labels_.reason) {
            std::string reason;
            if (key && (key->flags & RTD_DROP_HAS_REASON)) {
                reason = reasons_ ? reasons_->name(key->reason) : std::to_string(key->reason);
            }
            l.push_back({"reason", other(reason)});
        }
        if (labels_.rule) l.push_back({"rule", r.id});
        return l;
    }

    void collect_kernel(Families& f) const
    {
        f.declare("rtrace_drop_drops_total", "Drops, counted in the kernel by rule and the chosen labels", kCounter);
        f.declare("rtrace_drop_drops_unitemized_total",
                  "Drops counted under dev=\"other\" because the kernel's label table (--metrics-max-series) was full", kCounter);
        if (!obj_ || !set_) return;
        const CompiledRuleSet& set = *set_;
        const DropCounts drops = read_drop_counts(obj_, set.rules.size());
        for (const DropCount& d : drops.labelled)
            f.add("rtrace_drop_drops_total", "", kCounter, drop_labels(set.rules[d.key.rule], &d.key), static_cast<double>(d.drops));
        for (std::size_t i = 0; i < drops.unitemized.size(); ++i) {
            const RuleEntry& r = set.rules[i];
            // 0 from the start, so rate() and alerts see the series.
            if (!r.is_monitor && !r.skipped) f.add("rtrace_drop_drops_unitemized_total", "", kCounter, {{"rule", r.id}}, 0);
            if (!drops.unitemized[i]) continue;
            f.add("rtrace_drop_drops_total", "", kCounter, drop_labels(set.rules[i], nullptr), static_cast<double>(drops.unitemized[i]));
            f.add("rtrace_drop_drops_unitemized_total", "", kCounter, {{"rule", set.rules[i].id}}, static_cast<double>(drops.unitemized[i]));
        }
        const std::vector<rtd_counter> counts = read_counters(obj_, set, dispatch_);
        for (std::size_t i = 0; i < set.rules.size(); ++i) {
            const RuleEntry& r = set.rules[i];
            if (r.is_monitor || r.skipped) continue;
            const rtd_counter& c = counts[i];
            for (auto [name, value] : {std::pair{"rtrace_drop_hits_total", c.hits}, {"rtrace_drop_noise_total", c.noise},
                                       {"rtrace_drop_filtered_total", c.filtered}, {"rtrace_drop_events_total", c.emitted},
                                       {"rtrace_drop_events_lost_total", c.lost}, {"rtrace_drop_events_rate_limited_total", c.suppressed}})
                f.add(name, "", kCounter, rule_labels(r), static_cast<double>(value));
        }
    }

    void collect_user_space(Families& f) const
    {
        static const std::map<std::string, const char*> helps{
            {"rtrace_drop_drops_total", "Drops, counted in the kernel by rule and the chosen labels"},
            {"rtrace_drop_drops_unitemized_total",
             "Drops counted under dev=\"other\" because the kernel's label table (--metrics-max-series) was full"},
            {"rtrace_drop_hits_total", "Times a rule's probes fired"},
            {"rtrace_drop_noise_total", "Hits that matched the rule's 'noise if'"},
            {"rtrace_drop_filtered_total", "Drops left out by --where or --netns"},
            {"rtrace_drop_events_total", "Events sent to user space"},
            {"rtrace_drop_events_lost_total", "Events lost because the ring buffer was full (the counters stay exact)"},
            {"rtrace_drop_events_rate_limited_total", "Events suppressed by --rate-limit (the counters stay exact)"},
        };
        for (auto& [name, family] : f.all())
            if (auto it = helps.find(name); it != helps.end()) family.help = it->second;
        for (const std::string& name : kernel_families())
            if (auto it = helps.find(name); it != helps.end()) f.declare(name.c_str(), it->second, kCounter);

        f.declare("rtrace_drop_monitor_value", "A monitor's last reading of its source", kGauge);
        for (const auto& [key, value] : monitor_values_) {
            const auto& [rule, layer, source, dev] = key;
            f.add("rtrace_drop_monitor_value", "", kGauge, {{"dev", dev}, {"layer", layer}, {"rule", rule}, {"source", source}}, value);
        }
        f.declare("rtrace_drop_monitor_findings_total", "Times a monitor's condition reported", kCounter);
        for (const auto& [key, value] : findings_) {
            const auto& [rule, layer, dev] = key;
            f.add("rtrace_drop_monitor_findings_total", "", kCounter, {{"dev", dev}, {"layer", layer}, {"rule", rule}}, value);
        }
        f.declare("rtrace_drop_ledger_counted_total", "--ledger: a kernel counter's growth since the start, in the namespace the run reads", kCounter);
        f.declare("rtrace_drop_ledger_traced_total", "--ledger: drops the rules that declare the counter traced into it", kCounter);
        f.declare("rtrace_drop_ledger_unexplained", "--ledger: drops the counter has and no running rule traced (lasting a poll)", kGauge);
        f.declare("rtrace_drop_ledger_untracked", "--ledger: drops the rules traced that the counter does not have (a rule bug)", kGauge);
        for (const LedgerFigures& l : ledger_) {
            const Labels counter{{"counter", l.counter}};
            f.add("rtrace_drop_ledger_counted_total", "", kCounter, counter, static_cast<double>(l.counted));
            f.add("rtrace_drop_ledger_traced_total", "", kCounter, counter, static_cast<double>(l.traced));
            f.add("rtrace_drop_ledger_unexplained", "", kGauge, counter, l.state == LedgerState::Unexplained ? static_cast<double>(l.difference) : 0);
            f.add("rtrace_drop_ledger_untracked", "", kGauge, counter, l.state == LedgerState::Untracked ? static_cast<double>(l.difference) : 0);
        }
        f.declare("rtrace_drop_probe_info", "A rule's probe: attached (with its method) or skipped (with the reason); always 1", kGauge);
        std::map<std::string, double> states{{"attached", 0}, {"skipped", 0}};
        for (const ProbeRow& p : probes_) {
            f.add("rtrace_drop_probe_info", "", kGauge,
                  {{"method", p.method}, {"probe", p.probe}, {"reason", p.reason}, {"rule", p.rule}, {"state", p.state}}, 1);
            states[p.state] += 1;
        }
        for (const auto& [state, n] : states) f.add("rtrace_drop_probes", "Probes attached or skipped", kGauge, {{"state", state}}, n);
        f.add("rtrace_drop_build_info", "The rtrace-drop version and the kernel it runs on; always 1", kGauge,
              {{"kernel", kernel_}, {"version", RTD_VERSION}}, 1);
        f.add("rtrace_drop_start_time_seconds", "When the agent started, in seconds since the epoch", kGauge, {}, started_);
        f.add("rtrace_drop_last_reload_timestamp_seconds", "When the last reload (SIGHUP) was tried, in seconds since the epoch; 0: none",
              kGauge, {}, last_reload_);
        f.add("rtrace_drop_last_reload_success", "1 if the last reload worked (or none was asked for), 0 if it failed and the old rules run on",
              kGauge, {}, last_reload_ok_ ? 1 : 0);
        f.add("rtrace_drop_reloads_total", "Reloads (SIGHUP) by result", kCounter, {{"result", "failed"}}, static_cast<double>(reloads_failed_));
        f.add("rtrace_drop_reloads_total", "Reloads (SIGHUP) by result", kCounter, {{"result", "ok"}}, static_cast<double>(reloads_ok_));
    }

    mutable std::mutex mu_;
    mutable std::atomic<std::int64_t> last_scrape_ns_{0};  // steady clock; set by the exposer's thread
    std::int64_t trimmed_ns_ = 0;                          // the main thread's
    const MetricLabels labels_;
    const std::string kernel_;
    const double started_;
    const CompiledRuleSet* set_ = nullptr;
    struct bpf_object* obj_ = nullptr;
    std::vector<DispatchSpec> dispatch_;
    std::unique_ptr<DropReasonNames> reasons_;  // of the set being served
    std::vector<ProbeRow> probes_;
    std::map<std::pair<std::string, Labels>, double> carried_;  // counts of retired objects
    std::map<std::tuple<std::string, std::string, std::string, std::string>, double> monitor_values_;  // rule, layer, source, dev
    std::map<std::tuple<std::string, std::string, std::string>, double> findings_;                     // rule, layer, dev
    double last_reload_ = 0;
    bool last_reload_ok_ = true;
    std::uint64_t reloads_ok_ = 0, reloads_failed_ = 0;
    std::function<std::string(std::uint64_t)> netns_names_;
    struct LedgerFigures {
        std::string counter;
        std::uint64_t counted, traced;
        LedgerState state;
        std::uint64_t difference;
    };
    std::vector<LedgerFigures> ledger_;
};

std::uint32_t MetricLabels::kernel_bits() const
{
    return RTD_METRICS_ON | (reason ? RTD_LABEL_REASON : 0) | (dev ? RTD_LABEL_DEV : 0) | (netns ? RTD_LABEL_NETNS : 0);
}

Expected<MetricLabels> parse_metric_labels(const std::vector<std::string>& names)
{
    MetricLabels l{false, false, false, false, false};
    for (const std::string& raw : names) {
        std::stringstream parts(raw);  // "rule,reason" as well as repeated flags
        for (std::string n; std::getline(parts, n, ',');) {
            if (n == "rule") l.rule = true;
            else if (n == "layer") l.layer = true;
            else if (n == "reason") l.reason = true;
            else if (n == "dev") l.dev = true;
            else if (n == "netns" || n == "netns_name") l.netns = true;
            else
                return RunError::bad_input(fmt::format("--metrics-labels: '{}' is not a label of rtrace_drop_drops_total", n),
                                           {fmt::format("the labels are {} (netns brings netns_name)", kMetricLabelNames)});
        }
    }
    return l;
}

Expected<std::string> parse_listen_address(const std::string& text)
{
    auto bad = [&](const std::string& why) {
        return RunError::bad_input(fmt::format("--metrics '{}': {}", text, why), {"give [ADDR]:PORT, e.g. :9977, 127.0.0.1:9977 or [::1]:9977"});
    };
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos) return bad("no port");
    std::string host = text.substr(0, colon);
    const std::string port_text = text.substr(colon + 1);
    char* end = nullptr;
    errno = 0;
    const unsigned long port = port_text.empty() ? 0 : std::strtoul(port_text.c_str(), &end, 10);
    if (port_text.empty() || *end || errno || port == 0 || port > 65535) return bad("the port must be a number from 1 to 65535");
    const bool v6 = host.size() >= 2 && host.front() == '[' && host.back() == ']';
    if (v6) host = host.substr(1, host.size() - 2);
    if (host.empty()) host = "0.0.0.0";
    unsigned char buf[sizeof(in6_addr)];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), buf) != 1)
        return bad(fmt::format("'{}' is not an IPv4 address or an IPv6 address in brackets", host));
    return v6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

namespace {

// Binds the address once ourselves: civetweb only says that it failed,
// the kernel says why (in use, not an address of this host).
std::string bind_problem(const std::string& listen)
{
    const bool v6 = listen.front() == '[';
    const std::size_t colon = listen.rfind(':');
    const std::string host = v6 ? listen.substr(1, colon - 2) : listen.substr(0, colon);
    const auto port = static_cast<std::uint16_t>(std::stoul(listen.substr(colon + 1)));
    const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::strerror(errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as civetweb does
    int rc;
    if (v6) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        inet_pton(AF_INET6, host.c_str(), &a.sin6_addr);
        rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        inet_pton(AF_INET, host.c_str(), &a.sin_addr);
        rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    const int err = errno;
    close(fd);
    return rc == 0 ? "" : std::strerror(err);
}

}  // namespace

MetricsExporter::MetricsExporter(const MetricsOptions& options) : collector_(std::make_shared<Collector>(options.labels)) {}

MetricsExporter::~MetricsExporter() = default;

Expected<std::unique_ptr<MetricsExporter>> MetricsExporter::start(const MetricsOptions& options)
{
    Expected<std::string> listen = parse_listen_address(options.listen);
    if (!listen) return listen.error();
    const std::string why = bind_problem(*listen);
    if (!why.empty())
        return RunError::bad_input(fmt::format("--metrics: cannot listen on {}: {}", *listen, why),
                                   {"choose a free port, or an address of this host"});
    std::unique_ptr<MetricsExporter> e(new MetricsExporter(options));
    // The exposer's threads share the main thread's malloc arena: in one of
    // its own, the few long-lived allocations a scrape makes (namespace
    // names) pin pages of each scrape's garbage, which malloc_trim then
    // cannot give back (48.6 -> 40.6 MB with 10,000 series with an arena of
    // its own, 35.7 MB shared; docs/BENCHMARKS.md). Scrapes are rare: the
    // shared arena's lock costs nothing measurable. Set before the threads
    // start: glibc gives a thread its arena at its first allocation.
    ::mallopt(M_ARENA_MAX, 1);
    try {
        // One thread: scrapes are rare, each reads the kernel's maps once.
        e->exposer_ = std::make_unique<prometheus::Exposer>(std::vector<std::string>{"listening_ports", *listen, "num_threads", "1"});
    } catch (const std::exception& ex) {
        return RunError::bad_input(fmt::format("--metrics: cannot listen on {}: {}", *listen, ex.what()));
    }
    e->exposer_->RegisterCollectable(e->collector_);
    return e;
}

void MetricsExporter::serve(const CompiledRuleSet& set, const AttachedProbes& probes, const Btf* btf) { collector_->serve(set, probes, btf); }
void MetricsExporter::retire() { collector_->retire(); }
void MetricsExporter::monitor_poll(const Monitors& monitors, const std::vector<MonitorFinding>& findings)
{
    collector_->monitor_poll(monitors, findings);
}
void MetricsExporter::ledger_poll(const Ledger& ledger) { collector_->ledger_poll(ledger); }
void MetricsExporter::reloaded(bool ok) { collector_->reloaded(ok); }
void MetricsExporter::after_scrapes() { collector_->after_scrapes(); }
void MetricsExporter::set_netns_names(std::function<std::string(std::uint64_t)> names) { collector_->set_netns_names(std::move(names)); }

std::string MetricsExporter::scrape_text() const
{
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, collector_->Collect());
    return out.str();
}

int MetricsExporter::port() const
{
    const std::vector<int> ports = exposer_ ? exposer_->GetListeningPorts() : std::vector<int>{};
    return ports.empty() ? 0 : ports.front();
}

}  // namespace rtd
