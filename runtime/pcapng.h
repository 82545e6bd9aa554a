// A pcapng writer (draft-ietf-opsawg-pcapng), for `run --pcap`: libpcap's
// dumper cannot write per-packet comments, which carry the drop's reason,
// so we write the blocks ourselves. Host byte order (the SHB's byte-order
// magic says which), nanosecond timestamps (if_tsresol 9).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace rtd {

enum class PacketDirection { Unknown, Inbound, Outbound };
inline constexpr uint16_t kLinktypeEthernet = 1;  // LINKTYPE_ETHERNET
inline constexpr uint16_t kLinktypeRaw = 101;     // LINKTYPE_RAW: starts with an IPv4 or IPv6 header

struct PcapngPacket {
    uint64_t time_ns = 0;   // nanoseconds since the Unix epoch
    uint32_t orig_len = 0;  // length of the packet as the kernel had it (>= data.size())
    std::span<const uint8_t> data;
    std::string comment;  // opt_comment, UTF-8; empty: none
    PacketDirection direction = PacketDirection::Unknown;  // epb_flags bits 0-1 (01 inbound, 10 outbound); Unknown: no epb_flags option
};

struct PcapngRotation {
    uint64_t max_bytes = 0;  // 0: never rotate
    unsigned keep = 10;      // files kept, the current one included (>= 1)
};

// Writes one pcapng stream: a Section Header Block (shb_userappl "rtrace-drop <version>", shb_os from uname), then an
// Interface Description Block the first time each (name, linktype) is used (if_name, if_tsresol = 9 i.e. nanoseconds,
// snaplen), Enhanced Packet Blocks, and at close() an Interface Statistics Block per interface.
// path "-": standard output (no rotation allowed). Rotation: when the current file has reached max_bytes, the next
// packet first finishes it (ISBs written), renames it logrotate-style (FILE -> FILE.1, FILE.1 -> FILE.2, ..., the ones
// beyond keep-1 deleted) and starts a fresh FILE with its own SHB and re-emitted IDBs for interfaces as they are used
// again. So FILE is always the newest (it holds the last packet written) and at most `keep` files exist.
//
// Output to standard output, a pipe or a device is flushed after every packet
// (so `| wireshark -k -i -` sees packets live); a regular file is buffered,
// flushed when the buffer fills, by flush() (once per batch) and at close().
// The buffer only ever holds whole blocks, and a failed write to a file we
// opened is cut back to the last whole block, so no partial block is left.
class PcapngWriter {
public:
    // Opens (creates/truncates) the file and writes the SHB. nullptr and a clear message in `error`
    // (e.g. "cannot write drops.pcapng: Permission denied") if it cannot.
    static std::unique_ptr<PcapngWriter> open(const std::string& path, const PcapngRotation& rotation, const std::string& version, std::string& error);
    ~PcapngWriter();
    PcapngWriter(const PcapngWriter&) = delete;
    PcapngWriter& operator=(const PcapngWriter&) = delete;

    // The interface's id in the current file, writing its IDB first if new. Same (name, linktype) → same id
    // (the snaplen of its first use stays).
    uint32_t interface(const std::string& name, uint16_t linktype, uint32_t snaplen);
    // false on a write error (message in last_error()); the writer then stays failed. Data beyond the snaplen
    // (or 262144 bytes, the most Wireshark reads) is cut; orig_len keeps the real length.
    bool write(const std::string& if_name, uint16_t linktype, uint32_t snaplen, const PcapngPacket& packet);
    // Writes out what is buffered; false (and failed) on a write error.
    bool flush();
    // Stats for the ISBs at close: events the tracer lost (ring buffer full) are not attributable to an interface,
    // so they are written as isb_osdrop on the first interface of the current file, with an opt_comment saying they
    // are the run's total across all interfaces; every ISB carries isb_starttime/isb_endtime (of the file), isb_usrdeliv
    // (packets written to this interface in this file).
    void set_lost(uint64_t lost_events);
    bool close();  // writes the ISBs, flushes; idempotent; also called by the destructor
    uint64_t packets_written() const { return packets_written_; }  // over all files
    const std::string& last_error() const { return error_; }

private:
    struct Interface {
        std::string name;
        uint16_t linktype = 0;
        uint32_t snaplen = 0;
        uint64_t delivered = 0;  // packets in this file
    };

    PcapngWriter(std::string path, const PcapngRotation& rotation, std::string version);
    bool start_file();   // opens path_ (or takes stdout) and writes the SHB
    bool finish_file();  // ISBs, flush, close
    bool rotate();
    bool write_out();  // buffer_ to fd_
    bool fail(const std::string& what, int err);
    std::string display_name() const;

    std::string path_;
    PcapngRotation rotation_;
    std::string version_;

    int fd_ = -1;
    bool to_stdout_ = false;
    bool live_ = false;           // flush after every packet
    bool cut_on_error_ = false;   // a regular file we opened: ftruncate back to whole blocks
    std::string buffer_;          // whole blocks not yet written
    uint64_t file_bytes_ = 0;     // written to the current file (buffer_ excluded)
    std::vector<Interface> interfaces_;  // of the current file, by id
    uint64_t file_packets_ = 0;
    uint64_t file_start_ns_ = 0, file_end_ns_ = 0;  // opening time, widened to the packets' times

    uint64_t lost_ = 0;
    uint64_t packets_written_ = 0;
    bool failed_ = false, closed_ = false;
    std::string error_;
};

}  // namespace rtd
