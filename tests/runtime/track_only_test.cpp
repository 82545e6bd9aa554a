// `run rules/track --track` alone attaches hops but no rule that reports a
// drop: the run warns (runtime/generation.cpp) when only track rules attach.
#include "runtime/attach.h"

#include <gtest/gtest.h>

namespace rtd {
namespace {

CompiledRuleSet two_rules()
{
    CompiledRuleSet set;
    RuleEntry drop;
    drop.id = "udp.no_socket";
    set.rules.push_back(drop);
    RuleEntry hop;
    hop.id = "track.ip_rcv";
    hop.track = true;
    set.rules.push_back(hop);
    for (std::size_t r = 0; r < 2; ++r) {
        ProbePlan p;
        p.rule = r;
        set.probes.push_back(p);
    }
    return set;
}

TEST(OnlyTrackRules, HopsWithoutADropRuleAreTold)
{
    const CompiledRuleSet set = two_rules();
    AttachedProbes probes;
    probes.method = {kNoMethod, 0};
    EXPECT_TRUE(only_track_rules_attached(set, probes));
    probes.method = {0, 0};
    EXPECT_FALSE(only_track_rules_attached(set, probes));  // a drop rule reports the paths
    probes.method = {0, kNoMethod};
    EXPECT_FALSE(only_track_rules_attached(set, probes));
    probes.method = {kNoMethod, kNoMethod};
    EXPECT_FALSE(only_track_rules_attached(set, probes));  // nothing attached: an error of its own
}

}  // namespace
}  // namespace rtd
