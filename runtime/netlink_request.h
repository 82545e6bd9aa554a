// One netlink request and its answer, for the evidence look-ups
// (runtime/evidence.cpp: routes and neighbours; runtime/socket_evidence.cpp:
// sockets). The socket is opened in the calling thread's network namespace,
// so a look-up made after entering a namespace asks that namespace's kernel.
#pragma once

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <cerrno>
#include <utility>
#include <vector>

namespace rtd {

class NetlinkRequest {
public:
    explicit NetlinkRequest(int protocol) : nl_(mnl_socket_open(protocol)) {}
    ~NetlinkRequest()
    {
        if (nl_) mnl_socket_close(nl_);
    }
    NetlinkRequest(const NetlinkRequest&) = delete;
    NetlinkRequest& operator=(const NetlinkRequest&) = delete;

    // A request of `type` in the buffer, with its fixed header `Header` zeroed.
    template <typename Header>
    std::pair<struct nlmsghdr*, Header*> request(unsigned short type, unsigned short flags = NLM_F_REQUEST)
    {
        struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf_.data());
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = flags;
        return {nlh, static_cast<Header*>(mnl_nlmsg_put_extra_header(nlh, sizeof(Header)))};
    }

    // Sends the request and runs `on_reply` on each message of the answer
    // (all parts of a dump); 0, else the errno.
    int ask(struct nlmsghdr* nlh, mnl_cb_t on_reply, void* data)
    {
        if (!nl_ || mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) return errno ? errno : EIO;
        nlh->nlmsg_seq = 1;
        if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return errno;
        const bool dump = nlh->nlmsg_flags & NLM_F_DUMP;
        const unsigned portid = mnl_socket_get_portid(nl_);
        for (;;) {
            ssize_t n = mnl_socket_recvfrom(nl_, buf_.data(), buf_.size());
            if (n < 0) return errno;
            int ret = mnl_cb_run(buf_.data(), static_cast<std::size_t>(n), 1, portid, on_reply, data);
            if (ret < 0) return errno ? errno : EIO;
            // A single answer ends with its message; a dump with NLMSG_DONE
            // (MNL_CB_STOP).
            if (!dump || ret == MNL_CB_STOP) return 0;
        }
    }

private:
    struct mnl_socket* nl_;
    std::vector<char> buf_ = std::vector<char>(MNL_SOCKET_BUFFER_SIZE);
};

}  // namespace rtd
