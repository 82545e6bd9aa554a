#include "compiler/btf_modules.h"

#include "compiler/module_file.h"

#include <bpf/btf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace rtd {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxTreeEntries = 200'000;  // a Debian module tree has about 6,000
constexpr unsigned kScanThreads = 2;
constexpr const char* kLoadedModuleBtf = "/sys/kernel/btf";
constexpr std::string_view kModuleExtensions[] = {".ko", ".ko.xz", ".ko.zst", ".ko.gz"};

using BtfHandle = std::unique_ptr<struct btf, decltype(&btf__free)>;


// The length of a module file name's extension (".ko.xz"), or 0.
std::size_t module_extension(std::string_view file)
{
    for (std::string_view ext : kModuleExtensions)
        if (file.size() > ext.size() && file.ends_with(ext)) return ext.size();
    return 0;
}

// ---- BTF --------------------------------------------------------------------

// Whether the strings of raw BTF `btf` hold `name` or `name.<suffix>`: a
// cheap test before parsing it. Strings are NUL-terminated.
bool strings_mention(std::string_view btf, std::string_view name)
{
    std::string_view strings = btf;
    if (struct btf_header h; btf.size() >= sizeof h) {
        std::memcpy(&h, btf.data(), sizeof h);
        if (h.magic != BTF_MAGIC) return true;  // the other byte order: let the parser decide
        const std::uint64_t start = std::uint64_t{h.hdr_len} + h.str_off;
        if (start <= btf.size() && h.str_len <= btf.size() - start) strings = btf.substr(start, h.str_len);
    }
    for (std::size_t at = strings.find(name); at != std::string_view::npos; at = strings.find(name, at + 1)) {
        const std::size_t after = at + name.size();
        if ((at == 0 || strings[at - 1] == '\0') && after < strings.size() && (strings[after] == '\0' || strings[after] == '.'))
            return true;
    }
    return false;
}

// libbpf 1.1 exports no parser of split BTF in memory (btf__new_split is
// missing from its symbol map), so the bytes go through a memory file.
BtfHandle parse_split(std::string_view bytes, struct btf* base, std::string& error)
{
    BtfHandle b(nullptr, btf__free);
    FileDescriptor memory{::memfd_create("rtd-module-btf", MFD_CLOEXEC)};
    int failure = memory.fd < 0 ? errno : 0;
    for (std::size_t done = 0; !failure && done < bytes.size();) {
        ssize_t n = ::write(memory.fd, bytes.data() + done, bytes.size() - done);
        if (n > 0) done += static_cast<std::size_t>(n);
        else if (n == 0 || errno != EINTR) failure = n == 0 ? EIO : errno;
    }
    if (failure) {
        error = fmt::format("cannot hand the BTF to libbpf ({})", std::strerror(failure));
        return b;
    }
    b.reset(btf__parse_raw_split(fmt::format("/proc/self/fd/{}", memory.fd).c_str(), base));
    if (!b) error = fmt::format("not valid BTF ({})", std::strerror(errno));
    return b;
}

// Calls `on_type` with each type id `t` refers to and `on_string` with each
// of its string offsets, as references they may rewrite; stops at the
// first that returns false.
template <class OnType, class OnString>
bool visit_references(const struct btf_type* ct, OnType on_type, OnString on_string)
{
    auto* t = const_cast<struct btf_type*>(ct);  // libbpf hands types out const; only our merge copy is written
    const int n = btf_vlen(t);
    if (!on_string(t->name_off)) return false;
    switch (btf_kind(t)) {
    case BTF_KIND_PTR:
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_CONST:
    case BTF_KIND_RESTRICT:
    case BTF_KIND_FUNC:
    case BTF_KIND_VAR:
    case BTF_KIND_DECL_TAG:
    case BTF_KIND_TYPE_TAG: return on_type(t->type);
    case BTF_KIND_ARRAY: return on_type(btf_array(t)->type) && on_type(btf_array(t)->index_type);
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
        return std::all_of(btf_members(t), btf_members(t) + n, [&](auto& m) { return on_type(m.type) && on_string(m.name_off); });
    case BTF_KIND_FUNC_PROTO:
        return on_type(t->type) &&
               std::all_of(btf_params(t), btf_params(t) + n, [&](auto& p) { return on_type(p.type) && on_string(p.name_off); });
    case BTF_KIND_DATASEC:
        return std::all_of(btf_var_secinfos(t), btf_var_secinfos(t) + n, [&](auto& v) { return on_type(v.type); });
    case BTF_KIND_ENUM: return std::all_of(btf_enum(t), btf_enum(t) + n, [&](auto& e) { return on_string(e.name_off); });
    case BTF_KIND_ENUM64: return std::all_of(btf_enum64(t), btf_enum64(t) + n, [&](auto& e) { return on_string(e.name_off); });
    default: return true;
    }
}

