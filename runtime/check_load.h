// `rtrace-drop check --load`: every program of every attach form compiled
// in process and loaded into the running kernel's verifier (nothing is
// attached), one line per probe and form: "loaded", or the program the
// kernel refused and the verifier's last words.
#pragma once

#include <cstdio>

#include "compiler/btf.h"
#include "compiler/compiled.h"
#include "runtime/status.h"

namespace rtd {

// Exit status: 0 when some form of every available probe loads, 1 when a
// probe has none that loads (or nothing could be compiled).
int check_programs_load(const CompiledRuleSet& set, const Btf& btf, std::FILE* out, StatusSink& status);

}  // namespace rtd
