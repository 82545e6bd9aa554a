// What a run says, as text (unchanged by the level-aware sink) and as JSON
// lines (--log-format json): each line one object with ts, level, msg and
// hints that nlohmann::json parses.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compiler/diagnostics.h"
#include "compiler/source.h"
#include "runtime/status.h"

namespace rtd {
namespace {

using nlohmann::json;

// A JsonLinesStatus writing into memory.
class CapturedJson {
public:
    CapturedJson() : file_(open_memstream(&buf_, &size_)), sink(file_) {}
    ~CapturedJson()
    {
        std::fclose(file_);
        std::free(buf_);
    }
    std::vector<json> objects()
    {
        std::fflush(file_);
        std::vector<json> out;
        std::string text(buf_, size_);
        EXPECT_TRUE(text.empty() || text.back() == '\n') << text;
        std::size_t at = 0;
        while (at < text.size()) {
            const std::size_t nl = text.find('\n', at);
            const std::string line = text.substr(at, nl - at);
            at = nl + 1;
            json j = json::parse(line, nullptr, false);
            EXPECT_FALSE(j.is_discarded()) << line;
            EXPECT_TRUE(j.is_object()) << line;
            EXPECT_EQ(j.size(), 4u) << line;
            EXPECT_TRUE(std::regex_match(j.value("ts", ""), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"))) << line;
            EXPECT_TRUE(j["level"].is_string() && j["msg"].is_string() && j["hints"].is_array()) << line;
            out.push_back(std::move(j));
        }
        return out;
    }

private:
    char* buf_ = nullptr;
    std::size_t size_ = 0;
    std::FILE* file_;

public:
    JsonLinesStatus sink;
};

TEST(Status, TextIsAsBefore)
{
    StringStatus s;
    s.line("RULE HITS");
    s.say("ready");
    s.note("a note");
    s.warning("a warning");
    s.error(RunError::bad_input("bad", {"try this", "or that"}));
    s.error(RunError::already_reported(2));
    EXPECT_EQ(s.text,
              "RULE HITS\n"
              "rtrace-drop: ready\n"
              "rtrace-drop: note: a note\n"
              "rtrace-drop: warning: a warning\n"
              "rtrace-drop: error: bad\n"
              "hint: try this\n"
              "hint: or that\n");
}

TEST(Status, JsonLineForEachLevel)
{
    CapturedJson c;
    c.sink.line("RULE HITS");
    c.sink.say("ready");
    c.sink.note("a note");
    c.sink.warning("a warning");
    c.sink.error(RunError::bad_input("bad \"input\"", {"try this", "or that"}));
    c.sink.error(RunError::already_reported(2));  // says nothing
    std::vector<json> o = c.objects();
    ASSERT_EQ(o.size(), 5u);
    const char* levels[] = {"info", "info", "note", "warning", "error"};
    const char* msgs[] = {"RULE HITS", "ready", "a note", "a warning", "bad \"input\""};
    for (std::size_t i = 0; i < o.size(); ++i) {
        EXPECT_EQ(o[i]["level"], levels[i]) << o[i];
        EXPECT_EQ(o[i]["msg"], msgs[i]) << o[i];
    }
    EXPECT_EQ(o[4]["hints"], json({"try this", "or that"}));
    EXPECT_EQ(o[3]["hints"], json::array());
}

TEST(Status, JsonOneObjectPerWrittenLine)
{
    CapturedJson c;
    c.sink.write("RULE  HITS\ntcp.x  12\n\nudp.y  3\n");
    c.sink.write("no newline at the end");
    c.sink.message(StatusLevel::note, "two\nlines stay one message");
    std::vector<json> o = c.objects();
    ASSERT_EQ(o.size(), 5u);
    EXPECT_EQ(o[0]["msg"], "RULE  HITS");
    EXPECT_EQ(o[1]["msg"], "tcp.x  12");
    EXPECT_EQ(o[2]["msg"], "udp.y  3");
    EXPECT_EQ(o[3]["msg"], "no newline at the end");
    for (int i = 0; i < 4; ++i) EXPECT_EQ(o[i]["level"], "info");
    EXPECT_EQ(o[4]["msg"], "two\nlines stay one message");
    EXPECT_EQ(o[4]["level"], "note");
}

TEST(Status, JsonStaysValidForAnyBytes)
{
    CapturedJson c;
    c.sink.say(std::string("nul \0 ctl \x01 bad \xff\xc3 tab \t", 22));
    std::vector<json> o = c.objects();
    ASSERT_EQ(o.size(), 1u);
    EXPECT_NE(o[0]["msg"].get<std::string>().find("\xef\xbf\xbd"), std::string::npos) << o[0];  // U+FFFD
}

TEST(Status, JsonDiagnosticsOnePerDiagnosticWithoutColour)
{
    SourceManager sources;
    const std::string text = "rule a.b {\n    captrue x = 1\n}\n";
    FileId f = sources.add("x.rule", text);
    Diagnostics diags;
    const std::uint32_t at = static_cast<std::uint32_t>(text.find("captrue"));
    diags.warning(SourceRange{f, at, at + 7}, "a warning later in the file");  // rendered after the error before it
    diags.error(SourceRange{f, 0, 4}, "unknown clause 'captrue'").hint("did you mean 'capture'?").note("a note");
    diags.error_in("y.rule", "cannot load file: no such file");

    CapturedJson c;
    c.sink.diagnostics(diags, sources, /*color=*/true);
    std::vector<json> o = c.objects();
    ASSERT_EQ(o.size(), 3u);
    EXPECT_EQ(o[0]["level"], "error");
    EXPECT_EQ(o[0]["msg"], "y.rule: error: cannot load file: no such file");
    EXPECT_EQ(o[1]["level"], "error");
    EXPECT_EQ(o[1]["msg"], "x.rule:1:1-4: error: unknown clause 'captrue'\n    rule a.b {\n    ~~~~\nnote: a note");
    EXPECT_EQ(o[1]["hints"], json({"did you mean 'capture'?"}));
    EXPECT_EQ(o[2]["level"], "warning");
    EXPECT_EQ(o[2]["msg"].get<std::string>().rfind("x.rule:2:5-11: warning: a warning later in the file\n", 0), 0u) << o[2];
    for (const json& j : o) EXPECT_EQ(j["msg"].get<std::string>().find('\x1b'), std::string::npos) << j;
}

TEST(Status, JsonSaysWhenTheErrorLimitStopped)
{
    SourceManager sources;
    Diagnostics diags(2);
    for (int i = 0; i < 3 && !diags.at_limit(); ++i) diags.error_in("f" + std::to_string(i), "broken");
    diags.stopped_at_limit();
    CapturedJson c;
    c.sink.diagnostics(diags, sources, false);
    std::vector<json> o = c.objects();
    ASSERT_EQ(o.size(), 3u);
    EXPECT_EQ(o[2]["msg"], "error: too many errors emitted, stopping now");
    EXPECT_EQ(o[2]["level"], "error");
}

TEST(Status, TimestampIsUtcWithMilliseconds)
{
    using namespace std::chrono;
    // 2026-12-04T10:00:00Z is 1796378400 s after the epoch.
    const system_clock::time_point t{milliseconds(1796378400123)};
    EXPECT_EQ(utc_timestamp_ms(t), "2026-12-04T10:00:00.123Z");
    EXPECT_EQ(utc_timestamp_ms(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(utc_timestamp_ms(system_clock::time_point{milliseconds(-1)}), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace rtd
