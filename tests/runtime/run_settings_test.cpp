// Which .rodata settings an object compiled for a run holds as constants
// (runtime/run_settings.h): at the values the loader would write.
#include "runtime/run_settings.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

namespace rtd {
namespace {

// The value `opt` fixes `name` at, or nothing when it stays settable.
std::optional<std::uint32_t> fixed(const RunOptions& opt, const char* name, bool flow_samples_needed = true)
{
    for (const FixedSetting& s : fixed_settings(opt, flow_samples_needed))
        if (s.name == name) return s.value;
    return std::nullopt;
}

TEST(RunSettings, APlainRunFixesEverySettingAtZero)
{
    const std::vector<FixedSetting> all = fixed_settings(RunOptions{}, true);
    EXPECT_EQ(all.size(), 10u);
    for (const FixedSetting& s : all) EXPECT_EQ(s.value, 0u) << s.name;
}

TEST(RunSettings, EachOptionKeepsItsSettingSettable)
{
    RunOptions o;
    o.load.track_entries = 1024;
    EXPECT_FALSE(fixed(o, "rtd_track_on"));
    EXPECT_EQ(fixed_settings(o, true).size(), 9u);
    o = {};
    o.load.rate_limit = 5;
    EXPECT_FALSE(fixed(o, "rtd_rate_limit"));
    o = {};
    o.all = true;
    EXPECT_FALSE(fixed(o, "rtd_report_all"));
    o = {};
    o.ledger = true;
    EXPECT_FALSE(fixed(o, "rtd_ledger_netns"));
    o = {};
    o.netns = "blue";
    EXPECT_FALSE(fixed(o, "rtd_netns_only"));
    o = {};
    o.metrics.listen = "127.0.0.1:9977";
    EXPECT_FALSE(fixed(o, "rtd_metrics_labels"));
    o = {};
    o.pcap.path = "drops.pcapng";
    EXPECT_FALSE(fixed(o, "rtd_snaplen"));
}

// The switches fixed either way, as load_options and the loader set them.
TEST(RunSettings, SwitchesFollowTheLoader)
{
    RunOptions o;
    o.output.summary = true;
    EXPECT_EQ(fixed(o, "rtd_summary_only"), 1u);
    EXPECT_EQ(fixed(o, "rtd_flow_samples"), 1u);
    EXPECT_EQ(fixed(o, "rtd_flow_samples", false), 0u) << "no message asks for evidence";
    o.output.count = 10;  // --count needs events: the summary is made from them
    EXPECT_EQ(fixed(o, "rtd_summary_only"), 0u);
    EXPECT_EQ(fixed(o, "rtd_flow_samples"), 0u);
    o = {};
    o.output.quiet = true;
    EXPECT_EQ(fixed(o, "rtd_events_off"), 1u);
    o.pcap.path = "drops.pcapng";  // --pcap writes events: they are sent
    EXPECT_EQ(fixed(o, "rtd_events_off"), 0u);
    for (const RunOptions& run : {RunOptions{}, o}) {
        const LoadOptions l = load_options(run, 0, -1);
        EXPECT_EQ(fixed(run, "rtd_events_off"), l.events_off ? 1u : 0u);
        EXPECT_EQ(fixed(run, "rtd_summary_only"), l.summary_only ? 1u : 0u);
        EXPECT_EQ(fixed(run, "rtd_snaplen").has_value(), l.snaplen == 0);
    }
}

}  // namespace
}  // namespace rtd
