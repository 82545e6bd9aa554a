// The front end's pass manager: resolve_imports (Loader), then name
// resolution and checks (resolve_modules). It stops before a pass whose
// input already has errors, so one mistake is not reported three times.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compiler/ast.h"
#include "compiler/diagnostics.h"
#include "compiler/loader.h"
#include "compiler/source.h"

namespace rtd {

// A param value set from outside the rule text (the config's [params]) and
// where it was written ("f.toml:12:3"), for diagnostics.
struct ParamOverride {
    std::int64_t value = 0;
    std::string where;
};
using ParamOverrides = std::map<std::string, std::map<std::string, ParamOverride>>;  // rule id -> param -> value

class Frontend {
public:
    explicit Frontend(SearchPaths paths, std::size_t error_limit = 50);

    // Loads files and pack folders and resolves them. False on any error.
    bool load(const std::vector<std::string>& paths);
    // Same for in-memory text (tests).
    bool load_text(std::string display_path, std::string text);

    // Replaces the value of `param` declarations before rules are resolved
    // (call before load). An unknown param of a loaded rule is an error; a
    // rule that is not loaded is ignored.
    void set_param_overrides(ParamOverrides overrides) { overrides_ = std::move(overrides); }

    SourceManager& sources() { return sources_; }
    Diagnostics& diagnostics() { return diags_; }
    const std::vector<LoadedModule>& modules() const { return loader_.modules(); }
    // The rules and monitors of the files the user named, in file order.
    std::vector<const RuleDecl*> rules() const;

private:
    bool finish();
    void apply_param_overrides();

    SourceManager sources_;
    Diagnostics diags_;
    mutable Loader loader_;
    ParamOverrides overrides_;
};

// -i/-e over rule ids: selected when `include` is empty or one of its
// globs matches, and none of `exclude` does (exclude wins).
bool rule_selected(const std::string& id, const std::vector<std::string>& include, const std::vector<std::string>& exclude);

}  // namespace rtd
