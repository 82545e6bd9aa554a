// Kernel tier: rule files compiled in process against the running kernel's
// BTF, their event layouts checked against the object, and every program of
// every attach form loaded into the kernel's verifier (nothing attached).
// Needs root, BPF and /sys/kernel/btf/vmlinux; see tests/kernel_support.h.
#include <gtest/gtest.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "bpf-templates/rtd_event.h"

#include "compiler/btf.h"
#include "compiler/codegen.h"
#include "compiler/filter.h"
#include "compiler/frontend.h"
#include "compiler/pcap_filter.h"
#include "compiler/typecheck.h"
#include "runtime/bpf_compiler.h"
#include "runtime/bpf_loader.h"
#include "runtime/embedded_headers.h"
#include "runtime/run_settings.h"
#include "tests/kernel_support.h"

namespace rtd {
namespace {

namespace fs = std::filesystem;

const Btf* kernel_btf()
{
    static std::unique_ptr<Btf> btf = [] {
        std::string error;
        return test::have_kernel_btf() ? Btf::load(test::kKernelBtf, error) : nullptr;
    }();
    return btf.get();
}

struct Built {
    std::unique_ptr<Frontend> frontend;
    std::vector<TypedRule> typed;
    CompiledRuleSet set;
    CompileResult object;
    std::string problems;
};

Built build(const std::vector<std::string>& paths, const std::string& cache, const EmitOptions& options = {})
{
    Built b;
    b.frontend = std::make_unique<Frontend>(SearchPaths{{RTD_SOURCE_DIR "/stdlib"}, {}});
    if (!b.frontend->load(paths)) {
        b.problems = b.frontend->diagnostics().render(b.frontend->sources());
        return b;
    }
    b.typed = type_check(b.frontend->rules(), *kernel_btf(), b.frontend->sources(), b.frontend->diagnostics(), {});
    if (b.frontend->diagnostics().has_errors()) {
        b.problems = b.frontend->diagnostics().render(b.frontend->sources());
        return b;
    }
    b.set = lower_and_emit(b.frontend->rules(), b.typed, *kernel_btf(), b.frontend->sources(), options);
    BpfCompiler cc(kernel_btf()->raw(), embedded_templates(), cache);
    b.object = cc.compile(b.set.source);
    if (!b.object.ok) b.problems = b.object.diagnostics;
    return b;
}

class TempDir {
public:
    TempDir() : path_(fs::temp_directory_path() / ("rtd-kernel-" + std::to_string(getpid()))) { fs::create_directories(path_); }
    ~TempDir() { fs::remove_all(path_); }
    std::string path() const { return path_.string(); }

private:
    fs::path path_;
};

// An object that does more than trace (a travelling .rdo could hold any
// BPF code): every kind of overreach is named, so `run` refuses it.
TEST(ObjectPolicy, RefusesWhatGoesBeyondTracing)
{
    RTD_NEED_KERNEL(kernel_btf() != nullptr, "no usable /sys/kernel/btf/vmlinux");
    TempDir cache;
    BpfCompiler cc(kernel_btf()->raw(), embedded_templates(), cache.path());
    CompileResult hostile = cc.compile(R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char LICENSE[] SEC("license") = "GPL";
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1 << 20); __type(key, __u64); __type(value, char[4096]); } huge SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u32); } jumps SEC(".maps");
SEC("kprobe/tcp_v4_rcv")
int writer(struct pt_regs *ctx)
{
    char buf[4] = {};
    bpf_probe_write_user((void *)1, buf, sizeof(buf));
    bpf_send_signal(9);
    return 0;
}
SEC("xdp")
int dropper(struct xdp_md *ctx) { return XDP_DROP; }
SEC("fmod_ret/tcp_v4_rcv")
int BPF_PROG(changer, struct sk_buff *skb) { return 1; }
)");
    ASSERT_TRUE(hostile.ok) << hostile.diagnostics;
    std::string v = object_policy_violations(hostile.object);
    EXPECT_NE(v.find("writer: instruction"), std::string::npos) << v;
    EXPECT_NE(v.find(fmt::format("calls helper #{}, which is not a read-only helper", static_cast<int>(BPF_FUNC_probe_write_user))),
              std::string::npos)
        << v;
    EXPECT_NE(v.find(fmt::format("calls helper #{}", static_cast<int>(BPF_FUNC_send_signal))), std::string::npos) << v;
    EXPECT_NE(v.find("dropper: program type xdp"), std::string::npos) << v;
    EXPECT_NE(v.find("changer: program type tracing (modify_return)"), std::string::npos) << v;
    EXPECT_NE(v.find("map huge: "), std::string::npos) << v;
    EXPECT_NE(v.find("map jumps: type prog_array is not one this tool makes"), std::string::npos) << v;
}

