#!/usr/bin/env python3
"""Slow clients against a hookd binary: open N connections that each send half
a request header and stop, wait, then report how many are still open, the
hookd process's file descriptors and RSS, and how long a normal request took
meanwhile.

    python3 bench/slow_clients.py target/release/hookd [--connections 5000] [--wait 35]

Everything runs on 127.0.0.1, against a hookd started here on a fresh SQLite
database in a temporary directory, and stops by itself.
"""

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout):
    """A complete GET; returns (status line, seconds) or (error, seconds)."""
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = s.recv(4096)
            line = data.split(b"\r\n", 1)[0].decode(errors="replace") or "closed"
    except OSError as e:
        line = f"error: {e}"
    return line, time.monotonic() - start


def proc_stats(pid):
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss_kb = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return fds, rss_kb / 1024


def still_open(socks):
    """Connections the server has not closed (a non-blocking peek)."""
    n = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            if data:
                n += 1  # answered (e.g. 408) but not closed yet
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("hookd")
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--wait", type=float, default=35.0)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.connections + 200
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, 4 * need)), hard))

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKD_")}
        env.update({
            "HOOKD_LISTEN": f"127.0.0.1:{port}",
            "HOOKD_DATABASE_URL": f"sqlite:{tmp}/hookd.db",
            "HOOKD_LOG": "warn",
        })
        proc = subprocess.Popen([args.hookd, "serve"], env=env, cwd=tmp,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while get(port, "/api/v1/health/live", 1)[0].startswith("error"):
                if time.monotonic() > deadline or proc.poll() is not None:
                    sys.exit("hookd did not start")
                time.sleep(0.1)
            fds0, rss0 = proc_stats(proc.pid)
            print(f"idle: {fds0} fds, {rss0:.0f} MB RSS")

            socks = []
            for _ in range(args.connections):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(b"GET /api/v1/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                socks.append(s)
            time.sleep(1)
            fds1, rss1 = proc_stats(proc.pid)
            line, took = get(port, "/api/v1/health/live", 30)
            print(f"{args.connections} half-sent headers, after 1 s: {fds1} fds, {rss1:.0f} MB RSS; "
                  f"a normal request meanwhile: {line!r} in {took * 1000:.0f} ms")

            time.sleep(max(0.0, args.wait - 1))
            fds2, rss2 = proc_stats(proc.pid)
            line, took = get(port, "/api/v1/health/live", 30)
            print(f"after {args.wait:.0f} s: {still_open(socks)} of {args.connections} still open; "
                  f"hookd {fds2} fds, {rss2:.0f} MB RSS; a normal request: {line!r} in {took * 1000:.0f} ms")
            for s in socks:
                s.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
