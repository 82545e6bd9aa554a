// The compiler's passes, in order, written once for every command (check,
// explain, list, build, run):
//
//   load       pack names, folders and files -> parsed, imported and resolved
//              rules (frontend.h), then the ones -i/-e select
//   btf        the kernel's types: vmlinux plus the modules that define the
//              selected rules' functions (kernel_btf.h)
//   typecheck  resolved rules + BTF -> typed rules (typecheck.h)
//   lower      typed rules -> rule table, event layouts and every probe's
//              attach methods: a CompiledRuleSet without C (lower.h)
//   emit       -> the C for the plan's available probes (codegen.h), once
//              the runtime has narrowed the plan to the kernel it runs on
//              (runtime/kernel_plan.h), when it does
//
// Like bpftrace's pass manager it stops after the first pass that recorded
// an error; each command runs the passes it needs and reads their results.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "compiler/btf.h"
#include "compiler/codegen.h"
#include "compiler/compiled.h"
#include "compiler/frontend.h"
#include "compiler/install_paths.h"
#include "compiler/kernel_btf.h"
#include "compiler/typed.h"

namespace rtd {

// What a command does without the kernel's BTF.
enum class BtfNeed {
    Required,  // an error (explain, build, run with probe rules)
    Optional,  // a warning: the rules are resolved but not type-checked (check, list)
};

struct PipelineOptions {
    std::vector<std::string> inputs;            // pack names, folders, .rule files
    std::vector<std::string> include, exclude;  // rule id globs; exclude wins
    ParamOverrides params;                      // the config's [params]
    KernelTarget kernel;
    BtfNeed btf_need = BtfNeed::Required;
    bool kernel_types = true;    // false: no BTF is read and nothing type-checked (run --once: monitors only)
    bool require_rules = true;   // false: a file of constants and macros alone is fine (check)
    bool strict = false;         // a probe this kernel lacks is an error
    bool report_types = true;    // false: type errors are kept quiet (list shows "skipped" instead)
    // Where the running kernel's counters are read ('counted as' names are
    // held to them when the rules are for the running kernel); "": not checked.
    std::string proc_net = "/proc/thread-self/net";
    SearchPaths search = default_search_paths();                // where `use` looks
    std::filesystem::path shipped_rules = shipped_rules_dir();  // where pack names are looked up last
};

class Pipeline {
public:
    enum class Pass { Load, Btf, TypeCheck, Lower };

    explicit Pipeline(PipelineOptions options);

    // Runs the passes after those already run, up to and including `last`.
    // False as soon as any pass recorded an error (see diagnostics()).
    bool run(Pass last);
    // The C for `set` (plan(), narrowed or not), into set.source.
    void emit(CompiledRuleSet& set, const EmitOptions& options) const;

    SourceManager& sources() { return frontend_.sources(); }
    // Every rule loaded, those -i/-e left out too (the ledger names them).
    const Frontend& frontend() const { return frontend_; }
    Diagnostics& diagnostics() { return frontend_.diagnostics(); }
    const std::string& kernel_release() const { return release_; }
    // The selected rules and monitors, in file order (the rule table's order).
    const std::vector<const RuleDecl*>& rules() const { return rules_; }
    bool has_probe_rules() const;
    // Null when no probe rule needed it, or it could not be read.
    const Btf* btf() const { return btf_.get(); }
    // Why the kernel's BTF could not be read ("" when it was, or was not needed).
    const std::string& btf_error() const { return btf_error_; }
    const std::string& btf_path() const { return btf_path_; }
    // Notes about the kernel's BTF (module BTF that could not be used).
    const std::vector<std::string>& notes() const { return notes_; }
    const std::vector<TypedRule>& typed() const { return typed_; }
    CompiledRuleSet& plan() { return plan_; }

private:
    bool load();
    bool choose_btf();
    bool type_check();
    bool lower_rules();

    PipelineOptions options_;
    Frontend frontend_;
    std::string release_;
    int done_ = -1;  // the last pass run
    std::vector<const RuleDecl*> rules_;
    std::unique_ptr<Btf> btf_;
    std::string btf_error_, btf_path_;
    std::vector<std::string> notes_;
    std::vector<TypedRule> typed_;
    CompiledRuleSet plan_;
};

}  // namespace rtd
