#include "cli/config.h"
#include "compiler/toml_source.h"
#include "compiler/suggest.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace rtd {

namespace {

// toml++ positions (1-based line and column) -> a range in our SourceFile.
class Locator {
public:
    Locator(const SourceManager& sources, FileId file) : sources_(sources), file_(file) {}

    SourceRange range(const toml::source_region& r) const { return toml_range(sources_, file_, r); }
    std::string where(const toml::source_region& r) const { return sources_.describe(range(r)); }

private:
    const SourceManager& sources_;
    FileId file_;
};

const char* type_name(const toml::node& n)
{
    switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
    }
}

// "did you mean 'x'?", else the list of keys the section knows.
std::string suggest_key(std::string_view key, const std::vector<std::string>& known)
{
    std::string guess = did_you_mean(key, known);
    if (!guess.empty()) return guess;
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    return "known keys: " + list;
}

class Reader {
public:
    Reader(const Locator& at, Diagnostics& diags) : at_(at), diags_(diags) {}

    void wrong_type(const toml::node& n, std::string_view key, const char* expected)
    {
        diags_.error(at_.range(n.source()), fmt::format("'{}' must be {}, not {}", key, expected, type_name(n)));
    }

    void string(const toml::node& n, std::string_view key, std::string& out)
    {
        if (auto v = n.value<std::string>(); v && n.is_string()) out = *v;
        else wrong_type(n, key, "a string");
    }
    void boolean(const toml::node& n, std::string_view key, bool& out)
    {
        if (n.is_boolean()) out = *n.value<bool>();
        else wrong_type(n, key, "true or false");
    }
    void count(const toml::node& n, std::string_view key, std::uint32_t& out)
    {
        auto v = n.is_integer() ? n.value<std::int64_t>() : std::nullopt;
        if (!v) return wrong_type(n, key, "a whole number");
        if (*v < 0 || *v > UINT32_MAX) {
            diags_.error(at_.range(n.source()), fmt::format("'{}' must be between 0 and {}", key, UINT32_MAX));
            return;
        }
        out = static_cast<std::uint32_t>(*v);
    }
    // An array of strings; a single string is accepted as a one-element array.
    void strings(const toml::node& n, std::string_view key, std::vector<std::string>& out)
    {
        if (n.is_string()) {
            out = {*n.value<std::string>()};
            return;
        }
        const toml::array* a = n.as_array();
        if (!a) return wrong_type(n, key, "an array of strings");
        std::vector<std::string> values;
        for (const toml::node& e : *a) {
            if (!e.is_string()) return wrong_type(e, fmt::format("{}[]", key), "a string");
            values.push_back(*e.value<std::string>());
        }
        out = std::move(values);
    }
    void one_of(const toml::node& n, std::string_view key, std::string& out, const std::vector<std::string>& allowed)
    {
        std::string v;
        string(n, key, v);
        if (!n.is_string()) return;
        if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
            std::string list;
            for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
            diags_.error(at_.range(n.source()), fmt::format("'{}' must be one of {}, not '{}'", key, list, v));
            return;
        }
        out = v;
    }
    void unknown(const toml::key& k, std::string_view section, const std::vector<std::string>& known)
    {
        diags_.error(at_.range(k.source()), fmt::format("unknown key '{}'{}", k.str(), section.empty() ? "" : fmt::format(" in [{}]", section)))
            .hint(suggest_key(k.str(), known));
    }
    const toml::table* section(const toml::node& n, std::string_view key)
    {
        const toml::table* t = n.as_table();
        if (!t) wrong_type(n, key, "a table");
        return t;
    }

    const Locator& at_;
    Diagnostics& diags_;
};

void read_rules(const toml::table& t, Settings& s, Reader& r)
{
    for (const auto& [k, v] : t) {
        if (k == "packs") r.strings(v, "packs", s.packs);
        else if (k == "include") r.strings(v, "include", s.include);
        else if (k == "exclude") r.strings(v, "exclude", s.exclude);
        else r.unknown(k, "rules", {"packs", "include", "exclude"});
    }
}

