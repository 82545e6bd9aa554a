// The event path in user space on one core: raw ring-buffer records ->
// decoded events -> JSON lines (or text lines) written to /dev/null.
// Records are synthesized with the layout of a real rule (packet, reason,
// captures) compiled against the running kernel's BTF.
//
//   build/release/bench/decode_bench [EVENTS]     (default 1000000)
#include <linux/types.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bpf-templates/rtd_event.h"
#include "compiler/btf.h"
#include "compiler/kernel_btf.h"
#include "compiler/codegen.h"
#include "compiler/lower.h"
#include "compiler/frontend.h"
#include "compiler/typecheck.h"
#include "runtime/decoder.h"
#include "runtime/report.h"
#include "runtime/symbols.h"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv)
{
    const std::size_t events = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
    std::string error;
    auto btf = rtd::Btf::load(rtd::kRunningKernelBtf, error);
    if (!btf) {
        std::fprintf(stderr, "no kernel BTF: %s\n", error.c_str());
        return 1;
    }
    rtd::Frontend fe(rtd::SearchPaths{{RTD_SOURCE_DIR "/stdlib"}, {}});
    bool ok = fe.load_text("bench.rule", "rule bench.rcvbuf {\n layer l4\n probe tracepoint:skb:kfree_skb\n"
                                         " capture rcvbuf = rx_sk.sk_rcvbuf\n capture r = reason\n capture dev = skb.dev.name\n"
                                         " drop if reason == SKB_DROP_REASON_SOCKET_RCVBUFF\n packet skb\n"
                                         " message \"{dev}: receive buffer {rcvbuf} full ({r})\"\n}\n");
    auto typed = ok ? rtd::type_check(fe.rules(), *btf, fe.sources(), fe.diagnostics(), {}) : std::vector<rtd::TypedRule>{};
    if (!ok || fe.diagnostics().has_errors()) {
        std::fprintf(stderr, "%s", fe.diagnostics().render(fe.sources()).c_str());
        return 1;
    }
    rtd::CompiledRuleSet set = rtd::lower(fe.rules(), typed, btf.get(), fe.sources());
    const rtd::EventSchema& schema = set.rules[0].event;

    // One record as the BPF side writes it.
    std::vector<unsigned char> record(schema.size);
    rtd_event_header h{};
    h.time_ns = 123456789;
    h.rule = 0;
    h.flags = RTD_EV_PACKET | RTD_EV_REASON;
    h.pid = 4242;
    h.tid = 4242;
    h.reason = static_cast<__u32>(btf->enumerator("SKB_DROP_REASON_SOCKET_RCVBUFF")->value);
    h.location = 0xffffffff81000000ull;
    std::strcpy(h.comm, "iperf3");
    std::memcpy(record.data(), &h, sizeof h);
    rtd_packet p{};
    p.family = 2;
    p.proto = 17;
    std::memcpy(p.saddr, "\x0a\x00\x00\x01", 4);
    std::memcpy(p.daddr, "\x0a\x00\x00\x02", 4);
    p.sport = 40000;
    p.dport = 5201;
    p.len = 1500;
    std::strcpy(p.dev, "veth0");
    std::memcpy(record.data() + schema.packet_offset, &p, sizeof p);
    std::int64_t rcvbuf = 212992;
    std::memcpy(record.data() + schema.fields[0].offset, &rcvbuf, 8);
    std::uint64_t reason = h.reason;
    std::memcpy(record.data() + schema.fields[1].offset, &reason, 8);
    std::strcpy(reinterpret_cast<char*>(record.data() + schema.fields[2].offset), "veth0");

    rtd::EventDecoder decoder(set, *btf);
    rtd::KernelSymbols symbols;
    symbols.load();
    rtd::ReportContext ctx{set, &decoder, &symbols, 0};
    std::FILE* null = std::fopen("/dev/null", "w");
    rtd::JsonOutput json(null, ctx);
    rtd::FlowSummary summary(ctx);

    auto measure = [&](rtd::EventSink* sink) {
        auto t = Clock::now();
        for (std::size_t i = 0; i < events; ++i) {
            auto e = decoder.decode(record.data(), record.size());
            if (sink) sink->event(*e);
        }
        return events / std::chrono::duration<double>(Clock::now() - t).count();
    };
    std::printf("%zu events of %u bytes (packet, reason, 3 captures), one core\n", events, schema.size);
    std::printf("  decode only            %12.0f events/s\n", measure(nullptr));
    std::printf("  decode + JSON line     %12.0f events/s\n", measure(&json));
    std::printf("  decode + flow summary  %12.0f events/s\n", measure(&summary));
    std::fclose(null);
    return 0;
}
