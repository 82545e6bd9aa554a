// Rendering in clang's format, and "did you mean".
#include <gtest/gtest.h>

#include "compiler/diagnostics.h"
#include "compiler/suggest.h"

namespace rtd {
namespace {

TEST(Diagnostics, RendersRangeLineAndMarks)
{
    SourceManager sm;
    FileId f = sm.add("rules/x.rule", "rule a.b {\n    capture b = sk.sk_ack_backlg\n}\n");
    Diagnostics d;
    // "sk_ack_backlg" starts at byte 30 of the file (line 2, column 20).
    d.error({f, 30, 43}, "'struct sock' has no member 'sk_ack_backlg'").hint("did you mean 'sk_ack_backlog'?");
    EXPECT_EQ(d.render(sm),
              "rules/x.rule:2:20-32: error: 'struct sock' has no member 'sk_ack_backlg'\n"
              "        capture b = sk.sk_ack_backlg\n"
              "                       ~~~~~~~~~~~~~\n"
              "hint: did you mean 'sk_ack_backlog'?\n");
}

TEST(Diagnostics, PointsAndSingleCharacters)
{
    SourceManager sm;
    FileId f = sm.add("a.rule", "x y\n");
    Diagnostics d;
    d.error({f, 2, 2}, "here");
    d.warning({f, 0, 1}, "one");
    EXPECT_EQ(d.render(sm), "a.rule:1:1: warning: one\n    x y\n    ~\na.rule:1:3: error: here\n    x y\n      ^\n");
}

TEST(Diagnostics, TabsAndMultibyteCharactersLineUp)
{
    SourceManager sm;
    FileId f = sm.add("a.rule", "\tmessage \"é\" x\n");
    Diagnostics d;
    d.error({f, 14, 15}, "x");  // after a tab and a two-byte character
    EXPECT_EQ(d.render(sm), "a.rule:1:15: error: x\n    \tmessage \"é\" x\n    \t            ~\n");
}

TEST(Diagnostics, MultiLineRangeMarksToEndOfFirstLine)
{
    SourceManager sm;
    FileId f = sm.add("a.rule", "abc\ndef\n");
    Diagnostics d;
    d.error({f, 1, 6}, "x");
    // The mark runs one past the line's end to show the range goes on.
    EXPECT_EQ(d.render(sm), "a.rule:1:2: error: x\n    abc\n     ~~~\n");
}

TEST(Diagnostics, FileLevelErrorsAndLimit)
{
    SourceManager sm;
    Diagnostics d(2);
    d.error_in("missing.rule", "cannot load file: no such file");
    d.error_in("b.rule", "second");
    EXPECT_TRUE(d.at_limit());
    d.error_in("c.rule", "dropped");
    EXPECT_EQ(d.error_count(), 2u);
    EXPECT_EQ(d.render(sm), "missing.rule: error: cannot load file: no such file\nb.rule: error: second\n"
                            "error: too many errors emitted, stopping now\n");
}

TEST(Diagnostics, SortedByFileAndPosition)
{
    SourceManager sm;
    FileId f = sm.add("a.rule", "abc\n");
    Diagnostics d;
    d.error({f, 2, 3}, "second");
    d.error({f, 0, 1}, "first");
    std::string out = d.render(sm);
    EXPECT_LT(out.find("first"), out.find("second"));
}

TEST(Diagnostics, ColourOnlyWhenAsked)
{
    SourceManager sm;
    FileId f = sm.add("a.rule", "x\n");
    Diagnostics d;
    d.error({f, 0, 1}, "x");
    std::ostringstream out;
    d.render(out, sm, true);
    EXPECT_NE(out.str().find("\033[1;31merror:"), std::string::npos);
    EXPECT_EQ(d.render(sm).find('\033'), std::string::npos);
}

TEST(Suggest, EditDistance)
{
    EXPECT_EQ(edit_distance("capture", "capture"), 0u);
    EXPECT_EQ(edit_distance("captrue", "capture"), 1u);  // adjacent swap counts once
    EXPECT_EQ(edit_distance("sk_ack_backlg", "sk_ack_backlog"), 1u);
    EXPECT_EQ(edit_distance("", "abc"), 3u);
    EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(Suggest, ClosestMatch)
{
    std::vector<std::string> words{"layer", "probe", "capture", "message", "monitor"};
    EXPECT_EQ(closest_match("captrue", words), "capture");
    EXPECT_EQ(closest_match("mesage", words), "message");
    EXPECT_EQ(closest_match("xyzzy", words), std::nullopt);
    EXPECT_EQ(closest_match("capture", words), std::nullopt);  // exact: nothing to suggest
    EXPECT_EQ(closest_match("NF_drop", {"NF_DROP", "NF_ACCEPT"}), "NF_DROP");
    // One-letter names are one edit from every other one-letter name.
    EXPECT_EQ(closest_match("c", {"a", "b"}), std::nullopt);
    EXPECT_EQ(did_you_mean("prob", words), "did you mean 'probe'?");
}

}  // namespace
}  // namespace rtd
