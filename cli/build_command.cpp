// `rtrace-drop build`: packs compiled into one prebuilt object (.rdo).
#include <unistd.h>

#include "cli/command.h"
#include "runtime/bpf_compiler.h"
#include "runtime/build.h"

namespace rtd::cli {

namespace {

struct BuildCommand final : Command {
    explicit BuildCommand(CLI::App& app)
        : Command(app, "build",
                  "Compile packs into one self-describing object (.rdo) that 'run' loads on another machine without a compiler")
    {
        app_->add_option("packs", request_.paths, "pack names, folders or .rule files")->required()->type_name("PACK");
        app_->add_option("-o,--output", request_.output, "The object to write (e.g. tcp.rdo)")->required()->type_name("FILE");
        add_kernel_options(app_, request_.kernel, "Type-check against this BTF instead of the running kernel's");
        app_->add_option("--where", request_.where, "Compile this filter into the object (see run --where)")->type_name("EXPR");
        app_->add_option("-i,--include", request_.include, "Only rules whose id matches one of these globs")->type_name("GLOB")->expected(1, -1);
        app_->add_option("-e,--exclude", request_.exclude, "Leave out rules whose id matches one of these globs")
            ->type_name("GLOB")
            ->expected(1, -1);
        app_->footer("The object holds the BPF programs in every attach form (relocated by CO-RE against the target\n"
                     "kernel's BTF when it is run), the rule table and event layouts, and the monitor rules.\n"
                     "Exit status: 0 written, 1 compile failure, 2 bad rules or options.");
    }

    int run(Globals& g) override
    {
        request_.cache_dir = BpfCompiler::default_cache_dir();
        request_.color_diagnostics = use_color(g.color, STDERR_FILENO);
        return build_prebuilt(request_, g.status);
    }

private:
    BuildRequest request_;
};

}  // namespace

std::unique_ptr<Command> build_command(CLI::App& app) { return std::make_unique<BuildCommand>(app); }

}  // namespace rtd::cli
