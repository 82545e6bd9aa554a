// The reporting side of a run and its loop: events from the ring buffer and
// monitor findings go, decoded, to the output the options chose (text
// lines, JSON lines or the flow summary; an observer may listen in) until
// the run is asked to stop, its time is up, --count events were reported or
// the reader of the output went away. Every --interval the counters (and
// the summary) are printed; monitors are polled at their own period.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "compiler/btf.h"
#include "compiler/compiled.h"
#include "runtime/attach.h"
#include "runtime/rule_counters.h"
#include "runtime/decoder.h"
#include "runtime/evidence_stage.h"
#include "runtime/ledger.h"
#include "runtime/monitor.h"
#include "runtime/pcap_output.h"
#include "runtime/report.h"
#include "runtime/status.h"
#include "runtime/symbols.h"

struct ring_buffer;  // libbpf's

namespace rtd {

struct OutputOptions {
    bool json = false;      // one JSON object per event
    bool summary = false;   // a rule x flow table instead of events
    bool hints = false;     // print each event's hint
    bool color = false;
    bool stacks = true;     // print recorded kernel stacks
    bool quiet = false;     // no line per event or finding (the observer still sees them)
    std::size_t top = 20;   // flows in the summary
    std::uint64_t count = 0;  // stop after this many events (0: no limit)
    std::FILE* out = stdout;
    EventSink* observer = nullptr;  // also sees every event and finding (tests)
    PcapngWriter* pcap = nullptr;   // --pcap: packets with their bytes are written here too
    std::uint32_t snaplen = 0;      // --snaplen, the pcap interfaces' snapshot length
};

class Reporting {
public:
    // `btf` decodes enum names (null when only monitors run); `reason_hints`
    // per rule index ({reason_hint}).
    Reporting(const CompiledRuleSet& set, const Btf* btf, std::vector<const std::map<std::string, std::string>*> reason_hints,
              const OutputOptions& options);

    void event(const void* data, std::size_t size);
    void monitor(const std::vector<MonitorFinding>& findings);
    bool full() const { return options_.count && reported_ >= options_.count; }
    std::uint64_t undecodable() const { return undecodable_; }
    std::FILE* out() const { return options_.out; }
    FlowSummary& flows() { return flows_; }
    // Look-ups made for evidence placeholders; null when no rule has one.
    const EvidenceStage* evidence() const { return evidence_.get(); }
    // What is reported so far, out to the output and the capture file
    // (waiting for the evidence look-ups of what is queued).
    void flush();
    // After a batch of events: the same, without waiting for look-ups.
    void flush_batch();
    // The summary (when asked for), then empty it for the next interval.
    void print_summary(bool clear);

private:
    void reported_one();
    void write_out();

    OutputOptions options_;
    std::unique_ptr<EventDecoder> decoder_;
    KernelSymbols symbols_;
    ReportContext ctx_;
    TextOutput text_;
    JsonOutput json_;
    FlowSummary flows_;
    std::unique_ptr<PcapOutput> pcap_;
    std::vector<EventSink*> sinks_;
    std::uint64_t reported_ = 0;
    std::uint64_t undecodable_ = 0;
    // Last: stopped (its queue emptied into the outputs) before they go.
    std::unique_ptr<EvidenceStage> evidence_;
};

struct LoopOptions {
    std::uint64_t duration_ms = 0;  // 0: until stopped
    std::uint64_t interval_ms = 0;  // print counters (and the summary) this often; 0: only at the end
    std::uint64_t poll_ms = 1000;   // monitors
    bool kernel_flows = false;      // --summary counted in the kernel (rtd_flows)
    // After each monitor poll, with its findings (the exporter's readings).
    std::function<void(const std::vector<MonitorFinding>&)> polled;
    // Every turn of the loop (at least every 100 ms): housekeeping of the
    // main thread's (the exporter gives a scrape's memory back).
    std::function<void()> tick;
    // --ledger: read at each poll (with the monitors), printed at each
    // interval and, exact, at the end (before the probes are detached).
    Ledger* ledger = nullptr;
    bool ledger_json = false;
    std::function<void(const Ledger&)> ledger_polled;  // the exporter's copy
};

struct LoopEnd {
    bool reload = false;           // SIGHUP: the loop ended with everything still attached
    double seconds = 0;
    std::uint64_t polls = 1;       // monitor polls, the first readings included
    bool output_closed = false;    // the reader of the output went away
    std::vector<rtd_counter> counts;  // read before detaching
    std::optional<TrackStats> track;  // --track: read once detached
};

struct RingBufferFree {
    void operator()(struct ring_buffer* r) const;
};
using EventRing = std::unique_ptr<struct ring_buffer, RingBufferFree>;

// The ring buffer of the attached object's events, read into `reporting`
// (null when nothing is attached).
Expected<EventRing> open_event_ring(const AttachedProbes& probes, Reporting& reporting);

// Calls `ready`, runs until stopped, then reads the counters and detaches
// (nothing more can fire after that). On SIGHUP it returns with `reload`
// set instead, everything still attached. `probes` may hold no object
// (monitors only), then `ring` is null.
Expected<LoopEnd> run_event_loop(const CompiledRuleSet& set, AttachedProbes& probes, struct ring_buffer* ring, Monitors& monitors,
                                 Reporting& reporting, const LoopOptions& options, const std::function<void()>& ready, StatusSink& status);

}  // namespace rtd
