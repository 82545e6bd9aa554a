// libFuzzer target: any text as a config file (cli/config) and as the
// original tool's TOML (compiler/import_legacy). Both read files that travel
// between teams: errors are the expected outcome, crashes and sanitizer
// reports are failures. A config that loads must write back and read back
// to the same settings.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cli/config.h"
#include "compiler/import_legacy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    {
        rtd::SourceManager sources;
        rtd::Diagnostics diags;
        rtd::Settings s;
        if (rtd::load_config_text("fuzz.toml", text, s, sources, diags)) {
            rtd::Settings again;
            rtd::Diagnostics d2;
            if (!rtd::load_config_text("again.toml", rtd::config_text(s, true), again, sources, d2) ||
                rtd::config_text(again, false) != rtd::config_text(s, false))
                std::abort();  // what --gen/--show-config write must read back
        }
        (void)diags.render(sources);
    }
    {
        rtd::SourceManager sources;
        rtd::Diagnostics diags;
        rtd::import_legacy_config(text, "fuzz.toml", nullptr, diags, sources);
        (void)diags.render(sources);
    }
    return 0;
}
