// A case's network namespaces: created with unique names
// (rtdt-PID-SEQ-NAME, so `ip netns` shows whose they are), joined as the
// case's topology says, and always removed with every process left in
// them. Namespaces of a runner that was killed are removed by the next one
// (sweep_stale_namespaces).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "packtest/case_file.h"

namespace rtd::packtest {

// What a command run in a namespace gave back.
struct CommandResult {
    int status = -1;      // exit status; -1 when it could not run or was killed
    std::string output;   // stdout and stderr, at most 64 KiB
    bool ok() const { return status == 0; }
};

// Runs argv[0] (looked up on PATH) in the network namespace at `netns_path`
// ("" for the runner's own), with `input` on its stdin, for at most
// `timeout_ms`. No shell is involved.
CommandResult run_command(const std::vector<std::string>& argv, const std::string& netns_path = "", const std::string& input = "",
                          int timeout_ms = 10000);

// Removes /run/netns/rtdt-PID-* of runners that are no longer alive.
void sweep_stale_namespaces();

class CaseNamespaces {
public:
    CaseNamespaces();
    ~CaseNamespaces();
    CaseNamespaces(const CaseNamespaces&) = delete;
    CaseNamespaces& operator=(const CaseNamespaces&) = delete;

    // Creates the namespaces and what joins them. "" or why not.
    std::string build(const Topology& topology);

    // The host's name for a case namespace ("a" -> "rtdt-4242-3-a").
    const std::string& host_name(const std::string& ns) const { return names_.at(ns); }
    std::string path(const std::string& ns) const { return "/run/netns/" + host_name(ns); }
    std::uint64_t inode(const std::string& ns) const { return inodes_.at(ns); }
    std::vector<std::uint64_t> inodes() const;
    // The namespace a case-inode belongs to ("" if none of them).
    std::string name_of(std::uint64_t inode) const;

    // A device's MAC and its veth peer's MAC ("" when unknown).
    std::string mac(const std::string& ns, const std::string& dev) const;
    std::string peer_mac(const std::string& ns, const std::string& dev) const;
    // The first address of `dev` in `ns` of the family of `like` ("" if none).
    std::string address_of(const std::string& ns, const std::string& dev, const std::string& like) const;

    CommandResult run(const std::string& ns, const std::vector<std::string>& argv, const std::string& input = "") const
    {
        return run_command(argv, path(ns), input);
    }

    // Kills every process in the namespaces and deletes them (the destructor does it too).
    void remove();

private:
    Topology topology_;
    std::map<std::string, std::string> names_;
    std::map<std::string, std::uint64_t> inodes_;
    std::vector<std::string> created_;
};

}  // namespace rtd::packtest