void read_filter(const toml::table& t, Settings& s, Reader& r)
{
    for (const auto& [k, v] : t) {
        if (k == "where") r.string(v, "where", s.where);
        else if (k == "host") r.strings(v, "host", s.host);
        else if (k == "port") {
            std::vector<std::uint32_t> ports;
            auto one = [&](const toml::node& n) {
                std::uint32_t p = 0;
                r.count(n, "port", p);
                if (p > 65535) r.diags_.error(r.at_.range(n.source()), "'port' must be between 0 and 65535");
                ports.push_back(p);
            };
            if (const toml::array* a = v.as_array()) for (const toml::node& e : *a) one(e);
            else one(v);
            s.port = ports;
        } else if (k == "proto") {
            if (v.is_integer()) s.proto = std::to_string(*v.value<std::int64_t>());
            else r.string(v, "proto", s.proto);
        } else if (k == "netns") r.string(v, "netns", s.netns);
        else if (k == "dev") r.string(v, "dev", s.dev);
        else if (k == "rate_limit") r.count(v, "rate_limit", s.rate_limit);
        else if (k == "pcap_filter") r.string(v, "pcap_filter", s.pcap_filter);
        else r.unknown(k, "filter", {"where", "host", "port", "proto", "netns", "dev", "rate_limit", "pcap_filter"});
    }
}

void read_output(const toml::table& t, Settings& s, Reader& r)
{
    for (const auto& [k, v] : t) {
        if (k == "format") r.one_of(v, "format", s.format, {"text", "json", "summary"});
        else if (k == "color") r.one_of(v, "color", s.color, {"auto", "always", "never"});
        else if (k == "stack") r.boolean(v, "stack", s.stack);
        else if (k == "hints") r.boolean(v, "hints", s.hints);
        else if (k == "interval") r.string(v, "interval", s.interval);
        else if (k == "duration") r.string(v, "duration", s.duration);
        else if (k == "quiet") r.boolean(v, "quiet", s.quiet);
        else if (k == "ledger") r.boolean(v, "ledger", s.ledger);
        else if (k == "pcap") r.string(v, "pcap", s.pcap);
        else if (k == "snaplen") r.count(v, "snaplen", s.snaplen);
        else if (k == "pcap_rotate") r.string(v, "pcap_rotate", s.pcap_rotate);
        else if (k == "pcap_files") r.count(v, "pcap_files", s.pcap_files);
        else if (k == "track") r.boolean(v, "track", s.track);
        else if (k == "track_size") r.count(v, "track_size", s.track_size);
        else if (k == "track_hops") r.count(v, "track_hops", s.track_hops);
        else r.unknown(k, "output", {"format", "color", "stack", "hints", "interval", "duration", "quiet", "ledger", "pcap", "snaplen",
                                     "pcap_rotate", "pcap_files", "track", "track_size", "track_hops"});
    }
}

void read_metrics(const toml::table& t, Settings& s, Reader& r)
{
    for (const auto& [k, v] : t) {
        if (k == "listen") r.string(v, "listen", s.metrics);
        else if (k == "labels") r.strings(v, "labels", s.metrics_labels);
        else if (k == "max_series") r.count(v, "max_series", s.metrics_max_series);
        else r.unknown(k, "metrics", {"listen", "labels", "max_series"});
    }
}

void read_params(const toml::table& t, Settings& s, Reader& r)
{
    for (const auto& [rule, v] : t) {
        const toml::table* values = r.section(v, fmt::format("params.\"{}\"", rule.str()));
        if (!values) continue;
        for (const auto& [name, value] : *values) {
            auto n = value.is_integer() ? value.value<std::int64_t>() : std::nullopt;
            if (!n) {
                r.wrong_type(value, name.str(), "an integer (a rule's param)");
                continue;
            }
            s.params[std::string(rule.str())][std::string(name.str())] = {*n, r.at_.where(value.source())};
        }
    }
}

}  // namespace

bool load_config_text(const std::string& display_path, std::string text, Settings& settings, SourceManager& sources,
                      Diagnostics& diags)
{
    FileId file = sources.add(display_path, text);
    Locator at(sources, file);
    std::size_t errors = diags.error_count();
    toml::table root;
    try {
        root = toml::parse(text, display_path);
    } catch (const toml::parse_error& e) {
        diags.error(at.range(e.source()), std::string(e.description()));
        return false;
    }
    Reader r(at, diags);
    Settings s = settings;
    for (const auto& [k, v] : root) {
        const toml::table* t = nullptr;
        if (k == "function" || k == "fib_validate_source") {
            diags.error(at.range(k.source()), fmt::format("'[[{}]]' is the original rtrace-drop's configuration", k.str()))
                .hint(fmt::format("convert it to a rule file with 'rtrace-drop import {}'", display_path));
            continue;
        }
        if (k != "rules" && k != "filter" && k != "output" && k != "metrics" && k != "params") {
            r.unknown(k, "", {"rules", "filter", "output", "metrics", "params"});
            continue;
        }
        if (!(t = r.section(v, k.str()))) continue;
        if (k == "rules") read_rules(*t, s, r);
        else if (k == "filter") read_filter(*t, s, r);
        else if (k == "output") read_output(*t, s, r);
        else if (k == "metrics") read_metrics(*t, s, r);
        else read_params(*t, s, r);
    }
    if (diags.error_count() != errors) return false;
    settings = std::move(s);
    return true;
}

