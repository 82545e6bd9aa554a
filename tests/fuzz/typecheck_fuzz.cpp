// libFuzzer target: any text through the front end, the type checker
// against the fixture BTF and the code generator. Crashes, hangs and
// sanitizer reports are failures; so is generated C that calls a helper
// rules may never use (the grammar must not let one be spelled).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "compiler/btf.h"
#include "compiler/codegen.h"
#include "compiler/frontend.h"
#include "compiler/typecheck.h"

namespace {

const rtd::Btf& fixture()
{
    static std::unique_ptr<rtd::Btf> btf = [] {
        std::string error;
        auto b = rtd::Btf::load(RTD_FIXTURE_BTF, error);
        if (!b) std::abort();
        return b;
    }();
    return *btf;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    rtd::SearchPaths paths;
    paths.stdlib.emplace_back(RTD_TEST_DATA "/lib");
    paths.stdlib.emplace_back(RTD_SOURCE_DIR "/stdlib");
    rtd::Frontend frontend(paths);
    if (!frontend.load_text("fuzz.rule", std::string(reinterpret_cast<const char*>(data), size))) return 0;
    rtd::Diagnostics& diags = frontend.diagnostics();
    auto typed = rtd::type_check(frontend.rules(), fixture(), frontend.sources(), diags);
    std::string rendered = diags.render(frontend.sources());
    if (diags.has_errors()) return 0;
    rtd::CompiledRuleSet set = rtd::lower_and_emit(frontend.rules(), typed, fixture(), frontend.sources());
    for (const char* forbidden : {"bpf_probe_write_user", "bpf_override_return", "bpf_send_signal", "#include \"/"})
        if (set.source.find(forbidden) != std::string::npos) std::abort();
    return 0;
}
