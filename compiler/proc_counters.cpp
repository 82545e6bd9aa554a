#include "compiler/proc_counters.h"

#include <fstream>
#include <sstream>

namespace rtd {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::vector<std::string_view> words(std::string_view line)
{
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && is_space(line[i])) ++i;
        std::size_t b = i;
        while (i < line.size() && !is_space(line[i])) ++i;
        if (i > b) out.push_back(line.substr(b, i - b));
    }
    return out;
}

std::vector<std::string_view> lines(std::string_view text)
{
    std::vector<std::string_view> out;
    std::size_t b = 0;
    while (b < text.size()) {
        std::size_t e = text.find('\n', b);
        if (e == std::string_view::npos) e = text.size();
        std::string_view l = text.substr(b, e - b);
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        out.push_back(l);
        b = e + 1;
    }
    return out;
}

std::optional<std::uint64_t> number(std::string_view s)
{
    if (s.empty()) return std::nullopt;
    std::uint64_t v = 0;
    bool negative = s.front() == '-';  // a few counters (Tcp MaxConn) are -1
    if (negative) s.remove_prefix(1);
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return negative ? static_cast<std::uint64_t>(-static_cast<std::int64_t>(v)) : v;
}

// softnet_stat prints each field as %08x: at most 8 hex digits.
std::optional<std::uint32_t> hex32(std::string_view s)
{
    if (s.empty() || s.size() > 8) return std::nullopt;
    std::uint32_t v = 0;
    for (char c : s) {
        unsigned d;
        if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
        else return std::nullopt;
        v = v << 4 | d;
    }
    return v;
}

// Where each softnet_columns() name (compiler/language.h) sits in a line,
// as net/core/net-procfs.c softnet_seq_show prints them: 3-8 are always 0
// (fastroute and cpu_collision, long gone), 12 is the CPU id.
struct SoftnetColumn {
    std::string_view name;
    std::size_t index;
    bool gauge;
};
constexpr SoftnetColumn kSoftnetColumns[] = {
    {"processed", 0, false},        {"dropped", 1, false},     {"time_squeeze", 2, false},
    {"received_rps", 9, false},     {"flow_limit_count", 10, false},
    {"backlog_len", 11, true},      {"input_qlen", 13, true},  {"process_qlen", 14, true},
};
constexpr std::size_t kSoftnetCpuField = 12;

const SoftnetColumn* softnet_column(std::string_view name)
{
    for (const SoftnetColumn& c : kSoftnetColumns)
        if (c.name == name) return &c;
    return nullptr;
}

}  // namespace

void parse_snmp_tables(std::string_view text, SnmpCounters& out)
{
    std::vector<std::string_view> ls = lines(text);
    for (std::size_t i = 0; i + 1 < ls.size(); ++i) {
        std::vector<std::string_view> head = words(ls[i]);
        std::vector<std::string_view> vals = words(ls[i + 1]);
        if (head.empty() || vals.empty() || head[0] != vals[0] || head[0].back() != ':') continue;
        std::string prefix(head[0].substr(0, head[0].size() - 1));  // "TcpExt"
        for (std::size_t k = 1; k < head.size() && k < vals.size(); ++k)
            if (auto v = number(vals[k])) out[prefix + std::string(head[k])] = *v;
        ++i;  // the values line is consumed
    }
}

void parse_snmp6(std::string_view text, SnmpCounters& out)
{
    for (std::string_view l : lines(text)) {
        std::vector<std::string_view> w = words(l);
        if (w.size() == 2)
            if (auto v = number(w[1])) out[std::string(w[0])] = *v;
    }
}

SnmpCounters read_snmp(const std::string& proc_net)
{
    SnmpCounters out;
    for (const char* file : {"snmp", "netstat"})
        if (auto text = read_proc_file(proc_net + "/" + file)) parse_snmp_tables(*text, out);
    if (auto text = read_proc_file(proc_net + "/snmp6")) parse_snmp6(*text, out);
    return out;
}

std::vector<SoftnetRow> parse_softnet(std::string_view text)
{
    std::vector<SoftnetRow> out;
    unsigned index = 0;
    for (std::string_view l : lines(text)) {
        std::vector<std::string_view> w = words(l);
        if (w.empty()) continue;
        SoftnetRow row;
        row.cpu = index++;
        for (std::string_view field : w)
            if (auto v = hex32(field)) row.fields.push_back(*v);
            else break;
        if (row.fields.size() != w.size()) continue;
        if (row.fields.size() > kSoftnetCpuField) row.cpu = row.fields[kSoftnetCpuField];
        out.push_back(std::move(row));
    }
    return out;
}

std::optional<std::vector<SoftnetRow>> read_softnet(const std::string& proc_net)
{
    auto text = read_proc_file(proc_net + "/softnet_stat");
    if (!text) return std::nullopt;
    return parse_softnet(*text);
}

std::optional<std::size_t> softnet_column_index(std::string_view name)
{
    const SoftnetColumn* c = softnet_column(name);
    return c ? std::optional<std::size_t>(c->index) : std::nullopt;
}

bool softnet_column_is_gauge(std::string_view name)
{
    const SoftnetColumn* c = softnet_column(name);
    return c && c->gauge;
}

std::optional<std::string> read_proc_file(const std::string& path)
{
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::optional<std::uint64_t> first_number(std::string_view text)
{
    std::vector<std::string_view> ls = lines(text);
    std::vector<std::string_view> w = words(ls.empty() ? std::string_view() : ls.front());
    return w.empty() ? std::nullopt : number(w.front());
}

}  // namespace rtd
