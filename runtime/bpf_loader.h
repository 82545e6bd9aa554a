// Loading compiled objects into the kernel: verifier checks of each
// program (without attaching) and the check that the object's event
// structs have the layout the compiler promised the decoder.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compiler/compiled.h"

struct bpf_object;
struct bpf_link;

namespace rtd {

// Owners that close an object and destroy a link (detaching it).
struct ObjectCloser {
    void operator()(struct bpf_object* o) const;
};
using Object = std::unique_ptr<struct bpf_object, ObjectCloser>;
struct LinkDestroyer {
    void operator()(struct bpf_link* l) const;
};
using Link = std::unique_ptr<struct bpf_link, LinkDestroyer>;

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

// While one lives, libbpf's messages are kept in `log` instead of reaching
// stderr: the status table says why a program was refused, in one line.
class LibbpfQuiet {
public:
    LibbpfQuiet();
    ~LibbpfQuiet();
    LibbpfQuiet(const LibbpfQuiet&) = delete;
    LibbpfQuiet& operator=(const LibbpfQuiet&) = delete;
    std::string log;

private:
    void* previous_;
};

// How an object is opened for loading: the BTF that CO-RE relocates
// against when the kernel exposes none (`run --btf`), and what to do
// between open and load (ring size, .rodata settings, injected faults) —
// the same for the load and for the verifier's diagnosis of a refusal.
struct LoadSettings {
    std::string core_btf;  // "": the running kernel's
    // Returns "" or why the object cannot be loaded as asked.
    std::function<std::string(struct bpf_object*)> before_load;
};

// Opens `object` by `settings` and runs its before_load; null with `error`.
struct bpf_object* open_for_load(const std::string& object, const LoadSettings& settings, std::string& error);

// Loads the named programs of `object` into the kernel and unloads them
// again. Programs are tried together first and one by one only when that
// fails, so one refusal does not hide the others' results.
VerifyReport verify_programs(const std::string& object, const std::vector<std::string>& programs,
                             const LoadSettings& settings = {});

// Differences between the event structs in the object's BTF and the
// layouts in `set` (empty when they agree).
std::vector<std::string> check_event_layout(const std::string& object, const CompiledRuleSet& set);

// What a loaded object may do, checked before anything is loaded: an
// object from `build` travels as a file and is BPF code run as root. Only
// tracing program types (kprobe, raw tracepoint, fentry/fexit/tp_btf; no
// fmod_ret, LSM, XDP, tc, ...), and calls only to read-only helpers
// (kReadOnlyHelpers in bpf_loader.cpp: no bpf_probe_write_user,
// bpf_override_return, bpf_send_signal, ...) and no kfuncs; maps only of
// the kinds the templates declare, at most 64 MiB each. One line per
// violation; empty when the object keeps to it.
std::string object_policy_violations(const std::string& object);

// "Operation not permitted" and, for the errors the verifier and the
// kernel give for BPF, what they usually mean here.
std::string describe_load_error(int error);

// Sets a `const volatile __u32` global (rtd_report_all, rtd_rate_limit) of an
// opened object before it is loaded. False when the object has no such global.
bool set_rodata_u32(struct bpf_object* obj, const char* name, std::uint32_t value);
// The first `size` bytes of the .rodata variable `name` (an array may be longer).
bool set_rodata(struct bpf_object* obj, const char* name, const void* bytes, std::size_t size);

}  // namespace rtd
