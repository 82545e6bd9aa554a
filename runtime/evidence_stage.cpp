#include "runtime/evidence_stage.h"

#include <algorithm>

namespace rtd {

namespace {

void evidence_pieces(const std::optional<TextTemplate>& t, std::vector<const TextTemplate::Piece*>& out)
{
    if (!t) return;
    for (const auto& p : t->pieces)
        if (!p.evidence.empty()) out.push_back(&p);
}

}  // namespace

bool EvidenceStage::needed(const CompiledRuleSet& set)
{
    return std::any_of(set.rules.begin(), set.rules.end(), [](const RuleEntry& r) {
        return (r.message && r.message->asks_evidence()) || (r.hint && r.hint->asks_evidence());
    });
}

EvidenceStage::EvidenceStage(const ReportContext& ctx, std::vector<EventSink*> sinks, std::function<void()> idle)
    : ctx_(ctx), sinks_(std::move(sinks)), idle_(std::move(idle))
{
    for (const RuleEntry& r : ctx.set.rules) {
        pieces_.emplace_back();
        evidence_pieces(r.message, pieces_.back());
        evidence_pieces(r.hint, pieces_.back());
    }
    worker_ = std::thread([this] { run(); });
}

EvidenceStage::~EvidenceStage()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();  // it empties the queue first
}

void EvidenceStage::push(Item item)
{
    std::unique_lock<std::mutex> lock(mutex_);
    // Far behind: the event loop waits, and the ring buffer (counted as lost
    // in the kernel) takes the overflow, as it would for a slow terminal.
    settled_.wait(lock, [&] { return queue_.size() < kMaxQueued; });
    queue_.push_back(std::move(item));
    lock.unlock();
    wake_.notify_one();
}

void EvidenceStage::event(DecodedEvent e) { push(std::move(e)); }

void EvidenceStage::monitor(const MonitorFinding& f) { push(f); }

void EvidenceStage::drain()
{
    std::unique_lock<std::mutex> lock(mutex_);
    settled_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

EvidenceStats EvidenceStage::stats() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
}

void EvidenceStage::look_up(DecodedEvent& e)
{
    if (e.rule >= pieces_.size()) return;
    for (const TextTemplate::Piece* p : pieces_[e.rule]) {
        std::string key = evidence_key(*p, e, ctx_);
        if (std::any_of(e.evidence.begin(), e.evidence.end(), [&](const auto& kv) { return kv.first == key; })) continue;
        std::string value = resolver_.lookup(p->evidence, key.substr(p->evidence.size() + 1), e.netns);
        e.evidence.emplace_back(std::move(key), std::move(value));
    }
    std::sort(e.evidence.begin(), e.evidence.end());
}

void EvidenceStage::run()
{
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left
        Item item = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        lock.unlock();
        if (auto* e = std::get_if<DecodedEvent>(&item)) {
            look_up(*e);
            for (EventSink* s : sinks_) s->event(*e);
        } else {
            for (EventSink* s : sinks_) s->monitor(std::get<MonitorFinding>(item));
        }
        lock.lock();
        if (queue_.empty() && idle_) {
            lock.unlock();
            idle_();
            lock.lock();
        }
        busy_ = false;
        stats_ = resolver_.stats();
        settled_.notify_all();
    }
}

}  // namespace rtd
