/* The layout of what the BPF programs send to user space, shared by both
 * sides: the BPF side includes it after vmlinux.h, user space after
 * <linux/types.h>. Every field has a fixed size and the structs have no
 * implicit padding, so the two compilers agree byte for byte. */
#ifndef RTD_EVENT_H
#define RTD_EVENT_H

#define RTD_COMM_LEN 16
#define RTD_DEV_LEN 16
#define RTD_STACK_DEPTH 32

enum rtd_event_flags {
    RTD_EV_PACKET = 1, /* rtd_packet follows the header */
    RTD_EV_STACK = 2,  /* rtd_stack follows (after the packet, if any) */
    RTD_EV_REASON = 4, /* reason and location are set (skb:kfree_skb) */
    RTD_EV_CAPTURE = 8, /* rtd_capture and its bytes follow the rule's event (run --pcap) */
    RTD_EV_SAMPLE = 16, /* --summary: the first drop of a flow, already counted in rtd_flows */
    RTD_EV_PATH = 32,   /* rtd_path follows the rule's event (before any rtd_capture): run --track */
};

struct rtd_event_header {
    __u64 time_ns;  /* bpf_ktime_get_ns() */
    __u64 location; /* kfree_skb: the code address that dropped */
    __u64 netns;    /* inode of the packet's network namespace, else the task's */
    __u32 rule;     /* index in the compiled rule table */
    __u16 probe;    /* index of the probe within the rule */
    __u16 flags;    /* enum rtd_event_flags */
    __u32 pid;      /* thread group id */
    __u32 tid;
    __u32 cpu;
    __u32 reason;   /* kfree_skb: enum skb_drop_reason, this kernel's numbering */
    char comm[RTD_COMM_LEN];
}; /* 64 bytes */

struct rtd_packet {
    __u8 saddr[16]; /* IPv4 in the first 4 bytes, network order */
    __u8 daddr[16];
    char dev[RTD_DEV_LEN];
    __u32 len;
    __u32 mark;
    __u32 ifindex;
    __u16 sport;   /* host order; ICMP: type */
    __u16 dport;   /* host order; ICMP: code */
    __u16 l3proto; /* ETH_P_*, host order */
    __u8 family;   /* 0, 2 (IPv4) or 10 (IPv6) */
    __u8 proto;    /* IPPROTO_* */
    __u8 tcp_flags;
    __u8 pad[3];
}; /* 72 bytes */

struct rtd_stack {
    __s64 bytes; /* bpf_get_stack()'s result: bytes written, or a negative error */
    __u64 ips[RTD_STACK_DEPTH];
}; /* 264 bytes */

/* `run --pcap`: the packet's first bytes, copied in the kernel; caplen bytes
 * follow. The copy starts at the MAC header when the skb has an Ethernet one
 * (an offloaded VLAN tag put back in, as the wire had it), else at the IP
 * header; only the skb's linear part is copied. */
#define RTD_CAPTURE_MAX 8192 /* --snaplen's limit; a power of two (loads are masked with it) */
#define RTD_LINKTYPE_ETHERNET 1
#define RTD_LINKTYPE_RAW 101
#define RTD_DIR_IN 1
#define RTD_DIR_OUT 2
struct rtd_capture {
    __u32 caplen;   /* bytes that follow */
    __u32 origlen;  /* the packet's length from its first captured byte (a GSO packet: all of its segments) */
    __u16 linktype; /* RTD_LINKTYPE_* */
    __u8 direction; /* RTD_DIR_*, 0 when unknown */
    __u8 pad[5];
}; /* 16 bytes */

/* `run --summary`: drops counted in the kernel by rule and flow, no event
 * sent (rtd_flows). family 0: the rule has no packet or it had no IP header;
 * RTD_FLOW_OVERFLOW: flows beyond the table's size, counted together. */
#define RTD_FLOW_OVERFLOW 255
struct rtd_flow_key {
    __u32 rule;
    __u8 family;
    __u8 proto;
    __u16 dport; /* host order; ICMP: code */
    __u8 saddr[16];
    __u8 daddr[16];
}; /* 40 bytes */

/* `run --metrics`: drops counted in the kernel by rule and by the labels
 * chosen (rtd_metrics_labels); a label not chosen stays zero. */
#define RTD_METRICS_ON 1
#define RTD_LABEL_REASON 2
#define RTD_LABEL_DEV 4
#define RTD_LABEL_NETNS 8
#define RTD_DROP_HAS_REASON 1
struct rtd_drop_key {
    __u32 rule;
    __u32 reason; /* enum skb_drop_reason, when flags has RTD_DROP_HAS_REASON */
    __u32 netns;  /* inode */
    __u32 flags;
    char dev[16]; /* the packet's device, "" when unknown */
}; /* 32 bytes */

/* `run --ledger`: per rule, drops in the namespace whose counters the
 * ledger reads (rtd_ledger_netns) and in every namespace (for host-wide
 * counters such as softnet_stat's); per skb:kfree_skb reason likewise. */
