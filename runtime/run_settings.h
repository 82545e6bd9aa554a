// The object's .rodata settings (bpf-templates/rtd.bpf.h) as a run's
// options decide them, and which of them an object compiled for that run
// leaves out: a setting the run keeps at 0 is compiled as the constant 0
// (RTD_OFF_<name>), and the code behind it (paths, packet copies, metrics
// labels, the ledger, ...) is gone before Clang optimizes, which halves a
// cold compile of every pack. Objects built for any run (`build`, .rdo)
// keep every setting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/attach.h"
#include "runtime/session.h"

namespace rtd {

// --summary counts in the kernel, but --count needs events to count.
inline bool summary_in_kernel(const RunOptions& opt) { return opt.output.summary && !opt.output.count; }

// What the object's .rodata says, from the options that decide it. `number`
// is the generation; `gate_fd` the running one's rtd_gate (-1: the first).
LoadOptions load_options(const RunOptions& opt, std::uint32_t number, int gate_fd);

// The settings `opt` keeps at 0, by their names in rtd.bpf.h: what
// EmitOptions::settings_off compiles out, and part of a kept plan's key.
std::vector<std::string> settings_left_off(const RunOptions& opt);

}  // namespace rtd