// libbpf 1.1 does not check that a file's type ids and string offsets
// exist, and copying a type (btf__add_type) or deduplicating reads them.
std::string bad_reference(const struct btf* module)
{
    const std::uint32_t end = btf__type_cnt(module);
    for (std::uint32_t id = btf__type_cnt(btf__base_btf(module)); id < end; ++id) {
        std::uint32_t missing = 0;
        bool ok = visit_references(
            btf__type_by_id(module, id), [&](__u32& ref) { return ref < end || (missing = ref, false); },
            [&](__u32& off) { return btf__str_by_offset(module, off) != nullptr; });
        if (!ok && missing) return fmt::format("type #{} refers to type #{}, which does not exist", id, missing);
        if (!ok) return fmt::format("type #{} has a name outside the string section", id);
    }
    return {};
}

// Copies the module's own types to the end of `merged` (split BTF on the
// same base; libbpf 1.1's btf__add_btf refuses split BTF) and points their
// references to module types at the copies. Returns a negative errno.
int append_module_types(struct btf* merged, const struct btf* module)
{
    const std::uint32_t first = btf__type_cnt(btf__base_btf(module)), end = btf__type_cnt(module);
    const std::uint32_t moved_to = btf__type_cnt(merged);
    for (std::uint32_t id = first; id < end; ++id) {
        int copy = btf__add_type(merged, module, btf__type_by_id(module, id));
        if (copy < 0) return copy;
        visit_references(
            btf__type_by_id(merged, static_cast<std::uint32_t>(copy)),
            [&](__u32& ref) {
                if (ref >= first) ref = ref - first + moved_to;
                return true;
            },
            [](__u32&) { return true; });
    }
    return 0;
}

// The module's BTF parsed on `base`, checked for what the merge reads.
BtfHandle read_module(const ModuleBtfFile& module, struct btf* base, std::string& error)
{
    BtfHandle none(nullptr, btf__free);
    ModuleReadBuffers buffers;
    std::optional<std::string_view> bytes = module_file_btf(module.path, buffers, error);
    if (!bytes) return none;
    BtfHandle b = parse_split(*bytes, base, error);
    if (!b) return none;
    if (std::string why = bad_reference(b.get()); !why.empty()) {
        error = "refused: " + why;
        return none;
    }
    return b;
}

// The indexes (into `functions`) of those among `which` the module defines.
std::vector<std::size_t> defined_functions(const ModuleBtfFile& module, struct btf* base, const std::vector<std::string>& functions,
                                           const std::vector<std::size_t>& which, ModuleReadBuffers& buffers)
{
    std::vector<std::size_t> found;
    std::string error;
    std::optional<std::string_view> bytes = module_file_btf(module.path, buffers, error);
    if (!bytes) return found;
    std::vector<std::size_t> mentioned;
    for (std::size_t k : which)
        if (strings_mention(*bytes, functions[k])) mentioned.push_back(k);
    if (mentioned.empty()) return found;
    BtfHandle b = parse_split(*bytes, base, error);
    if (!b) return found;
    for (std::uint32_t id = btf__type_cnt(base); id < btf__type_cnt(b.get()); ++id) {
        const struct btf_type* t = btf__type_by_id(b.get(), id);
        const char* name = btf_is_func(t) ? btf__str_by_offset(b.get(), t->name_off) : nullptr;
        for (std::size_t k : mentioned)
            if (name && is_function_or_clone(name, functions[k]) && std::find(found.begin(), found.end(), k) == found.end())
                found.push_back(k);
    }
    return found;
}

// A release is a file name in lib/modules (and comes from a file's bytes).
bool valid_release(std::string_view r)
{
    if (r.empty() || r.size() > 64 || r == "." || r == "..") return false;
    return std::all_of(r.begin(), r.end(), [](char c) {
        const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        return alnum || std::string_view("._+~-").find(c) != std::string_view::npos;
    });
}

}  // namespace

std::string module_name_from_path(const std::string& path)
{
    std::string name = fs::path(path).filename().string();
    name.resize(name.size() - module_extension(name));
    std::replace(name.begin(), name.end(), '-', '_');
    return name;
}

