// The shipped packs loaded together against real drops: what holds across
// packs (one drop, one report; 'instead of' and the catch-all with --all;
// noise counted, not printed). Each rule firing on its own drop is proven by
// its pack's cases (rules/*/tests, `packs_self_test`). Crafted packets come
// from scapy (tests/e2e/craft.py). Needs root and BPF (tests/kernel_support.h).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>

#include "tests/e2e/e2e_support.h"

namespace e2e {
namespace {

const std::string kPacks = RTD_SOURCE_DIR "/rules";

// Packets from A to B's `dport` with `proto`, seen in B's namespace.
auto to_b(const Namespaces& ns, const std::string& proto, int dport)
{
    return [&ns, proto, dport](const json& e) {
        return e.contains("packet") && e["packet"]["proto"] == proto && e["packet"]["daddr"] == ns.addr_b &&
               e["packet"]["dport"] == dport && e["netns"] == ns.inode_b;
    };
}

struct PackRun {
    Namespaces ns;
    std::unique_ptr<DropTracer> tracer;
    explicit PackRun(std::vector<std::string> extra = {})
    {
        std::vector<std::string> args{kPacks, "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        tracer = std::make_unique<DropTracer>(args);
    }
    std::vector<json> stop()
    {
        EXPECT_EQ(tracer->stop(), 0) << tracer->err();
        return tracer->events();
    }
};

#define START(run)                                              \
    ASSERT_TRUE((run).ns.ok);                                   \
    ASSERT_TRUE((run).tracer->ready()) << (run).tracer->err()

TEST(PacksE2E, FunctionProbesSkippedEveryTracepointRuleAttached)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    run.stop();
    std::string err = run.tracer->err();
    std::istringstream lines(err);
    int tracepoints = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.find("tracepoint:") != std::string::npos) {
            bool attached = line.find("tp_btf") != std::string::npos || line.find("raw_tp") != std::string::npos;
            bool stood_down = line.find("skipped: not needed: ") != std::string::npos;
            EXPECT_TRUE(attached || stood_down) << line;
            tracepoints += attached;
        }
        bool function_probe = line.find(" kprobe:") != std::string::npos || line.find(" kretprobe:") != std::string::npos;
        if (function_probe && !fs::exists("/sys/bus/event_source/devices/kprobe") &&
            err.find("BPF trampolines available") == std::string::npos)
            EXPECT_NE(line.find("skipped: kernel has no kprobes and refuses BPF trampolines"), std::string::npos) << line;
        else if (function_probe)
            EXPECT_EQ(line.find("skipped: kernel has no kprobes"), std::string::npos) << line;
    }
    EXPECT_GE(tracepoints, 20) << err;
}

TEST(PacksE2E, TcpBadChecksumTracepointWithAll)
{
    NEED_ROOT_AND_BPF();
    PackRun run({"--all"});
    START(run);
    listen_in_b(run.ns, 7202);
    sh(craft(run.ns, "tcp-bad-csum", 7202));
    auto events = run.stop();
    auto match = to_b(run.ns, "TCP", 7202);
    // With --all the 'instead of' form and the fallback report it too.
    EXPECT_EQ(reporters(events, match), (std::set<std::string>{"tcp.bad_checksum", "tcp.bad_checksum_event", "reasons.other"}))
        << run.tracer->out();
}

// One drop, one report, with every pack loaded: each of these drops (each
// proven on its own by its pack's cases, rules/*/tests) is reported by
// exactly its rule, not also by a neighbour or the catch-all.
TEST(PacksE2E, EveryPackLoadedEachDropHasOneReporter)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    listen_in_b(run.ns, 7201);
    listen_in_b(run.ns, 7203);
    sh(craft(run.ns, "tcp-bad-csum", 7201));
    sh(craft(run.ns, "tcp-fin", 7203));
    sh(run.ns.in_a(fmt::format("{} {} udp-flood {} 7208 1 10", kPy, kTraffic, run.ns.addr_b)));
    sh(run.ns.in_a(fmt::format("{} {} tcp-connect {} 7205 1", kPy, kTraffic, run.ns.addr_b)));
    sh(craft(run.ns, "ip-bad-csum", 7212));
    sh(craft(run.ns, "dup-fragment", 7214));
    auto events = run.stop();
    const std::pair<std::string, std::pair<const char*, int>> expected[] = {
        {"tcp.bad_checksum", {"TCP", 7201}}, {"tcp.protocol", {"TCP", 7203}},  {"udp.no_socket", {"UDP", 7208}},
        {"tcp.no_socket", {"TCP", 7205}},    {"ip.bad_header", {"UDP", 7212}}, {"ip.fragment_overlap", {"UDP", 7214}},
    };
    for (const auto& [rule, flow] : expected)
        EXPECT_EQ(reporters(events, to_b(run.ns, flow.first, flow.second)), std::set<std::string>{rule}) << flow.second << "\n" << run.tracer->out();
}

TEST(PacksE2E, FallbackReportsReasonsNoOtherRuleNames)
{
    NEED_ROOT_AND_BPF();
    PackRun run;
    START(run);
    sh(craft(run.ns, "no-proto"));
    auto events = run.stop();
    auto match = [&](const json& e) {
        return e.contains("packet") && e["packet"]["daddr"] == run.ns.addr_b && e["packet"]["proto"] == "proto 253";
    };
    EXPECT_EQ(reporters(events, match), std::set<std::string>{"reasons.other"}) << run.tracer->out();
    json e = first(events, "reasons.other", match);
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["reason"], "IP_NOPROTO");
    EXPECT_EQ(e["message"].get<std::string>().rfind("IP_NOPROTO at ip_local_deliver", 0), 0u) << e["message"];
    EXPECT_NE(e["hint"].get<std::string>().find("no handler for this IP protocol"), std::string::npos) << e["hint"];
}

TEST(PacksE2E, NoiseIsCountedNotReportedUnlessAll)
{
    NEED_ROOT_AND_BPF();
    // A UDP socket closed with unread datagrams frees them (NOT_SPECIFIED in
    // udp_destruct_common): housekeeping, not a drop.
    auto purge = [](const Namespaces& ns) {
        sh_background(ns.in_b(fmt::format("{} -c \"import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                                          "s.bind(('0.0.0.0',7220)); time.sleep(1); s.close(); time.sleep(0.5)\"",
                                          kPy)));
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        sh(ns.in_a(fmt::format("{} {} udp-flood {} 7220 3 100", kPy, kTraffic, ns.addr_b)));
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    };
    auto purged = [](const std::vector<json>& events, const Namespaces& ns) {
        for (const json& e : events)
            if (e["rule"] == "reasons.other" && e["reason"] == "NOT_SPECIFIED" && e.contains("packet") && e["packet"]["dport"] == 7220 &&
                e["packet"]["daddr"] == ns.addr_b)
                return true;
        return false;
    };
    {
        PackRun run;
        START(run);
        purge(run.ns);
        auto events = run.stop();
        EXPECT_FALSE(purged(events, run.ns)) << run.tracer->out();
        auto c = run.tracer->counters("reasons.other");
        ASSERT_EQ(c.size(), 5u) << run.tracer->err();
        EXPECT_GT(c[4], 0u) << "the purge is counted as noise\n" << run.tracer->err();
    }
    {
        PackRun run({"--all"});
        START(run);
        purge(run.ns);
        EXPECT_TRUE(purged(run.stop(), run.ns)) << run.tracer->out();
    }
}

}  // namespace
}  // namespace e2e
