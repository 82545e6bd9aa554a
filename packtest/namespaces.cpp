#include "packtest/namespaces.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <sstream>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runtime/netns.h"

namespace rtd::packtest {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "rtdt-";
std::atomic<unsigned> g_sequence{0};

bool is_ipv6(const std::string& cidr) { return cidr.find(':') != std::string::npos; }

// Every process whose network namespace has `inode` (the runner excepted).
void kill_processes_in(std::uint64_t inode)
{
    const std::string want = fmt::format("net:[{}]", inode);
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator("/proc", ec)) {
        const std::string pid = e.path().filename().string();
        if (pid.empty() || !std::all_of(pid.begin(), pid.end(), ::isdigit) || std::stoi(pid) == getpid()) continue;
        std::error_code link_ec;
        fs::path link = fs::read_symlink(e.path() / "ns" / "net", link_ec);
        if (!link_ec && link.string() == want) ::kill(std::stoi(pid), SIGKILL);
    }
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, const std::string& netns_path, const std::string& input, int timeout_ms)
{
    CommandResult result;
    if (argv.empty()) return result;
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return result;
    if (::pipe2(out, O_CLOEXEC) != 0) {
        ::close(in[0]), ::close(in[1]);
        return result;
    }
    int ns_fd = netns_path.empty() ? -1 : ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (!netns_path.empty() && ns_fd < 0) {
        result.output = fmt::format("cannot open {}: {}", netns_path, std::strerror(errno));
        ::close(in[0]), ::close(in[1]), ::close(out[0]), ::close(out[1]);
        return result;
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNET) != 0) ::_exit(126);
        ::dup2(in[0], 0), ::dup2(out[1], 1), ::dup2(out[1], 2);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    if (ns_fd >= 0) ::close(ns_fd);
    ::close(in[0]), ::close(out[1]);
    if (pid < 0) {
        ::close(in[1]), ::close(out[0]);
        result.output = fmt::format("fork failed: {}", std::strerror(errno));
        return result;
    }
    if (!input.empty()) {
        std::signal(SIGPIPE, SIG_IGN);
        ssize_t n = ::write(in[1], input.data(), input.size());
        (void)n;
    }
    ::close(in[1]);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    bool timed_out = false;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        char buf[4096];
        ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        if (result.output.size() < (64u << 10)) result.output.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (timed_out) result.output += fmt::format("\n(killed after {} ms)", timeout_ms);
    else if (WIFEXITED(status)) result.status = WEXITSTATUS(status);
    if (result.status == 127) result.output += fmt::format("cannot run {}", argv[0]);
    return result;
}

void sweep_stale_namespaces()
{
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator("/run/netns", ec)) {
        const std::string name = e.path().filename().string();
        if (name.rfind(kPrefix, 0) != 0) continue;
        int pid = std::atoi(name.c_str() + std::strlen(kPrefix));
        if (pid <= 0 || pid == getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
        kill_processes_in(netns_inode(e.path().string()));
        run_command({"ip", "netns", "del", name});
    }
}

CaseNamespaces::CaseNamespaces() = default;

CaseNamespaces::~CaseNamespaces() { remove(); }

std::string CaseNamespaces::build(const Topology& topology)
{
    topology_ = topology;
    const unsigned seq = g_sequence++;
    for (const std::string& ns : topology.namespaces) {
        std::string name = fmt::format("{}{}-{}-{}", kPrefix, getpid(), seq, ns);
        CommandResult r = run_command({"ip", "netns", "add", name});
        if (!r.ok()) return fmt::format("cannot create namespace {}: {}", name, r.output);
        created_.push_back(name);
        names_[ns] = name;
        inodes_[ns] = netns_inode("/run/netns/" + name);
        if (!run(ns, {"ip", "link", "set", "lo", "up"}).ok()) return fmt::format("cannot bring lo up in {}", name);
    }
    auto must = [&](const std::string& ns, std::vector<std::string> argv) -> std::string {
        CommandResult r = run(ns, argv);
        if (r.ok()) return "";
        return fmt::format("in namespace {}: '{}' failed: {}", ns, fmt::join(argv, " "), r.output);
    };
    for (const Topology::Link& l : topology.links) {
        std::string why = must(l.a.ns, {"ip", "link", "add", l.a.dev, "type", "veth", "peer", "name", l.b.dev, "netns", path(l.b.ns)});
        if (why.empty()) why = must(l.a.ns, {"ip", "link", "set", l.a.dev, "up"});
        if (why.empty()) why = must(l.b.ns, {"ip", "link", "set", l.b.dev, "up"});
        if (!why.empty()) return why;
    }
    for (const Topology::Bridge& b : topology.bridges) {
        if (std::string why = must(b.ns, {"ip", "link", "add", b.name, "type", "bridge"}); !why.empty()) return why;
        for (const std::string& port : b.ports)
            if (std::string why = must(b.ns, {"ip", "link", "set", port, "master", b.name}); !why.empty()) return why;
        if (std::string why = must(b.ns, {"ip", "link", "set", b.name, "up"}); !why.empty()) return why;
    }
    for (const Topology::Address& a : topology.addresses) {
        std::vector<std::string> argv{"ip", "address", "add", a.cidr, "dev", a.at.dev};
        if (is_ipv6(a.cidr)) argv.push_back("nodad");  // usable at once, not after duplicate detection
        if (std::string why = must(a.at.ns, argv); !why.empty()) return why;
    }
    for (const Topology::Route& r : topology.routes) {
        std::vector<std::string> argv{"ip", "route", "add"};
        argv.insert(argv.end(), r.args.begin(), r.args.end());
        if (std::string why = must(r.ns, argv); !why.empty()) return why;
    }
    return "";
}

std::vector<std::uint64_t> CaseNamespaces::inodes() const
{
    std::vector<std::uint64_t> out;
    for (const auto& [ns, inode] : inodes_) out.push_back(inode);
    return out;
}

std::string CaseNamespaces::name_of(std::uint64_t inode) const
{
    for (const auto& [ns, i] : inodes_)
        if (i == inode) return ns;
    return "";
}

std::string CaseNamespaces::mac(const std::string& ns, const std::string& dev) const
{
    // /sys shows the namespace it was mounted in: ask ip.
    CommandResult r = run(ns, {"ip", "-br", "link", "show", "dev", dev});
    std::istringstream words(r.output);
    std::string word;
    for (int i = 0; i < 3 && words >> word; ++i) {}
    return r.ok() ? word : "";
}

std::string CaseNamespaces::peer_mac(const std::string& ns, const std::string& dev) const
{
    for (const Topology::Link& l : topology_.links) {
        if (l.a.ns == ns && l.a.dev == dev) return mac(l.b.ns, l.b.dev);
        if (l.b.ns == ns && l.b.dev == dev) return mac(l.a.ns, l.a.dev);
    }
    return "";
}

std::string CaseNamespaces::address_of(const std::string& ns, const std::string& dev, const std::string& like) const
{
    for (const Topology::Address& a : topology_.addresses)
        if (a.at.ns == ns && a.at.dev == dev && is_ipv6(a.cidr) == is_ipv6(like)) return a.cidr.substr(0, a.cidr.find('/'));
    return "";
}

void CaseNamespaces::remove()
{
    for (const auto& [ns, inode] : inodes_) kill_processes_in(inode);
    for (const std::string& name : created_) run_command({"ip", "netns", "del", name});
    created_.clear();
    names_.clear();
    inodes_.clear();
}

}  // namespace rtd::packtest
