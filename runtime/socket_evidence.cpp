#include "runtime/socket_evidence.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "compiler/words.h"
#include "runtime/netlink_request.h"

namespace rtd {

namespace {

struct Wanted {
    int family = 0;  // of the address asked about
    unsigned char addr[16] = {};
    unsigned port = 0;
};

struct FoundSocket {
    int family = 0;
    std::string local;  // "10.0.0.2:7001", "[::]:7001"
    unsigned rqueue = 0, wqueue = 0;
    unsigned long inode = 0;
    std::vector<std::uint32_t> mem;  // SK_MEMINFO_*, when the kernel sent them
};

struct DumpState {
    const Wanted* want;
    std::vector<FoundSocket> found;
};

bool all_zero(const unsigned char* p, std::size_t n)
{
    for (std::size_t i = 0; i < n; ++i)
        if (p[i]) return false;
    return true;
}

// The socket's local address takes the packet: the same, unspecified, or
// (an IPv6 socket taking IPv4) the IPv4-mapped one.
bool takes(const Wanted& w, int family, const unsigned char* src)
{
    if (family == AF_INET) return w.family == AF_INET && (all_zero(src, 4) || std::memcmp(src, w.addr, 4) == 0);
    if (all_zero(src, 16)) return true;
    if (w.family == AF_INET6) return std::memcmp(src, w.addr, 16) == 0;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(src, mapped, 12) == 0 && std::memcmp(src + 12, w.addr, 4) == 0;
}

int on_socket(const struct nlmsghdr* nlh, void* data)
{
    auto* state = static_cast<DumpState*>(data);
    const auto* m = static_cast<const struct inet_diag_msg*>(mnl_nlmsg_get_payload(nlh));
    if (ntohs(m->id.idiag_sport) != state->want->port) return MNL_CB_OK;
    const auto* src = reinterpret_cast<const unsigned char*>(m->id.idiag_src);
    if (!takes(*state->want, m->idiag_family, src)) return MNL_CB_OK;
    FoundSocket s;
    s.family = m->idiag_family;
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(m->idiag_family, src, text, sizeof text);
    s.local = m->idiag_family == AF_INET6 ? fmt::format("[{}]:{}", text, state->want->port) : fmt::format("{}:{}", text, state->want->port);
    s.rqueue = m->idiag_rqueue;
    s.wqueue = m->idiag_wqueue;
    s.inode = m->idiag_inode;
    // (mnl_attr_for_each is C: its void * does not convert in C++.)
    auto* attr = static_cast<const struct nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(*m)));
    const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
    for (; mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr))); attr = mnl_attr_next(attr)) {
        if (mnl_attr_get_type(attr) != INET_DIAG_SKMEMINFO) continue;
        const auto* v = static_cast<const std::uint32_t*>(mnl_attr_get_payload(attr));
        s.mem.assign(v, v + mnl_attr_get_payload_len(attr) / sizeof(std::uint32_t));
    }
    state->found.push_back(std::move(s));
    return MNL_CB_OK;
}

// The processes holding each socket: /proc/PID/fd/* -> "socket:[INODE]",
// as `ss -p` finds them.
std::map<unsigned long, std::vector<std::string>> holders(const std::vector<FoundSocket>& sockets)
{
    std::map<unsigned long, std::vector<std::string>> out;
    std::map<std::string, unsigned long> wanted;
    for (const auto& s : sockets)
        if (s.inode) wanted[fmt::format("socket:[{}]", s.inode)] = s.inode;
    if (wanted.empty()) return out;
    DIR* proc = opendir("/proc");
    if (!proc) return out;
    while (struct dirent* p = readdir(proc)) {
        if (!std::isdigit(static_cast<unsigned char>(p->d_name[0]))) continue;
        const std::string fd_dir = fmt::format("/proc/{}/fd", p->d_name);
        DIR* fds = opendir(fd_dir.c_str());
        if (!fds) continue;  // gone, or a kernel thread
        while (struct dirent* f = readdir(fds)) {
            char link[64] = {};
            ssize_t n = readlink((fd_dir + "/" + f->d_name).c_str(), link, sizeof link - 1);
            if (n <= 0) continue;
            auto it = wanted.find(std::string(link, static_cast<std::size_t>(n)));
            if (it == wanted.end()) continue;
            std::string comm;
            std::getline(std::ifstream(fmt::format("/proc/{}/comm", p->d_name)), comm);
            std::string who = fmt::format("{} (pid {})", comm, p->d_name);
            auto& list = out[it->second];
            if (list.empty() || list.back() != who) list.push_back(std::move(who));
        }
        closedir(fds);
    }
    closedir(proc);
    return out;
}

