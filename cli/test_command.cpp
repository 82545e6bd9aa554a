// `rtrace-drop test`: runs the packs' own test cases (PACK/tests/*.toml) on
// this kernel, each in throwaway network namespaces, and says which rules
// fire, which do not, and which this kernel cannot run.
#include <fnmatch.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/command.h"
#include "compiler/packs.h"
#include "packtest/namespaces.h"
#include "packtest/results.h"
#include "packtest/runner.h"
#include "runtime/bpf_compiler.h"
#include "runtime/signals.h"

namespace rtd::cli {

namespace {

namespace fs = std::filesystem;
using namespace rtd::packtest;

constexpr const char* kFooter =
    "PACK is a pack name, a pack's folder, or a folder of packs (rules/); without one, every shipped pack.\n"
    "Each case creates its own network namespaces (rtdt-PID-N-NAME), attaches only the rules it names,\n"
    "performs its steps, and holds the events of its namespaces against its expectations; the namespaces\n"
    "are removed whatever happens. Cases run one at a time. A rule this kernel cannot run (no kprobes, an\n"
    "older kernel) makes its case 'skipped', which fails only with --strict. 'exec' steps run shell\n"
    "commands as root and are refused unless --allow-exec is given. See docs/PACKS.md.\n"
    "Exit status: 0 every case passed (or was skipped), 1 a case failed or could not run, 2 bad case files\n"
    "or options.";

struct Pack {
    std::string name;
    fs::path dir;
};

class TestCommand final : public Command {
public:
    explicit TestCommand(CLI::App& app) : Command(app, "test", "Run the packs' test cases: make each rule's drop happen and check it is reported (needs root)")
    {
        app_->add_option("packs", packs_, "pack names, pack folders or folders of packs")->type_name("PACK");
        app_->add_option("-k", select_, "Only cases whose PACK/NAME, or a rule they attach, matches this glob (repeatable: any of them)")
            ->type_name("GLOB")
            ->take_all()
            ->expected(1)
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
        app_->add_flag("--strict", strict_, "A skipped case (a rule this kernel cannot run) is a failure");
        app_->add_flag("--allow-exec", allow_exec_, "Run 'exec' steps (shell commands, as root, inside the case's namespaces)");
        app_->add_option("--junit", junit_, "Also write the results as JUnit XML to FILE")->type_name("FILE");
        app_->add_flag("--json", json_, "Print the results as JSON instead of the table");
        app_->add_flag("--list", list_, "List the cases and exit");
        app_->add_flag("-v,--verbose", verbose_, "Print what each failed case's run said and reported");
        app_->footer(kFooter);
    }

