// rtrace-drop: a thin command line over the compiler and runtime libraries.
// Exit codes: 0 ok, 1 runtime failure, 2 bad input (rule, config, CLI).
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <fnmatch.h>
#include <functional>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <cstring>
#include <iostream>
#include <memory>
#include <algorithm>
#include <optional>
#include <tuple>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/config.h"
#include "cli/packs.h"
#include "compiler/ast_dump.h"
#include "compiler/import_legacy.h"
#include "cli/toml_source.h"
#include "compiler/btf.h"
#include "compiler/parser.h"
#include "compiler/codegen.h"
#include "compiler/frontend.h"
#include "compiler/typecheck.h"
#include "runtime/bpf_compiler.h"
#include "runtime/bpf_loader.h"
#include "runtime/embedded_headers.h"
#include "runtime/prebuilt.h"
#include "runtime/session.h"

namespace fs = std::filesystem;

namespace {

using rtd::Diagnostics;
using rtd::Settings;
using rtd::SourceManager;
using rtd::config_text;
using rtd::load_config;

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

// The shipped packs: next to an installed binary, else the source tree's.
std::string shipped_rules_dir()
{
    std::error_code ec;
    fs::path installed = executable_dir() / "../share/rtrace-drop/rules";
    if (fs::is_directory(installed, ec)) return installed.lexically_normal().string();
    return RTD_SOURCE_DIR "/rules";
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
    if (built.unavailable) {
        std::cerr << "rtrace-drop: error: " << built.diagnostics << '\n';
        return kExitFailure;
    }
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

    std::vector<std::string> names = set.program_names();
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
    std::vector<std::string> paths;
    std::vector<rtd::PackInfo> packs;
    bool ok = rtd::resolve_packs(opt.paths, shipped_rules_dir(), "", paths, packs, frontend.sources(), frontend.diagnostics());
    ok = ok && frontend.load(paths);
    rtd::Diagnostics& diags = frontend.diagnostics();
    std::unique_ptr<rtd::Btf> btf;
    std::vector<rtd::TypedRule> typed;
    if (ok) {
        if (opt.btf.empty() && fs::exists(kKernelBtf)) {
            // The running kernel: vmlinux plus the module a probed function lives in.
            std::string error, note;
            btf = rtd::kernel_btf_for(frontend.rules(), error, note);
            if (!btf) diags.error_in(kKernelBtf, "cannot read BTF: " + error);
            if (!note.empty()) diags.warning({}, note);
        } else {
            btf = load_btf(opt.btf, diags);
        }
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


struct ListOptions {
    std::vector<std::string> targets;  // folders/files/pack names and/or id globs
    std::vector<std::string> include, exclude;  // -l PATTERN, -i, -e
    bool markdown = false;
    bool methods = true;  // the attach method each rule would use here (needs BTF)
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

Selection select_rules(rtd::Frontend& frontend, const std::vector<std::string>& targets, bool& ok,
                       const std::vector<std::string>& include = {}, const std::vector<std::string>& exclude = {})
{
    Selection sel;
    std::vector<std::string> patterns = include, names;
    for (const std::string& t : targets) {
        std::error_code ec;
        bool glob = t.find_first_of("*?[") != std::string::npos;
        bool pack = !glob && t.find('.') == std::string::npos && !fs::exists(t, ec);
        (fs::exists(t, ec) || pack ? names : patterns).push_back(t);
    }
    if (names.empty()) names.push_back(shipped_rules_dir());
    std::vector<rtd::PackInfo> packs;
    struct utsname u {};
    ok = rtd::resolve_packs(names, shipped_rules_dir(), uname(&u) == 0 ? u.release : "", sel.paths, packs, frontend.sources(),
                            frontend.diagnostics());
    ok = ok && frontend.load(sel.paths);
    for (const rtd::RuleDecl* r : frontend.rules())
        if (rtd::rule_selected(r->id, patterns, exclude)) sel.rules.push_back(r);
    if (ok && sel.rules.empty())
    {
        std::string list;
        for (const std::string& p : patterns) list += (list.empty() ? "" : ", ") + p;
        frontend.diagnostics().error_in("rtrace-drop", patterns.empty() && exclude.empty() ? "no rules found"
                                                       : exclude.empty()                  ? "no rule matches " + list
                                                                                          : "no rule is selected by the patterns given");
    }
    return sel;
}

// `list`: rules by layer and pack. --markdown writes the catalogue
// (docs/rules.md): no host-specific column, paths relative to the folder.
int run_list(const ListOptions& opt, bool color)
{
    rtd::Frontend frontend(search_paths());
    bool ok = false;
    Selection sel = select_rules(frontend, opt.targets, ok, opt.include, opt.exclude);
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
    // How each would run here; without BTF (or not allowed to probe) the column is left out.
    std::vector<std::string> how;
    if (opt.methods) {
        std::string why;
        how = rtd::describe_methods(rules, frontend.sources(), why);
        if (how.empty() && !why.empty()) std::cerr << "rtrace-drop: note: attach methods not shown: " << why << '\n';
    }
    std::string module;
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const rtd::RuleDecl* r = rules[i];
        if (r->layer.value_or(0) != layer) {
            layer = r->layer.value_or(0);
            module.clear();
            std::cout << layer_title(layer) << '\n';
        }
        if (std::string m = r->id.substr(0, r->id.find('.')); m != module) {
            module = m;
            std::cout << "  " << module << '\n';
        }
        std::string line = fmt::format("    {:<34} {:<44}", r->id, probe_list(*r));
        if (!how.empty()) line += "  " + how[i];  // two spaces: a column even after a long probe list
        if (!r->instead_of.empty()) line += "  (instead of " + r->instead_of.front().first + ")";
        while (!line.empty() && line.back() == ' ') line.pop_back();
        std::cout << line << '\n';
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

// Flags of `run`, also taken by plain `rtrace-drop` (the original tool's
// command line). They override the config file, which overrides the
// defaults; `given` tells a typed flag from its default.
struct RunFlags {
    std::vector<std::string> packs, include, exclude, host, list;
    std::vector<std::uint32_t> port;
    std::string duration, interval, ready_file, netns, where, proto, dev, config, gen, btf;
    std::uint64_t count = 0;
    std::size_t top = 20;
    std::uint32_t ring_size = 1u << 22;
    std::uint32_t rate_limit = 0;
    bool json = false, summary = false, hints = false, no_stack = false, strict = false, no_cache = false, all = false,
         once = false, show_config = false, no_trampolines = false;
};

void add_run_flags(CLI::App* app, RunFlags& f)
{
    app->add_option("-i,--include", f.include, "Run only rules whose id matches one of these globs (e.g. 'tcp.*')")->type_name("GLOB")->expected(1, -1);
    app->add_option("-e,--exclude", f.exclude, "Leave out rules whose id matches one of these globs; exclude wins over include")
        ->type_name("GLOB")
        ->expected(1, -1);
    app->add_option("--config", f.config, "Read settings from this TOML file (write one with --gen); flags override it")->type_name("FILE");
    app->add_flag("--show-config", f.show_config, "Print the settings that would be used (defaults < --config < flags) as TOML and exit");
    app->add_flag("--json", f.json, "One JSON object per event on stdout");
    app->add_flag("--summary", f.summary, "Print a rule x flow table instead of each event");
    app->add_flag("--hints", f.hints, "Print each event's hint");
    app->add_flag("--no-stack", f.no_stack, "Do not print the kernel stacks rules record");
    app->add_option("--duration", f.duration, "Stop after this long (10s, 500ms, 5m)")->type_name("TIME");
    app->add_option("--count", f.count, "Stop after this many events")->type_name("N");
    app->add_option("--interval", f.interval,
                    "Poll monitors this often (default 1s); when given, also print the counters (and the summary) this often")
        ->type_name("TIME");
    app->add_option("--where", f.where,
                    "Report only drops this filter accepts, decided in the kernel (filtered drops are still counted), e.g. "
                    "'dport == 443 && saddr in 10.0.0.0/8'; builtins saddr daddr sport dport proto dev netns comm pid")
        ->type_name("EXPR");
    app->add_option("--host", f.host, "Only packets from or to this address or CIDR (repeatable)")->type_name("ADDR");
    app->add_option("--port", f.port, "Only packets from or to this port (repeatable)")->type_name("PORT")->check(CLI::Range(0, 65535));
    app->add_option("--proto", f.proto, "Only this protocol: tcp, udp, icmp, icmpv6, sctp or a number")->type_name("PROTO");
    app->add_option("--dev", f.dev, "Only packets on this device")->type_name("NAME");
    app->add_option("--netns", f.netns,
                    "Only this network namespace, and monitors read it: a name from 'ip netns list' or a path such as "
                    "/proc/PID/ns/net")
        ->type_name("NAME|PATH");
    app->add_option("--rate-limit", f.rate_limit, "At most N events per rule per second, enforced in the kernel (counts stay exact)")
        ->type_name("N");
    app->add_flag("--once", f.once,
                  "Read the monitors once and report what their counters say since boot, with explanations, then exit "
                  "(no BPF; probe rules are not run)");
    app->add_option("--top", f.top, "Flows shown in the summary (default 20)")->type_name("N");
    app->add_option("--ready-file", f.ready_file, "Create this file once every probe is attached")->type_name("PATH");
    app->add_option("--ring-size", f.ring_size, "Ring buffer bytes, a power of two (default 4 MiB)")->type_name("BYTES");
    app->add_flag("--strict", f.strict, "Any probe that cannot be used on this kernel is an error");
    app->add_flag("--all", f.all,
                  "Report everything: noise ('noise if'), reasons a fallback rule leaves to other rules, and rules "
                  "declared 'instead of' others");
    app->add_flag("--no-cache", f.no_cache, "Do not use or fill the compiled-object cache");
    app->add_option("--btf", f.btf,
                    "Check rules and relocate programs against this BTF (a vmlinux or a raw .btf file) when the kernel has "
                    "no /sys/kernel/btf/vmlinux")
        ->type_name("FILE");
    app->add_flag("--no-trampolines", f.no_trampolines,
                  "Attach function probes as kprobe/kretprobe even where the kernel offers fentry/fexit (kretprobe rules "
                  "then stash their arguments at entry)");
}

const char* kRunFooter =
    "PACK is a pack name (looked up in ./rules, $RTRACE_DROP_PATH, then the installed packs), a folder, a .rule\n"
    "file or an object built by 'rtrace-drop build' (.rdo, runs without a compiler). Without one, the config's\n"
    "packs, else every shipped pack.\n"
    "Probe rules report drops as they happen; monitor rules report counters, link statistics and settings\n"
    "on each poll, in the same output. Counts are exact even when events are lost, filtered or rate-limited;\n"
    "the summary at the end says how many were.\n"
    "Exit status: 0 ok, 1 nothing could attach or the kernel refused, 2 bad rules, config or options.";

struct BuildOptions {
    std::vector<std::string> packs, include, exclude;
    std::string output, btf, where;
};

int run_build(const BuildOptions& opt, bool color)
{
    rtd::BuildRequest req;
    {
        SourceManager sources;
        Diagnostics diags;
        std::vector<rtd::PackInfo> packs;
        bool ok = rtd::resolve_packs(opt.packs, shipped_rules_dir(), "", req.paths, packs, sources, diags);
        diags.render(std::cerr, sources, color);
        if (!ok) return kExitBadInput;
    }
    req.search = search_paths();
    req.include = opt.include;
    req.exclude = opt.exclude;
    req.btf = opt.btf;
    req.where = opt.where;
    req.output = opt.output;
    req.cache_dir = rtd::BpfCompiler::default_cache_dir();
    req.color_diagnostics = color;
    return rtd::build_prebuilt(req);
}

struct ImportOptions {
    std::string input, output, btf;
};

int run_import(const ImportOptions& opt, bool color)
{
    std::string text, why;
    if (!rtd::read_input_file(opt.input, rtd::kMaxSourceBytes, "files to import", text, why)) {
        std::cerr << fmt::format("rtrace-drop: error: cannot read {}: {}\n", opt.input, why);
        return kExitBadInput;
    }
    SourceManager sources;
    Diagnostics diags;
    std::unique_ptr<rtd::Btf> btf = load_btf(opt.btf, diags);
    std::optional<rtd::ImportResult> result = rtd::import_legacy_config(text, opt.input, btf.get(), diags, sources);
    diags.render(std::cerr, sources, color);
    if (!result || diags.has_errors()) return kExitBadInput;
    for (const std::string& note : result->notes) std::cerr << "rtrace-drop: note: " << note << '\n';
    if (opt.output.empty()) {
        std::cout << result->rule_text;
        return kExitOk;
    }
    std::ofstream out(opt.output, std::ios::binary | std::ios::trunc);
    out << result->rule_text;
    if (!out.flush()) {
        std::cerr << fmt::format("rtrace-drop: error: cannot write {}\n", opt.output);
        return kExitFailure;
    }
    std::cerr << fmt::format("rtrace-drop: wrote {}; check it with 'rtrace-drop check {}'\n", opt.output, opt.output);
    return kExitOk;
}

// Defaults, then --config, then the flags that were typed.
std::optional<Settings> effective_settings(const RunFlags& f, const std::function<bool(const char*)>& given, Color color, bool color_given,
                                           bool use_color)
{
    Settings s;
    if (!f.config.empty()) {
        SourceManager sources;
        Diagnostics diags;
        if (!load_config(f.config, s, sources, diags)) {
            diags.render(std::cerr, sources, use_color);
            std::cerr << plural(diags.error_count(), "error") << " in " << f.config << '\n';
            return std::nullopt;
        }
    }
    if (given("packs")) s.packs = f.packs;
    if (given("--include")) s.include = f.include;
    if (given("--exclude")) s.exclude = f.exclude;
    if (f.json && f.summary) {
        std::cerr << "rtrace-drop: error: --json and --summary exclude each other\n";
        return std::nullopt;
    }
    if (f.json) s.format = "json";
    if (f.summary) s.format = "summary";
    if (f.hints) s.hints = true;
    if (f.no_stack) s.stack = false;
    if (color_given) s.color = color == Color::Always ? "always" : color == Color::Never ? "never" : "auto";
    if (given("--interval")) s.interval = f.interval;
    if (given("--duration")) s.duration = f.duration;
    if (given("--where")) s.where = f.where;
    if (given("--host")) s.host = f.host;
    if (given("--port")) s.port = f.port;
    if (given("--proto")) s.proto = f.proto;
    if (given("--dev")) s.dev = f.dev;
    if (given("--netns")) s.netns = f.netns;
    if (given("--rate-limit")) s.rate_limit = f.rate_limit;
    return s;
}

// The namespace --netns names, as the inode the kernel reports (0 if it
// cannot be read: entering it then reports why).
std::uint64_t netns_inode(const std::string& spec)
{
    std::string path = spec.find('/') == std::string::npos ? "/run/netns/" + spec : spec;
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

int run_run(const RunFlags& f, const Settings& s)
{
    rtd::RunOptions opt;
    std::vector<std::string> names = s.packs;
    if (names.empty()) names.push_back(shipped_rules_dir());
    {
        rtd::SourceManager sources;
        rtd::Diagnostics diags;
        std::vector<rtd::PackInfo> packs;
        struct utsname u {};
        bool ok = rtd::resolve_packs(names, shipped_rules_dir(), uname(&u) == 0 ? u.release : "", opt.paths, packs, sources, diags);
        diags.render(std::cerr, sources, s.color == "always" || (s.color == "auto" && isatty(STDERR_FILENO)));
        if (!ok) return kExitBadInput;
    }
    opt.search = search_paths();
    opt.cache_dir = f.no_cache ? "" : rtd::BpfCompiler::default_cache_dir();
    opt.json = s.format == "json";
    opt.summary = s.format == "summary";
    opt.hints = s.hints;
    opt.stacks = s.stack;
    opt.strict = f.strict;
    opt.all = f.all;
    opt.no_trampolines = f.no_trampolines;
    opt.btf = f.btf;
    opt.color = s.color == "always" || (s.color == "auto" && isatty(STDOUT_FILENO) && !opt.json);
    opt.color_diagnostics = s.color == "always" || (s.color == "auto" && isatty(STDERR_FILENO));
    opt.count = f.count;
    opt.top = f.top;
    opt.ready_file = f.ready_file;
    opt.ring_bytes = f.ring_size;
    opt.once = f.once;
    opt.netns = s.netns;
    opt.include = s.include;
    opt.exclude = s.exclude;
    opt.params = s.params;
    opt.rate_limit = s.rate_limit;
    std::string problem;
    if (!rtd::combined_filter(s, opt.where, problem)) {
        std::cerr << "rtrace-drop: error: " << problem << '\n';
        return kExitBadInput;
    }
    if (!s.netns.empty()) {
        if (std::uint64_t ino = netns_inode(s.netns))
            opt.where = (opt.where.empty() ? "" : "(" + opt.where + ") && ") + fmt::format("netns == {}", ino);
    }
    // The default interval only polls monitors; a chosen one also prints the counters.
    const std::string interval = f.interval.empty() && s.interval == Settings{}.interval ? "" : s.interval;
    for (auto [text, target, name] : {std::tuple{&s.duration, &opt.duration_ms, "duration"},
                                      std::tuple{&interval, &opt.interval_ms, "interval"}}) {
        if (text->empty()) continue;
        auto ms = parse_duration_ms(*text);
        if (!ms || *ms == 0) {
            std::cerr << fmt::format("rtrace-drop: error: {} '{}' is not a duration such as 10s, 500ms, 5m\n", name, *text);
            return kExitBadInput;
        }
        *target = *ms;
    }
    long page = sysconf(_SC_PAGESIZE);
    if (f.ring_size < static_cast<std::uint32_t>(page) || (f.ring_size & (f.ring_size - 1)) != 0) {
        std::cerr << fmt::format("rtrace-drop: error: --ring-size must be a power of two of at least {} bytes\n", page);
        return kExitBadInput;
    }
    return rtd::run_session(opt);
}

}  // namespace

int main(int argc, char** argv)
{
    CLI::App app{"rtrace-drop: find out where and why Linux drops network packets.\n\n"
                 "Drop points are rules in .rule files (see docs/LANGUAGE.md); rule packs are folders of\n"
                 "them with a pack.toml. Without a command, rtrace-drop runs the rules, as 'run' does,\n"
                 "and takes the original rtrace-drop's flags: -l, -i, -e, --config, --gen.",
                 "rtrace-drop"};
    app.set_version_flag("-V,--version", "rtrace-drop " RTD_VERSION);
    app.require_subcommand(0, 1);
    app.fallthrough();

    Color color = Color::Auto;
    std::map<std::string, Color> color_names{{"auto", Color::Auto}, {"always", Color::Always}, {"never", Color::Never}};
    CLI::Option* color_opt = app.add_option("--color", color, "Colour: auto (when writing to a terminal), always, never")
                                 ->transform(CLI::CheckedTransformer(color_names, CLI::ignore_case))
                                 ->option_text("auto|always|never");

    RunFlags run;
    app.add_option("-l,--list", run.list, "List the rules (those matching PATTERN, a glob over ids) by layer, with the attach method each would use here, and exit")
        ->type_name("PATTERN")
        ->expected(0, -1);
    app.add_option("--gen", run.gen, "Write the default configuration, commented, to FILE and exit")->type_name("FILE");
    add_run_flags(&app, run);

    CheckOptions check;
    CLI::App* check_cmd = app.add_subcommand(
        "check", "Parse and resolve .rule files and pack folders; print 'N rules, M monitors OK' or the errors");
    check_cmd->add_option("paths", check.paths, ".rule files, folders of them or pack names")
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
    CLI::App* list_cmd = app.add_subcommand("list", "List rules by layer, with the attach method each would use here");
    list_cmd->add_option("targets", list.targets, "rule files or folders, and/or rule id globs")->type_name("PATH_OR_GLOB");
    list_cmd->add_flag("--markdown", list.markdown, "Write the catalogue as Markdown (docs/rules.md)");

    CLI::App* run_cmd = app.add_subcommand("run", "Attach rules and report drops as they happen (needs root)");
    run_cmd->add_option("packs", run.packs, "pack names, folders, .rule files or a built .rdo object")->type_name("PACK");
    add_run_flags(run_cmd, run);
    run_cmd->footer(kRunFooter);

    BuildOptions build;
    CLI::App* build_cmd = app.add_subcommand(
        "build", "Compile packs into one self-describing object (.rdo) that 'run' loads on another machine without a compiler");
    build_cmd->add_option("packs", build.packs, "pack names, folders or .rule files")->required()->type_name("PACK");
    build_cmd->add_option("-o,--output", build.output, "The object to write (e.g. tcp.rdo)")->required()->type_name("FILE");
    build_cmd->add_option("--btf", build.btf, "Type-check against this BTF instead of the running kernel's")->type_name("FILE");
    build_cmd->add_option("--where", build.where, "Compile this filter into the object (see run --where)")->type_name("EXPR");
    build_cmd->add_option("-i,--include", build.include, "Only rules whose id matches one of these globs")->type_name("GLOB")->expected(1, -1);
    build_cmd->add_option("-e,--exclude", build.exclude, "Leave out rules whose id matches one of these globs")->type_name("GLOB")->expected(1, -1);
    build_cmd->footer("The object holds the BPF programs in every attach form (relocated by CO-RE against the target\n"
                      "kernel's BTF when it is run), the rule table and event layouts, and the monitor rules.\n"
                      "Exit status: 0 written, 1 compile failure, 2 bad rules or options.");

    ImportOptions import;
    CLI::App* import_cmd = app.add_subcommand("import", "Turn the original rtrace-drop's TOML configuration into a .rule file");
    import_cmd->add_option("file", import.input, "the old configuration ([[function]] entries)")->required()->type_name("OLD.toml");
    import_cmd->add_option("-o,--output", import.output, "Write the rules here instead of standard output")->type_name("FILE");
    import_cmd->add_option("--btf", import.btf, "Name the packet argument and check functions against this BTF (default: the running kernel's)")
        ->type_name("FILE");

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
    if (list_cmd->parsed()) return run_list(list, use_color);
    if (build_cmd->parsed()) return run_build(build, use_color);
    if (import_cmd->parsed()) return run_import(import, use_color);

    // `run`, or no command at all (the original tool's command line).
    auto given = [&](const char* name) {
        return (std::string(name) == "packs" ? 0 : app.count(name)) + run_cmd->count(name) > 0;
    };
    if (!run.gen.empty()) {
        std::error_code ec;
        if (fs::exists(run.gen, ec)) {
            std::cerr << fmt::format("rtrace-drop: error: {} exists; remove it or choose another file\n", run.gen);
            return kExitBadInput;
        }
        std::ofstream out(run.gen);
        out << config_text(Settings{}, true);
        if (!out.flush()) {
            std::cerr << fmt::format("rtrace-drop: error: cannot write {}\n", run.gen);
            return kExitFailure;
        }
        std::cerr << fmt::format("rtrace-drop: wrote the default configuration to {}\n", run.gen);
        return kExitOk;
    }
    std::optional<Settings> settings = effective_settings(run, given, color, color_opt->count() > 0, use_color);
    if (!settings) return kExitBadInput;
    if (run.show_config) {
        std::cout << config_text(*settings, false);
        return kExitOk;
    }
    if (app.count("--list")) {
        std::erase(run.list, std::string());  // a bare -l
        list.targets = settings->packs;
        list.include = run.list.empty() ? settings->include : run.list;
        list.exclude = settings->exclude;
        list.methods = true;
        return run_list(list, use_color);
    }
    return run_run(run, *settings);
}
