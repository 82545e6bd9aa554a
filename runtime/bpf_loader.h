// Loading compiled objects into the kernel: verifier checks of each
// program (without attaching) and the check that the object's event
// structs have the layout the compiler promised the decoder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/compiled.h"

struct bpf_object;

namespace rtd {

struct ProgramLoad {
    std::string name;
    bool loaded = false;
    int error = 0;         // errno of the failure (EPERM, EACCES, EINVAL, ...)
    std::string log_tail;  // the verifier's last lines when it refused
};

struct VerifyReport {
    std::string open_error;  // the object could not even be opened
    std::vector<ProgramLoad> programs;
    const ProgramLoad* find(const std::string& name) const;
};

// Loads the named programs of `object` into the kernel and unloads them
// again. Programs are tried together first and one by one only when that
// fails, so one refusal does not hide the others' results.
VerifyReport verify_programs(const std::string& object, const std::vector<std::string>& programs);

// Differences between the event structs in the object's BTF and the
// layouts in `set` (empty when they agree).
std::vector<std::string> check_event_layout(const std::string& object, const CompiledRuleSet& set);

// "Operation not permitted" and, for the errors the verifier and the
// kernel give for BPF, what they usually mean here.
std::string describe_load_error(int error);

// Sets a `const volatile __u32` global (rtd_report_all, rtd_rate_limit) of an
// opened object before it is loaded. False when the object has no such global.
bool set_rodata_u32(struct bpf_object* obj, const char* name, std::uint32_t value);

}  // namespace rtd
