// A run driven as a library (runtime/session.h): what it says goes through a
// StatusSink the test reads, its events to an observer the test holds. The
// kernel tests make real drops between two network namespaces of their own
// (A sends UDP to a port nobody listens on in B: NO_SOCKET).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

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

// A run of a rule that records the kernel stack, until its first event; the
// drops come from A to B once the ready file exists.
struct StackRun {
    int rc = -1;
    StringStatus status;
    Observer observer;
};

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
    opt.netns = ns.b;
    opt.where = "dport == 5571";
    opt.output.count = 1;
    opt.duration_ms = 30000;
    opt.output.stacks = stacks;
    opt.ready_file = dir.path + "/ready";
    opt.cache_dir = dir.path + "/cache";
    opt.output.out = out.file;
    opt.output.observer = &r.observer;
    std::thread traffic([&] {
        for (int i = 0; i < 300 && !fs::exists(opt.ready_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        for (int i = 0; i < 20 && r.observer.seen() == 0; ++i) {
            e2e::sh(ns.in_a(fmt::format("{} {} udp-flood {} 5571 1 16", e2e::kPy, e2e::kTraffic, ns.addr_b)));
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    });
    r.rc = run_session(opt, r.status);
    traffic.join();
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

}  // namespace
}  // namespace rtd
