#include "packtest/steps.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "compiler/words.h"
#include "packtest/packet.h"
#include "packtest/tc_drop.h"
#include "packtest/tcp_state.h"
#include "packtest/tun_device.h"
#include "runtime/netns.h"
#include "runtime/signals.h"

namespace rtd::packtest {

namespace {

// "10.0.0.2:80", "[fd00::2]:80", or an address alone (`port` 0).
bool endpoint(const std::string& text, sockaddr_storage& sa, socklen_t& len, bool need_port)
{
    std::string host = text, port;
    if (!text.empty() && text[0] == '[') {
        auto close = text.find(']');
        if (close == std::string::npos) return false;
        host = text.substr(1, close - 1);
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') return false;
            port = text.substr(close + 2);
        }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        host = text.substr(0, text.find(':'));
        port = text.substr(text.find(':') + 1);
    }
    if (need_port && port.empty()) return false;
    int p = port.empty() ? 0 : std::atoi(port.c_str());
    if (p < 0 || p > 65535 || (!port.empty() && !std::all_of(port.begin(), port.end(), ::isdigit))) return false;
    std::memset(&sa, 0, sizeof sa);
    auto* v4 = reinterpret_cast<sockaddr_in*>(&sa);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&sa);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET, v4->sin_port = htons(static_cast<std::uint16_t>(p)), len = sizeof *v4;
        return true;
    }
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6, v6->sin6_port = htons(static_cast<std::uint16_t>(p)), len = sizeof *v6;
        return true;
    }
    return false;
}

std::string errno_text(const char* what) { return fmt::format("{}: {}", what, std::strerror(errno)); }

// Waits `seconds`, waking for a stop (Ctrl-C) at least every 50 ms.
void wait_for(double seconds)
{
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!stop_requested() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

}  // namespace

StepRunner::~StepRunner() { close_all(); }

Expected<StepRunner::Target> StepRunner::target(const Step& s) const
{
    Target t;
    if (!endpoint(s.value, t.sa, t.len, true)) return RunError::bad_input(fmt::format("'{}' is not ADDRESS:PORT", s.value));
    Expected<NetnsScope> in = enter_netns(ns_.path(s.ns));
    if (!in) return in.error();
    return Target{t.sa, t.len, std::move(*in)};
}

void StepRunner::close_all()
{
    stopping_ = true;
    for (std::thread& t : servers_) t.join();
    servers_.clear();
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    held_.clear();
}

std::string StepRunner::run(const Step& s)
{
    kernel_lacks_ = false;
    if (stop_requested()) return "interrupted";
    switch (s.kind) {
    case StepKind::Sysctl: return sysctl(s);
    case StepKind::Nft: return command(s, {"nft", "-f", "-"}, s.value);
    case StepKind::Iptables:
    case StepKind::Ip6tables: {
        std::string tool = s.kind == StepKind::Iptables ? "iptables" : "ip6tables";
        std::vector<std::string> argv{s.legacy ? tool + "-legacy" : tool, "-w"};
        for (std::string& w : split_words(s.value)) argv.push_back(std::move(w));
        return command(s, argv);
    }
    case StepKind::Ip:
    case StepKind::Tc: {
        std::vector<std::string> argv{s.kind == StepKind::Ip ? "ip" : "tc"};
        for (std::string& w : split_words(s.value)) argv.push_back(std::move(w));
        return command(s, argv);
    }
    case StepKind::TcDrop: return tc_drop_all(ns_.path(s.ns), s.value);
    case StepKind::Tun: {
        int fd = -1;
        std::string why = detached_tun(ns_.path(s.ns), s.value, fd, kernel_lacks_);
        if (fd >= 0) fds_.push_back(fd);
        return why;
    }
    case StepKind::Listen: return listen(s, false);
    case StepKind::Serve: return listen(s, true);
    case StepKind::UdpSink: return udp_sink(s);
    case StepKind::UdpSend: return udp_send(s);
    case StepKind::TcpConnect: return tcp_connect(s);
    case StepKind::Send: return send(s);
    case StepKind::Ping: return ping(s);
    case StepKind::Packet: return packet(s);
    case StepKind::Segment: return segment(s);
    case StepKind::Wait: wait_for(s.seconds); return "";
    case StepKind::Exec:
        if (!allow_exec_) return "an 'exec' step runs a shell command as root: refused without --allow-exec";
        return command(s, {"/bin/sh", "-c", s.value});
    }
    return "unknown step";
}

