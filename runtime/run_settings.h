// The object's .rodata settings (bpf-templates/rtd.bpf.h) as a run's
// options decide them, and which of them an object compiled for that run
// holds as constants (RTD_FIX_<name>): every setting the run keeps at 0,
// so the code behind it (paths, packet copies, metrics labels, the ledger,
// ...) is gone before Clang optimizes, and --summary's and --quiet's
// switches, which leave the event path out. A cold compile of every pack
// takes about half as long. Objects built for any run (`build`, .rdo) keep
// every setting.
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

// A setting an object compiled for one run holds as a constant.
struct FixedSetting {
    std::string name;  // as in rtd.bpf.h
    std::uint32_t value;
    bool operator==(const FixedSetting&) const = default;
};

// The settings `opt` fixes, by their names in rtd.bpf.h: each it keeps at
// 0, and the switches it turns on that the loader writes without asking
// whether the object has them (rtd_summary_only, rtd_flow_samples,
// rtd_events_off). `flow_samples_needed`: EvidenceStage::needed of the
// rules (evidence_stage.h). What EmitOptions::fixed_settings compiles in.
std::vector<FixedSetting> fixed_settings(const RunOptions& opt, bool flow_samples_needed);

}  // namespace rtd
