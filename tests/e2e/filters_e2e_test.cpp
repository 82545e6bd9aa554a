// End to end: filters and rate limits decided in the kernel, and prebuilt
// objects (.rdo) run by a copy of the binary that cannot compile, on real
// drops between namespaces this test makes.
#include "tests/e2e/e2e_support.h"

namespace e2e {
namespace {

const std::string kUdpNoPort = RTD_TEST_DATA "/e2e/udp_noport.rule";

bool to_port(const json& e, const Namespaces& ns, int dport)
{
    return e.contains("packet") && e["packet"]["daddr"] == ns.addr_b && e["packet"]["dport"] == dport;
}

// A filter that refuses the test's flow: its drops never leave the kernel,
// yet the probe's hits and the rule's drops count them.
TEST(FiltersE2E, WhereThatExcludesTheFlowYieldsNoEventsButCounts)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({kDrops, "-i", "e2e.no_socket", "--json", "--where", fmt::format("dport == 1 && daddr == {}", ns.addr_b)});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5561 1", kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    for (const json& e : run.events()) EXPECT_FALSE(to_port(e, ns, 5561)) << e.dump();
    auto c = run.counter_columns("e2e.no_socket");
    ASSERT_TRUE(c.count("FILTERED")) << run.err();
    EXPECT_GT(c["HITS"], 0u);
    EXPECT_GE(c["DROPS"], 1u) << "the refused SYN is still a drop";
    EXPECT_GE(c["FILTERED"], 1u) << run.err();
    EXPECT_EQ(c["EVENTS"] + c["LOST"] + c["FILTERED"], c["DROPS"]) << run.err();
    EXPECT_NE(run.err().find("filter in the kernel: dport == 1 && daddr"), std::string::npos) << run.err();
}

TEST(FiltersE2E, WhereThatMatchesTheFlowYieldsItsEventsOnly)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    std::string net = ns.addr_b.substr(0, ns.addr_b.rfind('.', ns.addr_b.rfind('.') - 1)) + ".0.0/16";  // 10.N.0.0/16
    DropTracer run({kDrops, "-i", "e2e.no_socket", "--json", "--where", fmt::format("dport == 5562 && daddr in {}", net)});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5562 1", kTraffic, ns.addr_b)));
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5563 1", kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    std::vector<json> events = run.events();
    ASSERT_FALSE(events.empty()) << run.err();
    for (const json& e : events) EXPECT_TRUE(to_port(e, ns, 5562)) << "the filter let through " << e.dump();
    EXPECT_EQ(events.front()["packet"]["saddr"], ns.addr_a);
}

// --host, --port and --proto build the same filter; --netns also limits
// drops to that namespace.
TEST(FiltersE2E, ShorthandsFilterLikeWhere)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({kDrops, "-i", "e2e.*", "-e", "e2e.rcvbuf", "--json", "--host", ns.addr_b, "--port", "5564", "--proto", "tcp",
                    "--netns", ns.b});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5564 1", kTraffic, ns.addr_b)));
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} udp-flood {} 5564 5 16", kTraffic, ns.addr_b)));
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5565 1", kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    std::vector<json> events = run.events();
    ASSERT_FALSE(events.empty()) << run.err();
    for (const json& e : events) {
        EXPECT_TRUE(to_port(e, ns, 5564)) << e.dump();
        EXPECT_EQ(e["packet"]["proto"], "TCP") << e.dump();
        EXPECT_EQ(e["netns"], ns.inode_b) << e.dump();
    }
    EXPECT_NE(run.err().find(fmt::format("only drops in network namespace {}", ns.inode_b)), std::string::npos) << run.err();
}

