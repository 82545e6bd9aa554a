// Kernel tests need root, BPF and the kernel's BTF. Without them they skip,
// except when RTRACE_DROP_REQUIRE_KERNEL=1 (CI and the kernel test machines
// set it): then they fail, so a missing feature never passes silently.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace rtd::test {

inline constexpr const char* kKernelBtf = "/sys/kernel/btf/vmlinux";

inline bool kernel_required()
{
    const char* v = std::getenv("RTRACE_DROP_REQUIRE_KERNEL");
    return v != nullptr && std::string_view(v) == "1";
}

inline bool have_kernel_btf()
{
    std::error_code ec;
    return std::filesystem::exists(kKernelBtf, ec);
}

inline bool have_root() { return ::geteuid() == 0; }

// The vmlinux (with .BTF) of Debian 12's kernel package `kernel` ("6.1",
// "6.12"), fetched and unpacked by tests/vm/vm.sh; "" when that failed.
inline std::string debian_vmlinux(const std::string& kernel)
{
    const std::string command = std::string(RTD_SOURCE_DIR) + "/tests/vm/vm.sh btf " + kernel + " 2>&1";
    FILE* p = popen(command.c_str(), "r");
    if (!p) return {};
    std::string output, line;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p)) output += buf;
    if (pclose(p) != 0) {
        std::fprintf(stderr, "%s", output.c_str());
        return {};
    }
    while (!output.empty() && output.back() == '\n') output.pop_back();
    return output.substr(output.rfind('\n') + 1);
}

}  // namespace rtd::test

// Skips (or fails under RTRACE_DROP_REQUIRE_KERNEL=1) unless `condition`.
#define RTD_NEED_KERNEL(condition, why)                                            \
    do {                                                                           \
        if (!(condition)) {                                                        \
            if (::rtd::test::kernel_required())                                    \
                FAIL() << "RTRACE_DROP_REQUIRE_KERNEL=1 but " << (why);            \
            GTEST_SKIP() << (why);                                                 \
        }                                                                          \
    } while (0)
