// Generated C -> BPF object, for run, build and check --load alike:
// compiled in process (bpf_compiler.h; cached by content), then its event
// structs checked against the rule table's layouts. Clang refusing the
// generated C is an internal error that names the rule whose part of the C
// it is in and where the C was saved.
#pragma once

#include <optional>
#include <string>

#include "compiler/btf.h"
#include "compiler/compiled.h"
#include "compiler/filter.h"
#include "runtime/status.h"

namespace rtd {

struct CompiledObject {
    std::string bytes;  // the BPF ELF
    bool cached = false;
};

// The --where filter compiled for the code generator (nothing for ""); its
// errors are reported to `status` with the filter's text quoted.
Expected<std::optional<Filter>> compile_where(const std::string& where, bool color, StatusSink& status);

// `cache_dir` empty: no cache.
Expected<CompiledObject> compile_object(const CompiledRuleSet& set, const Btf& btf, const std::string& cache_dir);

}  // namespace rtd
