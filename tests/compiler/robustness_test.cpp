// Hostile input: bad encodings, huge files, deep nesting. Each must end in a
// clear error (or success), never a crash or a stack overflow.
#include <gtest/gtest.h>

#include <random>

#include "tests/compiler/test_util.h"

namespace rtd {
namespace {

using test::check_paths;
using test::check_text;
using test::TempDir;

std::string rule_text(int i)
{
    return "rule p.r" + std::to_string(i) + " {\n    layer l4\n    probe tracepoint:skb:kfree_skb\n" +
           "    capture q = rx_sk.sk_ack_backlog + " + std::to_string(i) + "\n    drop if q > 100 && reason == 2\n" +
           "    message \"queue {q}\"\n}\n";
}

TEST(Robustness, NulByte)
{
    auto c = check_text(std::string("rule a.b {\n  layer l4\0\n}\n", 23));
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.diagnostics.substr(0, c.diagnostics.find('\n')), "test.rule:2:11: error: file contains a NUL byte");
}

TEST(Robustness, InvalidUtf8)
{
    for (const char* bad : {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
        auto c = check_text(std::string("# ok é\nconst A = 1 # ") + bad + "\n");
        EXPECT_FALSE(c.ok);
        EXPECT_EQ(c.diagnostics.rfind("test.rule:2:15: error: invalid UTF-8 byte 0x", 0), 0u) << c.diagnostics;
    }
}

TEST(Robustness, Utf8AllowedInCommentsAndStringsOnly)
{
    auto ok = check_text("# überall\nrule a.b {\n layer l4\n probe kprobe:f\n message \"déjà vu ✓\"\n}\n");
    EXPECT_TRUE(ok.ok) << ok.diagnostics;
    auto bad = check_text("const é = 1\n");
    EXPECT_FALSE(bad.ok);
    EXPECT_NE(bad.diagnostics.find("test.rule:1:7-8: error: expected a name"), std::string::npos) << bad.diagnostics;
}

TEST(Robustness, TenThousandNestedParentheses)
{
    std::string expr = std::string(10000, '(') + "1" + std::string(10000, ')');
    auto c = check_text("const A = " + expr + "\n");
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("error: expression is nested too deeply (more than 200 levels)"), std::string::npos)
        << c.diagnostics.substr(0, 300);
    EXPECT_EQ(c.frontend->diagnostics().error_count(), 1u);
}

TEST(Robustness, DeepUnaryChain)
{
    auto c = check_text("const A = " + std::string(10000, '!') + "1\n");
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("error: expression is nested too deeply"), std::string::npos) << c.diagnostics.substr(0, 300);
}

TEST(Robustness, VeryLongOperatorChain)
{
    std::string expr = "1";
    for (int i = 0; i < 100000; ++i) expr += " + 1";
    auto c = check_text("const A = " + expr + "\n");
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("error: expression is too deeply nested (more than 256 levels)"), std::string::npos)
        << c.diagnostics.substr(0, 300);

    std::string fine = "1";
    for (int i = 0; i < 200; ++i) fine += " + 1";
    EXPECT_EQ(test::expr_of(fine), "201");
}

TEST(Robustness, TenMegabyteFileParses)
{
    TempDir t;
    std::string text;
    int n = 0;
    while (text.size() < 10u << 20) text += rule_text(n++);
    std::string path = t.write("big.rule", text);
    auto c = check_paths({path});
    ASSERT_TRUE(c.ok) << c.diagnostics.substr(0, 500);
    EXPECT_EQ(c.rules().size(), static_cast<std::size_t>(n));
}

TEST(Robustness, OversizedFileIsRefused)
{
    TempDir t;
    std::string path = t.write("huge.rule", std::string((16u << 20) + 1, '#'));
    auto c = check_paths({path});
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.diagnostics.find("rule files are limited to 16 MiB"), std::string::npos) << c.diagnostics;
}

TEST(Robustness, LongNamesAndStringsAreRefused)
{
    auto name = check_text("const " + std::string(129, 'a') + " = 1\n");
    EXPECT_FALSE(name.ok);
    EXPECT_NE(name.diagnostics.find("test.rule:1:7-135: error: name is 129 characters long; names are at most 128"), std::string::npos)
        << name.diagnostics.substr(0, 300);
    auto text = check_text("rule a.b {\n layer l4\n probe kprobe:f\n message \"" + std::string(8u << 20, 'x') + "\"\n}\n");
    EXPECT_FALSE(text.ok);
    EXPECT_NE(text.diagnostics.find("error: string is 8388608 bytes long; strings are at most 4096"), std::string::npos)
        << text.diagnostics.substr(0, 300);
    EXPECT_TRUE(check_text("const " + std::string(128, 'a') + " = 1\n").ok);
    auto fine = check_text("rule a.b {\n layer l4\n probe kprobe:f\n message \"" + std::string(4096, 'x') + "\"\n}\n");
    EXPECT_TRUE(fine.ok) << fine.diagnostics.substr(0, 300);
}

TEST(Robustness, ErrorLimitStopsTheFlood)
{
    std::string text;
    for (int i = 0; i < 500; ++i) text += "rule a.r" + std::to_string(i) + " { layer l9 }\n";
    auto c = check_text(text);
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.frontend->diagnostics().error_count(), 50u);
    EXPECT_NE(c.diagnostics.find("error: too many errors emitted, stopping now"), std::string::npos);
}

TEST(Robustness, RandomBytesNeverCrash)
{
    std::mt19937 rng(1234);
    const std::string alphabet = "rule monitor{}()[]<>=!&|^~+-*/%.,:#\"\\ \n\tabcxyz0129_?";
    for (int round = 0; round < 300; ++round) {
        std::string text;
        std::size_t len = rng() % 400;
        for (std::size_t i = 0; i < len; ++i) text += alphabet[rng() % alphabet.size()];
        check_text(text);
    }
    SUCCEED();
}

}  // namespace
}  // namespace rtd
