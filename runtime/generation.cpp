#include "runtime/generation.h"

#include <map>

#include <fmt/format.h>

#include "runtime/compile_object.h"
#include "runtime/evidence_stage.h"
#include "runtime/features.h"
#include "runtime/kernel_plan.h"
#include "runtime/run_settings.h"
#include "runtime/signals.h"

namespace rtd {

namespace {

// The C for what this kernel runs, compiled (rule files); a built object
// brings its own.
Expected<std::string> object_for(RunRules& rules, const RunOptions& opt, StatusSink& status)
{
    if (rules.prebuilt) return rules.prebuilt->object;
    Expected<std::optional<Filter>> filter = compile_where(opt.where, opt.color_diagnostics, status);
    if (!filter) return filter.error();
    EmitOptions emit;
    emit.filter = *filter;
    for (const FixedSetting& s : fixed_settings(opt, EvidenceStage::needed(rules.set))) emit.fixed_settings.emplace_back(s.name, s.value);
    if (!opt.filter.empty()) {
        std::string error;
        emit.pcap_filter = compile_pcap_filter(opt.filter, error);
        if (!emit.pcap_filter) return RunError::bad_input("--filter: " + error);
        status.say("pcap filter in the kernel: " + opt.filter);
    }
    rules.pipeline->emit(rules.set, emit);
    if (rules.set.program_names().empty()) return std::string();
    Expected<CompiledObject> built = compile_object(rules.set, *rules.btf, opt.cache_dir);
    if (!built) return built.error();
    return std::move(built->bytes);
}

// What the kernel offers -> the plan for it -> the object -> loaded and
// attached. Nothing to do without probe rules.
Expected<AttachedProbes> start_probes(RunRules& rules, const RunOptions& opt, const LoadOptions& load, StatusSink& status)
{
    if (!rules.has_probes()) return AttachedProbes{};
    if (std::string missing = missing_bpf_capabilities(); !missing.empty())
        return RunError::failure("loading BPF programs needs root, or the capabilities CAP_BPF and CAP_PERFMON; this process lacks " + missing,
                                 {"run it with sudo, or give the binary those capabilities: sudo setcap cap_bpf,cap_perfmon+ep $(command -v "
                                  "rtrace-drop)"});
    if (std::string note = mount_tracefs_if_missing(); !note.empty()) status.note(note);
    const std::int32_t trampoline_target = rules.cached ? rules.cached->trampoline_target : trampoline_test_target(*rules.btf);
    KernelFeatures features = probe_kernel_features(trampoline_target);
    if (stopped_before("compile", status)) return RunError::already_reported(kExitFailure);
    if (opt.no_trampolines && features.trampolines) {
        features.trampolines = false;
        features.trampoline_error = "not used: --no-trampolines";
    }
    if (rules.cached && kernel_facts(rules.set, features) != rules.cached->kernel_facts)
        if (Status s = rules.plan_afresh(opt, status)) return *s;
    if (rules.cached) {
        // Kept (plan_cache.h): narrowed for this kernel and compiled.
        if (!opt.filter.empty()) status.say("pcap filter in the kernel: " + opt.filter);
        rules.set.ring_bytes = opt.load.ring_bytes;
        return load_and_attach(rules.set, rules.cached->object, dispatchers(rules.set), load, features, status);
    }
    // A built object's dispatchers are those of its plan before this kernel
    // narrows it; rule files are compiled after.
    std::vector<DispatchSpec> as_built = dispatchers(rules.set);
    plan_for_kernel(rules.set, *rules.btf, features, {opt.rules.include, opt.rules.exclude, opt.all, opt.load.track_entries != 0});
    rules.set.ring_bytes = opt.load.ring_bytes;
    Expected<std::string> object = object_for(rules, opt, status);
    if (!object) return object.error();
    if (!rules.prebuilt) as_built = dispatchers(rules.set);
    if (rules.plan_cache) rules.plan_cache->store(rules.set, *object, trampoline_target, kernel_facts(rules.set, features));
    return load_and_attach(rules.set, *object, as_built, load, features, status);
}

Status something_runs(const RunOptions& opt, const AttachedProbes& probes, const Monitors& monitors)
{
    const std::size_t skipped = probes.skipped + monitors.skipped().size();
    if (opt.rules.strict && skipped) return RunError::bad_input(fmt::format("{} rule probe(s) or monitor(s) skipped and --strict is set", skipped));
    if (probes.attached == 0 && monitors.active() == 0)
        return RunError::failure("nothing could be attached on this kernel (see the reasons above)");
    return kDone;
}

}  // namespace

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

Expected<std::unique_ptr<Generation>> start_generation(const RunOptions& opt, std::uint32_t number, int gate_fd, StatusSink& status)
{
    // On the heap: the reporting and the monitors point into the rules.
    auto g = std::make_unique<Generation>();
    g->number = number;
    Expected<RunRules> rules = load_run_rules(opt, status);
    if (!rules) return rules.error();
    g->rules = std::move(*rules);
    if (Status s = check_probe_count(g->rules.set)) return *s;
    Expected<AttachedProbes> probes = start_probes(g->rules, opt, load_options(opt, number, gate_fd), status);
    if (!probes) return probes.error();
    g->probes = std::move(*probes);
    if (Status s = g->rules.wait_for_btf()) return *s;
    const std::uint64_t poll_ms = opt.interval_ms ? opt.interval_ms : 1000;
    g->monitors = std::make_unique<Monitors>(g->rules.decls);
    g->first_findings = g->monitors->start();
    print_monitor_status(status, g->rules, *g->monitors, fmt::format("polled every {:.1f} s", poll_ms / 1000.0));
    if (Status s = something_runs(opt, g->probes, *g->monitors)) return *s;
    if (!opt.ledger && g->monitors->active() == 0 && only_track_rules_attached(g->rules.set, g->probes))
        status.warning("only track rules run: they add hops to the paths of drops other rules report, and report nothing themselves; "
                       "run them with drop rules, e.g. 'rtrace-drop run rules --track'");
    // Without an object there is nothing to decode (nor kallsyms to read).
    g->reporting = std::make_unique<Reporting>(g->rules.set, g->probes.obj ? g->rules.btf : nullptr, g->rules.reason_hints, opt.output);
    Expected<EventRing> ring = open_event_ring(g->probes, *g->reporting);
    if (!ring) return ring.error();
    g->ring = std::move(*ring);
    if (opt.ledger) {
        const LoadOptions load = load_options(opt, number, gate_fd);
        Ledger::LeftOut left_out;
        if (g->rules.pipeline)
            for (const RuleDecl* d : g->rules.pipeline->frontend().rules())
                if (!d->counted_as.empty() && !rule_selected(d->id, opt.rules.include, opt.rules.exclude)) {
                    auto& [id, groups] = left_out.emplace_back(d->id, std::vector<std::vector<std::string>>{});
                    for (const CounterGroup& group : d->counted_as) {
                        std::vector<std::string>& names = groups.emplace_back();
                        for (const MonitorSource& s : group.alternatives) names.push_back(s.spelling());
                    }
                }
        g->ledger = std::make_unique<Ledger>(g->rules.set, g->probes, opt.rules.include, opt.rules.exclude, left_out, load.ledger_netns,
                                             g->probes.obj ? g->rules.btf : nullptr);
        g->ledger->start(g->probes.obj.get());
        if (g->ledger->empty()) status.note("--ledger: no loaded rule declares a counter ('counted as') and no monitor reads one");
        if (!g->probes.ledger_reasons_off.empty()) status.note("--ledger: no overall line: " + g->probes.ledger_reasons_off);
    }
    return g;
}

}  // namespace rtd
