#include "runtime/monitor.h"

#include <unistd.h>

#include <climits>
#include <cstdint>
#include <filesystem>
#include <functional>

#include <fmt/format.h>

#include "compiler/const_eval.h"

namespace rtd {

namespace {

std::uint64_t current_netns()
{
    std::error_code ec;
    std::string link = std::filesystem::read_symlink("/proc/thread-self/ns/net", ec).string();  // net:[4026531840]
    auto open = link.find('['), close = link.find(']');
    return open != std::string::npos && close != std::string::npos ? std::stoull(link.substr(open + 1, close - open - 1)) : 0;
}

}  // namespace

Monitors::Monitors(const std::vector<const RuleDecl*>& decls, MonitorPaths paths) : paths_(std::move(paths))
{
    for (std::size_t i = 0; i < decls.size(); ++i)
        if (decls[i]->is_monitor && decls[i]->source) monitors_.emplace_back(i, decls[i]);
}

std::optional<std::int64_t> Monitors::evaluate(const Expr& e, const std::map<std::string, std::int64_t>& names)
{
    auto value = [](std::int64_t v) { return ConstValue{static_cast<std::uint64_t>(v), false}; };
    switch (e.kind) {
    case ExprKind::Int: return e.signed_value();
    case ExprKind::Ident: {
        auto it = names.find(e.name);
        if (it == names.end()) return std::nullopt;
        return it->second;
    }
    case ExprKind::Unary: {
        auto a = evaluate(*e.kids[0], names);
        if (!a) return std::nullopt;
        ConstResult r = eval_unary(e.unary_op, value(*a));
        if (auto* v = std::get_if<ConstValue>(&r)) return v->as_signed();
        return std::nullopt;
    }
    case ExprKind::Binary: {
        auto a = evaluate(*e.kids[0], names);
        // && and || short-circuit, as in C.
        if (a && e.binary_op == BinaryOp::LogAnd && *a == 0) return 0;
        if (a && e.binary_op == BinaryOp::LogOr && *a != 0) return 1;
        auto b = evaluate(*e.kids[1], names);
        if (!a || !b) return std::nullopt;
        ConstResult r = eval_binary(e.binary_op, value(*a), value(*b));
        if (auto* v = std::get_if<ConstValue>(&r)) return v->as_signed();
        // Division by zero and overflow at run time: like BPF, x/0 is 0.
        return e.binary_op == BinaryOp::Mod ? *a : e.binary_op == BinaryOp::Div ? 0 : LLONG_MAX;
    }
    case ExprKind::Cast: {
        auto a = evaluate(*e.kids[0], names);
        if (!a || e.type.tag != TypeRef::Tag::Scalar || e.type.pointers) return std::nullopt;
        return eval_scalar_cast(e.type.name, value(*a)).as_signed();
    }
    case ExprKind::Coalesce:
        for (const ExprPtr& k : e.kids)
            if (auto v = evaluate(*k, names)) return v;
        return std::nullopt;
    default: return std::nullopt;
    }
}

std::optional<std::vector<Monitors::Reading>> Monitors::read(const RuleDecl& r, std::string& absent)
{
    const MonitorSource& s = *r.source;
    std::vector<Reading> out;
    switch (s.kind) {
    case SourceKind::Snmp: {
        if (!snmp_) snmp_ = read_snmp(paths_.proc_net);
        auto it = snmp_->find(s.key);
        if (it == snmp_->end()) {
            absent = fmt::format("SNMP counter {} does not exist on this kernel", s.key);
            return std::nullopt;
        }
        out.push_back({"", static_cast<std::int64_t>(it->second)});
        return out;
    }
    case SourceKind::Link:
    case SourceKind::Netdev: {
        if (!links_) {
            std::string error;
            links_ = read_links(error);
            if (!links_) {
                absent = error;
                return std::nullopt;
            }
        }
        auto index = s.kind == SourceKind::Link ? link_stat_index(s.key) : std::nullopt;
        for (const LinkInfo& l : *links_) {
            if (s.kind == SourceKind::Netdev) out.push_back({l.name, static_cast<std::int64_t>(l.flags)});
            else if (index && *index < l.stats.size()) out.push_back({l.name, static_cast<std::int64_t>(l.stats[*index])});
        }
        if (s.kind == SourceKind::Link && out.empty() && !links_->empty()) {
            absent = fmt::format("link statistic {} is not reported by this kernel", s.key);
            return std::nullopt;
        }
        return out;
    }
    case SourceKind::Sysctl: {
        auto values = read_sysctl(s.key, paths_.proc_sys);
        if (!values) {
            absent = fmt::format("sysctl {} does not exist on this kernel", s.key);
            return std::nullopt;
        }
        for (const SysctlValue& v : *values) out.push_back({v.dev, v.value});
        return out;
    }
    case SourceKind::Softnet: {
        if (!softnet_) softnet_ = read_softnet(paths_.proc_net);
        if (!softnet_) {
            absent = fmt::format("cannot read {}/softnet_stat", paths_.proc_net);
            return std::nullopt;
        }
        std::size_t index = softnet_column_index(s.key).value_or(SIZE_MAX);
        for (const SoftnetRow& row : *softnet_)
            if (index < row.fields.size()) out.push_back({fmt::format("cpu{}", row.cpu), row.fields[index]});
        if (out.empty() && !softnet_->empty()) {
            absent = fmt::format("softnet_stat has no {} column on this kernel (its lines have {} fields)", s.key,
                                 softnet_->front().fields.size());
            return std::nullopt;
        }
        return out;
    }
    }
    return std::nullopt;
}

std::vector<MonitorFinding> Monitors::start(bool since_boot)
{
    netns_ = current_netns();
    return evaluate_all(true, since_boot);
}

std::vector<MonitorFinding> Monitors::poll() { return evaluate_all(false, false); }

std::vector<MonitorFinding> Monitors::evaluate_all(bool first, bool since_boot)
{
    std::vector<MonitorFinding> findings;
    snmp_.reset();
    links_.reset();
    softnet_.reset();
    auto now = std::chrono::steady_clock::now();
    auto elapsed_ms = std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(now - last_).count());
    last_ = now;
    timespec wall{};
    clock_gettime(CLOCK_REALTIME, &wall);
    std::int64_t time_ns = static_cast<std::int64_t>(wall.tv_sec) * 1000000000 + wall.tv_nsec;

