#!/usr/bin/python3
"""Crafted packets for the end-to-end tests (scapy), sent from inside the
tests' own network namespaces over their veth. Bounded and local only.

    craft.py IFACE DST KIND [PORT] [EXTRA]
"""
import sys

from scapy.all import IP, TCP, UDP, ICMP, Ether, Raw, conf, send, sendp, sr1

conf.verb = 0


def main():
    iface, dst, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    port = int(sys.argv[4]) if len(sys.argv) > 4 else 9
    extra = sys.argv[5] if len(sys.argv) > 5 else ""
    if kind == "tcp-bad-csum":  # extra: how many (default 1)
        send(IP(dst=dst) / TCP(sport=40001, dport=port, flags="S", chksum=0x1234), iface=iface, count=int(extra or 1))
    elif kind == "udp-bad-csum":
        send(IP(dst=dst) / UDP(sport=40002, dport=port, chksum=0x1234) / Raw(b"x" * 20), iface=iface)
    elif kind == "ip-bad-csum":
        send(IP(dst=dst, chksum=0x1234) / UDP(sport=40003, dport=port), iface=iface)
    elif kind == "tcp-fin":  # a FIN without ACK: no valid state takes it
        send(IP(dst=dst) / TCP(sport=40004, dport=port, flags="F"), iface=iface)
    elif kind == "other-host":  # extra = the destination MAC to put on the frame
        sendp(Ether(dst=extra) / IP(dst=dst) / UDP(sport=40005, dport=port), iface=iface)
    elif kind == "spoofed":  # extra = the source address to claim
        send(IP(src=extra, dst=dst) / UDP(sport=40006, dport=port), iface=iface)
    elif kind == "to-mac":  # extra = MAC,SOURCE; dst need not be the receiver's address
        mac, src = extra.split(",")
        sendp(Ether(dst=mac) / IP(src=src, dst=dst) / UDP(sport=40007, dport=port), iface=iface)
    elif kind == "first-fragment":
        send(IP(dst=dst, id=4242, flags="MF", frag=0) / UDP(sport=40008, dport=port) / Raw(b"y" * 64), iface=iface)
    elif kind == "dup-fragment":
        p = IP(dst=dst, id=4343, flags="MF", frag=0) / UDP(sport=40009, dport=port) / Raw(b"z" * 64)
        send([p, p], iface=iface)
    elif kind == "no-proto":
        send(IP(dst=dst, proto=253) / Raw(b"q" * 8), iface=iface)
    elif kind == "icmp-flood":
        send(IP(dst=dst) / ICMP() / Raw(b"p" * 1000), iface=iface, count=port)
    elif kind == "half-open":  # port: listener; extra: count. SYN each, then all the final ACKs
        acks = []
        for i in range(int(extra)):
            synack = sr1(IP(dst=dst) / TCP(sport=43000 + i, dport=port, flags="S", seq=1000), timeout=1, iface=iface)
            if synack is not None and synack.haslayer(TCP):
                acks.append(IP(dst=dst) / TCP(sport=43000 + i, dport=port, flags="A", seq=1001, ack=synack[TCP].seq + 1))
        send(acks, iface=iface)
        print("handshakes", len(acks))
    else:
        raise SystemExit("unknown kind " + kind)


if __name__ == "__main__":
    main()
