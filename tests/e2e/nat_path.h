// The topology of the --track tests, on the host and in the QEMU guests:
// a client namespace whose veth's peer is a port of a bridge in a middle
// namespace, which routes to a backend namespace and DNATs a virtual address
// to it, where nothing listens.
#pragma once

#include <algorithm>

#include "tests/e2e/e2e_support.h"

namespace e2e {

// C --veth-- [port of a bridge] M [veth] --veth-- B. M routes between its
// bridge and B and DNATs VIP:80 to B:8080, where nothing listens.
class NatPath {
public:
    NatPath()
    {
        const int id = getpid() % 100000, n = 20 + getpid() % 50;
        c = fmt::format("rtd-trk-{}-c", id);
        m = fmt::format("rtd-trk-{}-m", id);
        b = fmt::format("rtd-trk-{}-b", id);
        dev_c = fmt::format("rtdt{}c", id);
        dev_m0 = fmt::format("rtdt{}m0", id);
        dev_m1 = fmt::format("rtdt{}m1", id);
        dev_b = fmt::format("rtdt{}b", id);
        bridge = fmt::format("rtdt{}br", id);
        addr_c = fmt::format("10.{}.1.2", n);
        addr_b = fmt::format("10.{}.2.2", n);
        vip = fmt::format("10.{}.9.9", n);
        const std::vector<std::string> steps = {
            "ip netns add " + c, "ip netns add " + m, "ip netns add " + b,
            fmt::format("ip link add {} type veth peer name {}", dev_c, dev_m0),
            fmt::format("ip link set {} netns {}", dev_c, c), fmt::format("ip link set {} netns {}", dev_m0, m),
            fmt::format("ip link add {} type veth peer name {}", dev_m1, dev_b),
            fmt::format("ip link set {} netns {}", dev_m1, m), fmt::format("ip link set {} netns {}", dev_b, b),
            fmt::format("ip -n {} link add {} type bridge", m, bridge), fmt::format("ip -n {} link set {} master {}", m, dev_m0, bridge),
            fmt::format("ip -n {} addr add {}/24 dev {}", c, addr_c, dev_c),
            fmt::format("ip -n {} addr add 10.{}.1.1/24 dev {}", m, n, bridge),
            fmt::format("ip -n {} addr add 10.{}.2.1/24 dev {}", m, n, dev_m1),
            fmt::format("ip -n {} addr add {}/24 dev {}", b, addr_b, dev_b),
            fmt::format("ip -n {} link set {} up", c, dev_c), fmt::format("ip -n {} link set {} up", m, dev_m0),
            fmt::format("ip -n {} link set {} up", m, bridge), fmt::format("ip -n {} link set {} up", m, dev_m1),
            fmt::format("ip -n {} link set {} up", b, dev_b),
            fmt::format("ip -n {} route add default via 10.{}.1.1", c, n), fmt::format("ip -n {} route add default via 10.{}.2.1", b, n),
            fmt::format("ip netns exec {} sysctl -qw net.ipv4.ip_forward=1", m),
            fmt::format("ip netns exec {} iptables -t nat -A PREROUTING -d {} -p tcp --dport 80 -j DNAT --to-destination {}:8080", m, vip, addr_b),
        };
        ok = true;
        for (const std::string& s : steps) ok = ok && sh(s) == 0;
        inode_c = Namespaces::inode(c);
        inode_m = Namespaces::inode(m);
        inode_b = Namespaces::inode(b);
    }
    ~NatPath()
    {
        for (const std::string& ns : {c, m, b}) sh("ip netns del " + ns);
    }
    std::string c, m, b, dev_c, dev_m0, dev_m1, dev_b, bridge, addr_c, addr_b, vip;
    std::uint64_t inode_c = 0, inode_m = 0, inode_b = 0;
    bool ok = false;
};

// The first hop of `path` that `pred` accepts, else null.
template <typename Pred>
json hop_where(const json& path, Pred pred)
{
    for (const json& h : path["hops"])
        if (pred(h)) return h;
    return json();
}

}  // namespace e2e
