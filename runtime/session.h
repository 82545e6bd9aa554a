// `rtrace-drop run`: load rules, attach them with the best method the
// kernel offers, report drops until told to stop, then detach everything
// and print what was counted. A short list of phases (session.cpp), each in
// a file of its own: the rules (run_rules.h), what runs on this kernel
// (kernel_plan.h), the object (compile_object.h), load and attach
// (attach.h), the event loop (event_loop.h), the counters (rule_counters.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "compiler/pipeline.h"
#include "runtime/attach.h"
#include "runtime/event_loop.h"
#include "runtime/metrics.h"
#include "runtime/status.h"

namespace rtd {

struct RunOptions {
    PipelineOptions rules;           // packs, folders, rule files or one .rdo (inputs); -i/-e; [params]; --btf; --strict
    OutputOptions output;            // --json / --summary, --hints, colour, --no-stack, --top, --count; where events go
    LoadOptions load;                // --ring-size, --rate-limit (the rest follows from the options here)
    MetricsOptions metrics;          // --metrics, --metrics-labels, --metrics-max-series (no listen: no exporter)
    std::string where;               // filter compiled into every program ("" for none)
    std::string filter;              // --filter: a pcap-filter expression compiled into every program ("" for none)
    PcapOptions pcap;                // --pcap FILE|-, --snaplen, --pcap-rotate, --pcap-files
    std::string netns;               // only this network namespace's drops, and monitors read it (name or path)
    std::string cache_dir;           // empty: no object cache
    std::string ready_file;          // created once everything is attached
    std::uint64_t duration_ms = 0;   // 0: until Ctrl-C / SIGTERM
    std::uint64_t interval_ms = 0;   // print counters and the summary this often; monitors poll this often (default 1 s)
    bool all = false;                // report noise, and run 'instead of' and fallback rules fully
    bool ledger = false;             // reconcile the counters the rules declare with the drops they trace (ledger.h)
    bool once = false;               // read monitors once (counters since boot), report, exit
    bool no_trampolines = false;     // use kprobe/kretprobe even where fentry/fexit work
    bool color_diagnostics = false;
    // SIGHUP: the options as the config and flags say now (the command line
    // reads the config again); unset, a reload reads the same rules again.
    std::function<Expected<RunOptions>()> reread;
};

// Exit status (status.h): 0 ok, 1 runtime failure (nothing could attach,
// BPF refused), 2 bad input (rules, --strict with skipped probes). What the
// run says goes to `status`.
int run_session(const RunOptions& options, StatusSink& status);

}  // namespace rtd
