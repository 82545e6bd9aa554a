// Where a live TCP connection stands: the numbers a crafted segment needs
// to land inside it (the `segment` step).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace rtd::packtest {

struct TcpState {
    std::string local, peer;  // address literals
    std::uint16_t local_port = 0, peer_port = 0;
    std::uint32_t snd_una = 0;  // the first byte the peer has not acknowledged
    std::uint32_t rcv_nxt = 0;  // the next byte expected from the peer
    std::uint32_t tsval = 0;    // the timestamp clock as this end sends it (RFC 7323)
};

// Read through TCP repair mode (root: CAP_NET_ADMIN), left again at once
// without a window probe. "" when read, else why not.
std::string read_tcp_state(int fd, TcpState& out);

}  // namespace rtd::packtest