#define RTD_LEDGER_REASONS 512 /* reasons at or above it share the last slot */
struct rtd_ledger_count {
    __u64 in_netns;
    __u64 all;
}; /* 16 bytes */

/* `run --track`: per live skb (keyed by its address) the places it was
 * seen moving, in the kernel (rtd_track.bpf.h). hop[0] is the first hop,
 * kept; later hops go round hop[1..kept-1], so the newest are kept. */
#define RTD_TRACK_HOPS 8 /* a power of two (slots are masked with it) */
enum rtd_hop_places {    /* in the order a packet meets them on one device */
    RTD_HOP_GRO = 1,     /* net:napi_gro_receive_entry */
    RTD_HOP_RX = 2,      /* net:netif_rx (a veth's or loopback's peer) */
    RTD_HOP_RECEIVE = 4, /* net:netif_receive_skb */
    RTD_HOP_QUEUE = 8,   /* net:net_dev_queue */
    RTD_HOP_XMIT = 16,   /* net:net_dev_xmit */
    RTD_HOP_RULE = 32,   /* a 'track' rule's probe (rtd_hop.rule says which): a hop of its own */
};
#define RTD_HOP_IN (RTD_HOP_GRO | RTD_HOP_RX | RTD_HOP_RECEIVE)
#define RTD_HOP_OUT (RTD_HOP_QUEUE | RTD_HOP_XMIT)
#define RTD_HOP_MATCHED 1  /* rtd_hop.flags: the --where/--filter filter accepted the packet here */
#define RTD_HOP_CLONE 2    /* rtd_hop.flags: a clone's first hop; the hops before are its original's */
#define RTD_PATH_MATCHED 1 /* rtd_path.flags: some hop matched (it stays so) */
struct rtd_hop {
    __u64 time_ns;   /* first seen on this device */
    __u32 netns;     /* inode of the device's namespace */
    __u32 ifindex;
    __u32 len;
    __u16 sport;     /* host order; ICMP: type */
    __u16 dport;     /* host order; ICMP: code */
    char dev[RTD_DEV_LEN];
    char master[RTD_DEV_LEN]; /* the bridge, bond or VRF the device is a port of; "" if none */
    __u8 saddr[16];  /* as rtd_packet's */
    __u8 daddr[16];
    __u16 places;    /* enum rtd_hop_places seen on this device */
    __s16 xmit_rc;   /* net:net_dev_xmit's rc (RTD_HOP_XMIT) */
    __u8 family;
    __u8 proto;
    __u8 tcp_flags;
    __u8 flags;      /* RTD_HOP_MATCHED */
    __u32 rule;      /* RTD_HOP_RULE: the track rule's index in the rule table */
    __u32 pad;
}; /* 104 bytes */
struct rtd_path {
    __u64 head;      /* with first_ns, the packet's id: skb->head when first seen */
    __u64 first_ns;  /* bpf_ktime_get_ns() when first seen */
    __u64 last_ns;   /* when last seen moving */
    __u64 data;      /* skb->head at the last hop: other data at an arriving hop is another packet */
    __u32 hops;      /* hops seen (more than kept: the middle ones were overwritten) */
    __u8 last;       /* index of the hop written last */
    __u8 flags;      /* RTD_PATH_MATCHED */
    __u8 kept;       /* hops kept (run --track-hops) */
    __u8 pad;
    struct rtd_hop hop[RTD_TRACK_HOPS];
}; /* 872 bytes */
/* Per CPU (rtd_track_stats). Evicted entries are counted by user space:
 * created - freed - still in the map. */
struct rtd_track_stats {
    __u64 created;   /* packets followed */
    __u64 restarted; /* an skb address seen again as a new packet (its free was not traced) */
    __u64 freed;     /* entries removed at skb:consume_skb or skb:kfree_skb */
    __u64 hops;      /* hops recorded */
    __u64 no_room;   /* an entry could not be made */
    __u64 drops_with_path;
    __u64 drops_without_path;
    __u64 cloned;    /* packets whose path began as a copy of their original's (a clone) */
}; /* 64 bytes */

/* Per-rule, per-CPU counters: exact even when events are lost. */
struct rtd_counter {
    __u64 hits;    /* the probe fired */
    __u64 drops;   /* the condition held (noise excluded) */
    __u64 emitted; /* an event reached the ring buffer */
    __u64 lost;    /* the ring buffer was full */
    __u64 noise;   /* the condition held but so did 'noise if' (not reported unless --all) */
    __u64 filtered;   /* a drop the --where filter refused (counted in drops too) */
    __u64 suppressed; /* a drop over the rate limit (counted in drops too) */
    __u64 unstashed;  /* a kretprobe return without its entry's arguments (evicted from a
                       * full stash, or an entry the kernel missed): not evaluated */
}; /* 64 bytes */

#endif /* RTD_EVENT_H */
