// The names of skb drop reasons, as this kernel's BTF numbers them: the core
// `enum skb_drop_reason` ("TCP_LISTEN_OVERFLOW") and the subsystems' reasons
// (SKB_DROP_REASON_SUBSYS_MASK): a reason whose high 16 bits are not 0 belongs
// to the subsystem `enum skb_drop_reason_subsys` names there (OPENVSWITCH,
// MAC80211_UNUSABLE, ...), and its name to that subsystem's own enum
// (openvswitch's `ovs_drop_reason`, mac80211's `mac80211_drop_reason`), which
// lives in its module's BTF when the subsystem is a module.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "compiler/btf.h"
#include "compiler/btf_modules.h"

namespace rtd {

// The core reasons without their SKB_DROP_REASON_ prefix, by value.
std::map<std::uint32_t, std::string> core_drop_reason_names(const Btf* kernel);

class DropReasonNames {
public:
    // `kernel` the run's BTF (may be null: numbers only). `modules` where a
    // subsystem's enum may be found; by default the running kernel's loaded
    // modules, looked at when a subsystem's reason is first named.
    explicit DropReasonNames(const Btf* kernel, std::optional<std::vector<ModuleBtfFile>> modules = std::nullopt);

    // "NETFILTER_DROP", "OVS_DROP_LAST_ACTION"; "OPENVSWITCH:7" when the
    // subsystem's enum is not found, else the number. Thread-safe.
    std::string name(std::uint32_t value) const;

private:
    std::map<std::uint32_t, std::string> subsystem_reasons(std::uint32_t subsystem) const;

    const Btf* kernel_;
    std::map<std::uint32_t, std::string> core_;
    std::map<std::uint32_t, std::string> subsystems_;  // 2 -> "OPENVSWITCH"
    mutable std::mutex mu_;
    mutable std::optional<std::vector<ModuleBtfFile>> modules_;
    mutable std::map<std::uint32_t, std::map<std::uint32_t, std::string>> subsystem_names_;  // read once each
};

}  // namespace rtd
