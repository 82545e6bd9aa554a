// BPF compile speed: vmlinux.h generation from the running
// kernel's BTF, a cold in-process compile (forked child) of N tp_btf
// programs, and a cache hit. Prints medians of several runs; wall time for
// the caller, plus the children's CPU time and peak RSS for the cold compiles.
//
//   build/release/bench/compile_bench [PROGRAMS...]     (default: 2 20 100)
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <bpf/btf.h>
#include <fmt/format.h>

#include "runtime/bpf_compiler.h"
#include "runtime/vmlinux_header.h"

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double children_cpu_ms()
{
    rusage ru{};
    ::getrusage(RUSAGE_CHILDREN, &ru);
    auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
    return ms(ru.ru_utime) + ms(ru.ru_stime);
}

// The largest RSS any compile child reached so far.
long children_max_rss_mb()
{
    rusage ru{};
    ::getrusage(RUSAGE_CHILDREN, &ru);
    return ru.ru_maxrss / 1024;
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Programs shaped like generated rules: a tp_btf program per rule with a
// CO-RE read or two and a filter on the drop reason. `salt` makes each
// source distinct so every cold run misses the cache.
std::string generate(int programs, int salt)
{
    std::string s = fmt::format(
        "// run {}\n#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n"
        "#include <bpf/bpf_core_read.h>\n\nchar LICENSE[] SEC(\"license\") = \"GPL\";\n\n"
        "struct {{ __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, {}); __type(key, __u32);"
        " __type(value, __u64); }} counters SEC(\".maps\");\n\n",
        salt, programs);
    for (int i = 0; i < programs; ++i) {
        s += fmt::format(
            "SEC(\"tp_btf/kfree_skb\")\n"
            "int BPF_PROG(rule_{0}, struct sk_buff *skb, void *location, enum skb_drop_reason reason)\n"
            "{{\n"
            "    if (reason != {0} && BPF_CORE_READ(skb, len) < {1})\n"
            "        return 0;\n"
            "    __u32 key = {0};\n"
            "    __u64 *n = bpf_map_lookup_elem(&counters, &key);\n"
            "    if (n)\n"
            "        __sync_fetch_and_add(n, BPF_CORE_READ(skb, dev, ifindex) + 1);\n"
            "    return 0;\n"
            "}}\n\n",
            i, 64 + i);
    }
    return s;
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<int> sizes;
    for (int i = 1; i < argc; ++i)
        sizes.push_back(std::atoi(argv[i]));
    if (sizes.empty())
        sizes = {2, 20, 100};
    constexpr int runs = 5;

    btf* kernel = btf__load_vmlinux_btf();
    if (kernel == nullptr) {
        std::fprintf(stderr, "compile_bench: no kernel BTF (/sys/kernel/btf/vmlinux)\n");
        return 1;
    }
    std::vector<double> gen_ms;
    std::string vmlinux_h;
    for (int r = 0; r < runs; ++r) {
        auto start = Clock::now();
        vmlinux_h = rtd::generate_vmlinux_h(kernel);
        gen_ms.push_back(ms_since(start));
    }
    btf__free(kernel);
    fmt::print("vmlinux.h: {:.1f} ms, {:.2f} MB ({} bytes)\n", median(gen_ms), vmlinux_h.size() / 1e6,
               vmlinux_h.size());

    fs::path cache = fs::temp_directory_path() / fmt::format("rtd-compile-bench-{}", ::getpid());
    rtd::BpfCompiler compiler(vmlinux_h, {}, cache.string());
    int salt = 0;
    for (int programs : sizes) {
        std::vector<double> cold_wall, cold_cpu, hit_wall;
        std::size_t object_size = 0;
        for (int r = 0; r < runs; ++r) {
            std::string source = generate(programs, ++salt);
            double cpu_before = children_cpu_ms();
            auto start = Clock::now();
            rtd::CompileResult cold = compiler.compile(source);
            cold_wall.push_back(ms_since(start));
            cold_cpu.push_back(children_cpu_ms() - cpu_before);
            if (!cold.ok || cold.cached) {
                std::fprintf(stderr, "compile_bench: compile failed:\n%s\n", cold.diagnostics.c_str());
                return 1;
            }
            object_size = cold.object.size();
            start = Clock::now();
            rtd::CompileResult hit = compiler.compile(source);
            hit_wall.push_back(ms_since(start));
            if (!hit.cached) {
                std::fprintf(stderr, "compile_bench: expected a cache hit\n");
                return 1;
            }
        }
        fmt::print("{:4} programs: cold {:.0f} ms wall ({:.0f} ms child CPU, peak child RSS so far {} MB), "
                   "cache hit {:.2f} ms, object {} KB\n",
                   programs, median(cold_wall), median(cold_cpu), children_max_rss_mb(), median(hit_wall),
                   object_size / 1024);
    }
    std::error_code ec;
    fs::remove_all(cache, ec);
    return 0;
}
