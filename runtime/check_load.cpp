#include "runtime/check_load.h"

#include <fmt/format.h>

#include "runtime/bpf_compiler.h"
#include "runtime/bpf_loader.h"
#include "runtime/compile_object.h"

namespace rtd {

namespace {

// "loaded", or the first refused program of the method with the
// verifier's last lines.
std::string method_result(const AttachMethod& m, const VerifyReport& report)
{
    for (const ProgramSpec& s : m.programs) {
        const ProgramLoad* r = report.find(s.name);
        if (!r || r->loaded) continue;
        std::string result = fmt::format("{}: {}", s.name, describe_load_error(r->error));
        if (r->log_tail.empty()) return result;
        result += "\n      verifier: ";
        for (char c : r->log_tail) result += c == '\n' ? std::string("\n      verifier: ") : std::string(1, c);
        return result;
    }
    return "loaded";
}

}  // namespace

int check_programs_load(const CompiledRuleSet& set, const Btf& btf, std::FILE* out, StatusSink& status)
{
    Expected<CompiledObject> built = compile_object(set, btf, BpfCompiler::default_cache_dir());
    if (!built) return report(status, built.error());
    std::vector<std::string> names = set.program_names();
    VerifyReport report_of_loads = verify_programs(built->bytes, names);
    if (!report_of_loads.open_error.empty()) return report(status, RunError::failure(report_of_loads.open_error));
    std::fprintf(out, "%s\n", fmt::format("compiled {} programs{}", names.size(), built->cached ? " (cached)" : "").c_str());
    bool all_usable = true;
    for (const ProbePlan& p : set.probes) {
        const std::string& rule = set.rules[p.rule].id;
        if (!p.available) {
            std::fprintf(out, "%s\n", fmt::format("{} {}: skipped ({})", rule, p.spelling, p.skip_reason).c_str());
            continue;
        }
        bool usable = false;
        for (const AttachMethod& m : p.methods) {
            std::string result = method_result(m, report_of_loads);
            usable = usable || result == "loaded";
            std::fprintf(out, "%s\n", fmt::format("{} {}: {} {}", rule, p.spelling, attach_form_name(m.form), result).c_str());
        }
        if (!usable) {
            all_usable = false;
            status.error(RunError::failure(fmt::format("no attach form of rule '{}' probe '{}' loads into this kernel", rule, p.spelling)));
        }
    }
    return all_usable ? kExitOk : kExitFailure;
}

}  // namespace rtd
