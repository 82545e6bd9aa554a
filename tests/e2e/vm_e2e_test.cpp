// Function-probe rules end to end, run inside a QEMU guest that boots a
// stock Debian kernel (`make test-vm`, tests/vm/): there kprobes and BPF
// trampolines work, unlike on the development machines. Real drops between
// namespaces the test makes (veth pair, traffic only between them): a full
// SYN queue and a full accept queue at tcp_conn_request, an iptables DROP at
// ipt_do_table's return, rp_filter at fib_validate_source's return. Not part
// of the host's `make test` (it needs kprobes); built with it.
#include <sys/utsname.h>

#include "tests/e2e/nat_path.h"

namespace e2e {
namespace {

// Everything is slow under emulation: process start ~37x, a cold compile
// tens of seconds.
constexpr auto kReady = std::chrono::seconds(600);

bool have_function_probes()
{
    return fs::exists("/sys/bus/event_source/devices/kprobe") && fs::exists("/sys/kernel/tracing/kprobe_events");
}

#define NEED_FUNCTION_PROBES()                                                                               \
    do {                                                                                                     \
        NEED_ROOT_AND_BPF();                                                                                 \
        RTD_NEED_KERNEL(have_function_probes(), "these tests need kprobes: run them with `make test-vm`");  \
    } while (0)

// One rule set for every test, so the guest compiles it once per attach
// choice (the object cache lives on the guest's /tmp for the whole suite).
std::vector<std::string> function_rules(std::vector<std::string> extra = {})
{
    std::vector<std::string> args{RTD_SOURCE_DIR "/rules/tcp", RTD_SOURCE_DIR "/rules/ip", RTD_SOURCE_DIR "/rules/netfilter",
                                  "-i", "tcp.syn_queue_full", "tcp.accept_queue_full", "netfilter.iptables_drop", "ip.rp_filter",
                                  "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

// How `rule`'s `probe` attached: the status table's method column
// ("fexit", "kretprobe", "skipped: ..."), "" when the line is missing.
std::string status(const DropTracer& run, const std::string& rule, const std::string& probe)
{
    std::istringstream lines(run.err());
    for (std::string line; std::getline(lines, line);) {
        std::size_t at = line.find(" " + probe + " ");
        if (line.find(" " + rule + " ") == std::string::npos || at == std::string::npos) continue;
        std::size_t method = line.find_first_not_of(' ', at + probe.size() + 1);
        return method == std::string::npos ? "" : line.substr(method);
    }
    return "";
}

// A listener in B with `backlog` that never accepts, for `seconds`; waits
// until it listens (python starts slowly under emulation).
void listen_long(const Namespaces& ns, int port, int backlog, int seconds)
{
    sh_background(ns.in_b(fmt::format("{} -c \"import socket,time; s=socket.socket(); s.bind(('0.0.0.0',{})); s.listen({}); "
                                       "time.sleep({})\"",
                                       kPy, port, backlog, seconds)));
    for (int i = 0; i < 600; ++i) {
        if (sh_out(ns.in_b(fmt::format("ss -ltnH sport = :{}", port))).find("LISTEN") != std::string::npos) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

// Debian 12's 6.1 kernel: its trampolines refuse some functions at attach time.
bool on_6_1()
{
    struct utsname u {};
    return uname(&u) == 0 && std::string(u.release).rfind("6.1.", 0) == 0;
}

long capture(const json& e, const std::string& name) { return e["captures"][name].get<long>(); }

TEST(VmE2E, SynQueueFullAtTcpConnRequest)
{
    NEED_FUNCTION_PROBES();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    // B keeps every request half open: A never answers the SYN-ACKs.
    ASSERT_EQ(sh(ns.in_b("sysctl -qw net.ipv4.tcp_syncookies=0")), 0);
    ASSERT_EQ(sh(ns.in_a("iptables-legacy -A INPUT -p tcp --tcp-flags SYN,ACK SYN,ACK -j DROP")), 0) << "iptables-legacy";
    // The dropped SYNs to a pcapng file too, through a pcap filter: both
    // made in a function probe's program on this kernel's verifier.
    const std::string pcap = fmt::format("/tmp/rtd-vm-{}.pcapng", getpid());
    DropTracer run(function_rules({"--pcap", pcap, "--filter", "tcp[tcpflags] & tcp-syn != 0 and dst port 7301"}));
    ASSERT_TRUE(run.ready(kReady)) << run.err();
    listen_long(ns, 7301, 2, 30);
    sh(ns.in_a(fmt::format("{} {} tcp-syns - {} 7301 6 3", kPy, kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    std::size_t syn_drops = 0;
    for (const json& ev : run.events()) syn_drops += ev.value("rule", "") == "tcp.syn_queue_full";
    const std::string shark = sh_out(fmt::format("tshark -r {} -T fields -e frame.comment -e tcp.dstport -e tcp.flags.syn 2>/dev/null", pcap));
    std::istringstream lines(shark);
    std::size_t packets = 0;
    for (std::string line; std::getline(lines, line);)
        if (line.find("tcp.syn_queue_full") != std::string::npos) {
            ++packets;
            EXPECT_EQ(line.rfind("rtrace-drop: tcp.syn_queue_full at ", 0), 0u) << line;
            EXPECT_NE(line.find("\t7301\t"), std::string::npos) << line;
        }
    EXPECT_GE(syn_drops, 1u);
    EXPECT_EQ(packets, syn_drops) << shark;
    fs::remove(pcap);
    json e = first(run.events(), "tcp.syn_queue_full", [&](const json& ev) { return to_b(ev, ns, 7301); });
    ASSERT_FALSE(e.is_null()) << run.out() << run.err();
    EXPECT_EQ(capture(e, "max"), 2);
    EXPECT_GE(capture(e, "qlen"), 2);
    EXPECT_EQ(capture(e, "syncookies"), 0);
    EXPECT_EQ(e["packet"]["tcp_flags"], "S");
    EXPECT_EQ(e["packet"]["saddr"], ns.addr_a);
    EXPECT_EQ(e["netns"], ns.inode_b);
    // The runtime chose a trampoline by itself where the kernel allows one.
    EXPECT_EQ(status(run, "tcp.syn_queue_full", "kprobe:tcp_conn_request"), "fentry") << run.err();
}

// A function-probe rule balances against its counter: every SYN that
// tcp_conn_request drops for a full SYN queue is one TCPReqQFullDrop.
TEST(VmE2E, LedgerBalancesSynQueueFullAgainstTcpReqQFullDrop)
{
    NEED_FUNCTION_PROBES();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    ASSERT_EQ(sh(ns.in_b("sysctl -qw net.ipv4.tcp_syncookies=0")), 0);
    ASSERT_EQ(sh(ns.in_a("iptables-legacy -A INPUT -p tcp --tcp-flags SYN,ACK SYN,ACK -j DROP")), 0) << "iptables-legacy";
    DropTracer run(function_rules({"--ledger", "--netns", ns.b}));
    ASSERT_TRUE(run.ready(kReady)) << run.err();
    listen_long(ns, 7311, 2, 30);
    sh(ns.in_a(fmt::format("{} {} tcp-syns - {} 7311 6 3", kPy, kTraffic, ns.addr_b)));
    const std::string netstat = sh_out(ns.in_b("grep TcpExt: /proc/net/netstat"));
    EXPECT_EQ(run.stop(), 0) << run.err();
    std::string traced;
    for (const json& e : run.events())
        if (e.value("rule", "") == "tcp.syn_queue_full")
            traced += fmt::format("  {} cpu {} qlen={} max={} {}\n", e["time"].dump(), e["cpu"].dump(), capture(e, "qlen"), capture(e, "max"), e["packet"].dump());
    const json ledger = final_ledger(run);
    ASSERT_FALSE(ledger.is_null()) << run.out() << run.err();
    const json r = ledger_row(ledger, "snmp:TcpExtTCPReqQFullDrop");
    ASSERT_FALSE(r.is_null()) << ledger;
    EXPECT_GE(r["counted"].get<int>(), 4) << ledger;
    EXPECT_EQ(r["counted"], r["traced"]) << ledger << "\nevents:\n" << traced << netstat;
    EXPECT_EQ(r["state"], "balanced") << ledger;
}

TEST(VmE2E, AcceptQueueFullAtTcpConnRequest)
{
    NEED_FUNCTION_PROBES();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run(function_rules());
    ASSERT_TRUE(run.ready(kReady)) << run.err();
    listen_long(ns, 7302, 1, 30);
    // Backlog 1 holds two established connections; the rest wait.
    sh(ns.in_a(fmt::format("{} {} tcp-syns - {} 7302 6 3", kPy, kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    json e = first(run.events(), "tcp.accept_queue_full", [&](const json& ev) { return to_b(ev, ns, 7302); });
    ASSERT_FALSE(e.is_null()) << run.out() << run.err();
    EXPECT_EQ(capture(e, "max"), 1);
    EXPECT_GT(capture(e, "backlog"), 1);
    EXPECT_EQ(e["packet"]["saddr"], ns.addr_a);
    EXPECT_EQ(e["netns"], ns.inode_b);    // 6.1 loads fentry on tcp_v4_syn_recv_sock but refuses to attach it:
    // that probe falls back to a kprobe there.
    EXPECT_EQ(status(run, "tcp.accept_queue_full", "kprobe:tcp_conn_request"), "fentry") << run.err();
    EXPECT_EQ(status(run, "tcp.accept_queue_full", "kprobe:tcp_v4_syn_recv_sock"), on_6_1() ? "kprobe" : "fentry") << run.err();
}

// The table name comes from the function's arguments, which a return probe
// sees through fexit here, or through the entry stash with kretprobe.
void iptables_drop(bool force_kprobes)
{
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    ASSERT_EQ(sh(ns.in_b("iptables-legacy -A INPUT -p tcp --dport 7303 -j DROP")), 0) << "iptables-legacy";
    DropTracer run(function_rules(force_kprobes ? std::vector<std::string>{"--no-trampolines"} : std::vector<std::string>{}));
    ASSERT_TRUE(run.ready(kReady)) << run.err();
    sh(ns.in_a(fmt::format("{} {} tcp-connect {} 7303 2", kPy, kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    json e = first(run.events(), "netfilter.iptables_drop", [&](const json& ev) { return to_b(ev, ns, 7303); });
    ASSERT_FALSE(e.is_null()) << run.out() << run.err();
    EXPECT_EQ(e["captures"]["table"], "filter");
    EXPECT_EQ(capture(e, "hook"), 1);  // NF_INET_LOCAL_IN
    EXPECT_EQ(e["packet"]["tcp_flags"], "S");
    EXPECT_EQ(e["netns"], ns.inode_b);
    EXPECT_EQ(status(run, "netfilter.iptables_drop", "kretprobe:ipt_do_table"), force_kprobes ? "kretprobe" : "fexit") << run.err();
}

TEST(VmE2E, IptablesDropAtIptDoTableReturnByFexit)
{
    NEED_FUNCTION_PROBES();
    iptables_drop(false);
}

TEST(VmE2E, IptablesDropAtIptDoTableReturnByKretprobeStash)
{
    NEED_FUNCTION_PROBES();
    iptables_drop(true);
}

// Eight threads blocked in accept() are eight calls in flight, each
// stashed at entry; with a stash of two (RTRACE_DROP_FAULTS=stash=2) at
// least six returns find no arguments: counted as UNSTASHED, never
// evaluated with someone else's. (Eight: the kernel itself keeps at most
// max(10, 2 x CPUs) kretprobe instances per probe; returns beyond that
// never fire, which the guest showed with twelve.)
TEST(VmE2E, StashOverflowIsCountedAsUnstashed)
{
    NEED_FUNCTION_PROBES();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({RTD_TEST_DATA "/e2e/stash_overflow.rule", "--json", "--no-trampolines"}, RTD_BINARY,
                   {"RTRACE_DROP_FAULTS=stash=2"});
    ASSERT_TRUE(run.ready(kReady)) << run.err();
    EXPECT_EQ(status(run, "e2e.accept_return", "kretprobe:inet_csk_accept"), "kretprobe") << run.err();
    sh_background(ns.in_b(fmt::format(
        "{} -c \"import socket,threading; s=socket.socket(); s.bind(('0.0.0.0',7305)); s.listen(64); "
        "ts=[threading.Thread(target=lambda: s.accept()[0].close()) for _ in range(8)]; [t.start() for t in ts]; "
        "[t.join(60) for t in ts]\"",
        kPy)));
    for (int i = 0; i < 600 && sh_out(ns.in_b("ss -ltnH sport = :7305")).find("LISTEN") == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::this_thread::sleep_for(std::chrono::seconds(3));  // every thread blocked in accept()
    for (int i = 0; i < 8; ++i) sh(ns.in_a(fmt::format("{} {} tcp-connect {} 7305 2", kPy, kTraffic, ns.addr_b)));
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(run.stop(), 0) << run.err();
    auto c = run.counter_columns("e2e.accept_return");
    ASSERT_TRUE(c.count("UNSTASHED")) << run.err();
    EXPECT_GE(c["UNSTASHED"], 6u) << run.err();
    EXPECT_EQ(c["UNSTASHED"] + c["HITS"], 8u) << "every return is either evaluated or counted: " << run.err();
    EXPECT_EQ(c["EVENTS"], c["DROPS"]);
    for (const json& e : run.events()) EXPECT_EQ(capture(e, "port"), 7305) << "an evaluated return saw its own arguments";
    EXPECT_NE(run.err().find("kretprobe returns found no entry arguments"), std::string::npos) << run.err();
}

TEST(VmE2E, RpFilterAtFibValidateSource)
{
    NEED_FUNCTION_PROBES();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    // A sends from an address B's routes do not lead back to over this link.
    ASSERT_EQ(sh(fmt::format("ip -n {} addr add 10.99.0.5/32 dev {}", ns.a, ns.dev_a)), 0);
    // B's rp_filter would drop A's ARP request from that address first (it
    // is reported too, as ethertype 0x0806): give A B's address statically.
    ASSERT_EQ(sh(fmt::format("ip -n {} neigh replace {} lladdr {} dev {} nud permanent", ns.a, ns.addr_b, ns.mac_b, ns.dev_a)), 0);
    ASSERT_EQ(sh(ns.in_b(fmt::format("sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.{}.rp_filter=1", ns.dev_b))), 0);
    DropTracer run(function_rules());
    ASSERT_TRUE(run.ready(kReady)) << run.err();
    sh(ns.in_a(fmt::format("{} {} udp-from 10.99.0.5 {} 7304 3", kPy, kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    json e = first(run.events(), "ip.rp_filter", [&](const json& ev) { return to_b(ev, ns, 7304); });
    ASSERT_FALSE(e.is_null()) << run.out() << run.err();
    EXPECT_EQ(e["packet"]["saddr"], "10.99.0.5");
    EXPECT_EQ(e["packet"]["proto"], "UDP");
    EXPECT_EQ(e["packet"]["dev"], ns.dev_b);
    // 6.1 refuses fexit on this eight-argument function (ENOTSUPP at attach):
    // the probe falls back to kretprobe with the entry stash; newer kernels
    // take fexit.
    EXPECT_EQ(status(run, "ip.rp_filter", "kretprobe:fib_validate_source"), on_6_1() ? "kretprobe" : "fexit") << run.err();
}

// run --track with the track pack: between the device hops the
// tracepoints give, the functions the packet passed in the middle namespace
// (netfilter's hooks around the DNAT, IP output) and in the backend's (IP
// receive), each named by its rule.
TEST(VmE2E, TrackPackAddsFunctionHops)
{
    NEED_FUNCTION_PROBES();
    NatPath net;
    ASSERT_TRUE(net.ok);
    DropTracer run({RTD_SOURCE_DIR "/rules/tcp", RTD_SOURCE_DIR "/rules/track", "-i", "tcp.no_socket", "track.*", "--json", "--track"});
    ASSERT_TRUE(run.ready(kReady)) << run.err();
    sh(fmt::format("ip netns exec {} {} {} tcp-connect {} 80 5", net.c, kPy, kTraffic, net.vip));
    EXPECT_EQ(run.stop(), 0) << run.err();
    const std::string how = status(run, "track.ip_rcv", "kprobe:ip_rcv");
    EXPECT_TRUE(how == "fentry" || how == "kprobe") << how << "\n" << run.err();
    json drop = first(run.events(), "tcp.no_socket", [&](const json& e) { return e["packet"]["dport"] == 8080; });
    ASSERT_FALSE(drop.is_null()) << run.out() << run.err();
    const json& path = drop["path"];
    ASSERT_TRUE(path.is_object() && path["hops"].is_array()) << drop;
    for (const json& h : path["hops"]) std::printf("hop %s netns %s %s\n", h["dev"].dump().c_str(), h["netns"].dump().c_str(), h["places"].dump().c_str());
    auto at = [&](const std::string& place, std::uint64_t netns) {
        return hop_where(path, [&](const json& h) {
            for (const json& p : h["places"])
                if (p.get<std::string>().rfind(place, 0) == 0 && h["netns"] == netns) return true;
            return false;
        });
    };
    EXPECT_FALSE(at("track.", net.inode_m).is_null()) << "no function hop in the middle namespace: " << path;
    json rcv = at("track.ip_rcv", net.inode_b);
    ASSERT_FALSE(rcv.is_null()) << path;
    EXPECT_EQ(rcv["daddr"], net.addr_b) << rcv;
    EXPECT_EQ(rcv["dport"], 8080) << rcv;
    // The first hop is kept however many came after it: the client's own.
    EXPECT_EQ(path["hops"][0]["netns"], net.inode_c) << path;
    EXPECT_EQ(path["hops"][0]["daddr"], net.vip) << path;
}

// An object built on the host's kernel (make test-vm builds it) runs here
// without a compiler: CO-RE relocates it against this kernel, module
// functions included, and the drop is reported as from the rule files.
TEST(VmE2E, ObjectBuiltOnAnotherKernelRunsHere)
{
    NEED_FUNCTION_PROBES();
    const char* object = std::getenv("RTD_VM_PREBUILT");
    RTD_NEED_KERNEL(object && fs::exists(object), "RTD_VM_PREBUILT names no object (make test-vm builds one)");
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    ASSERT_EQ(sh(ns.in_b("iptables-legacy -A INPUT -p tcp --dport 7305 -j DROP")), 0) << "iptables-legacy";
    DropTracer run({object, "--json", "-i", "netfilter.iptables_drop", "tcp.*"}, RTD_BINARY, {"RTRACE_DROP_NO_COMPILER=1"});
    ASSERT_TRUE(run.ready(kReady)) << run.err();
    sh(ns.in_a(fmt::format("{} {} tcp-connect {} 7305 2", kPy, kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    json e = first(run.events(), "netfilter.iptables_drop", [&](const json& ev) { return to_b(ev, ns, 7305); });
    ASSERT_FALSE(e.is_null()) << run.out() << run.err();
    EXPECT_EQ(e["captures"]["table"], "filter");
    EXPECT_EQ(capture(e, "hook"), 1);
    EXPECT_EQ(e["netns"], ns.inode_b);
    EXPECT_EQ(status(run, "netfilter.iptables_drop", "kretprobe:ipt_do_table"), "fexit") << run.err();
    EXPECT_EQ(status(run, "tcp.syn_queue_full", "kprobe:tcp_conn_request"), "fentry") << run.err();
}

// The netfilter pack's three function rules each probe a function of its own
// module (ip_tables, nf_tables, nf_conntrack; the guest loads all three):
// each is type-checked against its module's BTF, all three are planned
// together in one run, and check, explain, list and run say the same of them.
TEST(VmE2E, NetfilterModuleRulesAgreeAcrossCommands)
{
    NEED_FUNCTION_PROBES();
    const std::string pack = RTD_SOURCE_DIR "/rules/netfilter";
    const std::string check = sh_out(fmt::format("{} check {} 2>&1", RTD_BINARY, pack));
    EXPECT_NE(check.find("4 rules, 0 monitors OK\n"), std::string::npos) << "none skipped: " << check;
    const std::string explain = sh_out(fmt::format("{} explain {} 2>&1", RTD_BINARY, pack));
    const std::string list = sh_out(fmt::format("{} list {} 2>&1", RTD_BINARY, pack));
    DropTracer run({pack, "--json"});
    ASSERT_TRUE(run.ready(kReady)) << run.err();
    EXPECT_EQ(run.stop(), 0) << run.err();
    const struct {
        const char *rule, *probe, *function, *module;
    } rules[] = {{"netfilter.iptables_drop", "kretprobe:ipt_do_table", "ipt_do_table", "ip_tables"},
                 {"netfilter.nft_drop", "kretprobe:nft_do_chain", "nft_do_chain", "nf_tables"},
                 {"netfilter.conntrack_drop", "kretprobe:nf_conntrack_in", "nf_conntrack_in", "nf_conntrack"}};
    for (std::size_t i = 0; i < std::size(rules); ++i) {
        const auto& r = rules[i];
        EXPECT_NE(explain.find(fmt::format("{} probe {} -> {} (module {})\n", r.rule, r.probe, r.function, r.module)), std::string::npos)
            << explain;
        EXPECT_NE(explain.find(fmt::format("    attach fexit: rtd_{}_0_fx fexit/{}\n", i, r.function)), std::string::npos) << explain;
        EXPECT_TRUE(line_with(list, {std::string(r.rule) + " ", r.probe, "  fexit"})) << list;
        EXPECT_EQ(status(run, r.rule, r.probe), "fexit") << run.err();
    }
    // The tracepoint rule stands in for them only where they cannot run.
    EXPECT_EQ(status(run, "netfilter.drop", "tracepoint:skb:kfree_skb"), "skipped: not needed: netfilter.nft_drop is used instead")
        << run.err();
    EXPECT_TRUE(line_with(list, {"netfilter.drop ", "skipped: not needed: netfilter.nft_drop is used instead"})) << list;
    EXPECT_NE(explain.find("rule netfilter.drop (" + pack + "/drop_points.rule:41): skipped on this kernel"), std::string::npos)
        << explain;
}

// One planner: the packs run from their rules (compiled here, against this
// kernel's BTF) and from the object built of them on the host plan the same
// probes the same way.
TEST(VmE2E, SourceAndPrebuiltRunsPlanTheSameProbes)
{
    NEED_FUNCTION_PROBES();
    const char* object = std::getenv("RTD_VM_PREBUILT");
    RTD_NEED_KERNEL(object && fs::exists(object), "RTD_VM_PREBUILT names no object (make test-vm builds one)");
    std::vector<std::string> from_rules =
        planned({RTD_SOURCE_DIR "/rules/tcp", RTD_SOURCE_DIR "/rules/ip", RTD_SOURCE_DIR "/rules/netfilter"}, RTD_BINARY, {}, kReady);
    std::vector<std::string> from_object = planned({object}, RTD_BINARY, {"RTRACE_DROP_NO_COMPILER=1"}, kReady);
    EXPECT_GT(from_rules.size(), 20u);
    EXPECT_EQ(from_rules, from_object);
}

}  // namespace
}  // namespace e2e
