// BPF C -> BPF ELF with Clang's libraries (DESIGN §5).
//
// Every compile runs in a forked child: LLVM's BPF backend keeps static state
// between compiles (a repeated CO-RE access can lose its relocation), a fatal
// LLVM error calls exit(), and a compile peaks near 100+ MB that the
// long-running parent should not keep. The child loads the compiler library
// (librtd-clang.so: Clang and LLVM, never mapped by this process) and writes
// one frame back through a pipe (compile_frame.h).
//
// Its stderr goes to a second pipe so a crash's stack dump ends up in the
// result's diagnostics instead of on the user's terminal.

#include "runtime/bpf_compiler.h"
#include "runtime/compile_frame.h"
#include "runtime/prebuilt.h"

#include <bpf/btf.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include <clang/Basic/Version.h>  // CLANG_VERSION_STRING only: no link to Clang

#include "runtime/embedded_headers.h"

namespace rtd {

namespace {

// ---------------------------------------------------------------- vmlinux.h

// btf_dump hands us printf-style fragments; append each to the string.
void append_printf(void* ctx, const char* format, va_list args)
{
    auto& out = *static_cast<std::string*>(ctx);
    char small[512];
    va_list copy;
    va_copy(copy, args);
    int n = std::vsnprintf(small, sizeof small, format, copy);
    va_end(copy);
    if (n < 0)
        return;
    if (static_cast<std::size_t>(n) < sizeof small) {
        out.append(small, static_cast<std::size_t>(n));
        return;
    }
    std::size_t at = out.size();
    out.resize(at + static_cast<std::size_t>(n) + 1);
    std::vsnprintf(out.data() + at, static_cast<std::size_t>(n) + 1, format, args);
    out.resize(at + static_cast<std::size_t>(n));
}

// ------------------------------------------------------------------ hashing

// Two unrelated 64-bit byte hashes make the 128-bit cache key. FNV-1a's low
// bits depend linearly on the input, so the second one rotates to feed high
// bits back down; neither needs to resist an attacker (the cache is private).
struct Hasher {
    std::uint64_t a = 0xcbf29ce484222325ULL;  // FNV-1a offset basis
    std::uint64_t b = 0x6a09e667f3bcc909ULL;

    void bytes(std::string_view s)
    {
        // Eight bytes per step: the key covers megabytes of BTF.
        while (s.size() >= 8) {
            std::uint64_t w;
            std::memcpy(&w, s.data(), 8);
            a = (a ^ w) * 0x100000001b3ULL;
            b = (b ^ w) * 0x9e3779b97f4a7c15ULL;
            b ^= b >> 29;
            s.remove_prefix(8);
        }
        for (unsigned char c : s) {
            a = (a ^ c) * 0x100000001b3ULL;
            b = ((b ^ c) * 0x9e3779b97f4a7c15ULL);
            b ^= b >> 29;
        }
    }
    // Length first, so ("ab","c") and ("a","bc") differ.
    void field(std::string_view s)
    {
        std::uint64_t n = s.size();
        char len[8];
        std::memcpy(len, &n, sizeof len);
        bytes(std::string_view(len, sizeof len));
        bytes(s);
    }
};

// Bump when the flags, the framing or anything else that shapes the object
// changes without the inputs changing.
constexpr std::string_view cache_format = "rtrace-drop bpf object cache 2";

// --------------------------------------------------------------- file utils

bool is_elf(std::string_view bytes)
{
    return bytes.size() >= SELFMAG && std::memcmp(bytes.data(), ELFMAG, SELFMAG) == 0;
}

// ELF magic and, for 64-bit objects, a section header table inside the file:
// LLVM writes that table last, so a truncated cache entry fails this.
bool is_complete_elf(std::string_view bytes)
{
    if (!is_elf(bytes))
        return false;
    if (bytes.size() < sizeof(Elf64_Ehdr) || bytes[EI_CLASS] != ELFCLASS64)
        return true;  // not what we produce; let libbpf judge it
    Elf64_Ehdr eh;
    std::memcpy(&eh, bytes.data(), sizeof eh);
    return eh.e_shoff <= bytes.size() &&
           std::uint64_t{eh.e_shnum} * eh.e_shentsize <= bytes.size() - eh.e_shoff;
}

std::optional<std::string> read_file(const std::string& path)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    std::string data;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ::close(fd);
            return std::nullopt;
        }
        if (n == 0)
            break;
        data.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return data;
}

