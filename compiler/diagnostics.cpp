#include "compiler/diagnostics.h"

#include <algorithm>
#include <ostream>
#include <sstream>

#include <fmt/format.h>

namespace rtd {

namespace {

constexpr const char* kBold = "\033[1m";
constexpr const char* kRed = "\033[1;31m";
constexpr const char* kMagenta = "\033[1;35m";
constexpr const char* kGreen = "\033[1;32m";
constexpr const char* kCyan = "\033[1;36m";
constexpr const char* kReset = "\033[0m";


// Long lines (minified or generated files) are cut to a window around the
// range so one diagnostic never prints megabytes.
constexpr std::size_t kMaxQuoted = 160;
constexpr std::size_t kContext = 40;

// The line under the quoted source: tabs copied so the marks line up,
// one mark per character (not per byte) of the range.
std::string underline(std::string_view line, std::size_t from, std::size_t to)
{
    std::string out;
    for (std::size_t i = 0; i < from && i < line.size(); ++i) {
        if (is_utf8_continuation(line[i])) continue;
        out += line[i] == '\t' ? '\t' : ' ';
    }
    if (to <= from + 1) {
        out += to == from ? '^' : '~';
        return out;
    }
    for (std::size_t i = from; i < to && i < line.size(); ++i)
        if (!is_utf8_continuation(line[i])) out += '~';
    if (to > line.size()) out += '~';  // range reaches the end of the line
    return out;
}

}  // namespace

Diagnostic& Diagnostic::hint(std::string text)
{
    trailers.emplace_back("hint", std::move(text));
    return *this;
}

Diagnostic& Diagnostic::note(std::string text)
{
    trailers.emplace_back("note", std::move(text));
    return *this;
}

Diagnostic& Diagnostics::add(Severity s, SourceRange range, std::string path, std::string message)
{
    if (s == Severity::Error && at_limit()) {
        dropped_ = true;
        discarded_ = Diagnostic{};
        return discarded_;
    }
    (s == Severity::Error ? errors_ : warnings_)++;
    list_.push_back(Diagnostic{s, range, std::move(path), std::move(message), {}});
    return list_.back();
}

Diagnostic& Diagnostics::error(SourceRange range, std::string message)
{
    return add(Severity::Error, range, {}, std::move(message));
}

Diagnostic& Diagnostics::warning(SourceRange range, std::string message)
{
    return add(Severity::Warning, range, {}, std::move(message));
}

Diagnostic& Diagnostics::error_in(std::string path, std::string message)
{
    return add(Severity::Error, SourceRange{}, std::move(path), std::move(message));
}

void Diagnostics::render(std::ostream& out, const SourceManager& sources, bool color) const
{
    auto paint = [color](const char* code, std::string_view text) {
        return color ? fmt::format("{}{}{}", code, text, kReset) : std::string(text);
    };
    // In file order, whichever pass found them; file-less ones (unreadable
    // files) first.
    std::vector<const Diagnostic*> ordered;
    for (const Diagnostic& d : list_) ordered.push_back(&d);
    std::stable_sort(ordered.begin(), ordered.end(), [](const Diagnostic* a, const Diagnostic* b) {
        auto key = [](const Diagnostic* d) {
            return d->range.valid() ? std::pair<std::int64_t, std::uint32_t>(d->range.file, d->range.begin)
                                    : std::pair<std::int64_t, std::uint32_t>(-1, 0);
        };
        return key(a) < key(b);
    });
    for (const Diagnostic* dp : ordered) {
        const Diagnostic& d = *dp;
        std::string where;
        std::string quoted;
        if (d.range.valid()) {
            const SourceFile& f = sources.file(d.range.file);
            LineCol b = f.line_col(d.range.begin);
            LineCol e = f.line_col(d.range.end > d.range.begin ? d.range.end - 1 : d.range.begin);
            where = fmt::format("{}:{}:{}", f.path(), b.line, b.col);
            if (e.line == b.line && e.col > b.col) where += fmt::format("-{}", e.col);
            std::string_view line = f.line_text(b.line);
            std::size_t from = b.col - 1;
            std::size_t to = e.line == b.line ? e.col : line.size() + 1;
            if (d.range.end == d.range.begin) to = from;
            std::string prefix, suffix;
            if (line.size() > kMaxQuoted) {
                std::size_t start = from > kContext ? from - kContext : 0;
                while (start > 0 && is_utf8_continuation(line[start])) --start;
                std::size_t stop = std::min(line.size(), start + kMaxQuoted);
                while (stop < line.size() && is_utf8_continuation(line[stop])) ++stop;
                if (start > 0) prefix = "...";
                if (stop < line.size()) suffix = "...";
                line = line.substr(start, stop - start);
                from = from - start + prefix.size();
                to = std::min(to - start, line.size() + 1) + prefix.size();
            }
            std::string shown = prefix + printable(line) + suffix;
            quoted = fmt::format("    {}\n    {}\n", shown, paint(kGreen, underline(shown, from, to)));
        } else {
            where = d.path.empty() ? "rtrace-drop" : d.path;
        }
        bool is_error = d.severity == Severity::Error;
        out << paint(kBold, where + ":") << ' '
            << paint(is_error ? kRed : kMagenta, is_error ? "error:" : "warning:") << ' '
            << paint(kBold, d.message) << '\n'
            << quoted;
        for (const auto& [kind, text] : d.trailers)
            out << paint(kCyan, kind + ":") << ' ' << text << '\n';
    }
    if (dropped_) out << paint(kRed, "error:") << " too many errors emitted, stopping now\n";
}

std::string Diagnostics::render(const SourceManager& sources) const
{
    std::ostringstream out;
    render(out, sources, false);
    return out.str();
}

}  // namespace rtd