bool load_config(const std::string& path, Settings& settings, SourceManager& sources, Diagnostics& diags)
{
    std::string text, why;
    if (!read_input_file(path, kMaxTomlBytes, "config files", text, why)) {
        diags.error_in(path, "cannot read the config file: " + why);
        return false;
    }
    return load_config_text(path, text, settings, sources, diags);
}

namespace {

std::string quoted(const std::string& s)
{
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        else out += c;
    }
    return out + "\"";
}

std::string list(const std::vector<std::string>& v)
{
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + quoted(v[i]);
    return out + "]";
}

}  // namespace

std::string config_text(const Settings& s, bool c)
{
    std::string out;
    auto line = [&](const std::string& comment, const std::string& text) {
        if (c && !comment.empty()) out += "# " + comment + "\n";
        out += text + "\n";
        if (c && !comment.empty()) out += "\n";
    };
    if (c)
        out += "# rtrace-drop configuration (rtrace-drop --config FILE). Command-line flags\n"
               "# override what is set here. Written by `rtrace-drop --gen FILE`: every\n"
               "# value below is the default.\n\n";
    out += "[rules]\n";
    line("Packs to run: names found in ./rules, $RTRACE_DROP_PATH and the installed\n# packs, or folders, .rule files and prebuilt .rdo files. [] runs every shipped pack.",
         "packs = " + list(s.packs));
    line("Rule ids to run (globs such as \"tcp.*\"); [] runs every rule of the packs.", "include = " + list(s.include));
    line("Rule ids to leave out (globs); exclude wins over include.", "exclude = " + list(s.exclude));
    out += c ? "[filter]\n" : "\n[filter]\n";
    line("Report only drops this expression accepts, decided in the kernel (filtered\n"
         "# drops are still counted). Builtins: saddr daddr sport dport proto dev netns\n"
         "# comm pid; e.g. \"dport == 443 && saddr in 10.0.0.0/8\".",
         "where = " + quoted(s.where));
    line("Only packets from or to these addresses or CIDRs.", "host = " + list(s.host));
    std::string ports = "[";
    for (std::size_t i = 0; i < s.port.size(); ++i) ports += (i ? ", " : "") + std::to_string(s.port[i]);
    line("Only packets from or to these ports.", "port = " + ports + "]");
    line("Only this protocol: tcp, udp, icmp, icmpv6, sctp or a number (\"\" for any).", "proto = " + quoted(s.proto));
    line("Only this network namespace (a name from 'ip netns list' or a path such as\n# /proc/PID/ns/net); monitors read it too.",
         "netns = " + quoted(s.netns));
    line("Only packets on this device.", "dev = " + quoted(s.dev));
    line("At most this many events per rule per second (0: no limit); counts stay exact.",
         "rate_limit = " + std::to_string(s.rate_limit));
    line("Only packets this pcap-filter expression accepts, as tcpdump takes it\n"
         "# (\"tcp port 443 and host 10.0.0.1\"), compiled by libpcap, decided in the kernel.",
         "pcap_filter = " + quoted(s.pcap_filter));
    out += c ? "[output]\n" : "\n[output]\n";
    line("text (a line per drop), json (an object per line) or summary (a table at the end).", "format = " + quoted(s.format));
    line("Colour: auto (when writing to a terminal), always or never.", "color = " + quoted(s.color));
    line("Print the kernel stack of rules that record one.", std::string("stack = ") + (s.stack ? "true" : "false"));
    line("Print each drop's hint.", std::string("hints = ") + (s.hints ? "true" : "false"));
    line("How often monitors are polled.", "interval = " + quoted(s.interval));
    line("Stop after this long (\"30s\", \"5m\"); \"\" runs until Ctrl-C.", "duration = " + quoted(s.duration));
    line("No line per drop or finding: the metrics and the counters are the output.", std::string("quiet = ") + (s.quiet ? "true" : "false"));
    line("Reconcile the kernel's drop counters with the drops the rules trace (the ledger).",
         std::string("ledger = ") + (s.ledger ? "true" : "false"));
    line("Write the dropped packets to this pcapng file (\"-\": standard output), each\n"
         "# with a comment naming the rule, the reason, the place and the hint.",
         "pcap = " + quoted(s.pcap));
    line("Bytes of each packet copied in the kernel (at most 8192).", "snaplen = " + std::to_string(s.snaplen));
    line("Start a new pcap file once the current one reaches this size (\"100M\");\n# \"\" never does.",
         "pcap_rotate = " + quoted(s.pcap_rotate));
    line("pcap files kept when rotating, the current one included.", "pcap_files = " + std::to_string(s.pcap_files));
    line("Follow each packet between devices in the kernel: a drop shows the way its\n# packet went (devices, namespaces, bridges, NAT).",
         std::string("track = ") + (s.track ? "true" : "false"));
    line("Packets followed at once; when full, the least recently moved one goes.", "track_size = " + std::to_string(s.track_size));
    line("Hops each followed packet keeps: the first and the latest (2 to 8).", "track_hops = " + std::to_string(s.track_hops));
    out += c ? "[metrics]\n" : "\n[metrics]\n";
    line("Serve Prometheus metrics at http://ADDR:PORT/metrics (\":9977\" for every\n# address); \"\" serves none.",
         "listen = " + quoted(s.metrics));
    line("The labels of rtrace_drop_drops_total: rule, layer, reason, dev, netns (with\n# netns_name). Those left out are summed.",
         "labels = " + list(s.metrics_labels));
    line("Label sets the kernel counts apart; once its table is full, new ones count\n# under dev=\"other\" (rtrace_drop_drops_unitemized_total).",
         "max_series = " + std::to_string(s.metrics_max_series));
    if (c)
        out += "# Per-rule parameters: a rule that declares 'param min = 1024' takes its value\n"
               "# from here instead, e.g.\n"
               "# [params.\"sysctl.somaxconn_small\"]\n"
               "# min = 4096\n";
    for (const auto& [rule, values] : s.params) {
        out += fmt::format("\n[params.{}]\n", quoted(rule));
        for (const auto& [name, v] : values) out += fmt::format("{} = {}\n", name, v.value);
    }
    return out;
}