// A rate limit caps events per rule per second in the kernel; the counts
// stay exact and the summary says how many were held back.
TEST(FiltersE2E, RateLimitCapsEventsCountsStayExact)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({kUdpNoPort, "--json", "--rate-limit", "5", "--where", fmt::format("daddr == {}", ns.addr_b)});
    ASSERT_TRUE(run.ready()) << run.err();
    auto start = std::chrono::steady_clock::now();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} udp-flood {} 7777 2000 16", kTraffic, ns.addr_b)));
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(run.stop(), 0) << run.err();
    auto c = run.counter_columns("e2e.udp_noport");
    ASSERT_TRUE(c.count("LIMITED")) << run.err();
    std::size_t events = 0;
    for (const json& e : run.events()) events += to_port(e, ns, 7777);
    EXPECT_GE(events, 1u);
    EXPECT_LE(events, static_cast<std::size_t>(5 * (seconds + 2))) << "at most 5 per one-second window";
    EXPECT_GE(c["DROPS"], 2000u);
    EXPECT_GT(c["LIMITED"], 0u);
    EXPECT_EQ(c["EVENTS"] + c["LOST"] + c["FILTERED"] + c["LIMITED"], c["DROPS"]) << run.err();
    EXPECT_NE(run.err().find("events were suppressed by --rate-limit; the counts above are exact"), std::string::npos) << run.err();
}

// One planner for rule files and built objects: every shipped pack, run from
// its rules and from an object built of them, plans the same probes the same
// way here (and a selection leaves out the same rules).
TEST(PrebuiltE2E, SourceAndBuiltObjectPlanTheSameProbes)
{
    NEED_ROOT_AND_BPF();
    TempFiles scratch("plan");
    const std::string object = scratch.path + "/all.rdo";
    ASSERT_EQ(sh(fmt::format("{} build {} -o {}", RTD_BINARY, RTD_SOURCE_DIR "/rules", object)), 0);
    std::vector<std::string> from_rules = planned({RTD_SOURCE_DIR "/rules"});
    std::vector<std::string> from_object = planned({object});
    EXPECT_GT(from_rules.size(), 50u);
    EXPECT_EQ(from_rules, from_object);
    std::vector<std::string> selected_rules = planned({RTD_SOURCE_DIR "/rules", "-i", "tcp.*", "netfilter.*", "-e", "tcp.no_socket"});
    std::vector<std::string> selected_object = planned({object, "-i", "tcp.*", "netfilter.*", "-e", "tcp.no_socket"});
    EXPECT_EQ(selected_rules, selected_object);
    for (const std::string& row : selected_object) EXPECT_EQ(row.find("tcp.no_socket "), std::string::npos) << row;
}

// --netns with a built object: the namespace is a .rodata value, not code
// compiled in, so the object reports the drops of B and counts A's as
// filtered.
TEST(PrebuiltE2E, NetnsAppliesToABuiltObject)
{
    NEED_ROOT_AND_BPF();
    TempFiles scratch("rdo-netns");
    const std::string object = scratch.path + "/drops.rdo";
    ASSERT_EQ(sh(fmt::format("{} build {} -o {} -i e2e.no_socket", RTD_BINARY, kDrops, object)), 0);
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({object, "--json", "--netns", ns.b});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5567 1", kTraffic, ns.addr_b)));  // dropped in B
    sh(ns.in_b(fmt::format("/usr/bin/python3 {} tcp-connect {} 5567 1", kTraffic, ns.addr_a)));  // dropped in A
    EXPECT_EQ(run.stop(), 0) << run.err();
    std::vector<json> events = run.events();
    ASSERT_FALSE(events.empty()) << run.err();
    for (const json& e : events) EXPECT_EQ(e["netns"], ns.inode_b) << e.dump();
    EXPECT_FALSE(first(events, "e2e.no_socket", [&](const json& e) { return to_port(e, ns, 5567); }).is_null()) << run.out();
    auto c = run.counter_columns("e2e.no_socket");
    ASSERT_TRUE(c.count("FILTERED")) << run.err();
    EXPECT_GE(c["FILTERED"], 1u) << "A's drop is counted, not reported: " << run.err();
    EXPECT_NE(run.err().find(fmt::format("only drops in network namespace {}", ns.inode_b)), std::string::npos) << run.err();
}

