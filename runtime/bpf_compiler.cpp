// BPF C -> BPF ELF with Clang's libraries (DESIGN §5).
//
// Every compile runs in a forked child: LLVM's BPF backend keeps static state
// between compiles (a repeated CO-RE access can lose its relocation), a fatal
// LLVM error calls exit(), and a compile peaks near 100+ MB that the
// long-running parent should not keep. The child writes one frame back
// through a pipe:
//
//   status (1 byte) | object size (u64) | diagnostics size (u64) | object | diagnostics
//
// Its stderr goes to a second pipe so a crash's stack dump ends up in the
// result's diagnostics instead of on the user's terminal.
#include "runtime/bpf_compiler.h"
#include "runtime/prebuilt.h"

#include <bpf/btf.h>
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
#include <vector>

#include <fmt/format.h>

#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/Basic/Version.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <llvm/ADT/SmallVector.h>
#include <llvm/Support/ErrorHandling.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/VirtualFileSystem.h>
#include <llvm/Support/raw_ostream.h>

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

bool write_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
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

// ------------------------------------------------------------- the framing

enum class Status : unsigned char { Compiled = 0, Failed = 1, Fatal = 2 };

std::string encode_frame(Status status, std::string_view object, std::string_view diagnostics)
{
    std::string frame;
    frame.push_back(static_cast<char>(status));
    for (std::uint64_t n : {std::uint64_t{object.size()}, std::uint64_t{diagnostics.size()}}) {
        char len[8];
        std::memcpy(len, &n, sizeof len);
        frame.append(len, sizeof len);
    }
    frame.append(object);
    frame.append(diagnostics);
    return frame;
}

struct Frame {
    Status status;
    std::string object;
    std::string diagnostics;
};

std::optional<Frame> decode_frame(std::string_view bytes)
{
    constexpr std::size_t header = 1 + 8 + 8;
    if (bytes.size() < header)
        return std::nullopt;
    std::uint64_t object_size, diag_size;
    std::memcpy(&object_size, bytes.data() + 1, 8);
    std::memcpy(&diag_size, bytes.data() + 9, 8);
    if (object_size > bytes.size() || diag_size > bytes.size() || header + object_size + diag_size != bytes.size())
        return std::nullopt;
    auto status = static_cast<Status>(bytes[0]);
    if (status != Status::Compiled && status != Status::Failed && status != Status::Fatal)
        return std::nullopt;
    return Frame{status, std::string(bytes.substr(header, object_size)),
                 std::string(bytes.substr(header + object_size, diag_size))};
}

// ------------------------------------------------------------ in the child

// Everything lives under a directory that does not exist on disk; the
// overlay's in-memory layer answers for it.
constexpr const char* virtual_dir = "/rtrace-drop";
constexpr const char* include_dir = "/rtrace-drop/include";

constexpr const char* target_arch_define()
{
#if defined(__aarch64__)
    return "-D__TARGET_ARCH_arm64";
#elif defined(__s390x__)
    return "-D__TARGET_ARCH_s390";
#elif defined(__powerpc64__)
    return "-D__TARGET_ARCH_powerpc";
#elif defined(__riscv)
    return "-D__TARGET_ARCH_riscv";
#else
    return "-D__TARGET_ARCH_x86";
#endif
}

struct Job {
    const std::string& source;
    const std::string& vmlinux_h;
    const std::map<std::string, std::string>& headers;
    std::string source_copy_dir;  // the child's cwd; empty: stay put
};

constexpr const char* main_name = "rules.bpf.c";

// Shared with the fatal error handler, which has only a void*.
struct ChildState {
    int result_fd;
    llvm::raw_string_ostream* diagnostics;
};

[[noreturn]] void on_fatal_error(void* user_data, const char* reason, bool)
{
    auto& state = *static_cast<ChildState*>(user_data);
    state.diagnostics->flush();
    std::string text = state.diagnostics->str();
    text += fmt::format("fatal error: error in backend: {}\n", reason);
    write_all(state.result_fd, encode_frame(Status::Fatal, {}, text));
    ::_exit(0);
}

void add_virtual_file(llvm::vfs::InMemoryFileSystem& fs, const std::string& path, const std::string& text)
{
    // No copy: the strings outlive the compile (the child exits after it).
    fs.addFile(path, 0, llvm::MemoryBuffer::getMemBuffer(text, path, /*RequiresNullTerminator=*/false));
}

llvm::IntrusiveRefCntPtr<llvm::vfs::FileSystem> make_file_system(const Job& job, const std::string& main_path)
{
    auto memory = llvm::makeIntrusiveRefCnt<llvm::vfs::InMemoryFileSystem>();
    // Diagnostics and debug info say "rules.bpf.c:3:5", not a path that
    // exists nowhere; line numbers stay those of `source`.
    std::string main_text = fmt::format("#line 1 \"{}\"\n{}", main_name, job.source);
    memory->addFile(main_path, 0, llvm::MemoryBuffer::getMemBufferCopy(main_text, main_path));
    add_virtual_file(*memory, fmt::format("{}/vmlinux.h", include_dir), job.vmlinux_h);
    for (const auto& [name, text] : embedded_bpf_headers())
        add_virtual_file(*memory, fmt::format("{}/{}", include_dir, name), text);
    for (const auto& [name, text] : job.headers)
        add_virtual_file(*memory, fmt::format("{}/{}", include_dir, name), text);
    auto overlay = llvm::makeIntrusiveRefCnt<llvm::vfs::OverlayFileSystem>(llvm::vfs::getRealFileSystem());
    overlay->pushOverlay(memory);
    return overlay;
}

