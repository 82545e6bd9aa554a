// Diagnostics are collected, never thrown one at a time, and rendered in
// clang's format so editors and CI logs can jump to them:
//
//   rules/tcp/x.rule:7:21-33: error: 'struct sock' has no member 'sk_ack_backlg'
//       capture b = sk.sk_ack_backlg
//                      ~~~~~~~~~~~~~
//   hint: did you mean 'sk_ack_backlog'?
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "compiler/source.h"

namespace rtd {

enum class Severity { Error, Warning };

struct Diagnostic {
    Severity severity = Severity::Error;
    SourceRange range;        // where the problem is; may be invalid
    std::string path;         // used when there is no range (e.g. unreadable file)
    std::string message;
    // ("hint" | "note", text) lines printed after the quoted source.
    std::vector<std::pair<std::string, std::string>> trailers;

    Diagnostic& hint(std::string text);
    Diagnostic& note(std::string text);
};

class Diagnostics {
public:
    explicit Diagnostics(std::size_t error_limit = 50) : error_limit_(error_limit) {}

    Diagnostic& error(SourceRange range, std::string message);
    Diagnostic& warning(SourceRange range, std::string message);
    Diagnostic& error_in(std::string path, std::string message);

    std::size_t error_count() const { return errors_; }
    std::size_t warning_count() const { return warnings_; }
    bool has_errors() const { return errors_ > 0; }
    // True once the error limit is reached: callers stop producing more.
    bool at_limit() const { return errors_ >= error_limit_; }
    // Called by a pass that skips the rest of its input because of the
    // limit, so the output says that it stopped.
    void stopped_at_limit() { dropped_ = dropped_ || at_limit(); }
    const std::vector<Diagnostic>& all() const { return list_; }

    void render(std::ostream& out, const SourceManager& sources, bool color) const;
    std::string render(const SourceManager& sources) const;

private:
    Diagnostic& add(Severity s, SourceRange range, std::string path, std::string message);

    std::vector<Diagnostic> list_;
    Diagnostic discarded_;  // sink for diagnostics past the limit
    std::size_t errors_ = 0;
    std::size_t warnings_ = 0;
    std::size_t error_limit_;
    bool dropped_ = false;
};

}  // namespace rtd
