#include "runtime/drop_reasons.h"

#include <algorithm>

#include <fmt/format.h>

namespace rtd {

namespace {

constexpr unsigned kSubsystemShift = 16;  // SKB_DROP_REASON_SUBSYS_SHIFT

// Each subsystem's enum and the module that defines it, as the kernel's
// include/net/dropreason.h and the subsystems' headers have them.
struct SubsystemEnum {
    const char* subsystem;
    const char* enum_name;
    const char* module;
};
constexpr SubsystemEnum kSubsystemEnums[] = {
    {"MAC80211_UNUSABLE", "mac80211_drop_reason", "mac80211"},
    {"MAC80211_MONITOR", "mac80211_drop_reason", "mac80211"},
    {"OPENVSWITCH", "ovs_drop_reason", "openvswitch"},
};

std::map<std::uint32_t, std::string> enum_by_value(const Btf& btf, const std::string& enum_name, const std::string& prefix)
{
    std::map<std::uint32_t, std::string> out;
    if (const auto t = btf.find_tagged(Btf::Tag::Enum, enum_name))
        for (auto& [name, v] : btf.enumerators_of(*t))
            out.emplace(static_cast<std::uint32_t>(v), name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name);
    return out;
}

}  // namespace

std::map<std::uint32_t, std::string> core_drop_reason_names(const Btf* kernel)
{
    return kernel ? enum_by_value(*kernel, "skb_drop_reason", "SKB_DROP_REASON_") : std::map<std::uint32_t, std::string>{};
}

DropReasonNames::DropReasonNames(const Btf* kernel, std::optional<std::vector<ModuleBtfFile>> modules)
    : kernel_(kernel), core_(core_drop_reason_names(kernel)), modules_(std::move(modules))
{
    if (kernel) subsystems_ = enum_by_value(*kernel, "skb_drop_reason_subsys", "SKB_DROP_REASON_SUBSYS_");
}

std::string DropReasonNames::name(std::uint32_t value) const
{
    if (auto it = core_.find(value); it != core_.end()) return it->second;
    const std::uint32_t subsystem = value >> kSubsystemShift;
    auto sub = subsystems_.find(subsystem);
    if (subsystem == 0 || sub == subsystems_.end()) return std::to_string(value);
    std::lock_guard lock(mu_);
    auto [names, fresh] = subsystem_names_.try_emplace(subsystem);
    if (fresh) names->second = subsystem_reasons(subsystem);
    if (auto it = names->second.find(value); it != names->second.end()) return it->second;
    return fmt::format("{}:{}", sub->second, value & ((1u << kSubsystemShift) - 1));
}

// The subsystem's enum: in the kernel's BTF when it is built in, else in its
// module's, read on top of the kernel's (once, on the first such drop).
std::map<std::uint32_t, std::string> DropReasonNames::subsystem_reasons(std::uint32_t subsystem) const
{
    const std::string& name = subsystems_.at(subsystem);
    const auto* known = std::find_if(std::begin(kSubsystemEnums), std::end(kSubsystemEnums), [&](const SubsystemEnum& e) { return name == e.subsystem; });
    if (known == std::end(kSubsystemEnums)) return {};
    std::map<std::uint32_t, std::string> out = enum_by_value(*kernel_, known->enum_name, "");
    if (!out.empty()) return out;
    if (!modules_) modules_ = loaded_module_btf();
    auto module = std::find_if(modules_->begin(), modules_->end(), [&](const ModuleBtfFile& m) { return m.name == known->module; });
    if (module == modules_->end()) return {};
    std::string error;
    std::unique_ptr<Btf> base = Btf::load(kernel_->path(), error);
    std::unique_ptr<Btf> merged = base ? Btf::with_modules(std::move(base), {*module}, error) : nullptr;
    return merged ? enum_by_value(*merged, known->enum_name, "") : std::map<std::uint32_t, std::string>{};
}

}  // namespace rtd
