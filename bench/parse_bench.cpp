// Front-end speed: text -> resolved AST for generated rule files of growing
// size. Prints one line per size with the median of several runs.
//
//   build/release/bench/parse_bench [RULES...]     (default: 20 500 5000)
//
// Target (issue 2): 5,000 rules under 1 s.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "compiler/frontend.h"

namespace fs = std::filesystem;

namespace {

// A realistic mix: kprobe rules with macros and captures, tracepoint rules
// with drop reasons, monitors.
std::string generate(int rules)
{
    std::string text = "use \"net\"\nuse \"tcp\"\n\n";
    for (int i = 0; i < rules; ++i) {
        switch (i % 3) {
        case 0:
            text += fmt::format(
                "rule bench.listen_{0} {{\n    layer   l4\n    probe   kprobe:tcp_conn_request\n"
                "    capture qlen = syn_queue_len(sk)\n    capture max  = accept_queue_max(sk)\n"
                "    drop if qlen > max + {0} && sk.__sk_common.skc_state == TCP_LISTEN\n    packet  skb\n"
                "    message \"SYN queue full ({{qlen}} > {{max}}) {{saddr}}:{{sport}}\"\n"
                "    hint    \"raise the backlog\"\n}}\n\n",
                i);
            break;
        case 1:
            text += fmt::format(
                "rule bench.reason_{0} {{\n    layer   l3\n    probe   tracepoint:skb:kfree_skb\n"
                "    capture rcvbuf = rx_sk.sk_rcvbuf ?? 0\n"
                "    drop if reason == SKB_DROP_REASON_NETFILTER_DROP || (reason == {0} && rcvbuf > -EXDEV)\n"
                "    packet  skb\n    stack\n    message \"{{reason}} at {{location}} rcvbuf={{rcvbuf}}\"\n}}\n\n",
                i);
            break;
        default:
            text += fmt::format(
                "monitor bench.counter_{0} {{\n    layer   l4\n    source  snmp:TcpExtListenOverflows\n"
                "    drop if delta > {0} % 7\n    message \"{{delta}} overflows\"\n}}\n\n",
                i);
        }
    }
    return text;
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<int> sizes;
    for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
    if (sizes.empty()) sizes = {20, 500, 5000};

    rtd::SearchPaths paths;
    paths.stdlib.emplace_back(RTD_SOURCE_DIR "/stdlib");
    fs::path dir = fs::temp_directory_path() / fmt::format("rtd-bench-{}", getpid());
    fs::create_directories(dir);

    std::printf("%-8s %10s %12s %12s %14s\n", "rules", "bytes", "median ms", "best ms", "rules/s");
    for (int n : sizes) {
        fs::path file = dir / fmt::format("bench{}.rule", n);
        std::string text = generate(n);
        std::ofstream(file) << text;
        std::vector<double> ms;
        for (int run = 0; run < 7; ++run) {
            auto t0 = std::chrono::steady_clock::now();
            rtd::Frontend fe(paths);
            bool ok = fe.load({file.string()});
            auto t1 = std::chrono::steady_clock::now();
            if (!ok || fe.rules().size() != static_cast<std::size_t>(n)) {
                std::fprintf(stderr, "%s", fe.diagnostics().render(fe.sources()).c_str());
                return 1;
            }
            ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        double median = ms[ms.size() / 2];
        std::printf("%-8d %10zu %12.1f %12.1f %14.0f\n", n, text.size(), median, ms.front(), n / (median / 1000));
    }
    fs::remove_all(dir);
    return 0;
}
