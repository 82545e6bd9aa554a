// The command line: one file per command, each adding its subcommand (its
// flags and help) to the CLI11 app and running it by calling the libraries.
// Nothing here compiles, plans or loads: compiler/ and runtime/ do.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "compiler/pipeline.h"
#include "runtime/status.h"

namespace rtd::cli {

// Where the commands' status and errors go: stderr as text (StderrStatus),
// or as JSON lines (JsonLinesStatus) once use_json() was called
// (--log-format json).
class CommandLineStatus final : public StatusSink {
public:
    CommandLineStatus() = default;
    CommandLineStatus(const CommandLineStatus&) = delete;
    CommandLineStatus& operator=(const CommandLineStatus&) = delete;

    void use_json() { sink_ = &json_; }
    void write(std::string_view lines) override { sink_->write(lines); }
    void message(StatusLevel level, std::string_view text, const std::vector<std::string>& hints = {}) override
    {
        sink_->message(level, text, hints);
    }
    void diagnostics(const Diagnostics& diags, const SourceManager& sources, bool color) override
    {
        sink_->diagnostics(diags, sources, color);
    }

private:
    StderrStatus text_;
    JsonLinesStatus json_;
    StatusSink* sink_ = &text_;
};

// What every command shares: the --color choice ("auto", "always",
// "never"), --log-format ("text", "json") and where status and errors go.
struct Globals {
    std::string color = "auto";
    bool color_given = false;  // typed: it overrides the config's
    std::string log_format = "text";
    CommandLineStatus status;
};

// The colour decision, in one place: `setting` for output to `fd` (auto:
// when it is a terminal).
bool use_color(const std::string& setting, int fd);

class Command {
public:
    Command() = default;
    // A subcommand NAME of `app`, whose options the derived command adds.
    Command(CLI::App& app, const std::string& name, const std::string& description) : app_(app.add_subcommand(name, description)) {}
    virtual ~Command() = default;
    bool parsed() const { return app_ && app_->parsed(); }
    virtual int run(Globals& globals) = 0;

protected:
    CLI::App* app_ = nullptr;
};

std::unique_ptr<Command> check_command(CLI::App& app);
std::unique_ptr<Command> explain_command(CLI::App& app);
std::unique_ptr<Command> list_command(CLI::App& app);
std::unique_ptr<Command> build_command(CLI::App& app);
std::unique_ptr<Command> import_command(CLI::App& app);
std::unique_ptr<Command> test_command(CLI::App& app);
struct RunFlags;
// `run`, and plain `rtrace-drop [flags]`: the original tool's command line
// (-l, --gen, and run's flags), which runs when no subcommand is given. Both
// fill the same flags.
std::unique_ptr<Command> run_command(CLI::App& app, RunFlags& flags);
std::unique_ptr<Command> original_command_line(CLI::App& app, RunFlags& flags);

// `list`, and the original tool's -l.
struct ListRequest {
    std::vector<std::string> targets;           // files, folders, pack names and/or rule id globs
    std::vector<std::string> include, exclude;  // -i/-e (and -l PATTERN)
    bool markdown = false;
};
int list_rules(const ListRequest& request, Globals& globals);

// Runs the pipeline up to `last` and reports its notes and diagnostics
// (with the error count when there are errors). False on errors.
bool run_pipeline(Pipeline& pipeline, Pipeline::Pass last, Globals& globals);

// Arguments of list and explain: those naming files, folders or packs are
// loaded; the others are rule id globs (the shipped packs are loaded when
// no file is named).
struct Targets {
    std::vector<std::string> inputs;
    std::vector<std::string> patterns;
};
Targets split_targets(const std::vector<std::string>& args);

std::string plural(std::size_t n, const char* word);

// --btf FILE (described by `btf_help`) and --btf-modules DIR, into `kernel`.
void add_kernel_options(CLI::App* app, KernelTarget& kernel, const std::string& btf_help);

}  // namespace rtd::cli
