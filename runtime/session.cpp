#include "runtime/session.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/types.h>
#include <sched.h>
#include <malloc.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <memory>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "bpf-templates/rtd_event.h"
#include "compiler/btf.h"
#include "compiler/codegen.h"
#include "compiler/filter.h"
#include "compiler/rule_text.h"
#include "compiler/frontend.h"
#include "compiler/typecheck.h"
#include "runtime/bpf_compiler.h"
#include "runtime/bpf_loader.h"
#include "runtime/decoder.h"
#include "runtime/embedded_headers.h"
#include "runtime/features.h"
#include "runtime/faults.h"
#include "runtime/monitor.h"
#include "runtime/prebuilt.h"
#include "runtime/reason_hints.h"
#include "runtime/report.h"
#include "runtime/symbols.h"

namespace rtd {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;
constexpr std::size_t kNone = static_cast<std::size_t>(-1);
constexpr const char* kKernelBtf = "/sys/kernel/btf/vmlinux";

volatile std::sig_atomic_t g_stop = 0;

// The first SIGINT, SIGTERM or SIGHUP asks for a clean stop (counters,
// then detach); a second one ends the process at once. Either way the
// kernel frees every program, link and map with our file descriptors.
void on_signal(int sig)
{
    if (g_stop) {
        std::signal(sig, SIG_DFL);
        std::raise(sig);
    }
    g_stop = 1;
}

// Installed for the whole run, from reading rules to detaching: a stop
// asked for while compiling, loading or attaching is honoured between
// those steps. SIGPIPE is ignored so a closed stdout (`| head`) is a write
// error we notice, not a silent death without the counters.
struct StopSignals {
    StopSignals()
    {
        g_stop = 0;
        struct sigaction sa {};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
        std::signal(SIGPIPE, SIG_IGN);
    }
    ~StopSignals()
    {
        for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) std::signal(sig, SIG_DFL);
    }
};

// True when a stop was asked for before `phase` (after any stall a test
// injected there); says so, since nothing has run yet.
bool stopped_before(const char* phase)
{
    if (!Faults::active().stall(phase, g_stop)) return false;
    std::cerr << "rtrace-drop: stopped by a signal before " << phase << "; nothing was left attached\n";
    return true;
}

using Clock = std::chrono::steady_clock;

struct ObjectCloser {
    void operator()(struct bpf_object* o) const { bpf_object__close(o); }
};
using Object = std::unique_ptr<struct bpf_object, ObjectCloser>;

struct LinkDestroyer {
    void operator()(struct bpf_link* l) const { bpf_link__destroy(l); }
};
using Link = std::unique_ptr<struct bpf_link, LinkDestroyer>;

struct RingBufferFree {
    void operator()(struct ring_buffer* r) const { ring_buffer__free(r); }
};

void error(const std::string& msg) { std::cerr << "rtrace-drop: error: " << msg << '\n'; }

// Each probe is a BPF program run on every hit of its hook: thousands on
// one tracepoint would cost the kernel more than any drop is worth, and
// compile for minutes. A selection this large is a mistake (-i/-e).
constexpr std::size_t kMaxProbes = 1024;

bool too_many_probes(std::size_t probes)
{
    if (probes <= kMaxProbes) return false;
    error(fmt::format("{} probes selected; at most {} run at once (each is a BPF program on its hook)", probes, kMaxProbes));
    std::cerr << "hint: select fewer rules with -i/--include and -e/--exclude\n";
    return true;
}

std::size_t probe_count(const std::vector<TypedRule>& typed)
{
    std::size_t n = 0;
    for (const TypedRule& r : typed) n += r.probes.size();
    return n;
}

std::int64_t realtime_offset_ns()
{
    timespec rt{}, mono{};
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    return (static_cast<std::int64_t>(rt.tv_sec) - mono.tv_sec) * 1000000000 + (rt.tv_nsec - mono.tv_nsec);
}

// Probes the kernel cannot take: a function probe without kprobes or
// trampolines, a function ftrace cannot trace, a tracepoint tracefs lacks.
void apply_features(std::vector<TypedRule>& typed, const KernelFeatures& f)
{
    for (TypedRule& r : typed) {
        for (TypedProbe& p : r.probes) {
            if (!p.available) continue;
            const Probe& probe = *p.probe;
            if (probe.kind == ProbeKind::Tracepoint) {
                if (!tracepoint_exists(f, probe.category, probe.event)) {
                    p.available = false;
                    p.skip_reason = fmt::format("tracepoint {}:{} not in tracefs", probe.category, probe.event);
                }
                continue;
            }
            if (std::string why = f.function_probe_block(); !why.empty()) {
                p.available = false;
                p.skip_reason = why;
            } else if (f.traceable && !f.traceable->count(p.signature.symbol)) {
                p.available = false;
                p.skip_reason = fmt::format("function {} is not traceable (not in available_filter_functions)", p.signature.symbol);
            }
        }
        r.skipped = std::none_of(r.probes.begin(), r.probes.end(), [](const TypedProbe& p) { return p.available; });
    }
}

// A rule declared 'instead of' others stands down when one of them can be
// used here: one drop, one report. --all keeps both.
void apply_instead_of(std::vector<TypedRule>& typed)
{
    auto usable = [&](const std::string& id) {
        for (const TypedRule& r : typed)
            if (r.decl->id == id) return !r.skipped;
        return false;
    };
    for (TypedRule& r : typed) {
        for (const auto& [target, range] : r.decl->instead_of) {
            if (!usable(target)) continue;
            for (TypedProbe& p : r.probes)
                if (p.available) {
                    p.available = false;
                    p.skip_reason = fmt::format("not needed: {} is used instead", target);
                }
            r.skipped = true;
            break;
        }
    }
}

struct Plan {
    std::vector<std::size_t> method;  // chosen method per probe plan, or kNone
    std::vector<std::string> skip;    // why a probe is not used
    std::vector<DispatchSpec> dispatch;  // in use: members attach through these, not their own programs
    std::set<std::string> undispatched;  // dispatchers the kernel refused: their probes use their own programs
};

// The dispatchers (compiled.h) an attempt uses: each tracepoint where two or
// more probes chose the same form, when the object has its dispatcher and the
// kernel has not refused it. Rules under a reject= or vanish= fault keep their
// own programs, so the fault hits them alone.
std::vector<DispatchSpec> active_dispatchers(const CompiledRuleSet& set, const Plan& plan, struct bpf_object* obj)
{
    const Faults& faults = Faults::active();
    std::vector<DispatchSpec> out;
    for (DispatchSpec d : dispatchers(set)) {
        if (plan.undispatched.count(d.name) || !bpf_object__find_program_by_name(obj, d.name.c_str())) continue;
        std::erase_if(d.members, [&](std::size_t i) {
            const std::string& id = set.rules[set.probes[i].rule].id;
            return plan.method[i] == kNone || set.probes[i].methods[plan.method[i]].form != d.form || faults.reject.count(id) ||
                   faults.vanish.count(id);
        });
        if (d.members.size() >= 2) out.push_back(std::move(d));
    }
    return out;
}

bool dispatched(const Plan& plan, std::size_t probe)
{
    for (const DispatchSpec& d : plan.dispatch)
        if (std::binary_search(d.members.begin(), d.members.end(), probe)) return true;
    return false;
}

