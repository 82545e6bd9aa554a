// Shared by the end-to-end tests: namespaces joined by a veth pair (made
// and removed by each test), `rtrace-drop run` in the background, and
// helpers to read what it reported.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/kernel_support.h"

namespace e2e {

namespace fs = std::filesystem;
using json = nlohmann::json;

inline std::string slurp(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// Starts `cmd` and returns at once (it ends on its own: every command the
// tests start this way is bounded in time).
inline void sh_background(const std::string& cmd) { std::system((cmd + " >/dev/null 2>&1 &").c_str()); }

inline std::string sh_out(const std::string& cmd)
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
        inode_a = inode(a);
        inode_b = inode(b);
        mac_b = sh_out(fmt::format("ip -n {} -br link show {}", b, dev_b));  // "name UP 02:..:.. <...>"
        std::istringstream words(mac_b);
        std::string word;
        for (int i = 0; i < 3 && words >> word; ++i) mac_b = word;
    }
    static std::uint64_t inode(const std::string& ns)
    {
        std::string link = sh_out(fmt::format("ip netns exec {} readlink /proc/self/ns/net", ns));  // net:[4026532245]
        auto open = link.find('['), close = link.find(']');
        return open != std::string::npos && close != std::string::npos ? std::stoull(link.substr(open + 1, close - open - 1)) : 0;
    }
    ~Namespaces()
    {
        sh("ip netns del " + a);
        sh("ip netns del " + b);
    }
    std::string in_a(const std::string& cmd) const { return fmt::format("ip netns exec {} {}", a, cmd); }
    std::string in_b(const std::string& cmd) const { return fmt::format("ip netns exec {} {}", b, cmd); }

    std::string a, b, addr_a, addr_b, dev_a, dev_b, mac_b;
    std::uint64_t inode_a = 0, inode_b = 0;
    bool ok = false;
};

