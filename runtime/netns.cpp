#include "runtime/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace rtd {

std::string netns_path(const std::string& spec) { return spec.find('/') == std::string::npos ? "/run/netns/" + spec : spec; }

std::uint64_t netns_inode(const std::string& spec)
{
    struct stat st {};
    return stat(netns_path(spec).c_str(), &st) == 0 ? st.st_ino : 0;
}

NetnsScope::~NetnsScope()
{
    if (previous_ < 0) return;
    static_cast<void>(setns(previous_, CLONE_NEWNET));  // the one it was in: entering it again does not fail
    close(previous_);
}

Expected<NetnsScope> enter_netns(const std::string& spec)
{
    const std::string path = netns_path(spec);
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        std::string message = fmt::format("--netns {}: cannot open {}: {}", spec, path, std::strerror(err));
        if (err == EACCES || err == EPERM) return RunError::failure(message, {"entering a namespace needs root (CAP_SYS_ADMIN)"});
        return RunError::bad_input(message, {"give a name that 'ip netns list' shows, or a path such as /proc/PID/ns/net"});
    }
    // The way back, taken before leaving: a run ends where it began.
    int previous = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (previous < 0) {
        int err = errno;
        close(fd);
        return RunError::failure(fmt::format("--netns {}: cannot remember the current namespace: {}", spec, std::strerror(err)));
    }
    int rc = setns(fd, CLONE_NEWNET);
    int err = errno;
    close(fd);
    if (rc == 0) return NetnsScope(previous);
    close(previous);
    std::string message = fmt::format("--netns {}: cannot enter the namespace: {}", spec, std::strerror(err));
    if (err == EINVAL) return RunError::bad_input(message, {path + " is not a network namespace"});
    if (err == EPERM) return RunError::failure(message, {"entering a namespace needs CAP_SYS_ADMIN (run as root)"});
    return RunError::failure(message);
}

}  // namespace rtd
