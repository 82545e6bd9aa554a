// BpfCompiler: real compiles against the running kernel's BTF, the forked
// child's isolation, diagnostics, the object cache and vmlinux.h generation.
//
// Tests that need /sys/kernel/btf/vmlinux skip without it, and fail instead
// when RTRACE_DROP_REQUIRE_KERNEL=1 (the kernel test machines set it).
#include "runtime/bpf_compiler.h"
#include "runtime/vmlinux_header.h"
#include "tests/kernel_support.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace fs = std::filesystem;

namespace {

constexpr const char* kernel_btf_path = "/sys/kernel/btf/vmlinux";

// Generated once: ~50 ms and a few MB, the same for every test.
const std::string& kernel_vmlinux_h()
{
    static const std::string text = [] {
        btf* kernel = btf__parse(kernel_btf_path, nullptr);
        if (kernel == nullptr)
            return std::string();
        std::string out = rtd::generate_vmlinux_h(kernel);
        btf__free(kernel);
        return out;
    }();
    return text;
}

#define NEED_KERNEL_BTF() RTD_NEED_KERNEL(!kernel_vmlinux_h().empty(), "no usable /sys/kernel/btf/vmlinux (the kernel has no BTF)")

// A private directory removed with everything in it.
class TempDir {
public:
    TempDir()
    {
        std::string pattern = (fs::temp_directory_path() / "rtd-runtime-test-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data()) ? pattern : std::string();
    }
    ~TempDir()
    {
        std::error_code ec;
        if (!path_.empty())
            fs::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// Section contents by name, from a 64-bit little-endian ELF.
std::optional<std::string_view> elf_section(std::string_view elf, std::string_view name)
{
    if (elf.size() < sizeof(Elf64_Ehdr))
        return std::nullopt;
    Elf64_Ehdr eh;
    std::memcpy(&eh, elf.data(), sizeof eh);
    auto section_header = [&](unsigned i) -> std::optional<Elf64_Shdr> {
        std::size_t at = eh.e_shoff + std::size_t{i} * eh.e_shentsize;
        if (at + sizeof(Elf64_Shdr) > elf.size())
            return std::nullopt;
        Elf64_Shdr sh;
        std::memcpy(&sh, elf.data() + at, sizeof sh);
        return sh;
    };
    auto strtab = section_header(eh.e_shstrndx);
    if (!strtab || strtab->sh_offset + strtab->sh_size > elf.size())
        return std::nullopt;
    std::string_view names = elf.substr(strtab->sh_offset, strtab->sh_size);
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
        auto sh = section_header(i);
        if (!sh || sh->sh_name >= names.size())
            continue;
        std::string_view this_name = names.substr(sh->sh_name);
        this_name = this_name.substr(0, this_name.find('\0'));
        if (this_name == name && sh->sh_offset + sh->sh_size <= elf.size())
            return elf.substr(sh->sh_offset, sh->sh_size);
    }
    return std::nullopt;
}

// Bytes of CO-RE relocation records in .BTF.ext (0 when there are none).
std::uint32_t core_relocation_bytes(std::string_view elf)
{
    auto ext = elf_section(elf, ".BTF.ext");
    // struct btf_ext_header: magic, version, flags, hdr_len, then u32
    // func_info_off/len, line_info_off/len, core_relo_off/len.
    if (!ext || ext->size() < 32)
        return 0;
    std::uint32_t hdr_len, core_relo_len;
    std::memcpy(&hdr_len, ext->data() + 4, 4);
    if (hdr_len < 32)
        return 0;
    std::memcpy(&core_relo_len, ext->data() + 28, 4);
    return core_relo_len;
}

bool starts_with_elf_magic(const std::string& object)
{
    return object.size() >= 4 && object.compare(0, 4, "\x7f" "ELF") == 0;
}

// libbpf's view of the object: the named programs exist and have `section`.
::testing::AssertionResult libbpf_opens(const std::string& object, std::initializer_list<const char*> programs,
                                        const char* section = nullptr)
{
    bpf_object* obj = bpf_object__open_mem(object.data(), object.size(), nullptr);
    if (obj == nullptr)
        return ::testing::AssertionFailure() << "bpf_object__open_mem: " << std::strerror(errno);
    for (const char* name : programs) {
        bpf_program* prog = bpf_object__find_program_by_name(obj, name);
        if (prog == nullptr) {
            bpf_object__close(obj);
            return ::testing::AssertionFailure() << "no program " << name;
        }
        if (section != nullptr && std::string_view(bpf_program__section_name(prog)) != section) {
            std::string got = bpf_program__section_name(prog);
            bpf_object__close(obj);
            return ::testing::AssertionFailure() << name << " is in section " << got;
        }
    }
    bpf_object__close(obj);
    return ::testing::AssertionSuccess();
}

std::string program_source(std::string_view body)
{
    std::string s =
        "#include \"vmlinux.h\"\n"
        "#include <bpf/bpf_helpers.h>\n"
        "#include <bpf/bpf_tracing.h>\n"
        "#include <bpf/bpf_core_read.h>\n"
        "\n"
        "char LICENSE[] SEC(\"license\") = \"GPL\";\n"
        "\n";
    s += body;
    return s;
}

const char* const tiny_program = R"(SEC("tp_btf/kfree_skb")
int BPF_PROG(p, struct sk_buff *skb)
{
    return 0;
}
)";

const char* const core_program = R"(SEC("tp_btf/kfree_skb")
int BPF_PROG(core_len, struct sk_buff *skb)
{
    unsigned int len = BPF_CORE_READ(skb, len);
    return len > 1500;
}
)";

std::string read_whole(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> cache_entries(const std::string& dir)
{
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        out.push_back(e.path().string());
    return out;
}

// Sets (or, with nullptr, unsets) an environment variable for one scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name)
    {
        if (const char* old = std::getenv(name))
            old_ = old;
        value ? ::setenv(name, value, 1) : ::unsetenv(name);
    }
    ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

private:
    const char* name_;
    std::optional<std::string> old_;
};

// ------------------------------------------------------------------- tests

TEST(VmlinuxH, HasBpftoolsGuardPragmaAndKernelTypes)
{
    NEED_KERNEL_BTF();
    const std::string& h = kernel_vmlinux_h();
    EXPECT_EQ(h.rfind("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n", 0), 0u);
    EXPECT_NE(h.find("#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)"),
              std::string::npos);
    EXPECT_NE(h.find("#pragma clang attribute pop"), std::string::npos);
    EXPECT_NE(h.find("struct sk_buff {"), std::string::npos);
    EXPECT_NE(h.find("enum skb_drop_reason {"), std::string::npos);
    EXPECT_NE(h.find("#endif /* __VMLINUX_H__ */"), std::string::npos);
}

// Only what a source names, with what that needs: Clang then parses a
// fraction of the kernel's types (the cold start of `run`).
TEST(VmlinuxH, OnlyTheTypesASourceUses)
{
    NEED_KERNEL_BTF();
    btf* kernel = btf__parse(kernel_btf_path, nullptr);
    ASSERT_NE(kernel, nullptr);
    std::string h = rtd::generate_vmlinux_h(
        kernel, {"struct sk_buff *skb; u32 n; int m = BPF_MAP_TYPE_RINGBUF; /* 0x1f skb_drop_reason */ enum skb_drop_reason r;"});
    btf__free(kernel);
    EXPECT_EQ(h.rfind("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n", 0), 0u);
    EXPECT_NE(h.find("#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)"), std::string::npos);
    EXPECT_NE(h.find("struct sk_buff {"), std::string::npos);
    EXPECT_NE(h.find("struct net_device;"), std::string::npos) << "a pointer member's type is declared, not defined";
    EXPECT_NE(h.find("typedef __u32 u32;"), std::string::npos);
    EXPECT_NE(h.find("BPF_MAP_TYPE_RINGBUF = "), std::string::npos) << "the enum of an enumerator used";
    EXPECT_NE(h.find("enum skb_drop_reason {"), std::string::npos);
    EXPECT_EQ(h.find("struct kvm_vcpu {"), std::string::npos) << "nothing the source does not reach";
    EXPECT_LT(h.size() * 4, kernel_vmlinux_h().size()) << h.size() << " of " << kernel_vmlinux_h().size();
}

TEST(VmlinuxH, NullBtfGivesEmptyText)
{
    EXPECT_EQ(rtd::generate_vmlinux_h(nullptr), "");
}

TEST(BpfCompiler, CompilesATinyTpBtfProgramThatLibbpfOpens)
{
    NEED_KERNEL_BTF();
    rtd::BpfCompiler compiler(kernel_vmlinux_h(), {}, "");
    rtd::CompileResult r = compiler.compile(program_source(tiny_program));
    ASSERT_TRUE(r.ok) << r.diagnostics;
    EXPECT_FALSE(r.cached);
    EXPECT_TRUE(starts_with_elf_magic(r.object));
    EXPECT_TRUE(libbpf_opens(r.object, {"p"}, "tp_btf/kfree_skb"));
    EXPECT_TRUE(elf_section(r.object, ".BTF").has_value());
}

TEST(BpfCompiler, ASecondDifferentCompileInTheSameProcessWorks)
{
    NEED_KERNEL_BTF();
    rtd::BpfCompiler compiler(kernel_vmlinux_h(), {}, "");
    rtd::CompileResult first = compiler.compile(program_source(tiny_program));
    ASSERT_TRUE(first.ok) << first.diagnostics;
    rtd::CompileResult second = compiler.compile(program_source(R"(
SEC("tp_btf/kfree_skb")
int BPF_PROG(reason_is_odd, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
    return reason & 1;
}

SEC("tp_btf/consume_skb")
int BPF_PROG(consumed, struct sk_buff *skb)
{
    return 0;
}
)"));
    ASSERT_TRUE(second.ok) << second.diagnostics;
    EXPECT_TRUE(libbpf_opens(second.object, {"reason_is_odd", "consumed"}));
    EXPECT_NE(first.object, second.object);
}

TEST(BpfCompiler, SyntaxErrorReportsFileLineAndError)
{
    // No kernel types needed: the error comes before any use of them.
    rtd::BpfCompiler compiler("", {}, "");
    rtd::CompileResult r = compiler.compile("int ok(void) { return 0; }\n"
                                            "\n"
                                            "int broken(void)\n"
                                            "{\n"
                                            "    return 1 +;\n"
                                            "}\n");
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(r.object.empty());
    EXPECT_NE(r.diagnostics.find("error:"), std::string::npos) << r.diagnostics;
    // The source is "rules.bpf.c" to clang, with the caller's line numbers.
    EXPECT_EQ(r.diagnostics.rfind("rules.bpf.c:5:15: error: expected expression\n", 0), 0u) << r.diagnostics;
    EXPECT_NE(r.diagnostics.find("return 1 +;"), std::string::npos) << "the source line is quoted:\n"
                                                                   << r.diagnostics;
}

TEST(BpfCompiler, MissingHeaderIsADiagnosticNotARealFileLookup)
{
    rtd::BpfCompiler compiler("", {}, "");
    rtd::CompileResult r = compiler.compile("#include <stdio.h>\nint x;\n");
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.diagnostics.find("rules.bpf.c:1:10: fatal error: 'stdio.h' file not found"), std::string::npos)
        << r.diagnostics;
}

TEST(BpfCompiler, BackendFatalErrorFailsTheCompileNotTheCaller)
{
    // LLVM's BPF backend has no dynamic stack allocation: report_fatal_error,
    // which would exit() a process that compiled in place.
    rtd::BpfCompiler compiler("", {}, "");
    rtd::CompileResult r = compiler.compile("void use(volatile char *p);\n"
                                            "int f(int n) { char buf[n]; use(buf); return buf[0]; }\n");
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.diagnostics.find("Unsupported dynamic stack allocation"), std::string::npos) << r.diagnostics;

