// A readable name for a network namespace, from the inode drops carry
// (`netns`, the kernel's ns.inum; `readlink /proc/PID/ns/net` shows it as
// net:[INODE]), for the operator's eye and the exporter's `netns_name` label:
//
//   1. the name `ip netns add NAME` gave it: a file in /run/netns whose
//      stat() st_ino is the inode (the first name in sorted order if several);
//   2. "host" for init's namespace (/proc/1/ns/net; reading it needs ptrace
//      rights over PID 1, which a root with fewer capabilities than init
//      lacks: then the host's namespace is "" like any unnamed one);
//   3. the container of a process in it, from /proc/PID/cgroup
//      (container_of_cgroup below; up to 3 processes are tried, lowest PID
//      first): "docker:<id12>", "containerd:<id12>", "podman:<id12>",
//      "crio:<id12>", "k8s:<pod uid>";
//   4. "" when none of these says anything (a namespace of `unshare -n`, one
//      no process is in any more, one held only by a socket, or a /proc
//      this process may not read: unreadable entries are skipped).
//
// Names come from a scan of /run/netns and /proc that maps every namespace
// found at that moment. The scan is bounded: it runs only when a name is
// asked for an inode the last scan did not find, or whose answer is older
// than `max_age` (inodes are reused after a namespace goes away, an `ip
// netns` name can be deleted), and never more than once per
// `rescan_interval`. In between, an unknown inode is "" at the cost of a
// hash lookup. At most `max_entries` namespaces are kept; past that the
// inodes asked for since the previous scan are kept first.
//
// Container names need the host's view of cgroups: inside a cgroup
// namespace /proc/PID/cgroup shows paths relative to it and says nothing.
// Thread-safe (one mutex); nothing throws.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace rtd {

// Where the names are read: tests point these at a tree of their own.
struct NetnsPaths {
    std::string run_netns = "/run/netns";
    std::string proc = "/proc";
};

struct NetnsLimits {
    std::chrono::seconds rescan_interval{10};  // at most one scan per interval
    std::chrono::seconds max_age{60};          // a found name is looked up again after this
    std::size_t max_entries = 4096;            // namespaces kept from a scan
    // The clock (tests move it); steady_clock::now when empty.
    std::function<std::chrono::steady_clock::time_point()> now;
};

class NetnsNames {
public:
    explicit NetnsNames(NetnsPaths paths = {}, NetnsLimits limits = {});

    // The name of namespace `inode`, or "" (see above). May scan, within the
    // limits.
    std::string name(std::uint64_t inode) noexcept;
    // Scans now, whatever the interval.
    void refresh() noexcept;
    // How many scans ran (tests; an exporter may count them).
    std::size_t scans() const noexcept;

private:
    void scan_locked(std::chrono::steady_clock::time_point now);
    std::chrono::steady_clock::time_point now() const;

    NetnsPaths paths_;
    NetnsLimits limits_;
    mutable std::mutex mutex_;
    std::unordered_map<std::uint64_t, std::string> names_;  // the last scan's namespaces ("" = found, no name)
    std::unordered_set<std::uint64_t> asked_;               // since the last scan, at most max_entries
    bool scanned_ = false;
    std::chrono::steady_clock::time_point last_scan_{};
    std::size_t scans_ = 0;
};

// The container a process is in, from the text of its /proc/PID/cgroup
// (cgroup v2 "0::PATH" or v1's "ID:CONTROLLERS:PATH" lines): for the
// innermost path component that names one,
//   docker-<id>.scope, or .../docker/<id>        -> "docker:<id12>"
//   cri-containerd-<id>.scope                    -> "containerd:<id12>"
//   libpod-<id>.scope, libpod-<id>               -> "podman:<id12>"
//   crio-<id>.scope                              -> "crio:<id12>"
// where <id> is at least 12 hex digits and <id12> its first 12; a path with
// "kubepods" in it that holds pod<uid> (kubepods-...-pod<uid with _>.slice,
// or .../pod<uid with ->/...) gives "k8s:<uid with ->" instead: the pod's
// containers share its namespace. The first line that names one wins; ""
// when none does.
std::string container_of_cgroup(std::string_view proc_pid_cgroup_text);

// The inode in readlink's "net:[4026531840]"; 0 when it is not that.
std::uint64_t netns_inode_of_link(std::string_view link_text);

}  // namespace rtd
