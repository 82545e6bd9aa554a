#include "runtime/plan_cache.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compiler/kernel_btf.h"
#include "compiler/manifest.h"
#include "runtime/cache_files.h"
#include "runtime/prebuilt.h"
#include "runtime/run_settings.h"

namespace rtd {

namespace {

// Bump when an entry's layout changes.
constexpr std::string_view kMagic = "rtrace-drop plan 1\n";

// The GNU build id of this executable: it changes with any change to the
// front end or code generator that made a plan, as a version number would not.
std::string own_build_id()
{
    std::string id;
    dl_iterate_phdr(
        [](struct dl_phdr_info* info, std::size_t, void* out) -> int {
            // The first object is the executable itself.
            for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_NOTE) continue;
                const char* at = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
                const char* end = at + ph.p_memsz;
                while (at + sizeof(ElfW(Nhdr)) <= end) {
                    const auto* n = reinterpret_cast<const ElfW(Nhdr)*>(at);
                    const char* name = at + sizeof(ElfW(Nhdr));
                    const char* desc = name + ((n->n_namesz + 3) & ~3u);
                    if (desc + n->n_descsz > end) break;
                    if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
                        static_cast<std::string*>(out)->assign(desc, n->n_descsz);
                        return 1;
                    }
                    at = desc + ((n->n_descsz + 3) & ~3u);
                }
            }
            return 1;
        },
        &id);
    return id;
}

// The running kernel's BTF, told apart without reading all of it (5 MB
// from sysfs costs a cached start more than the rest of the key): the
// kernel's release and build (/proc/version: version, compiler, build
// number and date), the BTF's size, and its bytes at the start, the middle
// and the end (any change to a type moves everything after it). "" when
// the BTF cannot be read.
std::string kernel_identity()
{
    std::string id;
    if (std::optional<std::string> version = read_cache_file("/proc/version")) id = *version;
    int fd = ::open(kRunningKernelBtf, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    struct stat st;
    const bool sized = ::fstat(fd, &st) == 0 && st.st_size > 0;
    const auto size = sized ? static_cast<std::uint64_t>(st.st_size) : 0;
    id += fmt::format("\nbtf {} bytes\n", size);
    constexpr std::uint64_t kSample = 16384;
    for (std::uint64_t at : {std::uint64_t{0}, size / 2, size > kSample ? size - kSample : 0}) {
        char buf[kSample];
        ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(at));
        if (n <= 0) break;
        id.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return sized ? id : std::string();
}

void hash_list(ContentHash& h, const std::vector<std::string>& list)
{
    h.field(std::to_string(list.size()));
    for (const std::string& s : list) h.field(s);
}

}  // namespace

std::unique_ptr<PlanCache> PlanCache::open(const RunOptions& opt, const SourceManager& sources)
{
    if (opt.cache_dir.empty() || !opt.rules.kernel.running() || compiler_disabled()) return nullptr;
    static const std::string build_id = own_build_id();
    if (build_id.empty()) return nullptr;
    std::string kernel = kernel_identity();
    if (kernel.empty()) return nullptr;  // the pipeline says why
    auto cache = std::unique_ptr<PlanCache>(new PlanCache);
    ContentHash h;
    h.field(kMagic);
    h.field(build_id);
    h.field(kernel);
    h.field(std::to_string(sources.size()));
    for (FileId f = 0; f < sources.size(); ++f) {
        h.field(sources.file(f).path());
        h.field(sources.file(f).text());
    }
    // What selects rules, sets their params and shapes their code.
    const PipelineOptions& po = opt.rules;
    hash_list(h, po.inputs);
    hash_list(h, po.include);
    hash_list(h, po.exclude);
    for (const auto& [rule, params] : po.params)
        for (const auto& [name, value] : params) h.field(fmt::format("{}.{}={}", rule, name, value.value));
    h.field(fmt::format("strict={} types={} all={} track={} ring={} shipped={}", po.strict, po.report_types, opt.all,
                        opt.load.track_entries != 0, opt.load.ring_bytes, po.shipped_rules.string()));
    h.field(opt.where);
    h.field(opt.filter);
    // The settings compiled in as constants (run_settings.h: --pcap,
    // --metrics, --summary, ...); what else decides them is the rules'.
    for (const FixedSetting& s : fixed_settings(opt, true)) h.field(fmt::format("{}={}", s.name, s.value));
    cache->dir_ = opt.cache_dir + "/plans";
    cache->path_ = fmt::format("{}/{:016x}{:016x}.plan", cache->dir_, h.a, h.b);
    return cache;
}

std::optional<CachedPlan> PlanCache::find() const
{
    using nlohmann::json;
    std::optional<std::string> data = read_cache_file(path_);
    if (!data || data->compare(0, kMagic.size(), kMagic) != 0) return std::nullopt;
    const std::size_t eol = data->find('\n', kMagic.size());
    if (eol == std::string::npos) return std::nullopt;
    try {
        const json index = json::parse(data->substr(kMagic.size(), eol - kMagic.size()));
        const std::size_t manifest = index.at("manifest").get<std::size_t>();
        const std::size_t object = index.at("object").get<std::size_t>();
        if (manifest > data->size() || object != data->size() - eol - 1 - manifest) return std::nullopt;  // torn or damaged
        std::string why;
        std::optional<CompiledRuleSet> set = read_manifest(data->substr(eol + 1, manifest), why);
        if (!set) return std::nullopt;
        CachedPlan plan;
        plan.set = std::move(*set);
        plan.object = data->substr(eol + 1 + manifest);
        plan.trampoline_target = index.at("trampoline_target").get<std::int32_t>();
        plan.kernel_facts = index.at("kernel_facts").get<std::string>();
        return plan;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

void PlanCache::store(const CompiledRuleSet& set, const std::string& object, std::int32_t trampoline_target,
                      const std::string& kernel_facts) const
{
    const std::string manifest = set.manifest_json();
    const nlohmann::json index = {{"manifest", manifest.size()},
                                  {"object", object.size()},
                                  {"trampoline_target", trampoline_target},
                                  {"kernel_facts", kernel_facts}};
    std::string bytes(kMagic);
    bytes += index.dump();
    bytes += '\n';
    bytes += manifest;
    bytes += object;
    store_cache_file(dir_, path_, bytes);
}

}  // namespace rtd
