// rtrace-drop: a thin command line over the compiler and runtime libraries.
// Exit codes: 0 ok, 1 runtime failure, 2 bad input (rule, config, CLI).
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <fnmatch.h>
#include <filesystem>
#include <fstream>
#include <regex>
#include <iostream>
#include <memory>
#include <algorithm>
#include <optional>
#include <tuple>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "compiler/ast_dump.h"
#include "compiler/btf.h"
#include "compiler/codegen.h"
#include "compiler/frontend.h"
#include "compiler/typecheck.h"
#include "runtime/bpf_compiler.h"
#include "runtime/bpf_loader.h"
#include "runtime/embedded_headers.h"
#include "runtime/session.h"

namespace fs = std::filesystem;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
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
    bool load = false;
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

// Where a clang error on generated code points: the rule whose section of
// the generated file holds the line ("/* rule N: id */" markers).
std::string rule_at_generated_line(const std::string& source, const std::string& diagnostics)
{
    auto at = diagnostics.find("rules.bpf.c:");
    if (at == std::string::npos) return "unknown";
    unsigned line = std::strtoul(diagnostics.c_str() + at + 12, nullptr, 10);
    std::string rule = "the shared prelude";
    unsigned n = 1;
    for (std::size_t pos = 0; pos < source.size() && n <= line; ++n) {
        std::size_t nl = source.find('\n', pos);
        std::string_view text(source.data() + pos, (nl == std::string::npos ? source.size() : nl) - pos);
        if (text.rfind("/* rule ", 0) == 0) rule = std::string(text.substr(text.find(':') + 2, text.size() - text.find(':') - 5));
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }
    return rule;
}

// check --load: compile in process and load every program of every attach
// form into the running kernel's verifier (nothing is attached).
int load_programs(const rtd::CompiledRuleSet& set, const rtd::Btf& btf)
{
    rtd::BpfCompiler compiler(btf.raw(), rtd::embedded_templates(), rtd::BpfCompiler::default_cache_dir());
    rtd::CompileResult built = compiler.compile(set.source);
    if (!built.ok) {
        std::string saved = (fs::temp_directory_path() / fmt::format("rtrace-drop-{}.bpf.c", getpid())).string();
        std::ofstream(saved) << set.source;
        std::cerr << fmt::format("rtrace-drop: internal error: clang rejected the code generated for rule '{}' (saved as {})\n{}",
                                 rule_at_generated_line(set.source, built.diagnostics), saved, built.diagnostics);
        return kExitFailure;
    }
    std::vector<std::string> layout = rtd::check_event_layout(built.object, set);
    for (const std::string& problem : layout) std::cerr << "rtrace-drop: internal error: " << problem << '\n';
    if (!layout.empty()) return kExitFailure;

    std::vector<std::string> names;
    for (const rtd::ProbePlan& p : set.probes)
        for (const rtd::AttachMethod& m : p.methods)
            for (const rtd::ProgramSpec& s : m.programs) names.push_back(s.name);
    rtd::VerifyReport report = rtd::verify_programs(built.object, names);
    if (!report.open_error.empty()) {
        std::cerr << "rtrace-drop: error: " << report.open_error << '\n';
        return kExitFailure;
    }
    std::cout << fmt::format("compiled {} programs{}\n", names.size(), built.cached ? " (cached)" : "");
    bool all_usable = true;
    for (const rtd::ProbePlan& p : set.probes) {
        const std::string& rule = set.rules[p.rule].id;
        if (!p.available) {
            std::cout << fmt::format("{} {}: skipped ({})\n", rule, p.spelling, p.skip_reason);
            continue;
        }
        bool usable = false;
        for (const rtd::AttachMethod& m : p.methods) {
            std::string result = "loaded";
            for (const rtd::ProgramSpec& s : m.programs) {
                const rtd::ProgramLoad* r = report.find(s.name);
                if (r && !r->loaded) {
                    result = fmt::format("{}: {}", s.name, rtd::describe_load_error(r->error));
                    if (!r->log_tail.empty()) result += "\n      verifier: " + std::regex_replace(r->log_tail, std::regex("\n"), "\n      verifier: ");
                    break;
                }
            }
            usable = usable || result == "loaded";
            std::cout << fmt::format("{} {}: {} {}\n", rule, p.spelling, rtd::attach_form_name(m.form), result);
        }
        if (!usable) {
            all_usable = false;
            std::cerr << fmt::format("rtrace-drop: error: no attach form of rule '{}' probe '{}' loads into this kernel\n", rule, p.spelling);
        }
    }
    return all_usable ? kExitOk : kExitFailure;
}

