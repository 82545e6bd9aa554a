#include "tests/compiler/test_util.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "compiler/ast_dump.h"

namespace rtd::test {

namespace fs = std::filesystem;

SearchPaths fixture_paths()
{
    SearchPaths p;
    p.stdlib.emplace_back(RTD_TEST_DATA "/lib");
    p.stdlib.emplace_back(RTD_TEST_DATA "/../../stdlib");
    return p;
}

static Checked finish(std::unique_ptr<Frontend> fe, bool ok)
{
    Checked c;
    c.ok = ok;
    c.diagnostics = fe->diagnostics().render(fe->sources());
    c.frontend = std::move(fe);
    return c;
}

Checked check_text(const std::string& text, const std::string& name)
{
    auto fe = std::make_unique<Frontend>(fixture_paths());
    bool ok = fe->load_text(name, text);
    return finish(std::move(fe), ok);
}

Checked check_paths(const std::vector<std::string>& paths)
{
    auto fe = std::make_unique<Frontend>(fixture_paths());
    bool ok = fe->load(paths);
    return finish(std::move(fe), ok);
}

std::string expr_of(const std::string& expr, const std::string& prelude)
{
    Checked c = check_text(prelude + "\nrule t.x {\n layer l4\n probe kprobe:f\n capture v = " + expr + "\n}\n");
    if (!c.ok) return c.diagnostics;
    const RuleDecl* r = c.rules().at(0);
    return dump_expr(*r->captures.at(0).expr, c.frontend->sources(), false);
}

TempDir::TempDir()
{
    std::string tmpl = (fs::temp_directory_path() / "rtd-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir()
{
    std::error_code ec;
    fs::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& relative, const std::string& text) const
{
    fs::path p = fs::path(path_) / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

const Btf& fixture_btf()
{
    static std::unique_ptr<Btf> btf = [] {
        std::string error;
        auto b = Btf::load(RTD_FIXTURE_BTF, error);
        if (!b) throw std::runtime_error("cannot load fixture BTF: " + error);
        return b;
    }();
    return *btf;
}

std::vector<std::string> files_with_extension(const std::string& dir, const std::string& extension)
{
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().extension() == extension) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

std::string file_test_name(const testing::TestParamInfo<std::string>& info)
{
    std::string s = std::filesystem::path(info.param).stem().string();
    std::replace_if(s.begin(), s.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
    return s;
}

}  // namespace rtd::test
