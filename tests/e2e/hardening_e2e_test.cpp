// Faults around a run: a signal at every phase, stdout closed early, a
// program the verifier refuses, an attach target that vanished, no kernel
// BTF, no capabilities, no tracefs, two runs at once. Each must end with a
// clear word and leave nothing in the kernel. RTRACE_DROP_FAULTS
// (runtime/faults.h) makes the rare ones happen on demand.
#include "tests/e2e/e2e_support.h"

namespace e2e {
namespace {

using namespace std::chrono_literals;
constexpr auto npos = std::string::npos;

std::string faults(const std::string& spec) { return "RTRACE_DROP_FAULTS=" + spec; }

// Runs `script` with sh, stdout and stderr together, then "rc=N".
std::string sh_script(const std::string& script)
{
    std::string quoted = "'(";
    for (char c : script) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return sh_out("sh -c " + quoted + ") 2>&1; echo rc=$?'");
}

TEST(HardeningE2E, SignalsAtEveryPhaseLeaveNothingBehind)
{
    NEED_ROOT_AND_BPF();
    for (std::string phase : {"compile", "load", "attach", "run"})
        for (int sig : {SIGINT, SIGTERM}) {
            SCOPED_TRACE(fmt::format("{} before {}", strsignal(sig), phase));
            DropTracer run({kDrops, "--json"}, RTD_BINARY, {faults("stall=" + phase + ":60000")});
            ASSERT_TRUE(run.err_has("stalling 60000 ms before " + phase)) << run.err();
            if (phase == "attach" || phase == "run")
                EXPECT_NE(loaded_bpf(), "") << "programs are loaded by now";
            int rc = run.signal(sig);
            if (phase == "run") {
                EXPECT_EQ(rc, 0) << run.err();
                EXPECT_NE(run.err().find("RULE"), npos) << "the counters are printed: " << run.err();
            } else {
                EXPECT_EQ(rc, 1) << run.err();
                EXPECT_NE(run.err().find("stopped by a signal before " + phase + "; nothing was left attached"), npos) << run.err();
            }
            EXPECT_EQ(leftover_bpf(), "");
        }
}

TEST(HardeningE2E, KilledWhileCompilingTakesTheCompilerWithIt)
{
    NEED_ROOT_AND_BPF();
    DropTracer run({kDrops, "--json", "--no-cache"});
    // The compile runs in a child process: wait until it exists.
    std::string children;
    for (int i = 0; i < 1000 && children.empty(); ++i) {
        children = sh_out(fmt::format("pgrep -P {}", run.pid()));
        if (children.empty()) std::this_thread::sleep_for(10ms);
    }
    ASSERT_NE(children, "") << "no compiler process seen: " << run.err();
    int child = std::stoi(children);
    EXPECT_EQ(run.signal(SIGKILL), 128 + SIGKILL);
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
        gone = kill(child, 0) != 0;
        if (!gone) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(gone) << "the compiler process " << child << " outlived its parent";
    EXPECT_EQ(leftover_bpf(), "");
}

TEST(HardeningE2E, SigtermWhileCompilingEndsCleanly)
{
    NEED_ROOT_AND_BPF();
    DropTracer run({kDrops, "--json", "--no-cache"});
    for (int i = 0; i < 1000 && sh_out(fmt::format("pgrep -P {}", run.pid())).empty(); ++i) std::this_thread::sleep_for(10ms);
    int rc = run.signal(SIGTERM);  // to the parent only: it waits for the compile, then stops
    EXPECT_EQ(rc, 1) << run.err();
    EXPECT_NE(run.err().find("stopped by a signal before load; nothing was left attached"), npos) << run.err();
    EXPECT_EQ(leftover_bpf(), "");
}

TEST(HardeningE2E, StdoutClosedEarlyStopsCleanly)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    TempFiles dir("stdout");
    // `run --json | head -n 3`, with its exit status kept aside.
    sh_background(fmt::format("( (XDG_CACHE_HOME=/tmp/rtd-e2e-cache timeout 120 {} run {} --json --ready-file {d}/ready "
                              "2>{d}/err; echo $? >{d}/rc) | head -n 3 >{d}/out )",
                              RTD_BINARY, RTD_TEST_DATA "/e2e/udp_noport.rule", fmt::arg("d", dir.path)));
    bool ready = false;
    for (int i = 0; i < 1200 && !ready; ++i) {
        ready = fs::exists(dir.path + "/ready");
        if (!ready) std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(ready) << slurp(dir.path + "/err");
    // Drops until it notices that nobody reads (head has gone after 3 lines).
    for (int i = 0; i < 60 && !fs::exists(dir.path + "/rc"); ++i)
        sh(ns.in_a(fmt::format("{} {} udp-flood {} 7777 50 16", kPy, kTraffic, ns.addr_b)));
    std::this_thread::sleep_for(300ms);  // rc is written before the file is closed
    ASSERT_TRUE(fs::exists(dir.path + "/rc")) << "still running with its reader gone: " << slurp(dir.path + "/err");
    EXPECT_EQ(slurp(dir.path + "/rc"), "0\n") << slurp(dir.path + "/err");
    std::string err = slurp(dir.path + "/err");
    EXPECT_NE(err.find("standard output was closed; stopped"), npos) << err;
    EXPECT_NE(err.find("e2e.udp_noport"), npos) << "the counters still reach stderr: " << err;
    std::string out = slurp(dir.path + "/out");
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3) << out;
    EXPECT_EQ(leftover_bpf(), "");
}

TEST(HardeningE2E, VerifierRefusalSkipsOnlyThatRule)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({kDrops, "--json"}, RTD_BINARY, {faults("reject=e2e.netfilter")});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("{} {} tcp-connect {} 5560 1", kPy, kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    // The verifier's own words, not only its errno.
    EXPECT_TRUE(line_with(run.err(), {"e2e.netfilter", "skipped: raw_tp rejected by the verifier (EACCES): ", "stack"})) << run.err();
    EXPECT_TRUE(line_with(run.err(), {"e2e.no_socket", "tp_btf"})) << run.err();
    // The refused rule has left the shared program; the other two still share it.
    EXPECT_TRUE(line_with(run.err(), {"the 2 probes on kfree_skb run in one tp_btf program"})) << run.err();
    bool reported = false;
    for (const json& e : run.events()) reported = reported || (e["rule"] == "e2e.no_socket" && e["packet"]["dport"] == 5560);
    EXPECT_TRUE(reported) << "the other rules still run: " << run.out();
}

TEST(HardeningE2E, RefusedDispatcherFallsBackToAProgramPerRule)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({kDrops, "--json"}, RTD_BINARY, {faults("reject=rtd_d_kfree_skb_tb")});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("{} {} tcp-connect {} 5562 1", kPy, kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    EXPECT_TRUE(line_with(run.err(), {"note: the kernel refused rtd_d_kfree_skb_tb (the 3 probes on kfree_skb in one program)"}))
        << run.err();
    EXPECT_EQ(run.err().find("run in one"), npos) << run.err();
    for (const char* rule : {"e2e.netfilter", "e2e.no_socket", "e2e.rcvbuf"})
        EXPECT_TRUE(line_with(run.err(), {rule, "tp_btf"})) << rule << ": " << run.err();
    bool reported = false;
    for (const json& e : run.events()) reported = reported || (e["rule"] == "e2e.no_socket" && e["packet"]["dport"] == 5562);
    EXPECT_TRUE(reported) << run.out();
    EXPECT_EQ(leftover_bpf(), "");
}

TEST(HardeningE2E, VanishedTargetSkipsOnlyThatRule)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({kDrops, "--json"}, RTD_BINARY, {faults("vanish=e2e.netfilter")});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("{} {} tcp-connect {} 5561 1", kPy, kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    EXPECT_TRUE(line_with(run.err(), {"e2e.netfilter", "skipped: cannot attach raw_tp to kfree_skb: refused (ENOENT)"})) << run.err();
    bool reported = false;
    for (const json& e : run.events()) reported = reported || (e["rule"] == "e2e.no_socket" && e["packet"]["dport"] == 5561);
    EXPECT_TRUE(reported) << run.out();
}

TEST(HardeningE2E, TwoRunsAtOnceEachCountEveryDrop)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    const std::string rule = RTD_TEST_DATA "/e2e/udp_noport.rule";
    DropTracer one({rule, "--json"});
    DropTracer two({rule, "--json"});
    ASSERT_TRUE(one.ready()) << one.err();
    ASSERT_TRUE(two.ready()) << two.err();
    sh(ns.in_a(fmt::format("{} {} udp-flood {} 7777 300 16", kPy, kTraffic, ns.addr_b)));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(one.stop(), 0) << one.err();
    // The second goes on alone after the first has detached.
    sh(ns.in_a(fmt::format("{} {} udp-flood {} 7777 200 16", kPy, kTraffic, ns.addr_b)));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(two.stop(), 0) << two.err();
    auto c1 = one.counters("e2e.udp_noport"), c2 = two.counters("e2e.udp_noport");
    ASSERT_EQ(c1.size(), 5u) << one.err();
    ASSERT_EQ(c2.size(), 5u) << two.err();
    EXPECT_EQ(c1[1], 300u);
    EXPECT_EQ(c2[1], 500u);
    EXPECT_EQ(one.events().size(), 300u);
    EXPECT_EQ(two.events().size(), 500u);
    EXPECT_EQ(leftover_bpf(), "");
}

