// `rtrace-drop import`: the original tool's TOML -> .rule (compiler/import_legacy.h).
//   data/import/NAME.toml          imports to exactly NAME.rule (no BTF) and
//                                  NAME.fixture.rule (the fixture BTF, its path
//                                  written as @BTF@), with the notes in
//                                  NAME.notes / NAME.fixture.notes
//   data/import/errors/NAME.toml   fails with exactly the diagnostics in NAME.expected
// Every imported text must load with the front end, and type-check against
// the BTF it was imported with (the fixture's, and the running kernel's when
// /sys/kernel/btf/vmlinux exists).
// RTRACE_DROP_UPDATE_GOLDEN=1 rewrites the expected files instead of comparing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "compiler/import_legacy.h"
#include "compiler/typecheck.h"
#include "tests/compiler/test_util.h"
#include "tests/kernel_support.h"

namespace rtd {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(RTD_TEST_DATA) / "import";
bool updating() { return std::getenv("RTRACE_DROP_UPDATE_GOLDEN") != nullptr; }

// The running kernel's BTF; a file that exists but cannot be loaded fails
// the test rather than skipping it.
const Btf* kernel()
{
    static std::string error;
    static std::unique_ptr<Btf> btf = rtd::test::have_kernel_btf() ? Btf::load(rtd::test::kKernelBtf, error) : nullptr;
    if (rtd::test::have_kernel_btf()) EXPECT_NE(btf, nullptr) << rtd::test::kKernelBtf << ": " << error;
    return btf.get();
}

struct Imported {
    std::optional<ImportResult> result;
    std::string diagnostics;
};

Imported import(const std::string& text, const std::string& display, const Btf* btf)
{
    SourceManager sources;
    Diagnostics diags;
    Imported out;
    out.result = import_legacy_config(text, display, btf, diags, sources);
    out.diagnostics = diags.render(sources);
    return out;
}

Imported import_file(const std::string& name, const Btf* btf)
{
    return import(test::read_file((kDir / name).string()), name, btf);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to)
{
    for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size())
        s.replace(at, from.size(), to);
    return s;
}

std::string joined(const std::vector<std::string>& lines)
{
    std::string out;
    for (const std::string& l : lines) out += l + "\n";
    return out;
}

void expect_file(const fs::path& path, const std::string& actual)
{
    if (updating()) {
        std::ofstream(path) << actual;
        return;
    }
    ASSERT_TRUE(fs::exists(path)) << path << " is missing (RTRACE_DROP_UPDATE_GOLDEN=1 writes it)";
    EXPECT_EQ(actual, test::read_file(path.string())) << "for " << path;
}

// Loads `text` with the front end (stdlib on the path) and, with `btf`,
// type-checks it. Returns the rendered diagnostics; `ok` says whether there
// were errors.
std::string check_rules(const std::string& text, const Btf* btf, bool& ok, std::size_t* rules = nullptr)
{
    test::Checked c = test::check_text(text, "imported.rule");
    ok = c.ok;
    if (!ok) return c.diagnostics;
    if (rules) *rules = c.rules().size();
    if (btf) {
        Diagnostics& d = c.frontend->diagnostics();
        type_check(c.rules(), *btf, c.frontend->sources(), d);
        ok = !d.has_errors();
        return d.render(c.frontend->sources());
    }
    return c.diagnostics;
}

// ---- the seed's examples and the extra cases ----------------------------------------

class Golden : public testing::TestWithParam<std::string> {};

TEST_P(Golden, WithoutBtf)
{
    std::string stem = fs::path(GetParam()).stem().string();
    Imported got = import_file(GetParam(), nullptr);
    ASSERT_TRUE(got.result) << got.diagnostics;
    EXPECT_EQ(got.diagnostics, "");
    expect_file(kDir / (stem + ".rule"), got.result->rule_text);
    expect_file(kDir / (stem + ".notes"), joined(got.result->notes));

    bool ok = false;
    std::size_t rules = 0;
    std::string diags = check_rules(got.result->rule_text, nullptr, ok, &rules);
    EXPECT_TRUE(ok) << diags << got.result->rule_text;
    EXPECT_EQ(diags, "");
    EXPECT_GT(rules, 0u);
}

