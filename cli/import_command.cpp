// `rtrace-drop import`: the original rtrace-drop's TOML configuration
// turned into a .rule file.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/command.h"
#include "compiler/import_legacy.h"
#include "compiler/parser.h"

namespace rtd::cli {

namespace {

struct ImportCommand final : Command {
    explicit ImportCommand(CLI::App& app)
        : Command(app, "import", "Turn the original rtrace-drop's TOML configuration into a .rule file")
    {
        app_->add_option("-o,--output", output_, "Write the rules here instead of standard output")->type_name("FILE");
        app_->add_option("--btf", btf_, "Name the packet argument and check functions against this BTF (default: the running kernel's)")
            ->type_name("FILE");
        app_->add_option("file", input_, "the old configuration ([[function]] entries)")->required()->type_name("OLD.toml");
    }

    int run(Globals& g) override
    {
        std::string text, why;
        if (!read_input_file(input_, kMaxSourceBytes, "files to import", text, why))
            return report(g.status, RunError::bad_input(fmt::format("cannot read {}: {}", input_, why)));
        SourceManager sources;
        Diagnostics diags;
        // Without a kernel BTF the functions are not checked (the importer says so).
        std::string btf_error;
        std::error_code ec;
        const bool running = btf_.empty();
        std::unique_ptr<Btf> btf = running && !std::filesystem::exists(kRunningKernelBtf, ec) ? nullptr
                                                                                              : Btf::load(running ? kRunningKernelBtf : btf_, btf_error);
        if (!btf && running && btf_error.empty())
            diags.warning({}, fmt::format("no kernel BTF at {}: functions are not checked against it", kRunningKernelBtf))
                .hint("give the kernel's BTF with --btf FILE (a vmlinux or a raw .btf file)");
        else if (!btf)
            diags.error_in(running ? kRunningKernelBtf : btf_, "cannot read BTF: " + btf_error);
        std::optional<ImportResult> result =
            diags.has_errors() ? std::nullopt : import_legacy_config(text, input_, btf.get(), diags, sources);
        g.status.diagnostics(diags, sources, use_color(g.color, STDERR_FILENO));
        if (!result || diags.has_errors()) return kExitBadInput;
        for (const std::string& note : result->notes) g.status.note(note);
        if (output_.empty()) {
            std::cout << result->rule_text;
            return kExitOk;
        }
        std::ofstream out(output_, std::ios::binary | std::ios::trunc);
        out << result->rule_text;
        if (!out.flush()) return report(g.status, RunError::failure(fmt::format("cannot write {}", output_)));
        g.status.say(fmt::format("wrote {}; check it with 'rtrace-drop check {}'", output_, output_));
        return kExitOk;
    }

private:
    std::string input_, output_, btf_;
};

}  // namespace

std::unique_ptr<Command> import_command(CLI::App& app) { return std::make_unique<ImportCommand>(app); }

}  // namespace rtd::cli
