/* `run --track`: the way each live packet went before it was dropped.
 * Programs on the tracepoints that see packets move between devices record
 * a hop (device, namespace, bridge, the IP tuple as seen there) in
 * rtd_track, keyed by the skb's address: the sk_buff object survives veth,
 * bridges, forwarding and NAT, while skb->head changes when NAT makes a
 * cloned packet writable. A rule's drop copies the path into its event
 * (rtd_put_path); the entry goes when the skb is consumed or dropped.
 * None of these programs loads unless the runtime asks ('?'), and the
 * runtime attaches the two that free entries after the rules' programs, so
 * a rule on skb:kfree_skb still finds its packet's path. Included by
 * rtd.bpf.h. */
#ifndef RTD_TRACK_BPF_H
#define RTD_TRACK_BPF_H

/* Set by the runtime before loading: following packets at all, and how
 * many hops each keeps (2..RTD_TRACK_HOPS). */
#ifdef RTD_FIX_rtd_track_on
#define rtd_track_on RTD_FIX_rtd_track_on
#else
const volatile __u32 rtd_track_on = 0;
#endif
const volatile __u32 rtd_track_hops = RTD_TRACK_HOPS;
/* A packet idle for longer than this is gone: its skb address, seen again,
 * is a new packet whose free no tracepoint showed (a GRO merge). */
const volatile __u64 rtd_track_gap_ns = 1000000000ULL;

/* The runtime sizes it (--track-size); LRU: when full, the least recently
 * moved packet makes room (user space counts that: created - freed - live). */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, struct rtd_path);
} rtd_track SEC(".maps");

/* skb->head -> the address of the skb last followed with that head. A clone
 * shares its original's data (a bridge flooding a frame to each port), so
 * a clone seen first continues its original's path. Sized as rtd_track. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, __u64);
} rtd_track_heads SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct rtd_track_stats);
} rtd_track_stats SEC(".maps");

/* An empty path to insert from: 872 bytes do not fit BPF's 512-byte stack.
 * Nothing writes it. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct rtd_path);
} rtd_track_blank SEC(".maps");

static __always_inline struct rtd_track_stats *rtd_track_counters(void)
{
    __u32 zero = 0;

    return bpf_map_lookup_elem(&rtd_track_stats, &zero);
}

#if RTD_TRACK_FILTER
/* The run's --where/--filter over a hop's header and packet, generated. */
static __always_inline int rtd_track_where(struct sk_buff *skb, const struct rtd_event_header *h, const struct rtd_packet *p);
#endif

/* The highest place bit: places on one device come in enum rtd_hop_places' order. */
static __always_inline __u16 rtd_top_place(__u16 places)
{
    return places >= RTD_HOP_RULE ? RTD_HOP_RULE : places >= RTD_HOP_XMIT ? RTD_HOP_XMIT : places >= RTD_HOP_QUEUE ? RTD_HOP_QUEUE
         : places >= RTD_HOP_RECEIVE ? RTD_HOP_RECEIVE : places >= RTD_HOP_RX ? RTD_HOP_RX : places;
}

/* The name of the bridge, bond or VRF `dev` is a port of: its first upper
 * device, if that one is its master. */
static __always_inline void rtd_master_name(char *out, struct net_device *dev)
{
    struct list_head *upper = __builtin_preserve_access_index(&dev->adj_list.upper);
    struct list_head *next = BPF_CORE_READ(dev, adj_list.upper.next);
    struct netdev_adjacent *adj;

    if (!next || next == upper)
        return;
    adj = (struct netdev_adjacent *)((char *)next - bpf_core_field_offset(struct netdev_adjacent, list));
    if (BPF_CORE_READ(adj, master)) {
        struct net_device *upper_dev = BPF_CORE_READ(adj, dev);

        if (upper_dev)
            bpf_core_read_str(out, RTD_DEV_LEN, &upper_dev->name);
    }
}

