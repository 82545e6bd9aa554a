// Plain `rtrace-drop [flags]`: the original tool's command line, kept so its
// users' habits and scripts work: -l/--list, -i, -e, --config, --gen, -V,
// -h, and every flag of `run`, which it runs when no command is given.
#include "cli/run_flags.h"

namespace rtd::cli {

namespace {

class OriginalCommandLine final : public RunFlagsCommand {
public:
    OriginalCommandLine(CLI::App& app, RunFlags& flags) : RunFlagsCommand(flags)
    {
        app.add_option("-l,--list", flags.list,
                       "List the rules (those matching PATTERN, a glob over ids) by layer, with the attach method each would use here, "
                       "and exit")
            ->type_name("PATTERN")
            ->expected(0, -1);
        app.add_option("--gen", flags.gen, "Write the default configuration, commented, to FILE and exit")->type_name("FILE");
        add_run_flags(&app, flags);
        flags.top_level = &app;
    }
};

}  // namespace

std::unique_ptr<Command> original_command_line(CLI::App& app, RunFlags& flags) { return std::make_unique<OriginalCommandLine>(app, flags); }

}  // namespace rtd::cli
