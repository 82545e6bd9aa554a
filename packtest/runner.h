// Runs one test case: its namespaces, only the rules it names attached in
// process (as `run --json` would, output kept in memory), its steps, then
// the events of its namespaces held against its expectations.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "packtest/case_file.h"
#include "runtime/status.h"

namespace rtd::packtest {

enum class Outcome { Pass, Fail, Error, Skipped };
const char* outcome_name(Outcome o);  // "pass", "FAIL", "ERROR", "skipped"

// One line of the table: an expectation of a case.
struct ResultRow {
    std::string rule;      // the rule (glob) or "counter NAME in NS"
    Outcome outcome = Outcome::Pass;
    std::uint64_t fired = 0;
    std::string expected;  // ">= 1", "= 3", "0"
    std::string note;      // why it failed or was skipped; the method it attached by
};

struct CaseResult {
    std::string pack, name, file;
    Outcome outcome = Outcome::Pass;
    std::string note;   // an error or skip that concerns the whole case
    std::vector<ResultRow> rows;
    double seconds = 0;
    std::string log;    // what the run said (status table, errors) and the events, for --verbose and JUnit
};

struct RunnerOptions {
    bool allow_exec = false;
    std::string cache_dir;  // the object cache ("" none)
};

CaseResult run_case(const TestCase& tc, const std::filesystem::path& pack_dir, const RunnerOptions& options);

}  // namespace rtd::packtest
