// `rtrace-drop run`: load rules, attach them with the best method the
// kernel offers, report drops until told to stop, then detach everything
// and print what was counted. A short list of phases (session.cpp), each in
// a file of its own: the rules (run_rules.h), what runs on this kernel
// (kernel_plan.h), the object (compile_object.h), load and attach
// (attach.h), the event loop (event_loop.h), the counters (rule_counters.h).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "compiler/frontend.h"
#include "compiler/kernel_btf.h"
#include "runtime/report.h"
#include "runtime/status.h"

namespace rtd {

struct RunOptions {
    std::vector<std::string> paths;  // pack names, folders, rule files, or one .rdo
    std::vector<std::string> include, exclude;  // rule id globs (-i/-e); exclude wins
    ParamOverrides params;           // config [params], applied before rules are resolved
    KernelTarget kernel;             // --btf (types and CO-RE from this file) and --btf-modules
    std::string cache_dir;           // empty: no object cache
    bool json = false;               // one JSON object per event on stdout
    bool summary = false;            // a rule x flow table instead of events
    bool hints = false;              // print each event's hint
    bool strict = false;             // any skipped probe is an error (exit 2)
    bool all = false;                // report noise, and run 'instead of' and fallback rules fully
    bool color = false;              // colour event lines
    bool color_diagnostics = false;
    std::uint64_t duration_ms = 0;   // 0: until Ctrl-C / SIGTERM
    std::uint64_t count = 0;         // stop after this many events (0: no limit)
    std::uint64_t interval_ms = 0;   // print counters and the summary this often; monitors poll this often (default 1 s)
    bool once = false;               // read monitors once (counters since boot), report, exit
    std::string netns;               // only this network namespace's drops, and monitors read it (name or path)
    std::size_t top = 20;            // flows in the summary
    std::string ready_file;          // created once everything is attached
    std::uint32_t ring_bytes = 1u << 22;
    std::string where;               // filter compiled into every program ("" for none)
    std::uint32_t rate_limit = 0;    // events per rule per second, in the kernel (0: none)
    bool stacks = true;              // record and print kernel stacks (--no-stack: neither)
    bool no_trampolines = false;     // use kprobe/kretprobe even where fentry/fexit work
    std::FILE* out = stdout;         // events and findings
    EventSink* observer = nullptr;   // also sees every decoded event and finding (tests)
};

// Exit status (status.h): 0 ok, 1 runtime failure (nothing could attach,
// BPF refused), 2 bad input (rules, --strict with skipped probes). What the
// run says goes to `status`.
int run_session(const RunOptions& options, StatusSink& status);

}  // namespace rtd
