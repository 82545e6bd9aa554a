// `rtrace-drop run --where EXPR`: a filter over each drop's packet and task,
// written in the rule language's expression syntax and evaluated in the
// kernel, so filtered drops never reach the ring buffer (they are counted).
//
//   saddr in 10.0.0.0/8 && dport == 443
//   dev == "eth0" || proto == icmpv6
//   daddr == fe80::1 && !(comm == "curl")
//
// Builtins: saddr, daddr (addresses), sport, dport, proto (IPPROTO number;
// the names tcp, udp, icmp, icmpv6 and sctp are constants), dev (device
// name), netns (namespace inode), comm (task name), pid. Literals: integers,
// IPv4 and IPv6 addresses, CIDR blocks (10.0.0.0/8, 2001:db8::/32) and
// strings. Addresses compare with '==', '!=' and 'in' only, strings with
// '==' and '!=' only.
//
// The lowered C reads `const struct rtd_event_header *h` and
// `const struct rtd_packet *p` (bpf-templates/rtd_event.h). Nothing of the
// user's text reaches it but validated numbers: addresses and strings are
// emitted as hex byte constants.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "compiler/diagnostics.h"
#include "compiler/source.h"

namespace rtd {

struct Filter {
    std::string text;    // as the user wrote it (for the manifest and messages)
    std::string c_expr;  // C over `h` and `p`; non-zero when the drop passes
    bool uses_packet = false;  // reads saddr, daddr, sport, dport, proto or dev
    bool uses_task = false;    // reads pid or comm (the event header)
    bool uses_netns = false;   // reads netns (the packet's namespace, else the task's)
};

// Parses a filter into the rule language's AST (parser.h), refuses the
// rule forms that mean nothing here (calls, casts, fields, '??'), folds
// constants as rules do (const_eval.h), then checks and lowers it. The text
// gets the display path "--where" in `sources`; errors go to `diags` (clang
// style) and give nothing.
std::optional<Filter> compile_filter(std::string_view text, SourceManager& sources, Diagnostics& diags);

}  // namespace rtd