class VerifierLoad : public testing::TestWithParam<std::string> {};

// Every program of the set's usable non-trampoline forms, loaded together
// through libbpf with `rodata` globals set first (as `run` sets
// rtd_rate_limit and rtd_report_all): the verifier only checks the branches
// those constants leave, so the rate limit must be on to be verified. An
// empty string when everything loaded, else libbpf's complaint.
std::string load_with_rodata(const std::string& object, const CompiledRuleSet& set, const std::map<std::string, std::uint32_t>& rodata)
{
    struct bpf_object* obj = bpf_object__open_mem(object.data(), object.size(), nullptr);
    if (!obj) return std::string("cannot open the object: ") + std::strerror(errno);
    std::unique_ptr<struct bpf_object, void (*)(struct bpf_object*)> guard(obj, bpf_object__close);
    std::set<std::string> wanted;
    for (const ProbePlan& p : set.probes)
        for (const AttachMethod& m : p.methods)
            if (m.form != AttachForm::Fentry && m.form != AttachForm::Fexit)
                for (const ProgramSpec& s : m.programs) wanted.insert(s.name);
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, obj) bpf_program__set_autoload(prog, wanted.count(bpf_program__name(prog)) != 0);
    for (const auto& [name, value] : rodata)
        if (!set_rodata_u32(obj, name.c_str(), value)) return "cannot set the .rodata global " + name;
    int err = bpf_object__load(obj);
    return err ? std::string("load failed: ") + std::strerror(-err) : std::string();
}

// The files that must compile and load on every kernel the project supports:
// examples/ (one rule of each kind, the multicast field case), and a file that walks every code
// generation path (strings, bitfields, variable indexes, stash, casts).
const std::vector<std::string> kFiles = {
    "examples/design.rule",
    "examples/multicast_fragments.rule",
    "tests/data/kernel/features.rule",
    "tests/data/success/stdlib_everything.rule",
    "rules",  // every shipped pack
};

