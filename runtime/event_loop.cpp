#include "runtime/event_loop.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <thread>

#include <fmt/format.h>

#include "runtime/faults.h"
#include "runtime/rule_counters.h"
#include "runtime/signals.h"

namespace rtd {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t realtime_offset_ns()
{
    timespec rt{}, mono{};
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    return (static_cast<std::int64_t>(rt.tv_sec) - mono.tv_sec) * 1000000000 + (rt.tv_nsec - mono.tv_nsec);
}

int on_event(void* ctx, void* data, std::size_t size)
{
    static_cast<Reporting*>(ctx)->event(data, size);
    return 0;
}

}  // namespace

Reporting::Reporting(const CompiledRuleSet& set, const Btf* btf, std::vector<const std::map<std::string, std::string>*> reason_hints,
                     const OutputOptions& options)
    : options_(options), ctx_{set}, text_(options.out, ctx_, options.color, options.hints), json_(options.out, ctx_), flows_(ctx_)
{
    ctx_.realtime_offset_ns = realtime_offset_ns();
    ctx_.stacks = options.stacks;
    ctx_.reason_hints = std::move(reason_hints);
    ctx_.reason_hints.resize(set.rules.size(), nullptr);
    if (btf) {
        decoder_ = std::make_unique<EventDecoder>(set, *btf);
        ctx_.decoder = decoder_.get();
        ctx_.symbols = &symbols_;
        const bool stacks = std::any_of(set.rules.begin(), set.rules.end(), [](const RuleEntry& r) { return r.event.has_stack; });
        const bool locations = std::any_of(set.probes.begin(), set.probes.end(), [](const ProbePlan& p) { return is_kfree_skb(p.target); });
        if (stacks || locations) symbols_.load_in_background();
    }
    if (!options.quiet)
        sinks_.push_back(options.summary ? static_cast<EventSink*>(&flows_) : options.json ? static_cast<EventSink*>(&json_) : &text_);
    if (options.pcap) sinks_.push_back((pcap_ = std::make_unique<PcapOutput>(*options.pcap, ctx_, options.snaplen)).get());
    // The outputs take their evidence on a worker; an observer (metrics, the
    // ledger) counts in this thread, as the events come.
    if (!sinks_.empty() && EvidenceStage::needed(set)) {
        evidence_ = std::make_unique<EvidenceStage>(ctx_, std::move(sinks_), [this] { write_out(); });
        sinks_.clear();
    }
    if (options.observer) sinks_.push_back(options.observer);
}

void Reporting::reported_one()
{
    if (++reported_ == options_.count) request_stop();
}

void Reporting::event(const void* data, std::size_t size)
{
    if (full()) return;
    std::optional<DecodedEvent> e = decoder_ ? decoder_->decode(data, size) : std::nullopt;
    if (!e) {
        ++undecodable_;
        return;
    }
    if (e->sample) {
        // Counted already, in the kernel's flow table: not for the observers
        // nor --count, only for the summary's evidence.
        if (evidence_) evidence_->event(std::move(*e));
        return;
    }
    for (EventSink* s : sinks_) s->event(*e);
    if (evidence_) evidence_->event(std::move(*e));
    reported_one();
}

void Reporting::monitor(const std::vector<MonitorFinding>& findings)
{
    for (const MonitorFinding& f : findings) {
        if (full()) return;
        for (EventSink* s : sinks_) s->monitor(f);
        if (evidence_) evidence_->monitor(f);
        reported_one();
    }
}

void Reporting::write_out()
{
    std::fflush(options_.out);
    if (options_.pcap && !options_.pcap->flush()) request_stop();  // the run ends saying why (session.cpp)
}

void Reporting::flush()
{
    if (evidence_) evidence_->drain();
    write_out();
}

void Reporting::flush_batch()
{
    if (!evidence_) write_out();  // else the evidence worker writes out whenever it has caught up
}

void Reporting::print_summary(bool clear)
{
    if (!options_.summary) return;
    if (evidence_) evidence_->drain();
    flows_.print(options_.out, options_.top);
    if (clear) flows_.clear();
}

void RingBufferFree::operator()(struct ring_buffer* r) const { ring_buffer__free(r); }

