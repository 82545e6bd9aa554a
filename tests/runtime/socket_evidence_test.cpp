// {socket:...} against real sockets of this process (runtime/socket_evidence.h):
// the kernel's own answer through NETLINK_SOCK_DIAG, the holder found in /proc.
#include "runtime/socket_evidence.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace rtd {
namespace {

struct Fd {
    int fd;
    ~Fd() { if (fd >= 0) close(fd); }
};

// A socket of `type` bound to 127.0.0.1 on a port the kernel picks; its port.
unsigned bound(Fd& s, int type)
{
    s.fd = socket(AF_INET, type, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s.fd < 0 || bind(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 0;
    socklen_t len = sizeof a;
    getsockname(s.fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

std::string me()
{
    std::string comm;
    std::getline(std::ifstream("/proc/self/comm"), comm);
    return fmt::format("{} (pid {})", comm, getpid());
}

TEST(SocketEvidence, UdpSocketWithItsQueueBufferAndHolder)
{
    Fd s{-1}, sender{socket(AF_INET, SOCK_DGRAM, 0)};
    const unsigned port = bound(s, SOCK_DGRAM);
    ASSERT_NE(port, 0u);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char payload[100] = {};
    for (int i = 0; i < 3; ++i) ASSERT_EQ(sendto(sender.fd, payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 100);

    const std::string got = socket_get(fmt::format("udp 127.0.0.1 {}", port));
    const std::string head = fmt::format("udp socket 127.0.0.1:{} of {}: ", port, me());
    ASSERT_EQ(got.substr(0, head.size()), head) << got;
    // Three datagrams wait, each charged with its buffer's true size.
    unsigned queued = 0, rcvbuf = 0, dropped = 99;
    ASSERT_EQ(std::sscanf(got.c_str() + head.size(), "%u B queued, rcvbuf %u B, %u dropped so far", &queued, &rcvbuf, &dropped), 3) << got;
    EXPECT_GE(queued, 300u);
    int set = 0;
    socklen_t len = sizeof set;
    getsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &set, &len);
    EXPECT_EQ(rcvbuf, static_cast<unsigned>(set));
    EXPECT_EQ(dropped, 0u);
    // A wildcard-bound socket also takes a packet to 127.0.0.1: only the
    // address asked about decides, not how it is written.
    EXPECT_EQ(socket_get(fmt::format("udp 127.0.0.2 {}", port)), fmt::format("no udp socket on 127.0.0.2:{}", port));
}

TEST(SocketEvidence, TcpListenerWithItsAcceptQueue)
{
    Fd l{-1}, c{socket(AF_INET, SOCK_STREAM, 0)};
    const unsigned port = bound(l, SOCK_STREAM);
    ASSERT_NE(port, 0u);
    ASSERT_EQ(listen(l.fd, 4), 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(c.fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);  // never accepted
    EXPECT_EQ(socket_get(fmt::format("tcp 127.0.0.1 {}", port)),
              fmt::format("tcp listener 127.0.0.1:{} of {}: 1 waiting to be accepted, backlog 4, 0 dropped so far", port, me()));
}

TEST(SocketEvidence, NothingThereAndBadArguments)
{
    Fd s{-1};
    const unsigned port = bound(s, SOCK_DGRAM);  // a udp port: no tcp listener on it
    EXPECT_EQ(socket_get(fmt::format("tcp 127.0.0.1 {}", port)), fmt::format("no tcp listener on 127.0.0.1:{}", port));
    EXPECT_EQ(socket_get(fmt::format("udp ::1 {}", port)), fmt::format("no udp socket on [::1]:{}", port));
    EXPECT_EQ(socket_get("sctp 127.0.0.1 1"), "(expected tcp|udp ADDR PORT)");
    EXPECT_EQ(socket_get("udp 127.0.0.x 1"), "(not an address: '127.0.0.x')");
    EXPECT_EQ(socket_get("udp 127.0.0.1 70000"), "(not a port: '70000')");
}

}  // namespace
}  // namespace rtd
