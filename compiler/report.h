// Reporting at a place that may lie inside a macro expansion.
#pragma once

#include <memory>
#include <string>

#include "compiler/ast.h"
#include "compiler/diagnostics.h"

namespace rtd {

// When `expansion` is set the primary location is the outermost call site
// (the user's own text) and notes walk into the macro bodies down to `range`.
Diagnostic& report_at(Diagnostics& diags, const SourceManager& sources, Severity severity, SourceRange range,
                      const std::shared_ptr<const Expansion>& expansion, std::string message);

inline Diagnostic& report_at(Diagnostics& diags, const SourceManager& sources, Severity severity, const Expr& e,
                             std::string message)
{
    return report_at(diags, sources, severity, e.range, e.expansion, std::move(message));
}

}  // namespace rtd
