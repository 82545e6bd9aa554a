// Drop reasons by name (runtime/drop_reasons.h): the core enum and the
// subsystems' reasons, numbered as each kernel's BTF numbers them; a
// subsystem built as a module has its enum in the module's BTF.
#include "runtime/drop_reasons.h"

#include <gtest/gtest.h>

#include "tests/kernel_support.h"

namespace rtd {
namespace {

std::uint64_t enumerator(const Btf& btf, const std::string& enum_name, const std::string& name)
{
    auto t = btf.find_tagged(Btf::Tag::Enum, enum_name);
    if (t)
        for (auto& [n, v] : btf.enumerators_of(*t))
            if (n == name) return v;
    ADD_FAILURE() << "no " << name << " in enum " << enum_name;
    return 0;
}

TEST(DropReasons, CoreAndUnknownSubsystemReasonsOnThisKernel)
{
    RTD_NEED_KERNEL(test::have_kernel_btf(), "no /sys/kernel/btf/vmlinux");
    std::string error;
    auto btf = Btf::load(test::kKernelBtf, error);
    ASSERT_TRUE(btf) << error;
    // No modules to look in: a subsystem's reason keeps its subsystem's name.
    DropReasonNames names(btf.get(), std::vector<ModuleBtfFile>{});
    EXPECT_EQ(names.name(static_cast<std::uint32_t>(enumerator(*btf, "skb_drop_reason", "SKB_DROP_REASON_NO_SOCKET"))), "NO_SOCKET");
    const auto ovs = enumerator(*btf, "skb_drop_reason_subsys", "SKB_DROP_REASON_SUBSYS_OPENVSWITCH");
    EXPECT_EQ(names.name(static_cast<std::uint32_t>(ovs << 16 | 7)), "OPENVSWITCH:7");
    EXPECT_EQ(names.name(0xfff0), "65520");  // no such core reason
    EXPECT_EQ(DropReasonNames(nullptr).name(2), "2");
}

// Debian's 6.12 builds openvswitch and mac80211 as modules: their reasons'
// names come from the modules' BTF, found in the package's module tree.
TEST(DropReasons, SubsystemReasonsFromModuleBtfOfDebian612)
{
    const std::string vmlinux = test::debian_vmlinux("6.12");
    RTD_NEED_KERNEL(!vmlinux.empty(), "tests/vm/vm.sh btf 6.12 failed (it fetches Debian's kernel package with apt)");
    std::string error;
    auto btf = Btf::load(vmlinux, error);
    ASSERT_TRUE(btf) << error;
    ASSERT_FALSE(btf->find_tagged(Btf::Tag::Enum, "ovs_drop_reason")) << "openvswitch is a module there";
    const std::string tree = find_module_tree(vmlinux, kernel_release_in(vmlinux));
    ASSERT_FALSE(tree.empty());
    DropReasonNames names(btf.get(), module_tree_btf(tree));
    // 6.12 numbers its subsystems MAC80211_UNUSABLE 1, MAC80211_MONITOR 2,
    // OPENVSWITCH 3 (later kernels dropped MONITOR: OPENVSWITCH is 2 there).
    EXPECT_EQ(enumerator(*btf, "skb_drop_reason_subsys", "SKB_DROP_REASON_SUBSYS_OPENVSWITCH"), 3u);
    // ovs_drop_reason starts at OPENVSWITCH << 16: LAST_ACTION is the first.
    EXPECT_EQ(names.name(3u << 16 | 1), "OVS_DROP_LAST_ACTION");
    EXPECT_EQ(names.name(3u << 16 | 2), "OVS_DROP_ACTION_ERROR");
    EXPECT_EQ(names.name(3u << 16 | 999), "OPENVSWITCH:999");
    EXPECT_EQ(names.name(1u << 16 | 1), "RX_DROP_U_MIC_FAIL");
    EXPECT_EQ(names.name(static_cast<std::uint32_t>(enumerator(*btf, "skb_drop_reason", "SKB_DROP_REASON_NETFILTER_DROP"))), "NETFILTER_DROP");
}

}  // namespace
}  // namespace rtd