// mkdir -p; directories we create are private to the user (0700).
bool make_dirs(const std::string& dir)
{
    for (std::size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
        std::string prefix = dir.substr(0, slash);
        if (!prefix.empty() && ::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
            return false;
        if (slash == std::string::npos)
            break;
    }
    struct stat st;
    return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Temp file + rename: a reader never sees half an object, and two processes
// caching the same key both succeed.
void store_atomically(const std::string& dir, const std::string& path, std::string_view bytes)
{
    if (!make_dirs(dir))
        return;
    // A unique name per writer: threads of one process may store the same key.
    std::string tmp = path + ".tmp.XXXXXX";
    int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0)
        return;
    bool ok = write_all(fd, bytes);
    ok = (::close(fd) == 0) && ok;
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
        ::unlink(tmp.c_str());
}

// ------------------------------------------------------------ in the child

struct Job {
    const std::string& source;
    const std::string& vmlinux_h;
    const std::map<std::string, std::string>& headers;
    std::string source_copy_dir;  // the child's cwd; empty: stay put
};

// Where the compiler library is: $RTRACE_DROP_COMPILER_LIBRARY, else next to
// an installed binary (PREFIX/bin/.. -> PREFIX/lib/rtrace-drop), else where
// this build put it.
std::string compiler_library_path()
{
    if (const char* env = std::getenv("RTRACE_DROP_COMPILER_LIBRARY"); env && *env) return env;
    std::error_code ec;
    std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        std::filesystem::path installed = exe.parent_path().parent_path() / "lib/rtrace-drop/librtd-clang.so";
        if (std::filesystem::exists(installed, ec)) return installed.string();
    }
    return RTD_CLANG_LIBRARY_BUILD_PATH;
}

[[noreturn]] void run_child(const Job& job, int result_fd, int stderr_fd)
{
    // Never outlive the caller (killed while compiling): nobody would read the result.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The caller's stop handlers are not ours: a signal ends the compile.
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, SIG_DFL);
    if (::dup2(stderr_fd, STDERR_FILENO) < 0)
        ::_exit(120);
    ::close(stderr_fd);
    // Where the backend reads the text for BTF line info ("./rules.bpf.c").
    // Without a copy, "/" rather than the caller's cwd, where some unrelated
    // rules.bpf.c could be quoted. A failure only loses the line text.
    static_cast<void>(::chdir(job.source_copy_dir.empty() ? "/" : job.source_copy_dir.c_str()));

    std::string path = compiler_library_path();
    void* library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    auto compile = library ? reinterpret_cast<rtd_clang_compile_fn>(::dlsym(library, kClangEntryPoint)) : nullptr;
    if (!compile) {
        const char* why = ::dlerror();
        std::string text = fmt::format("cannot load the compiler library {}: {}\n"
                                       "hint: reinstall rtrace-drop, set RTRACE_DROP_COMPILER_LIBRARY, or run an object "
                                       "built with 'rtrace-drop build'",
                                       path, why ? why : "no entry point");
        ::_exit(write_all(result_fd, encode_frame(CompileStatus::Unavailable, {}, text)) ? 0 : 121);
    }
    std::vector<rtd_clang_file> includes;
    includes.push_back({"vmlinux.h", job.vmlinux_h.data(), job.vmlinux_h.size()});
    for (const auto& group : {std::cref(embedded_bpf_headers()), std::cref(job.headers)})
        for (const auto& [name, text] : group.get()) includes.push_back({name.c_str(), text.data(), text.size()});
    rtd_clang_job request{job.source.data(), job.source.size(), includes.data(), includes.size()};
    // _exit: no atexit handlers, no stdio flush of the parent's buffers, no
    // leak check of what -disable-free deliberately keeps.
    ::_exit(compile(&request, result_fd) == 0 ? 0 : 121);
}

// ----------------------------------------------------------- in the parent

