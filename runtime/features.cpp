#include "runtime/features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

namespace rtd {

namespace fs = std::filesystem;

namespace {

// Loads "return 0" as a fentry program on a function every kernel has, and
// attaches it for an instant: the only reliable test, since kernels can
// forbid trampolines (lockdown, or as on this project's build machines).
std::string try_trampoline(std::int32_t target)
{
    if (target <= 0) return "no known function to test with in the kernel's BTF";
    const struct bpf_insn prog[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},  // r0 = 0
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},                   // exit
    };
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY,
                .attach_btf_id = static_cast<__u32>(target));
    int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "rtd_probe", "GPL", prog, 2, &opts);
    if (fd < 0) {
        int err = errno;
        return fmt::format("loading a fentry program failed: {} ({})", std::strerror(err), err == EPERM ? "EPERM" : "errno");
    }
    int link = bpf_link_create(fd, 0, BPF_TRACE_FENTRY, nullptr);
    int err = errno;
    close(fd);
    if (link < 0) return fmt::format("attaching a fentry program failed: {}", std::strerror(err));
    close(link);
    return {};
}

std::string find_tracefs()
{
    for (const char* dir : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
        std::error_code ec;
        if (fs::exists(fs::path(dir) / "events", ec)) return dir;
    }
    return {};
}

}  // namespace

std::set<AttachForm> KernelFeatures::forms() const
{
    std::set<AttachForm> f = {AttachForm::TpBtf, AttachForm::RawTp};
    if (trampolines) f.insert({AttachForm::Fentry, AttachForm::Fexit});
    // Also where trampolines work: a kernel can refuse one for a function
    // (6.1: more than six arguments) and the probe then falls back to these.
    if (kprobes) f.insert({AttachForm::Kprobe, AttachForm::Kretprobe});
    return f;
}

std::string KernelFeatures::function_probe_block() const
{
    if (trampolines || kprobes) return {};
    return "kernel has no kprobes and refuses BPF trampolines";
}

std::int32_t trampoline_test_target(const Btf& kernel_btf)
{
    for (const char* fn : {"tcp_v4_rcv", "ip_rcv", "__netif_receive_skb_core", "do_sys_openat2"})
        if (__s32 id = btf__find_by_name_kind(kernel_btf.raw(), fn, BTF_KIND_FUNC); id > 0) return id;
    return -1;
}

KernelFeatures probe_kernel_features(const Btf& kernel_btf) { return probe_kernel_features(trampoline_test_target(kernel_btf)); }

KernelFeatures probe_kernel_features(std::int32_t trampoline_target)
{
    KernelFeatures f;
    std::error_code ec;
    f.kprobes = fs::exists("/sys/bus/event_source/devices/kprobe", ec);
    f.trampoline_error = try_trampoline(trampoline_target);
    f.trampolines = f.trampoline_error.empty();
    f.tracefs = find_tracefs();
    if (!f.tracefs.empty()) {
        std::ifstream in(f.tracefs + "/available_filter_functions");
        if (in) {
            std::unordered_set<std::string> names;
            std::string line;
            while (std::getline(in, line)) {
                // "name" or "name [module]"
                std::size_t sp = line.find(' ');
                names.insert(sp == std::string::npos ? line : line.substr(0, sp));
            }
            if (!names.empty()) f.traceable = std::move(names);
        }
    }
    return f;
}

bool tracepoint_exists(const KernelFeatures& f, const std::string& category, const std::string& event)
{
    if (f.tracefs.empty()) return true;  // cannot tell; BTF said it exists
    std::error_code ec;
    return fs::exists(fs::path(f.tracefs) / "events" / category / event, ec);
}

// tracefs tells which functions ftrace can trace and which tracepoints
// exist; without it both are learnt only when attaching fails.
std::string mount_tracefs_if_missing()
{
    if (!find_tracefs().empty()) return {};
    const char* dir = "/sys/kernel/tracing";
    if (::mount("nodev", dir, "tracefs", 0, nullptr) == 0) return fmt::format("tracefs was not mounted; mounted it at {}", dir);
    return fmt::format("tracefs is not mounted and mounting it failed ({}): functions ftrace cannot trace and missing "
                       "tracepoints are found only when attaching; mount it with: mount -t tracefs nodev {}",
                       std::strerror(errno), dir);
}

std::string missing_bpf_capabilities()
{
    constexpr int kCapSysAdmin = 21, kCapPerfmon = 38, kCapBpf = 39;
    std::ifstream status("/proc/self/status");
    std::uint64_t effective = 0;
    bool found = false;
    for (std::string line; std::getline(status, line);)
        if (line.rfind("CapEff:", 0) == 0) {
            effective = std::strtoull(line.c_str() + 7, nullptr, 16);
            found = true;
        }
    if (!found) return {};  // cannot tell: let the kernel decide
    auto has = [&](int cap) { return (effective >> cap) & 1; };
    if (has(kCapSysAdmin)) return {};
    std::string missing;
    if (!has(kCapBpf)) missing = "CAP_BPF";
    if (!has(kCapPerfmon)) missing += std::string(missing.empty() ? "" : ", ") + "CAP_PERFMON";
    return missing;
}

}  // namespace rtd
