// Cost of polling the shipped monitor packs (snmp, nic, sysctl): one poll
// reads /proc/net/{snmp,netstat,snmp6} once, dumps the links over netlink
// once and reads each sysctl, then evaluates every monitor. Prints the
// median and spread of the time per poll, and the parts.
//
//   build/release/bench/monitor_bench [POLLS]     (default 500)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "compiler/frontend.h"
#include "runtime/counters.h"
#include "runtime/monitor.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename F> std::vector<double> time_each(int n, F f)
{
    std::vector<double> us;
    for (int i = 0; i < n; ++i) {
        auto t = Clock::now();
        f();
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
    std::sort(us.begin(), us.end());
    return us;
}

void print(const char* what, const std::vector<double>& us)
{
    std::printf("  %-34s median %8.1f us   p10 %8.1f   p90 %8.1f\n", what, us[us.size() / 2], us[us.size() / 10],
                us[us.size() * 9 / 10]);
}

}  // namespace

int main(int argc, char** argv)
{
    int polls = argc > 1 ? std::atoi(argv[1]) : 500;
    if (polls < 10) polls = 10;
    rtd::Frontend frontend(rtd::SearchPaths{{RTD_SOURCE_DIR "/stdlib"}, {}});
    if (!frontend.load({RTD_SOURCE_DIR "/rules/snmp", RTD_SOURCE_DIR "/rules/nic", RTD_SOURCE_DIR "/rules/sysctl"})) {
        std::fprintf(stderr, "the shipped monitor packs do not load\n");
        return 1;
    }
    rtd::Monitors monitors(frontend.rules());
    monitors.start();
    std::string error;
    auto links = rtd::read_links(error);
    std::printf("%zu monitors (%zu skipped here), %zu devices, %d polls\n", monitors.active(), monitors.skipped().size(),
                links ? links->size() : 0, polls);
    print("whole poll", time_each(polls, [&] { monitors.poll(); }));
    print("read /proc/net snmp+netstat+snmp6", time_each(polls, [] { rtd::read_snmp(); }));
    print("netlink RTM_GETLINK dump", time_each(polls, [] {
              std::string e;
              rtd::read_links(e);
          }));
    print("one sysctl", time_each(polls, [] { rtd::read_sysctl("net.core.somaxconn"); }));
    print("sysctl with '*' (every device)", time_each(polls, [] { rtd::read_sysctl("net.ipv4.conf.*.rp_filter"); }));
    return 0;
}
