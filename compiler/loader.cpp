#include "compiler/loader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "compiler/parser.h"

namespace rtd {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxImportDepth = 64;

std::string join(const std::vector<std::string>& v, std::string_view sep)
{
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

// The nearest folder at or above `dir` holding a pack.toml.
std::optional<fs::path> pack_root(fs::path dir)
{
    std::error_code ec;
    dir = fs::absolute(dir, ec);
    for (int i = 0; i < 32 && !dir.empty(); ++i) {
        if (fs::is_regular_file(dir / "pack.toml", ec)) return dir;
        if (dir == dir.parent_path()) break;
        dir = dir.parent_path();
    }
    return std::nullopt;
}

}  // namespace

std::string display_path(const fs::path& p)
{
    if (p.is_relative()) return p.lexically_normal().string();
    std::error_code ec;
    fs::path abs = fs::absolute(p, ec).lexically_normal();
    fs::path rel = abs.lexically_proximate(fs::current_path(ec));
    if (!rel.empty() && *rel.begin() != "..") return rel.string();
    return abs.string();
}

Loader::Loader(SourceManager& sources, Diagnostics& diags, SearchPaths paths)
    : sources_(sources), diags_(diags), paths_(std::move(paths))
{}

std::size_t Loader::add_module(std::string display, std::string text, fs::path canonical, bool root)
{
    FileId id = sources_.add(std::move(display), std::move(text));
    LoadedModule m;
    m.module.file = id;
    m.canonical = std::move(canonical);
    m.root = root;
    modules_.push_back(std::move(m));
    std::size_t index = modules_.size() - 1;
    if (check_encoding(id, sources_.file(id), diags_)) {
        Module parsed = parse_module(id, sources_, diags_);
        modules_[index].module = std::move(parsed);
    }
    return index;
}

std::optional<std::size_t> Loader::load_file(const fs::path& path, bool root, SourceRange used_at)
{
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(path, ec);
    if (ec) canonical = fs::absolute(path).lexically_normal();
    for (std::size_t i = 0; i < modules_.size(); ++i)
        if (modules_[i].canonical == canonical) {
            modules_[i].root = modules_[i].root || root;
            return i;
        }

    std::string shown = path.string();
    auto fail = [&](std::string msg) -> std::optional<std::size_t> {
        if (used_at.valid()) diags_.error(used_at, fmt::format("cannot load '{}': {}", shown, msg));
        else diags_.error_in(shown, "cannot load file: " + msg);
        return std::nullopt;
    };
    std::string text, error;
    if (!read_input_file(path.string(), kMaxSourceBytes, "rule files", text, error)) return fail(error);

    std::size_t index = add_module(shown, std::move(text), canonical, root);
    follow_imports(index);
    return index;
}

void Loader::follow_imports(std::size_t index)
{
    if (import_depth_ >= kMaxImportDepth) {
        const Module& m = modules_[index].module;
        if (!m.uses.empty())
            diags_.error(m.uses.front().range, fmt::format("imports are nested more than {} files deep", kMaxImportDepth));
        return;
    }
    ++import_depth_;
    modules_[index].loading = true;
    std::size_t n = modules_[index].module.uses.size();
    modules_[index].imports.assign(n, std::nullopt);
    for (std::size_t u = 0; u < n && !diags_.at_limit(); ++u) {
        // Copy what we need: loading may grow modules_ and move its elements.
        UseDecl use = modules_[index].module.uses[u];
        std::string importer = sources_.file(modules_[index].module.file).path();
        std::vector<std::string> searched;
        auto found = find_import(importer, use.target, searched);
        if (!found) {
            diags_.error(use.range, fmt::format("cannot find '{}' to import", use.target))
                .note(fmt::format("searched {}", join(searched, ", ")));
            continue;
        }
        std::error_code ec;
        fs::path canonical = fs::weakly_canonical(*found, ec);
        auto it = std::find_if(modules_.begin(), modules_.end(), [&](const LoadedModule& m) { return m.canonical == canonical; });
        if (it != modules_.end() && it->loading) {
            diags_.error(use.range, fmt::format("import cycle: '{}' is already being imported", display_path(*found)))
                .note("each file may be reached from its own 'use' lines at most once along a chain");
            continue;
        }
        modules_[index].imports[u] = load_file(*found, false, use.range);
    }
    modules_[index].loading = false;
    --import_depth_;
}

std::optional<fs::path> Loader::find_import(const std::string& importer_path, const std::string& target,
                                            std::vector<std::string>& searched) const
{
    fs::path name = target;
    if (name.extension() != ".rule") name += ".rule";
    std::vector<fs::path> candidates;
    if (name.is_absolute()) {
        candidates.push_back(name);
    } else {
        fs::path dir = fs::path(importer_path).parent_path();
        candidates.push_back((dir / name).lexically_normal());
        if (auto root = pack_root(dir.empty() ? fs::path(".") : dir)) {
            std::error_code ec;
            if (!fs::equivalent(*root, dir.empty() ? fs::path(".") : dir, ec)) candidates.push_back(*root / name);
        }
        for (const fs::path& d : paths_.stdlib) candidates.push_back(d / name);
        for (const fs::path& d : paths_.extra) candidates.push_back(d / name);
    }
    std::error_code ec;
    for (const fs::path& c : candidates) {
        if (fs::is_regular_file(c, ec)) return c == candidates.front() ? c : fs::path(display_path(c));
        searched.push_back(display_path(c));
    }
    return std::nullopt;
}

void Loader::add_path(const std::string& path)
{
    std::error_code ec;
    fs::path p = path;
    if (fs::is_directory(p, ec)) {
        std::vector<fs::path> files;
        fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec), end;
        for (; !ec && it != end; it.increment(ec))
            if (it->is_regular_file(ec) && it->path().extension() == ".rule") files.push_back(it->path());
        if (ec) {
            diags_.error_in(path, "cannot read folder: " + ec.message());
            return;
        }
        if (files.empty()) {
            diags_.error_in(path, "no .rule files in this folder");
            return;
        }
        std::sort(files.begin(), files.end());
        for (const fs::path& f : files) {
            if (diags_.at_limit()) return diags_.stopped_at_limit();
            load_file(f.lexically_normal(), true, {});
        }
        return;
    }
    load_file(p, true, {});
}

void Loader::add_text(std::string display, std::string text)
{
    std::size_t index = add_module(std::move(display), std::move(text), {}, true);
    follow_imports(index);
}

}  // namespace rtd
