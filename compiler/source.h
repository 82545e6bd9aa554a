// Source files and positions. Every AST node points back into a SourceFile
// through a SourceRange so diagnostics can quote the user's own text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rtd {

using FileId = std::uint32_t;
inline constexpr FileId kNoFile = UINT32_MAX;

// Byte offsets [begin, end) into one file.
struct SourceRange {
    FileId file = kNoFile;
    std::uint32_t begin = 0;
    std::uint32_t end = 0;

    bool valid() const { return file != kNoFile; }
    // The smallest range covering both (same file assumed).
    static SourceRange join(SourceRange a, SourceRange b);
};

// 1-based line and byte column, as clang reports them.
struct LineCol {
    std::uint32_t line = 1;
    std::uint32_t col = 1;
};

class SourceFile {
public:
    SourceFile(std::string display_path, std::string text);

    const std::string& path() const { return path_; }
    std::string_view text() const { return text_; }
    LineCol line_col(std::uint32_t offset) const;
    std::string_view line_text(std::uint32_t line) const;
    std::uint32_t line_count() const { return static_cast<std::uint32_t>(line_starts_.size()); }

    // Moves `end` back over whitespace and '#' comments so that a range
    // produced by the parser (which swallows trailing separators) ends on
    // the last significant character.
    std::uint32_t trim_end(std::uint32_t begin, std::uint32_t end) const;

private:
    // Offset of the '#' that starts a comment on this line, or npos.
    std::size_t comment_start(std::uint32_t line) const;

    std::string path_;
    std::string text_;
    std::vector<std::uint32_t> line_starts_;
};

class SourceManager {
public:
    FileId add(std::string display_path, std::string text);
    const SourceFile& file(FileId id) const { return *files_.at(id); }
    std::size_t size() const { return files_.size(); }
    // "path:line:col" for notes that point somewhere without quoting it.
    std::string describe(SourceRange r) const;

private:
    std::vector<std::unique_ptr<SourceFile>> files_;
};

// Reads a rule, config or pack file that may come from anyone: only a
// regular file (never /dev/zero or a FIFO), and only when it is at most
// `limit` bytes, checked before reading. False with `error` ("no such
// file", "not a regular file", "file is N bytes; KIND are limited to M
// MiB", ...).
bool read_input_file(const std::string& path, std::uintmax_t limit, const char* kind, std::string& text, std::string& error);

// Quoted source as a terminal can show it: control characters and bytes
// that are not UTF-8 become '?', one byte for one byte so columns stay put.
// Also for quoting names and values from hostile files in messages.
std::string printable(std::string_view line);

inline bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace rtd
