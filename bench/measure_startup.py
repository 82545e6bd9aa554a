#!/usr/bin/python3
"""Start-up and peak memory of a tracer, for bench/bench_all.sh.

  measure_startup.py (--ready-file PATH | --ready-stdout WORD) [--timeout S] -- CMD...

Starts CMD (stdout to a file next to it when --ready-stdout, else /dev/null;
stderr to CMD's --err file if given), polls every millisecond until PATH
exists or WORD appears on its stdout, waits --settle seconds, sends SIGINT,
waits for it and prints "MS_TO_READY PEAK_RSS_KB EXIT_STATUS OWN_PEAK_RSS_KB".
PEAK_RSS_KB is wait4's ru_maxrss: the largest of the process and the
children it reaped (rtrace-drop's compile child included); OWN_PEAK_RSS_KB
is the process's own VmHWM just before SIGINT. MS_TO_READY is -1 when it
never got ready.
"""
import argparse
import os
import signal
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ready-file")
    ap.add_argument("--ready-stdout")
    ap.add_argument("--out", default="/dev/null", help="where CMD's stdout goes")
    ap.add_argument("--err", default="/dev/null", help="where CMD's stderr goes")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--settle", type=float, default=0.3)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if a.ready_file and os.path.exists(a.ready_file):
        os.unlink(a.ready_file)
    out = open(a.out, "wb")
    err = open(a.err, "wb")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=out, stderr=err)
    ms = -1
    result = None  # (status, rusage) once reaped
    try:
        deadline = t0 + a.timeout
        while time.monotonic() < deadline:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                result = (status, ru)
                break
            if a.ready_file:
                ready = os.path.exists(a.ready_file)
            else:
                with open(a.out, "rb") as f:
                    ready = a.ready_stdout.encode() in f.read()
            if ready:
                ms = (time.monotonic() - t0) * 1000
                break
            time.sleep(0.001)
        if ms >= 0:
            time.sleep(a.settle)
        hwm = 0  # the process's own peak RSS (VmHWM), children not included
        if result is None:
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    hwm = int(next(l for l in f if l.startswith("VmHWM:")).split()[1])
            except (OSError, StopIteration):
                pass
            # bpftrace 0.17 now and then misses a SIGINT that comes soon
            # after BEGIN: ask again every 2 s (the figures are taken).
            for i in range(10000):
                if i % 2000 == 0:
                    os.kill(p.pid, signal.SIGINT)
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    result = (status, ru)
                    break
                time.sleep(0.001)
            if result is None:  # 10 s: it will not stop
                os.kill(p.pid, signal.SIGKILL)
                _, status, ru = os.wait4(p.pid, 0)
                result = (status, ru)
        p.returncode = os.waitstatus_to_exitcode(result[0])
        print("%d %d %d %d" % (round(ms), result[1].ru_maxrss, p.returncode, hwm))
    finally:
        if result is None:
            os.kill(p.pid, signal.SIGKILL)
            os.wait4(p.pid, 0)


if __name__ == "__main__":
    main()