// The BPF backend puts each source line's text into BTF line info (the
// verifier log quotes it) and reads that text from the real disk, not from
// clang's file system: "./rules.bpf.c" after the prefix map. So the source
// is also written to a private temp dir that the child makes its cwd. The
// parent owns it, so it is removed even when the child crashes. Without it
// the object is the same except for empty line text.
class SourceCopy {
public:
    explicit SourceCopy(const std::string& source)
    {
        std::error_code ec;
        std::string pattern = (std::filesystem::temp_directory_path(ec) / "rtrace-drop-XXXXXX").string();
        if (ec || ::mkdtemp(pattern.data()) == nullptr)
            return;
        dir_ = pattern;
        int fd = ::open(file().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        bool ok = fd >= 0 && write_all(fd, source);
        if (fd >= 0)
            ok = (::close(fd) == 0) && ok;
        if (!ok)
            remove();
    }
    ~SourceCopy() { remove(); }
    SourceCopy(const SourceCopy&) = delete;
    SourceCopy& operator=(const SourceCopy&) = delete;

    const std::string& dir() const { return dir_; }

private:
    std::string file() const { return dir_ + "/" + kCompiledSourceName; }
    void remove()
    {
        if (dir_.empty())
            return;
        ::unlink(file().c_str());
        ::rmdir(dir_.c_str());
        dir_.clear();
    }
    std::string dir_;
};

// Reads both pipes until the child closes them. Reading while the child
// writes is what keeps a large object from deadlocking on a full pipe.
void drain(int result_fd, int stderr_fd, std::string& result, std::string& errors)
{
    constexpr std::size_t stderr_cap = 64 * 1024;  // a stack dump, not a flood
    std::array<pollfd, 2> fds{{{result_fd, POLLIN, 0}, {stderr_fd, POLLIN, 0}}};
    int open_fds = 2;
    char buf[65536];
    while (open_fds > 0) {
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (auto& p : fds) {
            if (p.fd < 0 || p.revents == 0)
                continue;
            ssize_t n = ::read(p.fd, buf, sizeof buf);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0) {
                p.fd = -1;  // poll ignores negative fds
                --open_fds;
                continue;
            }
            std::string& into = (p.fd == result_fd) ? result : errors;
            if (&into == &result || errors.size() < stderr_cap)
                into.append(buf, static_cast<std::size_t>(n));
        }
    }
}

// Ok: the child exited 0. Otherwise why it did not.
std::optional<std::string> wait_child(pid_t pid)
{
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        // ECHILD: the caller ignores SIGCHLD, so the exit status is gone;
        // the frame alone then says whether the child finished.
        if (errno == ECHILD)
            return std::nullopt;
        if (errno != EINTR)
            return fmt::format("waiting for the compiler process failed: {}", std::strerror(errno));
    }
    if (WIFSIGNALED(status))
        return fmt::format("the compiler process was killed by signal {} ({})", WTERMSIG(status),
                           ::strsignal(WTERMSIG(status)));
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        return fmt::format("the compiler process exited with status {}", WEXITSTATUS(status));
    return std::nullopt;
}

CompileResult failure(std::string why)
{
    CompileResult r;
    r.diagnostics = std::move(why);
    return r;
}

