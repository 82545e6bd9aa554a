// The rules a run runs, from either source: rule files and packs through
// the compiler's pipeline (compiler/pipeline.h: load, kernel BTF, type
// check, lower), or an object built by `rtrace-drop build` (.rdo) read back:
// its manifest is the plan, its monitors are parsed again, and the running
// kernel's BTF is chosen for the functions its probes name, as the pipeline
// would. Either way the result is a plan the kernel planner narrows next.
#pragma once

#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/btf.h"
#include "compiler/compiled.h"
#include "compiler/frontend.h"
#include "compiler/kernel_btf.h"
#include "compiler/pipeline.h"
#include "runtime/plan_cache.h"
#include "runtime/prebuilt.h"
#include "runtime/session.h"
#include "runtime/status.h"

namespace rtd {


struct RunRules {
    std::unique_ptr<Pipeline> pipeline;   // rule files
    std::optional<Prebuilt> prebuilt;     // a built object
    std::unique_ptr<Frontend> prebuilt_monitors;  // its monitors, parsed back
    // The rule table's declarations, in order: what monitors read (a probe
    // rule of a built object has a stand-in that is not a monitor).
    std::vector<const RuleDecl*> decls;
    CompiledRuleSet set;                  // the plan, before the kernel narrows it
    const Btf* btf = nullptr;             // the kernel's; null without probe rules
    std::unique_ptr<Btf> own_btf;         // a built object's kernel BTF
    // Per rule index: its pack's drop-reason hints ({reason_hint}), or null.
    std::vector<const std::map<std::string, std::string>*> reason_hints;
    std::map<std::string, std::map<std::string, std::string>> hint_tables;  // by pack folder
    // Rule files whose plan for this kernel was kept (plan_cache.h): `set`
    // is that plan, already narrowed, and the kernel's BTF is parsed beside
    // the load (wait_for_btf) rather than before everything.
    std::optional<CachedPlan> cached;
    std::future<KernelBtf> btf_parsing;
    // Where this run's plan is kept once made (rule files, a clean pipeline).
    std::unique_ptr<PlanCache> plan_cache;

    bool has_probes() const;
    // `btf` once the background parse of a kept plan's run is done.
    Status wait_for_btf();
    // The kept plan was made where the kernel offered other attach forms
    // (kernel_facts): the pipeline's passes, as without one.
    Status plan_afresh(const RunOptions& options, StatusSink& status);
};

// The rules `options` name (`once`: monitors only, no BTF read). Bad rules
// are reported (clang-style) to `status`; the error then says only how to
// exit.
Expected<RunRules> load_run_rules(const RunOptions& options, StatusSink& status);

// The drop-reason hints of the packs whose rules use {reason_hint}, by rule
// index, into `tables` (keyed by the rules' folders); problems go to `status`.
std::vector<const std::map<std::string, std::string>*> reason_hint_tables(const CompiledRuleSet& set,
                                                                          std::map<std::string, std::map<std::string, std::string>>& tables,
                                                                          StatusSink& status);

}  // namespace rtd
