#include "packtest/tcp_state.h"

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace rtd::packtest {

namespace {

bool literal(const sockaddr_storage& sa, std::string& address, std::uint16_t& port)
{
    char text[INET6_ADDRSTRLEN] = {};
    if (sa.ss_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&sa);
        inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
        port = ntohs(v4->sin_port);
    } else if (sa.ss_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&sa);
        inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
        port = ntohs(v6->sin6_port);
    } else {
        return false;
    }
    address = text;
    return true;
}

std::string errno_text(const char* what) { return fmt::format("{}: {}", what, std::strerror(errno)); }

}  // namespace

std::string read_tcp_state(int fd, TcpState& out)
{
    sockaddr_storage local{}, peer{};
    socklen_t ll = sizeof local, pl = sizeof peer;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0)
        return errno_text("the connection's addresses");
    if (!literal(local, out.local, out.local_port) || !literal(peer, out.peer, out.peer_port)) return "not an IP connection";
    // Repair mode shows the sequence numbers: the send queue's is the next
    // byte the application would write, the receive queue's the next byte
    // expected. Unacknowledged and unsent bytes are counted back from the
    // former.
    int on = 1, off = TCP_REPAIR_OFF_NO_WP;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) != 0) return errno_text("TCP repair mode");
    std::uint32_t write_seq = 0, rcv_nxt = 0;
    socklen_t len = sizeof write_seq;
    int queue = TCP_SEND_QUEUE;
    bool read = ::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof queue) == 0 &&
                ::getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &write_seq, &len) == 0;
    queue = TCP_RECV_QUEUE;
    len = sizeof rcv_nxt;
    read = read && ::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof queue) == 0 &&
           ::getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &rcv_nxt, &len) == 0;
    std::string why = read ? "" : errno_text("the connection's sequence numbers");
    if (::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off) != 0 && why.empty()) why = errno_text("leaving TCP repair mode");
    if (!why.empty()) return why;
    int outstanding = 0;
    if (::ioctl(fd, SIOCOUTQ, &outstanding) != 0) return errno_text("the connection's send queue");
    std::uint32_t tsval = 0;
    len = sizeof tsval;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &tsval, &len) != 0) return errno_text("the connection's timestamp clock");
    out.snd_una = write_seq - static_cast<std::uint32_t>(outstanding);
    out.rcv_nxt = rcv_nxt;
    out.tsval = tsval;
    return "";
}

}  // namespace rtd::packtest
