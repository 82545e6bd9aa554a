// What a compile sends back from the forked child to rtrace-drop, and the
// entry point of the compiler library that produces it (librtd-clang.so).
//
// Clang and LLVM live in that library, not in the rtrace-drop binary: only
// the short-lived compile child maps them (dlopen after fork), so a long
// `run` never carries LLVM's 60 MB of relocated pages (issue 9's memory
// target), and a binary without the library still runs prebuilt objects.
//
// The frame, written once to a pipe:
//   status (1 byte) | object size (u64) | diagnostics size (u64) | object | diagnostics
#pragma once

#include <elf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

extern "C" {
// A file the compile can #include, by name ("vmlinux.h", "bpf/bpf_helpers.h").
struct rtd_clang_file {
    const char* name;
    const char* text;
    unsigned long size;
};

struct rtd_clang_job {
    const char* source;  // the C translation unit ("rules.bpf.c")
    unsigned long source_size;
    const struct rtd_clang_file* includes;
    unsigned long include_count;
};

// Compiles the job and writes one frame to result_fd. Returns 0 when the
// frame was written. A fatal LLVM error writes its frame and _exits.
typedef int (*rtd_clang_compile_fn)(const struct rtd_clang_job* job, int result_fd);
}

namespace rtd {

// The library's exported symbol; a new name when the job layout changes.
inline constexpr const char* kClangEntryPoint = "rtd_clang_compile_v1";

// What diagnostics and debug info call the source; the child's cwd holds a
// copy under this name for BTF line info (see SourceCopy).
inline constexpr const char* kCompiledSourceName = "rules.bpf.c";

// Unavailable: no compiler here (its library cannot be loaded), not a bad source.
enum class CompileStatus : unsigned char { Compiled = 0, Failed = 1, Fatal = 2, Unavailable = 3 };

inline bool write_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

inline bool is_elf(std::string_view bytes)
{
    return bytes.size() >= SELFMAG && std::memcmp(bytes.data(), ELFMAG, SELFMAG) == 0;
}

// ELF magic and, for 64-bit objects, a section header table inside the file:
// LLVM writes that table last, so a truncated cache entry fails this.
inline bool is_complete_elf(std::string_view bytes)
{
    if (!is_elf(bytes))
        return false;
    if (bytes.size() < sizeof(Elf64_Ehdr) || bytes[EI_CLASS] != ELFCLASS64)
        return true;  // not what we produce; let libbpf judge it
    Elf64_Ehdr eh;
    std::memcpy(&eh, bytes.data(), sizeof eh);
    return eh.e_shoff <= bytes.size() &&
           std::uint64_t{eh.e_shnum} * eh.e_shentsize <= bytes.size() - eh.e_shoff;
}

inline std::string encode_frame(CompileStatus status, std::string_view object, std::string_view diagnostics)
{
    std::string frame;
    frame.push_back(static_cast<char>(status));
    for (std::uint64_t n : {std::uint64_t{object.size()}, std::uint64_t{diagnostics.size()}}) {
        char len[8];
        std::memcpy(len, &n, sizeof len);
        frame.append(len, sizeof len);
    }
    frame.append(object);
    frame.append(diagnostics);
    return frame;
}

struct CompileFrame {
    CompileStatus status;
    std::string object;
    std::string diagnostics;
};

inline std::optional<CompileFrame> decode_frame(std::string_view bytes)
{
    constexpr std::size_t header = 1 + 8 + 8;
    if (bytes.size() < header) return std::nullopt;
    std::uint64_t object_size, diag_size;
    std::memcpy(&object_size, bytes.data() + 1, 8);
    std::memcpy(&diag_size, bytes.data() + 9, 8);
    if (object_size > bytes.size() || diag_size > bytes.size() || header + object_size + diag_size != bytes.size())
        return std::nullopt;
    auto status = static_cast<CompileStatus>(bytes[0]);
    if (status != CompileStatus::Compiled && status != CompileStatus::Failed && status != CompileStatus::Fatal &&
        status != CompileStatus::Unavailable)
        return std::nullopt;
    return CompileFrame{status, std::string(bytes.substr(header, object_size)),
                        std::string(bytes.substr(header + object_size, diag_size))};
}

}  // namespace rtd
