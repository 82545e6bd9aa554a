// What `rtrace-drop test` prints: the table (rule | case | result | fired |
// expected | note), JSON, and JUnit XML for CI systems.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "packtest/runner.h"

namespace rtd::packtest {

struct Totals {
    std::size_t passed = 0, failed = 0, errors = 0, skipped = 0;
};
// Per case; with `strict`, skipped cases count as failures.
Totals count(const std::vector<CaseResult>& results);

// One row per expectation, columns sized to fit.
std::string results_table(const std::vector<CaseResult>& results);
// {"kernel": ..., "cases": [{pack, case, file, result, note, seconds, rows: [...]}], "totals": {...}}
std::string results_json(const std::vector<CaseResult>& results, const std::string& kernel);
// <testsuites> with a <testsuite> per pack and a <testcase> per case.
std::string results_junit(const std::vector<CaseResult>& results, const std::string& kernel);

}  // namespace rtd::packtest
