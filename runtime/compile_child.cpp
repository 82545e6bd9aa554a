#include "runtime/compile_child.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "compiler/install_paths.h"
#include "runtime/compile_frame.h"
#include "runtime/embedded_headers.h"

namespace rtd {

SourceCopy::SourceCopy(const std::string& source)
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

std::string SourceCopy::file() const { return dir_ + "/" + kCompiledSourceName; }

void SourceCopy::remove()
{
    if (dir_.empty())
        return;
    ::unlink(file().c_str());
    ::rmdir(dir_.c_str());
    dir_.clear();
}

namespace {

// Where the compiler library is: $RTRACE_DROP_COMPILER_LIBRARY, else next to
// an installed binary (PREFIX/bin/.. -> PREFIX/lib/rtrace-drop), else where
// this build put it.
std::string compiler_library_path()
{
    if (const char* env = std::getenv("RTRACE_DROP_COMPILER_LIBRARY"); env && *env) return env;
    std::error_code ec;
    std::filesystem::path installed = executable_dir().parent_path() / "lib/rtrace-drop/librtd-clang.so";
    if (!executable_dir().empty() && std::filesystem::exists(installed, ec)) return installed.string();
    return RTD_CLANG_LIBRARY_BUILD_PATH;
}

[[noreturn]] void run_child(const CompileJob& job, int result_fd, int stderr_fd)
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

// In the parent.

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

}  // namespace

CompileResult compile_in_child(const CompileJob& job)
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

}  // namespace rtd
