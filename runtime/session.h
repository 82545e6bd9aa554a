// `rtrace-drop run`: load rules, attach them with the best method the
// kernel offers, report drops until told to stop, then detach everything
// and print what was counted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/loader.h"

namespace rtd {

struct RunOptions {
    std::vector<std::string> paths;  // rule files and pack folders
    SearchPaths search;
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
    std::string netns;               // monitors read this network namespace (name or path)
    std::size_t top = 20;            // flows in the summary
    std::string ready_file;          // created once everything is attached
    std::uint32_t ring_bytes = 1u << 22;
};

// Exit status: 0 ok, 1 runtime failure (nothing could attach, BPF refused),
// 2 bad input (rules, --strict with skipped probes).
int run_session(const RunOptions& options);

}  // namespace rtd
