// Plans kept between runs: `run` on rule files keeps the plan it made for
// this kernel (the rule table narrowed by kernel_plan.h) with its compiled
// object, so the next run of the same rules skips the kernel's BTF, the type
// check, the code generator and Clang: it parses the rule files, hashes them
// with the kernel's BTF, reads the entry back and loads the object.
//
// The key is everything the plan is made of: the rule files' texts (every
// file the front end read, in order), the options that select, filter or
// shape the code, the running kernel (its build, and its BTF by size and
// sampled bytes: plan_cache.cpp), and this executable's build id (the
// compiler that made the plan). What the kernel offers besides its
// BTF (attach forms, tracefs, traceable functions) is probed each run and
// compared with what the plan was made under (kernel_facts): a difference
// is a miss. Only clean plans are kept: the running kernel's BTF without
// modules', and no diagnostic or note on the way (a hit says nothing a fresh
// run would have said).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "compiler/compiled.h"
#include "compiler/source.h"
#include "runtime/session.h"

namespace rtd {

struct CachedPlan {
    CompiledRuleSet set;  // narrowed for the kernel, no C source (run_rules.h moves it to RunRules::set)
    std::string object;   // compiled from that set
    std::int32_t trampoline_target = -1;  // features.h: what to test fentry on
    std::string kernel_facts;             // kernel_plan.h: what the plan was made under
};

class PlanCache {
public:
    // The entry for the rules in `sources` run with `opt`, or null when
    // plans are not kept for this run: no cache folder, another kernel's
    // BTF (--btf), the compiler switched off, or no build id to key on.
    static std::unique_ptr<PlanCache> open(const RunOptions& opt, const SourceManager& sources);

    // The kept plan, or nothing (none, or unreadable: a miss either way).
    std::optional<CachedPlan> find() const;
    void store(const CompiledRuleSet& set, const std::string& object, std::int32_t trampoline_target, const std::string& kernel_facts) const;

private:
    std::string dir_, path_;
};

}  // namespace rtd