int run_check(const CheckOptions& opt, bool color)
{
    if (opt.load && !opt.btf.empty()) {
        std::cerr << "rtrace-drop: error: --load uses the running kernel's BTF; it cannot be combined with --btf\n";
        return kExitBadInput;
    }
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
    if (opt.load) {
        if (!btf) {
            std::cerr << "rtrace-drop: error: --load needs the running kernel's BTF\n";
            return kExitFailure;
        }
        if (typed.empty()) return kExitOk;
        return load_programs(rtd::emit_c(frontend.rules(), typed, *btf, frontend.sources()), *btf);
    }
    return kExitOk;
}

// The shipped packs: next to an installed binary, else the source tree's.
std::string shipped_rules_dir()
{
    std::error_code ec;
    fs::path installed = executable_dir() / "../share/rtrace-drop/rules";
    if (fs::is_directory(installed, ec)) return installed.lexically_normal().string();
    return RTD_SOURCE_DIR "/rules";
}

struct ListOptions {
    std::vector<std::string> targets;  // folders/files and/or id globs
    bool markdown = false;
};

std::string template_text(const std::optional<rtd::TextTemplate>& t)
{
    std::string out;
    if (!t) return out;
    for (const auto& p : t->pieces) out += p.placeholder ? "{" + p.text + "}" : p.text;
    return out;
}

std::string probe_list(const rtd::RuleDecl& r)
{
    std::string out;
    if (r.source) return r.source->spelling();
    for (const rtd::Probe& p : r.probes) out += (out.empty() ? "" : ", ") + p.spelling();
    return out;
}

const char* layer_title(int layer)
{
    switch (layer) {
    case 1: return "l1 physical";
    case 2: return "l2 link";
    case 3: return "l3 network";
    case 4: return "l4 transport";
    }
    return "other";
}

// Arguments that name files or folders are loaded; the others select rules
// by id or glob among what is loaded (the shipped packs if no file is named).
struct Selection {
    std::vector<std::string> paths;
    std::vector<const rtd::RuleDecl*> rules;
};

Selection select_rules(rtd::Frontend& frontend, const std::vector<std::string>& targets, bool& ok)
{
    Selection sel;
    std::vector<std::string> patterns;
    for (const std::string& t : targets) {
        std::error_code ec;
        (fs::exists(t, ec) ? sel.paths : patterns).push_back(t);
    }
    if (sel.paths.empty()) sel.paths.push_back(shipped_rules_dir());
    ok = frontend.load(sel.paths);
    for (const rtd::RuleDecl* r : frontend.rules()) {
        bool match = patterns.empty();
        for (const std::string& p : patterns) match = match || fnmatch(p.c_str(), r->id.c_str(), 0) == 0;
        if (match) sel.rules.push_back(r);
    }
    if (ok && sel.rules.empty())
        frontend.diagnostics().error_in("rtrace-drop", patterns.empty() ? "no rules found" : "no rule matches " + patterns.front());
    return sel;
}

