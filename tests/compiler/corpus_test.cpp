// Folders of inputs with expected outcomes:
//   data/success/*.rule   must check OK (a .expected file, if any, holds its warnings)
//   data/failure/*.rule   must fail with exactly the diagnostics in .expected
//   data/ast/*.rule       resolved AST dumps must equal .ast
// RTRACE_DROP_UPDATE_GOLDEN=1 rewrites the expected files instead of comparing
// (`make golden`); never silently.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "compiler/ast_dump.h"
#include "tests/compiler/test_util.h"

namespace rtd {
namespace {

namespace fs = std::filesystem;

bool updating() { return std::getenv("RTRACE_DROP_UPDATE_GOLDEN") != nullptr; }

// Relative to tests/data, so expected output does not depend on where the
// checkout lives.
test::Checked check_in_data_dir(const std::string& path)
{
    SearchPaths paths;
    paths.stdlib = {"lib", "../../stdlib"};
    test::Checked c;
    c.frontend = std::make_unique<Frontend>(paths);
    c.ok = c.frontend->load({path});
    c.diagnostics = c.frontend->diagnostics().render(c.frontend->sources());
    return c;
}

// Runs inside tests/data so diagnostics show short relative paths.
class InDataDir : public testing::TestWithParam<std::string> {
protected:
    void SetUp() override
    {
        old_ = fs::current_path();
        fs::current_path(RTD_TEST_DATA);
    }
    void TearDown() override { fs::current_path(old_); }

    void compare(const std::string& expected_path, const std::string& actual)
    {
        if (updating()) {
            std::ofstream(expected_path, std::ios::binary) << actual;
            return;
        }
        ASSERT_TRUE(fs::exists(expected_path)) << expected_path << " is missing; run `make golden` and review it";
        EXPECT_EQ(test::read_file(expected_path), actual) << "in " << expected_path;
    }

private:
    fs::path old_;
};

class CorpusSuccess : public InDataDir {};
class CorpusFailure : public InDataDir {};
class GoldenAst : public InDataDir {};

TEST_P(CorpusSuccess, ChecksOk)
{
    std::string path = "success/" + GetParam();
    auto c = check_in_data_dir(path);
    ASSERT_TRUE(c.ok) << c.diagnostics;
    std::string expected = fs::path(path).replace_extension(".expected").string();
    if (fs::exists(expected) || !c.diagnostics.empty()) compare(expected, c.diagnostics);
}

TEST_P(CorpusFailure, FailsWithExactDiagnostics)
{
    std::string path = "failure/" + GetParam();
    auto c = check_in_data_dir(path);
    EXPECT_FALSE(c.ok);
    compare(fs::path(path).replace_extension(".expected").string(), c.diagnostics);
}

TEST_P(GoldenAst, DumpMatches)
{
    std::string path = "ast/" + GetParam();
    auto c = check_in_data_dir(path);
    ASSERT_TRUE(c.ok) << c.diagnostics;
    std::string dump;
    for (const RuleDecl* r : c.rules()) dump += dump_rule(*r, c.frontend->sources());
    compare(fs::path(path).replace_extension(".ast").string(), dump);
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusSuccess, testing::ValuesIn(test::files_with_extension(RTD_TEST_DATA "/success", ".rule")), test::file_test_name);
INSTANTIATE_TEST_SUITE_P(Corpus, CorpusFailure, testing::ValuesIn(test::files_with_extension(RTD_TEST_DATA "/failure", ".rule")), test::file_test_name);
INSTANTIATE_TEST_SUITE_P(Golden, GoldenAst, testing::ValuesIn(test::files_with_extension(RTD_TEST_DATA "/ast", ".rule")), test::file_test_name);

TEST(Corpus, HasEnoughFailureCases)
{
    EXPECT_GE(test::files_with_extension(RTD_TEST_DATA "/failure", ".rule").size(), 30u);
}

// What we ship must check: the standard library, the examples (which hold
// examples/design.rule) and the rule packs, against the real stdlib.
TEST(Shipped, StdlibExamplesAndRulesCheck)
{
    SearchPaths paths;
    paths.stdlib.emplace_back(RTD_TEST_DATA "/../../stdlib");
    for (const char* folder : {"stdlib", "examples", "rules"}) {
        fs::path dir = fs::path(RTD_TEST_DATA) / "../.." / folder;
        bool has_rules = false;
        for (const auto& e : fs::recursive_directory_iterator(dir)) has_rules = has_rules || e.path().extension() == ".rule";
        if (!has_rules) continue;
        Frontend fe(paths);
        bool ok = fe.load({dir.lexically_normal().string()});
        EXPECT_TRUE(ok) << folder << ":\n" << fe.diagnostics().render(fe.sources());
        EXPECT_EQ(fe.diagnostics().warning_count(), 0u) << fe.diagnostics().render(fe.sources());
    }
}

}  // namespace
}  // namespace rtd
