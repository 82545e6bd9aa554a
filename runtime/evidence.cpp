#include "runtime/evidence.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "compiler/words.h"
#include "runtime/netlink_request.h"
#include "runtime/netns.h"
#include "runtime/socket_evidence.h"

namespace rtd {

namespace {

struct Address {
    int family = 0;
    unsigned char bytes[16] = {};
    std::size_t size() const { return family == AF_INET ? 4 : 16; }
};

bool parse_address(const std::string& text, Address& a)
{
    if (inet_pton(AF_INET, text.c_str(), a.bytes) == 1) return a.family = AF_INET, true;
    if (inet_pton(AF_INET6, text.c_str(), a.bytes) == 1) return a.family = AF_INET6, true;
    return false;
}

std::string address_text(int family, const void* bytes)
{
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, bytes, text, sizeof text);
    return text;
}

std::string device_name(unsigned ifindex)
{
    char name[IF_NAMESIZE] = {};
    return if_indextoname(ifindex, name) ? name : fmt::format("if{}", ifindex);
}

struct RouteAnswer {
    unsigned char type = 0;
    unsigned oif = 0;
    std::string gateway;
    int family = 0;
};

int on_route(const struct nlmsghdr* nlh, void* data)
{
    auto* out = static_cast<RouteAnswer*>(data);
    const auto* rtm = static_cast<const struct rtmsg*>(mnl_nlmsg_get_payload(nlh));
    out->type = rtm->rtm_type;
    out->family = rtm->rtm_family;
    // (mnl_attr_for_each is C: its void * does not convert in C++.)
    auto* attr = static_cast<const struct nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(*rtm)));
    const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
    for (; mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr))); attr = mnl_attr_next(attr)) {
        if (mnl_attr_get_type(attr) == RTA_OIF && mnl_attr_get_payload_len(attr) == 4) out->oif = mnl_attr_get_u32(attr);
        if (mnl_attr_get_type(attr) == RTA_GATEWAY) out->gateway = address_text(rtm->rtm_family, mnl_attr_get_payload(attr));
    }
    return MNL_CB_OK;
}

int on_neigh(const struct nlmsghdr* nlh, void* data)
{
    const auto* ndm = static_cast<const struct ndmsg*>(mnl_nlmsg_get_payload(nlh));
    *static_cast<int*>(data) = ndm->ndm_state;
    return MNL_CB_OK;
}

std::string nud_name(int state)
{
    static const std::pair<int, const char*> names[] = {{NUD_INCOMPLETE, "INCOMPLETE"}, {NUD_REACHABLE, "REACHABLE"}, {NUD_STALE, "STALE"},
                                                        {NUD_DELAY, "DELAY"},           {NUD_PROBE, "PROBE"},         {NUD_FAILED, "FAILED"},
                                                        {NUD_NOARP, "NOARP"},           {NUD_PERMANENT, "PERMANENT"}};
    std::string out;
    for (auto [bit, name] : names)
        if (state & bit) out += (out.empty() ? "" : "|") + std::string(name);
    return out.empty() ? "NONE" : out;
}

}  // namespace

std::string read_sysctl(const std::string& key)
{
    // The checker allows words and dots only; a device name filled in could
    // still hold anything.
    if (key.empty() || key.find("..") != std::string::npos || key.find('/') != std::string::npos) return "(not a sysctl key)";
    std::string path = "/proc/sys/" + key;
    for (std::size_t i = 10; i < path.size(); ++i)
        if (path[i] == '.') path[i] = '/';
    std::ifstream f(path);
    if (!f) return errno == ENOENT ? "(no such setting)" : fmt::format("(unreadable: {})", std::strerror(errno));
    std::string value;
    std::getline(f, value);
    for (char& c : value)
        if (c == '\t') c = ' ';
    return value;
}

