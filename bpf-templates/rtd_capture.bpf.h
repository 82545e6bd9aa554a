/* `run --pcap` and `run --filter`: the first bytes of a dropped packet,
 * copied once into a per-CPU buffer, where the pcap filter (the generated
 * rtd_pcap_filter_eth/raw, compiler/pcap_filter.h) reads them and from where
 * the event takes them. Included by rtd.bpf.h. */
#ifndef RTD_CAPTURE_BPF_H
#define RTD_CAPTURE_BPF_H

/* Set by the runtime before loading (`run --pcap`, --snaplen): bytes of
 * each reported drop's packet sent with its event; 0: none. At most
 * RTD_CAPTURE_MAX. */
#ifdef RTD_FIX_rtd_snaplen
#define rtd_snaplen RTD_FIX_rtd_snaplen
#else
const volatile __u32 rtd_snaplen = 0;
#endif

/* What the pcap filter sees of a packet: at least this many bytes (more
 * when --snaplen is larger), as libpcap would on a capture cut there. */
#define RTD_FILTER_WINDOW 512

struct rtd_capture_buffer {
    struct rtd_capture c;
    /* Twice the most ever copied: a length masked with 2 * RTD_CAPTURE_MAX
     * - 1 (what the verifier can follow) stays inside, after the VLAN tag
     * too. */
    __u8 data[2 * RTD_CAPTURE_MAX + 32];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct rtd_capture_buffer);
} rtd_capture_buf SEC(".maps");

/* Before 6.3 a tag's presence was a bit of its own (vlan_tci could hold a
 * stale tag); since, a non-zero vlan_all. Both spelled here: the
 * vmlinux.h of either kernel has only one of them. */
struct sk_buff___vlan_present {
    __u8 vlan_present : 1;
} __attribute__((preserve_access_index));

struct sk_buff___vlan_all {
    __u32 vlan_all;
} __attribute__((preserve_access_index));

static __always_inline int rtd_vlan_tag_present(struct sk_buff *skb)
{
    struct sk_buff___vlan_present *old = (void *)skb;
    struct sk_buff___vlan_all *now = (void *)skb;

    if (bpf_core_field_exists(old->vlan_present))
        return BPF_CORE_READ_BITFIELD_PROBED(old, vlan_present);
    return BPF_CORE_READ(now, vlan_all) != 0;
}

/* Whether the packet came in (it has an input interface and is on it) or
 * goes out (a local socket's, or leaving by another device); 0: unknown. */
static __always_inline __u8 rtd_direction(struct sk_buff *skb)
{
    struct net_device *dev = BPF_CORE_READ(skb, dev);
    int iif = BPF_CORE_READ(skb, skb_iif);
    int ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;

    if (iif)
        return !ifindex || ifindex == iif ? RTD_DIR_IN : RTD_DIR_OUT;
    return BPF_CORE_READ(skb, sk) ? RTD_DIR_OUT : 0;
}

/* `n` masked to fit twice RTD_CAPTURE_MAX, in an instruction clang cannot
 * drop (it knows the callers' n is smaller already; the verifier does not). */
static __always_inline __u64 rtd_bounded(__u64 n)
{
    asm volatile("%[n] &= %[mask]" : [n] "+r"(n) : [mask] "i"(2 * RTD_CAPTURE_MAX - 1));
    return n;
}

