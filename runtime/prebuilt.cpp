#include "runtime/prebuilt.h"

#include "compiler/source.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compiler/manifest.h"

namespace rtd {

namespace {

constexpr const char* kMagic = "rtrace-drop object 1\n";
constexpr std::size_t kMaxBytes = 256u << 20;

}  // namespace

bool compiler_disabled()
{
    const char* v = std::getenv("RTRACE_DROP_NO_COMPILER");
    return v && *v && std::strcmp(v, "0") != 0;
}

bool is_prebuilt(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    char head[32] = {};
    in.read(head, static_cast<std::streamsize>(std::strlen(kMagic)));
    return in && std::memcmp(head, kMagic, std::strlen(kMagic)) == 0;
}

bool write_prebuilt(const std::string& path, const Prebuilt& p, std::string& error)
{
    using nlohmann::json;
    json hints = json::object();
    for (const auto& [rule, table] : p.reason_hints) hints[std::to_string(rule)] = table;
    std::string sections[] = {p.set.manifest_json(), p.object, p.monitors, hints.dump(), p.matrix};
    const char* names[] = {"manifest", "object", "monitors", "reason_hints", "matrix"};
    json index = {{"built_by", p.built_by}, {"kernel", p.kernel}, {"filter", p.filter}, {"sections", json::array()}};
    for (std::size_t i = 0; i < 5; ++i) index["sections"].push_back({{"name", names[i]}, {"size", sections[i].size()}});
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << kMagic << index.dump() << '\n';
        for (const std::string& s : sections) out << s;
        if (!out.flush()) {
            error = fmt::format("cannot write {}: {}", tmp, std::strerror(errno));
            out.close();
            std::remove(tmp.c_str());
            return false;
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {  // never leave half a file under the real name
        error = fmt::format("cannot rename {} to {}: {}", tmp, path, std::strerror(errno));
        std::remove(tmp.c_str());
        return false;
    }
    return true;
}

std::optional<Prebuilt> read_prebuilt(const std::string& path, std::string& error)
{
    using nlohmann::json;
    std::string data, why;
    if (!read_input_file(path, kMaxBytes, "built objects", data, why)) {
        error = fmt::format("cannot read {}: {}", path, why);
        return std::nullopt;
    }
    std::size_t magic = std::strlen(kMagic);
    if (data.compare(0, magic, kMagic) != 0) {
        error = fmt::format("{} is not an object built by 'rtrace-drop build'", path);
        return std::nullopt;
    }
    std::size_t eol = data.find('\n', magic);
    if (eol == std::string::npos) {
        error = fmt::format("{}: damaged object (no section index)", path);
        return std::nullopt;
    }
    Prebuilt p;
    try {
        json index = json::parse(data.substr(magic, eol - magic));
        p.built_by = index.at("built_by").get<std::string>();
        p.kernel = index.at("kernel").get<std::string>();
        p.filter = index.at("filter").get<std::string>();
        std::size_t at = eol + 1;
        std::map<std::string, std::string> sections;
        for (const json& s : index.at("sections")) {
            std::size_t size = s.at("size").get<std::size_t>();
            if (size > data.size() - at) {
                error = fmt::format("{}: damaged object (section {} runs past the end; truncated copy?)", path, s.at("name").dump());
                return std::nullopt;
            }
            sections[s.at("name").get<std::string>()] = data.substr(at, size);
            at += size;
        }
        if (at != data.size()) {
            error = fmt::format("{}: damaged object ({} bytes after the last section)", path, data.size() - at);
            return std::nullopt;
        }
        for (const char* needed : {"manifest", "object", "monitors", "reason_hints"})
            if (!sections.count(needed)) {
                error = fmt::format("{}: damaged object (no {} section)", path, needed);
                return std::nullopt;
            }
        std::string why;
        std::optional<CompiledRuleSet> set = read_manifest(sections["manifest"], why);
        if (!set) {
            error = fmt::format("{}: {}", path, why);
            return std::nullopt;
        }
        p.set = std::move(*set);
        p.object = std::move(sections["object"]);
        p.monitors = std::move(sections["monitors"]);
        p.matrix = std::move(sections["matrix"]);  // optional: "" in objects built before it
        if (!p.matrix.empty() && !json::accept(p.matrix)) {
            error = fmt::format("{}: damaged object (its test matrix is not JSON)", path);
            return std::nullopt;
        }
        const json hints = json::parse(sections["reason_hints"]);  // outlives the loop: items() refers into it
        for (const auto& [rule, table] : hints.items()) {
            std::size_t i = std::stoul(rule);
            if (i >= p.set.rules.size()) continue;
            p.reason_hints[i] = table.get<std::map<std::string, std::string>>();
        }
    } catch (const std::exception& e) {
        error = fmt::format("{}: damaged object: {}", path, e.what());
        return std::nullopt;
    }
    return p;
}

}  // namespace rtd