TEST_P(Golden, WithFixtureBtf)
{
    std::string stem = fs::path(GetParam()).stem().string();
    Imported got = import_file(GetParam(), &test::fixture_btf());
    ASSERT_TRUE(got.result) << got.diagnostics;
    std::string text = replace_all(got.result->rule_text, test::fixture_btf().path(), "@BTF@");
    expect_file(kDir / (stem + ".fixture.rule"), text);
    expect_file(kDir / (stem + ".fixture.notes"), joined(got.result->notes));

    // Functions the fixture lacks are warnings; everything else checks.
    bool ok = false;
    std::string diags = check_rules(got.result->rule_text, &test::fixture_btf(), ok);
    EXPECT_TRUE(ok) << diags << got.result->rule_text;
    EXPECT_EQ(diags.find("error:"), std::string::npos) << diags;
}

TEST_P(Golden, WithKernelBtf)
{
    RTD_NEED_KERNEL(kernel() != nullptr, "no usable /sys/kernel/btf/vmlinux");
    Imported got = import_file(GetParam(), kernel());
    ASSERT_TRUE(got.result) << got.diagnostics;
    bool ok = false;
    std::string diags = check_rules(got.result->rule_text, kernel(), ok);
    EXPECT_TRUE(ok) << diags << got.result->rule_text;
    EXPECT_EQ(diags.find("error:"), std::string::npos) << diags;
}

TEST_P(Golden, Deterministic)
{
    for (const Btf* btf : {static_cast<const Btf*>(nullptr), &test::fixture_btf()}) {
        Imported a = import_file(GetParam(), btf);
        Imported b = import_file(GetParam(), btf);
        ASSERT_TRUE(a.result && b.result);
        EXPECT_EQ(a.result->rule_text, b.result->rule_text);
        EXPECT_EQ(a.result->notes, b.result->notes);
    }
}

INSTANTIATE_TEST_SUITE_P(Import, Golden, testing::ValuesIn(test::files_with_extension(kDir.string(), ".toml")), test::file_test_name);

// The documented conditions are real rule text: uncommented, the seed's
// imports still type-check on the running kernel.
TEST(Import, DocumentedConditionsTypeCheck)
{
    RTD_NEED_KERNEL(kernel() != nullptr, "no usable /sys/kernel/btf/vmlinux");
    for (const char* name : {"seed_tcp.toml", "seed_iptables.toml", "seed_fib.toml"}) {
        Imported got = import_file(name, kernel());
        ASSERT_TRUE(got.result) << got.diagnostics;
        std::string text = replace_all(got.result->rule_text, "    # drop if ", "    drop if ");
        ASSERT_NE(text, got.result->rule_text) << name << " has no documented condition";
        bool ok = false;
        std::string diags = check_rules(text, kernel(), ok);
        EXPECT_TRUE(ok) << name << ":\n" << diags << text;
    }
}

TEST(Import, SeedFixtureConditionsTypeCheck)
{
    // The same on the fixture kernel, for the functions it has.
    Imported got = import_file("seed_iptables.toml", &test::fixture_btf());
    ASSERT_TRUE(got.result);
    std::string text = replace_all(got.result->rule_text, "    # drop if ", "    drop if ");
    bool ok = false;
    std::string diags = check_rules(text, &test::fixture_btf(), ok);
    EXPECT_TRUE(ok) << diags << text;
}

// ---- small cases ----------------------------------------------------------------

TEST(Import, EmptyFile)
{
    Imported got = import("# nothing yet\n", "old.toml", nullptr);
    ASSERT_TRUE(got.result);
    EXPECT_NE(got.result->rule_text.find("# The file has no drop points."), std::string::npos);
    EXPECT_EQ(got.result->notes, std::vector<std::string>{"old.toml: the file has no drop points"});
    bool ok = false;
    check_rules(got.result->rule_text, nullptr, ok);
    EXPECT_TRUE(ok);
}