std::string StepRunner::command(const Step& s, std::vector<std::string> argv, const std::string& input)
{
    CommandResult r = ns_.run(s.ns, argv, input);
    if (r.ok()) return "";
    std::string out = r.output;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    // 'ip link add ... type bond' where the kernel has no bonding.
    if (s.kind == StepKind::Ip && out.find("Unknown device type") != std::string::npos) {
        kernel_lacks_ = true;
        const std::vector<std::string> w = split_words(s.value);
        auto type = std::find(w.begin(), w.end(), "type");
        return fmt::format("this kernel has no {} devices ({})", type != w.end() && type + 1 != w.end() ? type[1] : "such", out);
    }
    return fmt::format("{} failed (exit {}): {}", step_name(s.kind), r.status, out.empty() ? "no output" : out);
}

std::string StepRunner::sysctl(const Step& s)
{
    std::string key = s.value.substr(0, s.value.find('=')), value = s.value.substr(s.value.find('=') + 1);
    auto trim = [](std::string& t) {
        t.erase(0, t.find_first_not_of(" \t"));
        t.erase(t.find_last_not_of(" \t") + 1);
    };
    trim(key), trim(value);
    if (key.find("..") != std::string::npos || key.find('/') != std::string::npos) return fmt::format("'{}' is not a sysctl name", key);
    std::string path = "/proc/sys/" + key;
    std::replace(path.begin() + 10, path.end(), '.', '/');
    Expected<NetnsScope> in = enter_netns(ns_.path(s.ns));
    if (!in) return in.error().message;
    std::ofstream f(path);
    if (!f) return fmt::format("cannot open {} in namespace {}", path, s.ns);
    f << value << '\n';
    f.flush();
    if (!f) return fmt::format("the kernel refused {}={}", key, value);
    return "";
}

std::string StepRunner::listen(const Step& s, bool serve)
{
    Expected<Target> to = target(s);
    if (!to) return to.error().message;
    const sockaddr_storage& sa = to->sa;
    const socklen_t len = to->len;
    int fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno_text("socket");
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (s.rcvbuf) {  // the connections it takes in inherit it
        int size = static_cast<int>(s.rcvbuf);
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    // A server must not drop: a queue as deep as the kernel allows (a slow
    // machine accepts late). A listener has the case's backlog.
    const int backlog = serve ? SOMAXCONN : static_cast<int>(s.backlog);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), len) != 0 || ::listen(fd, backlog) != 0) {
        std::string why = errno_text("bind/listen");
        ::close(fd);
        return why;
    }
    if (!serve) {
        fds_.push_back(fd);
        return "";
    }
    // Accepts and reads until the case ends: traffic that must not drop.
    servers_.emplace_back([this, fd] {
        std::vector<pollfd> polled{{fd, POLLIN, 0}};
        char buf[65536];
        while (!stopping_) {
            if (::poll(polled.data(), polled.size(), 50) <= 0) continue;
            for (std::size_t i = 0; i < polled.size(); ++i) {
                if (!(polled[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                if (i == 0) {
                    int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
                    if (c >= 0) polled.push_back({c, POLLIN, 0});
                } else if (::read(polled[i].fd, buf, sizeof buf) <= 0) {
                    ::close(polled[i].fd);
                    polled[i].fd = -1;
                }
            }
            polled.erase(std::remove_if(polled.begin() + 1, polled.end(), [](const pollfd& p) { return p.fd < 0; }), polled.end());
        }
        for (const pollfd& p : polled) ::close(p.fd);
    });
    return "";
}

std::string StepRunner::udp_sink(const Step& s)
{
    Expected<Target> to = target(s);
    if (!to) return to.error().message;
    const sockaddr_storage& sa = to->sa;
    const socklen_t len = to->len;
    int fd = ::socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno_text("socket");
    fds_.push_back(fd);
    if (s.rcvbuf) {
        int size = static_cast<int>(s.rcvbuf);
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), len) != 0) return errno_text("bind");
    return "";
}

