/* What every generated program stands on: maps, counters, the event
 * header, packet decoding and the arithmetic BPF lacks. The generated file
 * defines RTD_RULES (rule table size) and RTD_STASH (kretprobe programs in
 * kprobe form need the argument stash) before including this. */
#ifndef RTD_BPF_H
#define RTD_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "rtd_event.h"

#ifndef RTD_RULES
#error "RTD_RULES must be defined by the generated program"
#endif

char LICENSE[] SEC("license") = "GPL";

/* The settings below the runtime writes into .rodata before loading. An
 * object compiled for one run (runtime/run_settings.h) defines
 * RTD_FIX_<setting> as the value that run gives it: the setting is then a
 * constant, and the code it rules out is gone before Clang optimizes. */

/* Set by the runtime before loading (`run --all`): report noise and the
 * reasons fallback rules would leave to the rules that name them. */
#ifdef RTD_FIX_rtd_report_all
#define rtd_report_all RTD_FIX_rtd_report_all
#else
const volatile __u32 rtd_report_all = 0;
#endif

/* Set by the runtime before loading (`run --rate-limit`): events per rule per
 * second, 0 for no limit. Drops over the limit are counted as suppressed. */
#ifdef RTD_FIX_rtd_rate_limit
#define rtd_rate_limit RTD_FIX_rtd_rate_limit
#else
const volatile __u32 rtd_rate_limit = 0;
#endif

/* Set by the runtime before loading (`run --netns`): report only drops in
 * the network namespace with this inode (rtd_drop_netns); the others count
 * as filtered. 0: every namespace. */
#ifdef RTD_FIX_rtd_netns_only
#define rtd_netns_only RTD_FIX_rtd_netns_only
#else
const volatile __u64 rtd_netns_only = 0;
#endif

/* Cleared by the runtime before loading (`run --no-stack`): rules that ask
 * for a kernel stack do not record one. */
const volatile __u32 rtd_record_stacks = 1;

/* Events to user space. The runtime may resize it before loading. */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 22);
} rtd_events SEC(".maps");

/* Wake the reader only once this many bytes wait in the ring (the runtime
 * sets a quarter of the ring's size): a wakeup per event costs more than
 * the event itself in a drop storm. The reader drains the ring every
 * 100 ms regardless, so no event waits longer than that. */
const volatile __u32 rtd_wakeup_bytes = 1 << 20;

static __always_inline __u64 rtd_submit_flags(void)
{
    return bpf_ringbuf_query(&rtd_events, BPF_RB_AVAIL_DATA) >= rtd_wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, RTD_RULES);
    __type(key, __u32);
    __type(value, struct rtd_counter);
} rtd_counts SEC(".maps");

/* Reloads (SIGHUP): the new object attaches before the old one detaches.
 * Both share this map (the runtime reuses its fd) and each counts only
 * while the generation in it is its own; the runtime switches it with one
 * write, so a drop is counted by exactly one of them. */
const volatile __u32 rtd_generation = 0;
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} rtd_gate SEC(".maps");

static __always_inline int rtd_gate_open(void)
{
    __u32 zero = 0, *generation = bpf_map_lookup_elem(&rtd_gate, &zero);

    return !generation || *generation == rtd_generation;
}

/* Hits of each dispatcher (one program running every rule on a
 * tracepoint): counted once there, added to each of its rules' HITS. */
#ifndef RTD_DISPATCHERS
#define RTD_DISPATCHERS 1
#endif
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, RTD_DISPATCHERS);
    __type(key, __u32);
    __type(value, __u64);
} rtd_dispatch_hits SEC(".maps");

static __always_inline void rtd_count_dispatch(__u32 index)
{
    __u64 *n = bpf_map_lookup_elem(&rtd_dispatch_hits, &index);

    if (n)
        *n += 1;
}

