#include "runtime/attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "runtime/evidence_stage.h"
#include "runtime/faults.h"
#include "runtime/kernel_plan.h"
#include "runtime/signals.h"

namespace rtd {

namespace {

// Each failed attempt moves every refused probe to its next method (a probe
// has at most two) or stops dispatching: a few attempts settle it.
constexpr int kLoadAttempts = 8;

// The dispatchers an attempt uses: each tracepoint where two or more probes
// chose the same form, when the object has its dispatcher and the kernel has
// not refused it. Rules under a reject= or vanish= fault keep their own
// programs, so the fault hits them alone.
std::vector<DispatchSpec> active_dispatchers(const CompiledRuleSet& set, const std::vector<DispatchSpec>& as_built,
                                             const AttachedProbes& p, const std::set<std::string>& refused, struct bpf_object* obj)
{
    const Faults& faults = Faults::active();
    std::vector<DispatchSpec> out;
    for (DispatchSpec d : dispatchers(set)) {
        auto built = std::find_if(as_built.begin(), as_built.end(), [&](const DispatchSpec& b) { return b.name == d.name; });
        if (built == as_built.end() || refused.count(d.name) || !bpf_object__find_program_by_name(obj, d.name.c_str())) continue;
        d.index = built->index;  // the object's slot for its hits
        std::erase_if(d.members, [&](std::size_t i) {
            const std::string& id = set.rules[set.probes[i].rule].id;
            return p.method[i] == kNoMethod || set.probes[i].methods[p.method[i]].form != d.form || faults.reject.count(id) ||
                   faults.vanish.count(id);
        });
        if (d.members.size() >= 2) out.push_back(std::move(d));
    }
    return out;
}

bool dispatched(const AttachedProbes& p, std::size_t probe)
{
    return std::any_of(p.dispatch.begin(), p.dispatch.end(),
                       [&](const DispatchSpec& d) { return std::binary_search(d.members.begin(), d.members.end(), probe); });
}

std::vector<std::string> chosen_programs(const CompiledRuleSet& set, const AttachedProbes& p)
{
    std::vector<std::string> names;
    for (std::size_t i = 0; i < set.probes.size(); ++i)
        if (p.method[i] != kNoMethod)
            for (const ProgramSpec& s : set.probes[i].methods[p.method[i]].programs) names.push_back(s.name);
    return names;
}

// The verifier's own words for why it refused: its log's last line that
// is not a statistic.
std::string verifier_reason(const std::string& log_tail)
{
    std::istringstream lines(log_tail);
    std::string reason;
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line.rfind("processed ", 0) != 0 && line.rfind("verification time", 0) != 0 &&
            line.rfind("stack depth", 0) != 0 && line.find("END PROG LOAD LOG") == std::string::npos)
            reason = line;
    return reason;
}

// The .rodata settings, the ring's size, and RTRACE_DROP_FAULTS' reject=RULE
// (the verifier refuses that rule's programs) and stash=N (a small argument
// stash, to make it overflow). Values an object built by an older
// rtrace-drop lacks are refused only when asked for.
LoadSettings load_settings(const CompiledRuleSet& set, const LoadOptions& opt)
{
    LoadSettings settings;
    settings.core_btf = opt.core_btf;
    const Faults& faults = Faults::active();
    std::set<std::string> broken;
    for (const ProbePlan& pp : set.probes)
        if (faults.reject.count(set.rules[pp.rule].id))
            for (const AttachMethod& m : pp.methods)
                for (const ProgramSpec& s : m.programs) broken.insert(s.name);
    for (const DispatchSpec& d : dispatchers(set))
        if (faults.reject.count(d.name)) broken.insert(d.name);
    // --summary counted in the kernel sends each flow's first drop after all
    // when a message asks for evidence, which only user space can look up.
    const bool flow_samples = opt.summary_only && EvidenceStage::needed(set);
    settings.before_load = [broken, stash = faults.stash_entries, opt, flow_samples](struct bpf_object* obj) -> std::string {
        if (struct bpf_map* events = bpf_object__find_map_by_name(obj, "rtd_events")) bpf_map__set_max_entries(events, opt.ring_bytes);
        set_rodata_u32(obj, "rtd_wakeup_bytes", opt.ring_bytes / 4);
        if (opt.report_all && !set_rodata_u32(obj, "rtd_report_all", 1)) return "cannot set rtd_report_all in the compiled object";
        if (opt.summary_only) set_rodata_u32(obj, "rtd_summary_only", 1);  // else events are sent instead
        if (flow_samples) set_rodata_u32(obj, "rtd_flow_samples", 1);  // an older object has none: no evidence in its summary
        if (opt.rate_limit && !set_rodata_u32(obj, "rtd_rate_limit", opt.rate_limit))
            return "this object has no rate limiter (built by an older rtrace-drop?): rebuild it to use --rate-limit";
        if (opt.netns_inode && !set_rodata(obj, "rtd_netns_only", &opt.netns_inode, sizeof opt.netns_inode))
            return "this object has no namespace filter (built by an older rtrace-drop?): rebuild it to use --netns";
        if (!opt.record_stacks) set_rodata_u32(obj, "rtd_record_stacks", 0);
        if (opt.metrics_labels && !set_rodata_u32(obj, "rtd_metrics_labels", opt.metrics_labels))
            return "this object counts no drop metrics (built by an older rtrace-drop?): rebuild it to use --metrics";
        if (opt.events_off) set_rodata_u32(obj, "rtd_events_off", 1);  // an older object sends them; nothing reads them
        if (opt.ledger_netns && !set_rodata(obj, "rtd_ledger_netns", &opt.ledger_netns, sizeof opt.ledger_netns))
            return "this object keeps no ledger (built by an older rtrace-drop?): rebuild it to use --ledger";
        if (opt.snaplen && !set_rodata_u32(obj, "rtd_snaplen", opt.snaplen))
            return "this object copies no packet bytes (built by an older rtrace-drop?): rebuild it to use --pcap";
        // An LRU map is allocated whole at creation: without --track, one entry.
        struct bpf_map* track = bpf_object__find_map_by_name(obj, "rtd_track");
        struct bpf_map* heads = bpf_object__find_map_by_name(obj, "rtd_track_heads");
        if (heads) bpf_map__set_max_entries(heads, opt.track_entries ? opt.track_entries : 1);
        if (opt.track_entries) {
            if (!track) return "this object follows no packets (built by an older rtrace-drop?): rebuild it to use --track";
            bpf_map__set_max_entries(track, opt.track_entries);
            set_rodata_u32(obj, "rtd_track_on", 1);
            set_rodata_u32(obj, "rtd_track_hops", opt.track_hops);
        } else if (track) {
            bpf_map__set_max_entries(track, 1);
        }
        if (opt.gate_fd >= 0) {
            struct bpf_map* gate = bpf_object__find_map_by_name(obj, "rtd_gate");
            if (!gate || !set_rodata_u32(obj, "rtd_generation", opt.generation))
                return "this object cannot be swapped without a gap (built by an older rtrace-drop?): rebuild it to reload it";
            if (int err = bpf_map__reuse_fd(gate, opt.gate_fd)) return fmt::format("cannot share the reload gate: {}", std::strerror(-err));
        }
        if (struct bpf_map* drops = opt.metrics_series ? bpf_object__find_map_by_name(obj, "rtd_drops") : nullptr)
            bpf_map__set_max_entries(drops, opt.metrics_series);
        struct bpf_program* prog;
        bpf_object__for_each_program(prog, obj)
        {
            if (broken.count(bpf_program__name(prog))) break_program(prog);
        }
        if (struct bpf_map* m = stash ? bpf_object__find_map_by_name(obj, "rtd_stash") : nullptr) bpf_map__set_max_entries(m, stash);
        return {};
    };
    return settings;
}

// The probe moves to its next method, or out of them with `why`. True
// when it has another method to try.
bool next_method(const CompiledRuleSet& set, AttachedProbes& p, std::size_t i, std::string why)
{
    p.skip[i] = std::move(why);
    if (p.method[i] + 1 < set.probes[i].methods.size()) {
        ++p.method[i];
        return true;
    }
    p.method[i] = kNoMethod;
    return false;
}

// Opens and loads the object with the chosen programs. When the kernel
// refuses some, those probes move on and loading is retried; when each
// loads alone, the dispatchers are what is too much for this verifier.
Status load_object(const std::string& bytes, const CompiledRuleSet& set, const std::vector<DispatchSpec>& as_built, AttachedProbes& p,
                   const LoadSettings& settings, bool ledger_wanted, bool track_wanted, std::set<std::string>& refused_dispatchers,
                   StatusSink& status)
{
    for (int attempt = 0; attempt < kLoadAttempts; ++attempt) {
        std::vector<std::string> names = chosen_programs(set, p);
        std::string error;
        p.obj.reset(open_for_load(bytes, settings, error));
        if (!p.obj) return RunError::failure(error);
        p.dispatch = active_dispatchers(set, as_built, p, refused_dispatchers, p.obj.get());
        std::set<std::string> autoload;
        for (std::size_t i = 0; i < set.probes.size(); ++i)
            if (p.method[i] != kNoMethod && !dispatched(p, i))
                for (const ProgramSpec& s : set.probes[i].methods[p.method[i]].programs) autoload.insert(s.name);
        std::vector<std::uint8_t> on(set.probes.size(), 0);
        for (const DispatchSpec& d : p.dispatch) {
            autoload.insert(d.name);
            for (std::size_t m : d.members) on[m] = 1;
        }
        if (!p.dispatch.empty() && !set_rodata(p.obj.get(), "rtd_dispatch_on", on.data(), on.size()))
            return RunError::failure("cannot set rtd_dispatch_on in the compiled object");
        const bool ledger = ledger_wanted && p.ledger_reasons_off.empty();
        if (ledger) autoload.insert(kLedgerProgram);
        const bool track = track_wanted && p.track.off.empty();
        // Refused: the rules' drops carry no (empty) path either.
        if (track_wanted && !track) set_rodata_u32(p.obj.get(), "rtd_track_on", 0);
        if (track)
            for (const std::string& name : track_program_names()) autoload.insert(name);
        struct bpf_program* prog;
        bpf_object__for_each_program(prog, p.obj.get())
        {
            bpf_program__set_autoload(prog, autoload.count(bpf_program__name(prog)) > 0);
        }
        if (names.empty()) return kDone;  // only maps: nothing to attach, but counters stay readable
        int err = bpf_object__load(p.obj.get());
        if (err == 0) return kDone;
        if (ledger) {
            // The ledger's own program is what the kernel refused? Then
            // the rules run without the overall line.
            VerifyReport alone = verify_programs(bytes, {kLedgerProgram}, settings);
            if (const ProgramLoad* r = alone.find(kLedgerProgram); r && !r->loaded) {
                p.ledger_reasons_off = fmt::format("the kernel refused {}: {}", kLedgerProgram, describe_load_error(r->error));
                continue;
            }
        }

        if (track) {
            // A tracking program refused: the rules run, their drops
            // without paths.
            const std::vector<std::string> names = track_program_names();
            VerifyReport alone = verify_programs(bytes, names, settings);
            for (const std::string& name : names)
                if (const ProgramLoad* r = alone.find(name); r && !r->loaded && p.track.off.empty()) {
                    p.track.off = fmt::format("the kernel refused {}: {}", name, describe_load_error(r->error));
                    if (std::string reason = verifier_reason(r->log_tail); !reason.empty()) p.track.off += ": " + reason;
                }
            if (!p.track.off.empty()) continue;
        }

        // Which rule's program the kernel refuses, each loaded alone.
        VerifyReport report = verify_programs(bytes, names, settings);
        bool changed = false;
        for (std::size_t i = 0; i < set.probes.size(); ++i) {
            if (p.method[i] == kNoMethod) continue;
            for (const ProgramSpec& s : set.probes[i].methods[p.method[i]].programs) {
                const ProgramLoad* r = report.find(s.name);
                if (!r || r->loaded) continue;
                changed = true;
                std::string why = fmt::format("{} {}", attach_form_name(s.form), describe_load_error(r->error));
                if (std::string reason = verifier_reason(r->log_tail); !reason.empty()) why += ": " + reason;
                next_method(set, p, i, why);
                break;
            }
        }
        if (!changed && !p.dispatch.empty()) {
            for (const DispatchSpec& d : p.dispatch) {
                refused_dispatchers.insert(d.name);
                status.note(fmt::format("the kernel refused {} (the {} probes on {} in one program); they run as a program each", d.name,
                                        d.members.size(), d.target));
            }
            changed = true;
        }
        if (!changed) return RunError::failure(fmt::format("the kernel refused the programs: {}", std::strerror(-err)));
    }
    return RunError::failure("the kernel kept refusing programs");
}

// Attaches to a target that does not exist, through the call the form
// would use, so the kernel's own refusal comes back (the vanish= fault).
struct bpf_link* attach_to_vanished(struct bpf_program* prog, AttachForm form)
{
    constexpr const char* kGone = "rtd_fault_vanished";
    switch (form) {
    case AttachForm::Kprobe: return bpf_program__attach_kprobe(prog, false, kGone);
    case AttachForm::Kretprobe: return bpf_program__attach_kprobe(prog, true, kGone);
    default: return bpf_program__attach_raw_tracepoint(prog, kGone);
    }
}

// Every chosen program attached, or the probes whose attach failed moved
// on (then true: load again).
bool attach_all(const CompiledRuleSet& set, AttachedProbes& p)
{
    const Faults& faults = Faults::active();
    bool retry = false;
    auto failed = [&](std::size_t i, const ProgramSpec& s, int err) {
        retry = next_method(set, p, i, fmt::format("cannot attach {} to {}: {}", attach_form_name(s.form), s.target, describe_load_error(err))) ||
                retry;
    };
    for (const DispatchSpec& d : p.dispatch) {
        struct bpf_program* prog = bpf_object__find_program_by_name(p.obj.get(), d.name.c_str());
        struct bpf_link* link = prog ? bpf_program__attach(prog) : nullptr;
        int err = errno;
        if (link) p.links.emplace_back(link);
        else
            for (std::size_t i : d.members) failed(i, {d.name, d.form, d.target}, err);
    }
    for (std::size_t i = 0; i < set.probes.size(); ++i) {
        if (p.method[i] == kNoMethod || dispatched(p, i)) continue;
        std::vector<Link> mine;
        // vanish=RULE: the target is gone by now (a module unloaded between
        // planning and attaching).
        const bool vanished = faults.vanish.count(set.rules[set.probes[i].rule].id) > 0;
        for (const ProgramSpec& s : set.probes[i].methods[p.method[i]].programs) {
            struct bpf_program* prog = bpf_object__find_program_by_name(p.obj.get(), s.name.c_str());
            struct bpf_link* link = !prog ? nullptr : vanished ? attach_to_vanished(prog, s.form) : bpf_program__attach(prog);
            if (!link) {
                mine.clear();
                failed(i, s, errno);
                break;
            }
            mine.emplace_back(link);
        }
        for (Link& l : mine) p.links.push_back(std::move(l));
    }
    return retry;
}

// --ledger's program on skb:kfree_skb, beside the rules' (the overall line).
void attach_ledger(AttachedProbes& p)
{
    if (!p.ledger_reasons_off.empty()) return;
    struct bpf_program* prog = p.obj ? bpf_object__find_program_by_name(p.obj.get(), kLedgerProgram) : nullptr;
    if (!prog) {
        p.ledger_reasons_off = p.obj ? "this object has no ledger program (built by an older rtrace-drop?)" : "no probe rule is loaded";
        return;
    }
    struct bpf_link* link = bpf_program__attach(prog);
    if (!link) {
        // A tracepoint without the reason argument (before Linux 5.17) refuses it.
        p.ledger_reasons_off = fmt::format("cannot attach to skb:kfree_skb with its drop reason: {}", describe_load_error(errno));
        return;
    }
    p.links.emplace_back(link);
}

void print_status_table(const CompiledRuleSet& set, AttachedProbes& p, const LoadOptions& options, const KernelFeatures& features,
                        StatusSink& status)
{
    status.say(fmt::format("{}, {}", features.trampolines ? "BPF trampolines available" : "no BPF trampolines (" + features.trampoline_error + ")",
                           features.kprobes ? "kprobes available" : "no kprobes"));
    if (!set.filter.empty()) status.say("filter in the kernel: " + set.filter);
    if (options.netns_inode) status.say(fmt::format("only drops in network namespace {}", options.netns_inode));
    if (options.rate_limit) status.say(fmt::format("at most {} event(s) per rule per second", options.rate_limit));
    if (options.track_entries) status.say(track_status_line(p.track, options.track_entries, options.track_hops));
    for (std::size_t i = 0; i < set.probes.size(); ++i) {
        const ProbePlan& pp = set.probes[i];
        if (p.method[i] == kNoMethod && left_out(p.skip[i])) continue;  // as if never loaded
        const RuleEntry& rule = set.rules[pp.rule];
        std::string how = p.method[i] != kNoMethod ? attach_form_name(pp.methods[p.method[i]].form) : "skipped: " + p.skip[i];
        if (p.method[i] != kNoMethod && rule.filter_lacks_packet) how += " (no packet: the filter's packet fields read as 0)";
        (p.method[i] != kNoMethod ? p.attached : p.skipped)++;
        status.line(fmt::format("  {:<32} {:<40} {}", rule.id, pp.spelling, how));
    }
    // More than kDispatchMembers probes on a tracepoint take several
    // programs, next to each other in p.dispatch: one line for them all.
    for (std::size_t i = 0; i < p.dispatch.size();) {
        const DispatchSpec& first = p.dispatch[i];
        std::size_t probes = 0, programs = 0;
        for (; i < p.dispatch.size() && p.dispatch[i].target == first.target && p.dispatch[i].form == first.form; ++i, ++programs)
            probes += p.dispatch[i].members.size();
        const char* form = attach_form_name(first.form);
        status.say(programs == 1 ? fmt::format("the {} probes on {} run in one {} program", probes, first.target, form)
                                 : fmt::format("the {} probes on {} run in {} {} programs", probes, first.target, programs, form));
    }
}

}  // namespace

