#!/usr/bin/env python3
"""Traffic for the end-to-end tests, run inside the tests' own network
namespaces (ip netns exec). Bounded in count and time; never leaves them."""
import socket
import sys
import time


def tcp_connect(host, port, timeout):
    s = socket.socket()
    s.settimeout(float(timeout))
    try:
        s.connect((host, int(port)))
        print("connected")
    except OSError as e:
        print("connect:", e)
    finally:
        s.close()


def udp_flood(host, port, count, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"x" * int(size)
    sent = 0
    for _ in range(int(count)):
        try:
            s.sendto(payload, (host, int(port)))
            sent += 1
        except OSError:
            pass  # ICMP errors reported on the socket; keep sending
    print("sent", sent)


def ping_sink(host, count, seconds):
    """A ping socket with the smallest buffer sends echo requests and never
    reads the replies: its receive queue overflows (sock:sock_rcvqueue_full)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    echo = bytes([8, 0, 0, 0, 0, 0, 0, 1]) + b"p" * 1000  # the kernel fills id and checksum
    for _ in range(int(count)):
        s.sendto(echo, (host, 0))
    time.sleep(float(seconds))
    s.close()


def udp_sink(port, rcvbuf, seconds, outfile):
    """Binds, shrinks the receive buffer, never reads: the buffer fills."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(rcvbuf))
    s.bind(("0.0.0.0", int(port)))
    with open(outfile, "w") as f:
        f.write(str(s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)))
    time.sleep(float(seconds))
    s.close()


def tcp_syns(source, host, port, count, seconds):
    """Opens `count` connections from `source` at once and keeps them for
    `seconds`. With a source the listener cannot route back to, every
    request stays half open (fills the SYN queue); with a reachable one and a
    listener that never accepts, the accept queue fills."""
    socks = []
    for _ in range(int(count)):
        s = socket.socket()
        s.setblocking(False)
        if source != "-":
            s.bind((source, 0))
        try:
            s.connect((host, int(port)))
        except BlockingIOError:
            pass
        except OSError as e:
            print("connect:", e)
        socks.append(s)
    time.sleep(float(seconds))
    for s in socks:
        s.close()
    print("opened", len(socks))


def udp_from(source, host, port, count):
    """Datagrams from a chosen source address (one the receiver's reverse
    path does not lead back to, for rp_filter)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    for _ in range(int(count)):
        s.sendto(b"r" * 32, (host, int(port)))
    print("sent", count)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"tcp-connect": tcp_connect, "udp-flood": udp_flood, "udp-sink": udp_sink, "ping-sink": ping_sink,
     "tcp-syns": tcp_syns, "udp-from": udp_from}[command](*args)
