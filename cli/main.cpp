// rtrace-drop: a thin command line over the compiler and runtime libraries.
// Exit codes: 0 ok, 1 runtime failure, 2 bad input (rule, config, CLI).
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "compiler/ast_dump.h"
#include "compiler/btf.h"
#include "compiler/frontend.h"
#include "compiler/typecheck.h"

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

constexpr const char* kKernelBtf = "/sys/kernel/btf/vmlinux";

struct CheckOptions {
    std::vector<std::string> paths;
    std::string btf;  // empty: the running kernel's
    bool strict = false;
    bool dump_ast = false;
    bool dump_types = false;
};

// The BTF rules are checked against: --btf FILE, else the running kernel's.
// A missing kernel BTF is a warning (rules are still parsed and resolved);
// an unreadable --btf file is an error.
std::unique_ptr<rtd::Btf> load_btf(const std::string& requested, rtd::Diagnostics& diags)
{
    std::string error;
    if (!requested.empty()) {
        auto btf = rtd::Btf::load(requested, error);
        if (!btf) diags.error_in(requested, "cannot read BTF: " + error);
        return btf;
    }
    std::error_code ec;
    if (!fs::exists(kKernelBtf, ec)) {
        diags.warning({}, fmt::format("no kernel BTF at {}: rules were parsed but not type-checked", kKernelBtf))
            .hint("give the kernel's BTF with --btf FILE (a vmlinux or a raw .btf file)");
        return nullptr;
    }
    auto btf = rtd::Btf::load(kKernelBtf, error);
    if (!btf) diags.error_in(kKernelBtf, "cannot read BTF: " + error);
    return btf;
}

int run_check(const CheckOptions& opt, bool color)
{
    rtd::Frontend frontend(search_paths());
    bool ok = frontend.load(opt.paths);
    rtd::Diagnostics& diags = frontend.diagnostics();
    std::unique_ptr<rtd::Btf> btf;
    std::vector<rtd::TypedRule> typed;
    if (ok) {
        btf = load_btf(opt.btf, diags);
        rtd::TypeCheckOptions tc;
        tc.strict = opt.strict;
        if (opt.btf.empty()) {
            struct utsname u {};
            if (uname(&u) == 0) tc.kernel = u.release;
        }
        if (btf) typed = rtd::type_check(frontend.rules(), *btf, frontend.sources(), diags, tc);
        ok = !diags.has_errors();
    }
    diags.render(std::cerr, frontend.sources(), color);
    if (!ok) {
        std::cerr << plural(diags.error_count(), "error");
        if (diags.warning_count()) std::cerr << ", " << plural(diags.warning_count(), "warning");
        std::cerr << '\n';
        return kExitBadInput;
    }
    std::size_t rules = 0, monitors = 0, skipped = 0;
    for (const rtd::RuleDecl* r : frontend.rules()) {
        (r->is_monitor ? monitors : rules)++;
        if (opt.dump_ast) std::cout << rtd::dump_rule(*r, frontend.sources());
    }
    for (const rtd::TypedRule& t : typed) {
        skipped += t.skipped;
        if (opt.dump_types) std::cout << rtd::dump_typed_rule(t, *btf);
    }
    std::cout << plural(rules, "rule") << ", " << plural(monitors, "monitor") << " OK";
    if (skipped) std::cout << "; " << skipped << " skipped on this kernel";
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
    check_cmd->add_option("--btf", check.btf, "Type-check against this BTF (vmlinux ELF or raw BTF) instead of the running kernel's")
        ->type_name("FILE");
    check_cmd->add_flag("--strict", check.strict, "A function or tracepoint missing from the kernel is an error, not a warning");
    check_cmd->add_flag("--dump-ast", check.dump_ast, "Print each resolved rule as an S-expression");
    check_cmd->add_flag("--dump-types", check.dump_types, "Print each rule's typed expressions, probe by probe");
    check_cmd->footer("Rules are type-checked against " + std::string(kKernelBtf) +
                      " unless --btf is given.\nExit status: 0 when every file is valid, 2 on any error.");

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
