// Reading TOML files (config, pack.toml, the original tool's configs) and
// toml++ positions as ranges in our SourceFile, so their errors quote the
// file like rule errors do. toml++ counts lines from 1 and columns in code
// points from 1; ranges are byte offsets, so a column after non-ASCII text
// is counted out character by character.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>

#include <toml++/toml.h>

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

}  // namespace rtd