// `list`: rules by layer and pack. --markdown writes the catalogue
// (docs/rules.md): no host-specific column, paths relative to the folder.
int run_list(const ListOptions& opt, bool color)
{
    rtd::Frontend frontend(search_paths());
    bool ok = false;
    Selection sel = select_rules(frontend, opt.targets, ok);
    frontend.diagnostics().render(std::cerr, frontend.sources(), color);
    if (frontend.diagnostics().has_errors()) return kExitBadInput;
    const std::vector<std::string>& paths = sel.paths;
    std::vector<const rtd::RuleDecl*>& rules = sel.rules;
    std::stable_sort(rules.begin(), rules.end(), [](const rtd::RuleDecl* a, const rtd::RuleDecl* b) {
        return std::tuple(a->layer.value_or(9), a->id) < std::tuple(b->layer.value_or(9), b->id);
    });
    auto relative = [&](const rtd::RuleDecl& r) {
        std::string file = frontend.sources().file(r.range.file).path();
        if (paths.size() == 1 && fs::is_directory(paths[0]))
            return fs::path(file).lexically_proximate(fs::path(paths[0])).string();
        return file;
    };
    auto cell = [](std::string s) {
        std::string out;
        for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
        return out;
    };
    int layer = -1;
    if (opt.markdown) {
        std::cout << "# Rule catalogue\n\nThe shipped rule packs, by layer. Generated by `rtrace-drop list --markdown rules`; "
                     "a test keeps it current.\n";
        for (const rtd::RuleDecl* r : rules) {
            if (r->layer.value_or(0) != layer) {
                layer = r->layer.value_or(0);
                std::cout << fmt::format("\n## {}\n\n| rule | probes or source | reports | hint | file |\n| --- | --- | --- | --- | --- |\n",
                                         layer_title(layer));
            }
            std::string notes;
            if (!r->instead_of.empty()) {
                notes = " (instead of ";
                for (std::size_t i = 0; i < r->instead_of.size(); ++i) notes += (i ? ", " : "") + r->instead_of[i].first;
                notes += ")";
            }
            if (r->fallback) notes += " (fallback)";
            std::cout << fmt::format("| `{}`{} | {} | {} | {} | {} |\n", r->id, notes, cell(probe_list(*r)), cell(template_text(r->message)),
                                     cell(template_text(r->hint)), relative(*r));
        }
        return kExitOk;
    }
    for (const rtd::RuleDecl* r : rules) {
        if (r->layer.value_or(0) != layer) {
            layer = r->layer.value_or(0);
            std::cout << layer_title(layer) << '\n';
        }
        std::cout << fmt::format("  {:<32} {}{}\n", r->id, probe_list(*r), r->instead_of.empty() ? "" : "  (instead of " + r->instead_of.front().first + ")");
    }
    return kExitOk;
}

struct ExplainOptions {
    std::vector<std::string> targets;  // files, folders, or rule ids / globs
    std::string btf;
    bool manifest = false;
};

int run_explain(const ExplainOptions& opt, bool color)
{
    rtd::Frontend frontend(search_paths());
    bool ok = false;
    std::vector<const rtd::RuleDecl*> selected = select_rules(frontend, opt.targets, ok).rules;
    rtd::Diagnostics& diags = frontend.diagnostics();
    std::unique_ptr<rtd::Btf> btf;
    std::vector<rtd::TypedRule> typed;
    if (ok && !diags.has_errors()) {
        btf = load_btf(opt.btf, diags);
        if (!btf && !diags.has_errors()) diags.error_in(kKernelBtf, "explain needs BTF to generate code: give --btf FILE");
        if (btf) typed = rtd::type_check(selected, *btf, frontend.sources(), diags, {});
    }
    diags.render(std::cerr, frontend.sources(), color);
    if (diags.has_errors()) return kExitBadInput;

    rtd::CompiledRuleSet set = rtd::emit_c(selected, typed, *btf, frontend.sources());
    if (opt.manifest) {
        std::cout << set.manifest_json() << '\n';
        return kExitOk;
    }
    for (const rtd::RuleEntry& r : set.rules) {
        std::cout << fmt::format("{} {} ({}:{}){}\n", r.is_monitor ? "monitor" : "rule", r.id, r.file, r.line,
                                 r.is_monitor ? ": evaluated in user space" : r.skipped ? ": skipped on this kernel" : "");
        if (r.is_monitor || r.skipped) continue;
        std::string fields;
        for (const rtd::EventField& f : r.event.fields)
            fields += fmt::format("{}{} {}@{}", fields.empty() ? "" : ", ", f.name, rtd::value_kind_name(f.kind), f.offset);
        std::cout << fmt::format("  event struct {} ({} bytes){}{}\n", r.event.struct_name, r.event.size, fields.empty() ? "" : ": ", fields);
    }
    for (const rtd::ProbePlan& p : set.probes) {
        std::cout << fmt::format("  {} probe {}", set.rules[p.rule].id, p.spelling);
        if (!p.available) {
            std::cout << fmt::format(": skipped ({})\n", p.skip_reason);
            continue;
        }
        std::cout << fmt::format(" -> {}\n", p.symbol);
        for (const std::string& c : p.choices) std::cout << "    " << c << '\n';
        for (std::size_t i = 0; i < p.methods.size(); ++i) {
            std::string progs;
            for (const rtd::ProgramSpec& s : p.methods[i].programs)
                progs += fmt::format("{}{} {}/{}", progs.empty() ? "" : " + ", s.name, rtd::attach_form_name(s.form), s.target);
            std::cout << fmt::format("    {} {}: {}\n", i == 0 ? "attach" : "else  ", rtd::attach_form_name(p.methods[i].form), progs);
        }
    }
    std::cout << "\n" << set.source;
    return kExitOk;
}

