// `run --metrics [ADDR]:PORT`: the Prometheus text format at /metrics,
// served by prometheus-cpp's pull exposer (its own threads). Drops are
// counted in the kernel by rule and the chosen labels (rtd_drops); each
// scrape reads those maps and the rules' counters (rtd_counts) then, so a
// scrape is as fresh as the kernel. What only user space knows (monitor
// readings, findings, which probes attached, reloads) is handed over by the
// run and kept under the exporter's lock. docs/OPERATIONS.md lists the
// metrics.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "compiler/btf.h"
#include "compiler/compiled.h"
#include "runtime/attach.h"
#include "runtime/ledger.h"
#include "runtime/monitor.h"
#include "runtime/status.h"

namespace prometheus {
class Exposer;
}

namespace rtd {

// The labels the drop counter may carry (--metrics-labels).
struct MetricLabels {
    bool rule = true, layer = true, reason = true, dev = true, netns = true;
    // RTD_METRICS_ON and the RTD_LABEL_* bits the kernel keeps.
    std::uint32_t kernel_bits() const;
};
Expected<MetricLabels> parse_metric_labels(const std::vector<std::string>& names);
inline const char* const kMetricLabelNames = "rule, layer, reason, dev, netns";

// "[ADDR]:PORT" -> "ADDR:PORT" as civetweb takes it (ADDR 0.0.0.0 when
// left out; an IPv6 address in brackets). Bad input otherwise.
Expected<std::string> parse_listen_address(const std::string& text);

struct MetricsOptions {
    std::string listen;              // "[ADDR]:PORT"; empty: no exporter
    MetricLabels labels;
    std::uint32_t max_series = 4096;  // rtd_drops' entries
};

class MetricsExporter {
public:
    // Binds now (before anything is attached): a port in use or an address
    // this host does not have is bad input.
    static Expected<std::unique_ptr<MetricsExporter>> start(const MetricsOptions& options);
    ~MetricsExporter();

    // The rules now running: their table, the probes' state, the object
    // whose maps are read at each scrape (null: monitors only), and the
    // kernel's drop-reason names (from `btf`, read here, not later).
    void serve(const CompiledRuleSet& set, const AttachedProbes& probes, const Btf* btf);
    // Before the object goes: its counts are read a last time and kept, so
    // counters of rules that run on after a reload never go down.
    void retire();
    // After each monitor poll.
    void monitor_poll(const Monitors& monitors, const std::vector<MonitorFinding>& findings);
    // After each ledger poll (run --ledger).
    void ledger_poll(const Ledger& ledger);
    void reloaded(bool ok);
    // From the run's loop, often: gives the memory of a scrape that has
    // ended back to the system (the loop's thread; cheap when none has).
    void after_scrapes();
    // The readable name of a namespace inode ("" unknown); called at scrapes.
    void set_netns_names(std::function<std::string(std::uint64_t)> names);

    // The text a scrape returns (tests, the scrape benchmark).
    std::string scrape_text() const;
    int port() const;

    class Collector;

private:
    explicit MetricsExporter(const MetricsOptions& options);

    std::unique_ptr<prometheus::Exposer> exposer_;
    std::shared_ptr<Collector> collector_;
};

}  // namespace rtd
