#include "runtime/faults.h"

#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace rtd {

Faults Faults::parse(const std::string& spec)
{
    Faults f;
    std::istringstream items(spec);
    for (std::string item; std::getline(items, item, ',');) {
        if (item.empty()) continue;
        std::size_t eq = item.find('=');
        std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
        if (key == "stall") {
            std::size_t colon = value.find(':');
            char* end = nullptr;
            unsigned long ms = colon == std::string::npos ? 0 : std::strtoul(value.c_str() + colon + 1, &end, 10);
            if (colon == std::string::npos || !end || *end || ms > 600000) {
                f.error = fmt::format("'{}': expected stall=PHASE:MILLISECONDS", item);
                continue;
            }
            f.stall_ms[value.substr(0, colon)] = static_cast<unsigned>(ms);
        } else if (key == "stash") {
            char* end = nullptr;
            unsigned long n = std::strtoul(value.c_str(), &end, 10);
            if (value.empty() || *end || n == 0 || n > 16384) f.error = fmt::format("'{}': expected stash=ENTRIES (1 to 16384)", item);
            else f.stash_entries = static_cast<unsigned>(n);
        } else if ((key == "reject" || key == "vanish") && !value.empty()) {
            (key == "reject" ? f.reject : f.vanish).insert(value);
        } else {
            f.error = fmt::format("'{}': expected stall=PHASE:MS, reject=RULE, vanish=RULE or stash=N", item);
        }
    }
    return f;
}

const Faults& Faults::active()
{
    static const Faults faults = [] {
        const char* spec = std::getenv("RTRACE_DROP_FAULTS");
        return spec ? parse(spec) : Faults{};
    }();
    return faults;
}

bool Faults::stall(const std::string& phase, const volatile int& stop, StatusSink& status) const
{
    auto it = stall_ms.find(phase);
    if (it == stall_ms.end()) return stop != 0;
    status.say(fmt::format("fault: stalling {} ms before {}", it->second, phase));
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(it->second);
    while (!stop && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return stop != 0;
}

bool break_program(struct bpf_program* prog)
{
    if (bpf_program__insn_cnt(prog) == 0) return false;
    // libbpf patches relocated instructions (maps, CO-RE, calls) at load;
    // only a plain first instruction can be replaced and stay replaced.
    auto* first = const_cast<struct bpf_insn*>(bpf_program__insns(prog));
    if (first->code == (BPF_LD | BPF_IMM | BPF_DW) || first->code == (BPF_JMP | BPF_CALL)) return false;
    *first = bpf_insn{};
    first->code = BPF_LDX | BPF_MEM | BPF_DW;  // r0 = *(u64 *)(r10 + 8): above the frame
    first->dst_reg = BPF_REG_0;
    first->src_reg = BPF_REG_10;
    first->off = 8;
    return true;
}

}  // namespace rtd