std::string StepRunner::udp_send(const Step& s)
{
    Expected<Target> to = target(s);
    if (!to) return to.error().message;
    const sockaddr_storage& sa = to->sa;
    const socklen_t len = to->len;
    int fd = ::socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno_text("socket");
    std::vector<char> payload(s.size, 'u');
    unsigned sent = 0;
    int last_errno = 0;
    for (unsigned i = 0; i < s.count && !stop_requested(); ++i) {
        if (::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<const sockaddr*>(&sa), len) >= 0) ++sent;
        else last_errno = errno;
    }
    ::close(fd);
    // Errors after some datagrams left (ENOBUFS of a full qdisc, an ICMP
    // error reported back) are what the case is about.
    if (!sent && s.count) return fmt::format("no datagram could be sent to {}: {}", s.value, std::strerror(last_errno));
    return "";
}

std::string StepRunner::tcp_connect(const Step& s)
{
    Expected<Target> to = target(s);
    if (!to) return to.error().message;
    const sockaddr_storage& sa = to->sa;
    const socklen_t len = to->len;
    std::vector<pollfd> pending;
    for (unsigned i = 0; i < s.count; ++i) {
        int fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return errno_text("socket");
        fds_.push_back(fd);
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), len) == 0 || errno == EINPROGRESS) pending.push_back({fd, POLLOUT, 0});
    }
    // Connections the peer never completes (a full queue, a drop) are what
    // many cases are about: wait a little, not for them all.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    std::vector<int> connected;
    while (!pending.empty() && !stop_requested() && std::chrono::steady_clock::now() < deadline) {
        if (::poll(pending.data(), pending.size(), 50) <= 0) continue;
        for (pollfd& p : pending) {
            if (!p.revents) continue;
            int err = 0;
            socklen_t l = sizeof err;
            ::getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &l);
            if (err == 0 && (p.revents & POLLOUT)) connected.push_back(p.fd);
            p.fd = -1;
        }
        pending.erase(std::remove_if(pending.begin(), pending.end(), [](const pollfd& p) { return p.fd < 0; }), pending.end());
    }
    if (s.bytes) {
        std::vector<char> data(s.bytes, 't');
        for (int fd : connected) {
            std::size_t off = 0;
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            while (off < data.size() && std::chrono::steady_clock::now() < until && !stop_requested()) {
                ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
                if (n > 0) off += static_cast<std::size_t>(n);
                else if (n < 0 && errno != EAGAIN) break;
                else {
                    pollfd p{fd, POLLOUT, 0};
                    ::poll(&p, 1, 50);
                }
            }
        }
    }
    if (!s.name.empty()) held_[s.name] = connected, held_in_[s.name] = s.ns;
    if (!s.hold) {
        for (int fd : connected) ::shutdown(fd, SHUT_WR);
    }
    return "";
}

std::string StepRunner::send(const Step& s)
{
    auto it = held_.find(s.value);
    if (it == held_.end()) return fmt::format("no connection named '{}' (tcp_connect with name = \"{}\" and hold = true)", s.value, s.value);
    if (it->second.empty()) return fmt::format("connection '{}' never connected", s.value);
    std::vector<char> data(std::max<std::uint32_t>(s.bytes, 1), 's');
    for (int fd : it->second) ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    return "";
}

std::string StepRunner::ping(const Step& s)
{
    sockaddr_storage sa;
    socklen_t len = 0;
    if (!endpoint(s.value, sa, len, false) || sa.ss_family != AF_INET) return fmt::format("'{}' is not an IPv4 address", s.value);
    Expected<NetnsScope> in = enter_netns(ns_.path(s.ns));
    if (!in) return in.error().message;
    // An ICMP datagram socket: needs net.ipv4.ping_group_range to include root's group.
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd < 0) return errno_text("ping socket (is net.ipv4.ping_group_range set in the namespace?)");
    fds_.push_back(fd);
    if (s.rcvbuf) {
        int size = static_cast<int>(s.rcvbuf);
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    std::vector<std::uint8_t> msg(sizeof(icmphdr) + s.size, 'p');
    auto* h = reinterpret_cast<icmphdr*>(msg.data());
    std::memset(h, 0, sizeof *h);
    h->type = ICMP_ECHO;
    for (unsigned i = 0; i < s.count && !stop_requested(); ++i) {
        h->un.echo.sequence = htons(static_cast<std::uint16_t>(i));
        if (::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<const sockaddr*>(&sa), len) < 0) return errno_text("ping");
    }
    return "";
}

