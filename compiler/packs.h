// Rule packs by name: a folder with pack.toml (name, version, description,
// maintainers, min_kernel, requires) and .rule files, found in ./rules,
// then each folder of $RTRACE_DROP_PATH, then the installed packs.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "compiler/diagnostics.h"
#include "compiler/source.h"

namespace rtd {

struct PackInfo {
    std::string name, version, description, min_kernel;
    std::vector<std::string> maintainers;
    std::vector<std::string> requires_packs;  // names of packs this one needs (loaded with it)
    std::filesystem::path dir;
};

// Where pack names are looked up, in order.
std::vector<std::filesystem::path> pack_search_path(const std::filesystem::path& installed_rules);

// Reads DIR/pack.toml. Unknown keys and wrong types are errors at line:col.
bool read_pack_toml(const std::filesystem::path& dir, PackInfo& info, SourceManager& sources, Diagnostics& diags);

// Turns what a user named (pack names, folders, .rule and .rdo files) into
// paths for the loader, adding the packs each pack requires. Packs whose
// min_kernel is newer than `kernel_release` (the kernel the rules are
// checked against; "" when unknown) get a warning.
bool resolve_packs(const std::vector<std::string>& names, const std::filesystem::path& installed_rules,
                   const std::string& kernel_release, std::vector<std::string>& paths, SourceManager& sources, Diagnostics& diags);

// "5.17" < "6.1.0-18-amd64": numeric comparison of the dotted prefix.
int compare_kernel_versions(const std::string& a, const std::string& b);

// Whether `name` can name a pack (in pack.toml's name and requires): letters,
// digits, '_', '-', '.', no "..", so that it never names a path.
bool valid_pack_name(const std::string& name);

}  // namespace rtd
