// rtrace-drop: a thin command line over the compiler and runtime libraries.
// Exit codes: 0 ok, 1 runtime failure, 2 bad input (rule, config, CLI).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "compiler/ast_dump.h"
#include "compiler/frontend.h"

namespace fs = std::filesystem;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;

enum class Color { Auto, Always, Never };

fs::path executable_dir()
{
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : exe.parent_path();
}

// stdlib/: $RTRACE_DROP_STDLIB, else next to an installed binary, else the
// source tree this binary was built from. $RTRACE_DROP_PATH adds folders.
rtd::SearchPaths search_paths()
{
    rtd::SearchPaths paths;
    std::error_code ec;
    if (const char* env = std::getenv("RTRACE_DROP_STDLIB"); env && *env) {
        paths.stdlib.emplace_back(env);
    } else if (fs::path installed = executable_dir() / "../share/rtrace-drop/stdlib"; fs::is_directory(installed, ec)) {
        paths.stdlib.push_back(installed.lexically_normal());
    } else {
        paths.stdlib.emplace_back(RTD_SOURCE_DIR "/stdlib");
    }
    if (const char* env = std::getenv("RTRACE_DROP_PATH"); env && *env) {
        std::string s = env;
        for (std::size_t b = 0; b <= s.size();) {
            std::size_t e = s.find(':', b);
            if (e == std::string::npos) e = s.size();
            if (e > b) paths.extra.emplace_back(s.substr(b, e - b));
            b = e + 1;
        }
    }
    return paths;
}

std::string plural(std::size_t n, const char* word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

struct CheckOptions {
    std::vector<std::string> paths;
    bool dump_ast = false;
};

int run_check(const CheckOptions& opt, bool color)
{
    rtd::Frontend frontend(search_paths());
    bool ok = frontend.load(opt.paths);
    const rtd::Diagnostics& diags = frontend.diagnostics();
    diags.render(std::cerr, frontend.sources(), color);
    if (!ok) {
        std::cerr << plural(diags.error_count(), "error");
        if (diags.warning_count()) std::cerr << ", " << plural(diags.warning_count(), "warning");
        std::cerr << '\n';
        return kExitBadInput;
    }
    std::size_t rules = 0, monitors = 0;
    for (const rtd::RuleDecl* r : frontend.rules()) {
        (r->is_monitor ? monitors : rules)++;
        if (opt.dump_ast) std::cout << rtd::dump_rule(*r, frontend.sources());
    }
    std::cout << plural(rules, "rule") << ", " << plural(monitors, "monitor") << " OK";
    if (diags.warning_count()) std::cout << " (" << plural(diags.warning_count(), "warning") << ")";
    std::cout << '\n';
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv)
{
    CLI::App app{"rtrace-drop: find out where and why Linux drops network packets.\n\n"
                 "Drop points are rules in .rule files (see docs/LANGUAGE.md); rule packs are\n"
                 "folders of them. Commands that are not listed here are not built yet.",
                 "rtrace-drop"};
    app.set_version_flag("-V,--version", "rtrace-drop " RTD_VERSION);
    app.require_subcommand(1);
    app.fallthrough();

    Color color = Color::Auto;
    std::map<std::string, Color> color_names{{"auto", Color::Auto}, {"always", Color::Always}, {"never", Color::Never}};
    app.add_option("--color", color, "Colour diagnostics: auto (when stderr is a terminal), always, never")
        ->transform(CLI::CheckedTransformer(color_names, CLI::ignore_case));

    CheckOptions check;
    CLI::App* check_cmd = app.add_subcommand(
        "check", "Parse and resolve .rule files and pack folders; print 'N rules, M monitors OK' or the errors");
    check_cmd->add_option("paths", check.paths, ".rule files or folders of them (searched recursively)")
        ->required()
        ->type_name("PATH");
    check_cmd->add_flag("--dump-ast", check.dump_ast, "Print each resolved rule as an S-expression");
    check_cmd->footer("Exit status: 0 when every file is valid, 2 on any error.");

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
        return kExitBadInput;
    }

    bool use_color = color == Color::Always || (color == Color::Auto && isatty(STDERR_FILENO));
    if (check_cmd->parsed()) return run_check(check, use_color);
    return kExitBadInput;
}