std::vector<std::string> cc1_arguments()
{
    return {
        "-triple", "bpf", "-emit-obj", "-O2",
        // -g: CO-RE relocations and BTF are built from debug info.
        "-debug-info-kind=constructor", "-dwarf-version=5",
        "-mrelocation-model", "static",
        // Paths in DWARF and BTF are relative to "." (the same bytes whatever
        // the caller's cwd), and "." is where the child finds the source's
        // text for BTF line info (see SourceCopy).
        "-fdebug-compilation-dir=.", fmt::format("-fdebug-prefix-map={}/=", virtual_dir),
        "-nostdsysteminc", "-nobuiltininc",
        "-fgnuc-version=4.2.1", "-ferror-limit", "19",
        // The clang driver's cc1 defaults that keep a compile lean.
        "-disable-free", "-clear-ast-before-backend", "-discard-value-names",
        // Noise that kernel headers and generated code make by design.
        "-Wno-unused-value", "-Wno-pointer-sign", "-Wno-compare-distinct-pointer-types",
        "-Wno-unknown-attributes",
        target_arch_define(), fmt::format("-I{}", include_dir),
        "-main-file-name", main_name,
        "-x", "c", fmt::format("{}/{}", virtual_dir, main_name),
    };
}

void initialize_bpf_target()
{
    LLVMInitializeBPFTargetInfo();
    LLVMInitializeBPFTarget();
    LLVMInitializeBPFTargetMC();
    LLVMInitializeBPFAsmPrinter();
    LLVMInitializeBPFAsmParser();
}

// The compile proper. Returns the frame to send; diagnostics accumulate in
// `diag_stream` (a string the fatal error handler can also reach).
std::string compile_here(const Job& job, llvm::raw_string_ostream& diag_stream)
{
    std::vector<std::string> args = cc1_arguments();
    std::vector<const char*> argv;
    for (const auto& a : args)
        argv.push_back(a.c_str());

    // A first engine only for parsing the flags; the instance makes its own
    // from the parsed diagnostic options (-W flags) below.
    auto diag_ids = llvm::makeIntrusiveRefCnt<clang::DiagnosticIDs>();
    auto parse_opts = llvm::makeIntrusiveRefCnt<clang::DiagnosticOptions>();
    clang::DiagnosticsEngine parse_diags(diag_ids, parse_opts,
                                         new clang::TextDiagnosticPrinter(diag_stream, parse_opts.get()));
    auto invocation = std::make_shared<clang::CompilerInvocation>();
    if (!clang::CompilerInvocation::CreateFromArgs(*invocation, argv, parse_diags)) {
        return encode_frame(Status::Failed, {}, diag_stream.str());
    }

    clang::CompilerInstance ci;
    ci.setInvocation(invocation);
    ci.createDiagnostics(new clang::TextDiagnosticPrinter(diag_stream, &ci.getDiagnosticOpts()), true);
    ci.setVerboseOutputStream(diag_stream);
    ci.createFileManager(make_file_system(job, fmt::format("{}/{}", virtual_dir, main_name)));

    llvm::SmallVector<char, 0> object;
    ci.setOutputStream(std::make_unique<llvm::raw_svector_ostream>(object));
    clang::EmitObjAction action;
    bool ok = ci.ExecuteAction(action) && !ci.getDiagnostics().hasErrorOccurred();
    if (!ok)
        return encode_frame(Status::Failed, {}, diag_stream.str());
    return encode_frame(Status::Compiled, std::string_view(object.data(), object.size()), diag_stream.str());
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

    std::string diagnostics;
    llvm::raw_string_ostream diag_stream(diagnostics);
    ChildState state{result_fd, &diag_stream};
    llvm::install_fatal_error_handler(on_fatal_error, &state);
    initialize_bpf_target();

    std::string frame = compile_here(job, diag_stream);
    // _exit: no atexit handlers, no stdio flush of the parent's buffers, no
    // leak check of what -disable-free deliberately keeps.
    ::_exit(write_all(result_fd, frame) ? 0 : 121);
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
    std::string file() const { return dir_ + "/" + main_name; }
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

    std::optional<Frame> frame = decode_frame(raw);
    CompileResult r;
    if (frame)
        r.diagnostics = std::move(frame->diagnostics);
    r.diagnostics += errors;  // normally empty: clang writes into our stream
    if (exit_problem || !frame) {
        r.diagnostics += exit_problem.value_or("the compiler process sent no result");
        r.diagnostics += '\n';
        return r;
    }
    if (frame->status == Status::Compiled && !is_complete_elf(frame->object)) {
        r.diagnostics += "the compiler produced no ELF object\n";
        return r;
    }
    r.ok = frame->status == Status::Compiled;
    r.object = std::move(frame->object);
    return r;
}

}  // namespace

// ------------------------------------------------------------------ public

std::string generate_vmlinux_h(const struct btf* btf)
{
    if (btf == nullptr)
        return {};
    std::string types;
    btf_dump* dump = btf_dump__new(btf, append_printf, &types, nullptr);
    if (dump == nullptr)
        return {};
    bool ok = true;
    for (__u32 id = 1, n = btf__type_cnt(btf); id < n && ok; ++id)
        ok = btf_dump__dump_type(dump, id) == 0;
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
    if (vmlinux_h_.empty() && btf_) vmlinux_h_ = generate_vmlinux_h(btf_);
    SourceCopy copy(source);
    CompileResult r = compile_in_child(Job{source, vmlinux_h_, headers_, copy.dir()});
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
