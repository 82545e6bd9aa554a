#include "runtime/json_line.h"

#include <charconv>

namespace rtd {

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_length(std::string_view s, std::size_t i)
{
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
    if (c >= 0xf5 || n == 0 || i + n > s.size()) return 0;
    auto b1 = static_cast<unsigned char>(s[i + 1]);
    unsigned lo = 0x80, hi = 0xbf;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
    if (b1 < lo || b1 > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
    return n;
}

}  // namespace

void JsonLine::string(std::string_view s)
{
    static constexpr char hex[] = "0123456789abcdef";
    out_ += '"';
    std::size_t plain = 0;  // start of the run copied as is
    auto flush = [&](std::size_t i) { out_.append(s.data() + plain, i - plain); };
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            ++i;
            continue;
        }
        if (c >= 0x80) {
            if (std::size_t n = utf8_length(s, i)) {
                i += n;
                continue;
            }
            flush(i);
            out_ += "\xef\xbf\xbd";  // U+FFFD
            plain = ++i;
            continue;
        }
        flush(i);
        switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\b': out_ += "\\b"; break;
        case '\f': out_ += "\\f"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default:
            out_ += "\\u00";
            out_ += hex[c >> 4];
            out_ += hex[c & 0xf];
        }
        plain = ++i;
    }
    flush(s.size());
    out_ += '"';
}

void JsonLine::number(std::uint64_t v)
{
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
}

void JsonLine::number(std::int64_t v)
{
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
}

}  // namespace rtd
