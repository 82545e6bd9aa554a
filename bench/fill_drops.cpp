// Fills a running agent's drop-label table (rtd_drops, `run --metrics`) with
// COUNT distinct label sets, as a fleet host with many devices, namespaces
// and reasons would after a while, so bench/scrape_bench.sh can time a scrape
// of that many series without making that many kinds of drop. The map is
// found through the agent's own file descriptors (/proc/PID/fdinfo), never
// by name alone: another agent's table is left alone.
//
//   bench/fill_drops PID COUNT [RULE=0]
//
// Keys: RULE, reasons 2..41 (named enumerators on every kernel with the
// reason enum), 25 namespaces (inodes no namespace has: netns_name stays
// ""), devices "benchNNNNN"; values 1..COUNT. Exit 1 when the table is not
// found or has room for fewer than COUNT keys.
#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <linux/types.h>

#include "bpf-templates/rtd_event.h"

namespace {

int find_drops_map(const std::string& pid)
{
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/" + pid + "/fdinfo", ec)) {
        std::ifstream in(entry.path());
        for (std::string line; std::getline(in, line);) {
            if (line.rfind("map_id:", 0) != 0) continue;
            const auto id = static_cast<__u32>(std::strtoul(line.c_str() + 7, nullptr, 10));
            const int fd = bpf_map_get_fd_by_id(id);
            if (fd < 0) continue;
            bpf_map_info info{};
            __u32 len = sizeof info;
            if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && std::strcmp(info.name, "rtd_drops") == 0) return fd;
            close(fd);
        }
    }
    return -1;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: fill_drops PID COUNT [RULE=0]\n");
        return 2;
    }
    const long count = std::atol(argv[2]);
    const auto rule = static_cast<__u32>(argc > 3 ? std::atol(argv[3]) : 0);
    const int fd = find_drops_map(argv[1]);
    if (fd < 0) {
        std::fprintf(stderr, "fill_drops: process %s holds no rtd_drops map (is it `run --metrics`?)\n", argv[1]);
        return 1;
    }
    bpf_map_info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0 || info.key_size != sizeof(rtd_drop_key) || info.value_size != 8) {
        std::fprintf(stderr, "fill_drops: rtd_drops has another layout than this build's rtd_drop_key\n");
        return 1;
    }
    if (info.max_entries < count) {
        std::fprintf(stderr, "fill_drops: rtd_drops holds %u keys, fewer than %ld (give --metrics-max-series)\n", info.max_entries, count);
        return 1;
    }
    for (long i = 0; i < count; ++i) {
        rtd_drop_key key{};
        key.rule = rule;
        key.flags = RTD_DROP_HAS_REASON;
        // reason x namespace: 1,000 pairs per device, so every key is distinct.
        key.reason = 2 + static_cast<__u32>(i % 40);
        key.netns = 0xf0000000u + static_cast<__u32>(i / 40 % 25);
        std::snprintf(key.dev, sizeof key.dev, "bench%05ld", i / 1000);
        const __u64 value = static_cast<__u64>(i + 1);
        if (bpf_map_update_elem(fd, &key, &value, BPF_ANY) != 0) {
            std::fprintf(stderr, "fill_drops: update %ld: %s\n", i, std::strerror(errno));
            return 1;
        }
    }
    std::printf("fill_drops: %ld label sets in rtd_drops (map id %u)\n", count, info.id);
    return 0;
}
