#include "compiler/counted.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include <fmt/format.h>

#include "compiler/language.h"
#include "compiler/suggest.h"

namespace rtd {

std::string snmp_table_of(std::string_view name)
{
    std::string best;
    for (const std::string& t : snmp_tables())
        if (name.size() > t.size() && name.substr(0, t.size()) == t && std::isupper(static_cast<unsigned char>(name[t.size()])) &&
            t.size() > best.size())
            best = t;
    return best;
}

namespace {

class CountedCheck {
public:
    CountedCheck(const std::vector<std::string>& names, Diagnostics& diags, bool strict) : diags_(diags), strict_(strict)
    {
        for (const std::string& n : names) {
            have_.insert(n);
            by_table_[snmp_table_of(n)].push_back(n);
        }
    }

    void group(const CounterGroup& g)
    {
        const bool any_here = std::any_of(g.alternatives.begin(), g.alternatives.end(), [&](const MonitorSource& c) {
            return c.kind != SourceKind::Snmp || have_.count(c.key);
        });
        for (const MonitorSource& c : g.alternatives)
            if (c.kind == SourceKind::Snmp && !have_.count(c.key)) counter(c, any_here);
    }

private:
    void counter(const MonitorSource& c, bool group_here)
    {
        const std::string table = snmp_table_of(c.key);
        if (table.empty()) {
            Diagnostic& d = diags_.error(c.key_range, fmt::format("'{}' is not an SNMP counter name", c.key));
            std::vector<std::string> ending;
            for (const std::string& n : have_)
                if (n.size() > c.key.size() && n.compare(n.size() - c.key.size(), c.key.size(), c.key) == 0) ending.push_back(n);
            if (ending.size() == 1) d.hint(fmt::format("did you mean '{}'?", ending.front()));
            else d.hint("names are as nstat prints them: the table, then the column (UdpRcvbufErrors, TcpExtListenDrops)");
            return;
        }
        auto it = by_table_.find(table);
        if (it != by_table_.end())
            if (auto near = closest_match(c.key, it->second)) {
                diags_.error(c.key_range, fmt::format("this machine has no SNMP counter '{}'", c.key))
                    .hint(fmt::format("did you mean '{}'?", *near));
                return;
            }
        if (group_here) return;  // the other table of the group is here (IPv4 or IPv6)
        const std::string message = fmt::format("this machine has no SNMP counter '{}' (a counter of an older or newer kernel{})", c.key,
                                                table.find('6') != std::string::npos ? ", or IPv6 is off" : "");
        Diagnostic& d = strict_ ? diags_.error(c.key_range, message) : diags_.warning(c.key_range, message);
        d.hint(fmt::format("'nstat -az | grep {}' lists the {} counters it has", table, table));
    }

    Diagnostics& diags_;
    const bool strict_;
    std::set<std::string> have_;
    std::map<std::string, std::vector<std::string>> by_table_;
};

}  // namespace

void check_counted(const std::vector<const RuleDecl*>& rules, const CounterCatalog& machine, Diagnostics& diags, bool strict)
{
    if (!machine.snmp) return;
    CountedCheck check(*machine.snmp, diags, strict);
    for (const RuleDecl* r : rules)
        for (const CounterGroup& g : r->counted_as) check.group(g);
}

}  // namespace rtd
