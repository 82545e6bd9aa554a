// `rtrace-drop run`: load rules, attach them with the best method the
// kernel offers, report drops until told to stop, then detach everything
// and print what was counted.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compiler/btf.h"
#include "compiler/frontend.h"
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
    std::vector<std::string> include, exclude;  // rule id globs (-i/-e); exclude wins
    ParamOverrides params;           // config [params], applied before rules are resolved
    std::string where;               // filter compiled into every program ("" for none)
    std::uint32_t rate_limit = 0;    // events per rule per second, in the kernel (0: none)
    bool stacks = true;              // print recorded kernel stacks
    bool no_trampolines = false;     // use kprobe/kretprobe even where fentry/fexit work
    std::string btf;                 // --btf: types and CO-RE from this file, not /sys/kernel/btf/vmlinux
};

// Exit status: 0 ok, 1 runtime failure (nothing could attach, BPF refused),
// 2 bad input (rules, --strict with skipped probes).
int run_session(const RunOptions& options);

// The running kernel's BTF for these rules: vmlinux, plus the BTF of the
// loaded module that defines functions the rules probe and vmlinux lacks
// (ipt_do_table lives in ip_tables). One module per run: functions of a
// second module stay missing (their rules are skipped, with `note` saying
// why). Null with `error` set when vmlinux BTF cannot be read.
std::unique_ptr<Btf> kernel_btf_for(const std::vector<const RuleDecl*>& rules, std::string& error, std::string& note);

// `rtrace-drop build`: the selected rules, compiled with every attach form
// (and the filter, if any), written as a prebuilt object (.rdo).
struct BuildRequest {
    std::vector<std::string> paths;
    SearchPaths search;
    std::vector<std::string> include, exclude;
    std::string btf;        // empty: the running kernel's
    std::string where;
    std::string output;
    std::string cache_dir;
    bool color_diagnostics = false;
};
int build_prebuilt(const BuildRequest& request);

// How each rule would run on this kernel, by index: the attach form of its
// first usable probe, "polled" for monitors, or "skipped: why". Empty (with
// `why`) when the kernel's BTF cannot be read.
std::vector<std::string> describe_methods(const std::vector<const RuleDecl*>& rules, const SourceManager& sources, std::string& why);

}  // namespace rtd
