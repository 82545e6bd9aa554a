// Integer constant arithmetic with C's rules on 64 bits: an operation is
// unsigned when either side is, signed overflow and division by zero are
// errors (rather than C's undefined behaviour).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "compiler/ast.h"
#include "compiler/diagnostics.h"
#include "compiler/source.h"

namespace rtd {

struct ConstValue {
    std::uint64_t bits = 0;
    bool is_unsigned = false;

    std::int64_t as_signed() const { return static_cast<std::int64_t>(bits); }
    friend bool operator==(const ConstValue&, const ConstValue&) = default;
};

// Either the value or an error message.
using ConstResult = std::variant<ConstValue, std::string>;

ConstResult eval_unary(UnaryOp op, ConstValue a);
ConstResult eval_binary(BinaryOp op, ConstValue a, ConstValue b);
// Truncation or sign extension for a cast to a canonical scalar ("u8", "s32", ...).
ConstValue eval_scalar_cast(std::string_view scalar, ConstValue a);

// Folds the constant integer subexpressions of `e` in place (unary and
// binary operators over literals, scalar casts of literals), for rules
// (resolve.h) and --where filters (filter.h) alike. A folded literal keeps
// the range of what it replaces. Overflow, division by a literal 0 (whatever
// the dividend) and bad shift counts are errors, placed through any macro
// expansion (report.h); false after any.
bool fold_constants(ExprPtr& e, const SourceManager& sources, Diagnostics& diags);

}  // namespace rtd