// As `ip route get` says it: "via GATEWAY dev DEV", "dev DEV", "local",
// "unreachable", "blackhole", "prohibit"; an error as the kernel names it.
std::string route_get(const std::string& arg)
{
    std::vector<std::string> w = split_words(arg);
    Address dst, src;
    if (w.empty() || !parse_address(w[0], dst)) return fmt::format("(not an address: '{}')", w.empty() ? "" : w[0]);
    std::vector<std::pair<unsigned short, unsigned>> devices;  // RTA_IIF/RTA_OIF, ifindex
    for (std::size_t i = 1; i + 1 < w.size(); i += 2) {
        if (w[i] == "from") {
            if (!parse_address(w[i + 1], src) || src.family != dst.family) return fmt::format("(not an address of the same family: '{}')", w[i + 1]);
        } else {
            unsigned ifindex = if_nametoindex(w[i + 1].c_str());
            if (!ifindex) return fmt::format("(no device '{}')", w[i + 1]);
            devices.push_back({w[i] == "iif" ? RTA_IIF : RTA_OIF, ifindex});
        }
    }
    NetlinkRequest nl(NETLINK_ROUTE);
    auto [nlh, rtm] = nl.request<struct rtmsg>(RTM_GETROUTE);
    rtm->rtm_family = static_cast<unsigned char>(dst.family);
    rtm->rtm_dst_len = static_cast<unsigned char>(dst.size() * 8);
    mnl_attr_put(nlh, RTA_DST, dst.size(), dst.bytes);
    if (src.family) {
        rtm->rtm_src_len = static_cast<unsigned char>(src.size() * 8);
        mnl_attr_put(nlh, RTA_SRC, src.size(), src.bytes);
    }
    for (auto [type, ifindex] : devices) mnl_attr_put_u32(nlh, type, ifindex);
    RouteAnswer answer;
    // A route that rejects answers with its error, as the kernel's fib_props
    // table has it: unreachable EHOSTUNREACH, prohibit EACCES, blackhole
    // EINVAL, throw EAGAIN (the request itself is well formed).
    const int err = nl.ask(nlh, on_route, &answer);
    switch (err) {
    case 0: break;
    case ENETUNREACH:
    case EHOSTUNREACH: return "unreachable";
    case EACCES: return "prohibit";
    case EINVAL: return "blackhole";
    case EAGAIN: return "throw (no route in the tables looked at)";
    case EXDEV: return "refused: the route back leaves by another device (rp_filter)";
    default: return fmt::format("({})", std::strerror(err));
    }
    switch (answer.type) {
    case RTN_UNREACHABLE: return "unreachable";
    case RTN_BLACKHOLE: return "blackhole";
    case RTN_PROHIBIT: return "prohibit";
    case RTN_LOCAL: return "local";
    case RTN_BROADCAST: return fmt::format("broadcast dev {}", device_name(answer.oif));
    default: break;
    }
    std::string out = answer.gateway.empty() ? "" : "via " + answer.gateway + " ";
    return out + (answer.oif ? "dev " + device_name(answer.oif) : "no device");
}

// The neighbour entry's state (FAILED, INCOMPLETE, STALE, REACHABLE...).
std::string neigh_get(const std::string& arg)
{
    std::vector<std::string> w = split_words(arg);
    Address dst;
    if (w.size() != 3 || !parse_address(w[0], dst)) return "(expected ADDR dev DEV)";
    unsigned ifindex = if_nametoindex(w[2].c_str());
    if (!ifindex) return fmt::format("(no device '{}')", w[2]);
    NetlinkRequest nl(NETLINK_ROUTE);
    auto [nlh, ndm] = nl.request<struct ndmsg>(RTM_GETNEIGH);
    ndm->ndm_family = static_cast<unsigned char>(dst.family);
    ndm->ndm_ifindex = static_cast<int>(ifindex);
    mnl_attr_put(nlh, NDA_DST, dst.size(), dst.bytes);
    int state = 0;
    if (int err = nl.ask(nlh, on_neigh, &state)) return err == ENOENT ? "no entry" : fmt::format("({})", std::strerror(err));
    return nud_name(state);
}

