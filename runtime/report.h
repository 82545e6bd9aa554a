// Reporters: what a decoded event looks like to a person (a text line), to
// a program (a JSON object per line), or in aggregate (the flow summary).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "compiler/compiled.h"
#include "runtime/decoder.h"
#include "runtime/monitor.h"
#include "runtime/symbols.h"

namespace rtd {

struct ReportContext {
    const CompiledRuleSet& set;
    // Both null when only monitors run (no BTF, no BPF).
    const EventDecoder* decoder = nullptr;
    const KernelSymbols* symbols = nullptr;
    std::int64_t realtime_offset_ns = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC at start
    // Per rule: its pack's drop-reason hints (hints.toml), or null.
    std::vector<const std::map<std::string, std::string>*> reason_hints = {};
    bool stacks = true;  // print recorded kernel stacks (output.stack, --no-stack)
};

// A message or hint with its placeholders filled in by `value`.
std::string fill(const TextTemplate& t, const std::function<std::string(const std::string&)>& value);

// The value of one placeholder for an event ("" when unknown).
std::string placeholder_value(const std::string& name, const DecodedEvent& e, const ReportContext& ctx);
std::string fill(const TextTemplate& t, const DecodedEvent& e, const ReportContext& ctx);
// An evidence placeholder's look-up for this event: "sysctl:net.ipv4.conf.veth0.rp_filter".
std::string evidence_key(const TextTemplate::Piece& piece, const DecodedEvent& e, const ReportContext& ctx);
// The rule's message, or a default one.
std::string event_message(const DecodedEvent& e, const ReportContext& ctx);

// The same for a monitor's finding.
std::string placeholder_value(const std::string& name, const MonitorFinding& f, const ReportContext& ctx);
std::string fill(const TextTemplate& t, const MonitorFinding& f, const ReportContext& ctx);
std::string monitor_message(const MonitorFinding& f, const ReportContext& ctx);

// Where probe events and monitor findings go: one stream for both.
class EventSink {
public:
    virtual ~EventSink() = default;
    virtual void event(const DecodedEvent& e) = 0;
    virtual void monitor(const MonitorFinding& f) = 0;
};

class TextOutput : public EventSink {
public:
    TextOutput(std::FILE* out, const ReportContext& ctx, bool color, bool hints) : out_(out), ctx_(ctx), color_(color), hints_(hints) {}
    void event(const DecodedEvent& e) override;
    void monitor(const MonitorFinding& f) override;

private:
    std::FILE* out_;
    const ReportContext& ctx_;
    bool color_;
    bool hints_;
};

class JsonOutput : public EventSink {
public:
    JsonOutput(std::FILE* out, const ReportContext& ctx) : out_(out), ctx_(ctx) {}
    void event(const DecodedEvent& e) override;
    void monitor(const MonitorFinding& f) override;

private:
    std::FILE* out_;
    const ReportContext& ctx_;
    std::string line_;  // reused: one allocation for the whole run
};

// Events counted by rule and flow (protocol, source, destination, port);
// monitor findings by rule and device, with the counter's growth.
class FlowSummary : public EventSink {
public:
    explicit FlowSummary(const ReportContext& ctx) : ctx_(ctx) {}
    // A drop of the flow, or its sample (e.sample: its hint is kept, not counted).
    void event(const DecodedEvent& e) override;
    // `n` drops of `rule` counted in the kernel (run --summary).
    void add(std::size_t rule, const std::optional<PacketInfo>& packet, std::uint64_t n);
    // Drops of `rule` the kernel counted together once its flow table was full.
    void add_other_flows(std::size_t rule, std::uint64_t n) { counts_[{rule, "(other flows: the kernel's table is full)"}] += n; }
    void monitor(const MonitorFinding& f) override;
    void print(std::FILE* out, std::size_t top) const;
    void clear()
    {
        counts_.clear();
        monitors_.clear();
    }

private:
    struct MonitorTotal {
        std::uint64_t findings = 0;
        std::int64_t value = 0;  // the last one
        std::int64_t delta = 0;  // summed
    };
    const ReportContext& ctx_;
    std::map<std::tuple<std::size_t, std::string>, std::uint64_t> counts_;
    std::map<std::tuple<std::size_t, std::string>, MonitorTotal> monitors_;
    // Per flow, its first drop's hint with evidence (run --summary with
    // evidence placeholders: the kernel sends that drop, RTD_EV_SAMPLE).
    std::map<std::tuple<std::size_t, std::string>, std::string> evidence_;
};

}  // namespace rtd
