// rtrace-drop: a thin command line over the compiler and runtime libraries,
// one file per command (cli/command.h). Exit codes (runtime/status.h): 0 ok,
// 1 runtime failure, 2 bad input (rule, config, command line).
#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "cli/run_flags.h"

int main(int argc, char** argv)
{
    using namespace rtd::cli;
    CLI::App app{"rtrace-drop: find out where and why Linux drops network packets.\n\n"
                 "Drop points are rules in .rule files (see docs/LANGUAGE.md); rule packs are folders of\n"
                 "them with a pack.toml. Without a command, rtrace-drop runs the rules, as 'run' does,\n"
                 "and takes the original rtrace-drop's flags: -l, -i, -e, --config, --gen.",
                 "rtrace-drop"};
    app.set_version_flag("-V,--version", "rtrace-drop " RTD_VERSION);
    app.require_subcommand(0, 1);
    app.fallthrough();

    Globals globals;
    CLI::Option* color = app.add_option("--color", globals.color, "Colour: auto (when writing to a terminal), always, never")
                             ->transform(CLI::IsMember({"auto", "always", "never"}, CLI::ignore_case))
                             ->option_text("auto|always|never");
    app.add_option("--log-format", globals.log_format,
                   "What rtrace-drop says on stderr (status, warnings, errors): text, or json (one object per line: "
                   "ts, level, msg, hints); drops and findings on stdout are not affected")
        ->transform(CLI::IsMember({"text", "json"}, CLI::ignore_case))
        ->option_text("text|json");
    RunFlags run_flags;
    std::unique_ptr<Command> original = original_command_line(app, run_flags);
    std::unique_ptr<Command> commands[] = {check_command(app),           explain_command(app), list_command(app),
                                           run_command(app, run_flags), build_command(app),   import_command(app),
                                           test_command(app)};
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return rtd::kExitBadInput;
    }
    globals.color_given = color->count() > 0;
    if (globals.log_format == "json") globals.status.use_json();
    for (const std::unique_ptr<Command>& c : commands)
        if (c->parsed()) return c->run(globals);
    return original->run(globals);
}
