#include "runtime/symbols.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace rtd {

bool KernelSymbols::load(const std::string& path)
{
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return false;
    symbols_.clear();
    symbols_.reserve(200000);
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
        // "ffffffff81000000 T _stext [module]"
        char* end = nullptr;
        std::uint64_t addr = std::strtoull(line, &end, 16);
        if (addr == 0 || !end || end[0] != ' ' || !end[1] || end[2] != ' ') continue;
        char type = end[1];
        if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;  // code only
        std::string name = end + 3;
        while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
        if (auto tab = name.find('\t'); tab != std::string::npos) name.resize(tab);  // drop "[module]"
        symbols_.push_back({addr, std::move(name)});
    }
    std::fclose(f);
    std::sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
    return loaded();
}

std::string KernelSymbols::describe(std::uint64_t address) const
{
    auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                               [](std::uint64_t a, const Symbol& s) { return a < s.address; });
    if (address == 0 || it == symbols_.begin()) return fmt::format("{:#x}", address);
    --it;
    return fmt::format("{}+{:#x}", it->name, address - it->address);
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
