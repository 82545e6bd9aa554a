// `rtrace-drop run`: attach rules and report drops as they happen.
#include "cli/run_flags.h"

namespace rtd::cli {

namespace {

constexpr const char* kFooter =
    "PACK is a pack name (looked up in ./rules, $RTRACE_DROP_PATH, then the installed packs), a folder, a .rule\n"
    "file or an object built by 'rtrace-drop build' (.rdo, runs without a compiler). Without one, the config's\n"
    "packs, else every shipped pack.\n"
    "Probe rules report drops as they happen; monitor rules report counters, link statistics and settings\n"
    "on each poll, in the same output. Counts are exact even when events are lost, filtered or rate-limited;\n"
    "the summary at the end says how many were.\n"
    "Exit status: 0 ok, 1 nothing could attach or the kernel refused, 2 bad rules, config or options.";

class RunCommand final : public RunFlagsCommand {
public:
    RunCommand(CLI::App& app, RunFlags& flags) : RunFlagsCommand(flags, app, "run", "Attach rules and report drops as they happen (needs root)")
    {
        app_->add_option("packs", flags.packs, "pack names, folders, .rule files or a built .rdo object")->type_name("PACK");
        add_run_flags(app_, flags);
        app_->footer(kFooter);
        flags.run_command = app_;
    }
};

}  // namespace

std::unique_ptr<Command> run_command(CLI::App& app, RunFlags& flags) { return std::make_unique<RunCommand>(app, flags); }

}  // namespace rtd::cli
