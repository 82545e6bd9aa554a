// Kernel modules' BTF: where it is (the running kernel's /sys/kernel/btf, or
// the module tree of a kernel package), which module defines a function, and
// reading it from raw split BTF or a module file (.ko, .ko.xz, .ko.zst,
// .ko.gz) into memory. `Btf::with_modules` (defined in btf_modules.cpp)
// merges any number of modules on top of the kernel's BTF.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/btf.h"

namespace rtd {

// Where a module's BTF comes from.
struct ModuleBtfFile {
    std::string name;  // "ip_tables" (as the kernel names it: '-' in a file name reads '_')
    std::string path;  // /sys/kernel/btf/ip_tables (raw split BTF) or .../ip_tables.ko[.xz|.zst|.gz] (ELF with .BTF)

    bool operator==(const ModuleBtfFile&) const = default;
};

// The running kernel's loaded modules with BTF (/sys/kernel/btf/* but vmlinux), by name.
std::vector<ModuleBtfFile> loaded_module_btf();

// Every module file below a module tree (lib/modules/<release>), those under
// kernel/net first (where the functions rules probe live), each group by path.
std::vector<ModuleBtfFile> module_tree_btf(const std::string& tree);

// The module tree of the kernel whose vmlinux is `vmlinux_path` and whose
// release is `release`: lib/modules/<release> in the vmlinux's folder or up to
// three folders above it, directly or under a `root/` subfolder (how `dpkg -x`
// and tests/vm/vm.sh lay packages out), else /lib/modules/<release>; "" if none.
std::string find_module_tree(const std::string& vmlinux_path, const std::string& release);

// The release in a vmlinux file's "Linux version X (" banner; "" for raw BTF
// or when there is none.
std::string kernel_release_in(const std::string& vmlinux_path);

// The modules that can go with the kernel BTF at `kernel_btf_path`: the loaded
// ones for /sys/kernel/btf/vmlinux, else those of the module tree found from
// the file's release (none for raw BTF or a kernel without a tree here).
std::vector<ModuleBtfFile> module_btf_candidates(const std::string& kernel_btf_path);

// For each of `functions` that `kernel` lacks, the first module among
// `candidates` whose BTF defines it as a function (by name or a clone,
// see is_function_or_clone). Stops reading candidates once every function is
// found; a byte search of the BTF's strings comes before parsing it. Files
// that cannot be read are passed over; functions found nowhere are absent.
std::map<std::string, ModuleBtfFile> modules_defining(const Btf& kernel, const std::vector<std::string>& functions,
                                                      const std::vector<ModuleBtfFile>& candidates);


// "ip_tables" for .../ip_tables.ko.xz, "snd_hda_intel" for snd-hda-intel.ko.
std::string module_name_from_path(const std::string& path);

}  // namespace rtd
