#include "packtest/case_file.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "compiler/source.h"
#include "compiler/toml_source.h"
#include "compiler/words.h"

namespace rtd::packtest {

namespace fs = std::filesystem;

const char* step_name(StepKind kind)
{
    switch (kind) {
    case StepKind::Sysctl: return "sysctl";
    case StepKind::Nft: return "nft";
    case StepKind::Iptables: return "iptables";
    case StepKind::Ip6tables: return "ip6tables";
    case StepKind::Ip: return "ip";
    case StepKind::Tc: return "tc";
    case StepKind::TcDrop: return "tc_drop";
    case StepKind::Tun: return "tun";
    case StepKind::Listen: return "listen";
    case StepKind::Serve: return "serve";
    case StepKind::UdpSink: return "udp_sink";
    case StepKind::UdpSend: return "udp_send";
    case StepKind::TcpConnect: return "tcp_connect";
    case StepKind::Send: return "send";
    case StepKind::Ping: return "ping";
    case StepKind::Packet: return "packet";
    case StepKind::Segment: return "segment";
    case StepKind::Wait: return "wait";
    case StepKind::Exec: return "exec";
    }
    return "?";
}

Topology Topology::pair()
{
    Topology t;
    t.namespaces = {"a", "b"};
    t.links.push_back({{"a", "veth0"}, {"b", "veth0"}});
    t.addresses = {{{"a", "veth0"}, "10.0.0.1/24"}, {{"a", "veth0"}, "fd00::1/64"},
                   {{"b", "veth0"}, "10.0.0.2/24"}, {{"b", "veth0"}, "fd00::2/64"}};
    return t;
}

std::string Expectation::expected_text() const
{
    if (exactly) return *exactly ? fmt::format("= {}", *exactly) : "0";
    return fmt::format(">= {}", at_least.value_or(1));
}

std::vector<fs::path> case_files(const fs::path& pack_dir)
{
    std::vector<fs::path> files;
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(pack_dir / "tests", ec))
        if (e.is_regular_file(ec) && e.path().extension() == ".toml") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

namespace {

const std::map<std::string, StepKind> kActions = {
    {"sysctl", StepKind::Sysctl},     {"nft", StepKind::Nft},           {"iptables", StepKind::Iptables},
    {"ip6tables", StepKind::Ip6tables}, {"ip", StepKind::Ip},           {"tc", StepKind::Tc},
    {"tc_drop", StepKind::TcDrop},    {"tun", StepKind::Tun},           {"listen", StepKind::Listen},     {"serve", StepKind::Serve},
    {"udp_sink", StepKind::UdpSink},  {"udp_send", StepKind::UdpSend},  {"tcp_connect", StepKind::TcpConnect},
    {"send", StepKind::Send},         {"ping", StepKind::Ping},         {"packet", StepKind::Packet},
    {"segment", StepKind::Segment},   {"wait", StepKind::Wait},         {"exec", StepKind::Exec},
};

// Which optional keys each action takes, besides its own and 'in'.
const std::map<StepKind, std::set<std::string>> kStepKeys = {
    {StepKind::Iptables, {"legacy"}},
    {StepKind::Ip6tables, {"legacy"}},
    {StepKind::Listen, {"backlog", "rcvbuf"}},
    {StepKind::UdpSink, {"rcvbuf"}},
    {StepKind::UdpSend, {"count", "size"}},
    {StepKind::TcpConnect, {"count", "bytes", "hold", "name"}},
    {StepKind::Send, {"bytes"}},
    {StepKind::Ping, {"count", "size", "rcvbuf"}},
    {StepKind::Segment, {"dev", "count", "flags", "offset", "spacing", "timestamp", "window", "payload"}},
    {StepKind::Packet,
     {"dev", "count", "src", "dst", "src_mac", "dst_mac", "sport", "dport", "flags", "seq", "ack", "ttl", "id",
      "more_fragments", "dont_fragment", "fragment_offset", "ihl", "total_length", "bad_ip_checksum", "bad_checksum",
      "vlan", "payload"}},
};

// 'ip' and 'tc' run with these first words only: they change the case's
// namespaces, never run other programs ('ip netns exec') or read files.
const std::set<std::string> kIpObjects = {"link", "address", "addr", "route", "neighbour", "neigh", "rule"};
const std::set<std::string> kTcObjects = {"qdisc", "class"};

class Reader {
public:
    Reader(SourceManager& sources, Diagnostics& diags, FileId file) : sources_(sources), diags_(diags), file_(file) {}