/* Set by the runtime before loading (`run --summary`): count each reported
 * drop in rtd_flows by rule and flow instead of sending an event, so a drop
 * storm costs a map update per drop and loses nothing. */
#ifdef RTD_FIX_rtd_summary_only
#define rtd_summary_only RTD_FIX_rtd_summary_only
#else
const volatile __u32 rtd_summary_only = 0;
#endif
/* With rtd_summary_only: also send the first drop of each flow as an event
 * (RTD_EV_SAMPLE), when messages ask for evidence the summary shows. */
#ifdef RTD_FIX_rtd_flow_samples
#define rtd_flow_samples RTD_FIX_rtd_flow_samples
#else
const volatile __u32 rtd_flow_samples = 0;
#endif

/* One counter per flow, shared by all CPUs (an atomic add): a per-CPU map
 * would take max_entries x CPUs x 8 bytes, 128 MiB on a 1,024-CPU host. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, struct rtd_flow_key);
    __type(value, __u64);
} rtd_flows SEC(".maps");

/* Set by the runtime before loading (`run --metrics`): RTD_METRICS_ON and
 * the RTD_LABEL_* bits the drop counter keeps (rtd_count_drop). */
#ifdef RTD_FIX_rtd_metrics_labels
#define rtd_metrics_labels RTD_FIX_rtd_metrics_labels
#else
const volatile __u32 rtd_metrics_labels = 0;
#endif

/* Set by the runtime before loading (`run --quiet`): no output asks for
 * events, so none is sent; the kernel's counters are all there is. */
#ifdef RTD_FIX_rtd_events_off
#define rtd_events_off RTD_FIX_rtd_events_off
#else
const volatile __u32 rtd_events_off = 0;
#endif

/* Drops by rule and labels, shared by all CPUs (an atomic add). The
 * runtime sizes it (--metrics-max-series); once it is full, new label sets
 * count per rule in rtd_drops_other (the series dev="other"). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct rtd_drop_key);
    __type(value, __u64);
} rtd_drops SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, RTD_RULES);
    __type(key, __u32);
    __type(value, __u64);
} rtd_drops_other SEC(".maps");

/* Per-rule one-second windows for rtd_rate_limit. Tracing programs cannot
 * take bpf_spin_lock: the count is an atomic add, and two CPUs that open a
 * new window at once may let a few more events through (a benign race). */
struct rtd_rate {
    __u64 window_ns; /* start of the current window */
    __u64 count;     /* events let through in it */
};
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, RTD_RULES);
    __type(key, __u32);
    __type(value, struct rtd_rate);
} rtd_rates SEC(".maps");

/* 1 if rule may send one more event in this second, else 0. */
static __always_inline int rtd_rate_ok(__u32 rule)
{
    struct rtd_rate *r;
    __u64 now;

    if (!rtd_rate_limit)
        return 1;
    r = bpf_map_lookup_elem(&rtd_rates, &rule);
    if (!r)
        return 1;
    now = bpf_ktime_get_ns();
    if (now - r->window_ns >= 1000000000ULL) {
        r->window_ns = now;
        r->count = 1;
        return 1;
    }
    /* No fetching atomics before BPF ISA v3: add, then read back. */
    __sync_fetch_and_add(&r->count, 1);
    return r->count <= rtd_rate_limit;
}

#if RTD_STASH
/* Entry arguments of kretprobe rules attached as kprobe + kretprobe,
 * by thread and probe. A nested call of the same function in one thread
 * overwrites its entry (the outer return then sees the inner arguments).
 * LRU: when more calls are in flight than it holds, the oldest entries
 * go (their returns are counted as unstashed), never the newest. */
struct rtd_stash_key {
    __u64 pid_tgid;
    __u32 probe;
    __u32 pad;
};
struct rtd_stash_args {
    __u64 arg[5];
};
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct rtd_stash_key);
    __type(value, struct rtd_stash_args);
} rtd_stash SEC(".maps");