    int run(Globals& g) override
    {
        SourceManager sources;
        Diagnostics diags;
        std::vector<Pack> packs = find_packs(sources, diags);
        std::vector<std::pair<TestCase, fs::path>> cases;
        for (const Pack& p : packs) {
            std::vector<TestCase> found;
            for (const fs::path& file : case_files(p.dir)) read_case_file(file, p.name, found, sources, diags);
            for (TestCase& tc : found)
                if (selected(tc)) cases.emplace_back(std::move(tc), p.dir);
        }
        if (diags.has_errors() || diags.warning_count()) g.status.diagnostics(diags, sources, use_color(g.color, STDERR_FILENO));
        if (diags.has_errors()) return kExitBadInput;
        if (cases.empty()) {
            g.status.error(RunError::bad_input(select_.empty() ? "the packs given have no test cases (PACK/tests/*.toml)" : fmt::format("no case matches -k {}", fmt::join(select_, " -k "))));
            return kExitBadInput;
        }
        if (list_) {
            for (const auto& [tc, dir] : cases) std::printf("%s\t%s\n", tc.id().c_str(), tc.file.c_str());
            return kExitOk;
        }
        if (::geteuid() != 0) {
            g.status.error(RunError::failure("rtrace-drop test creates network namespaces and loads BPF: run it as root"));
            return kExitFailure;
        }
        if (!junit_.empty()) {
            std::ofstream probe(junit_, std::ios::app);
            if (!probe) {
                g.status.error(RunError::bad_input(fmt::format("--junit: cannot write {}", junit_)));
                return kExitBadInput;
            }
        }
        StopSignals stop_signals;
        sweep_stale_namespaces();
        RunnerOptions options;
        options.allow_exec = allow_exec_;
        options.cache_dir = BpfCompiler::default_cache_dir();
        std::vector<CaseResult> results;
        for (const auto& [tc, dir] : cases) {
            if (stop_requested()) break;
            g.status.say(fmt::format("{} ...", tc.id()));
            results.push_back(run_case(tc, dir, options));
            const CaseResult& r = results.back();
            g.status.say(fmt::format("{}: {} ({:.1f} s){}", tc.id(), outcome_name(r.outcome), r.seconds, r.note.empty() ? "" : ": " + r.note));
            if (verbose_ && (r.outcome == Outcome::Fail || r.outcome == Outcome::Error)) g.status.write(r.log);
        }
        const std::string kernel = kernel_release();
        if (json_) std::fputs(results_json(results, kernel).c_str(), stdout);
        else std::fputs(results_table(results).c_str(), stdout);
        std::fflush(stdout);
        if (!junit_.empty()) {
            std::ofstream out(junit_, std::ios::trunc);
            out << results_junit(results, kernel);
            if (!out) g.status.error(RunError::failure(fmt::format("--junit: writing {} failed", junit_)));
        }
        Totals t = count(results);
        g.status.say(fmt::format("{} passed, {} failed, {} error(s), {} skipped{}", t.passed, t.failed, t.errors, t.skipped,
                                 stop_requested() ? fmt::format("; interrupted after {} of {} case(s)", results.size(), cases.size()) : ""));
        if (stop_requested() || t.failed || t.errors || (strict_ && t.skipped)) return kExitFailure;
        return kExitOk;
    }

private:
    static std::string kernel_release()
    {
        utsname u{};
        ::uname(&u);
        return u.release;
    }

    bool selected(const TestCase& tc) const
    {
        if (select_.empty()) return true;
        for (const std::string& glob : select_) {
            auto match = [&](const std::string& s) { return ::fnmatch(glob.c_str(), s.c_str(), 0) == 0; };
            if (match(tc.id())) return true;
            for (const Expectation& e : tc.expect)
                if (!e.rule.empty() && match(e.rule)) return true;
            for (const std::string& r : tc.rules)
                if (match(r)) return true;
        }
        return false;
    }

    // Names, pack folders and folders of packs, each pack once.
    std::vector<Pack> find_packs(SourceManager& sources, Diagnostics& diags) const
    {
        std::vector<std::string> args = packs_;
        if (args.empty()) args.push_back(shipped_rules_dir().string());
        std::vector<Pack> out;
        auto add = [&](const fs::path& dir) {
            PackInfo info;
            if (!read_pack_toml(dir, info, sources, diags)) return;
            for (const Pack& p : out)
                if (fs::equivalent(p.dir, dir)) return;
            out.push_back({info.name, dir});
        };
        std::error_code ec;
        for (const std::string& a : args) {
            fs::path p(a);
            if (fs::is_regular_file(p / "pack.toml", ec)) {
                add(p);
            } else if (fs::is_directory(p, ec)) {
                std::vector<fs::path> dirs;
                for (const fs::directory_entry& e : fs::directory_iterator(p, ec))
                    if (fs::is_regular_file(e.path() / "pack.toml", ec)) dirs.push_back(e.path());
                std::sort(dirs.begin(), dirs.end());
                if (dirs.empty()) diags.error_in(a, "neither a pack (no pack.toml) nor a folder of packs");
                for (const fs::path& d : dirs) add(d);
            } else if (valid_pack_name(a)) {
                bool found = false;
                for (const fs::path& d : pack_search_path(shipped_rules_dir()))
                    if (!found && fs::is_regular_file(d / a / "pack.toml", ec)) add(d / a), found = true;
                if (!found) diags.error_in(a, fmt::format("no pack named '{}'", a));
            } else {
                diags.error_in(a, "no such pack or folder");
            }
        }
        return out;
    }

    std::vector<std::string> packs_;
    std::vector<std::string> select_;
    std::string junit_;
    bool strict_ = false, allow_exec_ = false, json_ = false, list_ = false, verbose_ = false;
};

}  // namespace

std::unique_ptr<Command> test_command(CLI::App& app) { return std::make_unique<TestCommand>(app); }

}  // namespace rtd::cli
