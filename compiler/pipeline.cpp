#include "compiler/pipeline.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "compiler/counted.h"
#include "compiler/lower.h"
#include "compiler/packs.h"
#include "compiler/proc_counters.h"
#include "compiler/typecheck.h"

namespace rtd {

Pipeline::Pipeline(PipelineOptions options)
    : options_(std::move(options)), frontend_(options_.search), release_(options_.kernel.release())
{
    frontend_.set_param_overrides(options_.params);
}

bool Pipeline::run(Pass last)
{
    using Step = bool (Pipeline::*)();
    static constexpr Step kSteps[] = {&Pipeline::load, &Pipeline::choose_btf, &Pipeline::type_check, &Pipeline::lower_rules};
    for (int pass = done_ + 1; pass <= static_cast<int>(last); ++pass) {
        if (diagnostics().has_errors()) return false;
        if (!(this->*kSteps[pass])()) return false;
        done_ = pass;
    }
    return !diagnostics().has_errors();
}

bool Pipeline::has_probe_rules() const
{
    return std::any_of(rules_.begin(), rules_.end(), [](const RuleDecl* r) { return !r->is_monitor; });
}

// Packs by name (warning about a min_kernel newer than the target kernel),
// files and folders, their imports, then -i/-e.
bool Pipeline::load()
{
    std::vector<std::string> paths;
    if (!resolve_packs(options_.inputs, options_.shipped_rules, release_, paths, sources(), diagnostics())) return false;
    if (!frontend_.load(paths)) return false;
    const std::vector<const RuleDecl*> loaded = frontend_.rules();
    for (const RuleDecl* r : loaded)
        if (rule_selected(r->id, options_.include, options_.exclude)) rules_.push_back(r);
    if (!rules_.empty() || (!options_.require_rules && options_.include.empty() && options_.exclude.empty())) return true;
    std::string patterns;
    for (const std::string& p : options_.include) patterns += (patterns.empty() ? "" : ", ") + p;
    bool none_matches = !options_.include.empty() && std::none_of(loaded.begin(), loaded.end(), [&](const RuleDecl* r) {
        return rule_selected(r->id, options_.include, {});
    });
    diagnostics().error_in("rtrace-drop", loaded.empty() ? "no rules found"
                                          : none_matches ? "no rule matches " + patterns
                                                         : "no rule is selected by -i/-e");
    return false;
}

// Only probe rules need the kernel's types: monitors run in user space.
bool Pipeline::choose_btf()
{
    if (!options_.kernel_types || !has_probe_rules()) return true;
    std::vector<std::string> functions;
    for (const RuleDecl* r : rules_)
        for (const Probe& p : r->probes)
            if (p.kind != ProbeKind::Tracepoint) functions.push_back(p.function);
    KernelBtf kernel = load_kernel_btf(options_.kernel, functions);
    btf_path_ = kernel.path;
    notes_ = std::move(kernel.notes);
    btf_ = std::move(kernel.btf);
    if (btf_) return true;
    btf_error_ = kernel.error;
    if (options_.kernel.running() && options_.btf_need == BtfNeed::Optional) {
        diagnostics()
            .warning({}, fmt::format("cannot read the kernel's BTF at {} ({}): rules were parsed but not type-checked", btf_path_,
                                     btf_error_))
            .hint("give the kernel's BTF with --btf FILE (a vmlinux or a raw .btf file)");
        return true;
    }
    const BtfProblem problem = btf_problem(options_.kernel, btf_path_, btf_error_);
    diagnostics().error_in(problem.where, problem.message).hint(problem.hint);
    return false;
}

bool Pipeline::type_check()
{
    if (options_.report_types && options_.kernel.running() && !options_.proc_net.empty()) {
        CounterCatalog machine;
        if (SnmpCounters snmp = read_snmp(options_.proc_net); !snmp.empty()) {
            machine.snmp.emplace();
            for (const auto& [name, value] : snmp) machine.snmp->push_back(name);
        }
        check_counted(rules_, machine, diagnostics(), options_.strict);
        if (diagnostics().has_errors()) return false;
    }
    if (!btf_) return true;
    TypeCheckOptions tc;
    tc.strict = options_.strict;
    tc.kernel = release_;
    if (options_.report_types) {
        typed_ = rtd::type_check(rules_, *btf_, sources(), diagnostics(), tc);
        return !diagnostics().has_errors();
    }
    // A rule that does not type-check is skipped ("does not type-check"),
    // as run would refuse it.
    Diagnostics quiet;
    typed_ = rtd::type_check(rules_, *btf_, sources(), quiet, tc);
    return true;
}

bool Pipeline::lower_rules()
{
    plan_ = lower(rules_, typed_, btf_.get(), sources());
    return true;
}

void Pipeline::emit(CompiledRuleSet& set, const EmitOptions& options) const
{
    if (btf_) emit_c(set, rules_, typed_, *btf_, options);
}

}  // namespace rtd
