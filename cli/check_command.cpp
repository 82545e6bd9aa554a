// `rtrace-drop check`: parse, resolve and type-check rules; --load also
// compiles them and loads every program into the running kernel's verifier.
#include <iostream>

#include <fmt/format.h>

#include "cli/command.h"
#include "compiler/ast_dump.h"
#include "runtime/check_load.h"

namespace rtd::cli {

namespace {

struct CheckCommand final : Command {
    explicit CheckCommand(CLI::App& app)
        : Command(app, "check", "Parse and resolve .rule files and pack folders; print 'N rules, M monitors OK' or the errors")
    {
        app_->add_option("paths", paths_, ".rule files, folders of them or pack names")->required()->type_name("PATH");
        add_kernel_options(app_, kernel_, "Type-check against this BTF (vmlinux ELF or raw BTF) instead of the running kernel's");
        app_->add_flag("--strict", strict_, "A function or tracepoint missing from the kernel is an error, not a warning");
        app_->add_flag("--dump-ast", dump_ast_, "Print each resolved rule as an S-expression");
        app_->add_flag("--dump-types", dump_types_, "Print each rule's typed expressions, probe by probe");
        app_->add_flag("--load", load_,
                       "Also compile the rules and load every program into the running kernel's verifier, without "
                       "attaching; report which attach forms the kernel accepts (needs root)");
        app_->footer(std::string("Rules are type-checked against ") + kRunningKernelBtf +
                     " (and the loaded modules' BTF) unless --btf is given.\nExit status: 0 when every file is valid, 2 on any error in "
                     "the rules, 1 when --load finds a probe no attach form of which loads.");
    }

    int run(Globals& g) override
    {
        if (load_ && !kernel_.running())
            return report(g.status, RunError::bad_input("--load uses the running kernel's BTF; it cannot be combined with --btf"));
        PipelineOptions po;
        po.inputs = paths_;
        po.kernel = kernel_;
        po.btf_need = BtfNeed::Optional;
        po.require_rules = false;  // a file of constants and macros checks too
        po.strict = strict_;
        Pipeline pipeline(std::move(po));
        if (!run_pipeline(pipeline, load_ ? Pipeline::Pass::Lower : Pipeline::Pass::TypeCheck, g)) {
            const Diagnostics& d = pipeline.diagnostics();
            g.status.line(plural(d.error_count(), "error") + (d.warning_count() ? ", " + plural(d.warning_count(), "warning") : ""));
            return kExitBadInput;
        }
        summarise(pipeline);
        if (!load_) return kExitOk;
        if (!pipeline.has_probe_rules()) return kExitOk;
        if (!pipeline.btf()) return report(g.status, RunError::failure("--load needs the running kernel's BTF"));
        CompiledRuleSet set = pipeline.plan();  // every attach form
        pipeline.emit(set, {});
        return check_programs_load(set, *pipeline.btf(), stdout, g.status);
    }

private:
    void summarise(Pipeline& pipeline) const
    {
        std::size_t rules = 0, monitors = 0, skipped = 0;
        for (const RuleDecl* r : pipeline.rules()) {
            (r->is_monitor ? monitors : rules)++;
            if (dump_ast_) std::cout << dump_rule(*r, pipeline.sources());
        }
        for (const TypedRule& t : pipeline.typed()) {
            skipped += t.skipped;
            if (dump_types_) std::cout << dump_typed_rule(t, *pipeline.btf());
        }
        std::cout << plural(rules, "rule") << ", " << plural(monitors, "monitor") << " OK";
        if (skipped) std::cout << "; " << skipped << " skipped on this kernel";
        if (std::size_t w = pipeline.diagnostics().warning_count()) std::cout << " (" << plural(w, "warning") << ")";
        std::cout << '\n';
    }

    std::vector<std::string> paths_;
    KernelTarget kernel_;
    bool strict_ = false, dump_ast_ = false, dump_types_ = false, load_ = false;
};

}  // namespace

std::unique_ptr<Command> check_command(CLI::App& app) { return std::make_unique<CheckCommand>(app); }

}  // namespace rtd::cli