    rtd::CompileResult after = compiler.compile("int g(int x) { return x + 1; }\n");
    EXPECT_TRUE(after.ok) << after.diagnostics;
}

TEST(BpfCompiler, WarningsAreCapturedNotPrinted)
{
    rtd::BpfCompiler compiler("", {}, "");
    testing::internal::CaptureStderr();
    rtd::CompileResult r = compiler.compile("int f(int x) { if (x = 1) return 0; return 1; }\n");
    std::string printed = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(r.ok) << r.diagnostics;
    EXPECT_NE(r.diagnostics.find("warning:"), std::string::npos) << r.diagnostics;
    EXPECT_EQ(printed, "");
}

TEST(BpfCompiler, ExtraHeadersAreServedByIncludeName)
{
    rtd::BpfCompiler compiler("", {{"rtd.bpf.h", "#define RTD_ANSWER 42\n"}, {"rtd/more.h", "int more;\n"}}, "");
    rtd::CompileResult r = compiler.compile("#include \"rtd.bpf.h\"\n#include <rtd/more.h>\n"
                                            "int answer(void) { return RTD_ANSWER + more; }\n");
    EXPECT_TRUE(r.ok) << r.diagnostics;
}

TEST(BpfCompiler, EmbeddedLibbpfHeadersDoNotNeedTheKernel)
{
    rtd::BpfCompiler compiler("", {}, "");
    rtd::CompileResult r = compiler.compile("#include <linux/types.h>\n");
    EXPECT_FALSE(r.ok) << "the real /usr/include must not be on the include path";
    // The few types bpf_helper_defs.h needs by value; vmlinux.h has them.
    r = compiler.compile("typedef unsigned long long __u64; typedef long long __s64;\n"
                         "typedef unsigned int __u32; typedef int __s32; typedef unsigned short __u16;\n"
                         "typedef unsigned char __u8; typedef __u16 __be16; typedef __u32 __be32;\n"
                         "typedef __u32 __wsum;\n"
                         "enum bpf_map_type { BPF_MAP_TYPE_ARRAY = 2 };\n"
                         "#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_endian.h>\n"
                         "SEC(\"xdp\") int x(void *ctx) { return bpf_ntohs(0x1234) == 0x3412; }\n");
    EXPECT_TRUE(r.ok) << r.diagnostics;
}

