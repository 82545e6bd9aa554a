// `rtrace-drop explain`: what run would do with rules on a kernel: each
// rule's event layout, each probe's attach methods (narrowed to what the
// running kernel offers, as run narrows them; every form for --btf) and
// '??' choices, then the generated BPF C.
#include <iostream>

#include <fmt/format.h>

#include "cli/command.h"
#include "runtime/features.h"
#include "runtime/kernel_plan.h"

namespace rtd::cli {

namespace {

struct ExplainCommand final : Command {
    explicit ExplainCommand(CLI::App& app)
        : Command(app, "explain", "Print the BPF C generated for rules, with the attach methods and '??' choices for this kernel")
    {
        app_->add_flag("--manifest", manifest_, "Print the event layout manifest (JSON) instead of the C");
        add_kernel_options(app_, kernel_,
                           "Generate for this BTF instead of the running kernel's, in every attach form (the running kernel's "
                           "features are not asked)");
        app_->add_option("targets", targets_, "rule files or folders, and/or rule ids or globs (e.g. 'tcp.*')")->type_name("RULE_OR_FILE");
        app_->footer("Without a file, rule ids are looked up in the shipped packs.");
    }

    int run(Globals& g) override
    {
        Targets t = split_targets(targets_);
        PipelineOptions po;
        po.inputs = t.inputs;
        po.include = t.patterns;
        po.kernel = kernel_;
        Pipeline pipeline(std::move(po));
        if (!run_pipeline(pipeline, Pipeline::Pass::Lower, g)) return kExitBadInput;
        CompiledRuleSet set = pipeline.plan();
        // The running kernel: what it offers, as run plans it (which only
        // a process allowed to load BPF can find out).
        if (kernel_.running() && pipeline.btf()) {
            if (std::string missing = missing_bpf_capabilities(); missing.empty())
                plan_for_kernel(set, *pipeline.btf(), probe_kernel_features(*pipeline.btf()), {});
            else
                g.status.note("without " + missing + " what this kernel offers cannot be probed: every attach form is shown (run as root "
                              "to see what run would load)");
        }
        pipeline.emit(set, {});
        if (manifest_) {
            std::cout << set.manifest_json() << '\n';
            return kExitOk;
        }
        print(set, pipeline.btf());
        std::cout << "\n" << set.source;
        return kExitOk;
    }

private:
    static void print(const CompiledRuleSet& set, const Btf* btf)
    {
        for (const RuleEntry& r : set.rules) {
            std::cout << fmt::format("{} {} ({}:{}){}\n", r.is_monitor ? "monitor" : "rule", r.id, r.file, r.line,
                                     r.is_monitor ? ": evaluated in user space" : r.skipped ? ": skipped on this kernel" : "");
            if (r.is_monitor || r.skipped) continue;
            std::string fields;
            for (const EventField& f : r.event.fields)
                fields += fmt::format("{}{} {}@{}", fields.empty() ? "" : ", ", f.name, value_kind_name(f.kind), f.offset);
            std::cout << fmt::format("  event struct {} ({} bytes){}{}\n", r.event.struct_name, r.event.size, fields.empty() ? "" : ": ", fields);
        }
        for (const ProbePlan& p : set.probes) {
            std::cout << fmt::format("  {} probe {}", set.rules[p.rule].id, p.spelling);
            if (!p.available) {
                std::cout << fmt::format(": skipped ({})\n", p.skip_reason);
                continue;
            }
            const std::string module = btf && p.target.kind != ProbeKind::Tracepoint ? btf->module_of_function(p.target.function) : "";
            std::cout << fmt::format(" -> {}{}\n", p.symbol, module.empty() ? "" : " (module " + module + ")");
            for (const std::string& c : p.choices) std::cout << "    " << c << '\n';
            for (std::size_t i = 0; i < p.methods.size(); ++i) {
                std::string progs;
                for (const ProgramSpec& s : p.methods[i].programs)
                    progs += fmt::format("{}{} {}/{}", progs.empty() ? "" : " + ", s.name, attach_form_name(s.form), s.target);
                std::cout << fmt::format("    {} {}: {}\n", i == 0 ? "attach" : "else  ", attach_form_name(p.methods[i].form), progs);
            }
        }
    }

    std::vector<std::string> targets_;
    KernelTarget kernel_;
    bool manifest_ = false;
};

}  // namespace

std::unique_ptr<Command> explain_command(CLI::App& app) { return std::make_unique<ExplainCommand>(app); }

}  // namespace rtd::cli
