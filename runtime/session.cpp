#include "runtime/session.h"

#include <malloc.h>

#include <algorithm>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <systemd/sd-daemon.h>

#include "runtime/attach.h"
#include "runtime/compile_object.h"
#include "runtime/event_loop.h"
#include "runtime/faults.h"
#include "runtime/features.h"
#include "runtime/kernel_plan.h"
#include "runtime/monitor.h"
#include "runtime/netns.h"
#include "runtime/rule_counters.h"
#include "runtime/run_rules.h"
#include "runtime/signals.h"

namespace rtd {

namespace {

// --summary counts flows in the kernel, but --count needs events to count.
bool summary_in_kernel(const RunOptions& opt) { return opt.output.summary && !opt.output.count; }

// What the object's .rodata says, from the options that decide it.
LoadOptions load_options(const RunOptions& opt)
{
    LoadOptions l = opt.load;
    l.core_btf = opt.rules.kernel.btf_file;
    l.report_all = opt.all;
    l.summary_only = summary_in_kernel(opt);
    l.netns_inode = opt.netns.empty() ? 0 : netns_inode(opt.netns);
    l.record_stacks = opt.output.stacks;
    if (!opt.metrics.listen.empty()) {
        l.metrics_labels = opt.metrics.labels.kernel_bits();
        l.metrics_series = opt.metrics.max_series;
    }
    l.events_off = opt.output.quiet && !opt.output.count;  // --count counts events
    return l;
}

// The monitors the run has (a built object's that -i/-e leave out are not).
void print_monitor_status(StatusSink& status, const RunRules& rules, const Monitors& monitors, const std::string& how)
{
    std::map<std::size_t, std::string> skipped(monitors.skipped().begin(), monitors.skipped().end());
    for (std::size_t i = 0; i < rules.set.rules.size(); ++i) {
        const RuleEntry& r = rules.set.rules[i];
        if (!rules.decls[i]->is_monitor) continue;
        auto it = skipped.find(i);
        status.line(fmt::format("  {:<32} {:<40} {}", r.id, r.source, it == skipped.end() ? how : "skipped: " + it->second));
    }
}

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

// The C for what this kernel runs, compiled (rule files); a built object
// brings its own.
Expected<std::string> object_for(RunRules& rules, const RunOptions& opt, StatusSink& status)
{
    if (rules.prebuilt) return rules.prebuilt->object;
    Expected<std::optional<Filter>> filter = compile_where(opt.where, opt.color_diagnostics, status);
    if (!filter) return filter.error();
    EmitOptions emit;
    emit.filter = *filter;
    rules.pipeline->emit(rules.set, emit);
    if (rules.set.program_names().empty()) return std::string();
    Expected<CompiledObject> built = compile_object(rules.set, *rules.btf, opt.cache_dir);
    if (!built) return built.error();
    return std::move(built->bytes);
}

// What the kernel offers -> the plan for it -> the object -> loaded and
// attached. Nothing to do without probe rules.
Expected<AttachedProbes> start_probes(RunRules& rules, const RunOptions& opt, StatusSink& status)
{
    if (!rules.has_probes()) return AttachedProbes{};
    if (std::string missing = missing_bpf_capabilities(); !missing.empty())
        return RunError::failure("loading BPF programs needs root, or the capabilities CAP_BPF and CAP_PERFMON; this process lacks " + missing,
                                 {"run it with sudo, or give the binary those capabilities: sudo setcap cap_bpf,cap_perfmon+ep $(command -v "
                                  "rtrace-drop)"});
    if (std::string note = mount_tracefs_if_missing(); !note.empty()) status.note(note);
    KernelFeatures features = probe_kernel_features(*rules.btf);
    if (stopped_before("compile", status)) return RunError::already_reported(kExitFailure);
    if (opt.no_trampolines && features.trampolines) {
        features.trampolines = false;
        features.trampoline_error = "not used: --no-trampolines";
    }
    // A built object's dispatchers are those of its plan before this kernel
    // narrows it; rule files are compiled after.
    std::vector<DispatchSpec> as_built = dispatchers(rules.set);
    plan_for_kernel(rules.set, *rules.btf, features, {opt.rules.include, opt.rules.exclude, opt.all});
    rules.set.ring_bytes = opt.load.ring_bytes;
    Expected<std::string> object = object_for(rules, opt, status);
    if (!object) return object.error();
    if (!rules.prebuilt) as_built = dispatchers(rules.set);
    return load_and_attach(rules.set, *object, as_built, load_options(opt), features, status);
}

Status something_runs(const RunOptions& opt, const AttachedProbes& probes, const Monitors& monitors)
{
    const std::size_t skipped = probes.skipped + monitors.skipped().size();
    if (opt.rules.strict && skipped) return RunError::bad_input(fmt::format("{} rule probe(s) or monitor(s) skipped and --strict is set", skipped));
    if (probes.attached == 0 && monitors.active() == 0)
        return RunError::failure("nothing could be attached on this kernel (see the reasons above)");
    return kDone;
}

// Once the ring is open: the ready file, the ready line, the monitors' first
// findings.
void say_ready(const RunOptions& opt, const AttachedProbes& probes, const Monitors& monitors, Reporting& reporting,
               const std::vector<MonitorFinding>& first_findings, StatusSink& status)
{
    if (!opt.ready_file.empty()) {
        std::ofstream ready(opt.ready_file);
        ready << "ready\n";
        if (!ready) status.error(RunError::failure(fmt::format("cannot write the ready file {}", opt.ready_file)));
    }
    std::string what = fmt::format("{} of {} probes attached", probes.attached, probes.attached + probes.skipped);
    if (monitors.has_monitors())
        what += fmt::format(", {} of {} monitors polled", monitors.active(), monitors.active() + monitors.skipped().size());
    status.say(fmt::format("ready: {}{}", what,
                           opt.duration_ms ? fmt::format(", running for {:.1f} s", opt.duration_ms / 1000.0) : ", Ctrl-C to stop"));
    // systemd's Type=notify (nothing without $NOTIFY_SOCKET).
    sd_notifyf(0, "READY=1\nSTATUS=%s", what.c_str());
    reporting.monitor(first_findings);
    std::fflush(opt.output.out);  // the loop flushes after each batch of events and each poll
}

void say_what_was_counted(const CompiledRuleSet& set, AttachedProbes& probes, const Monitors& monitors,
                          const Reporting& reporting, const LoopEnd& end, StatusSink& status)
{
    if (probes.obj) print_counters(status, set, end.counts, end.seconds, reporting.undecodable());
    else status.say(fmt::format("ran for {:.1f} s", end.seconds));
    if (monitors.active()) status.say(fmt::format("{} monitor poll(s) of {} monitor(s)", end.polls, monitors.active()));
    probes.obj.reset();
    if (end.output_closed) status.say("standard output was closed; stopped");
}

// Bound before anything is attached (a port in use is bad input), and
// before --netns enters a namespace: scrapes come from the host's network.
Expected<std::unique_ptr<MetricsExporter>> start_exporter(const RunOptions& opt, StatusSink& status)
{
    if (opt.metrics.listen.empty()) return std::unique_ptr<MetricsExporter>();
    if (opt.once) return RunError::bad_input("--once reads the monitors once and exits: it serves no metrics", {"drop --once or --metrics"});
    Expected<std::unique_ptr<MetricsExporter>> exporter = MetricsExporter::start(opt.metrics);
    if (exporter) status.say(fmt::format("serving metrics on port {} at /metrics", (*exporter)->port()));
    return exporter;
}

}  // namespace

int run_session(const RunOptions& opt, StatusSink& status)
{
    StopSignals stop_signals;
    if (!Faults::active().error.empty()) status.warning("RTRACE_DROP_FAULTS: " + Faults::active().error);
    Expected<std::unique_ptr<MetricsExporter>> exporter = start_exporter(opt, status);
    if (!exporter) return report(status, exporter.error());
    Expected<RunRules> rules = load_run_rules(opt, status);
    if (!rules) return report(status, rules.error());
    if (!opt.once)
        if (Status s = check_probe_count(rules->set)) return report(status, *s);
    Expected<NetnsScope> netns = opt.netns.empty() ? Expected<NetnsScope>(NetnsScope()) : enter_netns(opt.netns);
    if (!netns) return report(status, netns.error());
    if (opt.once) return run_once(*rules, opt, status);

    Expected<AttachedProbes> probes = start_probes(*rules, opt, status);
    if (!probes) return report(status, probes.error());
    const std::uint64_t poll_ms = opt.interval_ms ? opt.interval_ms : 1000;
    Monitors monitors(rules->decls);
    std::vector<MonitorFinding> first_findings = monitors.start();
    print_monitor_status(status, *rules, monitors, fmt::format("polled every {:.1f} s", poll_ms / 1000.0));
    if (Status s = something_runs(opt, *probes, monitors)) return report(status, *s);

    // Without an object there is nothing to decode (nor kallsyms to read).
    Reporting reporting(rules->set, probes->obj ? rules->btf : nullptr, rules->reason_hints, opt.output);
    // The compile's garbage (typed trees, generated C, the compile child's
    // pipes) is freed: give those pages back before the long run.
    ::malloc_trim(0);
    LoopOptions loop;
    loop.duration_ms = opt.duration_ms;
    loop.interval_ms = opt.interval_ms;
    loop.poll_ms = poll_ms;
    loop.kernel_flows = summary_in_kernel(opt) && probes->obj;
    if (MetricsExporter* metrics = exporter->get()) {
        metrics->serve(rules->set, *probes, rules->btf);
        metrics->monitor_poll(monitors, first_findings);
        loop.polled = [&](const std::vector<MonitorFinding>& findings) { metrics->monitor_poll(monitors, findings); };
    }
    Expected<LoopEnd> end = run_event_loop(
        rules->set, *probes, monitors, reporting, loop, [&] { say_ready(opt, *probes, monitors, reporting, first_findings, status); }, status);
    if (!end) return report(status, end.error());
    if (*exporter) (*exporter)->retire();  // its last counts, before the object goes
    say_what_was_counted(rules->set, *probes, monitors, reporting, *end, status);
    return kExitOk;
}

}  // namespace rtd