/* What a hop at `place` does to the entry `e`: 0 merge into the last hop
 * (the next place on the same device, arriving or leaving), 1 append a hop,
 * 2 restart (the skb address now holds another packet, whose free no
 * tracepoint showed: a GRO merge, TCP's __kfree_skb). A veth, loopback,
 * bridge or tunnel crossing moves the skb with its data; NAT may give it new
 * data (a cloned packet made writable), but on the way out, where ip_rcv has
 * orphaned a forwarded packet. */
static __always_inline int rtd_track_step(const struct rtd_path *e, __u16 place, __u32 ifindex, __u32 netns, struct sk_buff *skb, __u64 head,
                                          __u64 now)
{
    const struct rtd_hop *last = &e->hop[e->last & (RTD_TRACK_HOPS - 1)];
    __u16 top = rtd_top_place(last->places);
    int same_dev = last->ifindex == ifindex && last->netns == netns;
    int new_data = head != e->data;

    if (!e->hops || now - e->last_ns > rtd_track_gap_ns)
        return 2;
    if (place & RTD_HOP_IN) {
        if (new_data)
            return 2;
        /* Never twice at one place of one device. */
        if (same_dev && (top & RTD_HOP_IN))
            return place > top ? 0 : 2;
        return 1;
    }
    /* Leaving (or a track rule's function) after arriving: forwarded,
     * bridged, delivered; new data with a socket is a new local packet. */
    if (top & RTD_HOP_IN)
        return new_data && BPF_CORE_READ(skb, sk) ? 2 : 1;
    if (place == RTD_HOP_RULE || (top & RTD_HOP_RULE) || !same_dev)
        return 1;
    /* Queued twice on one device: a new packet. */
    return place > top ? 0 : 2;
}

/* One hop of `skb` at `place` (not RTD_HOP_XMIT); `rule`: the track rule's
 * index for RTD_HOP_RULE. */
