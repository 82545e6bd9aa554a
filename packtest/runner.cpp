#include "packtest/runner.h"

#include <fnmatch.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compiler/frontend.h"
#include "compiler/packs.h"
#include "compiler/proc_counters.h"
#include "packtest/namespaces.h"
#include "packtest/steps.h"
#include "runtime/features.h"
#include "runtime/generation.h"
#include "runtime/kernel_plan.h"
#include "runtime/run_rules.h"
#include "runtime/netns.h"
#include "runtime/signals.h"

namespace rtd::packtest {

namespace {

using json = nlohmann::json;

bool glob_match(const std::string& pattern, const std::string& id) { return ::fnmatch(pattern.c_str(), id.c_str(), 0) == 0; }

bool has_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// The rules a case attaches: those it lists, else those its expectations name.
std::vector<std::string> attached_patterns(const TestCase& tc)
{
    if (!tc.rules.empty()) return tc.rules;
    std::vector<std::string> out;
    for (const Expectation& e : tc.expect)
        if (!e.rule.empty() && std::find(out.begin(), out.end(), e.rule) == out.end()) out.push_back(e.rule);
    return out;
}

// An output FILE* whose text can be read back (the events, as --json writes them).
struct MemoryOutput {
    char* data = nullptr;
    std::size_t size = 0;
    std::FILE* file = ::open_memstream(&data, &size);
    ~MemoryOutput()
    {
        if (file) std::fclose(file);
        std::free(data);
    }
    std::string text()
    {
        std::fflush(file);
        return std::string(data ? data : "", size);
    }
};

// Follows "packet.dport" into an event; null when a step is missing.
const json* field(const json& event, const std::string& path)
{
    const json* at = &event;
    std::size_t begin = 0;
    while (begin <= path.size()) {
        std::size_t dot = path.find('.', begin);
        std::string key = path.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
        if (!at->is_object() || !at->contains(key)) return nullptr;
        at = &(*at)[key];
        if (dot == std::string::npos) break;
        begin = dot + 1;
    }
    return at;
}

// A FieldMatch's value: JSON equality, or ">= 4"-style on numbers.
bool matches(const json& event, const FieldMatch& m)
{
    const json* v = field(event, m.path);
    if (!v) return false;
    json want = json::parse(m.json, nullptr, false);
    if (want.is_string()) {
        const std::string w = want.get<std::string>();
        // "~ TEXT": the field's text contains TEXT (messages, hints).
        if (w.rfind("~ ", 0) == 0) return v->is_string() && v->get<std::string>().find(w.substr(2)) != std::string::npos;
        for (const char* op : {">=", "<=", "!=", ">", "<"}) {
            if (w.rfind(op, 0) != 0 || !v->is_number()) continue;
            char* end = nullptr;
            const std::string rest = w.substr(std::strlen(op));
            double x = std::strtod(rest.c_str(), &end);
            if (end == rest.c_str()) break;
            double have = v->get<double>();
            std::string o(op);
            return o == ">=" ? have >= x : o == "<=" ? have <= x : o == "!=" ? have != x : o == ">" ? have > x : have < x;
        }
    }
    if (want.is_number() && v->is_number()) return want.get<double>() == v->get<double>();
    return *v == want;
}

struct RuleState {
    bool selected = false, attached = false;
    std::string how;  // "tp_btf", "polled", or why it is skipped
};

std::vector<RuleState> rule_states(const Generation& gen, const std::vector<std::string>& include)
{
    const CompiledRuleSet& set = gen.rules.set;
    std::vector<RuleState> states(set.rules.size());
    for (std::size_t i = 0; i < set.rules.size(); ++i) states[i].selected = rule_selected(set.rules[i].id, include, {});
    std::map<std::size_t, std::string> skipped_monitors(gen.monitors->skipped().begin(), gen.monitors->skipped().end());
    for (std::size_t i = 0; i < set.rules.size(); ++i) {
        if (!set.rules[i].is_monitor) continue;
        auto it = skipped_monitors.find(i);
        states[i].attached = it == skipped_monitors.end();
        states[i].how = states[i].attached ? "polled" : it->second;
    }
    for (std::size_t p = 0; p < set.probes.size(); ++p) {
        const ProbePlan& probe = set.probes[p];
        RuleState& s = states[probe.rule];
        const std::size_t m = p < gen.probes.method.size() ? gen.probes.method[p] : kNoMethod;
        if (m != kNoMethod && m < probe.methods.size()) {
            if (!s.attached) s.how.clear();
            s.attached = true;
            std::string form = attach_form_name(probe.methods[m].form);
            if (s.how.find(form) == std::string::npos) s.how += (s.how.empty() ? "" : ", ") + form;
        } else if (!s.attached && s.how.empty()) {
            s.how = p < gen.probes.skip.size() && !gen.probes.skip[p].empty() ? gen.probes.skip[p] : probe.skip_reason;
        }
    }
    return states;
}

// Why no rule `opt` selects runs on this kernel, as the planner says ("" when
// one does, or the rules cannot be planned).
std::string all_skipped_because(const RunOptions& opt)
{
    StringStatus quiet;
    Expected<RunRules> rules = load_run_rules(opt, quiet);
    if (!rules) return "";
    if (rules->btf) {
        KernelFeatures features = probe_kernel_features(*rules->btf);
        plan_for_kernel(rules->set, *rules->btf, features, {opt.rules.include, opt.rules.exclude, opt.all});
    }
    std::vector<std::string> how = rule_methods(rules->set);
    // A monitor runs when its source exists here.
    Monitors monitors(rules->decls);
    monitors.start();
    for (const auto& [i, reason] : monitors.skipped())
        if (i < how.size()) how[i] = "skipped: " + reason;
    std::string why;
    for (std::size_t i = 0; i < rules->set.rules.size(); ++i) {
        if (!rule_selected(rules->set.rules[i].id, opt.rules.include, opt.rules.exclude)) continue;
        if (how[i].rfind("skipped: ", 0) != 0) return "";
        if (why.empty()) why = how[i].substr(9);
    }
    return why;
}

SnmpCounters read_counters_in(const CaseNamespaces& ns, const std::string& name)
{
    Expected<NetnsScope> in = enter_netns(ns.path(name));
    return in ? read_snmp("/proc/thread-self/net") : SnmpCounters{};
}

}  // namespace

const char* outcome_name(Outcome o)
{
    switch (o) {
    case Outcome::Pass: return "pass";
    case Outcome::Fail: return "FAIL";
    case Outcome::Error: return "ERROR";
    case Outcome::Skipped: return "skipped";
    }
    return "?";
}

CaseResult run_case(const TestCase& tc, const std::filesystem::path& pack_dir, const RunnerOptions& options)
{
    const auto started = std::chrono::steady_clock::now();
    CaseResult res;
    res.pack = tc.pack, res.name = tc.name, res.file = tc.file.string();
    auto finish = [&](Outcome o, std::string note) {
        // Ctrl-C: whatever the case got to, it did not run to the end.
        if (stop_requested()) o = Outcome::Error, note = "interrupted";
        if (o != Outcome::Pass) res.outcome = o, res.note = std::move(note);
        res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        return res;
    };
    auto rows_all = [&](Outcome o, const std::string& note) {
        for (const Expectation& e : tc.expect)
            res.rows.push_back({e.rule.empty() ? fmt::format("counter {} in {}", e.counter, e.ns) : e.rule, o, 0, e.expected_text(), note});
    };
    if (struct utsname u; !tc.min_kernel.empty() && ::uname(&u) == 0 && compare_kernel_versions(u.release, tc.min_kernel) < 0) {
        const std::string why = fmt::format("needs Linux {} or later (this kernel: {})", tc.min_kernel, u.release);
        rows_all(Outcome::Skipped, why);
        return finish(Outcome::Skipped, why);
    }
    if (tc.uses_exec && !options.allow_exec) {
        const std::string why = "runs shell commands ('exec' steps): needs --allow-exec";
        rows_all(Outcome::Skipped, why);
        return finish(Outcome::Skipped, why);
    }

    CaseNamespaces ns;
    if (std::string why = ns.build(tc.topology); !why.empty()) {
        rows_all(Outcome::Error, "setup failed");
        return finish(Outcome::Error, "the topology could not be built: " + why);
    }
    std::map<std::string, SnmpCounters> counters_before;
    for (const Expectation& e : tc.expect)
        if (!e.counter.empty() && !counters_before.count(e.ns)) counters_before[e.ns] = read_counters_in(ns, e.ns);

    MemoryOutput events;
    RunOptions opt;
    opt.rules.inputs = {pack_dir.string()};
    opt.rules.include = attached_patterns(tc);
    opt.output.json = true;
    opt.output.stacks = false;
    opt.output.out = events.file;
    opt.cache_dir = options.cache_dir;
    opt.all = tc.all;
    opt.load.report_all = tc.all;
    // Monitors read the namespace the case watches; probes see them all.
    Expected<NetnsScope> watching = tc.watch.empty() ? Expected<NetnsScope>(NetnsScope()) : enter_netns(ns.path(tc.watch));
    if (!watching) {
        rows_all(Outcome::Error, "setup failed");
        return finish(Outcome::Error, watching.error().message);
    }
    StringStatus status;
    Expected<std::unique_ptr<Generation>> started_gen = start_generation(opt, 0, -1, status);
    if (!started_gen) {
        if (!started_gen.error().reported) status.error(started_gen.error());
        res.log = status.text;
        // Nothing attaches when every rule the case names is one this kernel
        // cannot run (no kprobes): a skip with the planner's reason, not an error.
        if (std::string why = all_skipped_because(opt); !why.empty()) {
            rows_all(Outcome::Skipped, why);
            return finish(Outcome::Skipped, why);
        }
        rows_all(Outcome::Error, "the rules did not load");
        return finish(Outcome::Error, "the rules did not load: " + (started_gen.error().message.empty() ? status.text : started_gen.error().message));
    }
    Generation& gen = **started_gen;
    std::vector<RuleState> states = rule_states(gen, opt.rules.include);

    // The steps, with the programs attached; their events wait in the ring.
    std::string step_error, kernel_lacks;
    {
        StepRunner steps(ns, options.allow_exec);
        for (std::size_t i = 0; i < tc.steps.size() && step_error.empty() && kernel_lacks.empty(); ++i)
            if (std::string why = steps.run(tc.steps[i]); why.empty()) continue;
            else if (steps.kernel_lacks()) kernel_lacks = std::move(why);
            else step_error = fmt::format("step {} ({}{}): {}", i + 1, step_name(tc.steps[i].kind),
                                          tc.steps[i].ns.empty() ? "" : " in " + tc.steps[i].ns, why);
        LoopOptions loop;
        loop.duration_ms = std::max<std::uint64_t>(100, static_cast<std::uint64_t>(tc.settle * 1000));
        loop.poll_ms = 250;
        Expected<LoopEnd> end = run_event_loop(gen.rules.set, gen.probes, gen.ring.get(), *gen.monitors, *gen.reporting, loop, [] {}, status);
        gen.reporting->flush();
        if (!end && step_error.empty()) step_error = end.error().message;
    }
    res.log = status.text;
    const std::string output = events.text();
    res.log += output;

    std::map<std::string, SnmpCounters> counters_after;
    for (const auto& [name, c] : counters_before) counters_after[name] = read_counters_in(ns, name);
    const std::vector<std::uint64_t> inodes = ns.inodes();
    ns.remove();

    std::vector<json> case_events;
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
        json e = json::parse(line, nullptr, false);
        if (e.is_discarded() || !e.contains("rule") || !e.contains("netns")) continue;
        // Drops elsewhere on the host are not the case's.
        if (!tc.watch.empty() && e.value("kind", "") == "monitor") case_events.push_back(std::move(e));
        else if (e["netns"].is_number() && std::count(inodes.begin(), inodes.end(), e["netns"].get<std::uint64_t>()))
            case_events.push_back(std::move(e));
    }