TEST(HardeningE2E, MissingKernelBtfSaysHowToGiveIt)
{
    NEED_ROOT_AND_BPF();
    TempFiles dir("btf");
    ASSERT_EQ(sh(fmt::format("cp /sys/kernel/btf/vmlinux {}/vmlinux.btf", dir.path)), 0);
    // In a mount namespace of its own, the kernel's BTF file reads empty.
    const std::string hide = "mount --bind /dev/null /sys/kernel/btf/vmlinux && XDG_CACHE_HOME=/tmp/rtd-e2e-cache ";
    std::string out = sh_script(fmt::format("unshare -m sh -c \"{}{} run {} --duration 1s\"", hide, RTD_BINARY, kDrops));
    EXPECT_NE(out.find("error: cannot read the kernel's BTF at /sys/kernel/btf/vmlinux"), npos) << out;
    EXPECT_NE(out.find("give its BTF with --btf FILE"), npos) << out;
    EXPECT_NE(out.find("rc=1"), npos) << out;

    // Given with --btf, it runs; tp_btf needs the kernel's own file, so raw_tp is used.
    out = sh_script(fmt::format("unshare -m sh -c \"{}{} run {} --duration 1s --btf {}/vmlinux.btf\"", hide, RTD_BINARY, kDrops, dir.path));
    EXPECT_NE(out.find("rc=0"), npos) << out;
    EXPECT_TRUE(line_with(out, {"e2e.no_socket", "raw_tp"})) << out;

    out = sh_script(fmt::format("{} run {} --btf {}/nonexistent.btf", RTD_BINARY, kDrops, dir.path));
    EXPECT_NE(out.find("nonexistent.btf: error: cannot read BTF"), npos) << out;
    EXPECT_NE(out.find("rc=2"), npos) << out;
}

