// `rtrace-drop build`: the selected rules through the compiler's pipeline,
// every attach form generated and compiled once (with the filter, if any),
// written with the monitors and reason hints as one prebuilt object (.rdo)
// that `run` loads on another machine without a compiler.
#pragma once

#include <string>
#include <vector>

#include "compiler/kernel_btf.h"
#include "runtime/status.h"

namespace rtd {

struct BuildRequest {
    std::vector<std::string> paths;             // pack names, folders, .rule files
    std::vector<std::string> include, exclude;  // -i/-e
    KernelTarget kernel;                        // --btf (and its modules): the kernel the rules are checked against
    std::string where;
    std::string output;
    std::string cache_dir;
    bool color_diagnostics = false;
};

// Exit status (status.h).
int build_prebuilt(const BuildRequest& request, StatusSink& status);

}  // namespace rtd
