// Reading TOML files (config, pack.toml, the original tool's configs) and
// toml++ positions (1-based line and column) as ranges in our SourceFile,
// so their errors quote the file like rule errors do.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>

#include <toml++/toml.h>

#include "compiler/source.h"

namespace rtd {

// Settings files are small: a larger one is refused before it is read.
inline constexpr std::uintmax_t kMaxTomlBytes = 1u << 20;

inline SourceRange toml_range(const SourceManager& sources, FileId file, const toml::source_region& r)
{
    std::string_view text = sources.file(file).text();
    auto offset = [&](const toml::source_position& p) {
        std::uint32_t at = 0;
        for (std::uint32_t l = 1; l < std::max<std::uint32_t>(p.line, 1) && at < text.size(); ++at)
            if (text[at] == '\n') ++l;
        return std::min<std::uint32_t>(at + std::max<std::uint32_t>(p.column, 1) - 1, static_cast<std::uint32_t>(text.size()));
    };
    std::uint32_t b = offset(r.begin), e = r.end.line ? offset(r.end) : b + 1;
    if (e <= b) e = b + 1;
    e = std::min<std::uint32_t>(e, static_cast<std::uint32_t>(text.size()));
    if (b >= e) b = e ? e - 1 : 0;
    return {file, b, std::max(e, b + 1)};
}

}  // namespace rtd
