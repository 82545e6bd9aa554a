#include "compiler/frontend.h"

#include "compiler/resolve.h"

namespace rtd {

Frontend::Frontend(SearchPaths paths, std::size_t error_limit)
    : diags_(error_limit), loader_(sources_, diags_, std::move(paths))
{}

bool Frontend::finish()
{
    // Syntax errors leave holes in the AST; resolving around them would
    // mostly produce follow-on noise ("unknown macro" for a broken def).
    bool complete = true;
    for (const LoadedModule& m : loader_.modules()) complete = complete && !m.module.incomplete;
    if (complete && !diags_.at_limit()) resolve_modules(loader_.modules(), sources_, diags_);
    return !diags_.has_errors();
}

bool Frontend::load(const std::vector<std::string>& paths)
{
    for (const std::string& p : paths) loader_.add_path(p);
    return finish();
}

bool Frontend::load_text(std::string display_path, std::string text)
{
    loader_.add_text(std::move(display_path), std::move(text));
    return finish();
}

std::vector<const RuleDecl*> Frontend::rules() const
{
    std::vector<const RuleDecl*> out;
    for (const LoadedModule& m : loader_.modules())
        if (m.root)
            for (const RuleDecl& r : m.module.rules) out.push_back(&r);
    return out;
}

}  // namespace rtd
