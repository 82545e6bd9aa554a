#include "compiler/filter_address.h"

#include <algorithm>
#include <cctype>
#include <string>

#include <fmt/format.h>

namespace rtd {

namespace {

// "10.0.0.1" -> bytes; parts are decimal 0..255 without leading zeros (which
// would read as octal elsewhere).
bool parse_ipv4(std::string_view s, std::uint8_t* out)
{
    int part = 0;
    std::size_t i = 0;
    while (part < 4) {
        std::size_t b = i;
        unsigned v = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - b < 4) v = v * 10 + static_cast<unsigned>(s[i++] - '0');
        if (i == b || i - b > 3 || v > 255 || (i - b > 1 && s[b] == '0')) return false;
        out[part++] = static_cast<std::uint8_t>(v);
        if (part < 4) {
            if (i >= s.size() || s[i] != '.') return false;
            ++i;
        }
    }
    return i == s.size();
}

// RFC 4291 text forms: eight groups of up to four hex digits, one '::' for a
// run of zero groups, and an IPv4 dotted quad for the last 32 bits.
bool parse_ipv6(std::string_view s, std::uint8_t* out)
{
    std::uint16_t groups[8] = {};
    int n = 0, gap = -1;
    std::size_t i = 0;
    if (s.substr(0, 2) == "::") {
        gap = 0;
        i = 2;
        if (i == s.size()) {
            std::fill(out, out + 16, 0);
            return true;
        }
    } else if (!s.empty() && s[0] == ':') {
        return false;
    }
    while (i < s.size()) {
        if (n == 8) return false;
        std::size_t b = i;
        unsigned v = 0;
        while (i < s.size() && std::isxdigit(static_cast<unsigned char>(s[i])) && i - b < 5) {
            char c = s[i++];
            v = v * 16 + static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        if (i < s.size() && s[i] == '.') {  // trailing IPv4
            std::uint8_t v4[4];
            if (n > 6 || !parse_ipv4(s.substr(b), v4)) return false;
            groups[n++] = static_cast<std::uint16_t>(v4[0] << 8 | v4[1]);
            groups[n++] = static_cast<std::uint16_t>(v4[2] << 8 | v4[3]);
            i = s.size();
            break;
        }
        if (i == b || i - b > 4) return false;
        groups[n++] = static_cast<std::uint16_t>(v);
        if (i == s.size()) break;
        if (s[i] != ':') return false;
        ++i;
        if (i < s.size() && s[i] == ':') {
            if (gap >= 0) return false;
            gap = n;
            ++i;
            if (i == s.size()) break;
        } else if (i == s.size()) {
            return false;  // a trailing single ':'
        }
    }
    if (gap < 0 && n != 8) return false;
    if (gap >= 0 && n > 7) return false;
    std::uint16_t full[8] = {};
    if (gap < 0) {
        std::copy(groups, groups + 8, full);
    } else {
        std::copy(groups, groups + gap, full);
        std::copy(groups + gap, groups + n, full + 8 - (n - gap));
    }
    for (int k = 0; k < 8; ++k) {
        out[2 * k] = static_cast<std::uint8_t>(full[k] >> 8);
        out[2 * k + 1] = static_cast<std::uint8_t>(full[k]);
    }
    return true;
}

}  // namespace

std::optional<AddressLiteral> parse_address_literal(std::string_view spelling, SourceRange range, Diagnostics& diags)
{
    AddressLiteral a;
    std::size_t slash = spelling.find('/');
    std::string_view addr = spelling.substr(0, slash);
    SourceRange addr_range{range.file, range.begin, range.begin + static_cast<std::uint32_t>(addr.size())};
    bool v6 = addr.find(':') != std::string_view::npos;
    a.family = v6 ? 6 : 4;
    if (v6 ? !parse_ipv6(addr, a.bytes.data()) : !parse_ipv4(addr, a.bytes.data())) {
        diags.error(addr_range, fmt::format("invalid {} address '{}'", v6 ? "IPv6" : "IPv4", addr))
            .hint(v6 ? "write eight groups of up to four hex digits separated by ':', with at most one '::'"
                     : "write four numbers from 0 to 255 separated by '.', without leading zeros");
        return std::nullopt;
    }
    if (slash == std::string_view::npos) return a;
    std::string_view digits = spelling.substr(slash + 1);
    a.prefix_range = {range.file, addr_range.end + 1, range.end};
    unsigned max = v6 ? 128 : 32;
    unsigned v = 0;
    for (char c : digits) {
        v = v * 10 + static_cast<unsigned>(c - '0');
        if (v > 1000) break;
    }
    if (v > max || (digits.size() > 1 && digits[0] == '0')) {
        Diagnostic& d = v > max ? diags.error(a.prefix_range, fmt::format("{} prefix length {} is larger than {}", v6 ? "IPv6" : "IPv4",
                                                                          v > 1000 ? std::string(digits) : std::to_string(v), max))
                                : diags.error(a.prefix_range, fmt::format("prefix length '{}' has a leading zero", digits));
        d.hint(fmt::format("an {} prefix length is a number from 0 to {}", v6 ? "IPv6" : "IPv4", max));
        return std::nullopt;
    }
    a.prefix = v;
    return a;
}

}  // namespace rtd