std::string StepRunner::packet(const Step& s)
{
    PacketSpec p = s.packet;
    if (p.src_mac.empty()) p.src_mac = ns_.mac(s.ns, s.dev);
    if (p.dst_mac.empty()) p.dst_mac = ns_.peer_mac(s.ns, s.dev);
    if (p.dst_mac.empty()) return fmt::format("'{}' in {} has no veth peer: give 'dst_mac'", s.dev, s.ns);
    if (!s.packet_src_given) p.src = ns_.address_of(s.ns, s.dev, p.dst);
    if (p.src.empty()) return fmt::format("'{}' in {} has no address of {}'s family: give 'src'", s.dev, s.ns, p.dst);
    std::string error;
    std::vector<std::uint8_t> frame = build_frame(p, error);
    if (frame.empty()) return "packet: " + error;
    Expected<NetnsScope> in = enter_netns(ns_.path(s.ns));
    if (!in) return in.error().message;
    int ifindex = static_cast<int>(::if_nametoindex(s.dev.c_str()));
    if (!ifindex) return fmt::format("no device '{}' in namespace {}", s.dev, s.ns);
    if (!send_frames(ifindex, frame, s.count, error)) return "packet: " + error;
    return "";
}

// Segments written as if the connection's own end had sent them: its
// addresses and ports, the peer's next expected byte + offset, an ACK of
// what the peer sent, its timestamp clock. The peer's TCP checks them as
// its own traffic (PAWS, the window, the out-of-order queue).
std::string StepRunner::segment(const Step& s)
{
    auto it = held_.find(s.value);
    if (it == held_.end()) return fmt::format("no connection named '{}' (tcp_connect with name = \"{}\" and hold = true)", s.value, s.value);
    if (it->second.empty()) return fmt::format("connection '{}' never connected", s.value);
    if (held_in_[s.value] != s.ns) return fmt::format("connection '{}' was made in {}, not {}", s.value, held_in_[s.value], s.ns);
    TcpState tcp;
    if (std::string why = read_tcp_state(it->second.front(), tcp); !why.empty()) return why;
    PacketSpec p = s.packet;
    p.proto = "tcp";
    p.src = tcp.local, p.dst = tcp.peer;
    p.sport = tcp.local_port, p.dport = tcp.peer_port;
    p.ack = tcp.rcv_nxt;
    p.tcp_timestamp = s.timestamp != "none";
    p.tsval = s.timestamp == "old" ? tcp.tsval - 100000 : tcp.tsval;  // the clock counts milliseconds
    p.src_mac = ns_.mac(s.ns, s.dev);
    p.dst_mac = ns_.peer_mac(s.ns, s.dev);
    if (p.dst_mac.empty()) return fmt::format("'{}' in {} has no veth peer", s.dev, s.ns);
    Expected<NetnsScope> in = enter_netns(ns_.path(s.ns));
    if (!in) return in.error().message;
    int ifindex = static_cast<int>(::if_nametoindex(s.dev.c_str()));
    if (!ifindex) return fmt::format("no device '{}' in namespace {}", s.dev, s.ns);
    const std::uint32_t spacing = s.spacing ? s.spacing : static_cast<std::uint32_t>(p.payload);
    for (unsigned i = 0; i < s.count && !stop_requested(); ++i) {
        p.seq = tcp.snd_una + static_cast<std::uint32_t>(s.offset) + i * spacing;
        std::string error;
        std::vector<std::uint8_t> frame = build_frame(p, error);
        if (frame.empty() || !send_frames(ifindex, frame, 1, error)) return "segment: " + error;
    }
    return "";
}

}  // namespace rtd::packtest
