// The front end's pass manager: resolve_imports (Loader), then name
// resolution and checks (resolve_modules). It stops before a pass whose
// input already has errors, so one mistake is not reported three times.
#pragma once

#include <string>
#include <vector>

#include "compiler/ast.h"
#include "compiler/diagnostics.h"
#include "compiler/loader.h"
#include "compiler/source.h"

namespace rtd {

class Frontend {
public:
    explicit Frontend(SearchPaths paths, std::size_t error_limit = 50);

    // Loads files and pack folders and resolves them. False on any error.
    bool load(const std::vector<std::string>& paths);
    // Same for in-memory text (tests).
    bool load_text(std::string display_path, std::string text);

    SourceManager& sources() { return sources_; }
    Diagnostics& diagnostics() { return diags_; }
    const std::vector<LoadedModule>& modules() const { return loader_.modules(); }
    // The rules and monitors of the files the user named, in file order.
    std::vector<const RuleDecl*> rules() const;

private:
    bool finish();

    SourceManager sources_;
    Diagnostics diags_;
    mutable Loader loader_;
};

}  // namespace rtd