bool combined_filter(const Settings& s, std::string& filter, std::string& error)
{
    std::vector<std::string> parts;
    if (!s.where.empty()) parts.push_back(s.where);
    auto safe = [](const std::string& v, const char* allowed) {
        return !v.empty() && std::all_of(v.begin(), v.end(), [&](char c) { return std::isalnum(static_cast<unsigned char>(c)) || std::strchr(allowed, c); });
    };
    if (!s.host.empty()) {
        std::string any;
        for (const std::string& h : s.host) {
            if (!safe(h, ".:/")) {
                error = fmt::format("--host '{}' is not an address or CIDR", h);
                return false;
            }
            const char* op = h.find('/') != std::string::npos ? "in" : "==";
            any += fmt::format("{}saddr {} {} || daddr {} {}", any.empty() ? "" : " || ", op, h, op, h);
        }
        parts.push_back(any);
    }
    if (!s.port.empty()) {
        std::string any;
        for (std::uint32_t p : s.port) any += fmt::format("{}sport == {} || dport == {}", any.empty() ? "" : " || ", p, p);
        parts.push_back(any);
    }
    if (!s.proto.empty()) {
        if (!safe(s.proto, "")) {
            error = fmt::format("--proto '{}' is not tcp, udp, icmp, icmpv6, sctp or a number", s.proto);
            return false;
        }
        std::string p = s.proto;
        std::transform(p.begin(), p.end(), p.begin(), [](unsigned char ch) { return std::tolower(ch); });
        parts.push_back("proto == " + p);
    }
    if (!s.dev.empty()) {
        if (!safe(s.dev, "-_.@:")) {
            error = fmt::format("--dev '{}' is not a device name", s.dev);
            return false;
        }
        parts.push_back("dev == \"" + s.dev + "\"");
    }
    // Alone, the filter keeps its text (error columns point into what the
    // user typed); joined, each part is parenthesised.
    filter = parts.size() == 1 ? parts.front() : "";
    if (parts.size() > 1)
        for (const std::string& p : parts) filter += (filter.empty() ? "(" : " && (") + p + ")";
    return true;
}

}  // namespace rtd
