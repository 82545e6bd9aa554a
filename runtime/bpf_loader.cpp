#include "runtime/bpf_loader.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <memory>
#include <set>
#include <string_view>

#include <fmt/format.h>

namespace rtd {

namespace {

constexpr int kENOTSUPP = 524;  // the kernel's internal "not supported", seen by BPF users

// libbpf reports through a global print callback; while we load we keep
// its words for ourselves instead of letting them reach stderr.
std::string* g_libbpf_log = nullptr;

int capture_libbpf(enum libbpf_print_level level, const char* format, va_list args)
{
    if (!g_libbpf_log || level == LIBBPF_DEBUG) return 0;
    char buf[1024];
    int n = std::vsnprintf(buf, sizeof(buf), format, args);
    if (n > 0) g_libbpf_log->append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof(buf) - 1));
    return 0;
}

Object open_object(const std::string& bytes, std::string& error, const LoadSettings& settings = {})
{
    return Object(open_for_load(bytes, settings, error));
}

std::string last_lines(const std::string& log, std::size_t count)
{
    std::size_t end = log.find_last_not_of("\n\0 ");
    if (end == std::string::npos) return {};
    std::size_t pos = end + 1;
    for (std::size_t i = 0; i < count && pos > 0; ++i) {
        std::size_t nl = log.rfind('\n', pos - 1);
        if (nl == std::string::npos) {
            pos = 0;
            break;
        }
        pos = nl;
    }
    return log.substr(pos == 0 ? 0 : pos + 1, end + 1 - (pos == 0 ? 0 : pos + 1));
}

// Loads the named programs together; returns 0 or the negative error.
int load_set(const std::string& bytes, const std::vector<std::string>& names, std::string* verifier_log, std::string& error,
             const LoadSettings& settings)
{
    Object obj = open_object(bytes, error, settings);
    if (!obj) return -EINVAL;
    std::vector<char> log(verifier_log ? 1 << 20 : 0);
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, obj.get())
    {
        bool wanted = std::find(names.begin(), names.end(), bpf_program__name(prog)) != names.end();
        bpf_program__set_autoload(prog, wanted);
        if (wanted && verifier_log) {
            bpf_program__set_log_buf(prog, log.data(), log.size());
            bpf_program__set_log_level(prog, 1);
        }
    }
    int err = bpf_object__load(obj.get());
    if (verifier_log && err) *verifier_log = std::string(log.data(), strnlen(log.data(), log.size()));
    return err;
}

}  // namespace

void ObjectCloser::operator()(struct bpf_object* o) const { bpf_object__close(o); }
void LinkDestroyer::operator()(struct bpf_link* l) const { bpf_link__destroy(l); }

LibbpfQuiet::LibbpfQuiet() : previous_(reinterpret_cast<void*>(libbpf_set_print(capture_libbpf))) { g_libbpf_log = &log; }

LibbpfQuiet::~LibbpfQuiet()
{
    g_libbpf_log = nullptr;
    libbpf_set_print(reinterpret_cast<libbpf_print_fn_t>(previous_));
}

struct bpf_object* open_for_load(const std::string& bytes, const LoadSettings& settings, std::string& error)
{
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    if (!settings.core_btf.empty()) opts.btf_custom_path = settings.core_btf.c_str();
    struct bpf_object* obj = bpf_object__open_mem(bytes.data(), bytes.size(), &opts);
    if (!obj) {
        error = fmt::format("cannot open the compiled object: {}", std::strerror(errno));
        return nullptr;
    }
    if (settings.before_load) {
        error = settings.before_load(obj);
        if (!error.empty()) {
            bpf_object__close(obj);
            return nullptr;
        }
    }
    return obj;
}

namespace {

// Reading kernel memory, time, the current task and stacks; our own maps
// and ring buffer. Nothing that writes outside them, changes what the
// kernel does, or signals a process.
const std::set<int> kReadOnlyHelpers = {
    BPF_FUNC_map_lookup_elem, BPF_FUNC_map_update_elem, BPF_FUNC_map_delete_elem, BPF_FUNC_probe_read,
    BPF_FUNC_probe_read_str, BPF_FUNC_probe_read_kernel, BPF_FUNC_probe_read_kernel_str, BPF_FUNC_ktime_get_ns,
    BPF_FUNC_ktime_get_boot_ns, BPF_FUNC_get_smp_processor_id, BPF_FUNC_get_current_pid_tgid, BPF_FUNC_get_current_uid_gid,
    BPF_FUNC_get_current_comm, BPF_FUNC_get_current_task, BPF_FUNC_get_current_task_btf, BPF_FUNC_get_stackid,
    BPF_FUNC_get_stack, BPF_FUNC_ringbuf_reserve, BPF_FUNC_ringbuf_submit, BPF_FUNC_ringbuf_discard, BPF_FUNC_ringbuf_output, BPF_FUNC_ringbuf_query,
    BPF_FUNC_get_func_ip, BPF_FUNC_get_prandom_u32, BPF_FUNC_jiffies64,
};

}  // namespace

