// resolve_imports: reads the files and pack folders a user names, parses
// them, and follows their `use` lines (pack folder, then stdlib/, then
// $RTRACE_DROP_PATH). Each file is loaded once; import cycles are errors.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ast.h"
#include "compiler/diagnostics.h"
#include "compiler/source.h"

namespace rtd {

struct SearchPaths {
    std::vector<std::filesystem::path> stdlib;  // tried after the importing pack
    std::vector<std::filesystem::path> extra;   // $RTRACE_DROP_PATH, tried last
};

struct LoadedModule {
    Module module;
    std::filesystem::path canonical;  // identity of the file; empty for in-memory text
    bool root = false;                // named by the user (its rules are loaded)
    bool loading = false;             // on the import stack right now
    // For each entry of module.uses: the module it resolved to, if any.
    std::vector<std::optional<std::size_t>> imports;
};

class Loader {
public:
    Loader(SourceManager& sources, Diagnostics& diags, SearchPaths paths);

    // A .rule file, or a folder whose .rule files (recursively) are loaded.
    void add_path(const std::string& path);
    // In-memory text as a root file (tests, stdin).
    void add_text(std::string display_path, std::string text);

    std::vector<LoadedModule>& modules() { return modules_; }

private:
    std::optional<std::size_t> load_file(const std::filesystem::path& path, bool root, SourceRange used_at);
    std::size_t add_module(std::string display, std::string text, std::filesystem::path canonical, bool root);
    void follow_imports(std::size_t index);
    std::optional<std::filesystem::path> find_import(const std::string& importer_path, const std::string& target,
                                                     std::vector<std::string>& searched) const;

    SourceManager& sources_;
    Diagnostics& diags_;
    SearchPaths paths_;
    std::vector<LoadedModule> modules_;
    std::size_t import_depth_ = 0;
};

// How a path is shown in diagnostics: a relative path as it is (normalised),
// an absolute one relative to the working directory when it lies below it.
std::string display_path(const std::filesystem::path& p);

}  // namespace rtd
