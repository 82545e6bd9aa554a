// Stopping a run: the first SIGINT or SIGTERM asks for a clean stop
// (counters, then detach); a second one ends the process at once. Either way
// the kernel frees every program, link and map with our file descriptors.
// SIGHUP asks a running run to reload its rules and config (session.cpp).
#pragma once

#include <csignal>

#include "runtime/status.h"

namespace rtd {

// Installed for a whole run, from reading rules to detaching: a stop asked
// for while compiling, loading or attaching is honoured between those
// steps. SIGPIPE is ignored so a closed stdout (`| head`) is a write error
// the run notices, not a silent death without the counters.
class StopSignals {
public:
    StopSignals();
    ~StopSignals();
    StopSignals(StopSignals&&) = delete;  // and with it every copy: one owner restores the handlers
};

// Set by SIGHUP; taking it clears it.
bool take_reload_request();

// Set by a signal (or by the run itself: --count reached).
bool stop_requested();
void request_stop();
// The flag itself, for waits that poll it (Faults::stall).
const volatile std::sig_atomic_t& stop_flag();

// True when a stop was asked for before `phase` (after any stall a test
// injected there, runtime/faults.h); says so, since nothing has run yet.
bool stopped_before(const char* phase, StatusSink& status);

}  // namespace rtd
