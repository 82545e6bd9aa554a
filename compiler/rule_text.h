// A resolved monitor rule written back as rule-language text: constants
// folded, macros expanded, params at their final values. Prebuilt objects
// (.rdo) carry their monitors this way, so they need no rule files or
// imports where they run.
#pragma once

#include <optional>
#include <string>

#include "compiler/ast.h"

namespace rtd {

// nullopt (with `error`) for a rule that is not a monitor or holds an
// expression a monitor cannot have.
std::optional<std::string> monitor_text(const RuleDecl& monitor, std::string& error);

}  // namespace rtd
