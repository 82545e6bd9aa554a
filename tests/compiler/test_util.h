// Helpers shared by the compiler tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compiler/btf.h"
#include "compiler/frontend.h"

namespace rtd::test {

// The result of running the front end on some text.
struct Checked {
    std::unique_ptr<Frontend> frontend;
    bool ok = false;
    std::string diagnostics;  // rendered, no colour

    const std::vector<const RuleDecl*> rules() const { return frontend->rules(); }
};

// Search paths for tests: the fixture library in tests/data/lib, then the real stdlib.
SearchPaths fixture_paths();

Checked check_text(const std::string& text, const std::string& name = "test.rule");
Checked check_paths(const std::vector<std::string>& paths);

// Parses `capture v = EXPR` in a kprobe rule and dumps the resolved
// expression without ranges, or returns the diagnostics when it fails.
std::string expr_of(const std::string& expr, const std::string& prelude = "");

// A unique scratch folder, removed when the object goes away.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }
    // Writes a file below the folder (creating folders) and returns its path.
    std::string write(const std::string& relative, const std::string& text) const;

private:
    std::string path_;
};

std::string read_file(const std::string& path);

// The fixture BTF (tests/data/btf/fixture.c, built at build time), loaded once.
const Btf& fixture_btf();

// The names of the files in `dir` ending in `extension` (".rule"), sorted.
std::vector<std::string> files_with_extension(const std::string& dir, const std::string& extension);

// A parameterised test's name from its file parameter ("a-b.rule" -> "a_b").
std::string file_test_name(const testing::TestParamInfo<std::string>& info);

}  // namespace rtd::test