Expected<EventRing> open_event_ring(const AttachedProbes& probes, Reporting& reporting)
{
    EventRing ring;
    if (!probes.attached) return ring;
    struct bpf_map* events = bpf_object__find_map_by_name(probes.obj.get(), "rtd_events");
    ring.reset(events ? ring_buffer__new(bpf_map__fd(events), on_event, &reporting, nullptr) : nullptr);
    if (!ring) return RunError::failure(fmt::format("cannot read the ring buffer: {}", std::strerror(errno)));
    return ring;
}

Expected<LoopEnd> run_event_loop(const CompiledRuleSet& set, AttachedProbes& probes, struct ring_buffer* ring, Monitors& monitors,
                                 Reporting& reporting, const LoopOptions& options, const std::function<void()>& ready, StatusSink& status)
{
    std::map<std::string, std::uint64_t> flows_seen;  // rtd_flows' totals at the last summary
    auto summary = [&](bool clear) {
        if (options.kernel_flows) pull_kernel_flows(probes.obj.get(), set, flows_seen, reporting.flows());
        reporting.print_summary(clear);
    };
    ready();
    Faults::active().stall("run", stop_flag(), status);

    LoopEnd end;
    const auto start = Clock::now();
    auto next_interval = start + std::chrono::milliseconds(options.interval_ms);
    auto next_poll = start + std::chrono::milliseconds(options.poll_ms);
    std::FILE* out = reporting.out();
    while (!stop_requested()) {
        if (take_reload_request()) {
            end.reload = true;
            break;
        }
        if (ring) {
            int n = ring_buffer__poll(ring, 100);
            // Programs wake us only when a quarter of the ring is full
            // (rtd_submit_flags): a quiet ring is read when the wait ends.
            if (n == 0) n = ring_buffer__consume(ring);
            if (n < 0 && n != -EINTR) {
                status.error(RunError::failure(fmt::format("reading events failed: {}", std::strerror(-n))));
                break;
            }
            if (n > 0) reporting.flush_batch();
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        // A reader that went away (`| head`): stop as if asked to; the
        // counters still go to the status.
        if (std::ferror(out)) {
            end.output_closed = true;
            break;
        }
        if (options.tick) options.tick();
        auto now = Clock::now();
        if (options.duration_ms && now - start >= std::chrono::milliseconds(options.duration_ms)) break;
        if ((monitors.active() || options.ledger) && now >= next_poll) {
            next_poll += std::chrono::milliseconds(options.poll_ms);
            if (next_poll < now) next_poll = now + std::chrono::milliseconds(options.poll_ms);  // a slow poll: no burst to catch up
            if (options.ledger) {
                options.ledger->poll(probes.obj.get(), false);
                if (options.ledger_polled) options.ledger_polled(*options.ledger);
            }
            if (monitors.active()) {
                std::vector<MonitorFinding> findings = monitors.poll();
                if (options.polled) options.polled(findings);
                reporting.monitor(findings);
                ++end.polls;
            }
            std::fflush(out);
        }
        if (options.interval_ms && now >= next_interval) {
            next_interval += std::chrono::milliseconds(options.interval_ms);
            summary(true);
            reporting.flush();  // the events' lines before the ledger's
            if (options.ledger) options.ledger->print(out, options.ledger_json, false, std::chrono::duration<double>(now - start).count());
            if (probes.obj)
                print_counters(status, set, read_counters(probes.obj.get(), set, probes.dispatch),
                               std::chrono::duration<double>(now - start).count(), reporting.undecodable());
        }
    }
    if (ring) ring_buffer__consume(ring);  // what arrived before the stop
    end.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (end.reload) return end;

    // Counters first, then detach: nothing more can fire after this.
    if (probes.obj) end.counts = read_counters(probes.obj.get(), set, probes.dispatch);
    if (options.ledger) {
        options.ledger->poll(probes.obj.get(), true);
        if (options.ledger_polled) options.ledger_polled(*options.ledger);
    }
    probes.links.clear();
    if (probes.obj && !probes.track.places.empty()) end.track = read_track_stats(probes.obj.get());
    summary(false);
    reporting.flush();
    if (options.ledger) options.ledger->print(out, options.ledger_json, true, end.seconds);
    std::fflush(out);
    return end;
}

}  // namespace rtd