static __always_inline void rtd_track_hop(struct sk_buff *skb, __u16 place, __u32 rule)
{
    struct rtd_track_stats *st = rtd_track_counters();
    __u64 key = (__u64)(unsigned long)skb, now, head;
    struct rtd_event_header fh;
    struct rtd_packet fp;
    struct rtd_path *e;
    struct rtd_hop *hop;
    __u32 idx, zero = 0;
    int step;

    if (!rtd_track_on || !skb || !st)
        return;
    now = bpf_ktime_get_ns();
    head = (__u64)(unsigned long)BPF_CORE_READ(skb, head);
    __builtin_memset(&fh, 0, sizeof(fh));
    __builtin_memset(&fp, 0, sizeof(fp));
    /* Received packets have no network header yet: the IP header is at
     * skb->data (the driver pulled the link header). */
    rtd_decode_packet_at(&fp, &fh, skb, (place & RTD_HOP_IN) ? (__u16)(BPF_CORE_READ(skb, data) - BPF_CORE_READ(skb, head)) : (__u16)~0U);
    /* A packet a socket sends has no device before ip_output: its route's. */
    if (!fp.ifindex) {
        struct dst_entry *dst = (struct dst_entry *)(BPF_CORE_READ(skb, _skb_refdst) & ~1UL);
        struct net_device *out = dst ? BPF_CORE_READ(dst, dev) : 0;

        if (out) {
            fp.ifindex = BPF_CORE_READ(out, ifindex);
            bpf_core_read_str(fp.dev, sizeof(fp.dev), &out->name);
        }
    }
    /* There, only an IP packet starts with an IP header (not ARP, not a
     * VLAN tag left in the frame). */
    if ((place & RTD_HOP_IN) && fp.l3proto != 0x0800 && fp.l3proto != 0x86DD) {
        fp.family = 0;
        fp.proto = 0;
        fp.sport = fp.dport = 0;
    }
    e = bpf_map_lookup_elem(&rtd_track, &key);
    if (!e) {
        struct rtd_path *blank = bpf_map_lookup_elem(&rtd_track_blank, &zero), *from = 0;
        __u64 *original = bpf_map_lookup_elem(&rtd_track_heads, &head);

        /* GRO merges packets and frees them unseen: follow only known ones. */
        if (place == RTD_HOP_GRO || !blank)
            return;
        if (original && *original != key && BPF_CORE_READ_BITFIELD_PROBED(skb, cloned))
            from = bpf_map_lookup_elem(&rtd_track, original);
        /* Its original's, if that one still has this head and moved lately. */
        if (from && (from->head != head || !from->hops || now - from->last_ns > rtd_track_gap_ns))
            from = 0;
        if (bpf_map_update_elem(&rtd_track, &key, from ? from : blank, BPF_NOEXIST) == 0) {
            st->created++;
            if (from)
                st->cloned++;
        }
        e = bpf_map_lookup_elem(&rtd_track, &key);
        if (!e) {
            st->no_room++;
            return;
        }
        step = from ? 3 : 2;
    } else {
        step = rtd_track_step(e, place, fp.ifindex, (__u32)fh.netns, skb, head, now);
        if (step == 2)
            st->restarted++;
    }
    /* Not for a clone: its siblings would continue its path, not the original's. */
    if (step == 2)
        bpf_map_update_elem(&rtd_track_heads, &head, &key, BPF_ANY);
    if (step == 2) {
        e->head = head;
        e->first_ns = now;
        e->hops = 0;
        e->flags = 0;
        e->kept = rtd_track_hops;
    }
    if (step == 0) {
        idx = e->last & (RTD_TRACK_HOPS - 1);
        e->hop[idx].places |= place;
    } else {
        /* hop[0] stays; later hops go round hop[1..kept-1]. */
        idx = e->hops ? 1 + (e->hops - 1) % (rtd_track_hops - 1) : 0;
        idx &= RTD_TRACK_HOPS - 1;
        hop = &e->hop[idx];
        hop->time_ns = now;
        hop->netns = (__u32)fh.netns;
        hop->ifindex = fp.ifindex;
        hop->len = fp.len;
        hop->sport = fp.sport;
        hop->dport = fp.dport;
        __builtin_memcpy(hop->dev, fp.dev, RTD_DEV_LEN);
        __builtin_memset(hop->master, 0, RTD_DEV_LEN);
        {
            struct net_device *dev = BPF_CORE_READ(skb, dev);

            if (dev)
                rtd_master_name(hop->master, dev);
        }
        __builtin_memcpy(hop->saddr, fp.saddr, 16);
        __builtin_memcpy(hop->daddr, fp.daddr, 16);
        hop->places = place;
        hop->xmit_rc = 0;
        hop->family = fp.family;
        hop->proto = fp.proto;
        hop->tcp_flags = fp.tcp_flags;
        hop->flags = step == 3 ? RTD_HOP_CLONE : 0;
        hop->rule = rule;
        e->hops++;
        e->last = idx;
        st->hops++;
    }
    e->last_ns = now;
    e->data = head;
#if RTD_TRACK_FILTER
    /* A packet the filter accepts once is reported wherever it is dropped,
     * after NAT too. */
    if (!(e->flags & RTD_PATH_MATCHED)) {
        __u64 ns = fh.netns;

        /* The task's pid and comm for the filter (read only until it
         * matches); the namespace stays the packet's. */
        rtd_fill_header(&fh, 0, 0);
        if (ns)
            fh.netns = ns;
        if (rtd_track_where(skb, &fh, &fp)) {
            e->flags |= RTD_PATH_MATCHED;
            e->hop[idx & (RTD_TRACK_HOPS - 1)].flags |= RTD_HOP_MATCHED;
        }
    }
#endif
}

SEC("?raw_tp/netif_receive_skb")
int rtd_track_receive(__u64 *ctx)
{
    rtd_track_hop((struct sk_buff *)ctx[0], RTD_HOP_RECEIVE, 0);
    return 0;
}

SEC("?raw_tp/netif_rx")
int rtd_track_rx(__u64 *ctx)
{
    rtd_track_hop((struct sk_buff *)ctx[0], RTD_HOP_RX, 0);
    return 0;
}

