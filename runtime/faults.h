// Fault injection for the hardening tests, from RTRACE_DROP_FAULTS:
//
//   stall=PHASE:MS   sleep MS before PHASE (compile, load, attach, run),
//                    saying so on stderr, so a test can signal right there
//   reject=RULE      the verifier refuses RULE's programs (their first
//                    instruction becomes a read above the stack frame);
//                    RULE may also name a dispatcher (rtd_d_kfree_skb_tb)
//   vanish=RULE      RULE's attach target is gone when it is attached
//   stash=N          the kretprobe argument stash holds N entries, not 16,384
//
// joined by commas. Each makes a rare path happen on demand through the
// same code as the real fault; nothing is injected without the variable.
#pragma once

#include <map>
#include <set>
#include <string>

#include "runtime/status.h"

struct bpf_program;

namespace rtd {

struct Faults {
    std::map<std::string, unsigned> stall_ms;
    std::set<std::string> reject;
    std::set<std::string> vanish;
    unsigned stash_entries = 0;  // 0: as built
    std::string error;  // the variable could not be read ("" when fine; a run warns about it)

    static Faults parse(const std::string& spec);
    // The process's faults (parsed once from the environment).
    static const Faults& active();

    // Sleeps before `phase` when asked to, in short steps so that `stop`
    // (a signal's flag) cuts the stall short. True when stopped.
    // Says so on `status`.
    bool stall(const std::string& phase, const volatile int& stop, StatusSink& status) const;
};

// Overwrites the program's first instruction (before load) with one the
// verifier refuses. False when the program has none or it is a relocated one.
bool break_program(struct bpf_program* prog);

}  // namespace rtd