// `build` on this machine, `run` of the object by a copy of the binary in
// a process that cannot compile (and has an empty cache): the drop is
// reported as the rule file would report it.
TEST(PrebuiltE2E, BuiltObjectRunsWithoutCompilerOrRuleFiles)
{
    NEED_ROOT_AND_BPF();
    TempFiles scratch("rdo");  // removed however the test ends
    fs::path dir = scratch.path;
    fs::create_directories(dir / "cache");
    // The rule file is copied, built, then removed: the object must not need it.
    fs::copy_file(kDrops, dir / "drops.rule");
    std::string object = (dir / "drops.rdo").string();
    ASSERT_EQ(sh(fmt::format("{} build {} -o {} -e e2e.rcvbuf", RTD_BINARY, (dir / "drops.rule").string(), object)), 0);
    fs::remove(dir / "drops.rule");
    ASSERT_TRUE(fs::exists(object));
    fs::copy_file(RTD_BINARY, dir / "rtrace-drop-copy");
    std::string copy = (dir / "rtrace-drop-copy").string();
    std::vector<std::string> env{"RTRACE_DROP_NO_COMPILER=1", "XDG_CACHE_HOME=" + (dir / "cache").string()};

    {  // The switch works: the same binary cannot run rule files now.
        DropTracer refused({kDrops, "-i", "e2e.no_socket"}, copy, env);
        EXPECT_FALSE(refused.ready());
        EXPECT_EQ(refused.stop(), 1);
        EXPECT_NE(refused.err().find("in-process compilation is disabled"), std::string::npos) << refused.err();
    }

    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({object, "--json", "-i", "e2e.no_socket"}, copy, env);
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5566 1", kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    json e = first(run.events(), "e2e.no_socket", [&](const json& ev) { return to_port(ev, ns, 5566); });
    ASSERT_FALSE(e.is_null()) << run.out() << run.err();
    EXPECT_EQ(e["reason"], "NO_SOCKET");
    EXPECT_EQ(e["packet"]["saddr"], ns.addr_a);
    EXPECT_EQ(e["packet"]["tcp_flags"], "S");
    EXPECT_EQ(e["netns"], ns.inode_b);
    EXPECT_EQ(e["message"], fmt::format("no socket for {}:5566", ns.addr_b));
    // -i applies to the object's rules as to rule files: the rules it leaves
    // out are not loaded, so the status table does not list them.
    EXPECT_EQ(run.err().find("e2e.netfilter"), std::string::npos) << run.err();
    EXPECT_NE(run.err().find("ready: 1 of 1 probes attached"), std::string::npos) << run.err();
    EXPECT_TRUE(fs::is_empty(dir / "cache")) << "nothing was compiled";

    // A filter other than the one built in cannot be applied without a compiler.
    DropTracer filtered({object, "--where", "dport == 1"}, copy, env);
    EXPECT_FALSE(filtered.ready());
    EXPECT_EQ(filtered.stop(), 2);
    EXPECT_NE(filtered.err().find("filters are compiled into the object"), std::string::npos) << filtered.err();
}

// An object built with a filter carries it, and the monitors travel too.
TEST(PrebuiltE2E, ObjectCarriesItsFilterAndMonitors)
{
    NEED_ROOT_AND_BPF();
    TempFiles scratch("rdo2");  // removed however the test ends
    fs::path dir = scratch.path;
    std::string object = (dir / "x.rdo").string();
    ASSERT_EQ(sh(fmt::format("{} build {} {}/rules/snmp -o {} --where 'dport == 5567'", RTD_BINARY, kDrops, RTD_SOURCE_DIR, object)), 0);
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({object, "--json", "-i", "e2e.no_socket", "snmp.*"}, RTD_BINARY, {"RTRACE_DROP_NO_COMPILER=1"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5567 1", kTraffic, ns.addr_b)));
    sh(ns.in_a(fmt::format("/usr/bin/python3 {} tcp-connect {} 5568 1", kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    std::size_t mine = 0;
    for (const json& e : run.events()) {
        if (e["kind"] == "monitor") continue;
        EXPECT_TRUE(to_port(e, ns, 5567)) << e.dump();
        mine += to_port(e, ns, 5567);
    }
    EXPECT_GE(mine, 1u) << run.err();
    EXPECT_NE(run.err().find("filter in the kernel: dport == 5567"), std::string::npos) << run.err();
    EXPECT_NE(run.err().find("36 of 36 monitors polled"), std::string::npos) << run.err();
}

}  // namespace
}  // namespace e2e
