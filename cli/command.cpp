#include "cli/command.h"

#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

namespace rtd::cli {

bool use_color(const std::string& setting, int fd) { return setting == "always" || (setting == "auto" && isatty(fd)); }

bool run_pipeline(Pipeline& pipeline, Pipeline::Pass last, Globals& globals)
{
    const bool ok = pipeline.run(last);
    for (const std::string& note : pipeline.notes()) globals.status.note(note);
    globals.status.diagnostics(pipeline.diagnostics(), pipeline.sources(), use_color(globals.color, STDERR_FILENO));
    return ok;
}

Targets split_targets(const std::vector<std::string>& args)
{
    Targets t;
    for (const std::string& a : args) {
        std::error_code ec;
        const bool exists = std::filesystem::exists(a, ec);
        const bool glob = a.find_first_of("*?[") != std::string::npos;
        const bool pack = !glob && a.find('.') == std::string::npos;  // a pack name; rule ids have a dot
        (exists || pack ? t.inputs : t.patterns).push_back(a);
    }
    if (t.inputs.empty()) t.inputs.push_back(shipped_rules_dir().string());
    return t;
}

void add_kernel_options(CLI::App* app, KernelTarget& kernel, const std::string& btf_help)
{
    CLI::Option* btf = app->add_option("--btf", kernel.btf_file, btf_help)->type_name("FILE");
    app->add_option("--btf-modules", kernel.modules_dir,
                    "With --btf: the kernel's module tree (lib/modules/RELEASE of its package), for functions that live in modules; "
                    "by default found next to the --btf file")
        ->type_name("DIR")
        ->needs(btf);
}

std::string plural(std::size_t n, const char* word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

}  // namespace rtd::cli
