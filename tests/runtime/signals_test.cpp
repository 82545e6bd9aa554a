// Stopping a run (runtime/signals.h): the first signal asks, the second
// ends the process; a stop the run asked for itself is not a signal.
#include "runtime/signals.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>

namespace rtd {
namespace {

TEST(StopSignals, FirstSignalAsksAndSecondEnds)
{
    EXPECT_EXIT(
        {
            StopSignals signals;
            std::raise(SIGINT);
            if (!stop_requested()) std::_Exit(3);
            std::raise(SIGINT);
            std::_Exit(4);  // not reached: the second one kills
        },
        ::testing::KilledBySignal(SIGINT), "");
}

// --count reached asks for the stop before the user presses Ctrl-C: that
// press is still the first, and the run ends cleanly with its counters.
TEST(StopSignals, ARunsOwnStopLeavesTheFirstSignalClean)
{
    EXPECT_EXIT(
        {
            StopSignals signals;
            request_stop();
            std::raise(SIGINT);
            std::_Exit(stop_requested() ? 0 : 3);
        },
        ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace rtd
