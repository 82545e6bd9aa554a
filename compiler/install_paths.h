// Where rtrace-drop finds what it ships (the stdlib the rules `use`, the
// shipped packs) whether installed (PREFIX/bin/rtrace-drop beside
// PREFIX/share/rtrace-drop) or run from its build tree, and the folders
// users add with $RTRACE_DROP_PATH.
#pragma once

#include <filesystem>
#include <vector>

#include "compiler/loader.h"

namespace rtd {

// The folders of a colon-separated path variable ($RTRACE_DROP_PATH), in
// order, empty parts skipped; none when it is unset.
std::vector<std::filesystem::path> folders_in_env(const char* variable);

// stdlib/: $RTRACE_DROP_STDLIB, else next to an installed binary, else the
// source tree this binary was built from; then $RTRACE_DROP_PATH.
SearchPaths default_search_paths();

// The shipped packs: next to an installed binary, else the source tree's.
std::filesystem::path shipped_rules_dir();

// The running binary's folder (empty when /proc/self/exe cannot be read).
std::filesystem::path executable_dir();

}  // namespace rtd
