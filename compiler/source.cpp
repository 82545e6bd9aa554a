#include "compiler/source.h"

#include <algorithm>

#include <fmt/format.h>

namespace rtd {

SourceRange SourceRange::join(SourceRange a, SourceRange b)
{
    if (!a.valid()) return b;
    if (!b.valid() || a.file != b.file) return a;
    return {a.file, std::min(a.begin, b.begin), std::max(a.end, b.end)};
}

SourceFile::SourceFile(std::string display_path, std::string text)
    : path_(std::move(display_path)), text_(std::move(text))
{
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < text_.size(); ++i)
        if (text_[i] == '\n') line_starts_.push_back(static_cast<std::uint32_t>(i + 1));
}

LineCol SourceFile::line_col(std::uint32_t offset) const
{
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    auto line = static_cast<std::uint32_t>(it - line_starts_.begin());  // 1-based
    return {line, offset - line_starts_[line - 1] + 1};
}

std::string_view SourceFile::line_text(std::uint32_t line) const
{
    if (line == 0 || line > line_starts_.size()) return {};
    std::size_t b = line_starts_[line - 1];
    std::size_t e = line < line_starts_.size() ? line_starts_[line] : text_.size();
    while (e > b && (text_[e - 1] == '\n' || text_[e - 1] == '\r')) --e;
    return std::string_view(text_).substr(b, e - b);
}

std::size_t SourceFile::comment_start(std::uint32_t line) const
{
    // Strings never span lines, so scanning one line decides it.
    std::string_view t = line_text(line);
    bool in_string = false;
    for (std::size_t i = 0; i < t.size(); ++i) {
        char c = t[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '#') {
            return line_starts_[line - 1] + i;
        }
    }
    return std::string_view::npos;
}

std::uint32_t SourceFile::trim_end(std::uint32_t begin, std::uint32_t end) const
{
    for (;;) {
        while (end > begin && std::string_view(" \t\r\n\v\f").find(text_[end - 1]) != std::string_view::npos)
            --end;
        if (end <= begin) return begin;
        std::uint32_t line = line_col(end - 1).line;
        std::size_t c = comment_start(line);
        if (c == std::string_view::npos || c >= end) return end;
        end = static_cast<std::uint32_t>(std::max<std::size_t>(c, begin));
    }
}

FileId SourceManager::add(std::string display_path, std::string text)
{
    files_.push_back(std::make_unique<SourceFile>(std::move(display_path), std::move(text)));
    return static_cast<FileId>(files_.size() - 1);
}

std::string SourceManager::describe(SourceRange r) const
{
    if (!r.valid()) return "<unknown>";
    const SourceFile& f = file(r.file);
    LineCol lc = f.line_col(r.begin);
    return fmt::format("{}:{}:{}", f.path(), lc.line, lc.col);
}

}  // namespace rtd
