// End to end: `rtrace-drop run` against real drops made in network
// namespaces this test creates (a veth pair between two of them), with
// traffic only inside them. Every test removes its namespaces and leaves no
// BPF program behind. Needs root and BPF (tests/kernel_support.h).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/kernel_support.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string slurp(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

std::string sh_out(const std::string& cmd)
{
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
        char buf[4096];
        while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
        pclose(p);
    }
    return out;
}

// Two namespaces joined by a veth pair: A (10.N.0.1) and B (10.N.0.2).
class Namespaces {
public:
    Namespaces()
    {
        int n = 100 + getpid() % 100;
        a = fmt::format("rtd-e2e-{}-a", getpid());
        b = fmt::format("rtd-e2e-{}-b", getpid());
        addr_a = fmt::format("10.{}.0.1", n);
        addr_b = fmt::format("10.{}.0.2", n);
        dev_a = fmt::format("rtdv{}a", getpid() % 100000);
        dev_b = fmt::format("rtdv{}b", getpid() % 100000);
        ok = sh("ip netns add " + a) == 0 && sh("ip netns add " + b) == 0 &&
             sh(fmt::format("ip link add {} type veth peer name {}", dev_a, dev_b)) == 0 &&
             sh(fmt::format("ip link set {} netns {}", dev_a, a)) == 0 && sh(fmt::format("ip link set {} netns {}", dev_b, b)) == 0 &&
             sh(fmt::format("ip -n {} addr add {}/24 dev {}", a, addr_a, dev_a)) == 0 &&
             sh(fmt::format("ip -n {} addr add {}/24 dev {}", b, addr_b, dev_b)) == 0 &&
             sh(fmt::format("ip -n {} link set {} up", a, dev_a)) == 0 && sh(fmt::format("ip -n {} link set {} up", b, dev_b)) == 0 &&
             sh(fmt::format("ip -n {} link set lo up", a)) == 0 && sh(fmt::format("ip -n {} link set lo up", b)) == 0;
        std::string link = sh_out(fmt::format("ip netns exec {} readlink /proc/self/ns/net", b));  // net:[4026532245]
        auto open = link.find('['), close = link.find(']');
        if (open != std::string::npos && close != std::string::npos) inode_b = std::stoull(link.substr(open + 1, close - open - 1));
    }
    ~Namespaces()
    {
        sh("ip netns del " + a);
        sh("ip netns del " + b);
    }
    std::string in_a(const std::string& cmd) const { return fmt::format("ip netns exec {} {}", a, cmd); }
    std::string in_b(const std::string& cmd) const { return fmt::format("ip netns exec {} {}", b, cmd); }

    std::string a, b, addr_a, addr_b, dev_a, dev_b;
    std::uint64_t inode_b = 0;
    bool ok = false;
};