std::vector<ModuleBtfFile> loaded_module_btf()
{
    std::vector<ModuleBtfFile> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(kLoadedModuleBtf, ec))
        if (entry.path().filename() != "vmlinux") out.push_back({entry.path().filename().string(), entry.path().string()});
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
}

std::vector<ModuleBtfFile> module_tree_btf(const std::string& tree)
{
    std::vector<ModuleBtfFile> net, rest;
    std::error_code ec;
    fs::recursive_directory_iterator it(tree, fs::directory_options::skip_permission_denied, ec);
    for (std::size_t seen = 0; !ec && it != fs::recursive_directory_iterator() && seen < kMaxTreeEntries; it.increment(ec), ++seen) {
        const std::string file = it->path().filename().string();
        if (std::error_code type_ec; !module_extension(file) || !it->is_regular_file(type_ec)) continue;
        const std::string relative = it->path().lexically_relative(tree).string();
        (relative.starts_with("kernel/net/") ? net : rest).push_back({module_name_from_path(file), it->path().string()});
    }
    auto by_path = [](const ModuleBtfFile& a, const ModuleBtfFile& b) { return a.path < b.path; };
    std::sort(net.begin(), net.end(), by_path);
    std::sort(rest.begin(), rest.end(), by_path);
    net.insert(net.end(), rest.begin(), rest.end());
    return net;
}

std::string find_module_tree(const std::string& vmlinux_path, const std::string& release)
{
    if (!valid_release(release)) return {};
    std::error_code ec;
    const fs::path modules = fs::path("lib") / "modules" / release;
    fs::path dir = fs::absolute(vmlinux_path, ec).parent_path();
    for (int up = 0; up <= 3 && !dir.empty(); ++up, dir = dir.parent_path()) {
        for (const fs::path& tree : {dir / modules, dir / "root" / modules})
            if (fs::is_directory(tree, ec)) return tree.string();
        if (dir == dir.root_path()) break;
    }
    const fs::path system = fs::path("/") / modules;
    return fs::is_directory(system, ec) ? system.string() : std::string();
}