    if (stop_requested()) {
        rows_all(Outcome::Error, "interrupted");
        return finish(Outcome::Error, "");
    }
    if (!kernel_lacks.empty()) {
        rows_all(Outcome::Skipped, kernel_lacks);
        return finish(Outcome::Skipped, kernel_lacks);
    }
    Outcome overall = Outcome::Pass;
    auto worse = [&](Outcome o) {
        auto rank = [](Outcome x) { return x == Outcome::Error ? 3 : x == Outcome::Fail ? 2 : x == Outcome::Skipped ? 1 : 0; };
        if (rank(o) > rank(overall)) overall = o;
    };
    const CompiledRuleSet& set = gen.rules.set;
    for (const Expectation& e : tc.expect) {
        ResultRow row;
        row.expected = e.expected_text();
        std::uint64_t n = 0;
        if (!e.counter.empty()) {
            row.rule = fmt::format("counter {} in {}", e.counter, e.ns);
            auto before = counters_before[e.ns].find(e.counter);
            auto after = counters_after[e.ns].find(e.counter);
            if (after == counters_after[e.ns].end()) {
                row.outcome = Outcome::Error;
                row.note = fmt::format("this kernel has no counter {}", e.counter);
            } else {
                n = after->second - (before == counters_before[e.ns].end() ? 0 : before->second);
            }
        } else {
            row.rule = e.rule;
            std::set<std::string> attached;
            std::string skipped_why, how;
            bool any = false;
            for (std::size_t i = 0; i < set.rules.size(); ++i) {
                if (!states[i].selected || !glob_match(e.rule, set.rules[i].id)) continue;
                any = true;
                if (states[i].attached) attached.insert(set.rules[i].id), how = states[i].how;
                else if (skipped_why.empty()) skipped_why = states[i].how;
            }
            if (!any) {
                row.outcome = Outcome::Error;
                row.note = fmt::format("no rule of pack {} matches '{}'", tc.pack, e.rule);
            } else if (attached.empty()) {
                row.outcome = Outcome::Skipped;
                row.note = skipped_why.rfind("skipped: ", 0) == 0 ? skipped_why.substr(9) : skipped_why;
            } else {
                std::map<std::string, std::uint64_t> by_rule;
                for (const json& ev : case_events)
                    if (attached.count(ev["rule"].get<std::string>()) &&
                        std::all_of(e.where.begin(), e.where.end(), [&](const FieldMatch& m) { return matches(ev, m); }))
                        ++n, ++by_rule[ev["rule"].get<std::string>()];
                if (!has_glob(e.rule)) row.note = how;
                // A glob that fired: which rules did.
                else
                    for (const auto& [id, count] : by_rule) row.note += fmt::format("{}{} x{}", row.note.empty() ? "fired: " : ", ", id, count);
            }
        }
        row.fired = n;
        if (row.outcome == Outcome::Pass) {
            bool ok = e.exactly ? n == *e.exactly : n >= e.at_least.value_or(1);
            if (!ok) {
                row.outcome = Outcome::Fail;
                std::string fields;
                for (const FieldMatch& m : e.where) fields += (fields.empty() ? "" : ", ") + m.path + " = " + m.json;
                if (has_glob(e.rule)) row.note += fields.empty() ? "" : (row.note.empty() ? "where " : "; where ") + fields;
                else row.note = fields.empty() ? "" : "where " + fields;
            }
        }
        if (!step_error.empty() && row.outcome != Outcome::Skipped) row.outcome = Outcome::Error, row.note = "a step failed";
        worse(row.outcome);
        res.rows.push_back(std::move(row));
    }
    if (!step_error.empty()) return finish(Outcome::Error, step_error);
    return finish(overall, overall == Outcome::Skipped ? "a rule it needs does not run on this kernel" : "");
}

}  // namespace rtd::packtest
