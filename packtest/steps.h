// A case's steps, performed by the runner itself: sysctls, firewall rules,
// sockets (listeners that never accept, receivers that never read, senders),
// crafted frames, waits. Sockets and servers live until the case ends.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "packtest/case_file.h"
#include "packtest/namespaces.h"
#include "runtime/netns.h"
#include "runtime/status.h"

namespace rtd::packtest {

class StepRunner {
public:
    StepRunner(CaseNamespaces& namespaces, bool allow_exec) : ns_(namespaces), allow_exec_(allow_exec) {}
    ~StepRunner();
    StepRunner(const StepRunner&) = delete;
    StepRunner& operator=(const StepRunner&) = delete;

    // "" when the step was done, else why it could not be.
    std::string run(const Step& step);

    // After a failed run(): the kernel lacks what the step needs (a device
    // type, tun), so the case cannot run here, rather than being wrong.
    bool kernel_lacks() const { return kernel_lacks_; }

    // Closes every socket and stops the servers.
    void close_all();

private:
    // A step's ADDRESS:PORT, with this thread in the step's namespace while it lives.
    struct Target {
        sockaddr_storage sa{};
        socklen_t len = 0;
        NetnsScope in;
    };
    Expected<Target> target(const Step& s) const;

    std::string sysctl(const Step& s);
    std::string listen(const Step& s, bool serve);
    std::string udp_sink(const Step& s);
    std::string udp_send(const Step& s);
    std::string tcp_connect(const Step& s);
    std::string send(const Step& s);
    std::string ping(const Step& s);
    std::string packet(const Step& s);
    std::string segment(const Step& s);
    std::string command(const Step& s, std::vector<std::string> argv, const std::string& input = "");

    CaseNamespaces& ns_;
    bool allow_exec_;
    std::vector<int> fds_;                          // closed at the end of the case
    std::map<std::string, std::vector<int>> held_;  // tcp_connect's named connections
    std::map<std::string, std::string> held_in_;    // and the namespace each was made in
    std::vector<std::thread> servers_;
    std::atomic<bool> stopping_{false};
    bool kernel_lacks_ = false;
};

}  // namespace rtd::packtest
