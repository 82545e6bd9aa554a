#include "packtest/tun_device.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "runtime/netns.h"

namespace rtd::packtest {

std::string detached_tun(const std::string& netns_path, const std::string& name, int& fd, bool& no_tun)
{
    fd = -1;
    no_tun = false;
    if (name.empty() || name.size() >= IFNAMSIZ) return fmt::format("'{}' is not a device name (1 to {} characters)", name, IFNAMSIZ - 1);
    Expected<NetnsScope> in = enter_netns(netns_path);
    if (!in) return in.error().message;
    auto fail = [&](const char* what) {
        std::string why = fmt::format("{}: {}", what, std::strerror(errno));
        if (fd >= 0) ::close(fd);
        fd = -1;
        return why;
    };
    fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        no_tun = errno == ENOENT || errno == ENODEV || errno == ENXIO;
        return fail("/dev/net/tun (is the tun module there?)");
    }
    // A multi-queue device: a queue detached from it leaves the carrier on
    // (a single-queue device without a reader has none, and its packets
    // would stop at the qdisc instead).
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
    if (::ioctl(fd, TUNSETIFF, &ifr) != 0) return fail("creating the tun device");
    int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq up{};
    std::strncpy(up.ifr_name, name.c_str(), IFNAMSIZ - 1);
    bool raised = sock >= 0 && ::ioctl(sock, SIOCGIFFLAGS, &up) == 0 && (up.ifr_flags |= IFF_UP, ::ioctl(sock, SIOCSIFFLAGS, &up) == 0);
    if (sock >= 0) ::close(sock);
    if (!raised) return fail("bringing the tun device up");
    ifreq detach{};
    detach.ifr_flags = IFF_DETACH_QUEUE;
    if (::ioctl(fd, TUNSETQUEUE, &detach) != 0) return fail("detaching the tun device's queue");
    return "";
}

}  // namespace rtd::packtest