TEST(BpfCompiler, CoreReadProducesRelocationsInBtfExt)
{
    NEED_KERNEL_BTF();
    rtd::BpfCompiler compiler(kernel_vmlinux_h(), {}, "");
    rtd::CompileResult r = compiler.compile(program_source(core_program));
    ASSERT_TRUE(r.ok) << r.diagnostics;
    ASSERT_TRUE(elf_section(r.object, ".BTF.ext").has_value());
    EXPECT_GT(core_relocation_bytes(r.object), 0u);
    EXPECT_TRUE(libbpf_opens(r.object, {"core_len"}));
}

TEST(BpfCompiler, BtfLineInfoQuotesTheSourceAndLeavesNoTempFiles)
{
    // The backend reads line text from disk; the compiler hands it a private
    // copy of the source (verifier logs quote these lines).
    NEED_KERNEL_BTF();
    TempDir tmp;
    rtd::CompileResult r;
    {
        ScopedEnv tmpdir("TMPDIR", tmp.path().c_str());
        rtd::BpfCompiler compiler(kernel_vmlinux_h(), {}, "");
        r = compiler.compile(program_source(core_program));
    }
    ASSERT_TRUE(r.ok) << r.diagnostics;
    auto btf = elf_section(r.object, ".BTF");
    ASSERT_TRUE(btf.has_value());
    EXPECT_NE(btf->find("unsigned int len = BPF_CORE_READ(skb, len);"), std::string_view::npos);
    EXPECT_NE(btf->find(std::string_view("./rules.bpf.c\0", 14)), std::string_view::npos);
    EXPECT_TRUE(cache_entries(tmp.path()).empty()) << "the source copy was removed";
}

