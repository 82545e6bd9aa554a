// The compiler library (librtd-clang.so): BPF C -> BPF ELF with Clang's
// libraries. Loaded only inside the forked compile child (see
// compile_frame.h and bpf_compiler.cpp), which exits after one compile.
#include "runtime/compile_frame.h"

#include <string>
#include <vector>

#include <fmt/format.h>

#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticOptions.h>
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

namespace {

using rtd::CompileStatus;
using rtd::encode_frame;
using rtd::kCompiledSourceName;

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
    rtd::write_all(state.result_fd, encode_frame(CompileStatus::Fatal, {}, text));
    ::_exit(0);
}

llvm::IntrusiveRefCntPtr<llvm::vfs::FileSystem> make_file_system(const rtd_clang_job& job, const std::string& main_path)
{
    auto memory = llvm::makeIntrusiveRefCnt<llvm::vfs::InMemoryFileSystem>();
    // Diagnostics and debug info say "rules.bpf.c:3:5", not a path that
    // exists nowhere; line numbers stay those of the source.
    std::string main_text =
        fmt::format("#line 1 \"{}\"\n{}", kCompiledSourceName, std::string_view(job.source, job.source_size));
    memory->addFile(main_path, 0, llvm::MemoryBuffer::getMemBufferCopy(main_text, main_path));
    for (unsigned long i = 0; i < job.include_count; ++i) {
        const rtd_clang_file& f = job.includes[i];
        std::string path = fmt::format("{}/{}", include_dir, f.name);
        // No copy: the caller's strings outlive the compile (the child exits after it).
        memory->addFile(path, 0,
                        llvm::MemoryBuffer::getMemBuffer(llvm::StringRef(f.text, f.size), path,
                                                         /*RequiresNullTerminator=*/false));
    }
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
        // text for BTF line info (see SourceCopy in compile_child.h).
        "-fdebug-compilation-dir=.", fmt::format("-fdebug-prefix-map={}/=", virtual_dir),
        "-nostdsysteminc", "-nobuiltininc",
        "-fgnuc-version=4.2.1", "-ferror-limit", "19",
        // The clang driver's cc1 defaults that keep a compile lean.
        "-disable-free", "-clear-ast-before-backend", "-discard-value-names",
        // Noise that kernel headers and generated code make by design.
        "-Wno-unused-value", "-Wno-pointer-sign", "-Wno-compare-distinct-pointer-types",
        "-Wno-unknown-attributes",
        target_arch_define(), fmt::format("-I{}", include_dir),
        "-main-file-name", kCompiledSourceName,
        "-x", "c", fmt::format("{}/{}", virtual_dir, kCompiledSourceName),
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
std::string compile_here(const rtd_clang_job& job, llvm::raw_string_ostream& diag_stream)
{
    std::vector<std::string> args = cc1_arguments();
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());

    // A first engine only for parsing the flags; the instance makes its own
    // from the parsed diagnostic options (-W flags) below.
    auto diag_ids = llvm::makeIntrusiveRefCnt<clang::DiagnosticIDs>();
    auto parse_opts = llvm::makeIntrusiveRefCnt<clang::DiagnosticOptions>();
    clang::DiagnosticsEngine parse_diags(diag_ids, parse_opts,
                                         new clang::TextDiagnosticPrinter(diag_stream, parse_opts.get()));
    auto invocation = std::make_shared<clang::CompilerInvocation>();
    if (!clang::CompilerInvocation::CreateFromArgs(*invocation, argv, parse_diags))
        return encode_frame(CompileStatus::Failed, {}, diag_stream.str());

    clang::CompilerInstance ci;
    ci.setInvocation(invocation);
    ci.createDiagnostics(new clang::TextDiagnosticPrinter(diag_stream, &ci.getDiagnosticOpts()), true);
    ci.setVerboseOutputStream(diag_stream);
    ci.createFileManager(make_file_system(job, fmt::format("{}/{}", virtual_dir, kCompiledSourceName)));

    llvm::SmallVector<char, 0> object;
    ci.setOutputStream(std::make_unique<llvm::raw_svector_ostream>(object));
    clang::EmitObjAction action;
    bool ok = ci.ExecuteAction(action) && !ci.getDiagnostics().hasErrorOccurred();
    if (!ok) return encode_frame(CompileStatus::Failed, {}, diag_stream.str());
    return encode_frame(CompileStatus::Compiled, std::string_view(object.data(), object.size()), diag_stream.str());
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int rtd_clang_compile_v1(const rtd_clang_job* job, int result_fd)
{
    std::string diagnostics;
    llvm::raw_string_ostream diag_stream(diagnostics);
    ChildState state{result_fd, &diag_stream};
    llvm::install_fatal_error_handler(on_fatal_error, &state);
    initialize_bpf_target();
    std::string frame = compile_here(*job, diag_stream);
    return rtd::write_all(result_fd, frame) ? 0 : -1;
}

// The name above must be the one the runtime looks up.
static_assert(std::string_view("rtd_clang_compile_v1") == std::string_view(rtd::kClangEntryPoint));
