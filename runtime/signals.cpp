#include "runtime/signals.h"

#include <string>

#include "runtime/faults.h"

namespace rtd {

namespace {

volatile std::sig_atomic_t g_stop = 0;
// Signals taken, apart from g_stop: a stop the run asked for itself (--count
// reached) must not make the user's first Ctrl-C count as the second.
volatile std::sig_atomic_t g_signalled = 0;
volatile std::sig_atomic_t g_reload = 0;

void on_reload(int) { g_reload = 1; }

void on_signal(int sig)
{
    if (g_signalled) {
        std::signal(sig, SIG_DFL);
        std::raise(sig);
    }
    g_signalled = 1;
    g_stop = 1;
}

}  // namespace

StopSignals::StopSignals()
{
    g_stop = 0;
    g_signalled = 0;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM}) sigaction(sig, &sa, nullptr);
    g_reload = 0;
    sa.sa_handler = on_reload;
    sigaction(SIGHUP, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
}

StopSignals::~StopSignals()
{
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) std::signal(sig, SIG_DFL);
}

bool stop_requested() { return g_stop != 0; }
bool take_reload_request()
{
    if (!g_reload) return false;
    g_reload = 0;
    return true;
}
void request_stop() { g_stop = 1; }
const volatile std::sig_atomic_t& stop_flag() { return g_stop; }

bool stopped_before(const char* phase, StatusSink& status)
{
    if (!Faults::active().stall(phase, g_stop, status)) return false;
    status.say(std::string("stopped by a signal before ") + phase + "; nothing was left attached");
    return true;
}

}  // namespace rtd
