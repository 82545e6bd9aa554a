// The end-to-end tests' TC_INGRESS drops: packtest's tc_drop step.
#pragma once

#include <string>

#include "packtest/tc_drop.h"

namespace e2e {

// Attached to `dev` inside namespace `ns` (an `ip netns` name); true when it is.
inline bool tc_drop_all(const std::string& ns, const std::string& dev)
{
    return rtd::packtest::tc_drop_all("/run/netns/" + ns, dev).empty();
}

}  // namespace e2e