TEST(BpfCompiler, AnUnusableTempDirOnlyLosesLineText)
{
    NEED_KERNEL_BTF();
    ScopedEnv tmpdir("TMPDIR", "/nonexistent/rtrace-drop-test");
    rtd::BpfCompiler compiler(kernel_vmlinux_h(), {}, "");
    rtd::CompileResult r = compiler.compile(program_source(core_program));
    ASSERT_TRUE(r.ok) << r.diagnostics;
    EXPECT_GT(core_relocation_bytes(r.object), 0u);
    EXPECT_EQ(elf_section(r.object, ".BTF")->find("BPF_CORE_READ(skb, len)"), std::string_view::npos);
}

// A source longer than kLineTextMaxLines (bpf_compiler.cpp) compiles without
// line text: LLVM 14 would take time growing with the square of its lines.
TEST(BpfCompiler, ALongSourceGoesWithoutLineText)
{
    NEED_KERNEL_BTF();
    TempDir tmp;
    ScopedEnv tmpdir("TMPDIR", tmp.path().c_str());
    rtd::BpfCompiler compiler(kernel_vmlinux_h(), {}, "");
    std::string source = program_source(core_program);
    const std::string short_one = source;
    source += std::string(6000, '\n');  // blank lines: the same code
    rtd::CompileResult r = compiler.compile(source);
    ASSERT_TRUE(r.ok) << r.diagnostics;
    EXPECT_GT(core_relocation_bytes(r.object), 0u);
    EXPECT_EQ(elf_section(r.object, ".BTF")->find("BPF_CORE_READ(skb, len)"), std::string_view::npos);
    EXPECT_TRUE(cache_entries(tmp.path()).empty()) << "no source copy was made";
    rtd::CompileResult quoted = compiler.compile(short_one);
    ASSERT_TRUE(quoted.ok) << quoted.diagnostics;
    EXPECT_NE(elf_section(quoted.object, ".BTF")->find("BPF_CORE_READ(skb, len)"), std::string_view::npos) << "the short one keeps it";
}

