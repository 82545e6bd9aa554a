// Evidence placeholders end to end (runtime/evidence.h, docs/LANGUAGE.md):
// answers looked up in the namespace of the drop, not the tool's, carried
// in the text and the JSON; under a flood, a few look-ups and no event lost.
#include "tests/e2e/e2e_support.h"

namespace e2e {
namespace {

const std::string kRule = RTD_TEST_DATA "/e2e/evidence.rule";

TEST(EvidenceE2E, AnswersComeFromTheDropsNamespace)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    // Settings only B has: loose rp_filter on its veth, a blackhole route.
    ASSERT_EQ(sh(ns.in_b(fmt::format("sysctl -qw net.ipv4.conf.{}.rp_filter=2", ns.dev_b))), 0);
    ASSERT_EQ(sh(ns.in_b("ip route add blackhole 10.77.0.0/16")), 0);
    DropTracer run({kRule, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("{} {} udp-flood {} 7611 3 16", kPy, kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    json e = first(run.events(), "e2e.evidence", [&](const json& ev) { return to_b(ev, ns, 7611); });
    ASSERT_FALSE(e.is_null()) << run.out() << run.err();
    const json& ev = e["evidence"];
    ASSERT_TRUE(ev.is_object()) << e;
    EXPECT_EQ(ev.value(fmt::format("sysctl:net.ipv4.conf.{}.rp_filter", ns.dev_b), ""), "2") << ev;
    EXPECT_EQ(ev.value("route:10.77.1.1", ""), "blackhole") << ev;
    EXPECT_EQ(ev.value("route:" + ns.addr_a, ""), "dev " + ns.dev_b) << ev;
    EXPECT_EQ(ev.value("sysctl:net.ipv4.rtd_no_such_setting", ""), "(no such setting)") << ev;
    EXPECT_EQ(ev.value(fmt::format("neigh:10.99.99.99 dev {}", ns.dev_b), ""), "no entry") << ev;
    EXPECT_EQ(e["message"], fmt::format("rp_filter 2; to 10.77.1.1 blackhole; back dev {}; missing (no such setting)", ns.dev_b));
    EXPECT_EQ(e["hint"], "neighbour 10.99.99.99: no entry");
    EXPECT_NE(run.err().find("evidence: "), std::string::npos) << run.err();
}

// 20,000 drops, each asking the same questions: answered from the cache
// but for about one look-up a second per question, and every drop reported.
TEST(EvidenceE2E, FloodMakesFewLookUpsAndLosesNothing)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({kRule, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();
    const auto start = std::chrono::steady_clock::now();
    sh(ns.in_a(fmt::format("{} {} udp-flood {} 7612 20000 16", kPy, kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::size_t reported = 0;
    for (const json& e : run.events()) reported += e.value("rule", "") == "e2e.evidence" && e["packet"]["dport"] == 7612;
    auto c = run.counter_columns("e2e.evidence");
    EXPECT_EQ(c["LOST"], 0u) << run.err();
    EXPECT_EQ(c["EVENTS"], c["DROPS"]) << run.err();
    EXPECT_GE(reported, 20000u) << run.err();
    // "evidence: N look-up(s) on the system, M answered from the cache, K not made (over 200 a second)"
    const std::string err = run.err();
    std::size_t at = err.find("evidence: ");
    ASSERT_NE(at, std::string::npos) << err;
    unsigned long long lookups = 0, cached = 0, limited = 0;
    ASSERT_EQ(std::sscanf(err.c_str() + at, "evidence: %llu look-up(s) on the system, %llu answered from the cache, %llu not made", &lookups,
                          &cached, &limited),
              3)
        << err;
    std::printf("%zu drops reported in %.1f s: %llu look-ups, %llu from the cache, %llu over the rate bound\n", reported, seconds, lookups, cached,
                limited);
    // Five questions per drop, each asked again once a second at most.
    EXPECT_LE(lookups, 5 * (static_cast<unsigned long long>(seconds) + 3)) << err;
    EXPECT_GE(cached, 5 * 20000ull - lookups - limited) << err;
}

// --summary counts in the kernel and sends no events, but for the first
// drop of each flow: its hint with evidence shows once under the flow's row,
// and the count stays the kernel's (the sample is not counted twice). With
// --count the summary is made from events: the first of each flow gives it.
TEST(EvidenceE2E, SummaryShowsEachFlowsEvidenceOnce)
{
    NEED_ROOT_AND_BPF();
    for (const std::vector<std::string>& args : {std::vector<std::string>{kRule, "--summary"}, {kRule, "--summary", "--count", "43"}}) {
        SCOPED_TRACE(args.back());
        Namespaces ns;
        ASSERT_TRUE(ns.ok);
        DropTracer run(args);
        ASSERT_TRUE(run.ready()) << run.err();
        sh(ns.in_a(fmt::format("{} {} udp-flood {} 7611 40 16", kPy, kTraffic, ns.addr_b)));
        sh(ns.in_a(fmt::format("{} {} udp-flood {} 7612 3 16", kPy, kTraffic, ns.addr_b)));
        EXPECT_EQ(run.stop(), 0) << run.err();
        const std::string out = run.out();
        const std::string hint = "\n  neighbour 10.99.99.99: no entry\n";
        for (int port : {7611, 7612}) {
            const std::string flow = fmt::format("UDP {} > {}:{}", ns.addr_a, ns.addr_b, port);
            const auto row = out.find(flow);
            ASSERT_NE(row, std::string::npos) << out << run.err();
            const auto end = out.find('\n', row);
            unsigned long long n = 0;
            ASSERT_EQ(std::sscanf(out.c_str() + row + flow.size(), "%llu", &n), 1) << out;
            EXPECT_EQ(n, port == 7611 ? 40u : 3u) << out;
            EXPECT_EQ(out.compare(end, hint.size(), hint), 0) << out;
        }
        auto c = run.counter_columns("e2e.evidence");
        EXPECT_EQ(c["LOST"], 0u) << run.err();
        EXPECT_EQ(c["DROPS"], 43u) << run.err();
        EXPECT_EQ(c["EVENTS"], 43u) << run.err();
        EXPECT_NE(run.err().find("evidence: "), std::string::npos) << run.err();
    }
}

}  // namespace
}  // namespace e2e