SEC("?raw_tp/napi_gro_receive_entry")
int rtd_track_gro(__u64 *ctx)
{
    rtd_track_hop((struct sk_buff *)ctx[0], RTD_HOP_GRO, 0);
    return 0;
}

SEC("?raw_tp/net_dev_queue")
int rtd_track_queue(__u64 *ctx)
{
    rtd_track_hop((struct sk_buff *)ctx[0], RTD_HOP_QUEUE, 0);
    return 0;
}

/* After the driver took it the skb may be freed already: only its address
 * and the device are used. A veth or loopback has passed the packet to its
 * peer by then, and a track rule's function may have come between: the
 * newest queue hop kept is the one, if it was on this device. */
SEC("?raw_tp/net_dev_xmit")
int rtd_track_xmit(__u64 *ctx)
{
    __u64 key = ctx[0];
    struct net_device *dev = (struct net_device *)ctx[2];
    __u32 ifindex = BPF_CORE_READ(dev, ifindex), n, slot;
    struct rtd_path *e;
    struct rtd_hop *hop;

    if (!rtd_track_on)
        return 0;
    e = bpf_map_lookup_elem(&rtd_track, &key);
    if (!e)
        return 0;
    for (__u32 back = 0; back < RTD_TRACK_HOPS - 1; back++) {
        if (back >= e->hops)
            break;
        n = e->hops - 1 - back;
        if (n && back >= rtd_track_hops - 1)
            break; /* overwritten */
        slot = n ? 1 + (n - 1) % (rtd_track_hops - 1) : 0;
        hop = &e->hop[slot & (RTD_TRACK_HOPS - 1)];
        if (!(hop->places & RTD_HOP_QUEUE))
            continue;
        if (hop->ifindex == ifindex) {
            hop->places |= RTD_HOP_XMIT;
            hop->xmit_rc = (__s16)ctx[1];
        }
        break;
    }
    return 0;
}

static __always_inline void rtd_track_free(__u64 key)
{
    struct rtd_track_stats *st;

    if (rtd_track_on && bpf_map_delete_elem(&rtd_track, &key) == 0 && (st = rtd_track_counters()))
        st->freed++;
}

SEC("?raw_tp/consume_skb")
int rtd_track_consume(__u64 *ctx)
{
    rtd_track_free(ctx[0]);
    return 0;
}

SEC("?raw_tp/kfree_skb")
int rtd_track_kfree(__u64 *ctx)
{
    rtd_track_free(ctx[0]);
    return 0;
}

/* A drop's path; null when not followed. */
static __noinline struct rtd_path *rtd_track_path(struct sk_buff *skb)
{
    __u64 key = (__u64)(unsigned long)skb;
    struct rtd_path *e = skb ? bpf_map_lookup_elem(&rtd_track, &key) : 0;

    return e && e->hops ? e : 0;
}

static __always_inline int rtd_track_matched(const struct rtd_path *path)
{
    return path && (path->flags & RTD_PATH_MATCHED);
}

/* The path into the event at `at` (room for a struct rtd_path); an empty
 * one (hops 0) when the packet was not followed. An LRU map reuses a full
 * table's entries at once: one taken for another packet while it was
 * copied is no path either. Counted here, for the drops reported. */
static __noinline void rtd_put_path(struct rtd_event_header *h, void *at, const struct rtd_path *path)
{
    struct rtd_track_stats *st = rtd_track_counters();
    struct rtd_path *copy = at;

    if (!path || bpf_probe_read_kernel(copy, sizeof(struct rtd_path), path) || copy->first_ns != path->first_ns || copy->head != path->head)
        __builtin_memset(copy, 0, sizeof(struct rtd_path) - sizeof(copy->hop));
    if (st) {
        if (copy->hops)
            st->drops_with_path++;
        else
            st->drops_without_path++;
    }
    h->flags |= RTD_EV_PATH;
}

#endif /* RTD_TRACK_BPF_H */
