// Prebuilt objects (.rdo): what `rtrace-drop build` writes and `run`
// loads on another machine without Clang and without the rule files.
//
// Layout: the line "rtrace-drop object 1", a line of JSON naming the
// sections and their sizes, then the sections back to back:
//   manifest      the rule table, event layouts and attach plan (JSON)
//   object        the BPF ELF with every attach form, relocated by CO-RE
//                 against the running kernel's BTF when it is loaded
//   monitors      the monitor rules as self-contained rule text
//   reason_hints  per rule index, its pack's drop-reason hints (JSON)
#pragma once

#include <map>
#include <optional>
#include <string>

#include "compiler/compiled.h"

namespace rtd {

struct Prebuilt {
    CompiledRuleSet set;  // no C source
    std::string object;
    std::string monitors;
    std::map<std::size_t, std::map<std::string, std::string>> reason_hints;
    std::string built_by;  // "rtrace-drop 0.1.0"
    std::string kernel;    // the release whose BTF the rules were checked against
    std::string filter;    // the --where compiled in, if any
    // The packs' test results by kernel (PACK/tests/matrix.json, written by
    // tests/vm/kernel_matrix.py) for the rules inside, as JSON
    // {"kernels": [...], "rules": {id: {kernel: {result, how, note, cases}}}};
    // "" when no pack had one (objects built before it also have none).
    std::string matrix;
};

bool write_prebuilt(const std::string& path, const Prebuilt& p, std::string& error);
std::optional<Prebuilt> read_prebuilt(const std::string& path, std::string& error);
// Starts with the magic line (a cheap look, for telling .rdo from .rule).
bool is_prebuilt(const std::string& path);

// In-process compile can be switched off (RTRACE_DROP_NO_COMPILER=1), to
// prove that prebuilt objects run without it.
bool compiler_disabled();

}  // namespace rtd
