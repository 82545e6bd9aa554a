// Kernel tests need root, BPF and the kernel's BTF. Without them they skip,
// except when RTRACE_DROP_REQUIRE_KERNEL=1 (CI and the kernel test machines
// set it): then they fail, so a missing feature never passes silently.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
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
