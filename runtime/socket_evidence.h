// {socket:PROTO ADDR PORT}: the socket a drop concerns, as `ss -lnp` shows
// it, asked of the kernel through NETLINK_SOCK_DIAG (docs/LANGUAGE.md,
// "Evidence"). For tcp the listener on ADDR:PORT (its accept queue and
// backlog), for udp the sockets bound there (queued bytes and rcvbuf); each
// with the drops the kernel counted on it and the process that holds it.
#pragma once

#include <string>

namespace rtd {

// In the calling thread's network namespace. `arg` is "tcp 10.0.0.2 7001"
// (or udp, IPv6 alike); a wildcard-bound socket matches any address.
std::string socket_get(const std::string& arg);

}  // namespace rtd