CompileResult compile_in_child(const Job& job)
{
    int result_pipe[2], stderr_pipe[2];
    if (::pipe2(result_pipe, O_CLOEXEC) != 0)
        return failure(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
    if (::pipe2(stderr_pipe, O_CLOEXEC) != 0) {
        int err = errno;
        ::close(result_pipe[0]);
        ::close(result_pipe[1]);
        return failure(fmt::format("cannot create a pipe: {}", std::strerror(err)));
    }
    // Anything buffered now would be written twice (once by the child).
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) {
        int err = errno;
        for (int fd : {result_pipe[0], result_pipe[1], stderr_pipe[0], stderr_pipe[1]})
            ::close(fd);
        return failure(fmt::format("cannot start the compiler process: {}", std::strerror(err)));
    }
    if (pid == 0) {
        ::close(result_pipe[0]);
        ::close(stderr_pipe[0]);
        run_child(job, result_pipe[1], stderr_pipe[1]);
    }
    ::close(result_pipe[1]);
    ::close(stderr_pipe[1]);
    std::string raw, errors;
    drain(result_pipe[0], stderr_pipe[0], raw, errors);
    ::close(result_pipe[0]);
    ::close(stderr_pipe[0]);
    std::optional<std::string> exit_problem = wait_child(pid);

    std::optional<CompileFrame> frame = decode_frame(raw);
    CompileResult r;
    if (frame)
        r.diagnostics = std::move(frame->diagnostics);
    r.diagnostics += errors;  // normally empty: clang writes into our stream
    if (exit_problem || !frame) {
        r.diagnostics += exit_problem.value_or("the compiler process sent no result");
        r.diagnostics += '\n';
        return r;
    }
    if (frame->status == CompileStatus::Compiled && !is_complete_elf(frame->object)) {
        r.diagnostics += "the compiler produced no ELF object\n";
        return r;
    }
    r.ok = frame->status == CompileStatus::Compiled;
    r.unavailable = frame->status == CompileStatus::Unavailable;
    r.object = std::move(frame->object);
    return r;
}

}  // namespace

// ------------------------------------------------------------------ public

namespace {

// Every C identifier in `text`.
void identifiers_in(std::string_view text, std::unordered_set<std::string_view>& out)
{
    auto start = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
    auto rest = [&](char c) { return start(c) || (c >= '0' && c <= '9'); };
    for (std::size_t i = 0; i < text.size();) {
        if (!start(text[i])) {
            // Skip numbers whole: "0x1f" is not the identifier "x1f".
            if (text[i] >= '0' && text[i] <= '9')
                while (i < text.size() && rest(text[i])) ++i;
            else
                ++i;
            continue;
        }
        std::size_t b = i;
        while (i < text.size() && rest(text[i])) ++i;
        out.insert(text.substr(b, i - b));
    }
}

// The types whose name (struct, union, enum or typedef), or one of whose
// enumerators, is an identifier the code uses.
std::vector<__u32> types_used(const struct btf* btf, const std::unordered_set<std::string_view>& names)
{
    std::vector<__u32> ids;
    for (__u32 id = 1, n = btf__type_cnt(btf); id < n; ++id) {
        const struct btf_type* t = btf__type_by_id(btf, id);
        if (!t) continue;
        bool named = btf_is_composite(t) || btf_is_any_enum(t) || btf_is_typedef(t) || btf_is_fwd(t);
        if (named && t->name_off && names.count(btf__name_by_offset(btf, t->name_off))) {
            ids.push_back(id);
            continue;
        }
        if (btf_is_enum(t)) {
            const struct btf_enum* e = btf_enum(t);
            for (int i = 0; i < btf_vlen(t); ++i, ++e)
                if (names.count(btf__name_by_offset(btf, e->name_off))) {
                    ids.push_back(id);
                    break;
                }
        } else if (btf_is_enum64(t)) {
            const struct btf_enum64* e = btf_enum64(t);
            for (int i = 0; i < btf_vlen(t); ++i, ++e)
                if (names.count(btf__name_by_offset(btf, e->name_off))) {
                    ids.push_back(id);
                    break;
                }
        }
    }
    return ids;
}

}  // namespace

std::string generate_vmlinux_h(const struct btf* btf, const std::vector<std::string_view>& uses)
{
    if (btf == nullptr)
        return {};
    std::string types;
    btf_dump* dump = btf_dump__new(btf, append_printf, &types, nullptr);
    if (dump == nullptr)
        return {};
    bool ok = true;
    if (uses.empty()) {
        for (__u32 id = 1, n = btf__type_cnt(btf); id < n && ok; ++id)
            ok = btf_dump__dump_type(dump, id) == 0;
    } else {
        std::unordered_set<std::string_view> names;
        for (std::string_view text : uses) identifiers_in(text, names);
        for (__u32 id : types_used(btf, names))
            if ((ok = btf_dump__dump_type(dump, id) == 0) == false) break;
    }
    btf_dump__free(dump);
    if (!ok)
        return {};

    // What bpftool's `btf dump format c` wraps around the types: every
    // struct/union access becomes a CO-RE relocation.
    std::string out;
    out.reserve(types.size() + 512);
    out += "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n"
           "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
           "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"
           "#endif\n\n";
    out += types;
    out += "\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n"
           "#endif /* __VMLINUX_H__ */\n";
    return out;
}

