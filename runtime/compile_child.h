// Where one compile runs: a forked child. LLVM's BPF backend keeps static
// state between compiles (a repeated CO-RE access can lose its relocation),
// a fatal LLVM error calls exit(), and a compile peaks near 100+ MB that the
// long-running parent should not keep. The child loads the compiler library
// (librtd-clang.so: Clang and LLVM, never mapped by this process) and writes
// one frame back through a pipe (compile_frame.h); its stderr goes to a
// second pipe, so a crash's stack dump ends up in the result's diagnostics
// instead of on the user's terminal.
#pragma once

#include <map>
#include <string>

#include "runtime/bpf_compiler.h"

namespace rtd {

struct CompileJob {
    const std::string& source;
    const std::string& vmlinux_h;
    const std::map<std::string, std::string>& headers;
    std::string source_copy_dir;  // the child's cwd; empty: stay put
};

// The BPF backend puts each source line's text into BTF line info (the
// verifier log quotes it) and reads that text from the real disk, not from
// clang's file system: "./rules.bpf.c" after the prefix map. So the source
// is also written to a private temp dir that the child makes its cwd. The
// parent owns it, so it is removed even when the child crashes. Without it
// the object is the same except for empty line text.
class SourceCopy {
public:
    explicit SourceCopy(const std::string& source);
    ~SourceCopy() { remove(); }
    SourceCopy(const SourceCopy&) = delete;
    SourceCopy& operator=(const SourceCopy&) = delete;

    const std::string& dir() const { return dir_; }

private:
    std::string file() const;
    void remove();
    std::string dir_;
};

// Never throws for compile errors; never lets LLVM kill the calling process.
CompileResult compile_in_child(const CompileJob& job);

}  // namespace rtd
