// Reading one kernel module's BTF from its file: raw split BTF
// (/sys/kernel/btf/NAME) or the .BTF section of an ELF module (.ko), first
// decompressed when it is xz, zstd or gzip data (Debian's 6.12 modules are
// .ko.xz); told apart by content, not by name. Every size is bounded: a
// module file may be damaged or hostile.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace rtd {

// The largest Debian module (amdgpu.ko) is 19 MiB; its BTF 2 MiB.
inline constexpr std::size_t kMaxModuleBytes = std::size_t{256} << 20;  // a file, and a file decompressed

// Closes the descriptor it holds.
struct FileDescriptor {
    int fd;
    ~FileDescriptor()
    {
        if (fd >= 0) ::close(fd);
    }
};

// Buffers kept from one file to the next: a scan reads thousands of module
// files, and fresh memory for each cost page faults that kept two scanning
// threads from running side by side. They only grow and are never cleared.
struct ModuleReadBuffers {
    std::string file, decoded;
};

// Raw BTF (its magic, in either byte order), not ELF.
bool is_raw_btf(std::string_view data);

// The module's BTF bytes, inside `buffers`; nothing with `error` set when
// the file is not one.
std::optional<std::string_view> module_file_btf(const std::string& path, ModuleReadBuffers& buffers, std::string& error);

// The same, copied out (tests).
std::optional<std::string> module_btf_bytes(const std::string& path, std::string& error);

}  // namespace rtd
