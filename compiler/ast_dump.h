// A stable text form of resolved rules, for `check --dump-ast` and the
// golden tests: S-expressions with each node's line:col range.
#pragma once

#include <string>

#include "compiler/ast.h"
#include "compiler/source.h"

namespace rtd {

// Without ranges the dump shows only structure (for precedence tests).
std::string dump_expr(const Expr& e, const SourceManager& sources, bool ranges = true);
std::string dump_rule(const RuleDecl& r, const SourceManager& sources);

}  // namespace rtd
