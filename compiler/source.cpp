#include "compiler/source.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

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

bool read_input_file(const std::string& path, std::uintmax_t limit, const char* kind, std::string& text, std::string& error)
{
    std::error_code ec;
    std::filesystem::file_status st = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(st)) {
        error = "no such file";
        return false;
    }
    if (!std::filesystem::is_regular_file(st)) {
        error = "not a regular file";
        return false;
    }
    std::uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) {
        error = ec.message();
        return false;
    }
    if (size > limit) {
        error = fmt::format("file is {} bytes; {} are limited to {} MiB", size, kind, limit >> 20);
        return false;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = std::strerror(errno);
        return false;
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    if (!in && !in.eof()) {
        error = "read error";
        return false;
    }
    text = std::move(buf).str();
    return true;
}

std::string printable(std::string_view line)
{
    std::string out(line);
    for (std::size_t i = 0; i < out.size();) {
        auto c = static_cast<unsigned char>(out[i]);
        std::size_t len = c < 0x80 ? 1 : c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
        bool ok = len > 0 && i + len <= out.size();
        for (std::size_t k = 1; ok && k < len; ++k) ok = is_utf8_continuation(out[i + k]);
        if (!ok || (c < 0x20 && c != '\t') || c == 0x7F) {
            out[i++] = '?';
            continue;
        }
        i += len;
    }
    return out;
}

}  // namespace rtd
