// libFuzzer target: any text through the whole front end (parse, imports,
// resolution, diagnostics rendering). Crashes, hangs and sanitizer reports
// are failures; diagnostics are the expected outcome for most inputs.
#include <cstddef>
#include <cstdint>
#include <string>

#include "compiler/ast_dump.h"
#include "compiler/frontend.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    rtd::SearchPaths paths;
    paths.stdlib.emplace_back(RTD_TEST_DATA "/lib");
    rtd::Frontend frontend(paths);
    frontend.load_text("fuzz.rule", std::string(reinterpret_cast<const char*>(data), size));
    std::string out = frontend.diagnostics().render(frontend.sources());
    for (const rtd::RuleDecl* r : frontend.rules()) out += rtd::dump_rule(*r, frontend.sources());
    return out.empty() ? 0 : 0;
}