// A scratch folder below /tmp, removed with the object.
struct TempFiles {
    explicit TempFiles(const std::string& tag) : path(fmt::format("/tmp/rtd-e2e-{}-{}", tag, getpid()))
    {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempFiles() { fs::remove_all(path); }
    std::string path;
};

// `rtrace-drop run` in the background, output to files.
class DropTracer {
public:
    // `binary` and `env` (NAME=VALUE) let a test run a copy of the binary
    // in a changed environment (no compiler, an empty cache).
    explicit DropTracer(std::vector<std::string> args, std::string binary = RTD_BINARY, std::vector<std::string> env = {})
        : dir_(fs::temp_directory_path() / fmt::format("rtd-e2e-run-{}-{}", getpid(), ++counter_))
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
            for (std::string& kv : env) putenv(kv.data());
            std::vector<char*> argv{binary.data()};
            for (std::string& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(binary.c_str(), argv.data());
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
    // Sends `sig`, then the exit status (128 + signal when it killed the process).
    int signal(int sig)
    {
        if (status_ >= 0) return status_;
        kill(pid_, sig);
        return wait();
    }
    // Sends `sig` and returns at once (SIGHUP: a reload).
    void signal_only(int sig)
    {
        if (status_ < 0) kill(pid_, sig);
    }
    // Waits until stderr says `text`; false when the process ended first or time ran out.
    bool err_has(const std::string& text, std::chrono::seconds limit = std::chrono::seconds(120))
    {
        auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            if (err().find(text) != std::string::npos) return true;
            int st = 0;
            if (status_ < 0 && waitpid(pid_, &st, WNOHANG) == pid_) {
                status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                return err().find(text) != std::string::npos;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
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
    pid_t pid() const { return pid_; }
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
    // HITS DROPS EVENTS LOST NOISE of a rule in the final counters table.
    std::vector<unsigned long long> counters(const std::string& rule) const
    {
        std::vector<unsigned long long> v = counter_row(rule);
        if (v.size() > 5) v.resize(5);
        return v;
    }
    // The same and the columns that follow (FILTERED, LIMITED), by name.
    std::map<std::string, unsigned long long> counter_columns(const std::string& rule) const
    {
        std::map<std::string, unsigned long long> out;
        std::istringstream lines(err());
        std::vector<std::string> names;
        for (std::string line; std::getline(lines, line);) {
            std::istringstream words(line);
            std::string first;
            words >> first;
            if (first == "RULE") {
                names.clear();
                for (std::string w; words >> w;) names.push_back(w);
            } else if (first == rule) {
                out.clear();
                unsigned long long n = 0;
                for (std::size_t i = 0; i < names.size() && words >> n; ++i) out[names[i]] = n;
            }
        }
        return out;
    }
    std::vector<unsigned long long> counter_row(const std::string& rule) const
    {
        std::istringstream lines(err());
        for (std::string line; std::getline(lines, line);)
            if (line.rfind(rule + " ", 0) == 0) {
                std::istringstream row(line.substr(rule.size()));
                std::vector<unsigned long long> v;
                for (unsigned long long n; row >> n;) v.push_back(n);
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

inline const std::string kDrops = RTD_TEST_DATA "/e2e/drops.rule";

// BPF programs and maps of ours in the kernel now (bpftool lines naming rtd_).
inline std::string loaded_bpf()
{
    std::string out;
    for (const char* what : {"prog", "map"}) {
        std::istringstream lines(sh_out(fmt::format("bpftool {} show", what)));
        for (std::string line; std::getline(lines, line);)
            if (line.find(" name rtd_") != std::string::npos) out += line + '\n';
    }
    return out;
}

// What is still loaded after our processes have exited: the kernel frees a
// map or program in deferred work once its last descriptor closes, so this
// waits up to 5 s for that before reporting what is left.
inline std::string leftover_bpf()
{
    std::string left = loaded_bpf();
    for (int i = 0; i < 100 && !left.empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        left = loaded_bpf();
    }
    return left;
}

// Whether one line of `text` contains every one of `parts`.
inline bool line_with(const std::string& text, std::initializer_list<std::string> parts)
{
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        bool all = true;
        for (const std::string& p : parts) all = all && line.find(p) != std::string::npos;
        if (all) return true;
    }
    return false;
}
inline const std::string kTraffic = RTD_SOURCE_DIR "/tests/e2e/traffic.py";

// The status table a run printed: one row per probe and monitor ("  RULE
// PROBE-OR-SOURCE METHOD-OR-SKIPPED"), in order.
inline std::vector<std::string> status_rows(const std::string& err)
{
    std::vector<std::string> rows;
    std::istringstream lines(err);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("  ", 0) == 0 && line.size() > 2 && line[2] != ' ') rows.push_back(line);
    return rows;
}


// The rules that reported a packet matching `match`.
template <typename Match> std::set<std::string> reporters(const std::vector<json>& events, Match match)
{
    std::set<std::string> rules;
    for (const json& e : events)
        if (match(e)) rules.insert(e["rule"].get<std::string>());
    return rules;
}

// The first event of `rule` matching `match`, or null.
template <typename Match> json first(const std::vector<json>& events, const std::string& rule, Match match)
{
    for (const json& e : events)
        if (e["rule"] == rule && match(e)) return e;
    return nullptr;
}

inline const std::string kPy = "/usr/bin/python3";  // Debian's, which has scapy
inline const std::string kCraft = RTD_SOURCE_DIR "/tests/e2e/craft.py";

// A crafted packet kind of tests/e2e/craft.py, sent from A to B.
inline std::string craft(const Namespaces& ns, const std::string& kind, int port = 9, const std::string& extra = "")
{
    return ns.in_a(fmt::format("{} {} {} {} {} {} {}", kPy, kCraft, ns.dev_a, ns.addr_b, kind, port, extra));
}

// An event of a packet to B's `dport`.
inline bool to_b(const json& e, const Namespaces& ns, int dport)
{
    return e.contains("packet") && e["packet"]["daddr"] == ns.addr_b && e["packet"]["dport"] == dport;
}

// Listens on B's `port` for `seconds` with `backlog`, never accepting.
inline void listen_in_b(const Namespaces& ns, int port, int backlog = 16, double seconds = 6)
{
    sh_background(ns.in_b(fmt::format("{} -c \"import socket,time; s=socket.socket(); "
                                       "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0',{})); "
                                       "s.listen({}); time.sleep({})\"",
                                       kPy, port, backlog, seconds)));
    for (int i = 0; i < 50; ++i) {  // until the port is open
        if (sh_out(ns.in_b(fmt::format("ss -ltnH sport = :{}", port))).find("LISTEN") != std::string::npos) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

// A port nothing listens on now (the kernel's choice).
inline int free_port()
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        return 0;
    close(fd);
    return ntohs(a.sin_port);
}

// A full accept queue on B's `port`: 3 connections wait unaccepted in a
// backlog of 4, then 4 handshakes are completed at once (crafted, A's
// resets dropped); the queue fills between their SYNs and final ACKs, so
// the last ones overflow it.
inline void overflow_accept_queue_crafted(const Namespaces& ns, int port)
{
    listen_in_b(ns, port, 4, 8);
    sh_background(ns.in_a(fmt::format("{} -c \"import socket,time; c=[socket.create_connection(('{}',{})) for _ in range(3)]; "
                                       "time.sleep(6)\"",
                                       kPy, ns.addr_b, port)));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    sh(ns.in_a("iptables -A OUTPUT -p tcp --tcp-flags RST RST -j DROP"));
    sh(craft(ns, "half-open", port, "4"));
}


// What a run plans on this kernel: its status rows once it is ready.
inline std::vector<std::string> planned(std::vector<std::string> args, std::string binary = RTD_BINARY, std::vector<std::string> env = {},
                                        std::chrono::seconds limit = std::chrono::seconds(120))
{
    DropTracer run(std::move(args), std::move(binary), std::move(env));
    bool ready = run.ready(limit);
    int rc = run.stop();
    EXPECT_TRUE(ready && rc == 0) << run.err();
    return status_rows(run.err());
}

// The run's last ledger line (--json), the final one.
inline json final_ledger(const DropTracer& run)
{
    json last;
    for (const json& e : run.events())
        if (e.contains("ledger")) last = e["ledger"];
    return last;
}

// The ledger's row of `counter`, or null.
inline json ledger_row(const json& ledger, const std::string& counter)
{
    if (ledger.is_null()) return {};
    for (const json& r : ledger["counters"])
        if (r["counter"] == counter) return r;
    return {};
}

#define NEED_ROOT_AND_BPF()                                                                            \
    do {                                                                                               \
        RTD_NEED_KERNEL(rtd::test::have_root(), "end-to-end tests need root");                         \
        RTD_NEED_KERNEL(rtd::test::have_kernel_btf(), "end-to-end tests need /sys/kernel/btf/vmlinux"); \
    } while (0)

}  // namespace e2e
