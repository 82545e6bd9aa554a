#include "compiler/kernel_btf.h"

#include <sys/utsname.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "compiler/btf_modules.h"

namespace rtd {

std::string running_kernel_release()
{
    struct utsname u {};
    return uname(&u) == 0 ? u.release : "";
}

std::string KernelTarget::release() const { return running() ? running_kernel_release() : kernel_release_in(btf_file); }

BtfProblem btf_problem(const KernelTarget& target, const std::string& path, const std::string& error)
{
    if (!target.running()) return {path, "cannot read BTF: " + error, "give a vmlinux with BTF or a raw .btf file", false};
    return {"rtrace-drop", fmt::format("cannot read the kernel's BTF at {}: {}", path, error),
            "this kernel may be built without CONFIG_DEBUG_INFO_BTF; give its BTF with --btf FILE (a vmlinux with .BTF, or a raw .btf file "
            "such as BTFHub's for this kernel)",
            true};
}

KernelBtf load_kernel_btf(const KernelTarget& target, const std::vector<std::string>& functions)
{
    KernelBtf out;
    out.path = target.running() ? kRunningKernelBtf : target.btf_file;
    std::unique_ptr<Btf> btf = Btf::load(out.path, out.error);
    if (!btf) return out;
    std::vector<std::string> missing;
    for (const std::string& f : std::set<std::string>(functions.begin(), functions.end()))
        if (!btf->function(f)) missing.push_back(f);
    if (missing.empty()) {
        out.btf = std::move(btf);
        return out;
    }
    std::vector<ModuleBtfFile> candidates;
    if (!target.modules_dir.empty()) candidates = module_tree_btf(target.modules_dir);
    else candidates = module_btf_candidates(out.path);
    if (candidates.empty() && !target.running())
        out.notes.push_back(fmt::format("no module tree found for {}: functions that live in modules ({}, ...) are not checked; "
                                        "name the package's lib/modules/RELEASE with --btf-modules DIR",
                                        target.btf_file, missing.front()));
    std::vector<ModuleBtfFile> modules;
    for (const auto& [function, module] : modules_defining(*btf, missing, candidates))
        if (std::find(modules.begin(), modules.end(), module) == modules.end()) modules.push_back(module);
    if (modules.empty()) {
        out.btf = std::move(btf);
        return out;
    }
    std::string error;
    std::unique_ptr<Btf> merged = Btf::with_modules(std::move(btf), modules, error);
    if (merged) {
        out.btf = std::move(merged);
        return out;
    }
    // The rules on those functions are skipped (the type checker says so);
    // the others still run.
    out.notes.push_back("cannot read the modules' BTF: " + error);
    out.btf = Btf::load(out.path, out.error);
    return out;
}

}  // namespace rtd
