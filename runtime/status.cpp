#include "runtime/status.h"

#include <sstream>

#include "compiler/diagnostics.h"

namespace rtd {

void StatusSink::line(std::string_view text)
{
    std::string l(text);
    l += '\n';
    write(l);
}

void StatusSink::say(std::string_view text) { line("rtrace-drop: " + std::string(text)); }
void StatusSink::note(std::string_view text) { line("rtrace-drop: note: " + std::string(text)); }
void StatusSink::warning(std::string_view text) { line("rtrace-drop: warning: " + std::string(text)); }

void StatusSink::error(const RunError& e)
{
    if (e.reported) return;
    line("rtrace-drop: error: " + e.message);
    for (const std::string& h : e.hints) line("hint: " + h);
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

int report(StatusSink& status, const RunError& error)
{
    status.error(error);
    return error.exit_code;
}

}  // namespace rtd
