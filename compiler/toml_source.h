// Reading TOML files (config, pack.toml, the original tool's configs) and
// toml++ positions as ranges in our SourceFile, so their errors quote the
// file like rule errors do. toml++ counts lines from 1 and columns in code
// points from 1; ranges are byte offsets, so a column after non-ASCII text
// is counted out character by character.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "compiler/diagnostics.h"
#include "compiler/source.h"

namespace rtd {

// Settings files are small: a larger one is refused before it is read.
inline constexpr std::uintmax_t kMaxTomlBytes = 1u << 20;

inline std::uint32_t toml_offset(const SourceFile& src, const toml::source_position& p)
{
    std::string_view text = src.text();
    if (p.line == 0) return 0;
    if (p.line > src.line_count()) return static_cast<std::uint32_t>(text.size());
    std::string_view line = src.line_text(p.line);
    std::size_t at = static_cast<std::size_t>(line.data() - text.data());
    std::size_t i = 0;
    for (std::uint32_t col = 1; col < p.column && i < line.size(); ++col) {
        ++i;
        while (i < line.size() && (static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) ++i;
    }
    return static_cast<std::uint32_t>(at + i);
}

// Never empty: at least the character the region starts at.
inline SourceRange toml_range(FileId file, const SourceFile& src, const toml::source_region& r)
{
    const auto size = static_cast<std::uint32_t>(src.text().size());
    std::uint32_t b = toml_offset(src, r.begin), e = r.end ? toml_offset(src, r.end) : b;
    e = std::min(std::max(e, b + 1), size);
    if (b >= e) b = e ? e - 1 : 0;
    return {file, b, std::max(e, b + 1)};
}

inline SourceRange toml_range(const SourceManager& sources, FileId file, const toml::source_region& r)
{
    return toml_range(file, sources.file(file), r);
}

// Reads `path` (at most kMaxTomlBytes; `kind` names such files in the
// error) and parses it. Nothing, after a diagnostic (`cannot_read` + why,
// or toml++'s message at its position), when either fails; `id` is the
// file's id once it is read.
inline std::optional<toml::table> read_toml_file(const std::string& path, const char* kind, const std::string& cannot_read,
                                                 SourceManager& sources, Diagnostics& diags, FileId& id)
{
    std::string text, why;
    if (!read_input_file(path, kMaxTomlBytes, kind, text, why)) {
        diags.error_in(path, cannot_read + why);
        return std::nullopt;
    }
    id = sources.add(path, text);
    try {
        return toml::parse(text, path);
    } catch (const toml::parse_error& e) {
        diags.error(toml_range(sources, id, e.source()), std::string(e.description()));
        return std::nullopt;
    }
}

}  // namespace rtd
