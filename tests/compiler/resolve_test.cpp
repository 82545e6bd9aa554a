// Name resolution: imports, scopes, constants, macros, identifier kinds.
#include <gtest/gtest.h>

#include "compiler/ast_dump.h"
#include "tests/compiler/test_util.h"

namespace rtd {
namespace {

using test::check_paths;
using test::check_text;
using test::expr_of;
using test::TempDir;

const char* kRuleUsingX = "use \"x\"\nrule a.r {\n layer l4\n probe kprobe:f\n drop if arg == X\n}\n";

std::string condition_of(const test::Checked& c)
{
    return dump_expr(*c.rules().at(0)->condition, c.frontend->sources(), false);
}

test::Checked load_with(const std::vector<std::string>& paths, SearchPaths search)
{
    test::Checked c;
    c.frontend = std::make_unique<Frontend>(std::move(search));
    c.ok = c.frontend->load(paths);
    c.diagnostics = c.frontend->diagnostics().render(c.frontend->sources());
    return c;
}

TEST(Imports, PackFolderBeforeStdlibBeforeSearchPath)
{
    TempDir t;
    std::string rule = t.write("pack/a.rule", kRuleUsingX);
    t.write("pack/x.rule", "const X = 1\n");
    t.write("std/x.rule", "const X = 2\n");
    t.write("extra/x.rule", "const X = 3\n");
    SearchPaths paths{{t.path() + "/std"}, {t.path() + "/extra"}};
    auto c = load_with({rule}, paths);
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_EQ(condition_of(c), "(== (kernel arg) 1=X)");

    std::filesystem::remove(t.path() + "/pack/x.rule");
    c = load_with({rule}, paths);
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_EQ(condition_of(c), "(== (kernel arg) 2=X)");

    std::filesystem::remove(t.path() + "/std/x.rule");
    c = load_with({rule}, paths);
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_EQ(condition_of(c), "(== (kernel arg) 3=X)");

    std::filesystem::remove(t.path() + "/extra/x.rule");
    c = load_with({rule}, paths);
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("error: cannot find 'x' to import"), std::string::npos) << c.diagnostics;
    EXPECT_NE(c.diagnostics.find("note: searched "), std::string::npos);
}

TEST(Imports, PackRootIsSearchedFromSubfolders)
{
    TempDir t;
    t.write("pack/pack.toml", "name = \"a\"\n");
    t.write("pack/x.rule", "const X = 7\n");
    std::string rule = t.write("pack/sub/a.rule", kRuleUsingX);
    auto c = load_with({rule}, {});
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_EQ(condition_of(c), "(== (kernel arg) 7=X)");
}

TEST(Imports, CycleIsAnError)
{
    TempDir t;
    std::string a = t.write("a.rule", "use \"b\"\nconst A = 1\n");
    t.write("b.rule", "use \"a\"\nconst B = 2\n");
    auto c = load_with({a}, {});
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("b.rule:1:5-7: error: import cycle: "), std::string::npos) << c.diagnostics;
}

TEST(Imports, SelfImportIsACycle)
{
    TempDir t;
    std::string a = t.write("a.rule", "use \"a\"\n");
    auto c = load_with({a}, {});
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("error: import cycle"), std::string::npos) << c.diagnostics;
}

TEST(Imports, DiamondLoadsEachFileOnce)
{
    TempDir t;
    std::string a = t.write("a.rule", "use \"b\"\nuse \"c\"\nrule a.r {\n layer l4\n probe kprobe:f\n drop if x == B + C\n}\n");
    t.write("b.rule", "use \"d\"\nconst B = D\n");
    t.write("c.rule", "use \"d\"\nconst C = D * 10\n");
    t.write("d.rule", "const D = 1\n");
    auto c = load_with({a}, {});
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_EQ(c.frontend->modules().size(), 4u);
    EXPECT_EQ(condition_of(c), "(== (kernel x) 11)");
}

TEST(Imports, AreNotTransitive)
{
    TempDir t;
    std::string a = t.write("a.rule", "use \"b\"\nconst A = D\n");
    t.write("b.rule", "use \"d\"\nconst B = D\n");
    t.write("d.rule", "const D = 1\n");
    auto c = load_with({a}, {});
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("a.rule:2:11: error: 'D' is not a constant"), std::string::npos) << c.diagnostics;
}

