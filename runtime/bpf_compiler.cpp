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

#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <clang/Basic/Version.h>  // CLANG_VERSION_STRING only: no link to Clang

#include "runtime/compile_child.h"
#include "runtime/compile_frame.h"
#include "runtime/embedded_headers.h"
#include "runtime/prebuilt.h"
#include "runtime/vmlinux_header.h"

namespace rtd {

namespace {

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
    Hasher h;
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
    CompileResult r = compile_in_child(CompileJob{source, btf_ ? generated : vmlinux_h_, headers_, copy.dir()});
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
