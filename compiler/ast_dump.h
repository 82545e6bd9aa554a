// A stable text form of resolved rules, for `check --dump-ast` and the
// golden tests: S-expressions with each node's line:col range.
#pragma once

#include <string>

#include "compiler/ast.h"
#include "compiler/btf.h"
#include "compiler/typed.h"
#include "compiler/source.h"

namespace rtd {

// Without ranges the dump shows only structure (for precedence tests).
std::string dump_expr(const Expr& e, const SourceManager& sources, bool ranges = true);
std::string dump_rule(const RuleDecl& r, const SourceManager& sources);

// Typed expressions with each node's type: (-> sk_max_ack_backlog 'u32' (arg sk 'struct sock *')).
std::string dump_typed(const TExpr& e, const Btf& btf);
// A typed rule, probe by probe, as explain prints it.
std::string dump_typed_rule(const TypedRule& r, const Btf& btf);

}  // namespace rtd