TEST_P(VerifierLoad, EveryProbeLoadsInSomeForm)
{
    RTD_NEED_KERNEL(kernel_btf() != nullptr, "no usable /sys/kernel/btf/vmlinux");
    RTD_NEED_KERNEL(test::have_root(), "loading BPF programs needs root");
    TempDir cache;
    Built b = build({RTD_SOURCE_DIR "/" + GetParam()}, cache.path());
    ASSERT_TRUE(b.problems.empty()) << b.problems;
    EXPECT_FALSE(b.object.cached);

    std::vector<std::string> layout = check_event_layout(b.object.object, b.set);
    EXPECT_TRUE(layout.empty()) << layout.front();
    EXPECT_EQ(object_policy_violations(b.object.object), "") << "generated programs are tracing programs calling read-only helpers";

    std::vector<std::string> names = b.set.program_names();
    VerifyReport report = verify_programs(b.object.object, names);
    ASSERT_TRUE(report.open_error.empty()) << report.open_error;

    for (const ProbePlan& p : b.set.probes) {
        if (!p.available) continue;
        for (const AttachMethod& m : p.methods)
            for (const ProgramSpec& s : m.programs) {
                const ProgramLoad* r = report.find(s.name);
                ASSERT_NE(r, nullptr) << s.name;
                bool trampoline = m.form == AttachForm::Fentry || m.form == AttachForm::Fexit;
                // A trampoline form may be refused (EPERM) by kernels that lock
                // them down, as this machine's does; the verifier must never
                // reject a program (that would be a code generation bug).
                if (trampoline && !r->loaded) {
                    EXPECT_EQ(r->error, EPERM) << s.name << ": " << describe_load_error(r->error) << "\n" << r->log_tail;
                } else {
                    EXPECT_TRUE(r->loaded) << b.set.rules[p.rule].id << " " << p.spelling << " " << s.name << ": "
                                           << describe_load_error(r->error) << "\n" << r->log_tail;
                }
            }
    }

    // Each tracepoint's one program with every probe switched on (the most
    // code its verification can meet: 22 rules on kfree_skb for "rules").
    std::vector<DispatchSpec> dispatch = dispatchers(b.set);
    if (GetParam() == "rules") EXPECT_FALSE(dispatch.empty()) << "the packs share skb:kfree_skb";
    LoadSettings all_on;
    all_on.before_load = [&](struct bpf_object* obj) -> std::string {
        std::vector<std::uint8_t> on(b.set.probes.size(), 1);
        return set_rodata(obj, "rtd_dispatch_on", on.data(), on.size()) ? "" : "no rtd_dispatch_on in the object";
    };
    std::vector<std::string> dispatch_names;
    for (const DispatchSpec& d : dispatch) dispatch_names.push_back(d.name);
    VerifyReport all = verify_programs(b.object.object, dispatch_names, all_on);
    ASSERT_TRUE(all.open_error.empty()) << all.open_error;
    for (const DispatchSpec& d : dispatch) {
        const ProgramLoad* r = all.find(d.name);
        ASSERT_NE(r, nullptr) << d.name;
        EXPECT_TRUE(r->loaded) << d.name << " (" << d.members.size() << " probes): " << describe_load_error(r->error) << "\n" << r->log_tail;
    }
}

INSTANTIATE_TEST_SUITE_P(Kernel, VerifierLoad, testing::ValuesIn(kFiles), [](const testing::TestParamInfo<std::string>& i) {
    return fs::path(i.param).stem().string();
});

// A --where filter over every builtin, on every shipped pack and the
// feature walk: the filter's stack locals and decoding must fit next to
// the rules' own, with the rate limit switched on.
TEST(VerifierLoad, FilteredAndRateLimitedRulesLoad)
{
    RTD_NEED_KERNEL(kernel_btf() != nullptr, "no usable /sys/kernel/btf/vmlinux");
    RTD_NEED_KERNEL(test::have_root(), "loading BPF programs needs root");
    SourceManager sources;
    Diagnostics diags;
    EmitOptions options;
    options.filter = compile_filter("(saddr in 10.0.0.0/8 || daddr in 2001:db8::/32 || saddr == daddr) && dport != 22 && "
                                    "proto == tcp && dev != \"lo\" && comm != \"sshd\" && pid > 1 && netns != 0 && sport / 2 % 7 >= 0",
                                    sources, diags);
    ASSERT_TRUE(options.filter) << diags.render(sources);
    for (const char* path : {"rules", "tests/data/kernel/features.rule", "examples/design.rule"}) {
        SCOPED_TRACE(path);
        TempDir cache;
        Built b = build({RTD_SOURCE_DIR "/" + std::string(path)}, cache.path(), options);
        ASSERT_TRUE(b.problems.empty()) << b.problems;
        EXPECT_NE(b.set.source.find("cnt->filtered++"), std::string::npos);
        EXPECT_EQ(b.set.filter, options.filter->text);
        std::vector<std::string> layout = check_event_layout(b.object.object, b.set);
        EXPECT_TRUE(layout.empty()) << layout.front();
        std::string failed = load_with_rodata(b.object.object, b.set, {{"rtd_rate_limit", 10}, {"rtd_report_all", 0}});
        EXPECT_TRUE(failed.empty()) << failed;
        // Without a limit too (the branch the verifier then sees).
        failed = load_with_rodata(b.object.object, b.set, {{"rtd_rate_limit", 0}, {"rtd_report_all", 1}});
        EXPECT_TRUE(failed.empty()) << failed;
        // --summary: drops counted by flow in rtd_flows, behind the filter.
        failed = load_with_rodata(b.object.object, b.set, {{"rtd_summary_only", 1}});
        EXPECT_TRUE(failed.empty()) << failed;
        // --metrics --quiet: drops counted by labels, behind the filter, no event.
        failed = load_with_rodata(b.object.object, b.set, {{"rtd_metrics_labels", 15}, {"rtd_events_off", 1}});
        EXPECT_TRUE(failed.empty()) << failed;
    }
}