std::string object_policy_violations(const std::string& bytes)
{
    LibbpfQuiet quiet;
    std::string error;
    Object obj = open_object(bytes, error);
    if (!obj) return error + '\n';
    std::string out;
    // Maps: the kinds the templates declare, each of a bounded size (the
    // ring buffer's size is set by `run` itself).
    constexpr std::uint64_t kMaxMapBytes = 64u << 20;
    struct bpf_map* map;
    bpf_object__for_each_map(map, obj.get())
    {
        enum bpf_map_type type = bpf_map__type(map);
        const char* type_name = libbpf_bpf_map_type_str(type) ? libbpf_bpf_map_type_str(type) : "unknown";
        if (type != BPF_MAP_TYPE_RINGBUF && type != BPF_MAP_TYPE_ARRAY && type != BPF_MAP_TYPE_PERCPU_ARRAY &&
            type != BPF_MAP_TYPE_HASH && type != BPF_MAP_TYPE_LRU_HASH) {
            out += fmt::format("map {}: type {} is not one this tool makes\n", bpf_map__name(map), type_name);
            continue;
        }
        std::uint64_t bytes = (std::uint64_t{bpf_map__key_size(map)} + bpf_map__value_size(map)) * bpf_map__max_entries(map);
        if (type != BPF_MAP_TYPE_RINGBUF && bytes > kMaxMapBytes)
            out += fmt::format("map {}: {} bytes, more than the {} MiB a map of this tool takes\n", bpf_map__name(map), bytes,
                               kMaxMapBytes >> 20);
    }
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, obj.get())
    {
        const char* name = bpf_program__name(prog);
        enum bpf_prog_type type = bpf_program__type(prog);
        enum bpf_attach_type attach = bpf_program__expected_attach_type(prog);
        bool tracing_ok = type == BPF_PROG_TYPE_TRACING &&
                          (attach == BPF_TRACE_FENTRY || attach == BPF_TRACE_FEXIT || attach == BPF_TRACE_RAW_TP);
        if (type != BPF_PROG_TYPE_KPROBE && type != BPF_PROG_TYPE_RAW_TRACEPOINT && !tracing_ok)
            out += fmt::format("{}: program type {} ({}) is not a tracing program this tool makes\n", name,
                               libbpf_bpf_prog_type_str(type) ? libbpf_bpf_prog_type_str(type) : "unknown",
                               libbpf_bpf_attach_type_str(attach) ? libbpf_bpf_attach_type_str(attach) : "unknown");
        const struct bpf_insn* insn = bpf_program__insns(prog);
        for (std::size_t i = 0; i < bpf_program__insn_cnt(prog); ++i) {
            if (insn[i].code != (BPF_JMP | BPF_CALL) || insn[i].src_reg == BPF_PSEUDO_CALL) continue;
            if (insn[i].src_reg == 0 && kReadOnlyHelpers.count(insn[i].imm)) continue;
            out += fmt::format("{}: instruction {} calls {} #{}, which is not a read-only helper\n", name, i,
                               insn[i].src_reg == 0 ? "helper" : "kfunc", insn[i].imm);
        }
    }
    return out;
}

const ProgramLoad* VerifyReport::find(const std::string& name) const
{
    for (const ProgramLoad& p : programs)
        if (p.name == name) return &p;
    return nullptr;
}

VerifyReport verify_programs(const std::string& object, const std::vector<std::string>& programs, const LoadSettings& settings)
{
    LibbpfQuiet quiet;
    VerifyReport report;
    if (programs.empty()) return report;
    if (load_set(object, programs, nullptr, report.open_error, settings) == 0) {
        for (const std::string& p : programs) report.programs.push_back({p, true, 0, {}});
        return report;
    }
    if (!report.open_error.empty()) return report;
    for (const std::string& p : programs) {
        std::string log, error;
        int err = load_set(object, {p}, &log, error, settings);
        ProgramLoad r{p, err == 0, err < 0 ? -err : err, {}};
        if (err) r.log_tail = last_lines(log, 12);
        report.programs.push_back(std::move(r));
    }
    return report;
}