// `rtrace-drop run` in the background, output to files.
class DropTracer {
public:
    explicit DropTracer(std::vector<std::string> args) : dir_(fs::temp_directory_path() / fmt::format("rtd-e2e-run-{}-{}", getpid(), ++counter_))
    {
        fs::create_directories(dir_);
        ready_ = (dir_ / "ready").string();
        args.insert(args.begin(), "run");
        args.push_back("--ready-file");
        args.push_back(ready_);
        pid_ = fork();
        if (pid_ == 0) {
            if (!std::freopen((dir_ / "out").c_str(), "w", stdout) || !std::freopen((dir_ / "err").c_str(), "w", stderr)) _exit(126);
            // A cache shared by the tests of this run keeps them quick.
            setenv("XDG_CACHE_HOME", "/tmp/rtd-e2e-cache", 1);
            std::vector<char*> argv{const_cast<char*>(RTD_BINARY)};
            for (std::string& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(RTD_BINARY, argv.data());
            _exit(127);
        }
    }
    ~DropTracer()
    {
        if (pid_ > 0 && status_ < 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        fs::remove_all(dir_);
    }
    // Waits for the ready file (the compile may be cold and sanitized).
    bool ready(std::chrono::seconds limit = std::chrono::seconds(120))
    {
        auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            if (fs::exists(ready_)) return true;
            int st = 0;
            if (waitpid(pid_, &st, WNOHANG) == pid_) {
                status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }
    // Ctrl-C, then the exit status.
    int stop()
    {
        if (status_ >= 0) return status_;
        kill(pid_, SIGINT);
        return wait();
    }
    int wait(std::chrono::seconds limit = std::chrono::seconds(60))
    {
        auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            int st = 0;
            if (waitpid(pid_, &st, WNOHANG) == pid_) return status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return -1;
    }
    std::string out() const { return slurp((dir_ / "out").string()); }
    std::string err() const { return slurp((dir_ / "err").string()); }
    std::vector<json> events() const
    {
        std::vector<json> out;
        std::istringstream lines(this->out());
        for (std::string line; std::getline(lines, line);)
            if (!line.empty()) out.push_back(json::parse(line));
        return out;
    }
    // HITS DROPS EVENTS LOST of a rule in the final counters table.
    std::vector<unsigned long long> counters(const std::string& rule) const
    {
        std::istringstream lines(err());
        for (std::string line; std::getline(lines, line);)
            if (line.rfind(rule + " ", 0) == 0) {
                std::istringstream row(line.substr(rule.size()));
                std::vector<unsigned long long> v(4);
                row >> v[0] >> v[1] >> v[2] >> v[3];
                return v;
            }
        return {};
    }

private:
    static inline int counter_ = 0;
    fs::path dir_;
    std::string ready_;
    pid_t pid_ = -1;
    int status_ = -1;
};

const std::string kDrops = RTD_TEST_DATA "/e2e/drops.rule";

// Whether one line of `text` contains every one of `parts`.
bool line_with(const std::string& text, std::initializer_list<std::string> parts)
{
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        bool all = true;
        for (const std::string& p : parts) all = all && line.find(p) != std::string::npos;
        if (all) return true;
    }
    return false;
}
const std::string kTraffic = RTD_SOURCE_DIR "/tests/e2e/traffic.py";

#define NEED_ROOT_AND_BPF()                                                                            \
    do {                                                                                               \
        RTD_NEED_KERNEL(rtd::test::have_root(), "end-to-end tests need root");                         \
        RTD_NEED_KERNEL(rtd::test::have_kernel_btf(), "end-to-end tests need /sys/kernel/btf/vmlinux"); \
    } while (0)

// The events of `rule` whose packet went to B's port `dport` in B's namespace.
std::vector<json> matching(const std::vector<json>& events, const std::string& rule, const Namespaces& ns, int dport)
{
    std::vector<json> out;
    for (const json& e : events)
        if (e["rule"] == rule && e.contains("packet") && e["packet"]["dport"] == dport && e["packet"]["daddr"] == ns.addr_b &&
            e["packet"]["netns"] == ns.inode_b)
            out.push_back(e);
    return out;
}

TEST(RunE2E, IptablesDropOfTcpSyn)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    ASSERT_EQ(sh(ns.in_b("iptables -A INPUT -p tcp --dport 5555 -j DROP")), 0) << "iptables is needed (Debian: iptables)";
    DropTracer run({kDrops, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("python3 {} tcp-connect {} 5555 1.5", kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();

    auto events = matching(run.events(), "e2e.netfilter", ns, 5555);
    ASSERT_FALSE(events.empty()) << run.out() << run.err();
    const json& e = events.front();
    EXPECT_EQ(e["reason"], "NETFILTER_DROP");
    EXPECT_EQ(e["layer"], "l3");
    EXPECT_EQ(e["packet"]["proto"], "TCP");
    EXPECT_EQ(e["packet"]["saddr"], ns.addr_a);
    EXPECT_EQ(e["packet"]["tcp_flags"], "S");
    EXPECT_GT(e["packet"]["sport"].get<int>(), 1023);
    EXPECT_EQ(e["packet"]["dev"], ns.dev_b);
    EXPECT_GT(e["packet"]["ifindex"].get<int>(), 0);
    EXPECT_EQ(e["netns"], ns.inode_b);
    EXPECT_NE(e["location"].get<std::string>().find("+0x"), std::string::npos);
    EXPECT_EQ(e["message"], fmt::format("netfilter dropped {}:{} > {}:5555 TCP [S]", ns.addr_a, e["packet"]["sport"].get<int>(), ns.addr_b));
    for (const char* key : {"time", "captures", "comm", "pid", "cpu"}) EXPECT_TRUE(e.contains(key)) << key;
}

TEST(RunE2E, SynToClosedPortIsNoSocket)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer run({kDrops, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();
    sh(ns.in_a(fmt::format("python3 {} tcp-connect {} 5556 1", kTraffic, ns.addr_b)));
    EXPECT_EQ(run.stop(), 0) << run.err();
    auto events = matching(run.events(), "e2e.no_socket", ns, 5556);
    ASSERT_EQ(events.size(), 1u) << run.out();
    EXPECT_EQ(events[0]["reason"], "NO_SOCKET");
    EXPECT_EQ(events[0]["packet"]["tcp_flags"], "S");
    EXPECT_EQ(events[0]["packet"]["saddr"], ns.addr_a);
    EXPECT_EQ(events[0]["message"], fmt::format("no socket for {}:5556", ns.addr_b));
}

TEST(RunE2E, UdpReceiveBufferFullCapturesSocketMemory)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    std::string rcvbuf_file = fmt::format("/tmp/rtd-e2e-rcvbuf-{}", getpid());
    DropTracer run({kDrops, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();
    // B binds with a tiny receive buffer and never reads; A sends 200 datagrams.
    std::string sink = ns.in_b(fmt::format("python3 {} udp-sink 6000 4096 4 {}", kTraffic, rcvbuf_file));
    std::thread receiver([&] { sh(sink); });
    for (int i = 0; i < 100 && !fs::exists(rcvbuf_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    sh(ns.in_a(fmt::format("python3 {} udp-flood {} 6000 200 1000", kTraffic, ns.addr_b)));
    receiver.join();
    EXPECT_EQ(run.stop(), 0) << run.err();
    long rcvbuf = std::stol(slurp(rcvbuf_file));
    fs::remove(rcvbuf_file);

    auto events = matching(run.events(), "e2e.rcvbuf", ns, 6000);
    ASSERT_FALSE(events.empty()) << run.out() << run.err();
    for (const json& e : events) {
        EXPECT_EQ(e["reason"], "SOCKET_RCVBUFF");
        EXPECT_EQ(e["packet"]["proto"], "UDP");
        EXPECT_EQ(e["captures"]["rcvbuf"], rcvbuf);  // what SO_RCVBUF reports for the socket
        EXPECT_GT(e["captures"]["rmem"].get<long>(), 0);
        EXPECT_LE(e["captures"]["rmem"].get<long>(), rcvbuf + 65536);
    }
}

TEST(RunE2E, RingBufferOverflowLosesEventsNeverCounts)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    auto no_ports = [&] {
        // Udp: InDatagrams NoPorts ... (the second "Udp:" line holds the values)
        std::istringstream snmp(sh_out(ns.in_b("cat /proc/net/snmp")));
        std::vector<std::string> header, values;
        for (std::string line; std::getline(snmp, line);) {
            if (line.rfind("Udp: ", 0) != 0) continue;
            std::istringstream words(line.substr(5));
            std::vector<std::string>& into = header.empty() ? header : values;
            for (std::string w; words >> w;) into.push_back(w);
        }
        for (std::size_t i = 0; i < header.size() && i < values.size(); ++i)
            if (header[i] == "NoPorts") return std::stoull(values[i]);
        return 0ull;
    };
    // The smallest ring buffer and a large event (with a stack): most events
    // cannot fit while the burst lasts.
    DropTracer run({RTD_TEST_DATA "/e2e/udp_noport.rule", "--json", "--ring-size", "4096"});
    ASSERT_TRUE(run.ready()) << run.err();
    unsigned long long before = no_ports();
    sh(ns.in_a(fmt::format("python3 {} udp-flood {} 7777 20000 16", kTraffic, ns.addr_b)));
    unsigned long long dropped = no_ports() - before;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(run.stop(), 0) << run.err();

    auto c = run.counters("e2e.udp_noport");
    ASSERT_EQ(c.size(), 4u) << run.err();
    EXPECT_GT(dropped, 10000ull);
    EXPECT_EQ(c[1], dropped) << "the drop count must equal the kernel's UDP NoPorts count";
    EXPECT_EQ(c[2] + c[3], c[1]) << "every drop is either an event or a lost event";
    EXPECT_GT(c[3], 0ull) << "a 4 KiB ring buffer should overflow in this burst";
    EXPECT_EQ(run.events().size(), c[2]) << "every emitted event is reported";
    EXPECT_NE(run.err().find("events were lost (ring buffer full); the counts above are exact"), std::string::npos) << run.err();
}

TEST(RunE2E, CtrlCDetachesEverything)
{
    NEED_ROOT_AND_BPF();
    DropTracer run({kDrops, "--json"});
    ASSERT_TRUE(run.ready()) << run.err();
    std::string during = sh_out("bpftool prog show");
    EXPECT_NE(during.find("rtd_"), std::string::npos) << "programs should be loaded while attached";
    EXPECT_EQ(run.stop(), 0) << run.err();
    std::string after = sh_out("bpftool prog show");
    EXPECT_EQ(after.find("rtd_"), std::string::npos) << after;
}

TEST(RunE2E, FunctionProbesUseWhatTheKernelOffers)
{
    NEED_ROOT_AND_BPF();
    DropTracer run({kDrops, "--json", "--duration", "1s"});
    ASSERT_TRUE(run.ready()) << run.err();
    EXPECT_EQ(run.wait(), 0) << run.err();
    std::string err = run.err();
    bool kprobes = fs::exists("/sys/bus/event_source/devices/kprobe");
    if (!kprobes && err.find("BPF trampolines available") == std::string::npos) {
        // This project's machines: no kprobes, trampolines refused.
        EXPECT_TRUE(line_with(err, {"e2e.function_probe", "kprobe:tcp_conn_request",
                                    "skipped: kernel has no kprobes and refuses BPF trampolines"}))
            << err;
    } else {
        EXPECT_TRUE(line_with(err, {"e2e.function_probe", "kprobe:tcp_conn_request", "fentry"}) ||
                    line_with(err, {"e2e.function_probe", "kprobe:tcp_conn_request", "kprobe"}))
            << err;
    }
    // The tracepoint rules attach either way.
    EXPECT_TRUE(line_with(err, {"e2e.netfilter", "tracepoint:skb:kfree_skb", "tp_btf"})) << err;
    EXPECT_NE(err.find("rtrace-drop: ready: "), std::string::npos);
}

TEST(RunE2E, StrictRefusesSkippedProbesAndNothingAttachableFails)
{
    NEED_ROOT_AND_BPF();
    if (fs::exists("/sys/bus/event_source/devices/kprobe")) GTEST_SKIP() << "this kernel can attach function probes";
    DropTracer strict({kDrops, "--strict", "--duration", "1s"});
    EXPECT_EQ(strict.wait(), 2) << strict.err();
    EXPECT_NE(strict.err().find("skipped and --strict is set"), std::string::npos) << strict.err();

    std::string only_function = fmt::format("/tmp/rtd-e2e-fn-{}.rule", getpid());
    std::ofstream(only_function) << "rule e2e.fn {\n layer l4\n probe kprobe:tcp_conn_request\n}\n";
    DropTracer none({only_function, "--duration", "1s"});
    EXPECT_EQ(none.wait(), 1) << none.err();
    EXPECT_NE(none.err().find("nothing could be attached on this kernel"), std::string::npos) << none.err();
    fs::remove(only_function);
}

TEST(RunE2E, TextOutputAndSummary)
{
    NEED_ROOT_AND_BPF();
    Namespaces ns;
    ASSERT_TRUE(ns.ok);
    DropTracer text({kDrops, "--hints", "--count", "1"});
    ASSERT_TRUE(text.ready()) << text.err();
    sh(ns.in_a(fmt::format("python3 {} tcp-connect {} 5557 1", kTraffic, ns.addr_b)));
    EXPECT_EQ(text.wait(), 0) << text.err();  // --count 1 ends it
    EXPECT_NE(text.out().find(fmt::format("l4 e2e.no_socket {}:", ns.addr_a)), std::string::npos) << text.out();
    EXPECT_NE(text.out().find(fmt::format("> {}:5557 TCP [S] dev {} netns {}: no socket for {}:5557", ns.addr_b, ns.dev_b, ns.inode_b,
                                          ns.addr_b)),
              std::string::npos)
        << text.out();

    DropTracer summary({kDrops, "--summary"});
    ASSERT_TRUE(summary.ready()) << summary.err();
    for (int i = 0; i < 3; ++i) sh(ns.in_a(fmt::format("python3 {} tcp-connect {} 5558 1", kTraffic, ns.addr_b)));
    EXPECT_EQ(summary.stop(), 0) << summary.err();
    EXPECT_NE(summary.out().find(fmt::format("TCP {} > {}:5558", ns.addr_a, ns.addr_b)), std::string::npos) << summary.out();
    EXPECT_NE(summary.out().find("RULE"), std::string::npos);
}

TEST(RunE2E, BadInputExitsTwo)
{
    NEED_ROOT_AND_BPF();
    DropTracer bad({RTD_TEST_DATA "/failure/unknown_clause.rule"});
    EXPECT_EQ(bad.wait(), 2);
    EXPECT_NE(bad.err().find("unknown clause 'captrue'"), std::string::npos) << bad.err();
    DropTracer duration({kDrops, "--duration", "soon"});
    EXPECT_EQ(duration.wait(), 2);
    DropTracer ring({kDrops, "--ring-size", "5000"});
    EXPECT_EQ(ring.wait(), 2);
}

}  // namespace