// Every tracepoint's shared program of `b` (if any) loads with all its probes on
// and these .rodata values set.
void expect_dispatchers_load(const Built& b, const std::map<std::string, std::uint32_t>& rodata)
{
    LoadSettings all_on;
    all_on.before_load = [&](struct bpf_object* obj) -> std::string {
        std::vector<std::uint8_t> on(b.set.probes.size(), 1);
        if (!set_rodata(obj, "rtd_dispatch_on", on.data(), on.size())) return "no rtd_dispatch_on in the object";
        for (const auto& [name, value] : rodata)
            if (!set_rodata_u32(obj, name.c_str(), value)) return "no " + name + " in the object";
        return "";
    };
    std::vector<std::string> names;
    for (const DispatchSpec& d : dispatchers(b.set)) names.push_back(d.name);
    VerifyReport report = verify_programs(b.object.object, names, all_on);
    ASSERT_TRUE(report.open_error.empty()) << report.open_error;
    for (const std::string& name : names) {
        const ProgramLoad* r = report.find(name);
        ASSERT_NE(r, nullptr) << name;
        EXPECT_TRUE(r->loaded) << name << ": " << describe_load_error(r->error) << "\n" << r->log_tail;
    }
}

// --filter (libpcap's program, translated) and --pcap (the packet's bytes
// copied into the event) on every shipped pack and the feature walk, at
// the default snapshot length and at the largest, each program on its own
// and inside the tracepoints' shared programs.
TEST(VerifierLoad, PcapFilteredAndCapturingRulesLoad)
{
    RTD_NEED_KERNEL(kernel_btf() != nullptr, "no usable /sys/kernel/btf/vmlinux");
    RTD_NEED_KERNEL(test::have_root(), "loading BPF programs needs root");
    std::string error;
    EmitOptions options;
    options.pcap_filter = compile_pcap_filter("(tcp[tcpflags] & tcp-syn != 0 and not port 22) or (vlan and udp) or (ip6 and icmp6) or "
                                              "len > 1000 or ip[6:2] & 0x1fff != 0",
                                              error);
    ASSERT_TRUE(options.pcap_filter) << error;
    for (const char* path : {"rules", "tests/data/kernel/features.rule"}) {
        SCOPED_TRACE(path);
        TempDir cache;
        Built b = build({RTD_SOURCE_DIR "/" + std::string(path)}, cache.path(), options);
        ASSERT_TRUE(b.problems.empty()) << b.problems;
        EXPECT_NE(b.set.source.find("rtd_pcap_match(cap)"), std::string::npos);
        for (std::uint32_t snaplen : {0u, 256u, static_cast<std::uint32_t>(RTD_CAPTURE_MAX)}) {
            SCOPED_TRACE(snaplen);
            std::string failed = load_with_rodata(b.object.object, b.set, {{"rtd_snaplen", snaplen}});
            EXPECT_TRUE(failed.empty()) << failed;
        }
        expect_dispatchers_load(b, {{"rtd_snaplen", 256}});
    }
}

