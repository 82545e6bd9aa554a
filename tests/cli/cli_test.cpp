// The rtrace-drop binary as a user runs it: exit codes, output, environment.
#include <gtest/gtest.h>

#include "tests/kernel_support.h"
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Result {
    int status = -1;
    std::string out;
    std::string err;
};

std::string slurp(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Runs the binary with `args`, extra environment entries, optionally as an
// unprivileged user.
Result run(const std::vector<std::string>& args, const std::vector<std::string>& env = {}, bool as_nobody = false)
{
    fs::path dir = fs::temp_directory_path() / ("rtd-cli-" + std::to_string(getpid()));
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::all);
    std::string out = (dir / "out").string(), err = (dir / "err").string();
    pid_t pid = fork();
    if (pid == 0) {
        FILE* o = std::freopen(out.c_str(), "w", stdout);
        FILE* e = std::freopen(err.c_str(), "w", stderr);
        if (!o || !e) _exit(126);
        if (chdir(RTD_TEST_DATA) != 0) _exit(126);
        for (const std::string& kv : env) putenv(const_cast<char*>(kv.c_str()));
        if (as_nobody && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(125);
        std::vector<char*> argv{const_cast<char*>(RTD_BINARY)};
        for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(RTD_BINARY, argv.data());
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    Result r;
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(out);
    r.err = slurp(err);
    fs::remove_all(dir);
    return r;
}

TEST(Cli, Version)
{
    Result r = run({"-V"});
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "rtrace-drop " RTD_VERSION "\n");
}

TEST(Cli, HelpExplainsCommands)
{
    Result r = run({"--help"});
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("check"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--version"), std::string::npos);
    Result sub = run({"check", "--help"});
    EXPECT_EQ(sub.status, 0);
    EXPECT_NE(sub.out.find("--dump-ast"), std::string::npos) << sub.out;
    EXPECT_NE(sub.out.find("Exit status"), std::string::npos);
}

TEST(Cli, BadCommandLineExitsTwo)
{
    EXPECT_EQ(run({"--no-such-flag"}).status, 2);
    EXPECT_EQ(run({"frobnicate"}).status, 2);
    EXPECT_EQ(run({"check"}).status, 2);
    EXPECT_EQ(run({"check", "--no-such-flag", "x.rule"}).status, 2);
    EXPECT_EQ(run({"--color", "purple", "check", "x.rule"}).status, 2);
}

TEST(Cli, CheckAcceptsValidRules)
{
    Result r = run({"check", "success/design_examples.rule"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "3 rules, 3 monitors OK\n");
    EXPECT_EQ(r.err, "");
}

TEST(Cli, CheckRejectsBadRulesWithLocations)
{
    Result r = run({"check", "failure/unknown_clause.rule"});
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("failure/unknown_clause.rule:5:5-11: error: unknown clause 'captrue'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("1 error\n"), std::string::npos);
}

// 'counted as' names are held to the running kernel's /proc/net counters.
TEST(Cli, CheckHoldsCountersToThisMachine)
{
    if (access("/proc/net/snmp", R_OK) != 0) GTEST_SKIP() << "no /proc/net/snmp here";
    Result r = run({"check", "cli/counted_typo.rule"});
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("cli/counted_typo.rule:6:21-35: error: this machine has no SNMP counter 'UdpRcvbufErorrs'"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("hint: did you mean 'UdpRcvbufErrors'?"), std::string::npos) << r.err;
}

TEST(Cli, CheckMissingFile)
{
    Result r = run({"check", "no/such.rule"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("no/such.rule: error: cannot load file: no such file"), std::string::npos) << r.err;
}

TEST(Cli, CheckRunsWithoutRoot)
{
    if (geteuid() != 0) GTEST_SKIP() << "already unprivileged";
    Result r = run({"check", "success/design_examples.rule"}, {}, true);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "3 rules, 3 monitors OK\n");
}

TEST(Cli, DumpAst)
{
    Result r = run({"check", "--dump-ast", "success/design_examples.rule"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("rule tcp.syn_queue_full"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("drop if (==@"), std::string::npos) << r.out;
}

TEST(Cli, SearchPathFromEnvironment)
{
    Result without = run({"check", "cli/uses_extra.rule"}, {"RTRACE_DROP_PATH="});
    EXPECT_EQ(without.status, 2);
    EXPECT_NE(without.err.find("cannot find 'extra_consts' to import"), std::string::npos) << without.err;
    Result with = run({"check", "cli/uses_extra.rule"}, {"RTRACE_DROP_PATH=/nonexistent:" RTD_TEST_DATA "/extra"});
    EXPECT_EQ(with.status, 0) << with.err;
}

TEST(Cli, ColourOnRequestOnly)
{
    Result plain = run({"check", "failure/unknown_clause.rule"});
    EXPECT_EQ(plain.err.find('\033'), std::string::npos);
    Result colour = run({"--color", "always", "check", "failure/unknown_clause.rule"});
    EXPECT_NE(colour.err.find("\033["), std::string::npos);
}

TEST(Cli, CheckTypeChecksAgainstGivenBtf)
{
    Result ok = run({"check", "--btf", RTD_FIXTURE_BTF, "--dump-types", "typecheck/warn_one_probe_missing.rule"});
    EXPECT_EQ(ok.status, 0) << ok.err;
    EXPECT_NE(ok.err.find("warning: function 'tcp_add_backlogs' is not in this kernel's BTF"), std::string::npos) << ok.err;
    EXPECT_NE(ok.out.find("probe kprobe:tcp_conn_request -> tcp_conn_request("), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("1 rule, 0 monitors OK (1 warning)"), std::string::npos) << ok.out;

    Result skipped = run({"check", "--btf", RTD_FIXTURE_BTF, "typecheck/warn_missing_function.rule"});
    EXPECT_EQ(skipped.status, 0);
    EXPECT_EQ(skipped.out, "1 rule, 0 monitors OK; 1 skipped on this kernel (1 warning)\n");

    Result strict = run({"check", "--strict", "--btf", RTD_FIXTURE_BTF, "typecheck/warn_missing_function.rule"});
    EXPECT_EQ(strict.status, 2);
    EXPECT_NE(strict.err.find("error: function 'ipt_do_tables' is not in this kernel's BTF"), std::string::npos) << strict.err;

    Result bad = run({"check", "--btf", RTD_FIXTURE_BTF, "typecheck/misspelled_field.rule"});
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find("typecheck/misspelled_field.rule:4:20-32: error: 'struct sock' has no member 'sk_ack_backlg'"),
              std::string::npos)
        << bad.err;
}

TEST(Cli, UnreadableBtfIsBadInput)
{
    Result r = run({"check", "--btf", "no/such/vmlinux", "success/design_examples.rule"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("no/such/vmlinux: error: cannot read BTF: no such file"), std::string::npos) << r.err;
}

TEST(Cli, CheckLoadReportsAttachForms)
{
    RTD_NEED_KERNEL(rtd::test::have_kernel_btf(), "no usable /sys/kernel/btf/vmlinux");
    RTD_NEED_KERNEL(rtd::test::have_root(), "loading BPF programs needs root");
    Result r = run({"check", "--load", RTD_SOURCE_DIR "/examples/design.rule"}, {"XDG_CACHE_HOME=/tmp/rtd-cli-cache"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("tcp.syn_queue_full kprobe:tcp_conn_request: kprobe loaded"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("tcp.listen_overflow tracepoint:skb:kfree_skb: tp_btf loaded"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("ip.iptables_drop kretprobe:ipt_do_table: kretprobe loaded"), std::string::npos) << r.out;
    // Trampolines: loaded where the kernel allows them, refused (EPERM) here.
    EXPECT_TRUE(r.out.find("fentry loaded") != std::string::npos || r.out.find("fentry rtd_0_0_fe: refused (EPERM)") != std::string::npos)
        << r.out;
    Result with_btf = run({"check", "--load", "--btf", RTD_FIXTURE_BTF, "success/design_examples.rule"});
    EXPECT_EQ(with_btf.status, 2);
}

TEST(Cli, ExplainPrintsGeneratedCAndPlan)
{
    Result r = run({"explain", "--btf", RTD_FIXTURE_BTF, "codegen/kretprobe_stash.rule", "gen.iptables_drop"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("rule gen.iptables_drop (codegen/kretprobe_stash.rule:3)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("'??' took alternative 1 of 2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("attach fexit: rtd_0_0_fx fexit/ipt_do_table"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("else   kretprobe: rtd_0_0_ke kprobe/ipt_do_table + rtd_0_0_kr kretprobe/ipt_do_table"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("SEC(\"kretprobe/ipt_do_table\")"), std::string::npos);
    EXPECT_EQ(r.out.find("gen.rp_filter"), std::string::npos);  // not selected

    Result manifest = run({"explain", "--manifest", "--btf", RTD_FIXTURE_BTF, "codegen/kretprobe_stash.rule"});
    EXPECT_EQ(manifest.status, 0) << manifest.err;
    EXPECT_NE(manifest.out.find("\"struct\": \"rtd_ev_0\""), std::string::npos) << manifest.out;

    Result none = run({"explain", "--btf", RTD_FIXTURE_BTF, "codegen/kretprobe_stash.rule", "no.such.rule"});
    EXPECT_EQ(none.status, 2);
    EXPECT_NE(none.err.find("no rule matches no.such.rule"), std::string::npos) << none.err;
}

TEST(Cli, RuleCatalogueIsCurrent)
{
    // docs/rules.md is generated from the shipped packs; regenerate it with
    // `make golden` (or rtrace-drop list --markdown rules > docs/rules.md).
    Result r = run({"list", "--markdown", RTD_SOURCE_DIR "/rules"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, slurp(RTD_SOURCE_DIR "/docs/rules.md")) << "docs/rules.md is out of date: run `make golden`";
}

TEST(Cli, RunHelpExplainsMonitors)
{
    Result r = run({"run", "--help"});
    EXPECT_EQ(r.status, 0);
    for (const char* flag : {"--once", "--netns", "--interval", "monitor rules"})
        EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << r.out;
}

// Monitors need neither BPF nor root: a snapshot of this machine's counters
// as an unprivileged user, against the fixture-free snmp pack.
TEST(Cli, OnceRunsWithoutRoot)
{
    if (geteuid() != 0) GTEST_SKIP() << "already unprivileged";
    Result r = run({"run", "--once", "--json", RTD_SOURCE_DIR "/rules/snmp"}, {}, true);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("finding(s) from 36 monitor(s) since boot"), std::string::npos) << r.err;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) EXPECT_NE(line.find("\"kind\":\"monitor\""), std::string::npos) << line;
    // Entering a namespace does need privileges: a clear error, exit 1.
    Result ns = run({"run", "--once", "--netns", "/proc/1/ns/net", RTD_SOURCE_DIR "/rules/snmp"}, {}, true);
    EXPECT_EQ(ns.status, 1);
    EXPECT_NE(ns.err.find("--netns /proc/1/ns/net"), std::string::npos) << ns.err;
    EXPECT_NE(ns.err.find("needs root"), std::string::npos) << ns.err;
}

TEST(Cli, ListGroupsByLayer)
{
    Result r = run({"list", RTD_SOURCE_DIR "/rules", "tcp.*"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out.rfind("l4 transport\n", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("tcp.listen_overflow"), std::string::npos);
    EXPECT_NE(r.out.find("(instead of tcp.accept_queue_full)"), std::string::npos);
    EXPECT_EQ(r.out.find("udp."), std::string::npos);
}

// ---- the original tool's command line, config files, packs by name ---------

// A scratch folder below /tmp, removed with the object.
struct Scratch {
    fs::path dir = fs::temp_directory_path() / ("rtd-cli-scratch-" + std::to_string(getpid()) + "-" + std::to_string(++count));
    Scratch() { fs::create_directories(dir); }
    ~Scratch() { fs::remove_all(dir); }
    std::string write(const std::string& name, const std::string& text) const
    {
        fs::create_directories((dir / name).parent_path());
        std::ofstream(dir / name) << text;
        return (dir / name).string();
    }
    std::string path(const std::string& name) const { return (dir / name).string(); }
    static inline int count = 0;
};

TEST(Cli, OriginalFlagsAreAccepted)
{
    Result help = run({"-h"});
    EXPECT_EQ(help.status, 0);
    for (const char* flag : {"-l,--list", "-i,--include", "-e,--exclude", "--config", "--gen", "-V,--version", "-h,--help"})
        EXPECT_NE(help.out.find(flag), std::string::npos) << flag << "\n" << help.out;
    EXPECT_EQ(run({"-V"}).out, "rtrace-drop " RTD_VERSION "\n");
    Result list = run({"-l"});
    EXPECT_EQ(list.status, 0) << list.err;
    for (const char* part : {"l1 physical\n", "l3 network\n", "l4 transport\n", "  tcp\n", "tcp.listen_overflow", "snmp.listen_overflows"})
        EXPECT_NE(list.out.find(part), std::string::npos) << part << "\n" << list.out;
}

// -l shows how each rule would attach here: this machine has tracepoints
// but neither kprobes nor trampolines (docs/TESTING.md), monitors are polled.
TEST(Cli, ListShowsTheMethodEachRuleWouldUse)
{
    RTD_NEED_KERNEL(rtd::test::have_kernel_btf() && rtd::test::have_root(), "needs root and the kernel's BTF");
    Result r = run({"-l", "tcp.listen_overflow", "tcp.syn_queue_full", "snmp.listen_overflows"});
    EXPECT_EQ(r.status, 0) << r.err;
    // The method column: after the 44-wide probe list and two spaces.
    auto method = [&](const std::string& id) {
        auto at = r.out.find("    " + id + " ");
        if (at == std::string::npos) return std::string();
        std::string line = r.out.substr(at, r.out.find('\n', at) - at);
        std::string column = line.size() > 4 + 34 + 1 + 44 + 2 ? line.substr(4 + 34 + 1 + 44 + 2) : std::string();
        return column.substr(0, column.find("  (instead of "));  // the note after it is not the method
    };
    EXPECT_EQ(method("tcp.listen_overflow"), "tp_btf") << r.out;
    EXPECT_EQ(method("snmp.listen_overflows"), "polled") << r.out;
    std::string syn = method("tcp.syn_queue_full");
    if (fs::exists("/sys/bus/event_source/devices/kprobe"))
        EXPECT_TRUE(syn == "kprobe" || syn == "fentry") << r.out;
    else  // this project's machines: no kprobes, trampolines refused
        EXPECT_TRUE(syn == "fentry" || syn == "skipped: kernel has no kprobes and refuses BPF trampolines") << r.out;
}

TEST(Cli, IncludeAndExcludeGlobsExcludeWins)
{
    Result r = run({"-l", "-i", "tcp.*", "udp.no_*", "-e", "tcp.no_*", "tcp.bad_*"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("tcp.listen_overflow"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("udp.no_socket"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("tcp.no_socket"), std::string::npos) << "exclude wins over include\n" << r.out;
    EXPECT_EQ(r.out.find("tcp.bad_checksum"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("udp.bad_checksum"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("ip."), std::string::npos) << r.out;
    // -l PATTERN is an include of its own.
    Result p = run({"-l", "ip.no_route_*"});
    EXPECT_EQ(p.status, 0) << p.err;
    EXPECT_NE(p.out.find("ip.no_route_in"), std::string::npos);
    EXPECT_EQ(p.out.find("ip.bad_header"), std::string::npos);
    Result none = run({"-l", "-e", "*"});
    EXPECT_EQ(none.status, 2);
    EXPECT_NE(none.err.find("no rule is selected"), std::string::npos) << none.err;
}

TEST(Cli, GenWritesDefaultsThatReadBackAsDefaults)
{
    Scratch s;
    std::string file = s.path("rtrace-drop.toml");
    Result gen = run({"--gen", file});
    EXPECT_EQ(gen.status, 0) << gen.err;
    std::string text = slurp(file);
    EXPECT_NE(text.find("# "), std::string::npos) << "commented";
    for (const char* section : {"[rules]", "[filter]", "[output]"}) EXPECT_NE(text.find(section), std::string::npos) << section;
    Result defaults = run({"--show-config"});
    Result reread = run({"--config", file, "--show-config"});
    EXPECT_EQ(reread.status, 0) << reread.err;
    EXPECT_EQ(reread.out, defaults.out);
    EXPECT_NE(defaults.out.find("format = \"text\""), std::string::npos) << defaults.out;
    // Never overwrites.
    Result again = run({"--gen", file});
    EXPECT_EQ(again.status, 2);
    EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;
}

TEST(Cli, FlagsOverrideConfigWhichOverridesDefaults)
{
    Scratch s;
    std::string file = s.write("c.toml",
                               "[rules]\npacks = [\"tcp\"]\ninclude = [\"tcp.*\"]\n"
                               "[filter]\nport = [443, 80]\nrate_limit = 5\n"
                               "[output]\nformat = \"json\"\nhints = true\ninterval = \"2s\"\n"
                               "[params.\"sysctl.somaxconn_small\"]\nmin = 4096\n");
    Result config = run({"--config", file, "--show-config"});
    EXPECT_EQ(config.status, 0) << config.err;
    for (const char* line : {"packs = [\"tcp\"]", "include = [\"tcp.*\"]", "port = [443, 80]", "rate_limit = 5", "format = \"json\"",
                             "hints = true", "interval = \"2s\"", "stack = true", "exclude = []", "[params.\"sysctl.somaxconn_small\"]\nmin = 4096"})
        EXPECT_NE(config.out.find(line), std::string::npos) << line << "\n" << config.out;
    Result flags = run({"run", "--config", file, "udp", "-i", "udp.*", "--summary", "--rate-limit", "7", "--port", "53", "--no-stack",
                        "--show-config"});
    EXPECT_EQ(flags.status, 0) << flags.err;
    for (const char* line : {"packs = [\"udp\"]", "include = [\"udp.*\"]", "port = [53]", "rate_limit = 7", "format = \"summary\"",
                             "hints = true", "stack = false"})
        EXPECT_NE(flags.out.find(line), std::string::npos) << line << "\n" << flags.out;
    EXPECT_EQ(run({"--json", "--summary", "--show-config"}).status, 2);
}

// The config file turns --track on and sizes it; --no-track turns it off.
TEST(Cli, TrackFromConfigAndNoTrack)
{
    Scratch s;
    std::string file = s.write("t.toml", "[output]\ntrack = true\ntrack_size = 4096\ntrack_hops = 4\n");
    Result config = run({"--config", file, "--show-config"});
    EXPECT_EQ(config.status, 0) << config.err;
    for (const char* line : {"track = true", "track_size = 4096", "track_hops = 4"})
        EXPECT_NE(config.out.find(line), std::string::npos) << line << "\n" << config.out;
    Result off = run({"run", "--config", file, "--no-track", "--show-config"});
    EXPECT_EQ(off.status, 0) << off.err;
    EXPECT_NE(off.out.find("track = false"), std::string::npos) << off.out;
    // The config's sizes do not make --no-track a bad run.
    Result run_off = run({"run", RTD_TEST_DATA "/e2e/drops.rule", "--config", file, "--no-track", "--duration", "1ms", "--btf", "/nonexistent"});
    EXPECT_EQ(run_off.err.find("--track-size"), std::string::npos) << run_off.err;
    EXPECT_NE(run_off.err.find("cannot read BTF"), std::string::npos) << "it went on to load the kernel's types: " << run_off.err;
}

TEST(Cli, ConfigErrorsPointAtTheFile)
{
    Scratch s;
    std::string file = s.write("bad.toml", "[rules]\nexclud = [\"x\"]\n[output]\nformat = \"xml\"\n[filtr]\n");
    Result r = run({"--config", file, "--show-config"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find(file + ":2:1-6: error: unknown key 'exclud' in [rules]\n    exclud = [\"x\"]\n    ~~~~~~\nhint: did you mean 'exclude'?"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(file + ":4:10-14: error: 'format' must be one of text, json, summary, not 'xml'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(file + ":5:2-6: error: unknown key 'filtr'"), std::string::npos) << r.err;
    std::string syntax = s.write("syntax.toml", "[rules\n");
    Result bad = run({"--config", syntax});
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find(syntax + ":1:7: error:"), std::string::npos) << bad.err;
    std::string old = s.write("old.toml", "[[function]]\nname = \"tcp_conn_request\"\n");
    Result legacy = run({"--config", old});
    EXPECT_EQ(legacy.status, 2);
    EXPECT_NE(legacy.err.find("rtrace-drop import " + old), std::string::npos) << legacy.err;
    Result missing = run({"--config", s.path("none.toml")});
    EXPECT_EQ(missing.status, 2);
    EXPECT_NE(missing.err.find("cannot read the config file"), std::string::npos) << missing.err;
}

// A config [params] value replaces a rule's 'param' before it is resolved.
TEST(Cli, ConfigParamsOverrideRuleParams)
{
    Scratch s;
    std::string rule = s.write("p.rule", "monitor t.somaxconn {\n    layer l4\n    source sysctl:net.core.somaxconn\n    param min = 1\n"
                                         "    warn if value < min\n    message \"somaxconn {value} < {min}\"\n}\n");
    Result plain = run({"run", "--once", rule});
    EXPECT_EQ(plain.status, 0) << plain.err;
    EXPECT_EQ(plain.out, "") << "somaxconn is never below 1";
    std::string file = s.write("c.toml", "[params.\"t.somaxconn\"]\nmin = 9223372036854775807\n");
    Result raised = run({"run", "--once", "--config", file, rule});
    EXPECT_EQ(raised.status, 0) << raised.err;
    EXPECT_NE(raised.out.find("< 9223372036854775807"), std::string::npos) << raised.out;
    std::string typo = s.write("typo.toml", "[params.\"t.somaxconn\"]\nmni = 5\n");
    Result bad = run({"run", "--once", "--config", typo, rule});
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find(typo + ":2:7: error: rule 't.somaxconn' has no param 'mni'"), std::string::npos) << bad.err;
    EXPECT_NE(bad.err.find("hint: its params: min"), std::string::npos) << bad.err;
}

// Packs by name: ./rules, $RTRACE_DROP_PATH, then the installed packs;
// pack.toml's requires come along.
TEST(Cli, PacksAreFoundByNameWithTheirRequirements)
{
    Scratch s;
    s.write("packs/base/pack.toml", "name = \"base\"\nversion = \"1.0.0\"\n");
    s.write("packs/base/base.rule", "monitor base.m {\n    layer l4\n    source snmp:TcpExtListenOverflows\n    drop if delta > 0\n}\n");
    s.write("packs/team/pack.toml", "name = \"team\"\nversion = \"0.1\"\ndescription = \"d\"\nmaintainers = [\"x\"]\n"
                                     "min_kernel = \"5.17\"\nrequires = [\"base\"]\n");
    s.write("packs/team/team.rule", "monitor team.m {\n    layer l4\n    source snmp:TcpExtListenDrops\n    drop if delta > 0\n}\n");
    std::string env = "RTRACE_DROP_PATH=" + s.path("packs");
    Result r = run({"check", "team"}, {env});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "0 rules, 2 monitors OK\n");
    Result shipped = run({"check", "udp"});
    EXPECT_EQ(shipped.status, 0) << shipped.err;
    Result missing = run({"check", "nosuchpack"}, {env});
    EXPECT_EQ(missing.status, 2);
    EXPECT_NE(missing.err.find("error: no pack named 'nosuchpack'"), std::string::npos) << missing.err;
    EXPECT_NE(missing.err.find(s.path("packs") + "/nosuchpack"), std::string::npos) << "says where it looked\n" << missing.err;
    s.write("packs/broken/pack.toml", "name = \"broken\"\nrequire = [\"base\"]\n");
    s.write("packs/broken/b.rule", "");
    Result broken = run({"check", "broken"}, {env});
    EXPECT_EQ(broken.status, 2);
    EXPECT_NE(broken.err.find("pack.toml:2:1-7: error: unknown key 'require' in pack.toml"), std::string::npos) << broken.err;
    s.write("packs/orphan/pack.toml", "name = \"orphan\"\nrequires = [\"gone\"]\n");
    s.write("packs/orphan/o.rule", "");
    Result orphan = run({"check", "orphan"}, {env});
    EXPECT_EQ(orphan.status, 2);
    EXPECT_NE(orphan.err.find("pack 'orphan' requires pack 'gone', which is not found"), std::string::npos) << orphan.err;
    // A pack travels: its requires may not reach outside the search path.
    s.write("packs/escape/pack.toml", "name = \"escape\"\nrequires = [\"../../../etc\"]\n");
    s.write("packs/escape/e.rule", "");
    Result escape = run({"check", "escape"}, {env});
    EXPECT_EQ(escape.status, 2);
    EXPECT_NE(escape.err.find("pack.toml:2:13-26: error: '../../../etc' is not a pack name"), std::string::npos) << escape.err;
}

// Plain `rtrace-drop` with run's flags is `run`.
TEST(Cli, PlainInvocationRuns)
{
    RTD_NEED_KERNEL(rtd::test::have_root(), "needs root, to drop to a user");
    Result r = run({"--once", "--json", "-i", "snmp.*", "-e", "snmp.tcp_*"}, {}, true);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("monitor(s) since boot"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("snmp.tcp_"), std::string::npos) << r.err;
}

TEST(Cli, WhereErrorsAreBadInput)
{
    RTD_NEED_KERNEL(rtd::test::have_kernel_btf() && rtd::test::have_root(), "needs root and the kernel's BTF");
    Result r = run({"run", RTD_TEST_DATA "/e2e/drops.rule", "--where", "dprot == 443", "--duration", "1s"});
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("--where:1:1-5: error:"), std::string::npos) << r.err;
    Result host = run({"run", RTD_TEST_DATA "/e2e/drops.rule", "--host", "10.0.0.1;rm", "--duration", "1s"});
    EXPECT_EQ(host.status, 2) << host.err;
}

// --pcap, --snaplen, --pcap-rotate and --filter: bad values are bad input,
// said before anything is compiled or attached (no "ready").
TEST(Cli, PcapAndFilterErrorsAreBadInput)
{
    const std::string rules = RTD_TEST_DATA "/e2e/drops.rule";
    struct Case {
        std::vector<std::string> flags;
        std::string says;
    };
    const Case cases[] = {
        {{"--filter", "tcp prt 443"}, "--filter 'tcp prt 443': can't parse filter expression: syntax error"},
        {{"--filter", "host 999.1.1.1"}, "--filter 'host 999.1.1.1': "},
        {{"--pcap", "/proc/nonexistent/x.pcapng"}, "--pcap: cannot write /proc/nonexistent/x.pcapng: No such file or directory"},
        {{"--pcap", "/tmp"}, "--pcap: cannot write /tmp"},
        {{"--pcap", "/tmp/x.pcapng", "--snaplen", "0"}, "--snaplen 0 is out of range: 1 to 8192 bytes"},
        {{"--pcap", "/tmp/x.pcapng", "--snaplen", "9000"}, "--snaplen 9000 is out of range"},
        {{"--pcap-rotate", "10M"}, "--pcap-rotate rotates the file of --pcap, which is not given"},
        {{"--pcap", "/tmp/x.pcapng", "--pcap-rotate", "lots"}, "--pcap-rotate 'lots' is not a size"},
        {{"--pcap", "-", "--pcap-rotate", "1M"}, "cannot be rotated"},
        {{"--pcap", "-", "--json"}, "--pcap - and --json both write to standard output"},
        {{"--pcap", "/tmp/x.pcapng", "--summary"}, "--summary sends none from the kernel"},
    };
    for (const Case& c : cases) {
        std::vector<std::string> args{"run", rules, "--duration", "1s"};
        args.insert(args.end(), c.flags.begin(), c.flags.end());
        Result r = run(args);
        EXPECT_EQ(r.status, 2) << c.flags.front() << ": " << r.err;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
        EXPECT_EQ(r.err.find("ready:"), std::string::npos) << r.err;
    }
    std::error_code ec;
    fs::remove("/tmp/x.pcapng", ec);
}

// --track's sizes out of range, or given without it, and --track with
// --quiet (no event to carry a path) are bad input, said before anything runs.
TEST(Cli, TrackErrorsAreBadInput)
{
    const std::string rules = RTD_TEST_DATA "/e2e/drops.rule";
    struct Case {
        std::vector<std::string> flags;
        std::string says;
    };
    const Case cases[] = {
        {{"--track", "--track-hops", "1"}, "--track-hops 1 is out of range: 2 to 8"},
        {{"--track", "--track-hops", "9"}, "--track-hops 9 is out of range: 2 to 8"},
        {{"--track", "--track-size", "10"}, "--track-size 10 is out of range: 64 to 1048576 packets"},
        {{"--track", "--track-size", "2000000"}, "--track-size 2000000 is out of range"},
        {{"--track-size", "1000"}, "--track-size and --track-hops size --track, which is not given"},
        {{"--track", "--quiet"}, "--quiet prints none"},
        {{"--track", "--once"}, "--once reads the monitors once and exits: it follows no packets"},
        {{"--no-track", "--track-hops", "4"}, "--track-size and --track-hops size --track, which is not given"},
        {{"--track", "--no-track"}, "--track and --no-track exclude each other"},
    };
    for (const Case& c : cases) {
        std::vector<std::string> args{"run", rules, "--duration", "1s"};
        args.insert(args.end(), c.flags.begin(), c.flags.end());
        Result r = run(args);
        EXPECT_EQ(r.status, 2) << c.flags.back() << ": " << r.err;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
        EXPECT_EQ(r.err.find("ready:"), std::string::npos) << r.err;
    }
}

// A file of constants and macros has no rules and still checks; a run or
// build of it has nothing to do.
TEST(Cli, CheckOfALibraryFileWithoutRules)
{
    Result lib = run({"check", RTD_SOURCE_DIR "/stdlib/tcp.rule"});
    EXPECT_EQ(lib.status, 0) << lib.err;
    EXPECT_EQ(lib.out, "0 rules, 0 monitors OK\n");
    Scratch s;
    Result build = run({"build", RTD_SOURCE_DIR "/stdlib/tcp.rule", "-o", s.path("x.rdo")});
    EXPECT_EQ(build.status, 2);
    EXPECT_NE(build.err.find("no rules found"), std::string::npos) << build.err;
}

// A --btf the user names that cannot be read is bad input, for rule files
// and built objects alike; --btf-modules goes with --btf.
TEST(Cli, UnreadableBtfFileIsBadInputForRulesAndObjects)
{
    RTD_NEED_KERNEL(rtd::test::have_kernel_btf(), "no usable /sys/kernel/btf/vmlinux");
    Scratch s;
    const std::string object = s.path("drops.rdo");
    Result built = run({"build", RTD_TEST_DATA "/e2e/drops.rule", "-o", object, "-i", "e2e.no_socket"}, {"XDG_CACHE_HOME=/tmp/rtd-cli-cache"});
    ASSERT_EQ(built.status, 0) << built.err;
    for (const std::string& input : {std::string(RTD_TEST_DATA "/e2e/drops.rule"), object}) {
        Result r = run({"run", input, "--btf", "/nonexistent.btf"}, {}, true);
        EXPECT_EQ(r.status, 2) << input << "\n" << r.err;
        EXPECT_NE(r.err.find("/nonexistent.btf: "), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("cannot read BTF: "), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("hint: give a vmlinux with BTF or a raw .btf file"), std::string::npos) << r.err;
    }
    Result modules = run({"check", "--btf-modules", "/tmp", RTD_TEST_DATA "/e2e/drops.rule"});
    EXPECT_EQ(modules.status, 2);
    EXPECT_NE(modules.err.find("--btf-modules requires --btf"), std::string::npos) << modules.err;
}

TEST(Cli, BuildRejectsBadInput)
{
    Scratch s;
    Result none = run({"build", "nosuchpack", "-o", s.path("x.rdo")});
    EXPECT_EQ(none.status, 2);
    Result no_output = run({"build", "tcp"});
    EXPECT_EQ(no_output.status, 2);
    std::string fake = s.write("fake.rdo", "rtrace-drop object 1\n{\"built_by\":\"x\",\"kernel\":\"y\",\"filter\":\"\",\"sections\":[{\"name\":\"manifest\",\"size\":999}]}\n{}");
    Result damaged = run({"run", fake}, {}, true);
    EXPECT_EQ(damaged.status, 2);
    EXPECT_NE(damaged.err.find("damaged object"), std::string::npos) << damaged.err;
}

// More probes than a run takes: a clear refusal before anything is
// compiled, for `run` and `build` alike; `check` still checks them all.
TEST(Cli, TooManyProbesAreRefusedBeforeCompiling)
{
    RTD_NEED_KERNEL(rtd::test::have_kernel_btf(), "no usable /sys/kernel/btf/vmlinux");
    Scratch s;
    std::string text;
    for (int i = 0; i < 1100; ++i)
        text += "rule lim.r" + std::to_string(i) + " {\n layer l4\n probe tracepoint:skb:kfree_skb\n drop if reason == " +
                std::to_string(i) + "\n}\n";
    std::string rules = s.write("many.rule", text);
    Result checked = run({"check", rules});
    EXPECT_EQ(checked.status, 0) << checked.err;
    for (const char* verb : {"run", "build"}) {
        std::vector<std::string> args{verb, rules};
        if (std::string(verb) == "build") args.insert(args.end(), {"-o", s.path("many.rdo")});
        Result r = run(args, {"RTRACE_DROP_NO_COMPILER=1"});
        EXPECT_EQ(r.status, 2) << verb << ": " << r.err;
        EXPECT_NE(r.err.find("error: 1100 probes selected; at most 1024 run at once"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("hint: select fewer rules with -i/--include"), std::string::npos) << r.err;
    }
    EXPECT_FALSE(fs::exists(s.path("many.rdo")));
}

// The original tool's TOML examples become rule files that `check` accepts.
TEST(Cli, ImportRoundTripsIntoCheckedRules)
{
    Scratch s;
    for (const char* seed : {"seed_tcp", "seed_iptables", "seed_fib"}) {
        std::string out = s.path(std::string(seed) + ".rule");
        Result imported = run({"import", std::string("import/") + seed + ".toml", "-o", out});
        EXPECT_EQ(imported.status, 0) << seed << ": " << imported.err;
        EXPECT_NE(slurp(out).find("rule imported."), std::string::npos) << slurp(out);
        Result checked = run({"check", out});
        EXPECT_EQ(checked.status, 0) << seed << ": " << checked.err << slurp(out);
        EXPECT_NE(checked.out.find("OK"), std::string::npos) << checked.out;
    }
    Result to_stdout = run({"import", "import/seed_tcp.toml"});
    EXPECT_EQ(to_stdout.status, 0) << to_stdout.err;
    EXPECT_NE(to_stdout.out.find("probe   kprobe:tcp_conn_request"), std::string::npos) << to_stdout.out;
    Result bad = run({"import", "import/errors/unknown_key.toml"});
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find("unknown_key.toml:4:1-5: error: unknown key 'exrps'"), std::string::npos) << bad.err;
    EXPECT_EQ(bad.out, "");
    EXPECT_EQ(run({"import", "import/none.toml"}).status, 2);
}

// `make install` is `cmake --install`: the installed binary finds its
// packs and stdlib, and the man page and completion come along.
TEST(Cli, InstallTreeIsSelfContained)
{
    Scratch s;
    std::string prefix = s.path("prefix");
    ASSERT_EQ(std::system((std::string(RTD_CMAKE) + " --install " RTD_BUILD_DIR " --prefix " + prefix + " >/dev/null").c_str()), 0);
    for (const char* file : {"bin/rtrace-drop", "share/rtrace-drop/rules/tcp/pack.toml", "share/rtrace-drop/stdlib/net.rule",
                             "share/man/man1/rtrace-drop.1", "share/bash-completion/completions/rtrace-drop"})
        EXPECT_TRUE(fs::exists(s.dir / "prefix" / file)) << file;
    std::string man = slurp(prefix + "/share/man/man1/rtrace-drop.1");
    EXPECT_EQ(man.rfind(".TH RTRACE-DROP 1", 0), 0u);
    for (const char* part : {"--where", "COMMAND: build", "COMMAND: import", "COMMAND: test", "--allow-exec", "RTRACE_DROP_PATH"}) EXPECT_NE(man.find(part), std::string::npos) << part;
    // The installed binary, run from elsewhere, checks a pack by name.
    std::string out = s.path("check.out");
    int rc = std::system(("cd / && " + prefix + "/bin/rtrace-drop check udp > " + out + " 2>&1").c_str());
    EXPECT_EQ(rc, 0) << slurp(out);
    EXPECT_NE(slurp(out).find("OK"), std::string::npos) << slurp(out);
}

// Every option --help shows is in the bash completion.
TEST(Cli, CompletionKnowsEveryOption)
{
    std::string completion = slurp(RTD_SOURCE_DIR "/cli/rtrace-drop.bash");
    for (std::string cmd : {"", "run", "check", "explain", "list", "build", "import", "test"}) {
        Result help = cmd.empty() ? run({"--help"}) : run({cmd, "--help"});
        std::istringstream lines(help.out);
        for (std::string line; std::getline(lines, line);) {
            std::istringstream words(line);
            std::string first;
            words >> first;
            if (first.rfind("-", 0) != 0) continue;
            std::istringstream names(first.substr(0, first.find(' ')));
            for (std::string name; std::getline(names, name, ',');)
                EXPECT_NE(completion.find(" " + name + " "), std::string::npos) << (cmd.empty() ? "rtrace-drop" : cmd) << " " << name;
        }
    }
}

}  // namespace

// --log-format json: everything on stderr is JSON lines (ts, level, msg,
// hints), whatever the command says. (Included here, at the end, so the file's
// head stays as it was for the others who add tests to it.)
#include <nlohmann/json.hpp>

namespace json_log {

using nlohmann::json;

// Each line of `err` parsed; a failure for any line that is not an object
// with the four fields.
std::vector<json> json_lines(const std::string& err)
{
    std::vector<json> out;
    std::istringstream lines(err);
    for (std::string line; std::getline(lines, line);) {
        json j = json::parse(line, nullptr, false);
        EXPECT_TRUE(j.is_object()) << "not a JSON object: " << line;
        if (!j.is_object()) continue;
        EXPECT_TRUE(j.contains("ts") && j["level"].is_string() && j["msg"].is_string() && j["hints"].is_array()) << line;
        out.push_back(std::move(j));
    }
    EXPECT_TRUE(err.empty() || err.back() == '\n') << err;
    return out;
}

const json* find(const std::vector<json>& objects, const std::string& level, const std::string& part)
{
    for (const json& j : objects)
        if (j.value("level", "") == level && j.value("msg", "").find(part) != std::string::npos) return &j;
    return nullptr;
}

TEST(Cli, LogFormatJsonCheckOfBadRules)
{
    Result r = run({"--log-format", "json", "check", "failure/unknown_clause.rule"});
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.out, "");
    std::vector<json> o = json_lines(r.err);
    const json* diag = find(o, "error", "failure/unknown_clause.rule:5:5-11: error: unknown clause 'captrue'");
    ASSERT_NE(diag, nullptr) << r.err;
    EXPECT_NE((*diag)["msg"].get<std::string>().find("\n    "), std::string::npos) << "the quoted source: " << *diag;
    EXPECT_NE(find(o, "info", "1 error"), nullptr) << r.err;
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos);
    // The flag also comes after the command; text stays the default.
    std::vector<json> after = json_lines(run({"check", "--log-format", "json", "failure/unknown_clause.rule"}).err);
    ASSERT_EQ(after.size(), o.size());
    for (std::size_t i = 0; i < o.size(); ++i) EXPECT_EQ(after[i]["msg"], o[i]["msg"]);
    EXPECT_EQ(run({"check", "failure/unknown_clause.rule"}).err.rfind("failure/unknown_clause.rule:5:5-11: error:", 0), 0u);
}

TEST(Cli, LogFormatJsonRunErrorsAndStatus)
{
    // A RunError, through report().
    Result e = run({"--log-format", "json", "check", "--load", "--btf", "x.btf", "success/design_examples.rule"});
    EXPECT_EQ(e.status, 2);
    EXPECT_NE(find(json_lines(e.err), "error", "--load uses the running kernel's BTF"), nullptr) << e.err;
}

TEST(Cli, LogFormatJsonOfARun)
{
    if (geteuid() != 0) GTEST_SKIP() << "runs as nobody: needs root to switch";
    // A run's notes and status table; the findings on stdout stay as they were.
    Result r = run({"--log-format", "json", "run", "--once", "--json", RTD_SOURCE_DIR "/rules/snmp"}, {}, true);
    EXPECT_EQ(r.status, 0) << r.err;
    std::vector<json> o = json_lines(r.err);
    EXPECT_FALSE(o.empty());
    EXPECT_EQ(r.err.find("rtrace-drop: "), std::string::npos) << r.err;
    std::istringstream out(r.out);
    for (std::string line; std::getline(out, line);) EXPECT_EQ(json::parse(line).value("kind", ""), "monitor") << line;
}

TEST(Cli, LogFormatIsTextOrJson)
{
    Result r = run({"--log-format", "xml", "check", "success/design_examples.rule"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("--log-format"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("xml"), std::string::npos) << r.err;
    EXPECT_EQ(run({"--log-format", "text", "check", "success/design_examples.rule"}).status, 0);
}

}  // namespace json_log