TEST(BpfCompiler, RepeatedCoreCompilesKeepTheirRelocations)
{
    // In one LLVM process the second compile of the same CO-RE access can
    // lose its relocation (runtime/compile_child.h). Each child starts clean.
    NEED_KERNEL_BTF();
    rtd::BpfCompiler compiler(kernel_vmlinux_h(), {}, "");
    rtd::CompileResult a = compiler.compile(program_source(core_program));
    rtd::CompileResult b = compiler.compile(program_source(core_program));
    ASSERT_TRUE(a.ok) << a.diagnostics;
    ASSERT_TRUE(b.ok) << b.diagnostics;
    EXPECT_GT(core_relocation_bytes(b.object), 0u);
    EXPECT_EQ(a.object, b.object) << "compiles are deterministic";
}

TEST(BpfCompiler, LoadsIntoTheKernel)
{
    NEED_KERNEL_BTF();
    RTD_NEED_KERNEL(rtd::test::have_root(), "loading BPF programs needs root");
    rtd::BpfCompiler compiler(kernel_vmlinux_h(), {}, "");
    rtd::CompileResult r = compiler.compile(program_source(core_program));
    ASSERT_TRUE(r.ok) << r.diagnostics;
    bpf_object* obj = bpf_object__open_mem(r.object.data(), r.object.size(), nullptr);
    ASSERT_NE(obj, nullptr);
    int err = bpf_object__load(obj);
    bpf_object__close(obj);
    EXPECT_EQ(err, 0) << "the verifier rejected the CO-RE program: " << std::strerror(-err);
}

