// type_check: resolved rules + kernel BTF -> typed rules.
//
// For each rule and each of its probes: arguments by their BTF names, `ret`
// with the function's return type, fields through pointers and anonymous
// members, casts to known types, C's rules for arithmetic and comparison,
// '??' taking the first alternative that type-checks. A function or
// tracepoint missing from this kernel is a located warning (the probe is
// skipped), an error with `strict`. Monitors are not type-checked here: they
// run in user space.
#pragma once

#include <vector>

#include "compiler/btf.h"
#include "compiler/diagnostics.h"
#include "compiler/typed.h"

namespace rtd {

struct TypeCheckOptions {
    bool strict = false;  // a probe this kernel lacks is an error, not a warning
    std::string kernel;   // "6.18.0-1-amd64" when known, named in messages about missing functions
};

std::vector<TypedRule> type_check(const std::vector<const RuleDecl*>& rules, const Btf& btf, const SourceManager& sources,
                                  Diagnostics& diags, TypeCheckOptions options = {});

// The skb:kfree_skb drop reason (without SKB_DROP_REASON_) that reports the
// same drops as a function probe, where one is known.
const char* covering_drop_reason(const std::string& function);

}  // namespace rtd
