// Kernel addresses to "symbol+0xoffset", from /proc/kallsyms.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rtd {

class KernelSymbols {
public:
    // Reads /proc/kallsyms (or `path`). Without root the kernel shows zero
    // addresses; then nothing resolves and addresses print as hex.
    bool load(const std::string& path = "/proc/kallsyms");
    bool loaded() const { return !symbols_.empty(); }
    // "nf_hook_slow+0x9e", or "0xffffffff81abcdef" when unknown.
    std::string describe(std::uint64_t address) const;
    // The stack without the frames of the tracing machinery on top (our
    // program, the trampoline, the tracepoint's iterator), as symbols.
    std::vector<std::string> describe_stack(const std::vector<std::uint64_t>& ips) const;

private:
    struct Symbol {
        std::uint64_t address;
        std::string name;
    };
    std::vector<Symbol> symbols_;  // sorted by address
};

}  // namespace rtd
