// From rule text to a BPF object, phase by phase, for a generated pack of
// N rules against the running kernel's BTF: parse+resolve, BTF load, type
// check, code generation, vmlinux.h, then the in-process compile cold (empty
// cache) and cached. Prints the median of several runs per phase.
//
//   build/release/bench/pipeline_bench [RULES]     (default 20)
//
// Targets (issue 3): 20 rules cold <= 1.5 s, cached <= 50 ms.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "compiler/pipeline.h"
#include "runtime/bpf_compiler.h"
#include "runtime/embedded_headers.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// A pack like the shipped ones: kfree_skb rules on several reasons with
// captures, kprobe rules on the TCP listen path, kretprobe rules.
std::string pack(int rules)
{
    static const char* reasons[] = {"NETFILTER_DROP", "NO_SOCKET", "TCP_CSUM", "SOCKET_RCVBUFF", "IP_RPFILTER",
                                    "TCP_LISTEN_OVERFLOW", "SOCKET_BACKLOG", "IP_INNOROUTES", "FRAG_REASM_TIMEOUT", "PKT_TOO_SMALL"};
    std::string text = "use \"net\"\nuse \"tcp\"\n\n";
    for (int i = 0; i < rules; ++i) {
        switch (i % 4) {
        case 0:
        case 1:
            text += fmt::format("rule bench.reason_{} {{\n layer l3\n probe tracepoint:skb:kfree_skb\n"
                                " capture rcvbuf = rx_sk.sk_rcvbuf\n capture dev = skb.dev.name\n"
                                " drop if reason == SKB_DROP_REASON_{}\n packet skb\n message \"{{dev}} {{rcvbuf}}\"\n}}\n\n",
                                i, reasons[i % 10]);
            break;
        case 2:
            text += fmt::format("rule bench.listen_{} {{\n layer l4\n probe kprobe:tcp_conn_request\n"
                                " capture qlen = syn_queue_len(sk)\n capture max = accept_queue_max(sk)\n"
                                " drop if qlen > max + {}\n packet skb\n}}\n\n",
                                i, i);
            break;
        default:
            text += fmt::format("rule bench.ret_{} {{\n layer l3\n probe kretprobe:fib_validate_source\n"
                                " capture len = skb.len\n drop if ret == -EXDEV && len > {}\n packet skb\n}}\n\n",
                                i, i);
        }
    }
    return text;
}

struct Phases {
    std::map<std::string, std::vector<double>> ms;
    void add(const std::string& name, double v) { ms[name].push_back(v); }
    double median(const std::string& name)
    {
        auto v = ms[name];
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    }
};

}  // namespace

int main(int argc, char** argv)
{
    int rules = argc > 1 ? std::atoi(argv[1]) : 20;
    fs::path dir = fs::temp_directory_path() / fmt::format("rtd-pipeline-{}", getpid());
    fs::create_directories(dir / "cache");
    fs::path file = dir / "pack.rule";
    std::ofstream(file) << pack(rules);

    Phases ph;
    std::size_t programs = 0;
    for (int run = 0; run < 5; ++run) {
        fs::remove_all(dir / "cache");
        auto total = Clock::now();
        auto t = Clock::now();
        rtd::PipelineOptions po;
        po.inputs = {file.string()};
        po.search = rtd::SearchPaths{{RTD_SOURCE_DIR "/stdlib"}, {}};
        rtd::Pipeline pipeline(std::move(po));
        bool ok = pipeline.run(rtd::Pipeline::Pass::Load);
        ph.add("parse + resolve", ms_since(t));
        t = Clock::now();
        ok = ok && pipeline.run(rtd::Pipeline::Pass::Btf);
        ph.add("BTF load", ms_since(t));
        t = Clock::now();
        ok = ok && pipeline.run(rtd::Pipeline::Pass::TypeCheck);
        ph.add("type check", ms_since(t));
        t = Clock::now();
        ok = ok && pipeline.run(rtd::Pipeline::Pass::Lower);
        rtd::CompiledRuleSet set = pipeline.plan();
        pipeline.emit(set, {});
        ph.add("code generation", ms_since(t));
        if (!ok) {
            std::fprintf(stderr, "%s", pipeline.diagnostics().render(pipeline.sources()).c_str());
            return 1;
        }
        t = Clock::now();
        const rtd::Btf* btf = pipeline.btf();
        rtd::BpfCompiler cc(btf->raw(), rtd::embedded_templates(), (dir / "cache").string());
        ph.add("cache key", ms_since(t));
        t = Clock::now();
        rtd::CompileResult cold = cc.compile(set.source);  // includes making vmlinux.h
        ph.add("compile (cold)", ms_since(t));
        ph.add("total cold", ms_since(total));
        if (!cold.ok) {
            std::fprintf(stderr, "%s\n", cold.diagnostics.c_str());
            return 1;
        }
        t = Clock::now();
        if (!cc.compile(set.source).ok) return 1;
        ph.add("compile (cache hit)", ms_since(t));
        programs = 0;
        for (const auto& p : set.probes)
            for (const auto& m : p.methods) programs += m.programs.size();
    }
    double cached_total = ph.median("parse + resolve") + ph.median("BTF load") + ph.median("type check") +
                          ph.median("code generation") + ph.median("cache key") + ph.median("compile (cache hit)");
    std::printf("%d rules, %zu programs; median of 5 runs (ms)\n", rules, programs);
    for (const char* name : {"parse + resolve", "BTF load", "type check", "code generation", "cache key", "compile (cold)",
                             "compile (cache hit)", "total cold"})
        std::printf("  %-22s %8.1f\n", name, ph.median(name));
    std::printf("  %-22s %8.1f\n", "total cached", cached_total);
    fs::remove_all(dir);
    return 0;
}
