#include "packtest/results.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace rtd::packtest {

namespace {

std::string xml_escape(const std::string& s)
{
    std::string out;
    for (unsigned char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default:
            // XML 1.0 allows no control characters but tab, newline, return.
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') out += '?';
            else out += static_cast<char>(c);
        }
    }
    return out;
}

// A case's failures, one line per row that did not pass.
std::string failures(const CaseResult& r)
{
    std::string text = r.note.empty() ? "" : r.note + "\n";
    for (const ResultRow& row : r.rows)
        if (row.outcome != Outcome::Pass)
            text += fmt::format("{}: {} (fired {}, expected {}){}\n", row.rule, outcome_name(row.outcome), row.fired, row.expected,
                                row.note.empty() ? "" : ": " + row.note);
    return text;
}

}  // namespace

Totals count(const std::vector<CaseResult>& results)
{
    Totals t;
    for (const CaseResult& r : results) {
        switch (r.outcome) {
        case Outcome::Pass: ++t.passed; break;
        case Outcome::Fail: ++t.failed; break;
        case Outcome::Error: ++t.errors; break;
        case Outcome::Skipped: ++t.skipped; break;
        }
    }
    return t;
}

std::string results_table(const std::vector<CaseResult>& results)
{
    std::vector<std::array<std::string, 6>> rows{{"RULE", "CASE", "RESULT", "FIRED", "EXPECTED", "NOTE"}};
    for (const CaseResult& r : results) {
        const std::string name = r.pack + "/" + r.name;
        if (r.rows.empty()) rows.push_back({"-", name, outcome_name(r.outcome), "-", "-", r.note});
        for (const ResultRow& row : r.rows) {
            std::string note = row.note;
            // The case's own error says what happened; each row says only what it saw.
            if (row.outcome == Outcome::Error && !r.note.empty()) note = r.note;
            std::string fired = row.outcome == Outcome::Skipped || (row.outcome == Outcome::Error && row.fired == 0) ? "-" : std::to_string(row.fired);
            rows.push_back({row.rule, name, outcome_name(row.outcome), fired, row.expected, note});
        }
    }
    std::array<std::size_t, 5> width{};
    for (const auto& row : rows)
        for (std::size_t i = 0; i < 5; ++i) width[i] = std::max(width[i], row[i].size());
    std::string out;
    for (const auto& row : rows) {
        std::string line = fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>{}}  {:<{}}  {}", row[0], width[0], row[1], width[1], row[2], width[2], row[3],
                                       width[3], row[4], width[4], row[5]);
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
    return out;
}

std::string results_json(const std::vector<CaseResult>& results, const std::string& kernel)
{
    using nlohmann::json;
    json cases = json::array();
    for (const CaseResult& r : results) {
        json rows = json::array();
        for (const ResultRow& row : r.rows)
            rows.push_back({{"rule", row.rule}, {"result", outcome_name(row.outcome)}, {"fired", row.fired}, {"expected", row.expected}, {"note", row.note}});
        cases.push_back({{"pack", r.pack}, {"case", r.name}, {"file", r.file}, {"result", outcome_name(r.outcome)}, {"note", r.note},
                         {"seconds", r.seconds}, {"rows", rows}});
    }
    Totals t = count(results);
    json out = {{"kernel", kernel},
                {"cases", cases},
                {"totals", {{"passed", t.passed}, {"failed", t.failed}, {"errors", t.errors}, {"skipped", t.skipped}}}};
    return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string results_junit(const std::vector<CaseResult>& results, const std::string& kernel)
{
    std::map<std::string, std::vector<const CaseResult*>> by_pack;
    for (const CaseResult& r : results) by_pack[r.pack].push_back(&r);
    Totals all = count(results);
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += fmt::format("<testsuites name=\"rtrace-drop test\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">\n", results.size(),
                       all.failed, all.errors, all.skipped);
    for (const auto& [pack, cases] : by_pack) {
        std::vector<CaseResult> copy;
        double seconds = 0;
        for (const CaseResult* r : cases) copy.push_back(*r), seconds += r->seconds;
        Totals t = count(copy);
        out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n", xml_escape(pack),
                           cases.size(), t.failed, t.errors, t.skipped, seconds);
        out += fmt::format("    <properties><property name=\"kernel\" value=\"{}\"/></properties>\n", xml_escape(kernel));
        for (const CaseResult* r : cases) {
            out += fmt::format("    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3f}\"", xml_escape(pack), xml_escape(r->name),
                               xml_escape(r->file), r->seconds);
            const std::string why = failures(*r);
            switch (r->outcome) {
            case Outcome::Pass: out += "/>\n"; continue;
            case Outcome::Fail: out += fmt::format(">\n      <failure message=\"{}\">{}</failure>\n", xml_escape(why.substr(0, why.find('\n'))), xml_escape(why)); break;
            case Outcome::Error: out += fmt::format(">\n      <error message=\"{}\">{}</error>\n", xml_escape(why.substr(0, why.find('\n'))), xml_escape(why)); break;
            case Outcome::Skipped: out += fmt::format(">\n      <skipped message=\"{}\"/>\n", xml_escape(why.substr(0, why.find('\n')))); break;
            }
            if (r->outcome != Outcome::Skipped && !r->log.empty()) out += fmt::format("      <system-out>{}</system-out>\n", xml_escape(r->log));
            out += "    </testcase>\n";
        }
        out += "  </testsuite>\n";
    }
    out += "</testsuites>\n";
    return out;
}

}  // namespace rtd::packtest
