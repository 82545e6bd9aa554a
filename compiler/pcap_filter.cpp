#include "compiler/pcap_filter.h"

#include <pcap/pcap.h>

#include <memory>
#include <set>

#include <fmt/format.h>

namespace rtd {

namespace {

// What libpcap's compiler needs: a handle of the link type, no device.
// The snapshot length only decides the value accepting returns.
constexpr int kSnaplen = 262144;

struct Compiled {
    std::unique_ptr<pcap_t, decltype(&pcap_close)> handle{nullptr, &pcap_close};
    bpf_program program{};
    ~Compiled()
    {
        if (program.bf_insns) pcap_freecode(&program);
    }
};

std::unique_ptr<Compiled> compile(std::string_view text, int linktype, std::string& error)
{
    auto c = std::make_unique<Compiled>();
    c->handle.reset(pcap_open_dead(linktype, kSnaplen));
    if (!c->handle) {
        error = "libpcap could not open a handle for link type " + std::to_string(linktype);
        return nullptr;
    }
    const std::string expr(text);
    if (pcap_compile(c->handle.get(), &c->program, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        error = pcap_geterr(c->handle.get());
        c->program = {};
        return nullptr;
    }
    return c;
}

std::string hex(std::uint32_t k)
{
    return fmt::format("0x{:x}U", k);
}

// One classic ALU operation on A with `v` (K or X) as the C statement(s).
std::optional<std::string> alu(const bpf_insn& in, const std::string& v)
{
    switch (BPF_OP(in.code)) {
    case BPF_ADD: return fmt::format("A += {};", v);
    case BPF_SUB: return fmt::format("A -= {};", v);
    case BPF_MUL: return fmt::format("A *= {};", v);
    case BPF_DIV: return fmt::format("if ({0} == 0) return 0; A /= {0};", v);
    case BPF_MOD: return fmt::format("if ({0} == 0) return 0; A %= {0};", v);
    case BPF_AND: return fmt::format("A &= {};", v);
    case BPF_OR: return fmt::format("A |= {};", v);
    case BPF_XOR: return fmt::format("A ^= {};", v);
    // As bpf_filter: a shift by 32 or more leaves nothing.
    case BPF_LSH: return fmt::format("A = {0} < 32 ? A << {0} : 0;", v);
    case BPF_RSH: return fmt::format("A = {0} < 32 ? A >> {0} : 0;", v);
    case BPF_NEG: return std::string("A = -A;");
    default: return std::nullopt;
    }
}

const char* load_of_size(std::uint16_t code, unsigned& bytes)
{
    switch (BPF_SIZE(code)) {
    case BPF_W: bytes = 4; return "rtd_pcap_ld32";
    case BPF_H: bytes = 2; return "rtd_pcap_ld16";
    case BPF_B: bytes = 1; return "rtd_pcap_ld8";
    default: return nullptr;
    }
}

// A load from the packet at `offset` (a C expression of __u64), rejecting
// the packet past the captured bytes as bpf_filter does.
std::string packet_load(const char* reg, const char* fn, unsigned bytes, const std::string& offset)
{
    return fmt::format("o = {}; if (o + {} > caplen) return 0; {} = {}(b, (__u32)o);", offset, bytes, reg, fn);
}

std::optional<std::string> statement(const bpf_insn& in, std::size_t pc, std::size_t count)
{
    auto target = [&](std::uint32_t skip) { return pc + 1 + skip; };
    auto jump = [&](std::size_t to) { return to == pc + 1 ? std::string() : fmt::format(" goto L{};", to); };
    const std::uint16_t code = in.code;
    unsigned bytes = 0;
    switch (BPF_CLASS(code)) {
    case BPF_LD:
    case BPF_LDX: {
        const char* reg = BPF_CLASS(code) == BPF_LD ? "A" : "X";
        switch (BPF_MODE(code)) {
        case BPF_IMM: return fmt::format("{} = {};", reg, hex(in.k));
        case BPF_LEN: return fmt::format("{} = wirelen;", reg);
        case BPF_MEM:
            if (in.k >= BPF_MEMWORDS) return std::nullopt;
            return fmt::format("{} = M[{}];", reg, in.k);
        case BPF_ABS:
        case BPF_IND: {
            const char* fn = load_of_size(code, bytes);
            if (!fn || BPF_CLASS(code) != BPF_LD) return std::nullopt;
            const std::string off = BPF_MODE(code) == BPF_ABS ? fmt::format("(__u64){}", hex(in.k)) : fmt::format("(__u64)X + {}", hex(in.k));
            return packet_load(reg, fn, bytes, off);
        }
        case BPF_MSH:  // X = 4 * (P[k] & 0xf): an IPv4 header's length
            if (BPF_CLASS(code) != BPF_LDX || BPF_SIZE(code) != BPF_B) return std::nullopt;
            return packet_load("X", "rtd_pcap_ld8", 1, fmt::format("(__u64){}", hex(in.k))) + " X = (X & 0xf) << 2;";
        default: return std::nullopt;
        }
    }
    case BPF_ST:
    case BPF_STX:
        if (in.k >= BPF_MEMWORDS) return std::nullopt;
        return fmt::format("M[{}] = {};", in.k, BPF_CLASS(code) == BPF_ST ? "A" : "X");
    case BPF_ALU: return alu(in, BPF_SRC(code) == BPF_X ? std::string("X") : hex(in.k));
    case BPF_JMP: {
        if (BPF_OP(code) == BPF_JA) {
            if (target(in.k) >= count) return std::nullopt;
            return fmt::format("goto L{};", target(in.k));
        }
        if (target(in.jt) >= count || target(in.jf) >= count) return std::nullopt;
        const std::string v = BPF_SRC(code) == BPF_X ? "X" : hex(in.k);
        std::string test;
        switch (BPF_OP(code)) {
        case BPF_JEQ: test = "A == " + v; break;
        case BPF_JGT: test = "A > " + v; break;
        case BPF_JGE: test = "A >= " + v; break;
        case BPF_JSET: test = "(A & " + v + ") != 0"; break;
        default: return std::nullopt;
        }
        const std::size_t yes = target(in.jt), no = target(in.jf);
        if (yes == no) return jump(yes).empty() ? std::string(";") : jump(yes).substr(1);
        if (yes == pc + 1) return fmt::format("if (!({})) goto L{};", test, no);
        return fmt::format("if ({}) goto L{};{}", test, yes, jump(no));
    }
    case BPF_RET:
        switch (BPF_RVAL(code)) {
        case BPF_K: return fmt::format("return {};", hex(in.k));
        case BPF_A: return std::string("return A;");
        default: return std::nullopt;
        }
    case BPF_MISC:
        if (BPF_MISCOP(code) == BPF_TAX) return std::string("X = A;");
        if (BPF_MISCOP(code) == BPF_TXA) return std::string("A = X;");
        return std::nullopt;
    default: return std::nullopt;
    }
}

// The labels something jumps to: only those are written (clang warns of
// unused labels).
std::set<std::size_t> jump_targets(const bpf_program& p)
{
    std::set<std::size_t> targets;
    for (std::size_t pc = 0; pc < p.bf_len; ++pc) {
        const bpf_insn& in = p.bf_insns[pc];
        if (BPF_CLASS(in.code) != BPF_JMP) continue;
        if (BPF_OP(in.code) == BPF_JA) {
            targets.insert(pc + 1 + in.k);
        } else {
            targets.insert(pc + 1 + in.jt);
            targets.insert(pc + 1 + in.jf);
        }
    }
    return targets;
}

std::optional<std::string> translate(const bpf_program& p, const std::string& name, std::string& error)
{
    std::string body;
    const std::set<std::size_t> targets = jump_targets(p);
    for (std::size_t pc = 0; pc < p.bf_len; ++pc) {
        std::optional<std::string> s = statement(p.bf_insns[pc], pc, p.bf_len);
        if (!s) {
            error = fmt::format("libpcap produced an instruction this translation does not know: {}",
                                bpf_image(&p.bf_insns[pc], static_cast<int>(pc)));
            return std::nullopt;
        }
        body += targets.count(pc) ? fmt::format("L{}:\n    {}\n", pc, *s) : fmt::format("    {}\n", *s);
    }
    // Classic BPF ends every path in a return, so control never falls off.
    return fmt::format("static __noinline __u32 {}(const __u8 *b, __u32 caplen, __u32 wirelen)\n{{\n"
                       "    __u32 A = 0, X = 0, M[{}];\n    __u64 __attribute__((unused)) o;\n\n"
                       "    __builtin_memset(M, 0, sizeof(M));\n{}    return 0;\n}}\n\n",
                       name, BPF_MEMWORDS, body);
}

}  // namespace

std::optional<PcapFilter> compile_pcap_filter(std::string_view text, std::string& error)
{
    PcapFilter f;
    f.text = text;
    std::unique_ptr<Compiled> eth = compile(text, DLT_EN10MB, error);
    if (!eth) return std::nullopt;
    std::optional<std::string> eth_c = translate(eth->program, "rtd_pcap_filter_eth", error);
    if (!eth_c) return std::nullopt;
    f.c_source = "/* run --filter '<the expression>', compiled by libpcap for Ethernet and for raw IP */\n" + *eth_c;
    std::string raw_error;
    std::unique_ptr<Compiled> raw = compile(text, DLT_RAW, raw_error);
    std::optional<std::string> raw_c = raw ? translate(raw->program, "rtd_pcap_filter_raw", error) : std::nullopt;
    if (raw && !raw_c) return std::nullopt;
    f.raw_ip = raw_c.has_value();
    // An expression of Ethernet's (ether host ...) matches no packet that
    // has no MAC header, as libpcap refuses it for raw IP.
    f.c_source += raw_c ? *raw_c
                        : "static __noinline __u32 rtd_pcap_filter_raw(const __u8 *b, __u32 caplen, __u32 wirelen)\n{\n    return 0;\n}\n\n";
    return f;
}

std::optional<std::string> pcap_filter_listing(std::string_view text, int linktype, std::string& error)
{
    std::unique_ptr<Compiled> c = compile(text, linktype, error);
    if (!c) return std::nullopt;
    std::string out;
    for (unsigned pc = 0; pc < c->program.bf_len; ++pc) out += std::string(bpf_image(&c->program.bf_insns[pc], static_cast<int>(pc))) + "\n";
    return out;
}

}  // namespace rtd
