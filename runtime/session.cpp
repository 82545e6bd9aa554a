#include "runtime/session.h"

#include <malloc.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <fstream>
#include <map>

#include <bpf/libbpf.h>

#include <fmt/format.h>
#include <systemd/sd-daemon.h>

#include "runtime/faults.h"
#include "runtime/generation.h"
#include "runtime/netns.h"
#include "runtime/netns_names.h"
#include "runtime/rule_counters.h"
#include "runtime/run_settings.h"
#include "runtime/signals.h"

namespace rtd {

namespace {

using Clock = std::chrono::steady_clock;

// --once: every monitor's source read now, reporting what has happened
// since boot. No BPF, no BTF: probe rules are not run.
int run_once(const RunRules& rules, const RunOptions& opt, StatusSink& status)
{
    const std::size_t probe_rules = std::count_if(rules.set.rules.begin(), rules.set.rules.end(), [&](const RuleEntry& r) {
        return !r.is_monitor && rule_selected(r.id, opt.rules.include, opt.rules.exclude);
    });
    Monitors monitors(rules.decls);
    if (!monitors.has_monitors())
        return report(status, RunError::bad_input("--once reads monitors, and the rules given have none",
                                                  {"try 'rtrace-drop run --once rules/snmp' or drop --once to run probe rules"}));
    std::vector<MonitorFinding> findings = monitors.start(true);
    print_monitor_status(status, rules, monitors, "read once");
    if (probe_rules) status.say(fmt::format("--once reads monitors only; {} probe rule(s) not run", probe_rules));
    if (opt.rules.strict && !monitors.skipped().empty())
        return report(status, RunError::bad_input(fmt::format("{} monitor(s) skipped and --strict is set", monitors.skipped().size())));
    OutputOptions output = opt.output;
    output.hints = true;  // a snapshot is read by a person: explain each finding
    Reporting reporting(rules.set, nullptr, rules.reason_hints, output);
    reporting.monitor(findings);
    reporting.print_summary(false);
    std::fflush(opt.output.out);
    status.say(fmt::format("{} finding(s) from {} monitor(s) since boot{}", findings.size(), monitors.active(),
                           monitors.skipped().empty() ? "" : fmt::format(", {} skipped", monitors.skipped().size())));
    return kExitOk;
}

// Once the ring is open: the ready file, the ready line (systemd hears it
// too), the monitors' first findings.
void say_ready(const RunOptions& opt, Generation& gen, MetricsExporter* metrics, StatusSink& status)
{
    if (!opt.ready_file.empty()) {
        std::ofstream ready(opt.ready_file);
        ready << "ready\n";
        if (!ready) status.error(RunError::failure(fmt::format("cannot write the ready file {}", opt.ready_file)));
    }
    const Monitors& monitors = *gen.monitors;
    std::string what = fmt::format("{} of {} probes attached", gen.probes.attached, gen.probes.attached + gen.probes.skipped);
    if (monitors.has_monitors())
        what += fmt::format(", {} of {} monitors polled", monitors.active(), monitors.active() + monitors.skipped().size());
    status.say(fmt::format("ready: {}{}", what,
                           opt.duration_ms ? fmt::format(", running for {:.1f} s", opt.duration_ms / 1000.0) : ", Ctrl-C to stop"));
    // systemd's Type=notify (nothing without $NOTIFY_SOCKET).
    sd_notifyf(0, "READY=1\nSTATUS=%s", what.c_str());
    if (metrics) metrics->monitor_poll(monitors, gen.first_findings);
    gen.reporting->monitor(gen.first_findings);
    gen.first_findings.clear();  // a loop resumed after a failed reload has none
    std::fflush(opt.output.out);  // the loop flushes after each batch of events and each poll
}

void say_what_was_counted(Generation& gen, const LoopEnd& end, StatusSink& status)
{
    if (gen.probes.obj) print_counters(status, gen.rules.set, end.counts, end.seconds, gen.reporting->undecodable());
    else status.say(fmt::format("ran for {:.1f} s", end.seconds));
    if (gen.monitors->active()) status.say(fmt::format("{} monitor poll(s) of {} monitor(s)", end.polls, gen.monitors->active()));
    if (end.track) status.say(track_stats_line(*end.track));
    if (const EvidenceStage* evidence = gen.reporting->evidence()) {
        const EvidenceStats s = evidence->stats();
        status.say(fmt::format("evidence: {} look-up(s) on the system, {} answered from the cache, {} not made (over {} a second)", s.lookups,
                               s.cached, s.limited, EvidenceResolver::Limits{}.per_second));
    }
    gen.probes.obj.reset();
    if (end.output_closed) status.say("standard output was closed; stopped");
}

// --duration counts from the start, across reloads.
LoopOptions loop_options(const RunOptions& opt, const Generation& gen, Clock::time_point start)
{
    LoopOptions loop;
    if (opt.duration_ms) {
        const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
        loop.duration_ms = std::max<std::int64_t>(1, static_cast<std::int64_t>(opt.duration_ms) - spent);
    }
    loop.interval_ms = opt.interval_ms;
    loop.poll_ms = opt.interval_ms ? opt.interval_ms : 1000;
    loop.kernel_flows = summary_in_kernel(opt) && gen.probes.obj;
    return loop;
}

// The options of a reload: the rules, filters and limits as the config and
// flags say now; what is bound or entered once (the exporter, --netns, the
// output) stays as it started.
Expected<RunOptions> reload_options(const RunOptions& running, StatusSink& status)
{
    if (!running.reread) return running;
    Expected<RunOptions> next = running.reread();
    if (!next) return next;
    if (next->metrics.listen != running.metrics.listen || next->netns != running.netns)
        status.note("--metrics and --netns take effect at a restart, not at a reload");
    next->metrics = running.metrics;
    next->netns = running.netns;
    next->output = running.output;
    next->ready_file = running.ready_file;
    next->duration_ms = running.duration_ms;
    next->reread = running.reread;
    return next;
}

// SIGHUP: the next generation is attached beside the running one, the gate
// switched to it in one write (each drop counted by exactly one), the old
// one's last events read and its counts kept by the exporter, then it is
// detached. Anything wrong and the running one goes on, and says so.
void reload(const RunOptions& opt, std::unique_ptr<Generation>& gen, MetricsExporter* metrics, StatusSink& status)
{
    sd_notify(0, "RELOADING=1");
    status.say("reloading the rules and the config (SIGHUP)");
    Expected<RunOptions> next_opt = reload_options(opt, status);
    Expected<std::unique_ptr<Generation>> next =
        next_opt ? start_generation(*next_opt, gen->number + 1, gate_fd(gen->probes.obj.get()), status) : next_opt.error();
    if (!next) {
        if (!next.error().reported) status.error(next.error());
        status.say("reload failed: the rules loaded before keep running");
        if (metrics) metrics->reloaded(false);
        return;
    }
    std::unique_ptr<Generation> old = std::move(gen);
    gen = std::move(*next);
    if (gen->probes.obj && !open_gate(gate_fd(gen->probes.obj.get()), gen->number))
        status.warning("could not switch the reload gate: the new rules may count nothing until restarted");
    if (old->ring) ring_buffer__consume(old->ring.get());  // its last events, with its own rule table
    if (metrics) {
        metrics->retire();
        metrics->serve(gen->rules.set, gen->probes, gen->rules.btf);
        metrics->reloaded(true);
    }
    old->probes.links.clear();
    old.reset();
    ::malloc_trim(0);
    status.say(fmt::format("reloaded: {} rule(s)", gen->rules.set.rules.size()));
}

// Bound before anything is attached (a port in use is bad input), and
// before --netns enters a namespace: scrapes come from the host's network.
Expected<std::unique_ptr<MetricsExporter>> start_exporter(const RunOptions& opt, StatusSink& status)
{
    if (opt.metrics.listen.empty()) return std::unique_ptr<MetricsExporter>();
    if (opt.once) return RunError::bad_input("--once reads the monitors once and exits: it serves no metrics", {"drop --once or --metrics"});
    Expected<std::unique_ptr<MetricsExporter>> exporter = MetricsExporter::start(opt.metrics);
    if (!exporter) return exporter;
    status.say(fmt::format("serving metrics on port {} at /metrics", (*exporter)->port()));
    auto names = std::make_shared<NetnsNames>();  // thread-safe; asked at scrapes
    (*exporter)->set_netns_names([names](std::uint64_t inode) { return names->name(inode); });
    return exporter;
}

// --pcap: opened before anything is attached (a path that cannot be
// written is bad input) and kept across reloads, as the output is.
Expected<std::unique_ptr<PcapngWriter>> open_pcap(const RunOptions& opt)
{
    if (opt.pcap.path.empty()) return std::unique_ptr<PcapngWriter>();
    if (opt.once) return RunError::bad_input("--once reads the monitors once and exits: it captures no packets", {"drop --once or --pcap"});
    std::string error;
    std::unique_ptr<PcapngWriter> w = PcapngWriter::open(opt.pcap.path, opt.pcap.rotation, RTD_VERSION, error);
    if (!w) return RunError::bad_input("--pcap: " + error);
    return w;
}

// The end of the capture: the events the kernel could not send (not
// attributable to an interface) in its statistics, then the last blocks.
Status finish_pcap(PcapngWriter* pcap, const LoopEnd& end, StatusSink& status)
{
    if (!pcap) return kDone;
    std::uint64_t lost = 0;
    for (const rtd_counter& c : end.counts) lost += c.lost;
    pcap->set_lost(lost);
    const bool closed = pcap->close();
    status.say(fmt::format("wrote {} packet(s) to the pcapng output", pcap->packets_written()));
    if (closed && pcap->last_error().empty()) return kDone;
    // `--pcap - | tshark ...` and the reader went away: as for `| head`.
    if (pcap->last_error().find(std::strerror(EPIPE)) != std::string::npos) {
        status.say("the reader of the capture went away; stopped");
        return kDone;
    }
    return RunError::failure("--pcap: " + pcap->last_error());
    return kDone;
}

}  // namespace

int run_session(const RunOptions& options, StatusSink& status)
{
    Expected<std::unique_ptr<PcapngWriter>> pcap = open_pcap(options);
    if (!pcap) return report(status, pcap.error());
    RunOptions opt = options;
    if (*pcap) {
        opt.output.pcap = pcap->get();
        opt.output.snaplen = opt.pcap.snaplen;
        if (opt.pcap.path == "-") opt.output.out = stderr;  // standard output carries the capture
        status.say(fmt::format("writing each reported drop's packet (its first {} bytes) to {}", opt.pcap.snaplen,
                               opt.pcap.path == "-" ? "standard output" : opt.pcap.path));
    }
    StopSignals stop_signals;
    if (!Faults::active().error.empty()) status.warning("RTRACE_DROP_FAULTS: " + Faults::active().error);
    Expected<std::unique_ptr<MetricsExporter>> exporter = start_exporter(opt, status);
    if (!exporter) return report(status, exporter.error());
    MetricsExporter* metrics = exporter->get();
    if (opt.once) {
        Expected<RunRules> rules = load_run_rules(opt, status);
        if (!rules) return report(status, rules.error());
        Expected<NetnsScope> netns = opt.netns.empty() ? Expected<NetnsScope>(NetnsScope()) : enter_netns(opt.netns);
        if (!netns) return report(status, netns.error());
        return run_once(*rules, opt, status);
    }
    Expected<NetnsScope> netns = opt.netns.empty() ? Expected<NetnsScope>(NetnsScope()) : enter_netns(opt.netns);
    if (!netns) return report(status, netns.error());
    Expected<std::unique_ptr<Generation>> first = start_generation(opt, 0, -1, status);
    if (!first) return report(status, first.error());
    std::unique_ptr<Generation> gen = std::move(*first);
    if (metrics) metrics->serve(gen->rules.set, gen->probes, gen->rules.btf);
    // However the run ends, the exporter lets go of the object before it goes.
    struct Retire {
        MetricsExporter* metrics;
        ~Retire()
        {
            if (metrics) metrics->retire();
        }
    } retire_on_exit{metrics};
    // The compile's garbage (typed trees, generated C, the compile child's
    // pipes) is freed: give those pages back before the long run.
    ::malloc_trim(0);

    const auto start = Clock::now();
    Expected<LoopEnd> end = LoopEnd{};
    for (;;) {
        LoopOptions loop = loop_options(opt, *gen, start);
        loop.ledger = gen->ledger.get();
        loop.ledger_json = opt.output.json;
        if (metrics) {
            loop.polled = [&](const std::vector<MonitorFinding>& findings) { metrics->monitor_poll(*gen->monitors, findings); };
            loop.tick = [&] { metrics->after_scrapes(); };
            loop.ledger_polled = [&](const Ledger& ledger) { metrics->ledger_poll(ledger); };
        }
        end = run_event_loop(gen->rules.set, gen->probes, gen->ring.get(), *gen->monitors, *gen->reporting, loop,
                             [&] { say_ready(opt, *gen, metrics, status); }, status);
        if (!end) return report(status, end.error());
        if (!end->reload) break;
        reload(opt, gen, metrics, status);
    }
    if (metrics) metrics->retire();  // its last counts, before the object goes
    say_what_was_counted(*gen, *end, status);
    if (Status s = finish_pcap(pcap->get(), *end, status)) return report(status, *s);
    return kExitOk;
}

}  // namespace rtd