static __noinline int rtd_copy_packet(struct rtd_capture_buffer *b, struct sk_buff *skb, __u32 window)
{
    unsigned char *head = BPF_CORE_READ(skb, head);
    __u16 mac = BPF_CORE_READ(skb, mac_header), nh = BPF_CORE_READ(skb, network_header);
    __u32 tail = BPF_CORE_READ(skb, tail); /* an offset from head on 64-bit kernels */
    __u32 data = (__u32)(BPF_CORE_READ(skb, data) - head);
    __u32 len = BPF_CORE_READ(skb, len);
    __u32 start, avail, n, rest;
    __u8 first = 0;

    if (!head || nh == (__u16)~0U)
        return 0;
    if (mac != (__u16)~0U && nh >= mac && nh - mac == 14) {
        start = mac;
        b->c.linktype = RTD_LINKTYPE_ETHERNET;
    } else {
        /* No Ethernet header (a tunnel, a packet not yet routed out):
         * from the IP header on, if there is one. */
        if (bpf_probe_read_kernel(&first, 1, head + nh) || ((first >> 4) != 4 && (first >> 4) != 6))
            return 0;
        start = nh;
        b->c.linktype = RTD_LINKTYPE_RAW;
    }
    if (tail <= start || start > data + len)
        return 0;
    avail = tail - start;
    /* skb->len counts from skb->data; the capture from its start. */
    b->c.origlen = len + data - start;
    b->c.direction = rtd_direction(skb);
    if (window > RTD_CAPTURE_MAX)
        window = RTD_CAPTURE_MAX;
    if (b->c.linktype == RTD_LINKTYPE_ETHERNET && rtd_vlan_tag_present(skb) && avail >= 12 && window >= 16) {
        /* The tag as it was on the wire: after the two addresses. */
        __be16 tag[2];
        tag[0] = BPF_CORE_READ(skb, vlan_proto);
        tag[1] = bpf_htons(BPF_CORE_READ(skb, vlan_tci));
        bpf_probe_read_kernel(b->data, 12, head + start);
        __builtin_memcpy(&b->data[12], tag, 4);
        rest = avail - 12;
        n = window - 16;
        if (rest < n)
            n = rest;
        if (n > RTD_CAPTURE_MAX - 16)
            return 0;
        if (bpf_probe_read_kernel(&b->data[16], rtd_bounded(n), head + start + 12))
            return 0;
        b->c.caplen = n + 16;
        b->c.origlen += 4;
        return 1;
    }
    n = avail < window ? avail : window;
    if (n > RTD_CAPTURE_MAX)
        return 0;
    if (bpf_probe_read_kernel(b->data, rtd_bounded(n), head + start))
        return 0;
    b->c.caplen = n;
    return 1;
}

/* The packet of `skb` in this CPU's buffer, at most `window` bytes; NULL
 * when it has no header to start from. */
static __noinline struct rtd_capture_buffer *rtd_capture_packet(struct sk_buff *skb, __u32 window)
{
    __u32 zero = 0;
    struct rtd_capture_buffer *b;

    if (!skb)
        return 0;
    b = bpf_map_lookup_elem(&rtd_capture_buf, &zero);
    if (!b)
        return 0;
    __builtin_memset(&b->c, 0, sizeof(b->c));
    return rtd_copy_packet(b, skb, window) ? b : 0;
}

/* Loads for the translated pcap filter, in network byte order; the caller
 * has checked `off` against the captured length, the mask keeps the
 * verifier's view inside the buffer. */
static __always_inline __u32 rtd_pcap_ld8(const __u8 *b, __u32 off)
{
    off &= RTD_CAPTURE_MAX - 1;
    return b[off];
}

static __always_inline __u32 rtd_pcap_ld16(const __u8 *b, __u32 off)
{
    off &= RTD_CAPTURE_MAX - 1;
    return ((__u32)b[off] << 8) | b[off + 1];
}

static __always_inline __u32 rtd_pcap_ld32(const __u8 *b, __u32 off)
{
    off &= RTD_CAPTURE_MAX - 1;
    return ((__u32)b[off] << 24) | ((__u32)b[off + 1] << 16) | ((__u32)b[off + 2] << 8) | b[off + 3];
}

/* The event's capture: the header, then the bytes, at most rtd_snaplen
 * (the event was reserved with room for that many). */
static __noinline void rtd_put_capture(struct rtd_event_header *h, void *at, const struct rtd_capture_buffer *b)
{
    struct rtd_capture *c = at;
    __u32 n;

    if (!b)
        return;
    n = b->c.caplen;
    if (n > rtd_snaplen)
        n = rtd_snaplen;
    if (n > RTD_CAPTURE_MAX)
        return;
    *c = b->c;
    c->caplen = n;
    if (bpf_probe_read_kernel((__u8 *)at + sizeof(*c), n, b->data))
        return;
    h->flags |= RTD_EV_CAPTURE;
}

#endif /* RTD_CAPTURE_BPF_H */
