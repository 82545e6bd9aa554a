// A small fake kernel for the type checker's tests, compiled with
// `clang -g -target bpf` at build time; the tests read its .BTF section, so
// results do not depend on the kernel of the machine running them.
// Names and shapes follow the real kernel where tests rely on them.
// (BPF functions take at most 5 arguments, so longer kernel signatures are
// cut to their first five.)

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
typedef u16 __be16;
typedef u32 __be32;
typedef _Bool bool;

typedef struct {
    int counter;
} atomic_t;

enum skb_drop_reason {
    SKB_NOT_DROPPED_YET = 0,
    SKB_CONSUMED,
    SKB_DROP_REASON_NOT_SPECIFIED,
    SKB_DROP_REASON_NO_SOCKET,
    SKB_DROP_REASON_SOCKET_RCVBUFF,
    SKB_DROP_REASON_TCP_CSUM,
    SKB_DROP_REASON_NETFILTER_DROP,
    SKB_DROP_REASON_IP_RPFILTER,
    SKB_DROP_REASON_TCP_LISTEN_OVERFLOW,
    SKB_DROP_REASON_SOCKET_BACKLOG,
    SKB_DROP_REASON_FRAG_REASM_TIMEOUT,
    SKB_DROP_REASON_MAX,
};

enum tcp_ca_state { TCP_CA_Open = 0, TCP_CA_Loss = 4 };

// An anonymous enum (include/net/inet_ecn.h): C cannot name it.
enum { INET_ECN_NOT_ECT = 0, INET_ECN_ECT_1 = 1, INET_ECN_ECT_0 = 2, INET_ECN_CE = 3 } fixture_ecn;

struct net_device {
    char name[16];
    int ifindex;
    unsigned int flags;
};

struct sock_common {
    union {
        struct {
            __be32 skc_daddr;
            __be32 skc_rcv_saddr;
        };
        u64 skc_addrpair;
    };
    unsigned short skc_family;
    volatile unsigned char skc_state;
    unsigned char skc_reuse : 4;
    unsigned char skc_reuseport : 1;
    int skc_bound_dev_if;
};

struct sock {
    struct sock_common __sk_common;
    int sk_rcvbuf;
    int sk_sndbuf;
    struct {
        atomic_t rmem_alloc;
        int len;
    } sk_backlog;
    u32 sk_ack_backlog;
    u32 sk_max_ack_backlog;
    u16 sk_protocol;
    const struct sock *sk_peer;
};

struct request_sock_queue {
    atomic_t qlen;
    atomic_t young;
};

struct inet_connection_sock {
    struct sock icsk_inet;
    struct request_sock_queue icsk_accept_queue;
    u8 icsk_ca_state : 5;
};

struct sk_buff {
    union {
        struct {
            struct sk_buff *next;
            struct sk_buff *prev;
            union {
                struct net_device *dev;
                unsigned long dev_scratch;
            };
        };
    };
    struct sock *sk;
    char cb[48];
    unsigned int len;
    __be16 protocol;
    u16 transport_header;
    u16 network_header;
    unsigned char *head;
    u32 mark;
};

struct xt_table {
    const char name[32];
    unsigned int valid_hooks;
};

struct nf_hook_state {
    u8 hook;
    u8 pf;
    struct net_device *in;
    struct net_device *out;
    struct sock *sk;
};

struct nft_pktinfo {
    struct sk_buff *skb;
    const struct nf_hook_state *state;
};

struct request_sock_ops;
struct tcp_request_sock_ops;

// Functions (kprobe / kretprobe targets). Bodies only make clang emit them.
int tcp_conn_request(struct request_sock_ops *rsk_ops, const struct tcp_request_sock_ops *af_ops, struct sock *sk,
                     struct sk_buff *skb)
{
    return 0;
}

unsigned int ipt_do_table(void *priv, struct sk_buff *skb, const struct nf_hook_state *state) { return 0; }

unsigned int nft_do_chain(struct nft_pktinfo *pkt, void *priv) { return 0; }

int fib_validate_source(struct sk_buff *skb, __be32 src, __be32 dst, u8 dscp, int oif) { return 0; }

int tcp_add_backlog(struct sock *sk, struct sk_buff *skb, enum skb_drop_reason *reason) { return 0; }

void kfree_skb_reason(struct sk_buff *skb, enum skb_drop_reason reason) {}

enum skb_drop_reason tcp_v4_rcv_reason(struct sk_buff *skb) { return SKB_NOT_DROPPED_YET; }

// Tracepoints: the stub carries argument names, the typedef only types.
void __bpf_trace_kfree_skb(void *__data, struct sk_buff *skb, void *location, enum skb_drop_reason reason,
                           struct sock *rx_sk)
{
}
typedef void (*btf_trace_kfree_skb)(void *, struct sk_buff *, void *, enum skb_drop_reason, struct sock *);
typedef void (*btf_trace_sock_rcvqueue_full)(void *, struct sock *, struct sk_buff *);

// Globals that make clang keep the types functions do not mention.
btf_trace_kfree_skb fixture_tp1;
btf_trace_sock_rcvqueue_full fixture_tp2;
struct inet_connection_sock *fixture_icsk;
struct net_device fixture_dev;
struct xt_table *fixture_table;
enum tcp_ca_state fixture_ca;
s8 fixture_s8;
s16 fixture_s16;
s32 fixture_s32;
s64 fixture_s64;
u64 fixture_u64;
bool fixture_bool;
