// What the on-disk caches (bpf_compiler.h's objects, plan_cache.h's plans)
// share: the hash their keys are made of, and reading and writing entries.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace rtd {

// 128 bits: two unrelated 64-bit byte hashes. FNV-1a's low bits depend
// linearly on the input, so the second one rotates to feed high bits back
// down; neither needs to resist an attacker (the caches are private).
struct ContentHash {
    std::uint64_t a = 0xcbf29ce484222325ULL;  // FNV-1a offset basis
    std::uint64_t b = 0x6a09e667f3bcc909ULL;

    void bytes(std::string_view s)
    {
        // Eight bytes per step: keys cover megabytes of BTF.
        while (s.size() >= 8) {
            std::uint64_t w;
            std::memcpy(&w, s.data(), 8);
            a = (a ^ w) * 0x100000001b3ULL;
            b = (b ^ w) * 0x9e3779b97f4a7c15ULL;
            b ^= b >> 29;
            s.remove_prefix(8);
        }
        for (unsigned char c : s) {
            a = (a ^ c) * 0x100000001b3ULL;
            b = ((b ^ c) * 0x9e3779b97f4a7c15ULL);
            b ^= b >> 29;
        }
    }
    // Length first, so ("ab","c") and ("a","bc") differ.
    void field(std::string_view s)
    {
        std::uint64_t n = s.size();
        char len[8];
        std::memcpy(len, &n, sizeof len);
        bytes(std::string_view(len, sizeof len));
        bytes(s);
    }
};

// The whole file, or nothing (missing or unreadable: a cache miss).
std::optional<std::string> read_cache_file(const std::string& path);
// mkdir -p; directories made are private to the user (0700).
bool make_cache_dirs(const std::string& dir);
// Temp file + rename into `dir`: a reader never sees half an entry, and two
// processes storing the same key both succeed. Failures leave no entry.
void store_cache_file(const std::string& dir, const std::string& path, std::string_view bytes);

}  // namespace rtd
