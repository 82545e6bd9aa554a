// How the runtime reports: one error type (RunError: an exit status, a
// message and hints) carried by Expected<T> from each phase to the caller,
// and a StatusSink for everything a run says on the way (notes, warnings,
// the status table, counters). The command line writes the sink to stderr;
// tests drive a session as a library and read what it said.
#pragma once

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rtd {

class Diagnostics;
class SourceManager;

// The exit statuses of every command: 0 ok, 1 a runtime failure (nothing
// could attach, BPF refused, a file could not be written), 2 bad input
// (rules, config, options).
enum ExitCode : int { kExitOk = 0, kExitFailure = 1, kExitBadInput = 2 };

struct RunError {
    int exit_code = kExitFailure;
    std::string message;             // printed as "rtrace-drop: error: MESSAGE"
    std::vector<std::string> hints;  // each printed as "hint: HINT"
    // The error has already been reported (clang-style diagnostics, or a
    // signal's message): only the exit status is left to give.
    bool reported = false;

    static RunError failure(std::string message, std::vector<std::string> hints = {})
    {
        return {kExitFailure, std::move(message), std::move(hints)};
    }
    static RunError bad_input(std::string message, std::vector<std::string> hints = {})
    {
        return {kExitBadInput, std::move(message), std::move(hints)};
    }
    static RunError already_reported(int exit_code) { return {exit_code, {}, {}, true}; }
};

// A value or the RunError that prevented it (C++23's std::expected, small).
template <class T>
class Expected {
public:
    Expected(T value) : v_(std::move(value)) {}
    Expected(RunError error) : v_(std::move(error)) {}
    explicit operator bool() const { return v_.index() == 0; }
    T& operator*() { return std::get<0>(v_); }
    const T& operator*() const { return std::get<0>(v_); }
    T* operator->() { return &std::get<0>(v_); }
    const RunError& error() const { return std::get<1>(v_); }

private:
    std::variant<T, RunError> v_;
};

// For phases that give nothing back but may fail: empty when they did not.
using Status = std::optional<RunError>;
inline constexpr std::nullopt_t kDone = std::nullopt;

// What a message is, as a JSON status line names it.
enum class StatusLevel { info, note, warning, error };
const char* level_name(StatusLevel level);  // "info", "note", "warning", "error"

class StatusSink {
public:
    virtual ~StatusSink() = default;
    // Whole lines, each ending in '\n': plain text (the status table, the
    // counters), level info.
    virtual void write(std::string_view lines) = 0;
    // One message and its hints. As text: "rtrace-drop: [LEVEL: ]TEXT" (no
    // level word for info), then "hint: HINT" lines, in one write().
    virtual void message(StatusLevel level, std::string_view text, const std::vector<std::string>& hints = {});
    // Clang-style diagnostics, coloured when `color`.
    virtual void diagnostics(const Diagnostics& diags, const SourceManager& sources, bool color);

    void line(std::string_view text);   // TEXT
    void say(std::string_view text);    // rtrace-drop: TEXT
    void note(std::string_view text);   // rtrace-drop: note: TEXT
    void warning(std::string_view text);
    void error(const RunError& e);      // rtrace-drop: error: MESSAGE, then its hints
};

// What the command line uses.
class StderrStatus final : public StatusSink {
public:
    void write(std::string_view lines) override;
};

// --log-format json: one JSON object per line on `out` (stderr), for log
// collectors:
//   {"ts":"2026-12-04T10:00:00.123Z","level":"info","msg":"...","hints":[]}
// ts is UTC with milliseconds; level is level_name(); hints is always there
// (empty when none). write() gives one info object per non-empty line; a
// message with newlines stays one object; each diagnostic is one object of
// level error or warning whose msg is its clang-style text without colour
// (location line, quoted source, "note:" lines) and whose hints are its
// hints. Strings are escaped by JsonLine (invalid UTF-8 becomes U+FFFD).
class JsonLinesStatus final : public StatusSink {
public:
    explicit JsonLinesStatus(std::FILE* out = stderr) : out_(out) {}
    void write(std::string_view lines) override;
    void message(StatusLevel level, std::string_view text, const std::vector<std::string>& hints = {}) override;
    void diagnostics(const Diagnostics& diags, const SourceManager& sources, bool color) override;

private:
    void put(const std::string& objects);
    std::FILE* out_;
};

// The "ts" of a JSON status line: 2026-12-04T10:00:00.123Z.
std::string utc_timestamp_ms(std::chrono::system_clock::time_point t);

// Kept in memory: what a test reads.
class StringStatus final : public StatusSink {
public:
    void write(std::string_view lines) override { text += lines; }
    std::string text;
};

// The exit status for `error`, reporting it first unless it was reported.
int report(StatusSink& status, const RunError& error);

}  // namespace rtd