BpfCompiler::BpfCompiler(std::string vmlinux_h, std::map<std::string, std::string> headers, std::string cache_dir)
    : vmlinux_h_(std::move(vmlinux_h)), headers_(std::move(headers)), cache_dir_(std::move(cache_dir))
{
    hash_inputs("vmlinux.h", vmlinux_h_);
}

BpfCompiler::BpfCompiler(const struct btf* btf, std::map<std::string, std::string> headers, std::string cache_dir)
    : btf_(btf), headers_(std::move(headers)), cache_dir_(std::move(cache_dir))
{
    // The raw BTF stands for the vmlinux.h made from it, which is only
    // generated when a compile actually runs (tens of milliseconds).
    std::uint32_t size = 0;
    const void* raw = btf ? btf__raw_data(btf, &size) : nullptr;
    hash_inputs("btf", std::string_view(static_cast<const char*>(raw), raw ? size : 0));
}

void BpfCompiler::hash_inputs(std::string_view kind, std::string_view types)
{
    // Everything but the source is fixed per compiler: hash it once.
    Hasher h;
    h.field(cache_format);
    h.field(RTD_VERSION);
    h.field(CLANG_VERSION_STRING);
    h.field(kind);
    h.field(types);
    // The embedded headers change with the libbpf we were built against.
    for (const auto& group : {std::cref(embedded_bpf_headers()), std::cref(headers_)}) {
        h.field(std::to_string(group.get().size()));
        for (const auto& [name, text] : group.get()) {
            h.field(name);
            h.field(text);
        }
    }
    base_key_ = {h.a, h.b};
}

BpfCompiler::Key BpfCompiler::cache_key(const std::string& source) const
{
    Hasher h{base_key_.a, base_key_.b};
    h.field(source);
    return {h.a, h.b};
}

std::string BpfCompiler::cache_path(const Key& key) const
{
    return fmt::format("{}/{:016x}{:016x}.o", cache_dir_, key.a, key.b);
}

CompileResult BpfCompiler::compile(const std::string& source)
{
    if (compiler_disabled()) {
        CompileResult r;
        r.diagnostics = "in-process compilation is disabled (RTRACE_DROP_NO_COMPILER is set); run an object built with "
                        "'rtrace-drop build' instead";
        r.unavailable = true;
        return r;
    }
    std::string path;
    if (!cache_dir_.empty()) {
        path = cache_path(cache_key(source));
        // A missing, unreadable or corrupt entry is just a miss.
        if (std::optional<std::string> hit = read_file(path); hit && is_complete_elf(*hit)) {
            CompileResult r;
            r.ok = true;
            r.cached = true;
            r.object = std::move(*hit);
            return r;
        }
    }
    // Only the types this source and its headers name (with what they
    // need): Clang parses a tenth of the kernel's types. The raw BTF and the
    // source, which decide them, are both in the cache key.
    std::string generated;
    if (btf_) {
        std::vector<std::string_view> uses{source};
        for (const auto& group : {std::cref(embedded_bpf_headers()), std::cref(headers_)})
            for (const auto& [name, text] : group.get()) uses.push_back(text);
        generated = generate_vmlinux_h(btf_, uses);
    }
    SourceCopy copy(source);
    CompileResult r = compile_in_child(Job{source, btf_ ? generated : vmlinux_h_, headers_, copy.dir()});
    // Only objects without warnings are cached, so a hit says exactly what
    // a fresh compile would (generated code is meant to be warning-free).
    if (r.ok && r.diagnostics.empty() && !path.empty())
        store_atomically(cache_dir_, path, r.object);
    return r;
}

std::string BpfCompiler::default_cache_dir()
{
    // XDG says relative values are invalid and must be ignored.
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/')
        return std::string(xdg) + "/rtrace-drop";
    if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/')
        return std::string(home) + "/.cache/rtrace-drop";
    if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr && pw->pw_dir[0] == '/')
        return std::string(pw->pw_dir) + "/.cache/rtrace-drop";
    return {};
}

}  // namespace rtd
