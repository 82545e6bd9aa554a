#!/usr/bin/env python3
"""The packets of the pcap-filter differential test (tests/e2e/pcap_e2e_test.cpp):
TCP, UDP, ICMP, IPv6, VLAN (802.1Q and 802.1ad), IPv4 fragments and ARP, each
different from every other, all addressed to the peer's MAC. Run inside the
test's namespace A (ip netns exec): they go out of A's veth only, into B,
whose ingress drops them all.

    pcap_corpus.py write FILE.pcap SRC_MAC DST_MAC   the corpus, as a pcap file
    pcap_corpus.py send FILE.pcap DEV                sends it out of DEV
"""
import random
import sys

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, ICMPv6EchoReply, ICMPv6EchoRequest,
                       ICMPv6ND_NS, IPv6, Raw, fragment, rdpcap, sendp, wrpcap)

V4 = ["10.1.0.1", "10.1.0.2", "10.1.7.9", "192.168.1.10", "192.168.1.77", "172.16.5.4"]
V6 = ["2001:db8::1", "2001:db8::2", "2001:db8:1::5", "fe80::1", "fd00::7"]
PORTS = [22, 53, 80, 123, 443, 8080, 5353, 40000]
FLAGS = ["S", "SA", "A", "PA", "F", "FA", "R", "RA", "U", "SE"]


def payload(i, size):
    # Unique per packet: its index first, then filler.
    head = b"rtd%05d" % i
    return Raw(head + bytes((i + k) % 251 for k in range(max(0, size - len(head)))))


def corpus(src, dst):
    rnd = random.Random(7)
    out = []

    def eth():
        return Ether(src=src, dst=dst)

    for i in range(110):  # IPv4 TCP
        out.append(eth() / IP(src=rnd.choice(V4), dst=rnd.choice(V4), ttl=rnd.choice([1, 64, 255]), id=i) /
                   TCP(sport=rnd.choice(PORTS), dport=rnd.choice(PORTS), flags=rnd.choice(FLAGS), seq=i) /
                   payload(i, rnd.choice([0, 20, 100, 600, 1200])))
    for i in range(110, 180):  # IPv4 UDP
        out.append(eth() / IP(src=rnd.choice(V4), dst=rnd.choice(V4), id=i) /
                   UDP(sport=rnd.choice(PORTS), dport=rnd.choice(PORTS)) / payload(i, rnd.choice([8, 64, 300, 1000])))
    for i in range(180, 200):  # ICMP
        out.append(eth() / IP(src=rnd.choice(V4), dst=rnd.choice(V4), id=i) /
                   ICMP(type=rnd.choice([0, 3, 8, 11]), code=rnd.choice([0, 1, 3])) / payload(i, 32))
    for i in range(200, 250):  # IPv6
        l4 = rnd.choice(["tcp", "udp", "echo", "reply", "ns"])
        ip6 = IPv6(src=rnd.choice(V6), dst=rnd.choice(V6), hlim=rnd.choice([1, 64, 255]))
        if l4 == "tcp":
            p = ip6 / TCP(sport=rnd.choice(PORTS), dport=rnd.choice(PORTS), flags=rnd.choice(FLAGS), seq=i) / payload(i, rnd.choice([0, 50, 900]))
        elif l4 == "udp":
            p = ip6 / UDP(sport=rnd.choice(PORTS), dport=rnd.choice(PORTS)) / payload(i, rnd.choice([8, 400]))
        elif l4 == "echo":
            p = ip6 / ICMPv6EchoRequest(id=i, seq=i) / payload(i, 24)
        elif l4 == "reply":
            p = ip6 / ICMPv6EchoReply(id=i, seq=i) / payload(i, 24)
        else:
            p = ip6 / ICMPv6ND_NS(tgt="2001:db8::%x" % i)
        out.append(eth() / p)
    for i in range(250, 280):  # VLAN: 802.1Q, some in 802.1ad
        vid = rnd.choice([100, 200, 300])
        inner = (IP(src=rnd.choice(V4), dst=rnd.choice(V4), id=i) / UDP(sport=rnd.choice(PORTS), dport=rnd.choice(PORTS))
                 if i % 3 else IPv6(src=rnd.choice(V6), dst=rnd.choice(V6)) / TCP(sport=rnd.choice(PORTS), dport=443, flags="S", seq=i))
        if i % 5 == 0:
            out.append(Ether(src=src, dst=dst, type=0x88a8) / Dot1AD(vlan=vid, type=0x8100) / Dot1Q(vlan=vid + 1) / inner / payload(i, 40))
        else:
            out.append(eth() / Dot1Q(vlan=vid, prio=rnd.choice([0, 5])) / inner / payload(i, 40))
    for i in range(280, 290):  # IPv4 fragments: first and later pieces
        whole = IP(src=rnd.choice(V4), dst=rnd.choice(V4), id=1000 + i) / UDP(sport=rnd.choice(PORTS), dport=rnd.choice(PORTS)) / payload(i, 900)
        for piece in fragment(whole, fragsize=400):
            out.append(eth() / piece)
    # On the boundaries of the length and range tests (len > 1000, less 80,
    # ip[2:2] > 500, portrange 50-130): frames of exactly those sizes.
    for i, size in zip(range(305, 315), [80, 81, 100, 101, 200, 500, 514, 515, 1000, 1001]):
        out.append(eth() / IP(src=rnd.choice(V4), dst=rnd.choice(V4), id=i) / UDP(sport=50 + i % 2 * 80, dport=130 + i % 3) /
                   payload(i, size - 42))
    for i in range(290, 305):  # ARP
        out.append(eth() / ARP(op=rnd.choice([1, 2]), psrc=rnd.choice(V4), pdst=rnd.choice(V4), hwsrc=src))
    return out


def main():
    if sys.argv[1] == "write":
        packets = corpus(sys.argv[3], sys.argv[4])
        wrpcap(sys.argv[2], packets)
        print("wrote", len(packets))
    elif sys.argv[1] == "send":
        packets = rdpcap(sys.argv[2])
        sendp(packets, iface=sys.argv[3], verbose=False)
        print("sent", len(packets))


if __name__ == "__main__":
    main()
