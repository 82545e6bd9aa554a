#include "runtime/netns_names.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <utility>
#include <vector>

namespace rtd {

namespace {

bool is_hex(std::string_view s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// "<id>" or "<id>.scope" with at least 12 hex digits: its first 12; else "".
std::string id12(std::string_view s)
{
    if (s.ends_with(".scope")) s.remove_suffix(6);
    if (s.size() < 12 || !is_hex(s)) return {};
    return std::string(s.substr(0, 12));
}

// A pod uid (8-4-4-4-12 hex, '-' or '_' between) at the start of `s`, with
// dashes; "" when there is none.
std::string pod_uid(std::string_view s)
{
    constexpr std::size_t kLen = 36;
    if (s.size() < kLen) return {};
    std::string uid(s.substr(0, kLen));
    for (std::size_t i = 0; i < kLen; ++i) {
        char& c = uid[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-' && c != '_') return {};
            c = '-';
        } else if (!is_hex(std::string_view(&c, 1))) {
            return {};
        }
    }
    // A path component: nothing but ".slice" may follow.
    std::string_view rest = s.substr(kLen);
    if (!rest.empty() && rest != ".slice") return {};
    return uid;
}

std::vector<std::string_view> components(std::string_view path)
{
    std::vector<std::string_view> out;
    while (!path.empty()) {
        const std::size_t slash = path.find('/');
        std::string_view c = path.substr(0, slash);
        if (!c.empty()) out.push_back(c);
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

std::string container_of_path(std::string_view path)
{
    const std::vector<std::string_view> parts = components(path);
    if (path.find("kubepods") != std::string_view::npos) {
        for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
            // kubepods-burstable-pod<uid>.slice (systemd), pod<uid> (cgroupfs)
            const std::size_t at = it->rfind("pod");
            if (at == std::string_view::npos) continue;
            if (std::string uid = pod_uid(it->substr(at + 3)); !uid.empty()) return "k8s:" + uid;
        }
    }
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kScopes{{
        {"docker-", "docker:"},
        {"cri-containerd-", "containerd:"},
        {"libpod-", "podman:"},
        {"crio-", "crio:"},
    }};
    for (std::size_t i = parts.size(); i-- > 0;) {
        const std::string_view c = parts[i];
        for (const auto& [prefix, runtime] : kScopes)
            if (c.starts_with(prefix))
                if (std::string id = id12(c.substr(prefix.size())); !id.empty()) return std::string(runtime) + id;
        if (i > 0 && parts[i - 1] == "docker")
            if (std::string id = id12(c); !id.empty()) return "docker:" + id;
    }
    return {};
}

// Up to `limit` bytes of a small file; "" when it cannot be read.
std::string read_small(const std::string& path, std::size_t limit = 64 * 1024)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    std::string text;
    char buf[4096];
    while (text.size() < limit) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return text;
}

std::uint64_t link_inode(const std::string& path)
{
    char buf[64];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf) return 0;
    return netns_inode_of_link(std::string_view(buf, static_cast<std::size_t>(n)));
}

// Entry names of a directory, sorted; none when it cannot be read.
std::vector<std::string> entries(const std::string& dir)
{
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    while (const dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") out.emplace_back(n);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

bool all_digits(std::string_view s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::uint64_t netns_inode_of_link(std::string_view link)
{
    constexpr std::string_view kPrefix = "net:[";
    if (!link.starts_with(kPrefix) || !link.ends_with(']')) return 0;
    link = link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1);
    if (!all_digits(link) || link.size() > 19) return 0;
    std::uint64_t v = 0;
    for (char c : link) v = v * 10 + static_cast<std::uint64_t>(c - '0');
    return v;
}

std::string container_of_cgroup(std::string_view text)
{
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        // hierarchy-ID:controller-list:cgroup-path (the path may hold ':')
        const std::size_t a = line.find(':');
        const std::size_t b = a == std::string_view::npos ? a : line.find(':', a + 1);
        if (b == std::string_view::npos) continue;
        if (std::string c = container_of_path(line.substr(b + 1)); !c.empty()) return c;
    }
    return {};
}

NetnsNames::NetnsNames(NetnsPaths paths, NetnsLimits limits) : paths_(std::move(paths)), limits_(std::move(limits)) {}

std::chrono::steady_clock::time_point NetnsNames::now() const
{
    return limits_.now ? limits_.now() : std::chrono::steady_clock::now();
}

std::string NetnsNames::name(std::uint64_t inode) noexcept
{
    try {
        std::lock_guard lock(mutex_);
        const auto t = now();
        if (asked_.size() < limits_.max_entries) asked_.insert(inode);
        const bool fresh = scanned_ && t - last_scan_ < limits_.max_age;
        auto it = names_.find(inode);
        if (it != names_.end() && fresh) return it->second;
        if (!scanned_ || t - last_scan_ >= limits_.rescan_interval) {
            scan_locked(t);
            it = names_.find(inode);
        }
        return it == names_.end() ? std::string() : it->second;
    } catch (...) {
        return {};
    }
}

void NetnsNames::refresh() noexcept
{
    try {
        std::lock_guard lock(mutex_);
        scan_locked(now());
    } catch (...) {
    }
}

std::size_t NetnsNames::scans() const noexcept
{
    std::lock_guard lock(mutex_);
    return scans_;
}

void NetnsNames::scan_locked(std::chrono::steady_clock::time_point t)
{
    scanned_ = true;
    last_scan_ = t;
    ++scans_;

    // Every namespace found, in the order its name was decided.
    std::vector<std::pair<std::uint64_t, std::string>> found;
    std::unordered_map<std::uint64_t, std::size_t> index;
    auto add = [&](std::uint64_t inode, std::string name) {
        if (inode == 0 || index.count(inode)) return;
        index.emplace(inode, found.size());
        found.emplace_back(inode, std::move(name));
    };

    // 1. ip netns names: the bind-mounted namespace file's inode. (A stale
    // file whose mount is gone is a tmpfs file: its inode is far below the
    // kernel's namespace inodes, which start at 0xF0000000.)
    for (const std::string& e : entries(paths_.run_netns)) {
        struct stat st {};
        if (::stat((paths_.run_netns + "/" + e).c_str(), &st) == 0) add(st.st_ino, e);
    }
    // 2. init's namespace.
    add(link_inode(paths_.proc + "/1/ns/net"), "host");
    // 3. containers, from up to three processes in each other namespace.
    constexpr std::size_t kTries = 3;
    std::map<std::uint64_t, std::vector<std::uint64_t>> pids;  // by inode, lowest PIDs first
    std::vector<std::string> procs = entries(paths_.proc);
    std::erase_if(procs, [](const std::string& e) { return !all_digits(e) || e.size() > 10; });
    std::sort(procs.begin(), procs.end(), [](const std::string& a, const std::string& b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    for (const std::string& pid : procs) {
        const std::uint64_t inode = link_inode(paths_.proc + "/" + pid + "/ns/net");
        if (inode == 0 || index.count(inode)) continue;
        std::vector<std::uint64_t>& v = pids[inode];
        if (v.size() < kTries) v.push_back(std::stoull(pid));
    }
    for (const auto& [inode, candidates] : pids) {
        std::string name;
        for (std::uint64_t pid : candidates) {
            name = container_of_cgroup(read_small(paths_.proc + "/" + std::to_string(pid) + "/cgroup"));
            if (!name.empty()) break;
        }
        add(inode, std::move(name));
    }

    // Keep at most max_entries: the inodes asked for first.
    names_.clear();
    if (found.size() > limits_.max_entries) {
        for (std::uint64_t inode : asked_) {
            if (names_.size() >= limits_.max_entries) break;
            if (auto it = index.find(inode); it != index.end()) names_.emplace(inode, found[it->second].second);
        }
    }
    for (auto& [inode, name] : found) {
        if (names_.size() >= limits_.max_entries) break;
        names_.emplace(inode, std::move(name));
    }
    asked_.clear();
}

}  // namespace rtd