static __always_inline void rtd_stash_put(__u32 probe, __u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 a4)
{
    struct rtd_stash_key key = {bpf_get_current_pid_tgid(), probe, 0};
    struct rtd_stash_args args = {{a0, a1, a2, a3, a4}};
    bpf_map_update_elem(&rtd_stash, &key, &args, BPF_ANY);
}

/* Copies the stashed arguments out and forgets them; 0 if none. */
static __always_inline int rtd_stash_take(__u32 probe, struct rtd_stash_args *out)
{
    struct rtd_stash_key key = {bpf_get_current_pid_tgid(), probe, 0};
    struct rtd_stash_args *args = bpf_map_lookup_elem(&rtd_stash, &key);
    if (!args)
        return 0;
    *out = *args;
    bpf_map_delete_elem(&rtd_stash, &key);
    return 1;
}
#endif

static __always_inline struct rtd_counter *rtd_counter(__u32 rule)
{
    return bpf_map_lookup_elem(&rtd_counts, &rule);
}

/* BPF (before ISA v4) has no signed division: divide magnitudes. As the
 * BPF instructions do, x / 0 is 0 and x % 0 is x. */
static __always_inline __s64 rtd_sdiv(__s64 a, __s64 b)
{
    if (b == 0)
        return 0;
    __u64 ua = a < 0 ? -(__u64)a : (__u64)a;
    __u64 ub = b < 0 ? -(__u64)b : (__u64)b;
    __u64 q = ua / ub;
    return (a < 0) != (b < 0) ? -(__s64)q : (__s64)q;
}

static __always_inline __s64 rtd_smod(__s64 a, __s64 b)
{
    if (b == 0)
        return a;
    __u64 ua = a < 0 ? -(__u64)a : (__u64)a;
    __u64 ub = b < 0 ? -(__u64)b : (__u64)b;
    __u64 r = ua % ub;
    return a < 0 ? -(__s64)r : (__s64)r;
}

