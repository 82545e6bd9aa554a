#include "runtime/pcapng.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string_view>

namespace rtd {
namespace {

constexpr uint32_t kSectionHeader = 0x0A0D0D0A, kInterfaceDescription = 1, kInterfaceStatistics = 5, kEnhancedPacket = 6;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr uint16_t kOptEnd = 0, kOptComment = 1;
constexpr uint16_t kShbOs = 3, kShbUserappl = 4;
constexpr uint16_t kIfName = 2, kIfTsresol = 9;
constexpr uint16_t kEpbFlags = 2;
constexpr uint16_t kIsbStarttime = 2, kIsbEndtime = 3, kIsbOsdrop = 7, kIsbUsrdeliv = 8;
constexpr uint8_t kNanoseconds = 9;  // if_tsresol: 10^-9 s
// Wireshark refuses a packet with more captured bytes (WTAP_MAX_PACKET_SIZE_STANDARD).
constexpr uint32_t kMaxCaptured = 262144;
// Files are written in pieces about this large between flush() calls.
constexpr std::size_t kBufferLimit = 64 * 1024;

// One block: its fields, then options, then finish() fills in the total
// length at both ends. Every piece is padded to 32 bits as it is added.
class Block {
public:
    explicit Block(uint32_t type)
    {
        u32(type);
        u32(0);  // total length, set by finish()
    }
    Block& u16(uint16_t v) { return raw(&v, sizeof v); }
    Block& u32(uint32_t v) { return raw(&v, sizeof v); }
    Block& u64(uint64_t v) { return raw(&v, sizeof v); }
    // A timestamp as EPBs and ISBs hold it: the high 32 bits, then the low.
    Block& time(uint64_t ns) { return u32(uint32_t(ns >> 32)).u32(uint32_t(ns)); }
    Block& padded(const void* p, std::size_t n)
    {
        raw(p, n);
        b_.append((4 - n % 4) % 4, '\0');
        return *this;
    }
    Block& option(uint16_t code, const void* p, std::size_t n)
    {
        has_options_ = true;
        u16(code).u16(uint16_t(n));
        return padded(p, n);
    }
    Block& option(uint16_t code, std::string_view s) { return option(code, s.data(), s.size()); }
    Block& option_u32(uint16_t code, uint32_t v) { return option(code, &v, sizeof v); }
    Block& option_u64(uint16_t code, uint64_t v) { return option(code, &v, sizeof v); }
    Block& option_time(uint16_t code, uint64_t ns)
    {
        uint32_t v[2] = {uint32_t(ns >> 32), uint32_t(ns)};
        return option(code, v, sizeof v);
    }
    std::string finish()
    {
        if (has_options_) u16(kOptEnd).u16(0);
        uint32_t total = uint32_t(b_.size() + 4);
        u32(total);
        std::memcpy(b_.data() + 4, &total, 4);
        return std::move(b_);
    }

private:
    Block& raw(const void* p, std::size_t n)
    {
        b_.append(static_cast<const char*>(p), n);
        return *this;
    }
    std::string b_;
    bool has_options_ = false;
};

// An option holds at most 65535 bytes; cut a longer comment there, before
// a UTF-8 continuation byte so the text stays valid.
std::string_view option_text(std::string_view s)
{
    if (s.size() <= 0xFFFF) return s;
    std::size_t n = 0xFFFF;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return s.substr(0, n);
}

uint64_t now_ns()
{
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

std::string section_header(const std::string& version)
{
    Block b(kSectionHeader);
    b.u32(kByteOrderMagic).u16(1).u16(0).u64(~uint64_t{0});  // version 1.0; section length unknown (streamed)
    utsname u{};
    if (uname(&u) == 0) b.option(kShbOs, std::string(u.sysname) + " " + u.release);
    b.option(kShbUserappl, "rtrace-drop " + version);
    return b.finish();
}

std::string rotated_name(const std::string& path, unsigned n) { return path + "." + std::to_string(n); }

}  // namespace

PcapngWriter::PcapngWriter(std::string path, const PcapngRotation& rotation, std::string version)
    : path_(std::move(path)), rotation_(rotation), version_(std::move(version))
{
}

std::unique_ptr<PcapngWriter> PcapngWriter::open(const std::string& path, const PcapngRotation& rotation, const std::string& version, std::string& error)
{
    if (path == "-" && rotation.max_bytes > 0) {
        error = "cannot rotate standard output: rotation needs a file";
        return nullptr;
    }
    std::unique_ptr<PcapngWriter> w(new PcapngWriter(path, rotation, version));
    if (w->rotation_.keep == 0) w->rotation_.keep = 1;
    if (!w->start_file()) {
        error = w->error_;
        w->finish_file();  // only closes: the writer has failed
        w->closed_ = true;
        return nullptr;
    }
    return w;
}

PcapngWriter::~PcapngWriter() { close(); }

std::string PcapngWriter::display_name() const { return to_stdout_ ? "standard output" : path_; }

bool PcapngWriter::fail(const std::string& what, int err)
{
    if (!failed_) error_ = what + ": " + std::strerror(err);
    failed_ = true;
    return false;
}

bool PcapngWriter::start_file()
{
    to_stdout_ = path_ == "-";
    if (to_stdout_) {
        fd_ = STDOUT_FILENO;
    } else {
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd_ < 0) {
            int err = errno;
            return fail("cannot write " + path_, err);
        }
    }
    struct stat st {};
    bool regular = fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
    if (rotation_.max_bytes > 0 && !regular) {
        failed_ = true;
        error_ = "cannot rotate " + path_ + ": not a regular file";
        return false;
    }
    live_ = to_stdout_ || !regular;
    cut_on_error_ = regular && !to_stdout_;
    file_bytes_ = 0;
    interfaces_.clear();
    file_packets_ = 0;
    file_start_ns_ = file_end_ns_ = now_ns();
    buffer_ += section_header(version_);
    // Written at once: a reader sees the header, and a path we cannot write fails here.
    return write_out();
}

uint32_t PcapngWriter::interface(const std::string& name, uint16_t linktype, uint32_t snaplen)
{
    for (std::size_t i = 0; i < interfaces_.size(); ++i)
        if (interfaces_[i].name == name && interfaces_[i].linktype == linktype) return uint32_t(i);
    interfaces_.push_back({name, linktype, snaplen, 0});
    Block b(kInterfaceDescription);
    b.u16(linktype).u16(0).u32(snaplen);
    b.option(kIfName, option_text(name));
    b.option(kIfTsresol, &kNanoseconds, 1);
    buffer_ += b.finish();
    return uint32_t(interfaces_.size() - 1);
}

bool PcapngWriter::write(const std::string& if_name, uint16_t linktype, uint32_t snaplen, const PcapngPacket& packet)
{
    if (failed_) return false;
    if (closed_) return fail("cannot write " + display_name(), EBADF);
    // Rotated before a packet rather than after one, so FILE always holds the newest packet
    // (and a limit below the SHB's size still puts one packet in each file).
    bool full = rotation_.max_bytes > 0 && file_bytes_ + buffer_.size() >= rotation_.max_bytes;
    if (full && file_packets_ > 0 && !rotate()) return false;
    uint32_t id = interface(if_name, linktype, snaplen);

    // The IDB's snaplen (of the interface's first use) is the one a reader checks against.
    uint32_t if_snaplen = interfaces_[id].snaplen;
    std::size_t limit = if_snaplen == 0 ? kMaxCaptured : std::min(if_snaplen, kMaxCaptured);
    std::size_t captured = std::min(packet.data.size(), limit);
    uint64_t orig = std::max<uint64_t>(packet.orig_len, packet.data.size());
    uint32_t orig_len = uint32_t(std::min<uint64_t>(orig, UINT32_MAX));
    Block b(kEnhancedPacket);
    b.u32(id).time(packet.time_ns).u32(uint32_t(captured)).u32(orig_len);
    b.padded(packet.data.data(), captured);
    if (!packet.comment.empty()) b.option(kOptComment, option_text(packet.comment));
    if (packet.direction != PacketDirection::Unknown)
        b.option_u32(kEpbFlags, packet.direction == PacketDirection::Inbound ? 0b01 : 0b10);
    buffer_ += b.finish();

    ++interfaces_[id].delivered;
    ++file_packets_;
    ++packets_written_;
    file_start_ns_ = std::min(file_start_ns_, packet.time_ns);
    file_end_ns_ = std::max(file_end_ns_, packet.time_ns);

    return (!live_ && buffer_.size() < kBufferLimit) || write_out();
}

bool PcapngWriter::flush()
{
    if (failed_) return false;
    return closed_ || write_out();
}

void PcapngWriter::set_lost(uint64_t lost_events) { lost_ = lost_events; }

bool PcapngWriter::write_out()
{
    std::size_t done = 0;
    while (done < buffer_.size()) {
        ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
        if (n >= 0) {
            done += std::size_t(n);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {  // a non-blocking stdout: wait for the reader
            pollfd p{fd_, POLLOUT, 0};
            poll(&p, 1, -1);
            continue;
        }
        int err = errno;
        // Whatever part of a block got out is cut off again, so the file ends with a whole block.
        if (cut_on_error_) {
            int cut = ftruncate(fd_, off_t(file_bytes_));
            (void)cut;  // if even that fails, there is nothing left to try
        }
        buffer_.clear();
        return fail("cannot write " + display_name(), err);
    }
    file_bytes_ += done;
    buffer_.clear();
    return true;
}

bool PcapngWriter::finish_file()
{
    if (!failed_) {
        file_end_ns_ = std::max(file_end_ns_, now_ns());
        for (std::size_t i = 0; i < interfaces_.size(); ++i) {
            Block b(kInterfaceStatistics);
            b.u32(uint32_t(i)).time(file_end_ns_);
            if (i == 0)
                b.option(kOptComment, "isb_osdrop: events the tracer lost (ring buffer full) in the whole run so far, "
                                      "over all interfaces; not attributable to one");
            b.option_time(kIsbStarttime, file_start_ns_).option_time(kIsbEndtime, file_end_ns_);
            if (i == 0) b.option_u64(kIsbOsdrop, lost_);
            b.option_u64(kIsbUsrdeliv, interfaces_[i].delivered);
            buffer_ += b.finish();
        }
        write_out();
    }
    if (fd_ >= 0 && !to_stdout_ && ::close(fd_) != 0) {
        int err = errno;
        fail("cannot write " + path_, err);
    }
    fd_ = -1;
    return !failed_;
}

bool PcapngWriter::rotate()
{
    if (!finish_file()) return false;
    auto cannot = [this] {
        int err = errno;
        return fail("cannot rotate " + path_, err);
    };
    auto gone = [](const std::string& p) { return ::unlink(p.c_str()) == 0 || errno == ENOENT; };
    auto moved = [](const std::string& from, const std::string& to) {
        return ::rename(from.c_str(), to.c_str()) == 0 || errno == ENOENT;
    };
    // Leftovers of a run that kept more files go too, so at most `keep` remain.
    for (unsigned n = rotation_.keep; access(rotated_name(path_, n).c_str(), F_OK) == 0; ++n)
        if (!gone(rotated_name(path_, n))) return cannot();
    if (rotation_.keep == 1) {
        if (!gone(path_)) return cannot();
    } else {
        for (unsigned n = rotation_.keep - 1; n >= 2; --n)
            if (!moved(rotated_name(path_, n - 1), rotated_name(path_, n))) return cannot();
        if (!moved(path_, rotated_name(path_, 1))) return cannot();
    }
    return start_file();
}

bool PcapngWriter::close()
{
    if (closed_) return !failed_;
    closed_ = true;
    return finish_file();
}

}  // namespace rtd
