#include "runtime/reason_hints.h"

#include <filesystem>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace rtd {

std::map<std::string, std::string> load_reason_hints(const std::string& dir, std::string& error)
{
    std::map<std::string, std::string> hints;
    std::filesystem::path file = std::filesystem::path(dir) / "hints.toml";
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) file = std::filesystem::path(dir) / ".." / "reasons" / "hints.toml";
    if (!std::filesystem::exists(file, ec)) return hints;
    toml::table parsed;
    try {
        parsed = toml::parse_file(file.string());
    } catch (const toml::parse_error& e) {
        error = fmt::format("{}:{}:{}: {}", file.string(), e.source().begin.line, e.source().begin.column, e.description());
        return hints;
    }
    if (const toml::table* reasons = parsed["reasons"].as_table())
        for (const auto& [name, value] : *reasons)
            if (auto text = value.value<std::string>()) hints.emplace(std::string(name.str()), *text);
    return hints;
}

}  // namespace rtd
