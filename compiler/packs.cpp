#include "compiler/packs.h"
#include "compiler/install_paths.h"
#include "compiler/toml_source.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace fs = std::filesystem;

namespace rtd {

bool valid_pack_name(const std::string& n)
{
    if (n.empty() || n.size() > 64 || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
    return std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }) &&
           n.find("..") == std::string::npos;
}

std::vector<fs::path> pack_search_path(const fs::path& installed_rules)
{
    std::vector<fs::path> dirs{"rules"};
    for (fs::path& d : folders_in_env("RTRACE_DROP_PATH")) dirs.push_back(std::move(d));
    dirs.push_back(installed_rules);
    return dirs;
}

int compare_kernel_versions(const std::string& a, const std::string& b)
{
    auto parts = [](const std::string& s) {
        std::vector<long> v;
        std::size_t i = 0;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
            long n = 0;  // saturating: a hostile "99999999999999999999" is just large
            for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) n = std::min(n * 10 + (s[i] - '0'), 1L << 40);
            v.push_back(n);
            if (i < s.size() && s[i] == '.') ++i;
            else break;
        }
        return v;
    };
    std::vector<long> x = parts(a), y = parts(b);
    for (std::size_t i = 0; i < std::max(x.size(), y.size()); ++i) {
        long p = i < x.size() ? x[i] : 0, q = i < y.size() ? y[i] : 0;
        if (p != q) return p < q ? -1 : 1;
    }
    return 0;
}


bool read_pack_toml(const fs::path& dir, PackInfo& info, SourceManager& sources, Diagnostics& diags)
{
    fs::path file = dir / "pack.toml";
    info.dir = dir;
    FileId id = kNoFile;
    std::optional<toml::table> parsed = read_toml_file(file.string(), "pack.toml files", "cannot read the pack's pack.toml: ", sources, diags, id);
    if (!parsed) return false;
    const toml::table& root = *parsed;
    std::size_t errors = diags.error_count();
    for (const auto& [key, value] : root) {
        const toml::key& k = key;
        const toml::node& v = value;
        auto string = [&](std::string& out) {
            if (v.is_string()) out = *v.value<std::string>();
            else diags.error(toml_range(sources, id, v.source()), fmt::format("'{}' must be a string", k.str()));
        };
        auto strings = [&](std::vector<std::string>& out) {
            const toml::array* a = v.as_array();
            if (a && std::all_of(a->begin(), a->end(), [](const toml::node& n) { return n.is_string(); })) {
                for (const toml::node& n : *a) out.push_back(*n.value<std::string>());
            } else {
                diags.error(toml_range(sources, id, v.source()), fmt::format("'{}' must be an array of strings", k.str()));
            }
        };
        // A pack name is a folder name looked up on the search path: never a
        // path that could reach outside it ("../x", "/etc").
        auto pack_name = [&](const std::string& n, const toml::node& at) {
            if (!valid_pack_name(n))
                diags.error(toml_range(sources, id, at.source()), fmt::format("'{}' is not a pack name", printable(std::string_view(n).substr(0, 80))))
                    .hint("pack names are letters, digits, '_', '-' and '.', starting with a letter or digit");
        };
        if (k == "name") {
            string(info.name);
            if (v.is_string()) pack_name(info.name, v);
        } else if (k == "requires") {
            strings(info.requires_packs);
            if (const toml::array* a = v.as_array())
                for (const toml::node& n : *a)
                    if (n.is_string()) pack_name(*n.value<std::string>(), n);
        }
        else if (k == "version") string(info.version);
        else if (k == "description") string(info.description);
        else if (k == "min_kernel") string(info.min_kernel);
        else if (k == "maintainers") strings(info.maintainers);
        else
            diags.error(toml_range(sources, id, k.source()), fmt::format("unknown key '{}' in pack.toml", k.str()))
                .hint("pack.toml keys: name, version, description, maintainers, min_kernel, requires");
    }
    if (info.name.empty() && diags.error_count() == errors)
        diags.error(toml_range(sources, id, root.source()), "pack.toml has no 'name'");
    return diags.error_count() == errors;
}

bool resolve_packs(const std::vector<std::string>& names, const fs::path& installed_rules, const std::string& kernel_release,
                   std::vector<std::string>& paths, SourceManager& sources, Diagnostics& diags)
{
    std::set<fs::path> seen;
    const std::vector<fs::path> search = pack_search_path(installed_rules);
    std::size_t errors = diags.error_count();

    // A pack name names a folder below one of the search path's folders.
    auto find = [&](const std::string& name) -> std::optional<fs::path> {
        std::error_code ec;
        for (const fs::path& d : search)
            if (fs::is_regular_file(d / name / "pack.toml", ec)) return d / name;
        return std::nullopt;
    };
    auto looked_in = [&](const std::string& name) {
        std::string list;
        for (const fs::path& d : search) list += (list.empty() ? "" : ", ") + (d / name).string();
        return "looked in " + list;
    };
    std::function<void(const fs::path&)> add_pack_dir = [&](const fs::path& dir) {
        std::error_code ec;
        fs::path canonical = fs::weakly_canonical(dir, ec);
        if (!seen.insert(canonical).second) return;
        paths.push_back(dir.lexically_normal().string());
        if (!fs::is_regular_file(dir / "pack.toml", ec)) return;  // a plain folder of rules
        PackInfo info;
        if (!read_pack_toml(dir, info, sources, diags)) return;
        if (!info.min_kernel.empty() && !kernel_release.empty() && compare_kernel_versions(kernel_release, info.min_kernel) < 0)
            diags.warning({}, fmt::format("pack '{}' needs kernel {} or newer; this kernel is {}: some of its rules will be skipped",
                                          info.name, info.min_kernel, kernel_release));
        for (const std::string& req : info.requires_packs) {
            if (auto found = find(req)) add_pack_dir(*found);
            else
                diags.error_in((dir / "pack.toml").string(), fmt::format("pack '{}' requires pack '{}', which is not found", info.name, req))
                    .note(looked_in(req));
        }
    };

    for (const std::string& n : names) {
        std::error_code ec;
        if (fs::is_directory(n, ec)) {
            add_pack_dir(n);
        } else if (fs::exists(n, ec)) {
            fs::path canonical = fs::weakly_canonical(n, ec);
            if (seen.insert(canonical).second) paths.push_back(n);
        } else if (n.find('/') == std::string::npos && !n.empty() && n.find(".rule") == std::string::npos &&
                   n.find(".rdo") == std::string::npos) {
            if (auto found = find(n)) add_pack_dir(*found);
            else
                diags.error_in(n, fmt::format("no pack named '{}'", n))
                    .note(looked_in(n))
                    .hint("give a folder or .rule file, or add the folder holding the pack to $RTRACE_DROP_PATH");
        } else {
            paths.push_back(n);  // a path: the loader says what is wrong with it
        }
    }
    return diags.error_count() == errors;
}

}  // namespace rtd