// Counting in the kernel without a filter: --summary (by flow) and
// --metrics (by labels, every label kept, no events) for every rule on its
// own, and inside the tracepoints' shared programs.
TEST(VerifierLoad, KernelCountingLoads)
{
    RTD_NEED_KERNEL(kernel_btf() != nullptr, "no usable /sys/kernel/btf/vmlinux");
    RTD_NEED_KERNEL(test::have_root(), "loading BPF programs needs root");
    TempDir cache;
    Built b = build({RTD_SOURCE_DIR "/rules"}, cache.path());
    ASSERT_TRUE(b.problems.empty()) << b.problems;
    const std::map<std::string, std::uint32_t> modes[] = {{{"rtd_summary_only", 1}}, {{"rtd_metrics_labels", 15}, {"rtd_events_off", 1}}};
    for (const std::map<std::string, std::uint32_t>& rodata : modes) {
        SCOPED_TRACE(rodata.begin()->first);
        std::string failed = load_with_rodata(b.object.object, b.set, rodata);
        EXPECT_TRUE(failed.empty()) << failed;
        ASSERT_FALSE(dispatchers(b.set).empty());
        expect_dispatchers_load(b, rodata);
    }
}

// An object compiled for a run that fixes every setting (run_settings.h):
// each is a constant, not a .rodata global, and it still compiles without a
// warning (only such objects are cached) and loads, dispatchers too, at 0
// (a plain run) and with --summary's switches on. Settings a run turns on
// stay settable (the tests above).
TEST(VerifierLoad, SettingsARunFixesAreCompiledOut)
{
    RTD_NEED_KERNEL(kernel_btf() != nullptr, "no usable /sys/kernel/btf/vmlinux");
    RTD_NEED_KERNEL(test::have_root(), "loading BPF programs needs root");
    TempDir cache;
    Built all = build({RTD_SOURCE_DIR "/rules"}, cache.path());
    RunOptions summary;
    summary.output.summary = true;
    for (const RunOptions& run : {RunOptions{}, summary}) {
        EmitOptions options;
        for (const FixedSetting& s : fixed_settings(run, true)) options.fixed_settings.emplace_back(s.name, s.value);
        ASSERT_EQ(options.fixed_settings.size(), 10u) << "every setting is fixed";
        Built b = build({RTD_SOURCE_DIR "/rules"}, cache.path(), options);
        ASSERT_TRUE(b.problems.empty()) << b.problems;
        EXPECT_EQ(b.object.diagnostics, "");
        EXPECT_NE(b.set.source.find("#define RTD_FIX_rtd_track_on 0\n"), std::string::npos);
        EXPECT_LT(b.object.object.size(), all.object.object.size());
        for (const auto& [name, value] : options.fixed_settings)
            EXPECT_EQ(load_with_rodata(b.object.object, b.set, {{name, value}}), "cannot set the .rodata global " + name);
        EXPECT_EQ(load_with_rodata(b.object.object, b.set, {}), "");
        expect_dispatchers_load(b, {});
    }
}

// Enumerators of named enums are CO-RE relocated: the generated C asks
// for bpf_core_enum_value, the rule lists what it relies on, and libbpf
// resolves it against this kernel when loading.
TEST(VerifierLoad, EnumComparisonUsesCoReAndLoads)
{
    RTD_NEED_KERNEL(kernel_btf() != nullptr, "no usable /sys/kernel/btf/vmlinux");
    RTD_NEED_KERNEL(test::have_root(), "loading BPF programs needs root");
    TempDir dir;
    std::string path = dir.path() + "/enums.rule";
    std::ofstream(path) << "rule t.overflow {\n layer l4\n probe tracepoint:skb:kfree_skb\n"
                           " drop if reason == SKB_DROP_REASON_TCP_LISTEN_OVERFLOW || reason == SKB_DROP_REASON_NETFILTER_DROP\n"
                           " packet skb\n}\n"
                           "rule t.rest {\n layer l3\n probe tracepoint:skb:kfree_skb\n fallback\n packet skb\n}\n";
    TempDir cache;
    Built b = build({path}, cache.path());
    ASSERT_TRUE(b.problems.empty()) << b.problems;
    EXPECT_NE(b.set.source.find("bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_TCP_LISTEN_OVERFLOW)"), std::string::npos)
        << b.set.source;
    EXPECT_NE(b.set.source.find("bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_NETFILTER_DROP)"), std::string::npos);
    ASSERT_EQ(b.set.rules.size(), 2u);
    ASSERT_EQ(b.set.probes[0].enumerators.size(), 2u);
    EXPECT_EQ(b.set.probes[0].enumerators[0].name, "SKB_DROP_REASON_NETFILTER_DROP");
    EXPECT_EQ(b.set.probes[0].enumerators[1].name, "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW");
    EXPECT_TRUE(b.set.probes[1].enumerators.empty());
    // The object carries enum relocations, not this kernel's numbers.
    EXPECT_NE(b.object.object.find("SKB_DROP_REASON_TCP_LISTEN_OVERFLOW"), std::string::npos);
    std::vector<std::string> names = b.set.program_names();
    VerifyReport report = verify_programs(b.object.object, names);
    ASSERT_TRUE(report.open_error.empty()) << report.open_error;
    for (const char* name : {"rtd_0_0_tb", "rtd_0_0_rt", "rtd_1_0_tb", "rtd_1_0_rt"}) {
        const ProgramLoad* r = report.find(name);
        ASSERT_NE(r, nullptr) << name;
        EXPECT_TRUE(r->loaded) << name << ": " << describe_load_error(r->error) << "\n" << r->log_tail;
    }
}