TEST(Imports, ConflictingDefinitions)
{
    TempDir t;
    std::string a = t.write("a.rule", "use \"b\"\nuse \"c\"\n");
    t.write("b.rule", "const X = 1\n");
    t.write("c.rule", "const X = 2\n");
    auto c = load_with({a}, {});
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("a.rule:2:5-7: error: 'X' is defined by both"), std::string::npos) << c.diagnostics;

    std::string own = t.write("own.rule", "use \"b\"\nconst X = 5\n");
    c = load_with({own}, {});
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("own.rule:2:7: error: 'X' is also defined by"), std::string::npos) << c.diagnostics;
}

TEST(Imports, RulesInImportedFilesWarn)
{
    TempDir t;
    std::string a = t.write("a.rule", "use \"b\"\n");
    t.write("b.rule", "rule b.r {\n layer l4\n probe kprobe:f\n}\n");
    auto c = load_with({a}, {});
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_TRUE(c.rules().empty());
    EXPECT_NE(c.diagnostics.find("b.rule' defines 1 rule; 'use' imports only its constants and macros"),
              std::string::npos)
        << c.diagnostics;
    // Named on the command line too, its rule is loaded and nothing is said.
    c = load_with({a, t.path() + "/b.rule"}, {});
    ASSERT_TRUE(c.ok);
    EXPECT_EQ(c.rules().size(), 1u);
    EXPECT_EQ(c.diagnostics, "");
}

TEST(Imports, FolderLoadsEveryRuleFileSorted)
{
    TempDir t;
    t.write("p/b.rule", "rule p.b {\n layer l4\n probe kprobe:f\n}\n");
    t.write("p/a.rule", "rule p.a {\n layer l4\n probe kprobe:f\n}\n");
    t.write("p/sub/c.rule", "monitor p.c {\n layer l1\n source link:rx_dropped\n drop if delta > 0\n}\n");
    t.write("p/notes.txt", "not a rule");
    auto c = load_with({t.path() + "/p"}, {});
    ASSERT_TRUE(c.ok) << c.diagnostics;
    ASSERT_EQ(c.rules().size(), 3u);
    EXPECT_EQ(c.rules()[0]->id, "p.a");
    EXPECT_EQ(c.rules()[1]->id, "p.b");
    EXPECT_EQ(c.rules()[2]->id, "p.c");
}

TEST(Imports, MissingAndEmptyInputs)
{
    TempDir t;
    auto c = load_with({t.path() + "/nope.rule"}, {});
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("nope.rule: error: cannot load file: no such file"), std::string::npos) << c.diagnostics;
    std::filesystem::create_directories(t.path() + "/empty");
    c = load_with({t.path() + "/empty"}, {});
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("error: no .rule files in this folder"), std::string::npos) << c.diagnostics;
}

TEST(Constants, FoldAcrossDefinitionsInAnyOrder)
{
    EXPECT_EQ(expr_of("A * 2 - -EXDEV", "const A = B + 1\nconst B = 0x10\nconst EXDEV = 18"), "52");
    EXPECT_EQ(expr_of("(u8)-1 + (s8)255", ""), "254u");  // 255u + -1: unsigned wins, as in C
    EXPECT_NE(expr_of("ret == -EXDEV", "const EXDEV = 18").find("error: 'ret' is only available in kretprobe probes"),
              std::string::npos);
}

TEST(Macros, HygieneKeepsRuleNamesOutOfBodies)
{
    // The body's 'max' is not the rule's capture 'max': it is a kernel name.
    auto c = check_text("def over(x) = x > max\n"
                        "rule a.b {\n layer l4\n probe kprobe:f\n capture max = 1 + lim\n drop if over(max)\n}\n");
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_EQ(condition_of(c), "(>{over} (capture max) (kernel max{over}))");
}

TEST(Macros, ArgumentsResolveAtTheCallSite)
{
    // 'x' in the argument is the rule's capture even though the macro's parameter is also 'x'.
    auto c = check_text("def inc(x) = x + 1\n"
                        "rule a.b {\n layer l4\n probe kprobe:f\n capture x = 5 + y\n drop if inc(x) > 2\n}\n");
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_EQ(condition_of(c), "(> (+{inc} (capture x) 1{inc}) 2)");
}

TEST(Macros, ExpandedErrorsPointAtTheCallWithNotes)
{
    auto c = check_text("def inner(x) = x / 0\n"
                        "def outer(y) = inner(y) + 1\n"
                        "rule a.b {\n layer l4\n probe kprobe:f\n drop if outer(arg)\n}\n");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.diagnostics,
              "test.rule:6:10-19: error: division by zero\n"
              "     drop if outer(arg)\n"
              "             ~~~~~~~~~~\n"
              "note: expanded from macro 'outer' at test.rule:2:16\n"
              "note: expanded from macro 'inner' at test.rule:1:20\n");
}

