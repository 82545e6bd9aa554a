#include "runtime/iptables_evidence.h"

#include <arpa/inet.h>
#include <libiptc/libiptc.h>
#include <linux/netfilter/xt_tcpudp.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

namespace rtd {

namespace {

std::string prefix_text(struct in_addr addr, struct in_addr mask)
{
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &addr, text, sizeof text);
    return fmt::format("{}/{}", text, __builtin_popcount(mask.s_addr));
}

std::string ports_text(const char* flag, const std::uint16_t range[2], bool inverted)
{
    if (range[0] == 0 && range[1] == 0xffff) return "";
    std::string ports = range[0] == range[1] ? std::to_string(range[0]) : fmt::format("{}:{}", range[0], range[1]);
    return fmt::format(" {}{} {}", inverted ? "! " : "", flag, ports);
}

// The rule as `iptables-legacy -S` would write its common parts: addresses,
// devices, protocol, the matches by name (with tcp/udp ports), the target.
std::string rule_text(const struct ipt_entry* e, const char* target)
{
    const struct ipt_ip& ip = e->ip;
    std::string out;
    auto inv = [&](unsigned flag) { return (ip.invflags & flag) ? "! " : ""; };
    if (ip.proto) {
        const char* name = ip.proto == IPPROTO_TCP ? "tcp" : ip.proto == IPPROTO_UDP ? "udp" : ip.proto == IPPROTO_ICMP ? "icmp" : nullptr;
        out += fmt::format(" {}-p {}", inv(XT_INV_PROTO), name ? name : std::to_string(ip.proto));
    }
    if (ip.smsk.s_addr) out += fmt::format(" {}-s {}", inv(IPT_INV_SRCIP), prefix_text(ip.src, ip.smsk));
    if (ip.dmsk.s_addr) out += fmt::format(" {}-d {}", inv(IPT_INV_DSTIP), prefix_text(ip.dst, ip.dmsk));
    if (ip.iniface[0]) out += fmt::format(" {}-i {}", inv(IPT_INV_VIA_IN), ip.iniface);
    if (ip.outiface[0]) out += fmt::format(" {}-o {}", inv(IPT_INV_VIA_OUT), ip.outiface);
    for (unsigned at = sizeof(struct ipt_entry); at < e->target_offset;) {
        const auto* m = reinterpret_cast<const struct xt_entry_match*>(reinterpret_cast<const char*>(e) + at);
        if (m->u.match_size < sizeof(*m)) break;
        const std::string name = m->u.user.name;
        out += " -m " + name;
        if (name == "udp" && m->u.match_size >= sizeof(*m) + sizeof(struct xt_udp)) {
            const auto* u = reinterpret_cast<const struct xt_udp*>(m->data);
            out += ports_text("--sport", u->spts, u->invflags & XT_UDP_INV_SRCPT) + ports_text("--dport", u->dpts, u->invflags & XT_UDP_INV_DSTPT);
        } else if (name == "tcp" && m->u.match_size >= sizeof(*m) + sizeof(struct xt_tcp)) {
            const auto* t = reinterpret_cast<const struct xt_tcp*>(m->data);
            out += ports_text("--sport", t->spts, t->invflags & XT_TCP_INV_SRCPT) + ports_text("--dport", t->dpts, t->invflags & XT_TCP_INV_DSTPT);
        }
        at += m->u.match_size;
    }
    out += fmt::format(" -j {}", target);
    return out.substr(1);
}

}  // namespace

std::vector<IptablesRule> legacy_drop_rules(std::string& error)
{
    std::vector<IptablesRule> rules;
    // The thread's namespace, not the process's (/proc/self/net would be).
    std::ifstream names("/proc/thread-self/net/ip_tables_names");
    for (std::string table; std::getline(names, table);) {
        struct xtc_handle* h = iptc_init(table.c_str());
        if (!h) {
            error = fmt::format("table {}: {}", table, iptc_strerror(errno));
            continue;
        }
        for (const char* chain = iptc_first_chain(h); chain; chain = iptc_next_chain(h)) {
            unsigned n = 0;
            for (const struct ipt_entry* e = iptc_first_rule(chain, h); e; e = iptc_next_rule(e, h)) {
                ++n;
                const char* target = iptc_get_target(e, h);
                if (!target || (std::strcmp(target, "DROP") != 0 && std::strcmp(target, "REJECT") != 0)) continue;
                rules.push_back({fmt::format("{} {} rule {}", table, chain, n), rule_text(e, target), e->counters.pcnt});
            }
            // A built-in chain's DROP policy counts what it drops, too.
            struct xt_counters policy_counters {};
            const char* policy = iptc_builtin(chain, h) ? iptc_get_policy(chain, &policy_counters, h) : nullptr;
            if (policy && std::strcmp(policy, "DROP") == 0)
                rules.push_back({fmt::format("{} {} policy", table, chain), fmt::format("-P {} DROP", chain), policy_counters.pcnt});
        }
        iptc_free(h);
    }
    return rules;
}

std::string IptablesDropRules::look(std::uint64_t netns)
{
    std::string error;
    const std::vector<IptablesRule> rules = legacy_drop_rules(error);
    std::map<std::string, std::uint64_t>& last = last_[netns];
    std::vector<const IptablesRule*> grew;
    for (const IptablesRule& r : rules)
        if (auto it = last.find(r.id + r.text); r.packets > (it == last.end() ? 0 : it->second)) grew.push_back(&r);
    last.clear();
    for (const IptablesRule& r : rules) last[r.id + r.text] = r.packets;
    auto quoted = [](const IptablesRule& r) { return fmt::format("'{}: {}'", r.id, r.text); };
    if (grew.size() == 1) return "the iptables-legacy rule " + quoted(*grew[0]) + " counted it";
    std::string out;
    for (const IptablesRule* r : grew) out += (out.empty() ? "" : ", ") + quoted(*r);
    if (!grew.empty()) return "one of the iptables-legacy rules " + out + " counted it (each counted drops since the last look)";
    return error.empty() ? "" : fmt::format("(iptables-legacy: {})", error);
}

}  // namespace rtd
