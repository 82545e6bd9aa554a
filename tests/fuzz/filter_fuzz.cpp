// libFuzzer target: any text as a `--where` filter (compiler/filter). The
// lowered C must hold nothing of the input but what the compiler makes of
// it; here: no quote, brace, '#', semicolon or newline can come through.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "compiler/filter.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    rtd::SourceManager sources;
    rtd::Diagnostics diags;
    std::optional<rtd::Filter> f = rtd::compile_filter(text, sources, diags);
    if (f && f->c_expr.find_first_of("\"#;{}\n\\") != std::string::npos) std::abort();
    (void)diags.render(sources);
    return 0;
}