std::vector<std::string> check_event_layout(const std::string& object, const CompiledRuleSet& set)
{
    LibbpfQuiet quiet;
    std::vector<std::string> problems;
    std::string error;
    Object obj = open_object(object, error);
    if (!obj) return {error};
    const struct btf* btf = bpf_object__btf(obj.get());
    if (!btf) return {"the compiled object has no BTF"};
    auto member_offset = [&](const struct btf_type* t, const std::string& name) -> long {
        const struct btf_member* m = btf_members(t);
        for (int i = 0; i < btf_vlen(t); ++i, ++m)
            if (name == btf__name_by_offset(btf, m->name_off)) return static_cast<long>(btf_member_bit_offset(t, i) / 8);
        return -1;
    };
    for (const RuleEntry& r : set.rules) {
        if (r.is_monitor || r.skipped) continue;
        const EventSchema& s = r.event;
        int id = btf__find_by_name_kind(btf, s.struct_name.c_str(), BTF_KIND_STRUCT);
        if (id <= 0) {
            problems.push_back(fmt::format("rule {}: struct {} is missing from the object", r.id, s.struct_name));
            continue;
        }
        const struct btf_type* t = btf__type_by_id(btf, static_cast<__u32>(id));
        auto expect = [&](const std::string& member, long want) {
            long got = member_offset(t, member);
            if (got != want)
                problems.push_back(fmt::format("rule {}: {}.{} is at offset {}, the decoder expects {}", r.id, s.struct_name, member, got, want));
        };
        if (t->size != s.size)
            problems.push_back(fmt::format("rule {}: struct {} is {} bytes, the decoder expects {}", r.id, s.struct_name, t->size, s.size));
        expect("h", 0);
        if (s.has_packet) expect("pkt", s.packet_offset);
        if (s.has_stack) expect("stack", s.stack_offset);
        for (std::size_t i = 0; i < s.fields.size(); ++i) expect(fmt::format("c{}", i), s.fields[i].offset);
    }
    return problems;
}

std::string describe_load_error(int error)
{
    switch (error) {
    case EPERM: return "refused (EPERM): the kernel does not allow this program type here";
    case EACCES: return "rejected by the verifier (EACCES)";
    case EINVAL: return "rejected (EINVAL): the kernel does not support this program or attach type";
    case ENOENT: return "refused (ENOENT): the attach target does not exist in this kernel";
    case E2BIG: return "rejected (E2BIG): the program is too large";
    case kENOTSUPP: return "refused (ENOTSUPP): not supported by this kernel";
    default: return fmt::format("failed ({})", std::strerror(error));
    }
}

// Sets a `const volatile` global of the object before it is loaded.
bool set_rodata(struct bpf_object* obj, const char* name, const void* bytes, std::size_t size)
{
    struct bpf_map* rodata = nullptr;
    struct bpf_map* map;
    bpf_object__for_each_map(map, obj)
    {
        std::string_view n = bpf_map__name(map);
        if (n.size() >= 7 && n.substr(n.size() - 7) == ".rodata") rodata = map;
    }
    const struct btf* btf = bpf_object__btf(obj);
    if (!rodata || !btf) return false;
    int sec = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
    if (sec <= 0) return false;
    const struct btf_type* t = btf__type_by_id(btf, static_cast<__u32>(sec));
    const struct btf_var_secinfo* v = btf_var_secinfos(t);
    for (int i = 0; i < btf_vlen(t); ++i, ++v) {
        const struct btf_type* var = btf__type_by_id(btf, v->type);
        if (std::string_view(btf__name_by_offset(btf, var->name_off)) != name) continue;
        std::size_t map_size = 0;
        const void* initial = bpf_map__initial_value(rodata, &map_size);
        if (!initial || size > v->size || v->offset + size > map_size) return false;
        std::string data(static_cast<const char*>(initial), map_size);
        std::memcpy(data.data() + v->offset, bytes, size);
        return bpf_map__set_initial_value(rodata, data.data(), data.size()) == 0;
    }
    return false;
}

bool set_rodata_u32(struct bpf_object* obj, const char* name, std::uint32_t value)
{
    return set_rodata(obj, name, &value, sizeof value);
}

}  // namespace rtd
