// What a run runs at one time: its rules, their object loaded and attached,
// the monitors, the reporting and the ring it reads. A run starts one; a
// reload (SIGHUP) starts the next beside it, and session.cpp swaps them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/attach.h"
#include "runtime/event_loop.h"
#include "runtime/ledger.h"
#include "runtime/monitor.h"
#include "runtime/run_rules.h"
#include "runtime/session.h"
#include "runtime/status.h"

namespace rtd {

struct Generation {
    std::uint32_t number = 0;  // 0 for the first; its programs count while rtd_gate holds it
    RunRules rules;
    AttachedProbes probes;
    std::unique_ptr<Monitors> monitors;
    std::vector<MonitorFinding> first_findings;  // reported once the loop runs
    std::unique_ptr<Reporting> reporting;
    EventRing ring;
    std::unique_ptr<Ledger> ledger;  // --ledger
};

// Loads `options`' rules, compiles and attaches what this kernel runs, and
// starts the monitors; the status table goes to `status`. `gate_fd` is the
// running generation's rtd_gate (-1 for the first): the new programs share
// it and stay quiet until it is switched to `number`.
Expected<std::unique_ptr<Generation>> start_generation(const RunOptions& options, std::uint32_t number, int gate_fd, StatusSink& status);

// The monitors the rules have, each with `how` or why it is skipped.
void print_monitor_status(StatusSink& status, const RunRules& rules, const Monitors& monitors, const std::string& how);

}  // namespace rtd
