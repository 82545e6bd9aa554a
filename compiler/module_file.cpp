#include "compiler/module_file.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <lzma.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>

#include <fmt/format.h>

namespace rtd {

namespace {

constexpr std::uint64_t kMaxXzDecoderMemory = std::uint64_t{128} << 20;  // xz -9 needs 65 MiB
constexpr int kMaxZstdWindowLog = 27;                                  // 128 MiB, zstd --long's default

// Sets `error`, for the many early returns of an optional below.
std::nullopt_t fail(std::string& error, std::string message)
{
    error = std::move(message);
    return std::nullopt;
}

// Grows `buffer` to at least `size` bytes (up to the bound) for writing.
void grow(std::string& buffer, std::size_t size)
{
    if (buffer.size() < size) buffer.resize(std::min(std::max(size, buffer.size() * 2), kMaxModuleBytes + 1));
}

// The file's bytes, in `buffer`.
std::optional<std::string_view> read_bounded(const std::string& path, std::string& buffer, std::string& error)
{
    FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) return fail(error, std::strerror(errno));
    // Sized from fstat when it knows (sysfs files may say 0 or 4096).
    if (struct stat st; ::fstat(file.fd, &st) == 0 && st.st_size > 0)
        grow(buffer, std::min<std::size_t>(static_cast<std::size_t>(st.st_size), kMaxModuleBytes) + 1);
    for (std::size_t used = 0;;) {
        grow(buffer, used + (std::size_t{1} << 16));
        if (used >= buffer.size()) return fail(error, fmt::format("larger than {} MiB", kMaxModuleBytes >> 20));
        ssize_t n = ::read(file.fd, buffer.data() + used, buffer.size() - used);
        if (n < 0 && errno != EINTR) return fail(error, std::strerror(errno));
        if (n == 0) return std::string_view(buffer.data(), used);
        used += static_cast<std::size_t>(std::max<ssize_t>(n, 0));
    }
}
// ---- decompression ----------------------------------------------------------

enum class Step { More, Done, Failed };

using DecodeStep = std::function<Step(char* out, std::size_t room, std::size_t& written)>;

// Runs a decoder's steps into `out` (at most kMaxModuleBytes). A step
// returns More only when it made progress or filled its output.
std::optional<std::string_view> decode_bounded(std::size_t compressed_size, const DecodeStep& step, std::string& out, std::string& error)
{
    grow(out, compressed_size * 4 + 4096);
    for (std::size_t used = 0;;) {
        if (used >= kMaxModuleBytes) return fail(error, fmt::format("larger than {} MiB decompressed", kMaxModuleBytes >> 20));
        grow(out, used + 1);
        std::size_t written = 0;
        Step s = step(out.data() + used, std::min(out.size(), kMaxModuleBytes) - used, written);
        used += written;
        if (s == Step::Failed) return std::nullopt;
        if (s == Step::Done) return std::string_view(out.data(), used);
    }
}

std::optional<std::string_view> inflate_xz(std::string_view in, std::string& out, std::string& error)
{
    lzma_stream s = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&s, kMaxXzDecoderMemory, LZMA_CONCATENATED) != LZMA_OK) return fail(error, "cannot start the xz decoder");
    std::unique_ptr<lzma_stream, decltype(&lzma_end)> end(&s, lzma_end);
    s.next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    s.avail_in = in.size();
    return decode_bounded(in.size(), [&](char* out, std::size_t room, std::size_t& written) {
        s.next_out = reinterpret_cast<std::uint8_t*>(out);
        s.avail_out = room;
        lzma_ret r = lzma_code(&s, LZMA_FINISH);
        written = room - s.avail_out;
        if (r == LZMA_STREAM_END) return Step::Done;
        if (r == LZMA_OK) return Step::More;
        if (r == LZMA_BUF_ERROR) error = "truncated xz data";
        else if (r == LZMA_MEMLIMIT_ERROR) error = "xz data needs too much memory";
        else error = fmt::format("bad xz data (error {})", static_cast<int>(r));
        return Step::Failed;
    }, out, error);
}

std::optional<std::string_view> inflate_zstd(std::string_view in, std::string& out, std::string& error)
{
    std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    if (!ctx || ZSTD_isError(ZSTD_DCtx_setParameter(ctx.get(), ZSTD_d_windowLogMax, kMaxZstdWindowLog)))
        return fail(error, "cannot start the zstd decoder");
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    std::size_t frame_left = 1;  // ZSTD_decompressStream's hint: 0 once a frame is complete
    return decode_bounded(in.size(), [&](char* out, std::size_t room, std::size_t& written) {
        ZSTD_outBuffer output{out, room, 0};
        frame_left = ZSTD_decompressStream(ctx.get(), &output, &input);
        written = output.pos;
        if (ZSTD_isError(frame_left)) {
            error = fmt::format("bad zstd data ({})", ZSTD_getErrorName(frame_left));
            return Step::Failed;
        }
        if (input.pos < input.size || output.pos == room) return Step::More;
        if (frame_left == 0) return Step::Done;
        error = "truncated zstd data";
        return Step::Failed;
    }, out, error);
}