TEST(HardeningE2E, WithoutCapabilitiesSaysWhichAreMissing)
{
    NEED_ROOT_AND_BPF();
    std::string out = sh_script(fmt::format("setpriv --reuid=65534 --regid=65534 --clear-groups {} run {} --duration 1s", RTD_BINARY, kDrops));
    EXPECT_NE(out.find("error: loading BPF programs needs root, or the capabilities CAP_BPF and CAP_PERFMON; this process lacks "
                       "CAP_BPF, CAP_PERFMON"),
              npos)
        << out;
    EXPECT_NE(out.find("hint: run it with sudo"), npos) << out;
    EXPECT_NE(out.find("rc=1"), npos) << out;
    // Monitors need no BPF: --once works without privileges.
    out = sh_script(fmt::format("setpriv --reuid=65534 --regid=65534 --clear-groups {} run snmp --once", RTD_BINARY));
    EXPECT_NE(out.find("rc=0"), npos) << out;
}

TEST(HardeningE2E, TracefsNotMountedGetsMounted)
{
    NEED_ROOT_AND_BPF();
    // A private mount namespace without tracefs: the host's stays as it is.
    std::string out = sh_script(fmt::format(
        "unshare -m sh -c \"umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug/tracing 2>/dev/null; "
        "test -d /sys/kernel/tracing/events && echo still-mounted; XDG_CACHE_HOME=/tmp/rtd-e2e-cache {} run {} --duration 1s\"",
        RTD_BINARY, kDrops));
    EXPECT_EQ(out.find("still-mounted"), npos) << out;
    EXPECT_NE(out.find("note: tracefs was not mounted; mounted it at /sys/kernel/tracing"), npos) << out;
    EXPECT_NE(out.find("rc=0"), npos) << out;
    EXPECT_TRUE(fs::exists("/sys/kernel/tracing/events")) << "the host's tracefs must be untouched";
}

}  // namespace
}  // namespace e2e
