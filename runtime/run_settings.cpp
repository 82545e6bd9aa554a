#include "runtime/run_settings.h"

#include "runtime/netns.h"

namespace rtd {

namespace {

// Every setting but the namespace inodes, which are looked up only when
// asked for (1 stands for "some namespace" here).
LoadOptions settings_of(const RunOptions& opt)
{
    LoadOptions l = opt.load;
    l.core_btf = opt.rules.kernel.btf_file;
    l.report_all = opt.all;
    l.summary_only = summary_in_kernel(opt);
    l.netns_inode = opt.netns.empty() ? 0 : 1;
    l.record_stacks = opt.output.stacks;
    if (!opt.metrics.listen.empty()) {
        l.metrics_labels = opt.metrics.labels.kernel_bits();
        l.metrics_series = opt.metrics.max_series;
    }
    l.events_off = opt.output.quiet && !opt.output.count && opt.pcap.path.empty();  // --count counts events, --pcap writes them
    if (!opt.pcap.path.empty()) l.snaplen = opt.pcap.snaplen;
    l.ledger_netns = opt.ledger ? 1 : 0;
    return l;
}

}  // namespace

LoadOptions load_options(const RunOptions& opt, std::uint32_t number, int gate_fd)
{
    LoadOptions l = settings_of(opt);
    if (!opt.netns.empty()) l.netns_inode = netns_inode(opt.netns);
    // The namespace the ledger's counters are read in: --netns's, else the
    // run's own (this thread is in it by now).
    if (opt.ledger) l.ledger_netns = netns_inode(opt.netns.empty() ? "/proc/thread-self/ns/net" : opt.netns);
    l.gate_fd = gate_fd;
    l.generation = gate_fd >= 0 ? number : 0;  // without a gate to share, its own opens at 0
    return l;
}

std::vector<FixedSetting> fixed_settings(const RunOptions& opt, bool flow_samples_needed)
{
    const LoadOptions l = settings_of(opt);
    const bool flow_samples = l.summary_only && flow_samples_needed;  // as attach.cpp's load_settings has it
    std::vector<FixedSetting> fixed;
    auto zero_unless = [&](bool on, const char* name) {
        if (!on) fixed.push_back({name, 0});
    };
    // Each as load_settings writes it: only when it is on, and then it must
    // exist, but for the three switches fixed either way.
    zero_unless(l.report_all, "rtd_report_all");
    zero_unless(l.rate_limit != 0, "rtd_rate_limit");
    zero_unless(l.netns_inode != 0, "rtd_netns_only");
    fixed.push_back({"rtd_summary_only", l.summary_only ? 1u : 0u});
    fixed.push_back({"rtd_flow_samples", flow_samples ? 1u : 0u});
    zero_unless(l.metrics_labels != 0, "rtd_metrics_labels");
    fixed.push_back({"rtd_events_off", l.events_off ? 1u : 0u});
    zero_unless(l.ledger_netns != 0, "rtd_ledger_netns");
    zero_unless(l.snaplen != 0, "rtd_snaplen");
    zero_unless(l.track_entries != 0, "rtd_track_on");
    return fixed;
}

}  // namespace rtd
