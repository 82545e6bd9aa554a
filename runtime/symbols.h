// Kernel addresses to "symbol+0xoffset", from /proc/kallsyms.
#pragma once

#include <cstdint>
#include <future>
#include <string>
#include <vector>

namespace rtd {

class KernelSymbols {
public:
    // Reads /proc/kallsyms (or `path`). Without root the kernel shows zero
    // addresses; then nothing resolves and addresses print as hex.
    bool load(const std::string& path = "/proc/kallsyms");
    // The same on a thread of its own: reading /proc/kallsyms costs the
    // kernel ~100 ms of formatting, which start-up need not wait for. The
    // first describe() waits for it.
    void load_in_background(const std::string& path = "/proc/kallsyms");
    KernelSymbols() = default;
    KernelSymbols(const KernelSymbols&) = delete;  // the loading thread holds `this`
    KernelSymbols& operator=(const KernelSymbols&) = delete;
    ~KernelSymbols() { wait(); }
    bool loaded() const
    {
        wait();
        return !symbols_.empty();
    }
    // "nf_hook_slow+0x9e", or "0xffffffff81abcdef" when unknown.
    std::string describe(std::uint64_t address) const;
    // The stack without the frames of the tracing machinery on top (our
    // program, the trampoline, the tracepoint's iterator), as symbols.
    std::vector<std::string> describe_stack(const std::vector<std::uint64_t>& ips) const;

private:
    void wait() const
    {
        if (pending_.valid()) pending_.get();
    }
    mutable std::future<bool> pending_;
    // 120,000 code symbols stay in memory for the whole run: one string of
    // names and 16 bytes per symbol, not a heap string each (issue 9's RSS).
    struct Symbol {
        std::uint64_t address;
        std::uint32_t name_at;   // offset in names_
        std::uint32_t name_size;
    };
    std::vector<Symbol> symbols_;  // sorted by address
    std::string names_;
};

}  // namespace rtd
