#include "runtime/build.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "compiler/pipeline.h"
#include "compiler/rule_text.h"
#include "runtime/compile_object.h"
#include "runtime/kernel_plan.h"
#include "runtime/prebuilt.h"
#include "runtime/run_rules.h"

namespace rtd {

namespace {

// The monitors as self-contained rule text, for `run` to parse back.
Expected<std::string> monitors_text(const std::vector<const RuleDecl*>& rules)
{
    std::string out;
    for (const RuleDecl* r : rules) {
        if (!r->is_monitor) continue;
        std::string problem;
        std::optional<std::string> text = monitor_text(*r, problem);
        if (!text) return RunError::failure("internal error: " + problem);
        out += *text + "\n";
    }
    return out;
}

// The kernel matrix of the packs the rules come from (PACK/tests/matrix.json
// beside each rule file's folder), for the rules that are in the object.
std::string test_matrix(const CompiledRuleSet& set, StatusSink& status)
{
    using nlohmann::json;
    std::map<std::string, json> by_dir;
    json kernels = json::array(), rules = json::object();
    for (const RuleEntry& r : set.rules) {
        const std::string dir = std::filesystem::path(r.file).parent_path().string();
        if (!by_dir.count(dir)) {
            std::ifstream in(std::filesystem::path(dir) / "tests" / "matrix.json");
            json m = in ? json::parse(in, nullptr, false) : json();
            if (in && (m.is_discarded() || !m.is_object())) {
                status.warning(fmt::format("{}/tests/matrix.json is not a kernel matrix: left out of the object", dir));
                m = json();
            }
            by_dir[dir] = m;
            if (m.is_object() && m.contains("kernels") && m["kernels"].is_array())
                for (const json& k : m["kernels"])
                    if (std::find(kernels.begin(), kernels.end(), k) == kernels.end()) kernels.push_back(k);
        }
        const json& m = by_dir[dir];
        if (m.is_object() && m.contains("rules") && m["rules"].is_object() && m["rules"].contains(r.id)) rules[r.id] = m["rules"][r.id];
    }
    if (rules.empty()) return "";
    return json{{"kernels", kernels}, {"rules", rules}}.dump();
}

}  // namespace

int build_prebuilt(const BuildRequest& req, StatusSink& status)
{
    PipelineOptions po;
    po.inputs = req.paths;
    po.include = req.include;
    po.exclude = req.exclude;
    po.kernel = req.kernel;
    Pipeline pipeline(std::move(po));
    const bool ok = pipeline.run(Pipeline::Pass::Lower);
    for (const std::string& note : pipeline.notes()) status.note(note);
    status.diagnostics(pipeline.diagnostics(), pipeline.sources(), req.color_diagnostics);
    if (!ok) return kExitBadInput;
    if (Status s = check_probe_count(pipeline.plan())) return report(status, *s);

    Expected<std::optional<Filter>> filter = compile_where(req.where, req.color_diagnostics, status);
    if (!filter) return report(status, filter.error());
    EmitOptions emit;
    emit.filter = *filter;
    Prebuilt pre;
    pre.set = pipeline.plan();  // every attach form: the target kernel picks
    pipeline.emit(pre.set, emit);
    pre.filter = req.where;
    if (pipeline.btf()) {
        Expected<CompiledObject> built = compile_object(pre.set, *pipeline.btf(), req.cache_dir);
        if (!built) return report(status, built.error());
        pre.object = std::move(built->bytes);
    }
    Expected<std::string> monitors = monitors_text(pipeline.rules());
    if (!monitors) return report(status, monitors.error());
    pre.monitors = *monitors;
    std::map<std::string, std::map<std::string, std::string>> tables;
    std::vector<const std::map<std::string, std::string>*> hints = reason_hint_tables(pre.set, tables, status);
    for (std::size_t i = 0; i < hints.size(); ++i)
        if (hints[i]) pre.reason_hints[i] = *hints[i];
    pre.matrix = test_matrix(pre.set, status);
    pre.built_by = "rtrace-drop " RTD_VERSION;
    pre.kernel = pipeline.kernel_release().empty() ? pipeline.btf_path() : pipeline.kernel_release();
    std::string problem;
    if (!write_prebuilt(req.output, pre, problem)) return report(status, RunError::failure(problem));

    std::size_t programs = pre.set.program_names().size(), monitor_count = 0, probe_rules = 0, skipped = 0;
    for (const RuleEntry& r : pre.set.rules) {
        (r.is_monitor ? monitor_count : probe_rules)++;
        skipped += !r.is_monitor && r.skipped;
    }
    std::error_code ec;
    status.say(fmt::format("wrote {} ({} bytes): {} probe rule(s){}, {} monitor(s), {} program(s) in every attach form{}", req.output,
                           std::filesystem::file_size(req.output, ec), probe_rules,
                           skipped ? fmt::format(" ({} skipped: not in {})", skipped, pipeline.btf_path()) : "", monitor_count, programs,
                           req.where.empty() ? "" : ", filter '" + req.where + "'"));
    if (!pre.matrix.empty())
        status.say(fmt::format("with the packs' test results for {} rule(s) ('rtrace-drop list {}' shows them)",
                               nlohmann::json::parse(pre.matrix)["rules"].size(), req.output));
    return kExitOk;
}

}  // namespace rtd
