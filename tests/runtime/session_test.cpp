// A run driven as a library (runtime/session.h): what it says goes through a
// StatusSink the test reads, its events to an observer the test holds. The
// kernel tests make real drops between two network namespaces of their own
// (A sends UDP to a port nobody listens on in B: NO_SOCKET).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "runtime/session.h"
#include "tests/e2e/e2e_support.h"

namespace rtd {
namespace {

namespace fs = std::filesystem;

// Keeps every decoded event (the run's thread calls it; the test reads
// after the run).
class Observer : public EventSink {
public:
    void event(const DecodedEvent& e) override
    {
        std::lock_guard<std::mutex> lock(mutex_);
        events.push_back(e);
    }
    void monitor(const MonitorFinding&) override { ++findings; }
    std::size_t seen()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return events.size();
    }
    std::vector<DecodedEvent> events;
    std::size_t findings = 0;

private:
    std::mutex mutex_;
};

// Where event lines go: a file the test may read, closed with it.
struct OutputFile {
    OutputFile() : file(std::tmpfile()) {}
    ~OutputFile() { std::fclose(file); }
    std::FILE* file;
};

TEST(SessionAsLibrary, OnceSaysWhatItReadThroughTheSink)
{
    OutputFile out;
    RunOptions opt;
    opt.rules.inputs = {RTD_SOURCE_DIR "/rules/snmp"};
    opt.once = true;
    opt.output.out = out.file;
    Observer observer;
    opt.output.observer = &observer;
    StringStatus status;
    EXPECT_EQ(run_session(opt, status), kExitOk) << status.text;
    EXPECT_NE(status.text.find("  snmp.listen_overflows"), std::string::npos) << status.text;
    EXPECT_NE(status.text.find("read once"), std::string::npos) << status.text;
    EXPECT_NE(status.text.find("rtrace-drop: " + std::to_string(observer.findings) + " finding(s) from "), std::string::npos)
        << status.text;
}

TEST(SessionAsLibrary, BadRulesAreDiagnosedInClangStyleAndExitTwo)
{
    e2e::TempFiles dir("session-bad");
    const std::string file = dir.path + "/bad.rule";
    std::ofstream(file) << "rule t.x {\n    layer l9\n    probe tracepoint:skb:kfree_skb\n}\n";
    RunOptions opt;
    opt.rules.inputs = {file};
    StringStatus status;
    EXPECT_EQ(run_session(opt, status), kExitBadInput);
    EXPECT_NE(status.text.find("bad.rule:2:"), std::string::npos) << status.text;
    EXPECT_NE(status.text.find(": error: "), std::string::npos) << status.text;
}

TEST(SessionAsLibrary, NothingSelectedIsBadInput)
{
    RunOptions opt;
    opt.rules.inputs = {RTD_TEST_DATA "/e2e/drops.rule"};
    opt.rules.include = {"no.such.*"};
    StringStatus status;
    EXPECT_EQ(run_session(opt, status), kExitBadInput);
    EXPECT_NE(status.text.find("no rule matches no.such.*"), std::string::npos) << status.text;
}

// A run until its first event (or 30 s): its rules report NO_SOCKET drops,
// which come from A to `port` in B once the ready file exists.
struct StackRun {
    int rc = -1;
    StringStatus status;
    Observer observer;
};

void run_until_an_event(RunOptions opt, const e2e::Namespaces& ns, int port, const std::string& dir, StackRun& r)
{
    opt.netns = ns.b;
    opt.where = fmt::format("dport == {}", port);
    opt.output.count = 1;
    opt.duration_ms = 30000;
    opt.ready_file = dir + "/ready";
    fs::remove(opt.ready_file);
    opt.output.observer = &r.observer;
    std::thread traffic([&] {
        for (int i = 0; i < 300 && !fs::exists(opt.ready_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        for (int i = 0; i < 20 && r.observer.seen() == 0 && fs::exists(opt.ready_file); ++i) {
            e2e::sh(ns.in_a(fmt::format("{} {} udp-flood {} {} 1 16", e2e::kPy, e2e::kTraffic, ns.addr_b, port)));
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    });
    r.rc = run_session(opt, r.status);
    traffic.join();
}

void run_with_stacks(bool stacks, StackRun& r)
{
    e2e::Namespaces ns;
    ASSERT_TRUE(ns.ok);
    e2e::TempFiles dir(stacks ? "session-stack" : "session-nostack");
    const std::string rule = dir.path + "/stack.rule";
    std::ofstream(rule) << "rule t.no_socket {\n    layer l4\n    probe tracepoint:skb:kfree_skb\n"
                           "    drop if reason == SKB_DROP_REASON_NO_SOCKET\n    packet skb\n    stack\n}\n";
    OutputFile out;
    RunOptions opt;
    opt.rules.inputs = {rule};
    opt.output.stacks = stacks;
    opt.cache_dir = dir.path + "/cache";
    opt.output.out = out.file;
    run_until_an_event(opt, ns, 5571, dir.path, r);
}

TEST(SessionAsLibrary, RunAttachesReportsAndCounts)
{
    NEED_ROOT_AND_BPF();
    StackRun r;
    run_with_stacks(true, r);
    EXPECT_EQ(r.rc, kExitOk) << r.status.text;
    EXPECT_TRUE(e2e::line_with(r.status.text, {"  t.no_socket ", " tracepoint:skb:kfree_skb ", " tp_btf"})) << r.status.text;
    EXPECT_NE(r.status.text.find("rtrace-drop: ready: 1 of 1 probes attached"), std::string::npos) << r.status.text;
    EXPECT_NE(r.status.text.find("rtrace-drop: only drops in network namespace "), std::string::npos) << r.status.text;
    EXPECT_NE(r.status.text.find("\nRULE "), std::string::npos) << "the counters table\n" << r.status.text;
    ASSERT_EQ(r.observer.events.size(), 1u) << r.status.text;
    const DecodedEvent& e = r.observer.events.front();
    ASSERT_TRUE(e.packet.has_value());
    EXPECT_EQ(e.packet->dport, 5571);
    EXPECT_FALSE(e.stack.empty()) << "the rule asks for the stack and the kernel recorded it";
}

// --no-stack: the kernel does not record the stack (rtd_record_stacks in
// .rodata), so the event carries none at all, not merely an unprinted one.
TEST(SessionAsLibrary, NoStackLeavesTheStackOutOfTheKernelRecord)
{
    NEED_ROOT_AND_BPF();
    StackRun r;
    run_with_stacks(false, r);
    EXPECT_EQ(r.rc, kExitOk) << r.status.text;
    ASSERT_EQ(r.observer.events.size(), 1u) << r.status.text;
    EXPECT_TRUE(r.observer.events.front().stack.empty());
}


// ---- the plan cache (runtime/plan_cache.h)

std::vector<fs::path> kept_plans(const std::string& cache)
{
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cache + "/plans", ec))
        if (e.path().extension() == ".plan") out.push_back(e.path());
    return out;
}

std::string read_all(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// The next run of the same rules loads the kept plan and its object: it
// runs, and reports, with no compiler and no compiled object to be had.
// Editing the rule file is a miss (which needs the compiler); a plan made
// where the kernel offered other attach forms, or a damaged entry, is made
// again.
TEST(PlanCache, KeptPlanRunsWithoutTheCompilerAndAnEditedRuleIsPlannedAgain)
{
    NEED_ROOT_AND_BPF();
    e2e::Namespaces ns;
    ASSERT_TRUE(ns.ok);
    e2e::TempFiles dir("plan-cache");
    const std::string rule = dir.path + "/kept.rule";
    auto write_rule = [&](const char* message) {
        std::ofstream(rule) << "rule t.kept {\n    layer l4\n    probe tracepoint:skb:kfree_skb\n"
                               "    drop if reason == SKB_DROP_REASON_NO_SOCKET\n    packet skb\n    message \""
                            << message << " {packet}\"\n}\n";
    };
    write_rule("first");
    RunOptions opt;
    opt.rules.inputs = {rule};
    opt.cache_dir = dir.path + "/cache";
    opt.where = "dport == 5572";  // as run_until_an_event has it: only the rule's text differs below
    auto quick_run = [&](StringStatus& status) {
        RunOptions o = opt;
        o.duration_ms = 200;
        OutputFile out;
        o.output.out = out.file;
        return run_session(o, status);
    };
    // A run until its drop is reported; the event lines it printed.
    auto event_run = [&](StackRun& r) {
        OutputFile out;
        RunOptions o = opt;
        o.output.out = out.file;
        run_until_an_event(o, ns, 5572, dir.path, r);
        std::fflush(out.file);
        std::rewind(out.file);
        std::string text(4096, '\0');
        text.resize(std::fread(text.data(), 1, text.size(), out.file));
        return text;
    };
    {
        StackRun first;
        event_run(first);
        ASSERT_EQ(first.rc, kExitOk) << first.status.text;
        ASSERT_EQ(first.observer.events.size(), 1u) << first.status.text;
    }
    ASSERT_EQ(kept_plans(opt.cache_dir).size(), 1u);
    for (const auto& e : fs::directory_iterator(opt.cache_dir))
        if (e.path().extension() == ".o") fs::remove(e.path());  // no compiled object to fall back on
    {
        // No compiler to be had in this scope (unset however it is left).
        struct NoCompiler {
            NoCompiler() { ::setenv("RTRACE_DROP_COMPILER_LIBRARY", "/nonexistent/librtd-clang.so", 1); }
            ~NoCompiler() { ::unsetenv("RTRACE_DROP_COMPILER_LIBRARY"); }
        } no_compiler;
        StackRun kept;
        const std::string text = event_run(kept);
        EXPECT_EQ(kept.rc, kExitOk) << kept.status.text;
        ASSERT_EQ(kept.observer.events.size(), 1u) << kept.status.text;
        EXPECT_NE(text.find("first "), std::string::npos) << text;
        EXPECT_TRUE(e2e::line_with(kept.status.text, {"  t.kept ", " tracepoint:skb:kfree_skb ", " tp_btf"})) << kept.status.text;

        // The rule's text is in the key: an edit is compiled, and here it cannot be.
        write_rule("second");
        StringStatus edited;
        EXPECT_EQ(quick_run(edited), kExitFailure) << edited.text;
        EXPECT_NE(edited.text.find("cannot load the compiler library"), std::string::npos) << edited.text;
    }
    {
        StringStatus compiled;
        EXPECT_EQ(quick_run(compiled), kExitOk) << compiled.text;
        EXPECT_EQ(kept_plans(opt.cache_dir).size(), 2u);
    }
    {  // So are the options that shape the code.
        StringStatus filtered;
        RunOptions saved = opt;
        opt.where = "dport == 1";
        EXPECT_EQ(quick_run(filtered), kExitOk) << filtered.text;
        opt = saved;
        EXPECT_EQ(kept_plans(opt.cache_dir).size(), 3u);
        // A setting the plain run compiled out (run_settings.h) is on here.
        StringStatus limited;
        opt.load.rate_limit = 5;
        EXPECT_EQ(quick_run(limited), kExitOk) << limited.text;
        opt = saved;
        EXPECT_EQ(kept_plans(opt.cache_dir).size(), 4u);
    }
    // A plan made under other kernel facts is made again and kept anew; a
    // damaged entry is a miss. Both then run from the compiled object.
    for (const fs::path& plan : kept_plans(opt.cache_dir)) {
        std::string bytes = read_all(plan);
        const std::string facts = "\"kernel_facts\":\"";
        const auto at = bytes.find(facts);
        ASSERT_NE(at, std::string::npos);
        bytes.insert(at + facts.size(), "kprobe ");
        std::ofstream(plan, std::ios::binary | std::ios::trunc) << bytes;
    }
    {
        StringStatus replanned;
        EXPECT_EQ(quick_run(replanned), kExitOk) << replanned.text;
        bool restored = false;
        for (const fs::path& plan : kept_plans(opt.cache_dir)) restored = restored || read_all(plan).find("\"kernel_facts\":\"kprobe ") == std::string::npos;
        EXPECT_TRUE(restored) << "the plan made again replaced the other kernel's";
    }
    for (const fs::path& plan : kept_plans(opt.cache_dir)) fs::resize_file(plan, fs::file_size(plan) / 2);
    StringStatus damaged;
    EXPECT_EQ(quick_run(damaged), kExitOk) << damaged.text;
}

}  // namespace
}  // namespace rtd