static __always_inline void rtd_fill_header(struct rtd_event_header *h, __u32 rule, __u16 probe)
{
    __u64 id = bpf_get_current_pid_tgid();
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();

    h->time_ns = bpf_ktime_get_ns();
    h->rule = rule;
    h->probe = probe;
    h->pid = id >> 32;
    h->tid = (__u32)id;
    h->cpu = bpf_get_smp_processor_id();
    h->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
    bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* The namespace an skb is in: its device's; deep in the stack skb->dev can
 * be gone, then the owning socket's, else the route's device's. 0 when none
 * of them is known. */
static __always_inline __u64 rtd_skb_netns(struct sk_buff *skb)
{
    struct net_device *dev = BPF_CORE_READ(skb, dev);
    struct sock *sk;
    struct dst_entry *dst;

    if (dev)
        return BPF_CORE_READ(dev, nd_net.net, ns.inum);
    sk = BPF_CORE_READ(skb, sk);
    if (sk)
        return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
    dst = (struct dst_entry *)(BPF_CORE_READ(skb, _skb_refdst) & ~1UL); /* SKB_DST_NOREF */
    if (dst)
        return BPF_CORE_READ(dst, dev, nd_net.net, ns.inum);
    return 0;
}

/* The namespace a drop is reported in, as the event header has it: the
 * packet's, else the current task's. */
static __always_inline __u64 rtd_drop_netns(struct sk_buff *skb)
{
    __u64 ns = skb ? rtd_skb_netns(skb) : 0;

    if (!ns) {
        struct task_struct *task = (struct task_struct *)bpf_get_current_task();
        ns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
    }
    return ns;
}

/* Best-effort decoding of an skb's IPv4/IPv6 and TCP/UDP/ICMP headers,
 * the IP header at `nh` bytes from skb->head (~0: the skb's network header).
 * Protocol header layouts are ABI, so they are read at fixed offsets; only
 * the kernel's own structs go through CO-RE. */
static __always_inline void rtd_decode_packet_at(struct rtd_packet *p, struct rtd_event_header *h, struct sk_buff *skb, __u16 nh)
{
    struct net_device *dev;
    unsigned char *head;
    __u16 th;
    __u8 vihl = 0;
    __u64 ns;
    bool len_lost;

    if (!skb)
        return; /* NULL is a valid argument of some tracepoints */
    h->flags |= RTD_EV_PACKET;
    dev = BPF_CORE_READ(skb, dev);
    head = BPF_CORE_READ(skb, head);
    if (nh == (__u16)~0U)
        nh = BPF_CORE_READ(skb, network_header);
    p->len = BPF_CORE_READ(skb, len);
    /* A function that frees the skb it was given (nft_do_chain's
     * NF_DROP_REASON) leaves a freed sk_buff to a return probe, and SLUB keeps
     * its free-list pointer mid-object, over len. No skb is 16 MiB long: take
     * the length from the IP header instead. */
    len_lost = p->len > (1U << 24);
    if (len_lost)
        p->len = 0;
    p->mark = BPF_CORE_READ(skb, mark);
    p->l3proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
    if (dev) {
        p->ifindex = BPF_CORE_READ(dev, ifindex);
        bpf_core_read_str(p->dev, sizeof(p->dev), &dev->name);
    }
    ns = rtd_skb_netns(skb);
    if (ns)
        h->netns = ns;
    if (!head || nh == (__u16)~0U)
        return; /* no network header yet */
    if (bpf_probe_read_kernel(&vihl, 1, head + nh))
        return;
    if ((vihl >> 4) == 4) {
        __u16 frag = 0, total = 0;
        /* On the way out an skb can carry a network offset before its IP
         * header is written: an IHL or length of zero says so. */
        bpf_probe_read_kernel(&total, 2, head + nh + 2);
        if ((vihl & 0xf) < 5 || total == 0)
            return;
        if (len_lost)
            p->len = bpf_ntohs(total);
        p->family = 2;
        bpf_probe_read_kernel(&p->proto, 1, head + nh + 9);
        bpf_probe_read_kernel(p->saddr, 4, head + nh + 12);
        bpf_probe_read_kernel(p->daddr, 4, head + nh + 16);
        bpf_probe_read_kernel(&frag, 2, head + nh + 6);
        if (bpf_ntohs(frag) & 0x1fff)
            return; /* a later fragment: no transport header */
        th = nh + (vihl & 0xf) * 4;
    } else if ((vihl >> 4) == 6) {
        __u16 payload = 0;

        if (len_lost && !bpf_probe_read_kernel(&payload, 2, head + nh + 4))
            p->len = 40 + bpf_ntohs(payload);
        p->family = 10;
        bpf_probe_read_kernel(&p->proto, 1, head + nh + 6);
        bpf_probe_read_kernel(p->saddr, 16, head + nh + 8);
        bpf_probe_read_kernel(p->daddr, 16, head + nh + 24);
        th = nh + 40; /* extension headers are not walked */
    } else {
        return;
    }
    if (p->proto == 6 || p->proto == 17 || p->proto == 132) { /* TCP, UDP, SCTP */
        __u16 ports[2] = {0, 0};
        bpf_probe_read_kernel(ports, 4, head + th);
        p->sport = bpf_ntohs(ports[0]);
        p->dport = bpf_ntohs(ports[1]);
        if (p->proto == 6)
            bpf_probe_read_kernel(&p->tcp_flags, 1, head + th + 13);
    } else if (p->proto == 1 || p->proto == 58) { /* ICMP, ICMPv6 */
        __u8 type_code[2] = {0, 0};
        bpf_probe_read_kernel(type_code, 2, head + th);
        p->sport = type_code[0];
        p->dport = type_code[1];
    }
}

static __noinline void rtd_decode_packet(struct rtd_packet *p, struct rtd_event_header *h, struct sk_buff *skb)
{
    rtd_decode_packet_at(p, h, skb, (__u16)~0U);
}

/* The flow of a drop for the summary: addresses, protocol and destination
 * port, read as rtd_decode_packet reads them but nothing else. */
static __always_inline void rtd_flow_of(struct rtd_flow_key *k, struct sk_buff *skb)
{
    unsigned char *head;
    __u16 nh, th;
    __u8 vihl = 0;

    if (!skb)
        return;
    head = BPF_CORE_READ(skb, head);
    nh = BPF_CORE_READ(skb, network_header);
    if (!head || nh == (__u16)~0U || bpf_probe_read_kernel(&vihl, 1, head + nh))
        return;
    if ((vihl >> 4) == 4) {
        __u8 ip[20];
        if (bpf_probe_read_kernel(ip, sizeof(ip), head + nh) || (vihl & 0xf) < 5 || (ip[2] == 0 && ip[3] == 0))
            return;
        k->family = 2;
        k->proto = ip[9];
        __builtin_memcpy(k->saddr, &ip[12], 4);
        __builtin_memcpy(k->daddr, &ip[16], 4);
        if (((ip[6] << 8) | ip[7]) & 0x1fff)
            return; /* a later fragment: no transport header */
        th = nh + (vihl & 0xf) * 4;
    } else if ((vihl >> 4) == 6) {
        __u8 ip[40];
        if (bpf_probe_read_kernel(ip, sizeof(ip), head + nh))
            return;
        k->family = 10;
        k->proto = ip[6];
        __builtin_memcpy(k->saddr, &ip[8], 16);
        __builtin_memcpy(k->daddr, &ip[24], 16);
        th = nh + 40;
    } else {
        return;
    }
    if (k->proto == 6 || k->proto == 17 || k->proto == 132) {
        __u16 ports[2] = {0, 0};
        bpf_probe_read_kernel(ports, 4, head + th);
        k->dport = bpf_ntohs(ports[1]);
    } else if (k->proto == 1 || k->proto == 58) {
        __u8 type_code[2] = {0, 0};
        bpf_probe_read_kernel(type_code, 2, head + th);
        k->dport = type_code[1];
    }
}

/* One drop of `rule` into rtd_flows (the flow of its path's first hop when
 * it has one). A full table
 * counts new flows under the rule's overflow key, so totals stay exact;
 * RTD_FLOW_NEW when this drop made the flow's entry, 1 when it was counted in
 * one there was, 0 only if even the overflow key finds no room (counted as
 * lost). */
#define RTD_FLOW_NEW 2
static __noinline int rtd_count_flow(__u32 rule, struct sk_buff *skb, const struct rtd_path *path)
{
    struct rtd_flow_key k;
    __u64 one = 1, *n;

    __builtin_memset(&k, 0, sizeof(k));
    k.rule = rule;
    if (path && path->hop[0].family) {
        /* run --track: flows as first seen (before NAT) */
        k.family = path->hop[0].family;
        k.proto = path->hop[0].proto;
        k.dport = path->hop[0].dport;
        __builtin_memcpy(k.saddr, path->hop[0].saddr, 16);
        __builtin_memcpy(k.daddr, path->hop[0].daddr, 16);
    } else {
        rtd_flow_of(&k, skb);
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
        n = bpf_map_lookup_elem(&rtd_flows, &k);
        if (n) {
            __sync_fetch_and_add(n, 1);
            return 1;
        }
        if (bpf_map_update_elem(&rtd_flows, &k, &one, BPF_NOEXIST) == 0)
            return k.family == RTD_FLOW_OVERFLOW ? 1 : RTD_FLOW_NEW;
        /* Another CPU inserted it meanwhile (its entry is ours to count
         * in too), else the table is full. */
        n = bpf_map_lookup_elem(&rtd_flows, &k);
        if (n) {
            __sync_fetch_and_add(n, 1);
            return 1;
        }
        __builtin_memset(&k, 0, sizeof(k));
        k.rule = rule;
        k.family = RTD_FLOW_OVERFLOW;
    }
    return 0;
}

/* One drop of `rule` into rtd_drops under the labels chosen; `reason` is
 * the skb:kfree_skb reason (has_reason) or nothing. */
static __noinline void rtd_count_drop(__u32 rule, struct sk_buff *skb, int has_reason, __u32 reason)
{
    struct rtd_drop_key k;
    struct net_device *dev;
    __u64 one = 1, *n;

    __builtin_memset(&k, 0, sizeof(k));
    k.rule = rule;
    if ((rtd_metrics_labels & RTD_LABEL_REASON) && has_reason) {
        k.reason = reason;
        k.flags = RTD_DROP_HAS_REASON;
    }
    if (rtd_metrics_labels & RTD_LABEL_NETNS)
        k.netns = (__u32)rtd_drop_netns(skb);
    if ((rtd_metrics_labels & RTD_LABEL_DEV) && skb) {
        dev = BPF_CORE_READ(skb, dev);
        if (dev)
            bpf_core_read_str(k.dev, sizeof(k.dev), &dev->name);
    }
    n = bpf_map_lookup_elem(&rtd_drops, &k);
    if (!n && bpf_map_update_elem(&rtd_drops, &k, &one, BPF_NOEXIST) == 0)
        return;
    if (!n) /* another CPU inserted it meanwhile, else the table is full */
        n = bpf_map_lookup_elem(&rtd_drops, &k);
    if (!n)
        n = bpf_map_lookup_elem(&rtd_drops_other, &rule);
    if (n)
        __sync_fetch_and_add(n, 1);
}

/* Set by the runtime before loading (`run --ledger`): the inode of the
 * network namespace whose counters the ledger reads; 0: no ledger. */
#ifdef RTD_FIX_rtd_ledger_netns
#define rtd_ledger_netns RTD_FIX_rtd_ledger_netns
#else
const volatile __u64 rtd_ledger_netns = 0;
#endif

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, RTD_RULES);
    __type(key, __u32);
    __type(value, struct rtd_ledger_count);
} rtd_ledger SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, RTD_LEDGER_REASONS);
    __type(key, __u32);
    __type(value, struct rtd_ledger_count);
} rtd_ledger_reasons SEC(".maps");

