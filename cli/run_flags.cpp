#include "cli/run_flags.h"

#include <linux/types.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "bpf-templates/rtd_event.h"

#include "compiler/pcap_filter.h"
#include "runtime/bpf_compiler.h"
#include "runtime/metrics.h"
#include "runtime/session.h"

namespace rtd::cli {

namespace {

// "10s", "1.5m", "500ms", "2h"; a bare number is seconds.
std::optional<std::uint64_t> parse_duration_ms(const std::string& text)
{
    std::size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (...) {
        return std::nullopt;
    }
    std::string unit = text.substr(used);
    double scale = unit.empty() || unit == "s" ? 1000 : unit == "ms" ? 1 : unit == "m" ? 60000 : unit == "h" ? 3600000 : -1;
    if (scale < 0 || value < 0) return std::nullopt;
    return static_cast<std::uint64_t>(value * scale);
}

// "100M", "1G", "500K", "4096": bytes (powers of 1024).
std::optional<std::uint64_t> parse_size(const std::string& text)
{
    std::size_t used = 0;
    unsigned long long value = 0;
    try {
        value = std::stoull(text, &used);
    } catch (...) {
        return std::nullopt;
    }
    const std::string unit = text.substr(used);
    const std::uint64_t scale = unit.empty() || unit == "B" ? 1 : unit == "K" || unit == "k" ? 1ull << 10 : unit == "M" ? 1ull << 20 : unit == "G" ? 1ull << 30 : 0;
    if (!scale || text[0] == '-' || value == 0) return std::nullopt;
    return value * scale;
}

// --pcap, --snaplen, --pcap-rotate, --pcap-files and --filter: checked
// before anything is loaded (the filter by libpcap itself).
Status pcap_options(const Settings& s, RunOptions& opt)
{
    if (!s.pcap_filter.empty()) {
        std::string error;
        if (!compile_pcap_filter(s.pcap_filter, error))
            return RunError::bad_input(fmt::format("--filter '{}': {}", s.pcap_filter, error),
                                       {"the expression is tcpdump's: see pcap-filter(7), e.g. 'tcp port 443 and host 10.0.0.1'"});
        opt.filter = s.pcap_filter;
    }
    if (s.snaplen == 0 || s.snaplen > RTD_CAPTURE_MAX)
        return RunError::bad_input(fmt::format("--snaplen {} is out of range: 1 to {} bytes", s.snaplen, RTD_CAPTURE_MAX));
    if (s.pcap.empty()) {
        if (!s.pcap_rotate.empty()) return RunError::bad_input("--pcap-rotate rotates the file of --pcap, which is not given");
        return kDone;
    }
    if (s.format == "summary") return RunError::bad_input("--pcap writes each drop's packet; --summary sends none from the kernel", {"drop one of them"});
    opt.pcap.path = s.pcap;
    opt.pcap.snaplen = s.snaplen;
    if (!s.pcap_rotate.empty()) {
        std::optional<std::uint64_t> size = parse_size(s.pcap_rotate);
        if (!size) return RunError::bad_input(fmt::format("--pcap-rotate '{}' is not a size such as 100M, 1G or 500K", s.pcap_rotate));
        if (s.pcap == "-") return RunError::bad_input("--pcap - writes to standard output, which cannot be rotated");
        if (s.pcap_files == 0) return RunError::bad_input("--pcap-files must be at least 1");
        opt.pcap.rotation = {.max_bytes = *size, .keep = s.pcap_files};
    }
    if (s.pcap == "-" && s.format == "json") return RunError::bad_input("--pcap - and --json both write to standard output", {"write the capture to a file"});
    return kDone;
}

// --track, --track-size, --track-hops (the sizes a config file gives stay
// quiet when --no-track turns tracking off).
Status track_options(const RunFlags& f, const Settings& s, RunOptions& opt)
{
    if (!s.track) {
        if (f.given("--track-size") || f.given("--track-hops"))
            return RunError::bad_input("--track-size and --track-hops size --track, which is not given");
        return kDone;
    }
    if (s.track_size < 64 || s.track_size > (1u << 20))
        return RunError::bad_input(fmt::format("--track-size {} is out of range: 64 to {} packets", s.track_size, 1u << 20));
    if (s.track_hops < 2 || s.track_hops > RTD_TRACK_HOPS)
        return RunError::bad_input(fmt::format("--track-hops {} is out of range: 2 to {}", s.track_hops, RTD_TRACK_HOPS));
    if (s.quiet) return RunError::bad_input("--track adds each drop's path to its event; --quiet prints none", {"drop one of them"});
    if (opt.once) return RunError::bad_input("--once reads the monitors once and exits: it follows no packets", {"drop --once or --track"});
    opt.load.track_entries = s.track_size;
    opt.load.track_hops = s.track_hops;
    return kDone;
}

// Defaults, then --config, then the flags that were typed.
Expected<Settings> effective_settings(const RunFlags& f, Globals& g)
{
    Settings s;
    if (!f.config.empty()) {
        SourceManager sources;
        Diagnostics diags;
        if (!load_config(f.config, s, sources, diags)) {
            g.status.diagnostics(diags, sources, use_color(g.color, STDERR_FILENO));
            g.status.line(plural(diags.error_count(), "error") + " in " + f.config);
            return RunError::already_reported(kExitBadInput);
        }
    }
    if (f.given("packs")) s.packs = f.packs;
    if (f.given("--include")) s.include = f.include;
    if (f.given("--exclude")) s.exclude = f.exclude;
    if (f.json && f.summary) return RunError::bad_input("--json and --summary exclude each other");
    if (f.json) s.format = "json";
    if (f.summary) s.format = "summary";
    if (f.hints) s.hints = true;
    if (f.no_stack) s.stack = false;
    if (g.color_given) s.color = g.color;
    if (f.given("--interval")) s.interval = f.interval;
    if (f.given("--duration")) s.duration = f.duration;
    if (f.given("--where")) s.where = f.where;
    if (f.given("--host")) s.host = f.host;
    if (f.given("--port")) s.port = f.port;
    if (f.given("--proto")) s.proto = f.proto;
    if (f.given("--dev")) s.dev = f.dev;
    if (f.given("--netns")) s.netns = f.netns;
    if (f.given("--rate-limit")) s.rate_limit = f.rate_limit;
    if (f.quiet) s.quiet = true;
    if (f.ledger) s.ledger = true;
    if (f.given("--metrics")) s.metrics = f.metrics;
    if (f.given("--metrics-labels")) s.metrics_labels = f.metrics_labels;
    if (f.given("--metrics-max-series")) s.metrics_max_series = f.metrics_max_series;
    if (f.given("--filter")) s.pcap_filter = f.filter;
    if (f.given("--pcap")) s.pcap = f.pcap;
    if (f.given("--snaplen")) s.snaplen = f.snaplen;
    if (f.given("--pcap-rotate")) s.pcap_rotate = f.pcap_rotate;
    if (f.given("--pcap-files")) s.pcap_files = f.pcap_files;
    if (f.track && f.no_track) return RunError::bad_input("--track and --no-track exclude each other");
    if (f.track) s.track = true;
    if (f.no_track) s.track = false;
    if (f.given("--track-size")) s.track_size = f.track_size;
    if (f.given("--track-hops")) s.track_hops = f.track_hops;
    if (s.quiet && s.format != "text") return RunError::bad_input(fmt::format("--quiet and format '{}' exclude each other", s.format));
    return s;
}

Expected<RunOptions> run_options(const RunFlags& f, const Settings& s)
{
    RunOptions opt;
    opt.rules.inputs = s.packs.empty() ? std::vector<std::string>{shipped_rules_dir().string()} : s.packs;
    opt.rules.include = s.include;
    opt.rules.exclude = s.exclude;
    opt.rules.params = s.params;
    opt.rules.kernel = f.kernel;
    opt.rules.strict = f.strict;
    opt.output = {.json = s.format == "json", .summary = s.format == "summary", .hints = s.hints,
                  .color = use_color(s.color, STDOUT_FILENO) && s.format != "json", .stacks = s.stack, .top = f.top, .count = f.count};
    opt.output.quiet = s.quiet;
    opt.ledger = s.ledger;
    if (opt.ledger && f.once) return RunError::bad_input("--once reads the monitors once and exits: it keeps no ledger", {"drop --once or --ledger"});
    if (!s.metrics.empty()) {
        Expected<MetricLabels> labels = parse_metric_labels(s.metrics_labels);
        if (!labels) return labels.error();
        if (s.metrics_max_series == 0) return RunError::bad_input("--metrics-max-series must be at least 1");
        opt.metrics = {.listen = s.metrics, .labels = *labels, .max_series = s.metrics_max_series};
    }
    opt.load.ring_bytes = f.ring_size;
    opt.load.rate_limit = s.rate_limit;
    opt.cache_dir = f.no_cache ? "" : BpfCompiler::default_cache_dir();
    opt.all = f.all;
    opt.no_trampolines = f.no_trampolines;
    opt.color_diagnostics = use_color(s.color, STDERR_FILENO);
    opt.ready_file = f.ready_file;
    opt.once = f.once;
    opt.netns = s.netns;
    std::string problem;
    if (!combined_filter(s, opt.where, problem)) return RunError::bad_input(problem);
    if (Status st = pcap_options(s, opt)) return *st;
    if (Status st = track_options(f, s, opt)) return *st;
    // A path makes each event about 1 KB longer: a ring 4x the default
    // holds as many of them.
    if (s.track && !f.given("--ring-size")) opt.load.ring_bytes = 4 * f.ring_size;
    // The default interval only polls monitors; a chosen one also prints the counters.
    const std::string interval = f.interval.empty() && s.interval == Settings{}.interval ? "" : s.interval;
    for (auto [text, target, name] : {std::tuple{&s.duration, &opt.duration_ms, "duration"}, std::tuple{&interval, &opt.interval_ms, "interval"}}) {
        if (text->empty()) continue;
        auto ms = parse_duration_ms(*text);
        if (!ms || *ms == 0) return RunError::bad_input(fmt::format("{} '{}' is not a duration such as 10s, 500ms, 5m", name, *text));
        *target = *ms;
    }
    const long page = sysconf(_SC_PAGESIZE);
    if (f.ring_size < static_cast<std::uint32_t>(page) || (f.ring_size & (f.ring_size - 1)) != 0)
        return RunError::bad_input(fmt::format("--ring-size must be a power of two of at least {} bytes", page));
    return opt;
}

int write_default_config(const std::string& file, Globals& g)
{
    std::error_code ec;
    if (std::filesystem::exists(file, ec)) return report(g.status, RunError::bad_input(fmt::format("{} exists; remove it or choose another file", file)));
    std::ofstream out(file);
    out << config_text(Settings{}, true);
    if (!out.flush()) return report(g.status, RunError::failure(fmt::format("cannot write {}", file)));
    g.status.say(fmt::format("wrote the default configuration to {}", file));
    return kExitOk;
}

}  // namespace

bool RunFlags::given(const std::string& name) const
{
    auto typed = [&](const CLI::App* app) {
        const CLI::Option* o = app ? app->get_option_no_throw(name) : nullptr;
        return o && o->count() > 0;
    };
    return (name != "packs" && typed(top_level)) || typed(run_command);
}

void add_run_flags(CLI::App* app, RunFlags& f)
{
    app->add_option("-i,--include", f.include, "Run only rules whose id matches one of these globs (e.g. 'tcp.*')")->type_name("GLOB")->expected(1, -1);
    app->add_option("-e,--exclude", f.exclude, "Leave out rules whose id matches one of these globs; exclude wins over include")
        ->type_name("GLOB")
        ->expected(1, -1);
    app->add_option("--config", f.config, "Read settings from this TOML file (write one with --gen); flags override it")->type_name("FILE");
    app->add_flag("--show-config", f.show_config, "Print the settings that would be used (defaults < --config < flags) as TOML and exit");
    app->add_flag("--json", f.json, "One JSON object per event on stdout");
    app->add_flag("--summary", f.summary, "Print a rule x flow table instead of each event");
    app->add_flag("--hints", f.hints, "Print each event's hint");
    app->add_flag("--no-stack", f.no_stack, "Do not record (in the kernel) or print the kernel stacks rules ask for");
    app->add_option("--duration", f.duration, "Stop after this long (10s, 500ms, 5m)")->type_name("TIME");
    app->add_option("--count", f.count, "Stop after this many events")->type_name("N");
    app->add_option("--interval", f.interval,
                    "Poll monitors this often (default 1s); when given, also print the counters (and the summary) this often")
        ->type_name("TIME");
    app->add_option("--where", f.where,
                    "Report only drops this filter accepts, decided in the kernel (filtered drops are still counted), e.g. "
                    "'dport == 443 && saddr in 10.0.0.0/8'; builtins saddr daddr sport dport proto dev netns comm pid")
        ->type_name("EXPR");
    app->add_option("--filter", f.filter,
                    "Report only drops whose packet this pcap-filter expression accepts, written as for tcpdump (e.g. 'tcp port 443 "
                    "and host 10.0.0.1'), compiled by libpcap and decided in the kernel; with --where, both must accept")
        ->type_name("EXPR");
    app->add_option("--pcap", f.pcap,
                    "Write each reported drop's packet to this pcapng file ('-' for standard output, e.g. | wireshark -k -i -), "
                    "with a comment naming the rule, reason, place and hint")
        ->type_name("FILE");
    app->add_option("--snaplen", f.snaplen, "Bytes of each packet copied in the kernel for --pcap (default 256, at most 8192)")->type_name("N");
    app->add_option("--pcap-rotate", f.pcap_rotate, "Start a new --pcap file once the current one reaches this size (100M, 1G); the newest is FILE, older ones FILE.1, FILE.2, ...")
        ->type_name("SIZE");
    app->add_option("--pcap-files", f.pcap_files, "Files kept when rotating, the current one included (default 10)")->type_name("N");
    app->add_option("--host", f.host, "Only packets from or to this address or CIDR (repeatable)")->type_name("ADDR");
    app->add_option("--port", f.port, "Only packets from or to this port (repeatable)")->type_name("PORT")->check(CLI::Range(0, 65535));
    app->add_option("--proto", f.proto, "Only this protocol: tcp, udp, icmp, icmpv6, sctp or a number")->type_name("PROTO");
    app->add_option("--dev", f.dev, "Only packets on this device")->type_name("NAME");
    app->add_option("--netns", f.netns,
                    "Only this network namespace, and monitors read it: a name from 'ip netns list' or a path such as "
                    "/proc/PID/ns/net")
        ->type_name("NAME|PATH");
    app->add_option("--rate-limit", f.rate_limit, "At most N events per rule per second, enforced in the kernel (counts stay exact)")
        ->type_name("N");
    app->add_flag("--once", f.once,
                  "Read the monitors once and report what their counters say since boot, with explanations, then exit "
                  "(no BPF; probe rules are not run)");
    app->add_option("--metrics", f.metrics,
                    "Serve Prometheus metrics at http://ADDR:PORT/metrics (':9977' listens on every address); drops are counted "
                    "in the kernel by rule, reason, device and namespace (docs/OPERATIONS.md)")
        ->type_name("[ADDR]:PORT");
    app->add_option("--metrics-labels", f.metrics_labels,
                    "The labels rtrace_drop_drops_total keeps, of rule,layer,reason,dev,netns (default all); the others are summed")
        ->type_name("LIST")
        ->delimiter(',');
    app->add_option("--metrics-max-series", f.metrics_max_series,
                    "Label sets the kernel counts apart (default 4096); once its table is full, new ones count under dev=\"other\"")
        ->type_name("N");
    app->add_flag("-q,--quiet", f.quiet, "No line per drop or finding (with --metrics: no event leaves the kernel)");
    app->add_flag("--ledger", f.ledger,
                  "Reconcile the kernel's drop counters with the drops the rules trace: for each counter the rules declare "
                  "('counted as') and each one a monitor reads, its growth against the drops traced into it (balanced, "
                  "unexplained, untracked), per --interval and exactly at the end, in the namespace the run reads");
    app->add_flag("--track", f.track,
                  "Follow each packet between devices in the kernel (receive, rx, queue, xmit on every device and namespace): "
                  "a drop shows the way its packet went, where a bridge took it and where NAT changed its addresses; "
                  "--where/--filter then match a packet on any hop (docs/RUNNING.md)");
    app->add_flag("--no-track", f.no_track, "Do not follow packets, whatever the config file's track says");
    app->add_option("--track-size", f.track_size,
                    "Packets --track follows at once (64 to 1048576, default 16384; about 1 KB each); when full, the least recently moved goes")
        ->type_name("N");
    app->add_option("--track-hops", f.track_hops, "Hops --track keeps per packet: the first and the latest (2 to 8, default 8)")->type_name("N");
    app->add_option("--top", f.top, "Flows shown in the summary (default 20)")->type_name("N");
    app->add_option("--ready-file", f.ready_file, "Create this file once every probe is attached")->type_name("PATH");
    app->add_option("--ring-size", f.ring_size, "Ring buffer bytes, a power of two (default 4 MiB; 16 MiB with --track)")->type_name("BYTES");
    app->add_flag("--strict", f.strict, "Any probe that cannot be used on this kernel is an error");
    app->add_flag("--all", f.all,
                  "Report everything: noise ('noise if'), reasons a fallback rule leaves to other rules, and rules "
                  "declared 'instead of' others");
    app->add_flag("--no-cache", f.no_cache, "Do not use or fill the caches of compiled objects and of plans (the rules as planned for this kernel)");
    add_kernel_options(app, f.kernel,
                       "Check rules and relocate programs against this BTF (a vmlinux or a raw .btf file) when the kernel has "
                       "no /sys/kernel/btf/vmlinux");
    app->add_flag("--no-trampolines", f.no_trampolines,
                  "Attach function probes as kprobe/kretprobe even where the kernel offers fentry/fexit (kretprobe rules "
                  "then stash their arguments at entry)");
}

int RunFlagsCommand::run(Globals& g)
{
    const RunFlags& f = flags_;
    if (!f.gen.empty()) return write_default_config(f.gen, g);
    Expected<Settings> settings = effective_settings(f, g);
    if (!settings) return report(g.status, settings.error());
    if (f.show_config) {
        std::cout << config_text(*settings, false);
        return kExitOk;
    }
    if (f.given("--list")) {
        ListRequest list;
        list.targets = settings->packs;
        list.include = f.list;
        std::erase(list.include, std::string());  // a bare -l
        if (list.include.empty()) list.include = settings->include;
        list.exclude = settings->exclude;
        return list_rules(list, g);
    }
    Expected<RunOptions> options = run_options(f, *settings);
    if (!options) return report(g.status, options.error());
    // SIGHUP reads the config file again; the flags typed still win.
    options->reread = [&f, &g]() -> Expected<RunOptions> {
        Expected<Settings> now = effective_settings(f, g);
        if (!now) return now.error();
        return run_options(f, *now);
    };
    return run_session(*options, g.status);
}

}  // namespace rtd::cli
