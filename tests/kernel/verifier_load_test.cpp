// Kernel tier: rule files compiled in process against the running kernel's
// BTF, their event layouts checked against the object, and every program of
// every attach form loaded into the kernel's verifier (nothing attached).
// Needs root, BPF and /sys/kernel/btf/vmlinux; see tests/kernel_support.h.
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>

#include "compiler/btf.h"
#include "compiler/codegen.h"
#include "compiler/frontend.h"
#include "compiler/typecheck.h"
#include "runtime/bpf_compiler.h"
#include "runtime/bpf_loader.h"
#include "runtime/embedded_headers.h"
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

Built build(const std::vector<std::string>& paths, const std::string& cache)
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
    b.set = emit_c(b.frontend->rules(), b.typed, *kernel_btf(), b.frontend->sources());
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

class VerifierLoad : public testing::TestWithParam<std::string> {};

// The files that must compile and load on every kernel the project supports:
// DESIGN §2's examples, the seed 001 case, and a file that walks every code
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

    std::vector<std::string> names;
    for (const ProbePlan& p : b.set.probes)
        for (const AttachMethod& m : p.methods)
            for (const ProgramSpec& s : m.programs) names.push_back(s.name);
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
}

INSTANTIATE_TEST_SUITE_P(Kernel, VerifierLoad, testing::ValuesIn(kFiles), [](const testing::TestParamInfo<std::string>& i) {
    return fs::path(i.param).stem().string();
});

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