Expected<AttachedProbes> load_and_attach(const CompiledRuleSet& set, const std::string& object, const std::vector<DispatchSpec>& as_built,
                                         const LoadOptions& options, const KernelFeatures& features, StatusSink& status)
{
    // A prebuilt object is a file anyone could have written; a compiled one
    // is checked too, against a code generator bug.
    if (std::string bad = object.empty() ? "" : object_policy_violations(object); !bad.empty())
        return RunError::bad_input("refusing to load this object: it does more than trace\n" + bad);
    AttachedProbes p;
    p.method.assign(set.probes.size(), kNoMethod);
    p.skip.assign(set.probes.size(), {});
    for (std::size_t i = 0; i < set.probes.size(); ++i) {
        const ProbePlan& pp = set.probes[i];
        if (pp.available) p.method[i] = 0;
        else p.skip[i] = pp.skip_reason;
    }
    LibbpfQuiet quiet;  // libbpf's logs stay quiet: each refusal is one status line
    const LoadSettings settings = load_settings(set, options);
    std::set<std::string> refused_dispatchers;
    // A kernel can load a program and still refuse to attach it: each retry
    // moves some probe on, so this ends once every probe is attached or out
    // of methods.
    for (bool again = true; again;) {
        p.links.clear();
        p.obj.reset();
        p.dispatch.clear();
        if (stopped_before("load", status)) return RunError::already_reported(kExitFailure);
        if (!chosen_programs(set, p).empty())
            if (Status s = load_object(object, set, as_built, p, settings, options.ledger_netns != 0, options.track_entries != 0,
                                       refused_dispatchers, status))
                return *s;
        if (stopped_before("attach", status)) return RunError::already_reported(kExitFailure);
        again = p.obj && attach_all(set, p);
    }
    if (options.ledger_netns) attach_ledger(p);
    // Last: its frees on skb:kfree_skb must run after the rules there.
    if (options.track_entries && p.track.off.empty()) p.track = attach_tracking(p.links.empty() ? nullptr : p.obj.get(), p.links);
    print_status_table(set, p, options, features, status);
    return p;
}

int gate_fd(struct bpf_object* obj)
{
    struct bpf_map* gate = obj ? bpf_object__find_map_by_name(obj, "rtd_gate") : nullptr;
    return gate ? bpf_map__fd(gate) : -1;
}

bool open_gate(int fd, std::uint32_t generation)
{
    const std::uint32_t zero = 0;
    return fd >= 0 && bpf_map_update_elem(fd, &zero, &generation, BPF_ANY) == 0;
}

bool only_track_rules_attached(const CompiledRuleSet& set, const AttachedProbes& probes)
{
    bool any = false;
    for (std::size_t i = 0; i < set.probes.size() && i < probes.method.size(); ++i) {
        if (probes.method[i] == kNoMethod) continue;
        if (!set.rules[set.probes[i].rule].track) return false;
        any = true;
    }
    return any;
}

}  // namespace rtd