TEST(Import, ExpressionsCannotEscapeTheirClause)
{
    // Text that would end the capture, the rule or the line never reaches
    // the output as rule text, only inside a comment.
    std::string toml = "[[function]]\nname = \"f\"\n"
                       "exprs = [\"sk\\n}\\nrule x.y {\", \"a # b\", \"a } b\", \"\\\"s\\\"\"]\n";
    Imported got = import(toml, "old.toml", nullptr);
    ASSERT_TRUE(got.result) << got.diagnostics;
    bool ok = false;
    std::size_t rules = 0;
    std::string diags = check_rules(got.result->rule_text, nullptr, ok, &rules);
    EXPECT_TRUE(ok) << diags;
    EXPECT_EQ(rules, 1u) << got.result->rule_text;
    EXPECT_EQ(got.result->notes.size(), 4u);
    EXPECT_EQ(got.result->rule_text.find("    capture "), std::string::npos) << got.result->rule_text;
}

TEST(Import, NonAsciiColumnsAreBytes)
{
    // toml++ counts columns in code points; diagnostics count bytes.
    Imported got = import("[[function]] # é\nname = \"f\"\n\"é\" = 1 ; x\n", "old.toml", nullptr);
    EXPECT_FALSE(got.result);
    EXPECT_NE(got.diagnostics.find("old.toml:3:10: error: invalid TOML"), std::string::npos) << got.diagnostics;
}

TEST(Import, OddInputsGiveLoadableRulesOrErrors)
{
    // Whatever the old file holds, the import either fails with located
    // errors or produces text the front end loads without errors.
    const char* inputs[] = {
        "",
        "[[function]]\nname = \"a.isra.0\"\nparams = [\"basic\", \"basic\", \"kretprobe\"]\n",
        "[[function]]\nname = \"a..b\"\n",
        "[[function]]\nname = \"a\"\nskb = 13\n",
        "[[function]]\nname = \"ret\"\nexprs = [\"ret\", \"value\", \"len\", \"rule\", \"x.len\", \"y.len\", \"z.len\"]\n",
        "[[function]]\nname = \"f\"\nparams = [\"kretprobe\"]\nexprs = [\"ret\", \"retval\", \"x ?? y\", \"(struct sock *)a\", \"a[1]\", \"-1\"]\n",
        "[[function]]\nname = \"f\"\nexprs = [\"\", \"   \", \"\u00e9\", \"a\\tb\"]\n",
        "[[function]]\nname = \"f\"\n[[function]]\nname = \"f\"\n[[f]]\nname = \"f\"\n",
        "[[\"quoted table\"]]\nname = \"f\"\n",
        "[[a.b]]\nname = \"f\"\n",
        "function = []\n",
        "[[\"a\\nrule x.y {\"]]\nname = \"f\"\n\"b\\n}\" = 1\n",
        "[[function]]\nname = \"f\"\n[function.sub]\nx = 1\n",
    };
    for (const char* input : inputs) {
        for (const Btf* btf : {static_cast<const Btf*>(nullptr), &test::fixture_btf()}) {
            Imported got = import(input, "odd.toml", btf);
            if (!got.result) {
                EXPECT_NE(got.diagnostics.find("odd.toml:"), std::string::npos) << input << "\n" << got.diagnostics;
                continue;
            }
            bool ok = false;
            std::string diags = check_rules(got.result->rule_text, nullptr, ok);
            EXPECT_TRUE(ok) << input << "\n" << diags << got.result->rule_text;
        }
    }
}

// ---- errors ----------------------------------------------------------------------

class Errors : public testing::TestWithParam<std::string> {};

TEST_P(Errors, Diagnostics)
{
    std::string stem = fs::path(GetParam()).stem().string();
    Imported got = import(test::read_file((kDir / "errors" / GetParam()).string()), GetParam(), &test::fixture_btf());
    EXPECT_FALSE(got.result) << got.result->rule_text;
    EXPECT_NE(got.diagnostics.find("error:"), std::string::npos);
    expect_file(kDir / "errors" / (stem + ".expected"), got.diagnostics);
}

INSTANTIATE_TEST_SUITE_P(Import, Errors, testing::ValuesIn(test::files_with_extension((kDir / "errors").string(), ".toml")), test::file_test_name);

}  // namespace
}  // namespace rtd
