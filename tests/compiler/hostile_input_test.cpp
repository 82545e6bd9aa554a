// Rule packs and BTF files travel between teams: treat them as hostile.
// Nothing a rule file says may reach the generated C except through the
// grammar, and a BTF file may not put anything but identifiers there or
// send the compiler into a loop.
#include <gtest/gtest.h>

#include <bpf/btf.h>

#include <filesystem>
#include <fstream>

#include "compiler/codegen.h"
#include "compiler/filter.h"
#include "compiler/typecheck.h"
#include "tests/compiler/test_util.h"

namespace rtd {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// The C a rule file compiles to against the fixture BTF, or "" when the
// front end or the type checker refuses it (with `diagnostics`).
std::string generated_c(const std::vector<std::string>& paths, std::string& diagnostics, const EmitOptions& options = {})
{
    test::Checked front = test::check_paths(paths);
    diagnostics = front.diagnostics;
    if (!front.ok) return {};
    Diagnostics& d = front.frontend->diagnostics();
    auto typed = type_check(front.rules(), test::fixture_btf(), front.frontend->sources(), d);
    diagnostics = d.render(front.frontend->sources());
    if (d.has_errors()) return {};
    return lower_and_emit(front.rules(), typed, test::fixture_btf(), front.frontend->sources(), options).source;
}

class Injection : public testing::TestWithParam<std::string> {};

TEST_P(Injection, PayloadNeverReachesTheGeneratedC)
{
    std::string diagnostics;
    std::string c = generated_c({RTD_TEST_DATA "/injection/" + GetParam()}, diagnostics);
    if (c.empty()) {
        EXPECT_NE(diagnostics.find("error: "), std::string::npos) << "refused without saying why: " << diagnostics;
        return;
    }
    EXPECT_EQ(c.find("PWNED"), std::string::npos) << c;
    for (const char* helper : {"bpf_probe_write_user", "bpf_override_return", "bpf_send_signal", "#include \"/", "#define PWNED"})
        EXPECT_EQ(c.find(helper), std::string::npos) << helper;
}

INSTANTIATE_TEST_SUITE_P(Corpus, Injection, testing::ValuesIn(test::files_with_extension(RTD_TEST_DATA "/injection", ".rule")),
                         test::file_test_name);

// Some of the corpus must get through to code generation, or the test
// above proves nothing about the generated C.
TEST(Injection, SomePayloadsAreAcceptedAsPlainText)
{
    for (const char* file : {"message_string.rule", "comment_newline.rule", "string_escapes.rule"}) {
        std::string diagnostics;
        std::string c = generated_c({std::string(RTD_TEST_DATA "/injection/") + file}, diagnostics);
        EXPECT_FALSE(c.empty()) << file << ": " << diagnostics;
    }
}

TEST(Injection, FileNamesStayOutOfTheCode)
{
    TempDir t;
    std::string path = t.write("x*/ int PWNED; /*\n#include <PWNED>.rule",
                               "rule t.name {\n layer l4\n probe kprobe:tcp_conn_request\n capture q = sk.sk_ack_backlog\n}\n");
    std::string diagnostics;
    std::string c = generated_c({path}, diagnostics);
    ASSERT_FALSE(c.empty()) << diagnostics;
    EXPECT_EQ(c.find("PWNED"), std::string::npos) << c;
}

TEST(Injection, FilterStringsBecomeBytes)
{
    SourceManager sources;
    Diagnostics fd;
    EmitOptions options;
    options.filter = compile_filter("comm == \"\\\");PWNED(\\\"\" || dev == \"*/PWNED\"", sources, fd);
    ASSERT_TRUE(options.filter) << fd.render(sources);
    std::string diagnostics;
    std::string c = generated_c({RTD_TEST_DATA "/injection/message_string.rule"}, diagnostics, options);
    ASSERT_FALSE(c.empty()) << diagnostics;
    EXPECT_EQ(c.find("PWNED"), std::string::npos);
    EXPECT_EQ(c.find("bpf_probe_write_user"), std::string::npos);
}

// ---- hostile BTF -------------------------------------------------------

// Writes `b`'s raw BTF to a file below `t` and loads it.
std::unique_ptr<Btf> load_raw(const TempDir& t, struct btf* b, std::string& error)
{
    std::uint32_t size = 0;
    const void* raw = btf__raw_data(b, &size);
    std::string path = t.write("hostile.btf", std::string(static_cast<const char*>(raw), size));
    btf__free(b);
    return Btf::load(path, error);
}

TEST(HostileBtf, NamesThatAreNotIdentifiersAreRefused)
{
    TempDir t;
    for (const char* bad : {"x; bpf_probe_write_user(0,0,0)", "a b", "9lives", "x*/", "tab\tname"}) {
        SCOPED_TRACE(bad);
        struct btf* b = btf__new_empty();
        int u32 = btf__add_int(b, "unsigned int", 4, 0);
        btf__add_struct(b, "sock", 4);
        btf__add_field(b, bad, u32, 0, 0);
        std::string error;
        EXPECT_EQ(load_raw(t, b, error), nullptr);
        EXPECT_NE(error.find("refused: type #2 has the name"), std::string::npos) << error;
        EXPECT_NE(error.find("which is not a C identifier"), std::string::npos) << error;
    }
    struct btf* b = btf__new_empty();
    btf__add_int(b, "long long unsigned int", 8, 0);  // integer names are never emitted: fine
    int proto = btf__add_func_proto(b, 0);
    btf__add_func(b, "tcp_v4_rcv", BTF_FUNC_GLOBAL, proto);
    std::string error;
    EXPECT_NE(load_raw(t, b, error), nullptr) << error;
}

TEST(HostileBtf, SelfNestedAnonymousMembersEndInAnError)
{
    TempDir t;
    struct btf* b = btf__new_empty();
    int u32 = btf__add_int(b, "unsigned int", 4, 0);
    int loop = btf__add_struct(b, "loop", 8);  // its only member is an anonymous 'struct loop'
    btf__add_field(b, nullptr, loop, 0, 0);
    btf__add_field(b, "x", u32, 32, 0);
    int ptr = btf__add_ptr(b, loop);
    int proto = btf__add_func_proto(b, u32);
    btf__add_func_param(b, "l", ptr);
    btf__add_func(b, "hostile_fn", BTF_FUNC_GLOBAL, proto);
    std::string error;
    std::unique_ptr<Btf> btf = load_raw(t, b, error);
    ASSERT_NE(btf, nullptr) << error;

    test::Checked front = test::check_text("rule t.loop {\n layer l4\n probe kprobe:hostile_fn\n capture v = l.nothere\n}\n");
    ASSERT_TRUE(front.ok) << front.diagnostics;
    Diagnostics& d = front.frontend->diagnostics();
    type_check(front.rules(), *btf, front.frontend->sources(), d);
    EXPECT_TRUE(d.has_errors());
    EXPECT_NE(d.render(front.frontend->sources()).find("error: "), std::string::npos);
}

TEST(HostileBtf, TypedefCyclesEnd)
{
    TempDir t;
    struct btf* b = btf__new_empty();
    int u32 = btf__add_int(b, "unsigned int", 4, 0);
    int a = btf__add_typedef(b, "a_t", 3);  // a_t -> b_t -> a_t
    btf__add_typedef(b, "b_t", a);
    int proto = btf__add_func_proto(b, u32);
    btf__add_func_param(b, "v", a);
    btf__add_func(b, "cyclic_fn", BTF_FUNC_GLOBAL, proto);
    std::string error;
    std::unique_ptr<Btf> btf = load_raw(t, b, error);
    ASSERT_NE(btf, nullptr) << "libbpf accepts the cycle; our walks must end on it: " << error;
    test::Checked front = test::check_text("rule t.cycle {\n layer l4\n probe kprobe:cyclic_fn\n capture v = v.x\n drop if v + 1 > 2\n}\n");
    ASSERT_TRUE(front.ok) << front.diagnostics;
    Diagnostics& d = front.frontend->diagnostics();
    type_check(front.rules(), *btf, front.frontend->sources(), d);
    EXPECT_TRUE(d.has_errors());
}

TEST(HostileBtf, GarbageAndTruncatedFilesAreErrors)
{
    TempDir t;
    std::string error;
    EXPECT_EQ(Btf::load(t.write("zero.btf", std::string(4096, '\0')), error), nullptr);
    EXPECT_FALSE(error.empty());
    std::string real = test::read_file(RTD_FIXTURE_BTF);
    for (std::size_t cut : {std::size_t(16), real.size() / 3, real.size() / 2, real.size() - 1}) {
        error.clear();
        auto btf = Btf::load(t.write("cut.btf", real.substr(0, cut)), error);
        EXPECT_EQ(btf, nullptr) << cut;
        EXPECT_FALSE(error.empty()) << cut;
    }
    // Header claiming more than the file holds.
    struct btf* b = btf__new_empty();
    btf__add_int(b, "int", 4, BTF_INT_SIGNED);
    std::uint32_t size = 0;
    const char* raw = static_cast<const char*>(btf__raw_data(b, &size));
    std::string bytes(raw, size);
    btf__free(b);
    bytes[8] = '\xff';  // hdr_len
    bytes[9] = '\xff';
    error.clear();
    EXPECT_EQ(Btf::load(t.write("header.btf", bytes), error), nullptr);
    EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace rtd
