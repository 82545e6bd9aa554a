// `run --track`: the programs that follow each live packet between devices
// (bpf-templates/rtd_track.bpf.h), attached after the rules' so that a rule
// on skb:kfree_skb reads its packet's path before the entry is freed, and
// what they counted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/bpf_loader.h"

struct bpf_object;

namespace rtd {

// In attach order: the hops, then the two that free entries, last.
inline constexpr const char* kTrackHopPrograms[] = {"rtd_track_gro", "rtd_track_rx", "rtd_track_receive", "rtd_track_queue", "rtd_track_xmit"};
inline constexpr const char* kTrackFreePrograms[] = {"rtd_track_consume", "rtd_track_kfree"};
std::vector<std::string> track_program_names();

// What tracking attached, said in the status table; `off` says why it did
// not (then no track program stays attached).
struct TrackAttach {
    std::vector<std::string> places;   // tracepoints that record hops
    std::vector<std::string> missing;  // hop tracepoints the kernel refused, with why
    std::string off;
};
TrackAttach attach_tracking(struct bpf_object* obj, std::vector<Link>& links);

// "following packets at net:netif_receive_skb, ...; freed at ...; 16384 packets x 8 hops (13 MiB)"
std::string track_status_line(const TrackAttach& t, std::uint32_t entries, std::uint32_t hops);

// rtd_track_stats summed over CPUs, and the entries still in rtd_track.
struct TrackStats {
    std::uint64_t created = 0, restarted = 0, freed = 0, hops = 0, no_room = 0, drops_with_path = 0, drops_without_path = 0, cloned = 0,
                  live = 0;
    // Made room for newer ones when the table was full, or freed where no
    // tracepoint shows it (GRO merges): created - freed - live.
    std::uint64_t evicted() const { return created > freed + live ? created - freed - live : 0; }
};
std::optional<TrackStats> read_track_stats(struct bpf_object* obj);
std::string track_stats_line(const TrackStats& s);

}  // namespace rtd
