#include "compiler/frontend.h"

#include <fnmatch.h>

#include <algorithm>

#include <fmt/format.h>

#include "compiler/resolve.h"

namespace rtd {

Frontend::Frontend(SearchPaths paths, std::size_t error_limit)
    : diags_(error_limit), loader_(sources_, diags_, std::move(paths))
{}

void Frontend::apply_param_overrides()
{
    for (LoadedModule& m : loader_.modules()) {
        if (!m.root) continue;
        for (RuleDecl& r : m.module.rules) {
            auto rule = overrides_.find(r.id);
            if (rule == overrides_.end()) continue;
            for (const auto& [param, v] : rule->second) {
                const std::string& name = param;
                auto p = std::find_if(r.params.begin(), r.params.end(), [&](const Binding& b) { return b.name == name; });
                if (p == r.params.end()) {
                    std::string known;
                    for (const Binding& b : r.params) known += (known.empty() ? "" : ", ") + b.name;
                    diags_.error_in(v.where, fmt::format("rule '{}' has no param '{}'", r.id, name))
                        .hint(known.empty() ? "the rule declares no params" : "its params: " + known);
                    continue;
                }
                SourceRange at = p->expr ? p->expr->range : p->range;
                p->expr = make_int(static_cast<std::uint64_t>(v.value), false, at);
            }
        }
    }
}

bool Frontend::finish()
{
    if (!overrides_.empty()) apply_param_overrides();
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

bool rule_selected(const std::string& id, const std::vector<std::string>& include, const std::vector<std::string>& exclude)
{
    auto any = [&](const std::vector<std::string>& globs) {
        return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) { return fnmatch(g.c_str(), id.c_str(), 0) == 0; });
    };
    return (include.empty() || any(include)) && !any(exclude);
}

}  // namespace rtd
