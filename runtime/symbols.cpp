#include "runtime/symbols.h"

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

namespace rtd {

bool KernelSymbols::load(const std::string& path)
{
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return false;
    // Room for a large kernel up front: growing by copies would double the
    // peak, and the pages a smaller kernel leaves untouched are never resident.
    symbols_.clear();
    symbols_.reserve(1 << 19);
    names_.clear();
    names_.reserve(32 << 20);
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
        // "ffffffff81000000 T _stext [module]"
        char* end = nullptr;
        std::uint64_t addr = std::strtoull(line, &end, 16);
        if (addr == 0 || !end || end[0] != ' ' || !end[1] || end[2] != ' ') continue;
        char type = end[1];
        if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;  // code only
        std::string_view name = end + 3;
        name = name.substr(0, name.find_first_of("\t\n "));  // drop "[module]"
        if (names_.size() + name.size() > UINT32_MAX) break;
        symbols_.push_back({addr, static_cast<std::uint32_t>(names_.size()), static_cast<std::uint32_t>(name.size())});
        names_ += name;
    }
    std::fclose(f);
    std::sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
    return !symbols_.empty();  // not loaded(): this may be the loading thread
}

void KernelSymbols::load_in_background(const std::string& path)
{
    wait();
    pending_ = std::async(std::launch::async, [this, path] { return load(path); });
}

std::string KernelSymbols::describe(std::uint64_t address) const
{
    wait();
    auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                               [](std::uint64_t a, const Symbol& s) { return a < s.address; });
    if (address == 0 || it == symbols_.begin()) return fmt::format("{:#x}", address);
    --it;
    return fmt::format("{}+{:#x}", std::string_view(names_).substr(it->name_at, it->name_size), address - it->address);
}

std::vector<std::string> KernelSymbols::describe_stack(const std::vector<std::uint64_t>& ips) const
{
    static const char* const machinery[] = {"bpf_prog_", "bpf_trace_run", "__traceiter_", "__bpf_trace_", "bpf_trampoline",
                                            "kprobe_", "kretprobe_", "__kretprobe_", "fprobe_", "rethook_", "arch_rethook_",
                                            "trace_call_bpf", "perf_trace_"};
    std::vector<std::string> out;
    bool top = true;
    for (std::uint64_t ip : ips) {
        std::string s = describe(ip);
        if (top) {
            bool skip = false;
            for (const char* m : machinery) skip = skip || s.rfind(m, 0) == 0;
            if (skip) continue;
            top = false;
        }
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace rtd
