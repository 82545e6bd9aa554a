#include "runtime/status.h"

#include <algorithm>
#include <ctime>
#include <sstream>

#include <fmt/format.h>

#include "compiler/diagnostics.h"
#include "runtime/json_line.h"

namespace rtd {

void StatusSink::line(std::string_view text)
{
    std::string l(text);
    l += '\n';
    write(l);
}

const char* level_name(StatusLevel level)
{
    switch (level) {
    case StatusLevel::info: return "info";
    case StatusLevel::note: return "note";
    case StatusLevel::warning: return "warning";
    case StatusLevel::error: return "error";
    }
    return "info";
}

void StatusSink::message(StatusLevel level, std::string_view text, const std::vector<std::string>& hints)
{
    std::string out = "rtrace-drop: ";
    if (level != StatusLevel::info) out += std::string(level_name(level)) + ": ";
    out += text;
    out += '\n';
    for (const std::string& h : hints) out += "hint: " + h + '\n';
    write(out);
}

void StatusSink::say(std::string_view text) { message(StatusLevel::info, text); }
void StatusSink::note(std::string_view text) { message(StatusLevel::note, text); }
void StatusSink::warning(std::string_view text) { message(StatusLevel::warning, text); }

void StatusSink::error(const RunError& e)
{
    if (e.reported) return;
    message(StatusLevel::error, e.message, e.hints);
}

void StatusSink::diagnostics(const Diagnostics& diags, const SourceManager& sources, bool color)
{
    std::ostringstream text;
    diags.render(text, sources, color);
    if (!text.str().empty()) write(text.str());
}

void StderrStatus::write(std::string_view lines)
{
    std::fwrite(lines.data(), 1, lines.size(), stderr);
    std::fflush(stderr);
}

namespace {

void json_object(std::string& out, std::string_view ts, StatusLevel level, std::string_view msg, const std::vector<std::string>& hints)
{
    JsonLine j(out);
    j.field("ts", ts);
    j.field("level", level_name(level));
    j.field("msg", msg);
    j.begin_array("hints");
    for (const std::string& h : hints) j.element(h);
    j.end_array();
    j.finish();
}

std::string now_ms() { return utc_timestamp_ms(std::chrono::system_clock::now()); }

}  // namespace

std::string utc_timestamp_ms(std::chrono::system_clock::time_point t)
{
    using namespace std::chrono;
    const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
    const std::int64_t secs = (ms >= 0 ? ms : ms - 999) / 1000;  // before 1970: round towards the past
    const std::time_t t_secs = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t_secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                       tm.tm_min, tm.tm_sec, static_cast<int>(ms - secs * 1000));
}

void JsonLinesStatus::put(const std::string& objects)
{
    if (objects.empty()) return;
    std::fwrite(objects.data(), 1, objects.size(), out_);
    std::fflush(out_);
}

void JsonLinesStatus::write(std::string_view lines)
{
    const std::string ts = now_ms();
    std::string out;
    while (!lines.empty()) {
        const std::size_t nl = lines.find('\n');
        std::string_view l = lines.substr(0, nl);
        lines = nl == std::string_view::npos ? std::string_view() : lines.substr(nl + 1);
        if (!l.empty()) json_object(out, ts, StatusLevel::info, l, {});
    }
    put(out);
}

void JsonLinesStatus::message(StatusLevel level, std::string_view text, const std::vector<std::string>& hints)
{
    std::string out;
    json_object(out, now_ms(), level, text, hints);
    put(out);
}

void JsonLinesStatus::diagnostics(const Diagnostics& diags, const SourceManager& sources, bool)
{
    // Each diagnostic rendered on its own (a Diagnostics of one), in the
    // order Diagnostics::render gives them: file-less ones first, then by
    // file and offset.
    std::vector<const Diagnostic*> ordered;
    for (const Diagnostic& d : diags.all()) ordered.push_back(&d);
    std::stable_sort(ordered.begin(), ordered.end(), [](const Diagnostic* a, const Diagnostic* b) {
        auto key = [](const Diagnostic* d) {
            return d->range.valid() ? std::pair<std::int64_t, std::uint32_t>(d->range.file, d->range.begin)
                                    : std::pair<std::int64_t, std::uint32_t>(-1, 0);
        };
        return key(a) < key(b);
    });
    const std::string ts = now_ms();
    std::string out;
    for (const Diagnostic* d : ordered) {
        const bool is_error = d->severity == Severity::Error;
        Diagnostics one;
        Diagnostic& copy = is_error ? one.error(d->range, d->message) : one.warning(d->range, d->message);
        copy = *d;
        std::vector<std::string> hints;
        std::erase_if(copy.trailers, [&](const auto& t) {
            if (t.first != "hint") return false;
            hints.push_back(t.second);
            return true;
        });
        std::string text = one.render(sources);
        while (!text.empty() && text.back() == '\n') text.pop_back();
        json_object(out, ts, is_error ? StatusLevel::error : StatusLevel::warning, text, hints);
    }
    // The error limit's last line, which only the whole rendering has.
    const std::string all = diags.render(sources);
    constexpr std::string_view kLimit = "error: too many errors emitted, stopping now\n";
    if (all.size() >= kLimit.size() && all.compare(all.size() - kLimit.size(), kLimit.size(), kLimit) == 0)
        json_object(out, ts, StatusLevel::error, kLimit.substr(0, kLimit.size() - 1), {});
    put(out);
}

int report(StatusSink& status, const RunError& error)
{
    status.error(error);
    return error.exit_code;
}

}  // namespace rtd
