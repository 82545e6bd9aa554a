// lower: typed rules -> everything the runtime must know about them before
// any C exists: the rule table (messages, hints, where each rule was
// written), each rule's event layout, and each probe's attach methods in
// every form it can take (fentry and kprobe, fexit and kretprobe, tp_btf
// and raw_tp), named as the programs emit_c writes, with the enumerators its
// code takes from the target kernel. Nothing here depends on the kernel the
// rules will run on: the runtime narrows the plan to what that kernel offers
// (runtime/kernel_plan.h), and `build` keeps all of it.
#pragma once

#include <vector>

#include "compiler/btf.h"
#include "compiler/compiled.h"
#include "compiler/source.h"
#include "compiler/typed.h"

namespace rtd {

// `rules` are all rules and monitors, in table order; `typed` the type
// checker's output for the probe rules among them, checked against `btf`
// (null when there are none: monitors only).
CompiledRuleSet lower(const std::vector<const RuleDecl*>& rules, const std::vector<TypedRule>& typed, const Btf* btf,
                      const SourceManager& sources);

}  // namespace rtd