TEST(Macros, RetInsideAMacroFollowsTheCallingRule)
{
    std::string defs = "def failed() = ret < 0\n";
    auto ok = check_text(defs + "rule a.b {\n layer l3\n probe kretprobe:f\n drop if failed()\n}\n");
    EXPECT_TRUE(ok.ok) << ok.diagnostics;
    auto bad = check_text(defs + "rule a.b {\n layer l3\n probe kprobe:f\n drop if failed()\n}\n");
    EXPECT_FALSE(bad.ok);
    EXPECT_NE(bad.diagnostics.find("test.rule:5:10-17: error: 'ret' is only available in kretprobe probes"),
              std::string::npos)
        << bad.diagnostics;
    EXPECT_NE(bad.diagnostics.find("note: expanded from macro 'failed' at test.rule:1:16"), std::string::npos);
}

TEST(Macros, ExponentialExpansionIsRefused)
{
    std::string defs = "def a0(x) = x + x\n";
    for (int i = 1; i < 30; ++i) defs += "def a" + std::to_string(i) + "(x) = a" + std::to_string(i - 1) + "(a" + std::to_string(i - 1) + "(x))\n";
    std::string out = expr_of("a29(y)", defs);
    EXPECT_NE(out.find("error: macro expansion is too large"), std::string::npos) << out.substr(0, 500);
}

TEST(Identifiers, KindsAfterResolution)
{
    auto c = check_text("rule a.b {\n layer l3\n probe kretprobe:f\n capture q = sk.x\n drop if ret != 0 && q > 1\n}\n"
                        "monitor a.m {\n layer l4\n source snmp:TcpExtListenOverflows\n drop if delta > 0 && rate > value\n}\n");
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_EQ(condition_of(c), "(&& (!= (ret ret) 0) (> (capture q) 1))");
    EXPECT_EQ(dump_expr(*c.rules()[1]->condition, c.frontend->sources(), false),
              "(&& (> (value delta) 0) (> (value rate) (value value)))");
}

TEST(Identifiers, ParamsFoldToTheirDefault)
{
    auto c = check_text("rule a.b {\n layer l4\n param max_ratio = 90\n probe kprobe:f\n drop if used * 100 > max_ratio * total\n}\n");
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_EQ(condition_of(c), "(> (* (kernel used) 100) (* 90=max_ratio (kernel total)))");
}

TEST(Identifiers, CapturesMayUseEachOtherWithoutCycles)
{
    auto ok = check_text("rule a.b {\n layer l4\n probe kprobe:f\n capture b = a + 1\n capture a = sk.x\n}\n");
    EXPECT_TRUE(ok.ok) << ok.diagnostics;
    auto bad = check_text("rule a.b {\n layer l4\n probe kprobe:f\n capture b = a + 1\n capture a = b\n}\n");
    EXPECT_FALSE(bad.ok);
    EXPECT_NE(bad.diagnostics.find("error: capture 'b' depends on itself"), std::string::npos) << bad.diagnostics;
    EXPECT_NE(bad.diagnostics.find("note: through b -> a -> b"), std::string::npos);
}

TEST(Identifiers, ACaptureNamedLikeAnArgumentReadsTheArgument)
{
    // examples/design.rule's iptables rule: the capture 'table' reads the kernel argument 'table'.
    auto c = check_text("rule a.b {\n layer l3\n probe kretprobe:f\n capture table = ((struct xt_table *)priv).name ?? table.name\n"
                        " drop if table == 0\n}\n");
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_EQ(dump_expr(*c.rules()[0]->captures[0].expr, c.frontend->sources(), false),
              "(?? (. name (cast 'struct xt_table *' (kernel priv))) (. name (kernel table)))");
    EXPECT_EQ(condition_of(c), "(== (capture table) 0)");
}

TEST(Checks, AlwaysTrueConditionWarns)
{
    auto c = check_text("const ON = 1\nrule a.b {\n layer l4\n probe kprobe:f\n drop if ON\n}\n");
    ASSERT_TRUE(c.ok) << c.diagnostics;
    EXPECT_NE(c.diagnostics.find("test.rule:5:10-11: warning: condition is always true"), std::string::npos) << c.diagnostics;
}

}  // namespace
}  // namespace rtd