std::vector<std::string> chosen_programs(const CompiledRuleSet& set, const Plan& plan)
{
    std::vector<std::string> names;
    for (std::size_t i = 0; i < set.probes.size(); ++i)
        if (plan.method[i] != kNone)
            for (const ProgramSpec& s : set.probes[i].methods[plan.method[i]].programs) names.push_back(s.name);
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

// What every opening of the object sets before load: the ring's size and
// when programs wake the reader, --all and --rate-limit in .rodata, and
// RTRACE_DROP_FAULTS' reject=RULE (the verifier refuses that rule's
// programs) and stash=N (a small argument stash, to make it overflow).
// --summary counts flows in the kernel, but --count needs events to count.
bool summary_in_kernel(const RunOptions& opt) { return opt.summary && !opt.count; }

LoadSettings load_settings(const CompiledRuleSet& set, const RunOptions& opt)
{
    LoadSettings settings;
    settings.core_btf = opt.btf;
    const Faults& faults = Faults::active();
    std::set<std::string> broken;
    for (const ProbePlan& pp : set.probes)
        if (faults.reject.count(set.rules[pp.rule].id))
            for (const AttachMethod& m : pp.methods)
                for (const ProgramSpec& s : m.programs) broken.insert(s.name);
    for (const DispatchSpec& d : dispatchers(set))
        if (faults.reject.count(d.name)) broken.insert(d.name);
    settings.before_load = [broken, stash = faults.stash_entries, &opt](struct bpf_object* obj) -> std::string {
        if (struct bpf_map* events = bpf_object__find_map_by_name(obj, "rtd_events")) bpf_map__set_max_entries(events, opt.ring_bytes);
        set_rodata_u32(obj, "rtd_wakeup_bytes", opt.ring_bytes / 4);  // absent from objects built before it existed
        if (opt.all && !set_rodata_u32(obj, "rtd_report_all", 1)) return "cannot set rtd_report_all in the compiled object";
        // An object built before rtd_summary_only existed sends events instead.
        if (summary_in_kernel(opt)) set_rodata_u32(obj, "rtd_summary_only", 1);
        if (opt.rate_limit && !set_rodata_u32(obj, "rtd_rate_limit", opt.rate_limit))
            return "this object has no rate limiter (built by an older rtrace-drop?): rebuild it to use --rate-limit";
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

// Opens and loads the object with the chosen programs. When the kernel
// refuses some, those probes fall back to their next method (tp_btf ->
// raw_tp, ...) or are skipped with the reason, and loading is retried.
Object load_object(const std::string& bytes, const CompiledRuleSet& set, Plan& plan, const RunOptions& opt, std::string& fatal)
{
    const LoadSettings settings = load_settings(set, opt);
    // Each failed attempt moves every refused probe to its next method (a
    // probe has at most two) or stops dispatching: a few attempts settle it.
    for (int attempt = 0; attempt < 8; ++attempt) {
        std::vector<std::string> names = chosen_programs(set, plan);
        Object obj(open_for_load(bytes, settings, fatal));
        if (!obj) return nullptr;
        plan.dispatch = active_dispatchers(set, plan, obj.get());
        std::set<std::string> autoload;
        for (std::size_t i = 0; i < set.probes.size(); ++i)
            if (plan.method[i] != kNone && !dispatched(plan, i))
                for (const ProgramSpec& s : set.probes[i].methods[plan.method[i]].programs) autoload.insert(s.name);
        std::vector<std::uint8_t> on(set.probes.size(), 0);
        for (const DispatchSpec& d : plan.dispatch) {
            autoload.insert(d.name);
            for (std::size_t m : d.members) on[m] = 1;
        }
        if (!plan.dispatch.empty() && !set_rodata(obj.get(), "rtd_dispatch_on", on.data(), on.size())) {
            fatal = "cannot set rtd_dispatch_on in the compiled object";
            return nullptr;
        }
        struct bpf_program* prog;
        bpf_object__for_each_program(prog, obj.get())
        {
            bpf_program__set_autoload(prog, autoload.count(bpf_program__name(prog)) > 0);
        }
        if (names.empty()) return obj;  // only maps: nothing to attach, but counters stay readable
        int err = bpf_object__load(obj.get());
        if (err == 0) return obj;

        // Which rule's program the kernel refuses, each loaded alone.
        VerifyReport report = verify_programs(bytes, names, settings);
        bool changed = false;
        for (std::size_t i = 0; i < set.probes.size(); ++i) {
            if (plan.method[i] == kNone) continue;
            for (const ProgramSpec& s : set.probes[i].methods[plan.method[i]].programs) {
                const ProgramLoad* r = report.find(s.name);
                if (!r || r->loaded) continue;
                changed = true;
                std::string why = fmt::format("{} {}", attach_form_name(s.form), describe_load_error(r->error));
                if (std::string reason = verifier_reason(r->log_tail); !reason.empty()) why += ": " + reason;
                if (plan.method[i] + 1 < set.probes[i].methods.size()) {
                    ++plan.method[i];
                } else {
                    plan.method[i] = kNone;
                    plan.skip[i] = why;
                }
                break;
            }
        }
        // Every rule loads alone: a dispatcher itself is too much for this
        // kernel's verifier. Its probes go back to a program each.
        if (!changed && !plan.dispatch.empty()) {
            for (const DispatchSpec& d : plan.dispatch) {
                plan.undispatched.insert(d.name);
                std::cerr << fmt::format("rtrace-drop: note: the kernel refused {} (the {} probes on {} in one program); "
                                         "they run as a program each\n",
                                         d.name, d.members.size(), d.target);
            }
            changed = true;
        }
        if (!changed) {
            fatal = fmt::format("the kernel refused the programs: {}", std::strerror(-err));
            return nullptr;
        }
    }
    fatal = "the kernel kept refusing programs";
    return nullptr;
}

// rtd_flows' totals (run --summary), by the key's bytes.
std::map<std::string, std::uint64_t> read_kernel_flows(struct bpf_object* obj)
{
    std::map<std::string, std::uint64_t> totals;
    struct bpf_map* map = bpf_object__find_map_by_name(obj, "rtd_flows");
    if (!map || bpf_map__key_size(map) != sizeof(rtd_flow_key) || bpf_map__value_size(map) != 8) return totals;
    rtd_flow_key key{}, next{};
    const void* at = nullptr;  // NULL: the first key
    while (bpf_map__get_next_key(map, at, &next, sizeof next) == 0) {
        key = next;
        at = &key;
        std::uint64_t n = 0;
        if (bpf_map__lookup_elem(map, &key, sizeof key, &n, sizeof n, 0) == 0)
            totals[std::string(reinterpret_cast<const char*>(&key), sizeof key)] = n;
    }
    return totals;
}

// The rules' counters summed over CPUs. A dispatcher counts its tracepoint's
// hits once (rtd_dispatch_hits): each rule it runs was hit that often.
std::vector<rtd_counter> read_counters(struct bpf_object* obj, const CompiledRuleSet& set, const std::vector<DispatchSpec>& dispatch)
{
    const std::size_t rules = set.rules.size();
    std::vector<rtd_counter> totals(rules);
    struct bpf_map* map = bpf_object__find_map_by_name(obj, "rtd_counts");
    int cpus = libbpf_num_possible_cpus();
    if (!map || cpus <= 0) return totals;
    // An object built by an older rtrace-drop has a shorter counter: the
    // fields it lacks read as 0.
    const std::size_t size = std::min<std::size_t>(bpf_map__value_size(map), sizeof(rtd_counter));
    const std::size_t stride = (bpf_map__value_size(map) + 7) / 8 * 8;  // per-CPU values are 8-byte aligned
    std::vector<char> raw(stride * static_cast<std::size_t>(cpus));
    for (std::uint32_t key = 0; key < rules; ++key) {
        if (bpf_map__lookup_elem(map, &key, sizeof key, raw.data(), raw.size(), 0) != 0) continue;
        for (int cpu = 0; cpu < cpus; ++cpu) {
            rtd_counter c{};
            std::memcpy(&c, raw.data() + stride * static_cast<std::size_t>(cpu), size);
            totals[key].hits += c.hits;
            totals[key].drops += c.drops;
            totals[key].emitted += c.emitted;
            totals[key].lost += c.lost;
            totals[key].noise += c.noise;
            totals[key].filtered += c.filtered;
            totals[key].suppressed += c.suppressed;
            totals[key].unstashed += c.unstashed;
        }
    }
    struct bpf_map* hits_map = bpf_object__find_map_by_name(obj, "rtd_dispatch_hits");
    if (!hits_map || bpf_map__value_size(hits_map) != 8) return totals;
    std::vector<std::uint64_t> hits(static_cast<std::size_t>(cpus));
    for (const DispatchSpec& d : dispatch) {
        auto key = static_cast<std::uint32_t>(d.index);
        if (bpf_map__lookup_elem(hits_map, &key, sizeof key, hits.data(), hits.size() * 8, 0) != 0) continue;
        std::uint64_t sum = 0;
        for (std::uint64_t v : hits) sum += v;
        for (std::size_t m : d.members)
            if (set.probes[m].rule < rules) totals[set.probes[m].rule].hits += sum;
    }
    return totals;
}

// Where events and findings go, and when to stop.
struct Output {
    std::vector<EventSink*> sinks;
    std::uint64_t reported = 0;
    std::uint64_t limit = 0;  // --count
    std::uint64_t undecodable = 0;
    const EventDecoder* decoder = nullptr;

    bool full() const { return limit && reported >= limit; }
    void monitor(const std::vector<MonitorFinding>& findings)
    {
        for (const MonitorFinding& f : findings) {
            if (full()) return;
            for (EventSink* s : sinks) s->monitor(f);
            if (++reported == limit) g_stop = 1;
        }
    }
};

int on_event(void* ctx, void* data, std::size_t size)
{
    auto* out = static_cast<Output*>(ctx);
    if (out->full()) return 0;
    std::optional<DecodedEvent> e = out->decoder->decode(data, size);
    if (!e) {
        ++out->undecodable;
        return 0;
    }
    for (EventSink* s : out->sinks) s->event(*e);
    if (++out->reported == out->limit) g_stop = 1;
    return 0;
}

void print_counters(std::FILE* out, const CompiledRuleSet& set, const std::vector<rtd_counter>& counts, double seconds,
                    std::uint64_t undecodable)
{
    // FILTERED and LIMITED only when a filter or rate limit could move them.
    bool filtered = std::any_of(counts.begin(), counts.end(), [](const rtd_counter& c) { return c.filtered; }) || !set.filter.empty();
    bool limited = std::any_of(counts.begin(), counts.end(), [](const rtd_counter& c) { return c.suppressed; });
    bool unstashed_any = std::any_of(counts.begin(), counts.end(), [](const rtd_counter& c) { return c.unstashed; });
    std::string head = fmt::format("{:<32} {:>12} {:>12} {:>12} {:>12} {:>12}", "RULE", "HITS", "DROPS", "EVENTS", "LOST", "NOISE");
    if (filtered) head += fmt::format(" {:>12}", "FILTERED");
    if (limited) head += fmt::format(" {:>12}", "LIMITED");
    if (unstashed_any) head += fmt::format(" {:>12}", "UNSTASHED");
    std::fprintf(out, "rtrace-drop: counted over %.1f s\n%s\n", seconds, head.c_str());
    std::uint64_t lost = 0, suppressed = 0, unstashed = 0;
    for (std::size_t i = 0; i < set.rules.size(); ++i) {
        const RuleEntry& r = set.rules[i];
        if (r.is_monitor || r.skipped) continue;
        const rtd_counter& c = counts[i];
        lost += c.lost;
        suppressed += c.suppressed;
        unstashed += c.unstashed;
        std::string line = fmt::format("{:<32} {:>12} {:>12} {:>12} {:>12} {:>12}", r.id, c.hits, c.drops, c.emitted, c.lost, c.noise);
        if (filtered) line += fmt::format(" {:>12}", c.filtered);
        if (limited) line += fmt::format(" {:>12}", c.suppressed);
        if (unstashed_any) line += fmt::format(" {:>12}", c.unstashed);
        std::fprintf(out, "%s\n", line.c_str());
    }
    if (lost)
        std::fprintf(out, "rtrace-drop: %llu events were lost (ring buffer full); the counts above are exact\n",
                     static_cast<unsigned long long>(lost));
    if (suppressed)
        std::fprintf(out, "rtrace-drop: %llu events were suppressed by --rate-limit; the counts above are exact\n",
                     static_cast<unsigned long long>(suppressed));
    if (unstashed)
        std::fprintf(out,
                     "rtrace-drop: %llu kretprobe returns found no entry arguments (more calls in flight than the "
                     "stash holds, or an entry the kernel did not deliver) and were not evaluated\n",
                     static_cast<unsigned long long>(unstashed));
    if (undecodable) std::fprintf(out, "rtrace-drop: %llu events could not be decoded\n", static_cast<unsigned long long>(undecodable));
    std::fflush(out);
}

// Moves this thread (the only one that reads /proc/net, /proc/sys and
// netlink) into the network namespace NAME (as `ip netns` names it) or at
// PATH (/proc/PID/ns/net). Probes are not affected: they see every namespace.
int enter_netns(const std::string& spec)
{
    std::string path = spec.find('/') == std::string::npos ? "/run/netns/" + spec : spec;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        error(fmt::format("--netns {}: cannot open {}: {}", spec, path, std::strerror(err)));
        if (err == EACCES || err == EPERM) {
            std::cerr << "hint: entering a namespace needs root (CAP_SYS_ADMIN)\n";
            return kExitFailure;
        }
        std::cerr << "hint: give a name that 'ip netns list' shows, or a path such as /proc/PID/ns/net\n";
        return kExitBadInput;
    }
    int rc = setns(fd, CLONE_NEWNET);
    int err = errno;
    close(fd);
    if (rc != 0) {
        error(fmt::format("--netns {}: cannot enter the namespace: {}", spec, std::strerror(err)));
        if (err == EINVAL) std::cerr << "hint: " << path << " is not a network namespace\n";
        if (err == EPERM) std::cerr << "hint: entering a namespace needs CAP_SYS_ADMIN (run as root)\n";
        return err == EINVAL ? kExitBadInput : kExitFailure;
    }
    return kExitOk;
}

void print_monitor_status(const CompiledRuleSet& set, const Monitors& monitors, const std::string& how)
{
    std::map<std::size_t, std::string> skipped(monitors.skipped().begin(), monitors.skipped().end());
    for (std::size_t i = 0; i < set.rules.size(); ++i) {
        const RuleEntry& r = set.rules[i];
        if (!r.is_monitor) continue;
        auto it = skipped.find(i);
        std::cerr << fmt::format("  {:<32} {:<40} {}\n", r.id, r.source, it == skipped.end() ? how : "skipped: " + it->second);
    }
}

// The sinks the options ask for, over one report context.
struct Sinks {
    TextOutput text;
    JsonOutput json;
    FlowSummary flows;
    Sinks(const ReportContext& ctx, const RunOptions& opt, bool hints)
        : text(stdout, ctx, opt.color, hints), json(stdout, ctx), flows(ctx)
    {
    }
    EventSink* chosen(const RunOptions& opt) { return opt.summary ? static_cast<EventSink*>(&flows) : opt.json ? static_cast<EventSink*>(&json) : &text; }
};

std::vector<RuleEntry> entries_of(const std::vector<const RuleDecl*>& rules, const SourceManager& sources)
{
    std::vector<RuleEntry> out;
    for (const RuleDecl* r : rules) out.push_back(rule_entry(*r, sources));
    return out;
}

// --once: read every monitor's source now and report what has happened
// since boot. No BPF, no BTF: probe rules are not run.
int run_once(const std::vector<const RuleDecl*>& rules, const SourceManager& sources, const RunOptions& opt)
{
    CompiledRuleSet set;
    set.rules = entries_of(rules, sources);
    std::size_t probe_rules = std::count_if(rules.begin(), rules.end(), [](const RuleDecl* r) { return !r->is_monitor; });
    Monitors monitors(rules);
    if (!monitors.has_monitors()) {
        error("--once reads monitors, and the rules given have none");
        std::cerr << "hint: try 'rtrace-drop run --once rules/snmp' or drop --once to run probe rules\n";
        return kExitBadInput;
    }
    std::vector<MonitorFinding> findings = monitors.start(true);
    print_monitor_status(set, monitors, "read once");
    if (probe_rules) std::cerr << fmt::format("rtrace-drop: --once reads monitors only; {} probe rule(s) not run\n", probe_rules);
    if (opt.strict && !monitors.skipped().empty()) {
        error(fmt::format("{} monitor(s) skipped and --strict is set", monitors.skipped().size()));
        return kExitBadInput;
    }
    ReportContext ctx{set};
    Sinks sinks(ctx, opt, true);  // a snapshot is read by a person: explain each finding
    Output out;
    out.sinks.push_back(sinks.chosen(opt));
    out.limit = opt.count;
    out.monitor(findings);
    if (opt.summary) sinks.flows.print(stdout, opt.top);
    std::fflush(stdout);
    std::cerr << fmt::format("rtrace-drop: {} finding(s) from {} monitor(s) since boot{}\n", findings.size(), monitors.active(),
                             monitors.skipped().empty() ? "" : fmt::format(", {} skipped", monitors.skipped().size()));
    return kExitOk;
}

// The probe rules' side of a run: BPF object, links, ring buffer.
struct Probes {
    CompiledRuleSet set;
    std::string object;  // BPF ELF bytes
    Plan plan;
    Object obj;
    std::vector<Link> links;
    std::unique_ptr<struct ring_buffer, RingBufferFree> ring;
    std::size_t attached = 0, skipped = 0;
    bool kernel_flows = false;                      // --summary counted in rtd_flows
    std::map<std::string, std::uint64_t> flows_seen;  // their totals at the last summary
};

// What the kernel counted by flow since the last call, into the summary.
void pull_kernel_flows(Probes& p, FlowSummary& flows)
{
    if (!p.kernel_flows || !p.obj) return;
    for (auto& [bytes, total] : read_kernel_flows(p.obj.get())) {
        std::uint64_t& seen = p.flows_seen[bytes];
        if (total <= seen) continue;
        rtd_flow_key k;
        std::memcpy(&k, bytes.data(), sizeof k);
        if (k.rule < p.set.rules.size()) {
            if (k.family == RTD_FLOW_OVERFLOW) flows.add_other_flows(k.rule, total - seen);
            else flows.add(k.rule, flow_packet(k), total - seen);
        }
        seen = total;
    }
}

void init_plan(Probes& p)
{
    Plan& plan = p.plan;
    plan.method.assign(p.set.probes.size(), kNone);
    plan.skip.assign(p.set.probes.size(), {});
    for (std::size_t i = 0; i < p.set.probes.size(); ++i) {
        const ProbePlan& pp = p.set.probes[i];
        if (!pp.available) plan.skip[i] = pp.skip_reason;
        else if (pp.methods.empty()) plan.skip[i] = "no attach method for it on this kernel";
        else plan.method[i] = 0;
    }
}

// The --where filter, compiled for the code generator. Errors are rendered
// with the filter's text quoted.
std::optional<int> compile_where(const std::string& where, std::optional<Filter>& filter, bool color)
{
    if (where.empty()) return std::nullopt;
    SourceManager sources;
    Diagnostics diags;
    filter = compile_filter(where, sources, diags);
    diags.render(std::cerr, sources, color);
    if (!filter) return kExitBadInput;
    return std::nullopt;
}

// Generated C -> BPF object (cached), its event layouts checked against the
// rule table. An exit status when it cannot be built.
std::optional<int> compile_object(const CompiledRuleSet& set, const Btf& btf, const std::string& cache_dir, std::string& object)
{
    BpfCompiler compiler(btf.raw(), embedded_templates(), cache_dir);
    CompileResult built = compiler.compile(set.source);
    if (!built.ok && g_stop) {  // Ctrl-C reached the compiler process too
        std::cerr << "rtrace-drop: stopped by a signal while compiling; nothing was loaded\n";
        return kExitFailure;
    }
    if (!built.ok) {
        error(built.unavailable ? built.diagnostics : "internal error: clang rejected the generated code\n" + built.diagnostics);
        return kExitFailure;
    }
    if (auto problems = check_event_layout(built.object, set); !problems.empty()) {
        error("internal error: " + problems.front());
        return kExitFailure;
    }
    object = std::move(built.object);
    return std::nullopt;
}

// Rules -> generated C (only the forms this kernel offers) -> object.
std::optional<int> compile_probes(const std::vector<const RuleDecl*>& rules, const SourceManager& sources, std::vector<TypedRule>& typed,
                                  const Btf& btf, const KernelFeatures& features, const RunOptions& opt, Probes& p)
{
    apply_features(typed, features);
    if (!opt.all) apply_instead_of(typed);
    EmitOptions emit;
    emit.forms = features.forms();
    if (auto rc = compile_where(opt.where, emit.filter, opt.color_diagnostics)) return rc;
    p.set = emit_c(rules, typed, btf, sources, emit);
    p.set.ring_bytes = opt.ring_bytes;
    init_plan(p);
    if (chosen_programs(p.set, p.plan).empty()) return std::nullopt;
    return compile_object(p.set, btf, opt.cache_dir, p.object);
}

// A prebuilt object's plan on this kernel: only the attach forms it
// offers, probes whose function or tracepoint exists here, rules whose
// enumerators exist here, and 'instead of' as at build time.
void plan_prebuilt(Probes& p, const Btf& btf, const KernelFeatures& features, const RunOptions& opt)
{
    const std::set<AttachForm> forms = features.forms();
    for (ProbePlan& pp : p.set.probes) {
        if (!pp.available) continue;
        const RuleEntry& rule = p.set.rules[pp.rule];
        for (const EnumeratorUse& use : rule.enumerators)
            if (auto e = btf.enumerator(use.name); !e || btf.enum_name(e->type) != use.enum_name) {
                pp.available = false;
                pp.skip_reason = fmt::format("this kernel has no {} in enum {}", use.name, use.enum_name);
            }
        if (!pp.available) continue;
        bool tracepoint = pp.spelling.rfind("tracepoint:", 0) == 0;
        if (tracepoint) {
            std::string rest = pp.spelling.substr(11);
            std::size_t colon = rest.find(':');
            if (colon != std::string::npos && !tracepoint_exists(features, rest.substr(0, colon), rest.substr(colon + 1))) {
                pp.available = false;
                pp.skip_reason = fmt::format("tracepoint {} not in tracefs", rest);
            }
        } else if (std::string why = features.function_probe_block(); !why.empty()) {
            pp.available = false;
            pp.skip_reason = why;
        } else if (features.traceable && !features.traceable->count(pp.symbol)) {
            pp.available = false;
            pp.skip_reason = fmt::format("function {} is not traceable here (not in available_filter_functions)", pp.symbol);
        }
        std::erase_if(pp.methods, [&](const AttachMethod& m) { return !forms.count(m.form); });
    }
    auto usable = [&](std::size_t rule) {
        return std::any_of(p.set.probes.begin(), p.set.probes.end(), [&](const ProbePlan& pp) { return pp.rule == rule && pp.available && !pp.methods.empty(); });
    };
    // -i/-e first: a rule stands down only for a target that will run.
    for (std::size_t r = 0; r < p.set.rules.size(); ++r)
        if (!p.set.rules[r].is_monitor && !rule_selected(p.set.rules[r].id, opt.include, opt.exclude))
            for (ProbePlan& pp : p.set.probes)
                if (pp.rule == r && pp.available) {
                    pp.available = false;
                    pp.skip_reason = "not selected (-i/-e)";
                }
    for (std::size_t r = 0; r < p.set.rules.size(); ++r) {
        RuleEntry& rule = p.set.rules[r];
        if (!opt.all)
            for (const std::string& target : rule.instead_of) {
                auto t = std::find_if(p.set.rules.begin(), p.set.rules.end(), [&](const RuleEntry& e) { return e.id == target; });
                if (t == p.set.rules.end() || !usable(static_cast<std::size_t>(t - p.set.rules.begin()))) continue;
                for (ProbePlan& pp : p.set.probes)
                    if (pp.rule == r && pp.available) {
                        pp.available = false;
                        pp.skip_reason = fmt::format("not needed: {} is used instead", target);
                    }
                break;
            }
        if (!rule.is_monitor) rule.skipped = !usable(r);
    }
    p.set.ring_bytes = opt.ring_bytes;
    init_plan(p);
}

// Attaches to a target that does not exist, through the call the form
// would use, so the kernel's own refusal comes back.
struct bpf_link* attach_to_vanished(struct bpf_program* prog, AttachForm form)
{
    constexpr const char* kGone = "rtd_fault_vanished";
    switch (form) {
    case AttachForm::Kprobe: return bpf_program__attach_kprobe(prog, false, kGone);
    case AttachForm::Kretprobe: return bpf_program__attach_kprobe(prog, true, kGone);
    default: return bpf_program__attach_raw_tracepoint(prog, kGone);
    }
}

// Loaded -> attached, then the status table. Returns an exit status when
// the run cannot go on.
std::optional<int> load_and_attach(const KernelFeatures& features, const RunOptions& opt, Probes& p)
{
    Plan& plan = p.plan;
    // A kernel can load a program and still refuse to attach it (fentry on
    // a function with more arguments than its trampolines take: ENOTSUPP).
    // Such a probe moves to its next method and the object is loaded again;
    // each retry moves some probe on, so this ends once every probe is
    // attached or out of methods.
    LibbpfQuiet quiet;  // libbpf's logs stay quiet: each refusal is one status line below
    const Faults& faults = Faults::active();
    // A prebuilt object is a file anyone could have written; a compiled one
    // is checked too, against a code generator bug.
    if (std::string bad = p.object.empty() ? "" : object_policy_violations(p.object); !bad.empty()) {
        error("refusing to load this object: it does more than trace\n" + bad);
        return kExitBadInput;
    }
    for (;;) {
        p.links.clear();
        p.obj.reset();
        plan.dispatch.clear();
        if (stopped_before("load")) return kExitFailure;
        if (!chosen_programs(p.set, plan).empty()) {
            std::string fatal;
            p.obj = load_object(p.object, p.set, plan, opt, fatal);
            if (!p.obj) {
                error(fatal);
                return kExitFailure;
            }
        }
        if (stopped_before("attach")) return kExitFailure;
        bool retry = false;
        // The probe moves on to its next method (the object is loaded again), or out of them.
        auto attach_failed = [&](std::size_t i, const ProgramSpec& s, int err) {
            plan.skip[i] = fmt::format("cannot attach {} to {}: {}", attach_form_name(s.form), s.target, describe_load_error(err));
            if (plan.method[i] + 1 < p.set.probes[i].methods.size()) {
                ++plan.method[i];
                retry = true;
            } else {
                plan.method[i] = kNone;
            }
        };
        for (const DispatchSpec& d : plan.dispatch) {
            struct bpf_program* prog = bpf_object__find_program_by_name(p.obj.get(), d.name.c_str());
            struct bpf_link* link = prog ? bpf_program__attach(prog) : nullptr;
            int err = errno;
            if (link) {
                p.links.emplace_back(link);
                continue;
            }
            for (std::size_t i : d.members) attach_failed(i, {d.name, d.form, d.target}, err);
        }
        for (std::size_t i = 0; i < p.set.probes.size(); ++i) {
            if (plan.method[i] == kNone || dispatched(plan, i)) continue;
            std::vector<Link> mine;
            // RTRACE_DROP_FAULTS vanish=RULE: the target is gone by now (a
            // module unloaded between planning and attaching).
            const bool vanished = faults.vanish.count(p.set.rules[p.set.probes[i].rule].id) > 0;
            for (const ProgramSpec& s : p.set.probes[i].methods[plan.method[i]].programs) {
                struct bpf_program* prog = bpf_object__find_program_by_name(p.obj.get(), s.name.c_str());
                struct bpf_link* link = !prog     ? nullptr
                                        : vanished ? attach_to_vanished(prog, s.form)
                                                   : bpf_program__attach(prog);
                if (!link) {
                    mine.clear();
                    attach_failed(i, s, errno);
                    break;
                }
                mine.emplace_back(link);
            }
            for (Link& l : mine) p.links.push_back(std::move(l));
        }
        if (!retry) break;
    }

    std::cerr << "rtrace-drop: " << (features.trampolines ? "BPF trampolines available" : "no BPF trampolines (" + features.trampoline_error + ")")
              << ", " << (features.kprobes ? "kprobes available" : "no kprobes") << '\n';
    if (!p.set.filter.empty()) std::cerr << "rtrace-drop: filter in the kernel: " << p.set.filter << '\n';
    if (opt.rate_limit) std::cerr << fmt::format("rtrace-drop: at most {} event(s) per rule per second\n", opt.rate_limit);
    for (std::size_t i = 0; i < p.set.probes.size(); ++i) {
        const ProbePlan& pp = p.set.probes[i];
        const RuleEntry& rule = p.set.rules[pp.rule];
        std::string status = plan.method[i] != kNone ? attach_form_name(pp.methods[plan.method[i]].form) : "skipped: " + plan.skip[i];
        if (plan.method[i] != kNone && rule.filter_lacks_packet) status += " (no packet: the filter's packet fields read as 0)";
        (plan.method[i] != kNone ? p.attached : p.skipped)++;
        std::cerr << fmt::format("  {:<32} {:<40} {}\n", rule.id, pp.spelling, status);
    }
    for (const DispatchSpec& d : plan.dispatch)
        std::cerr << fmt::format("rtrace-drop: the {} probes on {} run in one {} program\n", d.members.size(), d.target,
                                 attach_form_name(d.form));
    return std::nullopt;
}

bool uses_kfree_skb_reasons(const CompiledRuleSet& set)
{
    return std::any_of(set.probes.begin(), set.probes.end(), [](const ProbePlan& p) { return p.spelling == "tracepoint:skb:kfree_skb"; });
}

// Drop-reason hints of the packs whose rules use {reason_hint}.
using HintTable = std::map<std::string, std::string>;
void load_reason_hint_tables(const CompiledRuleSet& set, std::vector<const HintTable*>& out, std::map<std::string, HintTable>& tables)
{
    out.assign(set.rules.size(), nullptr);
    for (std::size_t i = 0; i < set.rules.size(); ++i) {
        const RuleEntry& r = set.rules[i];
        auto uses = [](const std::optional<TextTemplate>& t) {
            return t && std::any_of(t->pieces.begin(), t->pieces.end(), [](const auto& p) { return p.placeholder && p.text == "reason_hint"; });
        };
        if (!uses(r.message) && !uses(r.hint)) continue;
        std::string dir = std::filesystem::path(r.file).parent_path().string();
        auto [it, fresh] = tables.try_emplace(dir);
        if (fresh) {
            std::string problem;
            it->second = load_reason_hints(dir.empty() ? "." : dir, problem);
            if (!problem.empty()) error("cannot read drop-reason hints: " + problem);
        }
        out[i] = &it->second;
    }
}

// The rules a run or build uses: what -i/-e select among those loaded.
std::vector<const RuleDecl*> selected_rules(const Frontend& frontend, const std::vector<std::string>& include,
                                            const std::vector<std::string>& exclude)
{
    std::vector<const RuleDecl*> out;
    for (const RuleDecl* r : frontend.rules())
        if (rule_selected(r->id, include, exclude)) out.push_back(r);
    return out;
}

// A prebuilt object's monitors, parsed back, lined up with its rule table
// (probe rules get a stand-in that is not a monitor).
std::optional<int> prebuilt_rules(Frontend& frontend, const Prebuilt& pre, const std::string& path, const RunOptions& opt,
                                  std::vector<const RuleDecl*>& rules)
{
    static const RuleDecl probe_rule;  // is_monitor = false
    if (!pre.monitors.empty() && !frontend.load_text(path + ":monitors", pre.monitors)) {
        frontend.diagnostics().render(std::cerr, frontend.sources(), opt.color_diagnostics);
        error(fmt::format("{}: the monitors in the object do not parse with this rtrace-drop", path));
        return kExitFailure;
    }
    std::map<std::string, const RuleDecl*> monitors;
    for (const RuleDecl* r : frontend.rules()) monitors[r->id] = r;
    for (const RuleEntry& e : pre.set.rules) {
        if (!e.is_monitor) {
            rules.push_back(&probe_rule);
            continue;
        }
        auto it = monitors.find(e.id);
        if (it == monitors.end()) {
            error(fmt::format("{}: damaged object: monitor {} is in the rule table but not in the monitors", path, e.id));
            return kExitFailure;
        }
        rules.push_back(rule_selected(e.id, opt.include, opt.exclude) ? it->second : &probe_rule);
    }
    return std::nullopt;
}

}  // namespace

int run_session(const RunOptions& opt)
{
    StopSignals stop_signals;
    const bool prebuilt = std::any_of(opt.paths.begin(), opt.paths.end(), [](const std::string& p) { return is_prebuilt(p); });
    if (prebuilt && opt.paths.size() != 1) {
        error("an object built by 'rtrace-drop build' runs alone: build the other packs into it");
        return kExitBadInput;
    }
    std::optional<Prebuilt> pre;
    if (prebuilt) {
        std::string problem;
        pre = read_prebuilt(opt.paths.front(), problem);
        if (!pre) {
            error(problem);
            return kExitBadInput;
        }
        if (!opt.where.empty() && opt.where != pre->filter) {
            error(fmt::format("{} was built {}; filters are compiled into the object", opt.paths.front(),
                              pre->filter.empty() ? "without a filter" : "with the filter '" + pre->filter + "'"));
            std::cerr << "hint: rebuild it with 'rtrace-drop build --where EXPR ...', or run the packs themselves\n";
            return kExitBadInput;
        }
        if (!opt.params.empty())
            std::cerr << "rtrace-drop: warning: [params] of the config do not apply to a built object: its params were fixed "
                         "when it was built\n";
    }
    if (!opt.netns.empty())
        if (int rc = enter_netns(opt.netns); rc != kExitOk) return rc;

    // ---- rules -> typed rules --------------------------------------------
    Frontend frontend(opt.search);
    frontend.set_param_overrides(opt.params);
    Diagnostics& diags = frontend.diagnostics();
    std::vector<const RuleDecl*> rules;
    bool ok = true;
    if (pre) {
        if (auto rc = prebuilt_rules(frontend, *pre, opt.paths.front(), opt, rules)) return *rc;
    } else {
        ok = frontend.load(opt.paths);
        if (ok) rules = selected_rules(frontend, opt.include, opt.exclude);
        if (ok && rules.empty() && !frontend.rules().empty()) diags.error_in("rtrace-drop", "no rule is selected by -i/-e");
    }
    bool has_probe_rules = pre ? !pre->set.probes.empty()
                               : std::any_of(rules.begin(), rules.end(), [](const RuleDecl* r) { return !r->is_monitor; });
    // Monitors need no BTF: without probe rules (or with --once) none is read.
    bool want_probes = has_probe_rules && !opt.once;
    std::string btf_error;
    std::unique_ptr<Btf> btf;
    std::vector<TypedRule> typed;
    if (ok && want_probes) {
        std::string note;
        if (!opt.btf.empty()) {
            btf = Btf::load(opt.btf, btf_error);
            if (!btf) diags.error_in(opt.btf, "cannot read BTF: " + btf_error).hint("give a vmlinux with BTF or a raw .btf file");
        } else {
            btf = pre ? Btf::load(kKernelBtf, btf_error) : kernel_btf_for(rules, btf_error, note);
        }
        if (!note.empty()) std::cerr << "rtrace-drop: note: " << note << '\n';
        if (btf && !pre) {
            TypeCheckOptions tc;
            tc.strict = opt.strict;
            typed = type_check(rules, *btf, frontend.sources(), diags, tc);
        }
    }
    diags.render(std::cerr, frontend.sources(), opt.color_diagnostics);
    if (diags.has_errors()) return kExitBadInput;
    if (want_probes && too_many_probes(pre ? pre->set.probes.size() : probe_count(typed))) return kExitBadInput;
    if (opt.once) {
        if (pre) {
            std::vector<const RuleDecl*> monitors;
            for (const RuleDecl* r : rules)
                if (r->is_monitor) monitors.push_back(r);
            return run_once(monitors, frontend.sources(), opt);
        }
        return run_once(rules, frontend.sources(), opt);
    }
    if (want_probes && !btf) {
        error(fmt::format("cannot read the kernel's BTF at {}: {}", kKernelBtf, btf_error));
        std::cerr << "hint: this kernel may be built without CONFIG_DEBUG_INFO_BTF; give its BTF with --btf FILE (a vmlinux "
                     "with .BTF, or a raw .btf file such as BTFHub's for this kernel)\n";
        return kExitFailure;
    }
    if (want_probes) {
        if (std::string missing = missing_bpf_capabilities(); !missing.empty()) {
            error("loading BPF programs needs root, or the capabilities CAP_BPF and CAP_PERFMON; this process lacks " + missing);
            std::cerr << "hint: run it with sudo, or give the binary those capabilities: "
                         "sudo setcap cap_bpf,cap_perfmon+ep $(command -v rtrace-drop)\n";
            return kExitFailure;
        }
    }

    // ---- probes: what this kernel offers -> code -> loaded -> attached ------
    Probes probes;
    std::optional<KernelFeatures> features;
    if (want_probes) {
        if (std::string note = mount_tracefs_if_missing(); !note.empty()) std::cerr << "rtrace-drop: note: " << note << '\n';
        features = probe_kernel_features(*btf);
        if (stopped_before("compile")) return kExitFailure;
        if (opt.no_trampolines && features->trampolines) {
            features->trampolines = false;
            features->trampoline_error = "not used: --no-trampolines";
        }
        if (pre) {
            probes.set = pre->set;
            probes.object = pre->object;
            plan_prebuilt(probes, *btf, *features, opt);
        } else if (auto rc = compile_probes(rules, frontend.sources(), typed, *btf, *features, opt, probes)) {
            return *rc;
        }
        if (auto rc = load_and_attach(*features, opt, probes)) return *rc;
        probes.kernel_flows = summary_in_kernel(opt) && probes.obj && bpf_object__find_map_by_name(probes.obj.get(), "rtd_flows");
    } else if (pre) {
        probes.set = pre->set;
    } else {
        probes.set.rules = entries_of(rules, frontend.sources());
    }
    const CompiledRuleSet& set = probes.set;

    // ---- monitors: first readings ----------------------------------------
    const std::uint64_t poll_ms = opt.interval_ms ? opt.interval_ms : 1000;
    Monitors monitors(rules);
    std::vector<MonitorFinding> first_findings = monitors.start();
    print_monitor_status(set, monitors, fmt::format("polled every {:.1f} s", poll_ms / 1000.0));

    std::size_t skipped = probes.skipped + monitors.skipped().size();
    if (opt.strict && skipped) {
        error(fmt::format("{} rule probe(s) or monitor(s) skipped and --strict is set", skipped));
        return kExitBadInput;
    }
    if (probes.attached == 0 && monitors.active() == 0) {
        error("nothing could be attached on this kernel (see the reasons above)");
        return kExitFailure;
    }

    // ---- events and findings -----------------------------------------------
    std::unique_ptr<EventDecoder> decoder;
    KernelSymbols symbols;
    ReportContext ctx{set};
    ctx.realtime_offset_ns = realtime_offset_ns();
    ctx.stacks = opt.stacks;
    std::map<std::string, HintTable> hint_tables;
    if (probes.obj) {
        decoder = std::make_unique<EventDecoder>(set, *btf);
        bool want_symbols = std::any_of(set.rules.begin(), set.rules.end(), [](const RuleEntry& r) { return r.event.has_stack; }) ||
                            uses_kfree_skb_reasons(set);
        if (want_symbols) symbols.load_in_background();
        ctx.decoder = decoder.get();
        ctx.symbols = &symbols;
        if (pre) {
            ctx.reason_hints.assign(set.rules.size(), nullptr);
            for (const auto& [rule, table] : pre->reason_hints) ctx.reason_hints[rule] = &table;
        } else {
            load_reason_hint_tables(set, ctx.reason_hints, hint_tables);
        }
    }
    Sinks sinks(ctx, opt, opt.hints);
    Output out;
    out.sinks.push_back(sinks.chosen(opt));
    out.limit = opt.count;
    out.decoder = decoder.get();

    if (probes.attached) {
        struct bpf_map* events = bpf_object__find_map_by_name(probes.obj.get(), "rtd_events");
        probes.ring.reset(events ? ring_buffer__new(bpf_map__fd(events), on_event, &out, nullptr) : nullptr);
        if (!probes.ring) {
            error(fmt::format("cannot read the ring buffer: {}", std::strerror(errno)));
            return kExitFailure;
        }
    }

    // Rule text, typed trees, generated C and the object were freed above;
    // give those pages back before the long run (about 10 MB of peak RSS).
    ::malloc_trim(0);
    if (!opt.ready_file.empty()) {
        std::ofstream ready(opt.ready_file);
        ready << "ready\n";
        if (!ready) error(fmt::format("cannot write the ready file {}", opt.ready_file));
    }
    std::string what = fmt::format("{} of {} probes attached", probes.attached, probes.attached + probes.skipped);
    if (monitors.has_monitors())
        what += fmt::format(", {} of {} monitors polled", monitors.active(), monitors.active() + monitors.skipped().size());
    std::cerr << fmt::format("rtrace-drop: ready: {}{}\n", what,
                             opt.duration_ms ? fmt::format(", running for {:.1f} s", opt.duration_ms / 1000.0) : ", Ctrl-C to stop");
    out.monitor(first_findings);
    std::fflush(stdout);  // the loop flushes after each batch of events and each poll
    Faults::active().stall("run", g_stop);

    const auto start = Clock::now();
    bool output_closed = false;
    auto next_interval = start + std::chrono::milliseconds(opt.interval_ms);
    auto next_poll = start + std::chrono::milliseconds(poll_ms);
    std::uint64_t polls = 1;
    while (!g_stop) {
        if (probes.ring) {
            int n = ring_buffer__poll(probes.ring.get(), 100);
            // Programs wake us only when a quarter of the ring is full
            // (rtd_submit_flags): a quiet ring is read when the wait ends.
            if (n == 0) n = ring_buffer__consume(probes.ring.get());
            if (n < 0 && n != -EINTR) {
                error(fmt::format("reading events failed: {}", std::strerror(-n)));
                break;
            }
            if (n > 0) std::fflush(stdout);
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        // A reader that went away (`| head`): stop as if asked to; the
        // counters still go to stderr.
        if (std::ferror(stdout)) {
            output_closed = true;
            break;
        }
        auto now = Clock::now();
        if (opt.duration_ms && now - start >= std::chrono::milliseconds(opt.duration_ms)) break;
        if (monitors.active() && now >= next_poll) {
            next_poll += std::chrono::milliseconds(poll_ms);
            if (next_poll < now) next_poll = now + std::chrono::milliseconds(poll_ms);  // a slow poll: do not catch up in a burst
            out.monitor(monitors.poll());
            ++polls;
            std::fflush(stdout);
        }
        if (opt.interval_ms && now >= next_interval) {
            next_interval += std::chrono::milliseconds(opt.interval_ms);
            if (opt.summary) {
                pull_kernel_flows(probes, sinks.flows);
                sinks.flows.print(stdout, opt.top);
                sinks.flows.clear();
            }
            if (probes.obj) {
                print_counters(stderr, set, read_counters(probes.obj.get(), set, probes.plan.dispatch),
                               std::chrono::duration<double>(now - start).count(), out.undecodable);
            }
        }
    }
    if (probes.ring) ring_buffer__consume(probes.ring.get());  // what arrived before we stopped

    // Counters first, then detach: nothing more can fire after this.
    std::vector<rtd_counter> counts = probes.obj ? read_counters(probes.obj.get(), set, probes.plan.dispatch) : std::vector<rtd_counter>{};
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    probes.links.clear();
    probes.ring.reset();
    if (opt.summary) {
        pull_kernel_flows(probes, sinks.flows);
        sinks.flows.print(stdout, opt.top);
    }
    std::fflush(stdout);
    if (probes.obj) print_counters(stderr, set, counts, seconds, out.undecodable);
    else std::fprintf(stderr, "rtrace-drop: ran for %.1f s\n", seconds);
    if (monitors.active())
        std::fprintf(stderr, "rtrace-drop: %llu monitor poll(s) of %zu monitor(s)\n", static_cast<unsigned long long>(polls),
                     monitors.active());
    probes.obj.reset();
    if (output_closed) std::fprintf(stderr, "rtrace-drop: standard output was closed; stopped\n");
    return kExitOk;
}

}  // namespace rtd

namespace rtd {

std::unique_ptr<Btf> kernel_btf_for(const std::vector<const RuleDecl*>& rules, std::string& error, std::string& note)
{
    std::unique_ptr<Btf> btf = Btf::load(kKernelBtf, error);
    if (!btf) return nullptr;
    std::map<std::string, std::vector<std::string>> by_module;  // module path -> functions
    std::set<std::string> seen;
    for (const RuleDecl* r : rules)
        for (const Probe& p : r->probes)
            if (p.kind != ProbeKind::Tracepoint && seen.insert(p.function).second && !btf->function(p.function))
                if (std::string m = Btf::module_defining(*btf, p.function); !m.empty()) by_module[m].push_back(p.function);
    if (by_module.empty()) return btf;
    // The module most functions need; the others' functions stay missing.
    auto chosen = std::max_element(by_module.begin(), by_module.end(),
                                   [](const auto& a, const auto& b) { return a.second.size() < b.second.size(); });
    for (const auto& [module, functions] : by_module)
        if (module != chosen->first)
            for (const std::string& f : functions)
                note += fmt::format("{}{} is in module {}; one module's BTF is read per run ({})", note.empty() ? "" : "; ", f,
                                    std::filesystem::path(module).filename().string(),
                                    std::filesystem::path(chosen->first).filename().string());
    std::string module_error;
    std::unique_ptr<Btf> merged = Btf::with_module(std::move(btf), chosen->first, module_error);
    if (!merged) {
        note += (note.empty() ? "" : "; ") + module_error;
        return Btf::load(kKernelBtf, error);
    }
    return merged;
}

int build_prebuilt(const BuildRequest& req)
{
    Frontend frontend(req.search);
    Diagnostics& diags = frontend.diagnostics();
    std::vector<const RuleDecl*> rules;
    if (frontend.load(req.paths)) rules = selected_rules(frontend, req.include, req.exclude);
    if (!diags.has_errors() && rules.empty()) diags.error_in("rtrace-drop", "no rule to build (check the packs and -i/-e)");
    std::unique_ptr<Btf> btf;
    std::vector<TypedRule> typed;
    std::string btf_path = req.btf.empty() ? kKernelBtf : req.btf, btf_error;
    if (!diags.has_errors()) {
        btf = Btf::load(btf_path, btf_error);
        if (!btf) diags.error_in(btf_path, "cannot read BTF: " + btf_error).hint("give the target kernel's BTF with --btf FILE");
        else typed = type_check(rules, *btf, frontend.sources(), diags, {});
    }
    diags.render(std::cerr, frontend.sources(), req.color_diagnostics);
    if (diags.has_errors()) return kExitBadInput;
    if (too_many_probes(probe_count(typed))) return kExitBadInput;

    Prebuilt pre;
    EmitOptions emit;  // every attach form: the target kernel picks
    if (auto rc = compile_where(req.where, emit.filter, req.color_diagnostics)) return *rc;
    pre.set = emit_c(rules, typed, *btf, frontend.sources(), emit);
    pre.filter = req.where;
    if (auto rc = compile_object(pre.set, *btf, req.cache_dir, pre.object)) return *rc;
    for (const RuleDecl* r : rules) {
        if (!r->is_monitor) continue;
        std::string problem;
        std::optional<std::string> text = monitor_text(*r, problem);
        if (!text) {
            error("internal error: " + problem);
            return kExitFailure;
        }
        pre.monitors += *text + "\n";
    }
    std::vector<const HintTable*> hints;
    std::map<std::string, HintTable> tables;
    load_reason_hint_tables(pre.set, hints, tables);
    for (std::size_t i = 0; i < hints.size(); ++i)
        if (hints[i]) pre.reason_hints[i] = *hints[i];
    pre.built_by = "rtrace-drop " RTD_VERSION;
    struct utsname u {};
    pre.kernel = req.btf.empty() && uname(&u) == 0 ? u.release : req.btf;
    std::string problem;
    if (!write_prebuilt(req.output, pre, problem)) {
        error(problem);
        return kExitFailure;
    }
    std::size_t programs = pre.set.program_names().size(), monitors = 0, probe_rules = 0, skipped = 0;
    for (const RuleEntry& r : pre.set.rules) {
        (r.is_monitor ? monitors : probe_rules)++;
        skipped += !r.is_monitor && r.skipped;
    }
    std::cerr << fmt::format("rtrace-drop: wrote {} ({} bytes): {} probe rule(s){}, {} monitor(s), {} program(s) in every attach form{}\n",
                             req.output, std::filesystem::file_size(req.output), probe_rules,
                             skipped ? fmt::format(" ({} skipped: not in {})", skipped, btf_path) : "", monitors, programs,
                             req.where.empty() ? "" : ", filter '" + req.where + "'");
    return kExitOk;
}

std::vector<std::string> describe_methods(const std::vector<const RuleDecl*>& rules, const SourceManager& sources, std::string& why)
{
    std::string note;
    std::unique_ptr<Btf> btf = kernel_btf_for(rules, why, note);
    if (!btf) return {};
    Diagnostics quiet;
    std::vector<TypedRule> typed = type_check(rules, *btf, sources, quiet, {});
    if (quiet.has_errors()) {
        why = "the rules do not type-check against this kernel (run 'rtrace-drop check')";
        return {};
    }
    KernelFeatures features = probe_kernel_features(*btf);
    apply_features(typed, features);
    apply_instead_of(typed);
    EmitOptions emit;
    emit.forms = features.forms();
    CompiledRuleSet set = emit_c(rules, typed, *btf, sources, emit);
    std::vector<std::string> out(rules.size());
    for (std::size_t i = 0; i < rules.size(); ++i) out[i] = rules[i]->is_monitor ? "polled" : "";
    for (const ProbePlan& p : set.probes) {
        std::string& o = out[p.rule];
        std::string how = p.available && !p.methods.empty() ? attach_form_name(p.methods.front().form) : "skipped: " + p.skip_reason;
        if (o.find(how) == std::string::npos) o += (o.empty() ? "" : ", ") + how;
    }
    return out;
}

}  // namespace rtd