// "10s", "1.5m", "500ms", "2h"; a bare number is seconds.
std::optional<std::uint64_t> parse_duration_ms(const std::string& text)
{
    std::size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (...) {
        return std::nullopt;
    }
    std::string unit = text.substr(used);
    double scale = unit.empty() || unit == "s" ? 1000 : unit == "ms" ? 1 : unit == "m" ? 60000 : unit == "h" ? 3600000 : -1;
    if (scale < 0 || value < 0) return std::nullopt;
    return static_cast<std::uint64_t>(value * scale);
}

struct RunCli {
    std::vector<std::string> paths;
    std::string duration, interval;
    std::uint64_t count = 0;
    std::size_t top = 20;
    std::string ready_file;
    std::string netns;
    std::uint32_t ring_size = 1u << 22;
    bool json = false, summary = false, hints = false, strict = false, no_cache = false, all = false, once = false;
};

int run_run(const RunCli& cli, Color color)
{
    rtd::RunOptions opt;
    opt.paths = cli.paths.empty() ? std::vector<std::string>{shipped_rules_dir()} : cli.paths;
    opt.search = search_paths();
    opt.cache_dir = cli.no_cache ? "" : rtd::BpfCompiler::default_cache_dir();
    opt.json = cli.json;
    opt.summary = cli.summary;
    opt.hints = cli.hints;
    opt.strict = cli.strict;
    opt.all = cli.all;
    opt.color = color == Color::Always || (color == Color::Auto && isatty(STDOUT_FILENO) && !cli.json);
    opt.color_diagnostics = color == Color::Always || (color == Color::Auto && isatty(STDERR_FILENO));
    opt.count = cli.count;
    opt.top = cli.top;
    opt.ready_file = cli.ready_file;
    opt.ring_bytes = cli.ring_size;
    opt.once = cli.once;
    opt.netns = cli.netns;
    for (auto [text, target, name] : {std::tuple{&cli.duration, &opt.duration_ms, "--duration"},
                                      std::tuple{&cli.interval, &opt.interval_ms, "--interval"}}) {
        if (text->empty()) continue;
        auto ms = parse_duration_ms(*text);
        if (!ms || *ms == 0) {
            std::cerr << fmt::format("rtrace-drop: error: {} '{}' is not a duration such as 10s, 500ms, 5m\n", name, *text);
            return kExitBadInput;
        }
        *target = *ms;
    }
    long page = sysconf(_SC_PAGESIZE);
    if (cli.ring_size < static_cast<std::uint32_t>(page) || (cli.ring_size & (cli.ring_size - 1)) != 0) {
        std::cerr << fmt::format("rtrace-drop: error: --ring-size must be a power of two of at least {} bytes\n", page);
        return kExitBadInput;
    }
    return rtd::run_session(opt);
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
    check_cmd->add_flag("--load", check.load,
                        "Also compile the rules and load every program into the running kernel's verifier, without "
                        "attaching; report which attach forms the kernel accepts (needs root)");
    check_cmd->footer("Rules are type-checked against " + std::string(kKernelBtf) +
                      " unless --btf is given.\nExit status: 0 when every file is valid, 2 on any error in the rules, 1 when --load finds "
                      "a probe no attach form of which loads.");

    ExplainOptions explain;
    CLI::App* explain_cmd = app.add_subcommand(
        "explain", "Print the BPF C generated for rules, with the attach methods and '??' choices for this kernel");
    explain_cmd->add_option("targets", explain.targets, "rule files or folders, and/or rule ids or globs (e.g. 'tcp.*')")
        ->type_name("RULE_OR_FILE");
    explain_cmd->add_option("--btf", explain.btf, "Generate for this BTF instead of the running kernel's")->type_name("FILE");
    explain_cmd->add_flag("--manifest", explain.manifest, "Print the event layout manifest (JSON) instead of the C");
    explain_cmd->footer("Without a file, rule ids are looked up in the shipped packs.");

    ListOptions list;
    CLI::App* list_cmd = app.add_subcommand("list", "List rules by layer (the shipped packs unless files are named)");
    list_cmd->add_option("targets", list.targets, "rule files or folders, and/or rule id globs")->type_name("PATH_OR_GLOB");
    list_cmd->add_flag("--markdown", list.markdown, "Write the catalogue as Markdown (docs/rules.md)");

    RunCli run;
    CLI::App* run_cmd = app.add_subcommand("run", "Attach rules and report drops as they happen (needs root)");
    run_cmd->add_option("paths", run.paths, ".rule files or pack folders (default: the shipped packs)")->type_name("PATH");
    run_cmd->add_flag("--json", run.json, "One JSON object per event on stdout");
    run_cmd->add_flag("--summary", run.summary, "Print a rule x flow table instead of each event");
    run_cmd->add_flag("--hints", run.hints, "Print each event's hint");
    run_cmd->add_option("--duration", run.duration, "Stop after this long (10s, 500ms, 5m)")->type_name("TIME");
    run_cmd->add_option("--count", run.count, "Stop after this many events")->type_name("N");
    run_cmd->add_option("--interval", run.interval,
                        "Poll monitors this often (default 1s); when given, also print the counters (and the summary) this often")
        ->type_name("TIME");
    run_cmd->add_flag("--once", run.once,
                      "Read the monitors once and report what their counters say since boot, with explanations, then exit "
                      "(no BPF; probe rules are not run)");
    run_cmd->add_option("--netns", run.netns,
                        "Monitors read this network namespace: a name from 'ip netns list' or a path such as /proc/PID/ns/net")
        ->type_name("NAME|PATH");
    run_cmd->add_option("--top", run.top, "Flows shown in the summary (default 20)")->type_name("N");
    run_cmd->add_option("--ready-file", run.ready_file, "Create this file once every probe is attached")->type_name("PATH");
    run_cmd->add_option("--ring-size", run.ring_size, "Ring buffer bytes, a power of two (default 4 MiB)")->type_name("BYTES");
    run_cmd->add_flag("--strict", run.strict, "Any probe that cannot be used on this kernel is an error");
    run_cmd->add_flag("--all", run.all,
                      "Report everything: noise ('noise if'), reasons a fallback rule leaves to other rules, and rules "
                      "declared 'instead of' others");
    run_cmd->add_flag("--no-cache", run.no_cache, "Do not use or fill the compiled-object cache");
    run_cmd->footer("Probe rules report drops as they happen; monitor rules report counters, link statistics and settings\n"
                    "on each poll, in the same output. Counts are exact even when events are lost; the summary at the\n"
                    "end says how many were.\n"
                    "Exit status: 0 ok, 1 nothing could attach or the kernel refused, 2 bad rules or options.");

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
    if (explain_cmd->parsed()) return run_explain(explain, use_color);
    if (run_cmd->parsed()) return run_run(run, color);
    if (list_cmd->parsed()) return run_list(list, use_color);
    return kExitBadInput;
}