std::string EvidenceResolver::netns_by_inode(std::uint64_t inode)
{
    // A remembered path still names that namespace unless its process is
    // gone (and its PID perhaps taken by another).
    if (auto it = netns_paths_.find(inode); it != netns_paths_.end()) {
        struct stat st {};
        if (stat(it->second.c_str(), &st) == 0 && st.st_ino == inode) return it->second;
        netns_paths_.clear();
    }
    // Named namespaces first, then any process's.
    auto consider = [&](const std::string& path) {
        struct stat st {};
        if (stat(path.c_str(), &st) == 0 && !netns_paths_.count(st.st_ino)) netns_paths_[st.st_ino] = path;
    };
    for (const char* dir : {"/run/netns", "/proc"}) {
        DIR* d = opendir(dir);
        if (!d) continue;
        while (struct dirent* e = readdir(d)) {
            if (e->d_name[0] == '.') continue;
            if (dir[1] == 'r') consider(std::string("/run/netns/") + e->d_name);
            else if (std::isdigit(static_cast<unsigned char>(e->d_name[0]))) consider(std::string("/proc/") + e->d_name + "/ns/net");
        }
        closedir(d);
    }
    auto it = netns_paths_.find(inode);
    return it == netns_paths_.end() ? "" : it->second;
}

std::string EvidenceResolver::lookup_now(const std::string& kind, const std::string& arg, std::uint64_t netns)
{
    std::optional<NetnsScope> in;
    struct stat own {};  // this thread's namespace, which may not be the process's
    if (netns && (stat("/proc/thread-self/ns/net", &own) != 0 || own.st_ino != netns)) {
        std::string path = netns_by_inode(netns);
        if (path.empty()) return "(its network namespace is gone)";
        Expected<NetnsScope> entered = enter_netns(path);
        if (!entered) return "(its network namespace is gone)";
        in.emplace(std::move(*entered));
    }
    if (kind == "sysctl") return read_sysctl(arg);
    if (kind == "route") return route_get(arg);
    if (kind == "neigh") return neigh_get(arg);
    if (kind == "socket") return socket_get(arg);
    if (kind == "nft") {
        // Both are read each time, so each one's "since the last look" stays
        // true; a legacy rule that counted is named after the nft answer,
        // or instead of it when no nft rule counted.
        std::string nft = nft_.look(netns), legacy = iptables_.look(netns);
        if (legacy.empty() && nft.rfind("no nftables rule", 0) == 0)
            return "no nftables rule in this namespace, and no iptables-legacy rule or DROP policy counted it";
        if (legacy.empty()) return nft;
        return nft.rfind("no nft", 0) == 0 ? legacy : nft + "; also " + legacy;
    }
    return "(unknown evidence)";
}

std::string EvidenceResolver::lookup(const std::string& kind, const std::string& arg, std::uint64_t netns)
{
    const auto now = std::chrono::steady_clock::now();
    auto key = std::make_tuple(netns, kind, arg);
    if (auto it = cache_.find(key); it != cache_.end() && now - it->second.at < limits_.ttl) {
        ++stats_.cached;
        return it->second.value;
    }
    if (now - second_ >= std::chrono::seconds(1)) second_ = now, made_this_second_ = 0;
    if (made_this_second_ >= limits_.per_second) {
        ++stats_.limited;
        auto it = cache_.find(key);  // an older answer beats none
        return it != cache_.end() ? it->second.value : "(not looked up: too many drops at once)";
    }
    ++made_this_second_;
    ++stats_.lookups;
    std::string value = lookup_now(kind, arg, netns);
    if (cache_.size() >= limits_.cache_entries) cache_.clear();
    cache_[key] = {value, now};
    return value;
}

}  // namespace rtd
