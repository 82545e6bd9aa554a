// Between the decoder and the sinks when a rule's message or hint asks for
// evidence ({sysctl:...}, {route:...}, {neigh:...}): a worker thread looks it
// up (runtime/evidence.h) and passes every event and monitor finding on to
// the sinks, in the order they came, so the event loop never waits for a
// look-up. Without such a rule there is no stage and no thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <variant>
#include <vector>

#include "runtime/evidence.h"
#include "runtime/report.h"

namespace rtd {

class EvidenceStage {
public:
    // `idle` runs on the worker each time it has emptied the queue (the
    // outputs' flush).
    EvidenceStage(const ReportContext& ctx, std::vector<EventSink*> sinks, std::function<void()> idle);
    ~EvidenceStage();
    EvidenceStage(const EvidenceStage&) = delete;
    EvidenceStage& operator=(const EvidenceStage&) = delete;

    // Whether any rule of the set asks for evidence.
    static bool needed(const CompiledRuleSet& set);

    // Queued; waits only while kMaxQueued are (the worker is that far behind).
    void event(DecodedEvent e);
    void monitor(const MonitorFinding& f);
    // Returns once everything queued has reached the sinks.
    void drain();
    EvidenceStats stats() const;

    static constexpr std::size_t kMaxQueued = 65536;

private:
    using Item = std::variant<DecodedEvent, MonitorFinding>;
    void push(Item item);
    void run();
    void look_up(DecodedEvent& e);

    const ReportContext& ctx_;
    std::vector<EventSink*> sinks_;
    std::function<void()> idle_;
    std::vector<std::vector<const TextTemplate::Piece*>> pieces_;  // per rule: its evidence placeholders
    EvidenceResolver resolver_;
    mutable std::mutex mutex_;
    std::condition_variable wake_, settled_;
    std::deque<Item> queue_;
    bool busy_ = false, stopping_ = false;
    EvidenceStats stats_;  // a copy of resolver_'s, under mutex_
    std::thread worker_;
};

}  // namespace rtd
