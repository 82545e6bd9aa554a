// BPF C -> BPF ELF object, compiled in process with Clang's libraries inside
// a forked child (compile_child.h says why), with an on-disk cache keyed by
// content.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

struct btf;

namespace rtd {

struct CompileResult {
    bool ok = false;
    std::string object;       // the BPF ELF bytes when ok
    std::string diagnostics;  // clang's messages (errors and warnings), or why the child failed
    bool cached = false;      // served from the cache without running clang
    bool unavailable = false; // no compiler here (disabled, or its library missing): not the source's fault
};

class BpfCompiler {
public:
    // vmlinux_h: the text to serve as "vmlinux.h". headers: extra virtual
    // headers by include name (e.g. "rtd.bpf.h" -> text). cache_dir: where
    // objects are cached; empty disables the cache.
    BpfCompiler(std::string vmlinux_h, std::map<std::string, std::string> headers, std::string cache_dir);
    // The same, with vmlinux.h generated from `btf` only when a compile
    // misses the cache, holding just the types that compile's source and
    // headers name (the raw BTF keys the cache). `btf` must outlive us.
    BpfCompiler(const struct btf* btf, std::map<std::string, std::string> headers, std::string cache_dir);

    // Compiles `source` (a C translation unit) for BPF. Never throws for
    // compile errors; never lets LLVM kill the calling process.
    // It forks: safe with other threads running as long as none of them is
    // inside LLVM at the time (the child only runs clang, libc and fmt).
    // Diagnostics call the source "rules.bpf.c". Only warning-free objects
    // are cached, so a hit has no diagnostics, as its fresh compile had none.
    CompileResult compile(const std::string& source);

    // $XDG_CACHE_HOME/rtrace-drop, else $HOME/.cache/rtrace-drop.
    static std::string default_cache_dir();

private:
    struct Key {
        std::uint64_t a, b;
    };
    Key cache_key(const std::string& source) const;
    void hash_inputs(std::string_view kind, const std::vector<std::string_view>& types);
    std::string cache_path(const Key& key) const;

    const struct btf* btf_ = nullptr;
    std::string vmlinux_h_;  // the text given to the first constructor; with `btf_`, made per compile
    std::map<std::string, std::string> headers_;
    std::string cache_dir_;
    Key base_key_;  // the hash state after everything but the source
};

}  // namespace rtd