TEST(BpfCompilerCache, ASecondCompileIsAHitWithTheSameBytes)
{
    NEED_KERNEL_BTF();
    TempDir dir;
    ASSERT_FALSE(dir.path().empty());
    std::string cache = dir.path() + "/nested/cache";  // created on demand
    rtd::BpfCompiler compiler(kernel_vmlinux_h(), {}, cache);
    rtd::CompileResult cold = compiler.compile(program_source(tiny_program));
    ASSERT_TRUE(cold.ok) << cold.diagnostics;
    EXPECT_FALSE(cold.cached);

    rtd::CompileResult hit = compiler.compile(program_source(tiny_program));
    ASSERT_TRUE(hit.ok);
    EXPECT_TRUE(hit.cached);
    EXPECT_EQ(hit.object, cold.object);

    auto entries = cache_entries(cache);
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(fs::path(entries[0]).extension(), ".o");
    EXPECT_EQ(fs::path(entries[0]).stem().string().size(), 32u) << "a 128-bit key in hex";
    struct stat st;
    ASSERT_EQ(::stat(cache.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);

    // A new compiler over the same inputs (another run) hits too.
    rtd::BpfCompiler again(kernel_vmlinux_h(), {}, cache);
    EXPECT_TRUE(again.compile(program_source(tiny_program)).cached);
}

TEST(BpfCompilerCache, ACorruptEntryIsAMissAndIsReplaced)
{
    NEED_KERNEL_BTF();
    TempDir dir;
    rtd::BpfCompiler compiler(kernel_vmlinux_h(), {}, dir.path());
    rtd::CompileResult cold = compiler.compile(program_source(tiny_program));
    ASSERT_TRUE(cold.ok) << cold.diagnostics;
    auto entries = cache_entries(dir.path());
    ASSERT_EQ(entries.size(), 1u);
    std::ofstream(entries[0], std::ios::binary | std::ios::trunc) << "not an object";

    rtd::CompileResult again = compiler.compile(program_source(tiny_program));
    ASSERT_TRUE(again.ok) << again.diagnostics;
    EXPECT_FALSE(again.cached);
    EXPECT_EQ(again.object, cold.object);
    EXPECT_EQ(read_whole(entries[0]), cold.object) << "the entry was rewritten";

    // Cut in half (ELF magic intact) or to nothing: also misses.
    std::ofstream(entries[0], std::ios::binary | std::ios::trunc) << cold.object.substr(0, cold.object.size() / 2);
    EXPECT_FALSE(compiler.compile(program_source(tiny_program)).cached);
    std::ofstream(entries[0], std::ios::binary | std::ios::trunc);
    EXPECT_FALSE(compiler.compile(program_source(tiny_program)).cached);
    EXPECT_TRUE(compiler.compile(program_source(tiny_program)).cached);
}

TEST(BpfCompilerCache, EveryInputIsPartOfTheKey)
{
    TempDir dir;
    const std::string source = "#include \"x.h\"\nint f(void) { return X; }\n";
    auto compile = [&](std::string vmlinux, std::string header_text, std::string src) {
        rtd::BpfCompiler c(std::move(vmlinux), {{"x.h", std::move(header_text)}}, dir.path());
        return c.compile(src);
    };
    ASSERT_TRUE(compile("", "#define X 1\n", source).ok);
    EXPECT_TRUE(compile("", "#define X 1\n", source).cached);
    EXPECT_FALSE(compile("", "#define X 2\n", source).cached) << "header text";
    EXPECT_FALSE(compile("/* other kernel */", "#define X 1\n", source).cached) << "vmlinux.h";
    EXPECT_FALSE(compile("", "#define X 1\n", source + "\n").cached) << "source";
    EXPECT_EQ(cache_entries(dir.path()).size(), 4u);
}

TEST(BpfCompilerCache, FailuresAndEmptyDirAreNotCached)
{
    TempDir dir;
    rtd::BpfCompiler compiler("", {}, dir.path());
    EXPECT_FALSE(compiler.compile("int broken(").ok);
    EXPECT_TRUE(cache_entries(dir.path()).empty());

    rtd::BpfCompiler uncached("", {}, "");
    ASSERT_TRUE(uncached.compile("int f(void) { return 0; }\n").ok);
    EXPECT_FALSE(uncached.compile("int f(void) { return 0; }\n").cached);
}

TEST(BpfCompilerCache, DefaultDirFollowsXdgThenHome)
{
    {
        ScopedEnv xdg("XDG_CACHE_HOME", "/xdg/cache");
        ScopedEnv home("HOME", "/home/u");
        EXPECT_EQ(rtd::BpfCompiler::default_cache_dir(), "/xdg/cache/rtrace-drop");
    }
    {
        ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
        ScopedEnv home("HOME", "/home/u");
        EXPECT_EQ(rtd::BpfCompiler::default_cache_dir(), "/home/u/.cache/rtrace-drop");
    }
    {
        ScopedEnv xdg("XDG_CACHE_HOME", "relative/is/ignored");
        ScopedEnv home("HOME", "/home/u");
        EXPECT_EQ(rtd::BpfCompiler::default_cache_dir(), "/home/u/.cache/rtrace-drop");
    }
}

}  // namespace
