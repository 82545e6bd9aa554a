// The compiler's whole output and the only thing the runtime reads: the
// generated BPF C, the rule table (messages, hints, where each rule was
// written), the event layout of each rule, and the attach plan with its
// fallbacks. Nothing from a rule's text reaches the C source: names there
// are BTF-validated or generated (c0, a1, rtd_3_0_kp).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "compiler/ast.h"
#include "compiler/source.h"
#include "compiler/typed.h"

namespace rtd {

enum class AttachForm : std::uint8_t { Fentry, Fexit, Kprobe, Kretprobe, TpBtf, RawTp };
const char* attach_form_name(AttachForm f);  // "fentry", "kretprobe", "tp_btf", ...

struct ProgramSpec {
    std::string name;    // ELF symbol, e.g. rtd_3_0_kr
    AttachForm form;
    std::string target;  // function symbol or tracepoint event
};

// One way to attach a probe: the programs that together implement it
// (a kretprobe without fexit needs an entry kprobe and a kretprobe).
struct AttachMethod {
    AttachForm form;  // the defining form (Fexit, Kretprobe, TpBtf, ...)
    std::vector<ProgramSpec> programs;
};

// A kernel enumerator a probe's code relies on (through CO-RE): a kernel
// without it cannot run the probe.
struct EnumeratorUse {
    std::string enum_name;  // "skb_drop_reason"
    std::string name;       // "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW"
    bool operator<(const EnumeratorUse& o) const { return std::tie(enum_name, name) < std::tie(o.enum_name, o.name); }
    bool operator==(const EnumeratorUse& o) const { return enum_name == o.enum_name && name == o.name; }
};

struct ProbePlan {
    std::size_t rule = 0;        // index into CompiledRuleSet::rules
    std::size_t probe = 0;       // index of the probe within the rule
    std::string spelling;        // "kretprobe:ipt_do_table"
    Probe target;                // the same, parsed (kind, function or tracepoint)
    std::string symbol;          // the kernel symbol or tracepoint it resolved to
    bool available = false;
    std::string skip_reason;
    std::vector<AttachMethod> methods;  // in order of preference
    std::vector<std::string> choices;   // '??' decisions (explain)
    // Enumerators of named enums the probe's code takes from the target
    // kernel through CO-RE, sorted: a kernel that lacks one cannot run it.
    std::vector<EnumeratorUse> enumerators;
};

struct EventField {
    std::string name;  // the capture's name in the rule
    ValueKind kind = ValueKind::Signed;
    std::uint32_t offset = 0;
    std::uint32_t size = 8;
    std::string enum_name;
    bool enum_signed = false;
};

struct EventSchema {
    std::string struct_name;  // rtd_ev_<rule>
    std::uint32_t size = 0;
    bool has_packet = false;
    std::uint32_t packet_offset = 0;
    bool has_stack = false;
    std::uint32_t stack_offset = 0;
    std::vector<EventField> fields;  // captures, in the rule's order
};

struct RuleEntry {
    std::string id;
    int layer = 0;
    bool is_monitor = false;
    ConditionKind condition = ConditionKind::None;
    std::string file;
    std::uint32_t line = 0;
    std::string source;  // monitors: "snmp:TcpExtListenOverflows"
    std::optional<TextTemplate> message;
    std::optional<TextTemplate> hint;
    std::vector<std::pair<std::string, std::string>> params;  // name -> value, for placeholders
    std::vector<std::string> instead_of;  // used only when none of these rules attaches
    // 'counted as': each drop increments one counter of every group
    // ({{"snmp:UdpRcvbufErrors", "snmp:Udp6RcvbufErrors"}, {"snmp:UdpInErrors", ...}}).
    std::vector<std::vector<std::string>> counted_as;
    bool fallback = false;
    bool track = false;    // a hop of run --track's paths, not a drop point: loaded only with --track
    bool skipped = false;  // no probe usable on this kernel
    EventSchema event;     // probe rules that are not skipped
    // The --where filter reads packet fields but the rule has no 'packet':
    // it sees zeros there (so e.g. 'dport == 443' refuses all its drops).
    bool filter_lacks_packet = false;
};

// A rule's table entry: what reporting needs from its declaration.
RuleEntry rule_entry(const RuleDecl& d, const SourceManager& sources);

struct CompiledRuleSet {
    std::string source;  // BPF C; includes "rtd.bpf.h"
    std::vector<RuleEntry> rules;
    std::vector<ProbePlan> probes;
    std::uint32_t ring_bytes = 1u << 22;
    std::string filter;  // the --where text compiled into the programs; empty for none

    // The manifest: everything above but the source, as JSON, so a prebuilt
    // object can be run without the rule files.
    std::string manifest_json() const;
    // Every program of every attach method of every probe, and every
    // dispatcher (what a verifier test or `check --load` loads).
    std::vector<std::string> program_names() const;
};

// Probes on one tracepoint share one program per attach form: it runs the
// body of each probe the runtime switches on (rtd_dispatch_on[probe index]
// in .rodata, constant to the verifier, which drops the others), so a hit
// costs one program run however many rules watch the tracepoint.
struct DispatchSpec {
    std::string name;  // ELF symbol: rtd_d_<target>_tb / _rt
    AttachForm form;   // TpBtf or RawTp
    std::string target;
    std::vector<std::size_t> members;  // indices into CompiledRuleSet::probes, ascending
    std::size_t index = 0;             // in dispatchers(set): its slot in rtd_dispatch_hits
};
// At most this many probes share one dispatcher; more on one tracepoint
// take several (rtd_d_<target>_tb, then _tb_1, _tb_2, ...). The verifier
// takes 256 subprograms in a program: each member's body is one, and the
// helpers the bodies share (rtd.bpf.h) a dozen more.
inline constexpr std::size_t kDispatchMembers = 128;
// The dispatchers the code generator emits for `set` (tracepoints with two
// or more available probes in a form); the runtime derives the same list.
std::vector<DispatchSpec> dispatchers(const CompiledRuleSet& set);

}  // namespace rtd
