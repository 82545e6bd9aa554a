// The kernel the rules are checked against, and where its types come from:
// the running kernel (/sys/kernel/btf/vmlinux plus the BTF of each loaded
// module a probed function lives in), or a file given with --btf (a vmlinux
// with .BTF, or raw BTF) plus the module tree of its kernel package when one
// lies next to it or is named with --btf-modules. Every command chooses the
// BTF here, so they agree on what a rule does on a kernel.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/btf.h"

namespace rtd {

inline constexpr const char* kRunningKernelBtf = "/sys/kernel/btf/vmlinux";

// uname's release of the running kernel ("6.18.44-fc"), "" when unknown.
std::string running_kernel_release();

struct KernelTarget {
    std::string btf_file;     // --btf FILE; "" for the running kernel
    std::string modules_dir;  // --btf-modules DIR; "" to look for the package's tree next to btf_file
    bool running() const { return btf_file.empty(); }
    // The kernel's release: uname's, or the banner in btf_file ("" when it has none).
    std::string release() const;
};

struct KernelBtf {
    std::unique_ptr<Btf> btf;        // null when the vmlinux BTF cannot be read (then `error`)
    std::string path;                // the vmlinux BTF read (or tried)
    std::string error;
    std::vector<std::string> notes;  // module BTF that could not be used, and why
};

// Why a kernel's BTF could not be read, worded once for diagnostics and run
// errors: the running kernel's is the machine's problem (exit 1), a --btf
// file the user's (exit 2).
struct BtfProblem {
    std::string where;    // "rtrace-drop", or the file
    std::string message;
    std::string hint;
    bool of_the_machine = false;
};
BtfProblem btf_problem(const KernelTarget& target, const std::string& path, const std::string& error);

// vmlinux's BTF, merged with the BTF of every module that defines one of
// `functions` (the selected rules' function probes) and vmlinux lacks.
KernelBtf load_kernel_btf(const KernelTarget& target, const std::vector<std::string>& functions);

}  // namespace rtd