std::string kernel_release_in(const std::string& vmlinux_path)
{
    FileDescriptor file{::open(vmlinux_path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) return {};
    constexpr std::string_view banner = "Linux version ";
    constexpr std::size_t kChunk = std::size_t{1} << 20, kKeep = 128;  // kKeep > banner + release + " ("
    std::string window;
    for (bool first = true;; first = false) {
        const std::size_t kept = window.size();
        window.resize(kept + kChunk);
        ssize_t n = ::read(file.fd, window.data() + kept, kChunk);
        if (n < 0 && errno == EINTR) n = 0;
        else if (n <= 0) return {};
        window.resize(kept + static_cast<std::size_t>(n));
        if (first && is_raw_btf(window)) return {};
        for (std::size_t at = window.find(banner); at != std::string::npos; at = window.find(banner, at + 1)) {
            const std::size_t start = at + banner.size(), space = window.find(' ', start);
            if (space == std::string::npos || window.compare(space, 2, " (") != 0) continue;
            std::string release = window.substr(start, space - start);
            if (valid_release(release)) return release;
        }
        window.erase(0, window.size() > kKeep ? window.size() - kKeep : 0);
    }
}

std::vector<ModuleBtfFile> module_btf_candidates(const std::string& kernel_btf_path)
{
    if (kernel_btf_path == std::string(kLoadedModuleBtf) + "/vmlinux") return loaded_module_btf();
    const std::string tree = find_module_tree(kernel_btf_path, kernel_release_in(kernel_btf_path));
    return tree.empty() ? std::vector<ModuleBtfFile>() : module_tree_btf(tree);
}

std::map<std::string, ModuleBtfFile> modules_defining(const Btf& kernel, const std::vector<std::string>& functions,
                                                      const std::vector<ModuleBtfFile>& candidates)
{
    std::vector<std::string> wanted;
    for (const std::string& f : functions)
        if (std::find(wanted.begin(), wanted.end(), f) == wanted.end() && !kernel.function(f)) wanted.push_back(f);
    // Module files are split BTF on vmlinux's, also when `kernel` already has modules.
    const struct btf* own = kernel.raw();
    struct btf* base = const_cast<struct btf*>(btf__base_btf(own) ? btf__base_btf(own) : own);  // only read

    // Candidates are taken in turn by up to two threads; the first candidate
    // (in order) defining a function wins, so the answer does not depend on timing.
    constexpr std::size_t kNowhere = SIZE_MAX;
    std::vector<std::size_t> found_at(wanted.size(), kNowhere);
    std::mutex mutex;
    std::atomic<std::size_t> next{0};
    auto scan = [&] {
        ModuleReadBuffers buffers;
        for (std::size_t i; (i = next++) < candidates.size();) {
            std::vector<std::size_t> missing;  // not found in a candidate before this one
            {
                std::lock_guard lock(mutex);
                for (std::size_t k = 0; k < wanted.size(); ++k)
                    if (found_at[k] > i) missing.push_back(k);
            }
            if (missing.empty()) return;
            std::vector<std::size_t> defined;
            try {
                defined = defined_functions(candidates[i], base, wanted, missing, buffers);
            } catch (const std::exception&) {
                continue;  // an unreadable module defines nothing usable
            }
            std::lock_guard lock(mutex);
            for (std::size_t k : defined) found_at[k] = std::min(found_at[k], i);
        }
    };
    if (!wanted.empty()) {
        const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
        const std::size_t threads = std::min<std::size_t>({kScanThreads, cores, candidates.size()});
        std::vector<std::jthread> helpers;
        for (std::size_t t = 1; t < threads; ++t) helpers.emplace_back(scan);
        scan();
    }
    std::map<std::string, ModuleBtfFile> out;
    for (std::size_t k = 0; k < wanted.size(); ++k)
        if (found_at[k] != kNowhere) out.emplace(wanted[k], candidates[found_at[k]]);
    return out;
}

std::unique_ptr<Btf> Btf::with_modules(std::unique_ptr<Btf> kernel, const std::vector<ModuleBtfFile>& modules, std::string& error)
{
    if (modules.empty()) return kernel;
    if (kernel->base_ || btf__base_btf(kernel->btf_)) {
        error = "modules go on the kernel's own BTF, not on one that already has modules";
        return nullptr;
    }
    // The first string a split BTF gains makes libbpf 1.1 move its base's
    // strings and types to new memory (btf__find_str on the base, from
    // btf__add_str and btf__dedup) while still reading a string of the old:
    // move them first, for a string of ours, and forget the name index that
    // points into the old memory.
    if (int moved = btf__find_str(kernel->btf_, "vmlinux"); moved < 0 && moved != -ENOENT) {
        error = std::strerror(-moved);
        return nullptr;
    }
    kernel->forget_index();
    BtfHandle merged(btf__new_empty_split(kernel->btf_), btf__free);
    if (!merged) {
        error = std::strerror(errno);
        return nullptr;
    }
    std::unordered_map<std::string, std::string> function_modules;
    for (const ModuleBtfFile& module : modules) {
        std::string why;
        BtfHandle one = read_module(module, kernel->btf_, why);
        if (one && !(why = unsafe_name(one.get())).empty()) why = "refused: " + why;
        if (int err = one && why.empty() ? append_module_types(merged.get(), one.get()) : 0; err < 0) why = std::strerror(-err);
        if (!why.empty()) {
            error = module.path + ": " + why;
            return nullptr;
        }
        for (std::uint32_t id = btf__type_cnt(kernel->btf_); id < btf__type_cnt(one.get()); ++id)
            if (const struct btf_type* t = btf__type_by_id(one.get(), id); btf_is_func(t))
                function_modules.emplace(btf__str_by_offset(one.get(), t->name_off), module.name);  // first module wins, as in function()
    }
    // Types several modules carry (struct xt_table is in x_tables' and ip_tables') become one.
    if (btf__dedup(merged.get(), nullptr) < 0) {
        error = fmt::format("cannot merge the modules' types ({})", std::strerror(errno));
        return nullptr;
    }
    std::unique_ptr<Btf> out(new Btf(merged.release(), kernel->path_));
    out->base_ = std::move(kernel);
    out->function_modules_ = std::move(function_modules);
    return out;
}

std::string Btf::module_of_function(const std::string& name) const
{
    auto sig = function(name);
    if (!sig || !base_) return {};
    // A name vmlinux defines is vmlinux's: its id comes before every module's.
    if (funcs_.at(sig->symbol) < btf__type_cnt(base_->btf_)) return {};
    auto it = function_modules_.find(sig->symbol);
    return it == function_modules_.end() ? std::string() : it->second;
}

}  // namespace rtd