    std::vector<std::size_t> which;
    if (first) {
        which.resize(monitors_.size());
        for (std::size_t m = 0; m < which.size(); ++m) which[m] = m;
    } else {
        which = active_;
    }
    for (std::size_t m : which) {
        const auto& [index, rule] = monitors_[m];
        std::string absent;
        auto readings = read(*rule, absent);
        if (!readings) {
            if (first) skipped_.emplace_back(index, absent);
            continue;  // later: it went away (a device removed); try again next time
        }
        if (first) active_.push_back(m);
        // SNMP and link statistics only grow; a smaller value means the
        // counter was reset (a device re-created): count from zero.
        // softnet_stat's counters are u32 that are never reset: a smaller
        // value wrapped at 2^32. Its queue lengths are gauges.
        const MonitorSource& source = *rule->source;
        bool wraps = source.kind == SourceKind::Softnet && !softnet_column_is_gauge(source.key);
        bool counter = source.kind == SourceKind::Snmp || source.kind == SourceKind::Link;
        for (const Reading& r : *readings) {
            auto key = std::make_pair(index, r.dev);
            auto prev = previous_.find(key);
            std::int64_t delta = 0;
            if (since_boot) {
                delta = r.value;
            } else if (prev != previous_.end()) {
                delta = r.value - prev->second;
                if (delta < 0 && wraps) delta += std::int64_t{1} << 32;
                else if (delta < 0 && counter) delta = r.value;
            }
            previous_[key] = r.value;
            MonitorFinding f;
            f.rule = index;
            f.dev = r.dev;
            f.value = r.value;
            f.delta = delta;
            f.rate = first ? 0 : delta * 1000 / elapsed_ms;
            f.netns = netns_;
            f.time_ns = time_ns;
            std::map<std::string, std::int64_t> names{{"value", f.value}, {"delta", f.delta}, {"rate", f.rate}};
            // Captures may use each other (the resolver rejects cycles and
            // names that hide value, delta or rate): evaluate until a round
            // adds nothing.
            for (bool progress = true; progress;) {
                progress = false;
                for (const Binding& c : rule->captures)
                    if (!names.count(c.name))
                        if (auto v = evaluate(*c.expr, names)) {
                            names[c.name] = *v;
                            progress = true;
                        }
            }
            for (const Binding& c : rule->captures)
                if (auto it = names.find(c.name); it != names.end()) f.captures.emplace_back(c.name, it->second);
            bool hit = true;
            if (rule->condition) {
                auto v = evaluate(*rule->condition, names);
                hit = v && *v != 0;
            }
            bool& firing = firing_[key];
            bool report = hit && (!firing || delta != 0 || since_boot);
            firing = hit;
            if (report) findings.push_back(std::move(f));
        }
    }
    return findings;
}

}  // namespace rtd