/* One drop of `rule` for the ledger: counted before --where and --netns,
 * which choose what is reported, not what the rule saw. */
static __noinline void rtd_ledger_count(__u32 rule, struct sk_buff *skb)
{
    struct rtd_ledger_count *c = bpf_map_lookup_elem(&rtd_ledger, &rule);

    if (!c)
        return;
    c->all++;
    if (rtd_drop_netns(skb) == rtd_ledger_netns)
        c->in_netns++;
}

/* The ledger's overall line: every skb:kfree_skb drop by reason, whatever
 * the rules watch. Loaded only with --ledger ('?': not by default); a
 * kernel whose tracepoint has no reason (before 5.17) refuses the attach,
 * and the runtime says the line is unavailable. */
SEC("?raw_tp/kfree_skb")
int rtd_ledger_kfree_skb(__u64 *ctx)
{
    struct sk_buff *skb = (struct sk_buff *)ctx[0];
    __u32 reason = (__u32)ctx[2];
    struct rtd_ledger_count *c;

    if (!rtd_ledger_netns)
        return 0;
    if (reason >= RTD_LEDGER_REASONS)
        reason = RTD_LEDGER_REASONS - 1;
    c = bpf_map_lookup_elem(&rtd_ledger_reasons, &reason);
    if (!c)
        return 0;
    c->all++;
    if (rtd_drop_netns(skb) == rtd_ledger_netns)
        c->in_netns++;
    return 0;
}

#include "rtd_capture.bpf.h"
#include "rtd_track.bpf.h"

#endif /* RTD_BPF_H */