    SourceRange at(const toml::node& n) const { return toml_range(sources_, file_, n.source()); }
    SourceRange at(const toml::key& k) const { return toml_range(sources_, file_, k.source()); }
    Diagnostic& error(SourceRange r, std::string message) { return diags_.error(r, std::move(message)); }

    std::optional<std::string> string(const toml::node& n, const std::string& what)
    {
        if (auto s = n.value<std::string>()) return *s;
        error(at(n), fmt::format("'{}' must be a string", what));
        return std::nullopt;
    }
    std::optional<std::int64_t> integer(const toml::node& n, const std::string& what, std::int64_t lo, std::int64_t hi)
    {
        auto v = n.value<std::int64_t>();
        if (n.is_integer() && v && *v >= lo && *v <= hi) return *v;
        error(at(n), fmt::format("'{}' must be an integer from {} to {}", what, lo, hi));
        return std::nullopt;
    }
    std::optional<bool> boolean(const toml::node& n, const std::string& what)
    {
        if (n.is_boolean()) return *n.value<bool>();
        error(at(n), fmt::format("'{}' must be true or false", what));
        return std::nullopt;
    }
    std::vector<std::string> strings(const toml::node& n, const std::string& what)
    {
        std::vector<std::string> out;
        const toml::array* a = n.as_array();
        if (!a || !std::all_of(a->begin(), a->end(), [](const toml::node& e) { return e.is_string(); })) {
            error(at(n), fmt::format("'{}' must be an array of strings", what));
            return out;
        }
        for (const toml::node& e : *a) out.push_back(*e.value<std::string>());
        return out;
    }

    // "a:veth0" -> {a, veth0}, the namespace declared.
    std::optional<Topology::End> end(const std::string& text, const toml::node& n, const Topology& t)
    {
        auto colon = text.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
            error(at(n), fmt::format("'{}' is not NAMESPACE:DEVICE", text)).hint("for example \"a:veth0\"");
            return std::nullopt;
        }
        Topology::End e{text.substr(0, colon), text.substr(colon + 1)};
        if (!known_ns(e.ns, n, t)) return std::nullopt;
        if (e.dev.size() > 15) {
            error(at(n), fmt::format("device name '{}' is longer than 15 characters", e.dev));
            return std::nullopt;
        }
        return e;
    }
    bool known_ns(const std::string& ns, const toml::node& n, const Topology& t)
    {
        if (std::find(t.namespaces.begin(), t.namespaces.end(), ns) != t.namespaces.end()) return true;
        error(at(n), fmt::format("no namespace '{}' in the topology", ns))
            .hint(fmt::format("the topology's namespaces: {}", fmt::join(t.namespaces, ", ")));
        return false;
    }

