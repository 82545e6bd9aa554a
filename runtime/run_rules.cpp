#include "runtime/run_rules.h"

#include <algorithm>
#include <filesystem>

#include <bpf/btf.h>

#include <fmt/format.h>

#include "compiler/install_paths.h"
#include "runtime/reason_hints.h"

namespace rtd {

namespace {

// The passes after loading, to the plan (diagnostics and notes said once,
// here: loading said nothing when the plan cache was asked first).
Status finish_pipeline(RunRules& rules, const RunOptions& opt, StatusSink& status)
{
    Pipeline& p = *rules.pipeline;
    const bool ok = p.run(Pipeline::Pass::Lower);
    for (const std::string& note : p.notes()) status.note(note);
    status.diagnostics(p.diagnostics(), p.sources(), opt.color_diagnostics);
    // No BTF for the running kernel is the machine's problem, not the rules'.
    if (!ok) return RunError::already_reported(!p.btf_error().empty() && opt.rules.kernel.running() ? kExitFailure : kExitBadInput);
    rules.decls = p.rules();
    rules.set = p.plan();
    rules.btf = p.btf();
    rules.reason_hints = reason_hint_tables(rules.set, rules.hint_tables, status);
    // Only a plan made without a word is kept, on the kernel's own BTF.
    const bool clean = p.diagnostics().all().empty() && p.notes().empty() && rules.btf && !btf__base_btf(rules.btf->raw());
    if (!clean) rules.plan_cache.reset();
    return kDone;
}

// A kept plan for these rules on this kernel: its rule table, and the
// kernel's BTF parsed in the background (only the reports need it).
bool use_kept_plan(RunRules& rules, StatusSink& status)
{
    std::optional<CachedPlan> kept = rules.plan_cache->find();
    if (!kept) return false;
    rules.decls = rules.pipeline->rules();
    rules.set = std::move(kept->set);
    rules.cached = std::move(kept);
    rules.reason_hints = reason_hint_tables(rules.set, rules.hint_tables, status);
    rules.btf_parsing = std::async(std::launch::async, [] {
        KernelBtf k;
        k.path = kRunningKernelBtf;
        k.btf = Btf::load(k.path, k.error);
        return k;
    });
    rules.plan_cache.reset();  // nothing new to keep
    return true;
}

Expected<RunRules> from_rule_files(const RunOptions& opt, StatusSink& status)
{
    PipelineOptions po = opt.rules;
    po.kernel_types = !opt.once;
    RunRules rules;
    rules.pipeline = std::make_unique<Pipeline>(std::move(po));
    Pipeline& p = *rules.pipeline;
    // Loading first, silently: rule files that load without a word and hold
    // probe rules may have a kept plan (plan_cache.h).
    if (!opt.once && p.run(Pipeline::Pass::Load) && p.diagnostics().all().empty() && p.has_probe_rules()) {
        rules.plan_cache = PlanCache::open(opt, p.sources());
        if (rules.plan_cache && use_kept_plan(rules, status)) return rules;
    }
    if (Status s = finish_pipeline(rules, opt, status)) return *s;
    return rules;
}

// A built object's monitors, parsed back and lined up with its rule table;
// probe rules (and monitors -i/-e leave out) get a stand-in that is not a
// monitor.
Status parse_prebuilt_monitors(RunRules& rules, const RunOptions& opt, StatusSink& status)
{
    static const RuleDecl probe_rule;  // is_monitor = false
    const std::string& path = opt.rules.inputs.front();
    rules.prebuilt_monitors = std::make_unique<Frontend>(default_search_paths());
    Frontend& frontend = *rules.prebuilt_monitors;
    if (!rules.prebuilt->monitors.empty() && !frontend.load_text(path + ":monitors", rules.prebuilt->monitors)) {
        status.diagnostics(frontend.diagnostics(), frontend.sources(), opt.color_diagnostics);
        return RunError::failure(fmt::format("{}: the monitors in the object do not parse with this rtrace-drop", path));
    }
    std::map<std::string, const RuleDecl*> monitors;
    for (const RuleDecl* r : frontend.rules()) monitors[r->id] = r;
    for (const RuleEntry& e : rules.set.rules) {
        if (!e.is_monitor) {
            rules.decls.push_back(&probe_rule);
            continue;
        }
        auto it = monitors.find(e.id);
        if (it == monitors.end()) return RunError::failure(fmt::format("{}: damaged object: monitor {} is in the rule table but not in the monitors", path, e.id));
        rules.decls.push_back(rule_selected(e.id, opt.rules.include, opt.rules.exclude) ? it->second : &probe_rule);
    }
    return kDone;
}

Expected<RunRules> from_prebuilt(const RunOptions& opt, StatusSink& status)
{
    const std::string& path = opt.rules.inputs.front();
    RunRules rules;
    std::string problem;
    rules.prebuilt = read_prebuilt(path, problem);
    if (!rules.prebuilt) return RunError::bad_input(problem);
    const Prebuilt& pre = *rules.prebuilt;
    if (!opt.where.empty() && opt.where != pre.filter)
        return RunError::bad_input(fmt::format("{} was built {}; filters are compiled into the object", path,
                                               pre.filter.empty() ? "without a filter" : "with the filter '" + pre.filter + "'"),
                                   {"rebuild it with 'rtrace-drop build --where EXPR ...', or run the packs themselves"});
    if (!opt.filter.empty())
        return RunError::bad_input(fmt::format("{} is a built object: --filter is compiled into the programs, which a built object has already", path),
                                   {"run the packs themselves with --filter, or filter with --where when building"});
    if (!opt.rules.params.empty())
        status.warning("[params] of the config do not apply to a built object: its params were fixed when it was built");
    rules.set = pre.set;
    if (Status s = parse_prebuilt_monitors(rules, opt, status)) return *s;
    rules.reason_hints.assign(rules.set.rules.size(), nullptr);
    for (const auto& [rule, table] : pre.reason_hints)
        if (rule < rules.reason_hints.size()) rules.reason_hints[rule] = &table;
    if (opt.once || rules.set.probes.empty()) return rules;
    // The running kernel's types, with the modules its function probes need,
    // as the pipeline chooses them for rule files.
    std::vector<std::string> functions;
    for (const ProbePlan& p : rules.set.probes)
        if (p.target.kind != ProbeKind::Tracepoint) functions.push_back(p.target.function);
    KernelBtf kernel = load_kernel_btf(opt.rules.kernel, functions);
    for (const std::string& note : kernel.notes) status.note(note);
    if (!kernel.btf) {
        const BtfProblem p = btf_problem(opt.rules.kernel, kernel.path, kernel.error);
        const std::string message = p.of_the_machine ? p.message : p.where + ": " + p.message;
        return p.of_the_machine ? RunError::failure(message, {p.hint}) : RunError::bad_input(message, {p.hint});
    }
    rules.own_btf = std::move(kernel.btf);
    rules.btf = rules.own_btf.get();
    return rules;
}

}  // namespace

bool RunRules::has_probes() const
{
    return std::any_of(set.rules.begin(), set.rules.end(), [](const RuleEntry& r) { return !r.is_monitor; });
}

Status RunRules::wait_for_btf()
{
    if (!btf_parsing.valid()) return kDone;
    KernelBtf kernel = btf_parsing.get();
    if (!kernel.btf) {
        const BtfProblem p = btf_problem(KernelTarget{}, kernel.path, kernel.error);
        return RunError::failure(p.message, {p.hint});
    }
    own_btf = std::move(kernel.btf);
    btf = own_btf.get();
    return kDone;
}

Status RunRules::plan_afresh(const RunOptions& options, StatusSink& status)
{
    if (btf_parsing.valid()) btf_parsing.wait();  // the pipeline reads its own
    btf_parsing = {};
    cached.reset();
    plan_cache = PlanCache::open(options, pipeline->sources());  // the new plan replaces the kept one
    return finish_pipeline(*this, options, status);
}

Expected<RunRules> load_run_rules(const RunOptions& opt, StatusSink& status)
{
    const std::vector<std::string>& paths = opt.rules.inputs;
    const bool prebuilt = std::any_of(paths.begin(), paths.end(), [](const std::string& p) { return is_prebuilt(p); });
    if (prebuilt && paths.size() != 1)
        return RunError::bad_input("an object built by 'rtrace-drop build' runs alone: build the other packs into it");
    return prebuilt ? from_prebuilt(opt, status) : from_rule_files(opt, status);
}

std::vector<const std::map<std::string, std::string>*> reason_hint_tables(const CompiledRuleSet& set,
                                                                          std::map<std::string, std::map<std::string, std::string>>& tables,
                                                                          StatusSink& status)
{
    std::vector<const std::map<std::string, std::string>*> out(set.rules.size(), nullptr);
    auto uses = [](const std::optional<TextTemplate>& t) {
        return t && std::any_of(t->pieces.begin(), t->pieces.end(), [](const auto& p) { return p.placeholder && p.text == "reason_hint"; });
    };
    for (std::size_t i = 0; i < set.rules.size(); ++i) {
        const RuleEntry& r = set.rules[i];
        if (!uses(r.message) && !uses(r.hint)) continue;
        std::string dir = std::filesystem::path(r.file).parent_path().string();
        auto [it, fresh] = tables.try_emplace(dir);
        if (fresh) {
            std::string problem;
            it->second = load_reason_hints(dir.empty() ? "." : dir, problem);
            if (!problem.empty()) status.error(RunError::failure("cannot read drop-reason hints: " + problem));
        }
        out[i] = &it->second;
    }
    return out;
}

}  // namespace rtd
