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
    EXPECT_EQ(run({}).status, 2);
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

}  // namespace
