#include "compiler/report.h"

#include <vector>

#include <fmt/format.h>

namespace rtd {

Diagnostic& report_at(Diagnostics& diags, const SourceManager& sources, Severity severity, SourceRange range,
                      const std::shared_ptr<const Expansion>& expansion, std::string message)
{
    auto add = [&](SourceRange r) -> Diagnostic& {
        return severity == Severity::Error ? diags.error(r, std::move(message)) : diags.warning(r, std::move(message));
    };
    if (!expansion) return add(range);
    std::vector<const Expansion*> chain;  // innermost first
    for (const Expansion* x = expansion.get(); x; x = x->parent.get()) chain.push_back(x);
    Diagnostic& d = add(chain.back()->call_site);
    for (std::size_t i = chain.size(); i-- > 0;) {
        SourceRange inside = i > 0 ? chain[i - 1]->call_site : range;
        d.note(fmt::format("expanded from macro '{}' at {}", chain[i]->macro, sources.describe(inside)));
    }
    return d;
}

}  // namespace rtd