std::optional<std::string_view> inflate_gzip(std::string_view in, std::string& out, std::string& error)
{
    z_stream z{};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return fail(error, "cannot start the gzip decoder");  // 16: gzip framing
    std::unique_ptr<z_stream, decltype(&inflateEnd)> end(&z, inflateEnd);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());  // at most kMaxModuleBytes
    return decode_bounded(in.size(), [&](char* out, std::size_t room, std::size_t& written) {
        z.next_out = reinterpret_cast<Bytef*>(out);
        z.avail_out = static_cast<uInt>(room);
        int r = ::inflate(&z, Z_NO_FLUSH);
        written = room - z.avail_out;
        if (r == Z_STREAM_END && z.avail_in == 0) return Step::Done;
        if (r == Z_STREAM_END) return inflateReset(&z) == Z_OK ? Step::More : Step::Failed;  // another gzip member
        if (r == Z_OK || (r == Z_BUF_ERROR && z.avail_out == 0)) return Step::More;
        error = r == Z_BUF_ERROR ? "truncated gzip data" : fmt::format("bad gzip data ({})", z.msg ? z.msg : "error");
        return Step::Failed;
    }, out, error);
}

// ---- ELF --------------------------------------------------------------------

// The .BTF section of the ELF file in `image`.
std::optional<std::string_view> btf_section(std::string_view image, std::string& error)
{
    static std::once_flag elf_ready;
    std::call_once(elf_ready, [] { elf_version(EV_CURRENT); });
    // libelf only reads an image it maps (ELF_C_READ_MMAP), whatever the type says.
    std::unique_ptr<Elf, decltype(&elf_end)> elf(elf_memory(const_cast<char*>(image.data()), image.size()), elf_end);
    std::size_t names = 0;
    bool valid = elf && elf_kind(elf.get()) == ELF_K_ELF && elf_getshdrstrndx(elf.get(), &names) == 0;
    for (Elf_Scn* scn = valid ? elf_nextscn(elf.get(), nullptr) : nullptr; scn; scn = elf_nextscn(elf.get(), scn)) {
        GElf_Shdr header;
        if (!(valid = gelf_getshdr(scn, &header) != nullptr)) break;
        const char* name = elf_strptr(elf.get(), names, header.sh_name);
        if (!name || std::strcmp(name, ".BTF") != 0) continue;
        Elf_Data* data = header.sh_type == SHT_NOBITS ? nullptr : elf_rawdata(scn, nullptr);
        // In the image, where libelf leaves an image it maps (checked all the same).
        const auto at = data ? reinterpret_cast<std::uintptr_t>(data->d_buf) - reinterpret_cast<std::uintptr_t>(image.data()) : 0;
        if (!data || !data->d_buf || data->d_size == 0 || at >= image.size() || data->d_size > image.size() - at)
            return fail(error, "its .BTF section is empty or outside the file");
        return image.substr(at, data->d_size);
    }
    if (!valid) return fail(error, fmt::format("not a valid ELF file ({})", elf_errmsg(-1)));
    return fail(error, "no .BTF section (a kernel built without CONFIG_DEBUG_INFO_BTF_MODULES?)");
}

bool starts_with_bytes(std::string_view data, std::string_view magic) { return data.substr(0, magic.size()) == magic; }

}  // namespace

bool is_raw_btf(std::string_view data)
{
    return starts_with_bytes(data, "\x9f\xeb") || starts_with_bytes(data, "\xeb\x9f");  // either byte order
}

std::optional<std::string_view> module_file_btf(const std::string& path, ModuleReadBuffers& buffers, std::string& error)
{
    std::optional<std::string_view> data = read_bounded(path, buffers.file, error);
    if (!data || is_raw_btf(*data)) return data;
    if (starts_with_bytes(*data, "\xfd" "7zXZ")) data = inflate_xz(*data, buffers.decoded, error);
    else if (starts_with_bytes(*data, "\x28\xb5\x2f\xfd")) data = inflate_zstd(*data, buffers.decoded, error);
    else if (starts_with_bytes(*data, "\x1f\x8b")) data = inflate_gzip(*data, buffers.decoded, error);
    if (!data) return data;
    if (!starts_with_bytes(*data, "\x7f" "ELF")) return fail(error, "neither BTF nor an ELF file (nor xz, zstd or gzip data)");
    return btf_section(*data, error);
}

std::optional<std::string> module_btf_bytes(const std::string& path, std::string& error)
{
    ModuleReadBuffers buffers;
    std::optional<std::string_view> bytes = module_file_btf(path, buffers, error);
    return bytes ? std::optional<std::string>(*bytes) : std::nullopt;
}

}  // namespace rtd
