// Text -> syntax AST for one file. Syntax errors become diagnostics; the
// parser recovers at the next top-level keyword so one run reports several.
#pragma once

#include "compiler/ast.h"
#include "compiler/diagnostics.h"
#include "compiler/source.h"

namespace rtd {

// Files larger than this are refused before parsing.
inline constexpr std::size_t kMaxSourceBytes = 16u << 20;

// Checks that the text is UTF-8 without NUL bytes; reports the first
// offending byte and returns false otherwise.
bool check_encoding(FileId file, const SourceFile& source, Diagnostics& diags);

Module parse_module(FileId file, const SourceManager& sources, Diagnostics& diags);

// The whole file as one expression (grammar.h's `filter`: the text of `run
// --where`), with the forms only a filter may hold: addresses, strings and
// 'in' (filter.h gives them their meaning). Nothing after reporting errors.
ExprPtr parse_expression(FileId file, const SourceManager& sources, Diagnostics& diags);

}  // namespace rtd
