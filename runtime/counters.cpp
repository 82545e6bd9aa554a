#include "runtime/counters.h"

#include <dirent.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "compiler/language.h"

namespace rtd {

std::optional<std::size_t> link_stat_index(const std::string& name)
{
    // language.h lists them in struct rtnl_link_stats64's order.
    const auto& names = link_statistics();
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == name) return i;
    return std::nullopt;
}

namespace {

int link_attr(const struct nlattr* attr, void* data)
{
    auto** tb = static_cast<const struct nlattr**>(data);
    int type = mnl_attr_get_type(attr);
    if (type <= IFLA_MAX) tb[type] = attr;
    return MNL_CB_OK;
}

int link_message(const struct nlmsghdr* nlh, void* data)
{
    auto* links = static_cast<std::vector<LinkInfo>*>(data);
    const auto* ifm = static_cast<const struct ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
    const struct nlattr* tb[IFLA_MAX + 1] = {};
    mnl_attr_parse(nlh, sizeof(*ifm), link_attr, tb);
    LinkInfo link;
    link.ifindex = ifm->ifi_index;
    link.flags = ifm->ifi_flags;
    if (tb[IFLA_IFNAME]) link.name = mnl_attr_get_str(tb[IFLA_IFNAME]);
    if (tb[IFLA_STATS64]) {
        // Older kernels send fewer fields: take what is there.
        std::size_t n = mnl_attr_get_payload_len(tb[IFLA_STATS64]) / sizeof(std::uint64_t);
        link.stats.resize(n);
        std::memcpy(link.stats.data(), mnl_attr_get_payload(tb[IFLA_STATS64]), n * sizeof(std::uint64_t));
    }
    links->push_back(std::move(link));
    return MNL_CB_OK;
}

}  // namespace

std::optional<std::vector<LinkInfo>> read_links(std::string& error)
{
    struct mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        error = fmt::format("cannot open a netlink socket: {}", std::strerror(errno));
        if (nl) mnl_socket_close(nl);
        return std::nullopt;
    }
    std::vector<char> buf(32768);  // a dump message is at most 32 KiB
    struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    unsigned seq = static_cast<unsigned>(time(nullptr));
    nlh->nlmsg_seq = seq;
    auto* ifm = static_cast<struct ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg)));
    ifm->ifi_family = AF_UNSPEC;
    std::vector<LinkInfo> links;
    unsigned portid = mnl_socket_get_portid(nl);
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        error = fmt::format("netlink request failed: {}", std::strerror(errno));
        mnl_socket_close(nl);
        return std::nullopt;
    }
    int ret;
    while ((ret = static_cast<int>(mnl_socket_recvfrom(nl, buf.data(), buf.size()))) > 0) {
        ret = mnl_cb_run(buf.data(), static_cast<std::size_t>(ret), seq, portid, link_message, &links);
        if (ret <= MNL_CB_STOP) break;
    }
    int err = errno;
    mnl_socket_close(nl);
    if (ret < 0) {
        error = fmt::format("netlink dump failed: {}", std::strerror(err));
        return std::nullopt;
    }
    return links;
}

std::optional<std::vector<SysctlValue>> read_sysctl(const std::string& key, const std::string& proc_sys)
{
    std::vector<std::string> segments;
    std::size_t b = 0;
    while (b <= key.size()) {
        std::size_t e = key.find('.', b);
        if (e == std::string::npos) e = key.size();
        segments.push_back(key.substr(b, e - b));
        b = e + 1;
    }
    std::vector<SysctlValue> out;
    // Walk the segments; at most one '*' (the device).
    std::vector<std::pair<std::string, std::string>> paths{{proc_sys, ""}};
    for (const std::string& seg : segments) {
        std::vector<std::pair<std::string, std::string>> next;
        for (const auto& [path, dev] : paths) {
            if (seg != "*") {
                next.emplace_back(path + "/" + seg, dev);
                continue;
            }
            if (DIR* d = opendir(path.c_str())) {
                while (struct dirent* ent = readdir(d)) {
                    std::string name = ent->d_name;
                    if (name == "." || name == ".." || name == "all" || name == "default") continue;
                    next.emplace_back(path + "/" + name, name);
                }
                closedir(d);
            }
        }
        paths = std::move(next);
    }
    for (const auto& [path, dev] : paths)
        if (auto text = read_proc_file(path))
            if (auto v = first_number(*text)) out.push_back({dev, static_cast<std::int64_t>(*v)});
    if (out.empty()) return std::nullopt;
    return out;
}

}  // namespace rtd
