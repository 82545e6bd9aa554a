#include "runtime/tracking.h"

#include <cerrno>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/types.h>

#include "bpf-templates/rtd_event.h"

namespace rtd {

namespace {

// The tracepoint each program records at, for the status line.
const char* tracepoint_of(const std::string& program)
{
    if (program == "rtd_track_gro") return "net:napi_gro_receive_entry";
    if (program == "rtd_track_rx") return "net:netif_rx";
    if (program == "rtd_track_receive") return "net:netif_receive_skb";
    if (program == "rtd_track_queue") return "net:net_dev_queue";
    if (program == "rtd_track_xmit") return "net:net_dev_xmit";
    if (program == "rtd_track_consume") return "skb:consume_skb";
    return "skb:kfree_skb";
}

std::string join(const std::vector<std::string>& items)
{
    std::string out;
    for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
    return out;
}

}  // namespace

std::vector<std::string> track_program_names()
{
    std::vector<std::string> names(std::begin(kTrackHopPrograms), std::end(kTrackHopPrograms));
    names.insert(names.end(), std::begin(kTrackFreePrograms), std::end(kTrackFreePrograms));
    return names;
}

TrackAttach attach_tracking(struct bpf_object* obj, std::vector<Link>& links)
{
    TrackAttach t;
    if (!obj) {
        t.off = "no probe rule is attached";
        return t;
    }
    std::vector<Link> mine;
    for (const char* name : kTrackHopPrograms) {
        struct bpf_program* prog = bpf_object__find_program_by_name(obj, name);
        if (!prog) {
            t.off = "this object follows no packets (built by an older rtrace-drop?): rebuild it to use --track";
            return t;
        }
        struct bpf_link* link = bpf_program__attach(prog);
        if (!link) t.missing.push_back(fmt::format("{} ({})", tracepoint_of(name), describe_load_error(errno)));
        else {
            mine.emplace_back(link);
            t.places.push_back(tracepoint_of(name));
        }
    }
    // Without both frees every entry would stay until evicted, and a
    // recycled skb address would inherit a stale path.
    for (const char* name : kTrackFreePrograms) {
        struct bpf_program* prog = bpf_object__find_program_by_name(obj, name);
        struct bpf_link* link = prog ? bpf_program__attach(prog) : nullptr;
        if (!link) {
            t.off = fmt::format("cannot attach to {}: {}", tracepoint_of(name), prog ? describe_load_error(errno) : "no such program");
            t.places.clear();
            return t;
        }
        mine.emplace_back(link);
    }
    if (t.places.empty()) {
        t.off = "no tracepoint that sees packets move would take a program: " + join(t.missing);
        return t;
    }
    for (Link& l : mine) links.push_back(std::move(l));
    return t;
}

std::string track_status_line(const TrackAttach& t, std::uint32_t entries, std::uint32_t hops)
{
    if (!t.off.empty()) return "not following packets (--track): " + t.off;
    // Both maps: path and key and the map's own per entry; head and skb address.
    const double mib = static_cast<double>(entries) * (sizeof(rtd_path) + 8 + 48 + 16 + 48) / (1024.0 * 1024.0);
    std::string line = fmt::format("following packets at {} (raw_tp), freed at skb:consume_skb and skb:kfree_skb; {} packets x {} hops ({:.1f} MiB)",
                                   join(t.places), entries, hops, mib);
    if (!t.missing.empty()) line += "; not at " + join(t.missing);
    return line;
}

std::optional<TrackStats> read_track_stats(struct bpf_object* obj)
{
    struct bpf_map* stats = obj ? bpf_object__find_map_by_name(obj, "rtd_track_stats") : nullptr;
    struct bpf_map* track = obj ? bpf_object__find_map_by_name(obj, "rtd_track") : nullptr;
    if (!stats || !track) return std::nullopt;
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return std::nullopt;
    std::vector<rtd_track_stats> per_cpu(static_cast<std::size_t>(cpus));
    const std::uint32_t zero = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(stats), &zero, per_cpu.data()) != 0) return std::nullopt;
    TrackStats s;
    for (const rtd_track_stats& c : per_cpu) {
        s.created += c.created;
        s.restarted += c.restarted;
        s.freed += c.freed;
        s.hops += c.hops;
        s.no_room += c.no_room;
        s.drops_with_path += c.drops_with_path;
        s.drops_without_path += c.drops_without_path;
        s.cloned += c.cloned;
    }
    // Keys only: counting the live entries copies no 872-byte value.
    std::uint64_t key = 0, next = 0;
    for (const void* at = nullptr; bpf_map_get_next_key(bpf_map__fd(track), at, &next) == 0; at = &key) {
        key = next;
        ++s.live;
    }
    return s;
}

std::string track_stats_line(const TrackStats& s)
{
    std::string line = fmt::format("tracking: {} packet(s) followed over {} hop(s), {} freed, {} evicted (table full, or freed unseen), {} still followed",
                                   s.created, s.hops, s.freed, s.evicted(), s.live);
    if (s.cloned) line += fmt::format("; {} clone(s) continued their original's path", s.cloned);
    if (s.restarted) line += fmt::format("; {} skb address(es) reused by a new packet", s.restarted);
    if (s.no_room) line += fmt::format("; {} packet(s) found no room", s.no_room);
    line += fmt::format("; {} drop(s) with a path, {} without", s.drops_with_path, s.drops_without_path);
    return line;
}

}  // namespace rtd
