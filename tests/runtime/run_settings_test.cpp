// Which .rodata settings an object compiled for a run leaves out
// (runtime/run_settings.h): exactly those the loader would leave at 0.
#include "runtime/run_settings.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace rtd {
namespace {

bool left_off(const RunOptions& opt, const char* name)
{
    const std::vector<std::string> off = settings_left_off(opt);
    return std::find(off.begin(), off.end(), name) != off.end();
}

TEST(RunSettings, EachOptionKeepsItsSettingAndNoOther)
{
    EXPECT_EQ(settings_left_off(RunOptions{}).size(), 10u);
    RunOptions o;
    o.load.track_entries = 1024;
    EXPECT_FALSE(left_off(o, "rtd_track_on"));
    EXPECT_EQ(settings_left_off(o).size(), 9u);
    o = {};
    o.load.rate_limit = 5;
    EXPECT_FALSE(left_off(o, "rtd_rate_limit"));
    o = {};
    o.all = true;
    EXPECT_FALSE(left_off(o, "rtd_report_all"));
    o = {};
    o.ledger = true;
    EXPECT_FALSE(left_off(o, "rtd_ledger_netns"));
    o = {};
    o.netns = "blue";
    EXPECT_FALSE(left_off(o, "rtd_netns_only"));
    o = {};
    o.metrics.listen = "127.0.0.1:9977";
    EXPECT_FALSE(left_off(o, "rtd_metrics_labels"));
}

// The settings that depend on more than one option, as load_options sets them.
TEST(RunSettings, CombinedOptionsFollowTheLoader)
{
    RunOptions o;
    o.output.summary = true;
    EXPECT_FALSE(left_off(o, "rtd_summary_only"));
    EXPECT_FALSE(left_off(o, "rtd_flow_samples"));
    o.output.count = 10;  // --count needs events: the summary is made from them
    EXPECT_TRUE(left_off(o, "rtd_summary_only"));
    EXPECT_TRUE(left_off(o, "rtd_flow_samples"));
    o = {};
    o.output.quiet = true;
    EXPECT_FALSE(left_off(o, "rtd_events_off"));
    o.pcap.path = "drops.pcapng";  // --pcap writes events: they are sent
    EXPECT_TRUE(left_off(o, "rtd_events_off"));
    EXPECT_FALSE(left_off(o, "rtd_snaplen"));
    for (const RunOptions& run : {RunOptions{}, o}) {
        const LoadOptions l = load_options(run, 0, -1);
        EXPECT_EQ(left_off(run, "rtd_events_off"), !l.events_off);
        EXPECT_EQ(left_off(run, "rtd_snaplen"), l.snaplen == 0);
    }
}

}  // namespace
}  // namespace rtd
