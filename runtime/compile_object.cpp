#include "runtime/compile_object.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "compiler/codegen.h"
#include "runtime/bpf_compiler.h"
#include "runtime/bpf_loader.h"
#include "runtime/compile_frame.h"
#include "runtime/embedded_headers.h"
#include "runtime/signals.h"

namespace rtd {

namespace {

// The rule clang's first error points into: its diagnostics name the
// generated file kCompiledSourceName.
std::string rule_of_error(const std::string& source, const std::string& diagnostics)
{
    const std::string file = std::string(kCompiledSourceName) + ":";
    auto at = diagnostics.find(file);
    if (at == std::string::npos) return "unknown";
    return rule_at_generated_line(source, static_cast<unsigned>(std::strtoul(diagnostics.c_str() + at + file.size(), nullptr, 10)));
}

}  // namespace

Expected<std::optional<Filter>> compile_where(const std::string& where, bool color, StatusSink& status)
{
    if (where.empty()) return std::optional<Filter>();
    SourceManager sources;
    Diagnostics diags;
    std::optional<Filter> filter = compile_filter(where, sources, diags);
    status.diagnostics(diags, sources, color);
    if (!filter) return RunError::already_reported(kExitBadInput);
    return filter;
}

Expected<CompiledObject> compile_object(const CompiledRuleSet& set, const Btf& btf, const std::string& cache_dir)
{
    BpfCompiler compiler(btf.raw(), embedded_templates(), cache_dir);
    CompileResult built = compiler.compile(set.source);
    if (!built.ok && stop_requested())  // Ctrl-C reached the compiler process too
        return RunError::failure("stopped by a signal while compiling; nothing was loaded");
    if (built.unavailable) return RunError::failure(built.diagnostics);
    if (!built.ok) {
        std::string saved = (std::filesystem::temp_directory_path() / fmt::format("rtrace-drop-{}.bpf.c", getpid())).string();
        std::ofstream(saved) << set.source;
        return RunError::failure(fmt::format("internal error: clang rejected the code generated for rule '{}' (saved as {})\n{}",
                                             rule_of_error(set.source, built.diagnostics), saved, built.diagnostics));
    }
    if (auto problems = check_event_layout(built.object, set); !problems.empty())
        return RunError::failure("internal error: " + problems.front());
    return CompiledObject{std::move(built.object), built.cached};
}

}  // namespace rtd