TEST(VerifierLoad, SecondBuildIsACacheHit)
{
    RTD_NEED_KERNEL(kernel_btf() != nullptr, "no usable /sys/kernel/btf/vmlinux");
    TempDir cache;
    Built first = build({RTD_SOURCE_DIR "/examples/design.rule"}, cache.path());
    ASSERT_TRUE(first.problems.empty()) << first.problems;
    Built second = build({RTD_SOURCE_DIR "/examples/design.rule"}, cache.path());
    ASSERT_TRUE(second.problems.empty()) << second.problems;
    EXPECT_TRUE(second.object.cached);
    EXPECT_EQ(first.object.object, second.object.object);
}

TEST(VerifierLoad, RejectionsCarryTheVerifierLog)
{
    RTD_NEED_KERNEL(kernel_btf() != nullptr, "no usable /sys/kernel/btf/vmlinux");
    RTD_NEED_KERNEL(test::have_root(), "loading BPF programs needs root");
    // Dereferencing a raw kprobe argument is what the verifier must refuse.
    std::string bad = "#define RTD_RULES 1\n#define RTD_STASH 0\n#include \"rtd.bpf.h\"\n"
                      "SEC(\"kprobe/tcp_conn_request\")\nint BPF_KPROBE(rtd_bad, __u64 r0)\n{\n"
                      "    return *(int *)(unsigned long)r0;\n}\n";
    TempDir cache;
    BpfCompiler cc(kernel_btf()->raw(), embedded_templates(), cache.path());
    CompileResult r = cc.compile(bad);
    ASSERT_TRUE(r.ok) << r.diagnostics;
    VerifyReport report = verify_programs(r.object, {"rtd_bad"});
    ASSERT_EQ(report.programs.size(), 1u);
    EXPECT_FALSE(report.programs[0].loaded);
    EXPECT_EQ(report.programs[0].error, EACCES);
    EXPECT_NE(report.programs[0].log_tail.find("invalid mem access"), std::string::npos) << report.programs[0].log_tail;
}

TEST(VerifierLoad, LayoutCheckCatchesADrift)
{
    RTD_NEED_KERNEL(kernel_btf() != nullptr, "no usable /sys/kernel/btf/vmlinux");
    TempDir cache;
    Built b = build({RTD_SOURCE_DIR "/examples/design.rule"}, cache.path());
    ASSERT_TRUE(b.problems.empty()) << b.problems;
    CompiledRuleSet drifted = b.set;
    drifted.rules[0].event.fields[1].offset += 8;
    drifted.rules[0].event.size += 8;
    std::vector<std::string> problems = check_event_layout(b.object.object, drifted);
    ASSERT_EQ(problems.size(), 2u);
    EXPECT_NE(problems[0].find("is 152 bytes, the decoder expects 160"), std::string::npos) << problems[0];
    EXPECT_NE(problems[1].find("rtd_ev_0.c1 is at offset 144, the decoder expects 152"), std::string::npos) << problems[1];
}

}  // namespace
}  // namespace rtd