std::string described(const FoundSocket& s, bool tcp, const std::vector<std::string>& by)
{
    std::string out = fmt::format("{} {}", tcp ? "tcp listener" : "udp socket", s.local);
    if (by.empty()) out += " held by no process";
    else out += " of " + by[0] + (by.size() > 1 ? fmt::format(" and {} more", by.size() - 1) : "");
    // A listener's queues are its accept queue and its backlog (inet_diag);
    // a datagram socket's the bytes it holds, against its rcvbuf.
    if (tcp) out += fmt::format(": {} waiting to be accepted, backlog {}", s.rqueue, s.wqueue);
    else if (s.mem.size() > SK_MEMINFO_RCVBUF) out += fmt::format(": {} B queued, rcvbuf {} B", s.mem[SK_MEMINFO_RMEM_ALLOC], s.mem[SK_MEMINFO_RCVBUF]);
    else out += fmt::format(": {} B queued", s.rqueue);
    if (s.mem.size() > SK_MEMINFO_DROPS) out += fmt::format(", {} dropped so far", s.mem[SK_MEMINFO_DROPS]);
    return out;
}

}  // namespace

std::string socket_get(const std::string& arg)
{
    std::vector<std::string> w = split_words(arg);
    if (w.size() != 3 || (w[0] != "tcp" && w[0] != "udp")) return "(expected tcp|udp ADDR PORT)";
    Wanted want;
    if (inet_pton(AF_INET, w[1].c_str(), want.addr) == 1) want.family = AF_INET;
    else if (inet_pton(AF_INET6, w[1].c_str(), want.addr) == 1) want.family = AF_INET6;
    else return fmt::format("(not an address: '{}')", w[1]);
    auto [end, ec] = std::from_chars(w[2].data(), w[2].data() + w[2].size(), want.port);
    if (ec != std::errc() || end != w[2].data() + w[2].size() || want.port == 0 || want.port > 65535) return fmt::format("(not a port: '{}')", w[2]);
    const bool tcp = w[0] == "tcp";

    DumpState state{&want, {}};
    // IPv4 packets also reach IPv6 sockets (unless IPV6_V6ONLY).
    for (int family : {AF_INET, AF_INET6}) {
        if (family == AF_INET && want.family == AF_INET6) continue;
        NetlinkRequest nl(NETLINK_SOCK_DIAG);
        auto [nlh, req] = nl.request<struct inet_diag_req_v2>(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP);
        req->sdiag_family = static_cast<unsigned char>(family);
        req->sdiag_protocol = tcp ? IPPROTO_TCP : IPPROTO_UDP;
        req->idiag_states = tcp ? 1u << TCP_LISTEN : ~0u;
        req->idiag_ext = 1 << (INET_DIAG_SKMEMINFO - 1);
        // A kernel without IPv6 has no such table: that is no socket, not an error.
        if (int err = nl.ask(nlh, on_socket, &state); err && !(family == AF_INET6 && err == ENOENT))
            return fmt::format("(sock_diag: {})", std::strerror(err));
    }
    const std::string where = want.family == AF_INET6 ? fmt::format("[{}]:{}", w[1], want.port) : fmt::format("{}:{}", w[1], want.port);
    if (state.found.empty()) return fmt::format("no {} on {}", tcp ? "tcp listener" : "udp socket", where);
    const auto by = holders(state.found);
    std::string out;
    constexpr std::size_t kShown = 3;  // SO_REUSEPORT groups can be large
    for (std::size_t i = 0; i < state.found.size() && i < kShown; ++i) {
        auto it = by.find(state.found[i].inode);
        out += (i ? "; " : "") + described(state.found[i], tcp, it == by.end() ? std::vector<std::string>{} : it->second);
    }
    if (state.found.size() > kShown) out += fmt::format("; and {} more", state.found.size() - kShown);
    return out;
}

}  // namespace rtd
