// BPF C -> BPF ELF with Clang's libraries, in a forked child
// (compile_child.h), with an on-disk cache keyed by everything that decides
// the object: the source, the kernel types, the headers, the compiler.

#include "runtime/bpf_compiler.h"

#include <bpf/btf.h>
#include <elf.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <clang/Basic/Version.h>  // CLANG_VERSION_STRING only: no link to Clang

#include "runtime/compile_child.h"
#include "runtime/compile_frame.h"
#include "runtime/cache_files.h"
#include "runtime/embedded_headers.h"
#include "runtime/prebuilt.h"
#include "runtime/vmlinux_header.h"

namespace rtd {

namespace {

// Bump when the flags, the framing or anything else that shapes the object
// changes without the inputs changing.
constexpr std::string_view cache_format = "rtrace-drop bpf object cache 2";

// About 40 generated rules' worth of C: every shipped pack together is
// about half of it.
constexpr std::size_t kLineTextMaxLines = 5000;

}  // namespace

BpfCompiler::BpfCompiler(std::string vmlinux_h, std::map<std::string, std::string> headers, std::string cache_dir)
    : vmlinux_h_(std::move(vmlinux_h)), headers_(std::move(headers)), cache_dir_(std::move(cache_dir))
{
    hash_inputs("vmlinux.h", {vmlinux_h_});
}

BpfCompiler::BpfCompiler(const struct btf* btf, std::map<std::string, std::string> headers, std::string cache_dir)
    : btf_(btf), headers_(std::move(headers)), cache_dir_(std::move(cache_dir))
{
    // The raw BTF stands for the vmlinux.h made from it, which is only
    // generated when a compile actually runs (tens of milliseconds). Split
    // BTF (modules' types on the kernel's) holds only its own part: the
    // kernel's is hashed with it.
    std::vector<std::string_view> types;
    for (const struct btf* b = btf; b; b = btf__base_btf(b)) {
        std::uint32_t size = 0;
        const void* raw = btf__raw_data(b, &size);
        types.emplace_back(static_cast<const char*>(raw), raw ? size : 0);
    }
    hash_inputs("btf", types);
}

void BpfCompiler::hash_inputs(std::string_view kind, const std::vector<std::string_view>& types)
{
    // Everything but the source is fixed per compiler: hash it once.
    ContentHash h;
    h.field(cache_format);
    h.field(RTD_VERSION);
    h.field(CLANG_VERSION_STRING);
    h.field(kind);
    for (std::string_view t : types) h.field(t);
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
    ContentHash h{base_key_.a, base_key_.b};
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
        if (std::optional<std::string> hit = read_cache_file(path); hit && is_complete_elf(*hit)) {
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
    // LLVM 14's BPF backend looks each string of the object's BTF up by a
    // linear search of those it has (BTFStringTable::addString), and every
    // source line's text is one: past kLineTextMaxLines the compile would
    // grow with the square of the source, so the line info goes without
    // text (a verifier log then shows instructions without their C).
    const bool line_text = std::count(source.begin(), source.end(), '\n') <= static_cast<std::ptrdiff_t>(kLineTextMaxLines);
    std::optional<SourceCopy> copy;
    if (line_text) copy.emplace(source);
    CompileResult r = compile_in_child(CompileJob{source, btf_ ? generated : vmlinux_h_, headers_, copy ? copy->dir() : std::string()});
    // Only objects without warnings are cached, so a hit says exactly what
    // a fresh compile would (generated code is meant to be warning-free).
    if (r.ok && r.diagnostics.empty() && !path.empty())
        store_cache_file(cache_dir_, path, r.object);
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
