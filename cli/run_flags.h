// The flags of `run`, which plain `rtrace-drop` takes too (the original
// tool's command line), and how they become a run: defaults < --config <
// the flags typed, then runtime/session.h's RunOptions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "cli/config.h"

namespace rtd::cli {

struct RunFlags {
    std::vector<std::string> packs, include, exclude, host, list;
    std::vector<std::uint32_t> port;
    std::string duration, interval, ready_file, netns, where, proto, dev, config, gen, metrics;
    std::string filter, pcap, pcap_rotate;  // --filter (pcap-filter), --pcap FILE, --pcap-rotate SIZE
    std::uint32_t snaplen = 256, pcap_files = 10;
    std::uint32_t track_size = 16384, track_hops = 8;  // --track-size, --track-hops
    std::vector<std::string> metrics_labels;
    std::uint32_t metrics_max_series = 4096;
    KernelTarget kernel;  // --btf, --btf-modules
    std::uint64_t count = 0;
    std::size_t top = 20;
    std::uint32_t ring_size = 1u << 22;
    std::uint32_t rate_limit = 0;
    bool json = false, summary = false, hints = false, no_stack = false, strict = false, no_cache = false, all = false, once = false,
         show_config = false, no_trampolines = false, quiet = false, ledger = false, track = false, no_track = false;

    // Where they were declared: a typed flag is told from its default by
    // asking both (plain rtrace-drop takes no pack arguments).
    CLI::App* top_level = nullptr;
    CLI::App* run_command = nullptr;
    bool given(const std::string& name) const;
};

void add_run_flags(CLI::App* app, RunFlags& flags);

// `run` and the original command line: either runs what the shared flags
// say (--gen, --show-config, -l, else the run the flags and config describe).
class RunFlagsCommand : public Command {
public:
    explicit RunFlagsCommand(const RunFlags& flags) : flags_(flags) {}
    RunFlagsCommand(const RunFlags& flags, CLI::App& app, const std::string& name, const std::string& description)
        : Command(app, name, description), flags_(flags)
    {}
    int run(Globals& g) override;

private:
    const RunFlags& flags_;
};

}  // namespace rtd::cli