    std::optional<Topology> topology(const toml::table& t);
    std::optional<Step> step(const toml::node& n, const Topology& t);
    std::optional<Expectation> expectation(const toml::node& n, const Topology& t);
    bool test_case(const toml::table& c, const std::optional<Topology>& shared, const std::string& pack, const fs::path& file,
                   std::vector<TestCase>& out);

private:
    SourceManager& sources_;
    Diagnostics& diags_;
    FileId file_;
};

std::optional<Topology> Reader::topology(const toml::table& table)
{
    Topology t;
    std::size_t errors = diags_.error_count();
    if (const toml::node* n = table.get("namespaces")) t.namespaces = strings(*n, "namespaces");
    if (t.namespaces.empty() && diags_.error_count() == errors) error(at(table), "the topology has no 'namespaces'");
    for (const std::string& ns : t.namespaces)
        if (ns.empty() || ns.size() > 12 || !std::all_of(ns.begin(), ns.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
            error(at(*table.get("namespaces")), fmt::format("namespace name '{}' must be 1 to 12 letters or digits", ns));
    for (const auto& [key, node] : table) {
        const std::string k(key.str());
        if (k == "namespaces") continue;
        const toml::array* a = node.as_array();
        if (!a) {
            error(at(node), fmt::format("'{}' must be an array", k));
            continue;
        }
        for (const toml::node& e : *a) {
            auto text = string(e, k);
            if (!text) continue;
            std::vector<std::string> w = split_words(*text);
            if (k == "links") {  // "a:veth0 b:veth0"
                if (w.size() != 2) {
                    error(at(e), "a link is \"NS:DEV NS:DEV\" (a veth pair)");
                    continue;
                }
                auto x = end(w[0], e, t), y = end(w[1], e, t);
                if (x && y) t.links.push_back({*x, *y});
            } else if (k == "addresses") {  // "a:veth0 10.0.0.1/24"
                if (w.size() != 2 || w[1].find('/') == std::string::npos) {
                    error(at(e), "an address is \"NS:DEV ADDRESS/PREFIX\"");
                    continue;
                }
                if (auto x = end(w[0], e, t)) t.addresses.push_back({*x, w[1]});
            } else if (k == "routes") {  // "a: 10.9.0.0/24 via 10.0.0.2"
                if (w.size() < 2 || w[0].back() != ':') {
                    error(at(e), "a route is \"NS: DESTINATION via GATEWAY\" or \"NS: DESTINATION dev DEV\"");
                    continue;
                }
                std::string ns = w[0].substr(0, w[0].size() - 1);
                if (known_ns(ns, e, t)) t.routes.push_back({ns, std::vector<std::string>(w.begin() + 1, w.end())});
            } else if (k == "bridges") {  // "b:br0 veth0 veth1"
                if (w.size() < 2) {
                    error(at(e), "a bridge is \"NS:NAME PORT...\"");
                    continue;
                }
                if (auto x = end(w[0], e, t)) t.bridges.push_back({x->ns, x->dev, std::vector<std::string>(w.begin() + 1, w.end())});
            } else {
                error(at(key), fmt::format("unknown key '{}' in a topology", k)).hint("topology keys: namespaces, links, addresses, routes, bridges");
                break;
            }
        }
    }
    if (diags_.error_count() != errors) return std::nullopt;
    return t;
}

std::optional<Step> Reader::step(const toml::node& node, const Topology& t)
{
    const toml::table* table = node.as_table();
    if (!table) {
        error(at(node), "a step must be a table, e.g. { udp_send = \"10.0.0.2:53\", in = \"a\" }");
        return std::nullopt;
    }
    Step s;
    s.at = at(node);
    const toml::node* action = nullptr;
    for (const auto& [key, value] : *table) {
        auto kind = kActions.find(std::string(key.str()));
        if (kind == kActions.end()) continue;
        if (action) {
            error(at(key), fmt::format("a step does one thing: '{}' and '{}' in one step", step_name(s.kind), key.str()))
                .hint("write them as two steps");
            return std::nullopt;
        }
        s.kind = kind->second;
        if (s.kind == StepKind::Segment) s.packet.tcp_flags = "PA", s.dev = "veth0";
        action = &value;
    }
    if (!action) {
        error(s.at, "a step needs an action").hint("actions: sysctl, nft, iptables, ip6tables, ip, tc, tc_drop, tun, listen, serve, udp_sink, udp_send, "
                                                   "tcp_connect, send, ping, packet, segment, wait, exec");
        return std::nullopt;
    }
    std::size_t errors = diags_.error_count();
    if (s.kind == StepKind::Wait) {
        auto v = action->value<double>();
        if (!v || *v < 0 || *v > 60) error(at(*action), "'wait' must be a number of seconds from 0 to 60");
        else s.seconds = *v;
    } else if (auto v = string(*action, step_name(s.kind))) {
        s.value = *v;
    }
    const std::set<std::string>& extra = kStepKeys.count(s.kind) ? kStepKeys.at(s.kind) : std::set<std::string>{};
    const bool has_ns = s.kind != StepKind::Wait && s.kind != StepKind::Send;
    for (const auto& [key, bound_value] : *table) {
        const std::string k(key.str());
        const toml::node& value = bound_value;
        if (kActions.count(k)) continue;
        if (k == "in" && has_ns) {
            if (auto ns = string(value, "in"); ns && known_ns(*ns, value, t)) s.ns = *ns;
            continue;
        }
        if (!extra.count(k)) {
            error(at(key), fmt::format("'{}' takes no '{}'", step_name(s.kind), k))
                .hint(extra.empty() ? fmt::format("'{}' takes{}", step_name(s.kind), has_ns ? " 'in' only" : " nothing else")
                                    : fmt::format("'{}' takes 'in' and: {}", step_name(s.kind), fmt::join(extra, ", ")));
            continue;
        }
        auto num = [&](std::uint32_t& out, std::int64_t lo, std::int64_t hi) {
            if (auto v = integer(value, k, lo, hi)) out = static_cast<std::uint32_t>(*v);
        };
        PacketSpec& p = s.packet;
        auto u16 = [&](std::uint16_t& out) {
            if (auto v = integer(value, k, 0, 65535)) out = static_cast<std::uint16_t>(*v);
        };
        auto flag = [&](bool& out) {
            if (auto v = boolean(value, k)) out = *v;
        };
        auto text = [&](std::string& out) {
            if (auto v = string(value, k)) out = *v;
        };
        if (k == "backlog") num(s.backlog, 0, 4096);
        else if (k == "rcvbuf") num(s.rcvbuf, 0, 1 << 24);
        else if (k == "count") num(s.count, 1, 100000);
        else if (k == "size") num(s.size, 0, 65000);
        else if (k == "bytes") num(s.bytes, 0, 1 << 26);
        else if (k == "hold") flag(s.hold);
        else if (k == "legacy") flag(s.legacy);
        else if (k == "name") text(s.name);
        else if (k == "dev") text(s.dev);
        else if (k == "src") text(p.src), s.packet_src_given = true;
        else if (k == "dst") text(p.dst);
        else if (k == "src_mac") text(p.src_mac);
        else if (k == "dst_mac") text(p.dst_mac);
        else if (k == "sport") u16(p.sport);
        else if (k == "dport") u16(p.dport);
        else if (k == "flags") text(p.tcp_flags);
        else if (k == "seq") p.seq = static_cast<std::uint32_t>(integer(value, k, 0, 0xffffffffll).value_or(0));
        else if (k == "ack") p.ack = static_cast<std::uint32_t>(integer(value, k, 0, 0xffffffffll).value_or(0));
        else if (k == "ttl") p.ttl = static_cast<std::uint8_t>(integer(value, k, 0, 255).value_or(64));
        else if (k == "id") u16(p.ip_id);
        else if (k == "more_fragments") flag(p.more_fragments);
        else if (k == "dont_fragment") flag(p.dont_fragment);
        else if (k == "fragment_offset") u16(p.fragment_offset);
        else if (k == "ihl") p.ihl = static_cast<int>(integer(value, k, 0, 15).value_or(-1));
        else if (k == "total_length") p.ip_total_length = static_cast<int>(integer(value, k, 0, 65535).value_or(-1));
        else if (k == "bad_ip_checksum") flag(p.bad_ip_checksum);
        else if (k == "bad_checksum") flag(p.bad_l4_checksum);
        else if (k == "vlan") p.vlan = static_cast<std::uint16_t>(integer(value, k, 1, 4094).value_or(0));
        else if (k == "payload") p.payload = static_cast<std::size_t>(integer(value, k, 0, 9000).value_or(0));
        else if (k == "window") u16(p.window);
        else if (k == "offset") s.offset = integer(value, k, -(1 << 30), 1 << 30).value_or(0);
        else if (k == "spacing") num(s.spacing, 0, 1 << 20);
        else if (k == "timestamp") {
            text(s.timestamp);
            if (s.timestamp != "now" && s.timestamp != "old" && s.timestamp != "none")
                error(at(value), "'timestamp' is \"now\", \"old\" or \"none\"").hint("\"old\" is 100 s behind the connection's clock: PAWS drops it");
        }
    }
    if (has_ns && s.ns.empty()) error(s.at, fmt::format("'{}' needs 'in': the namespace it happens in", step_name(s.kind)));
    if (s.kind == StepKind::Packet) {
        s.packet.proto = s.value;
        if (s.dev.empty()) error(s.at, "'packet' needs 'dev': the device it is sent on");
        if (s.packet.dst.empty()) error(s.at, "'packet' needs 'dst'");
    }
    if (s.kind == StepKind::Send && s.value.empty()) error(at(*action), "'send' names a connection held by 'tcp_connect'");
    if (s.kind == StepKind::Ip || s.kind == StepKind::Tc) {
        std::vector<std::string> w = split_words(s.value);
        const std::set<std::string>& allowed = s.kind == StepKind::Ip ? kIpObjects : kTcObjects;
        if (w.empty() || !allowed.count(w[0]))
            error(at(*action), fmt::format("'{}' steps start with one of: {}", step_name(s.kind), fmt::join(allowed, ", ")))
                .hint("other commands need an 'exec' step (and --allow-exec)");
        else if (s.kind == StepKind::Ip && std::find(w.begin(), w.end(), "netns") != w.end())
            error(at(*action), "an 'ip' step cannot move devices between namespaces").hint("declare the links in the topology");
    }
    if (s.kind == StepKind::Sysctl && s.value.find('=') == std::string::npos)
        error(at(*action), "a sysctl step is \"KEY=VALUE\"").hint("for example \"net.ipv4.ip_forward=1\"");
    if (diags_.error_count() != errors) return std::nullopt;
    return s;
}

std::optional<Expectation> Reader::expectation(const toml::node& node, const Topology& t)
{
    const toml::table* table = node.as_table();
    if (!table) {
        error(at(node), "an expectation must be a table, e.g. { rule = \"udp.no_socket\", at_least = 1 }");
        return std::nullopt;
    }
    Expectation e;
    e.at = at(node);
    std::size_t errors = diags_.error_count();
    for (const auto& [key, value] : *table) {
        const std::string k(key.str());
        if (k == "rule") e.rule = string(value, k).value_or("");
        else if (k == "counter") e.counter = string(value, k).value_or("");
        else if (k == "in") {
            if (auto ns = string(value, k); ns && known_ns(*ns, value, t)) e.ns = *ns;
        } else if (k == "at_least") {
            if (auto v = integer(value, k, 1, 1 << 30)) e.at_least = *v;
        } else if (k == "count") {
            if (auto v = integer(value, k, 0, 1 << 30)) e.exactly = *v;
        } else if (k == "none") {
            if (auto v = boolean(value, k); v && *v) e.exactly = 0;
            else if (v) error(at(value), "'none = false' says nothing").hint("leave it out, or use at_least");
        } else if (k == "where") {
            const toml::table* w = value.as_table();
            if (!w) {
                error(at(value), "'where' must be a table of field = value, e.g. { \"packet.dport\" = 53 }");
                continue;
            }
            for (const auto& [path, v] : *w) {
                FieldMatch m{std::string(path.str()), "", at(v)};
                if (v.is_string()) m.json = nlohmann::json(*v.value<std::string>()).dump();
                else if (v.is_integer()) m.json = std::to_string(*v.value<std::int64_t>());
                else if (v.is_boolean()) m.json = *v.value<bool>() ? "true" : "false";
                else {
                    error(at(v), "a field's value is a string, an integer or a boolean");
                    continue;
                }
                e.where.push_back(std::move(m));
            }
        } else {
            error(at(key), fmt::format("unknown key '{}' in an expectation", k)).hint("expectation keys: rule, counter, in, at_least, count, none, where");
        }
    }
    if (e.rule.empty() == e.counter.empty())
        error(e.at, "an expectation names either a 'rule' (events) or a 'counter' (a /proc/net/snmp or netstat counter)");
    if (!e.counter.empty() && e.ns.empty()) error(e.at, "a counter expectation needs 'in': the namespace whose counter is read");
    if (!e.counter.empty() && !e.where.empty()) error(e.at, "'where' matches events: a counter has none");
    if (e.at_least && e.exactly) error(e.at, "'at_least' and 'count'/'none' together");
    if (diags_.error_count() != errors) return std::nullopt;
    return e;
}

bool Reader::test_case(const toml::table& c, const std::optional<Topology>& shared, const std::string& pack, const fs::path& file,
                       std::vector<TestCase>& out)
{
    TestCase tc;
    tc.pack = pack;
    tc.file = file;
    tc.at = at(c);
    std::size_t errors = diags_.error_count();
    if (const toml::node* t = c.get("topology")) {
        if (const toml::table* tt = t->as_table()) {
            if (auto topo = topology(*tt)) tc.topology = *topo;
        } else {
            error(at(*t), "'topology' must be a table");
        }
    } else {
        tc.topology = shared ? *shared : Topology::pair();
    }
    if (diags_.error_count() != errors) return false;
    for (const auto& [key, value] : c) {
        const std::string k(key.str());
        if (k == "topology") continue;
        if (k == "name") tc.name = string(value, k).value_or("");
        else if (k == "rules") tc.rules = strings(value, k);
        else if (k == "watch") {
            if (auto ns = string(value, k); ns && known_ns(*ns, value, tc.topology)) tc.watch = *ns;
        } else if (k == "all") tc.all = boolean(value, k).value_or(false);
        else if (k == "min_kernel") {
            tc.min_kernel = string(value, k).value_or("");
            if (tc.min_kernel.empty() || tc.min_kernel.find_first_not_of("0123456789.") != std::string::npos || !std::isdigit(tc.min_kernel[0]))
                error(at(value), "'min_kernel' is a kernel version such as \"6.12\"");
        }
        else if (k == "settle") {
            auto v = value.value<double>();
            if (!v || *v < 0 || *v > 30) error(at(value), "'settle' must be a number of seconds from 0 to 30");
            else tc.settle = *v;
        } else if (k == "steps" || k == "step") {
            const toml::array* a = value.as_array();
            if (!a) error(at(value), "'steps' must be an array of tables");
            else
                for (const toml::node& n : *a)
                    if (auto s = step(n, tc.topology)) tc.steps.push_back(*s);
        } else if (k == "expect") {
            const toml::array* a = value.as_array();
            if (!a) error(at(value), "'expect' must be an array of tables");
            else
                for (const toml::node& n : *a)
                    if (auto e = expectation(n, tc.topology)) tc.expect.push_back(*e);
        } else {
            error(at(key), fmt::format("unknown key '{}' in a case", k))
                .hint("case keys: name, rules, topology, steps, expect, settle, watch, all, min_kernel");
        }
    }
    if (tc.name.empty()) error(tc.at, "a case needs a 'name'");
    if (tc.expect.empty() && diags_.error_count() == errors) error(tc.at, "a case needs at least one expectation ('expect')");
    for (const TestCase& o : out)
        if (o.name == tc.name && !tc.name.empty()) error(at(*c.get("name")), fmt::format("a second case named '{}'", tc.name));
    tc.uses_exec = std::any_of(tc.steps.begin(), tc.steps.end(), [](const Step& s) { return s.kind == StepKind::Exec; });
    if (diags_.error_count() != errors) return false;
    out.push_back(std::move(tc));
    return true;
}

}  // namespace

bool read_case_file(const fs::path& file, const std::string& pack, std::vector<TestCase>& cases, SourceManager& sources, Diagnostics& diags)
{
    FileId id = kNoFile;
    std::optional<toml::table> parsed = read_toml_file(file.string(), "case files", "cannot read the case file: ", sources, diags, id);
    if (!parsed) return false;
    toml::table& root = *parsed;
    Reader r(sources, diags, id);
    std::size_t errors = diags.error_count();
    std::optional<Topology> shared;
    for (const auto& [key, value] : root) {
        const std::string k(key.str());
        if (k == "topology") {
            if (const toml::table* t = value.as_table()) shared = r.topology(*t);
            else r.error(r.at(value), "'topology' must be a table");
        } else if (k != "case") {
            r.error(r.at(key), fmt::format("unknown key '{}' in a case file", k)).hint("a case file has a [topology] and [[case]] tables");
        }
    }
    if (diags.error_count() != errors) return false;
    const toml::array* list = root["case"].as_array();
    if (!list || list->empty()) {
        r.error(r.at(root), "the file has no [[case]]");
        return false;
    }
    for (const toml::node& c : *list) {
        if (const toml::table* t = c.as_table()) r.test_case(*t, shared, pack, file, cases);
        else r.error(r.at(c), "'case' must be an array of tables ([[case]])");
    }
    return diags.error_count() == errors;
}

}  // namespace rtd::packtest
