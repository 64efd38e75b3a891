#!/usr/bin/env python3
"""Where a token request's CPU goes, counted in instructions (issue 15).

Runs tollgate (and the bare handler of `bench/run.py`) under `valgrind --tool=callgrind`, sends a
warm-up, zeroes the counters, sends N token requests (HTTP Basic, one keep-alive connection),
dumps the counters, and prints the instructions per request of each server and the functions
that take the largest inclusive share of tollgate's. Instruction counts do not depend on what
else the machine is doing, so two runs of the same build agree closely: the figure to compare
before and after a change on this noisy two-core machine (seconds are for bench/run.py).

    CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR=target/profiling \\
        cargo build --release --bin tollgate --example bare_token
    CARGO_TARGET_DIR=target/profiling python3 bench/profile.py --backend sqlite --requests 2000
"""

import argparse
import base64
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the benchmark's Server, paths and helpers)


def drive(port, n, credentials):
    """n token requests on one keep-alive connection; every answer must be 200. `credentials`:
    a Basic header's value, or ("body", client_id, secret) for client_secret_post."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    form = "grant_type=client_credentials"
    if isinstance(credentials, tuple):
        _, client_id, secret = credentials
        form += "&" + urllib.parse.urlencode({"client_id": client_id, "client_secret": secret})
    else:
        headers["Authorization"] = f"Basic {credentials}"
    for _ in range(n):
        conn.request("POST", "/access_token", body=form, headers=headers)
        res = conn.getresponse()
        body = res.read()
        if res.status != 200:
            raise RuntimeError(f"token request answered {res.status}: {body[:200]!r}")
    conn.close()


def wait_healthy(port, proc, what):
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited under valgrind ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not start under valgrind")


def callgrind(cmd, env, out):
    # Frame pointers are not needed: callgrind follows calls itself. One output file for all
    # threads, so the maintenance task and the hashing pool are counted with the workers.
    return subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                             "--dump-instr=no", "--collect-atstart=yes", *cmd],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(proc, port, basic, warmup, n, out):
    """Instructions of n requests: zero after the warm-up, dump after the last request."""
    drive(port, warmup, basic)
    subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
    drive(port, n, basic)
    subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
    dumps = sorted(f for f in os.listdir(os.path.dirname(out))
                   if f.startswith(os.path.basename(out) + ".") and not f.endswith(".txt"))
    if not dumps:
        raise RuntimeError("callgrind wrote no dump")
    dump = os.path.join(os.path.dirname(out), dumps[-1])
    total = int(re.search(r"^(?:summary|totals): (\d+)", open(dump).read(), re.M).group(1))
    return dump, total


def top(dump, total, n, lines):
    """The functions with the largest inclusive cost, as a share of the requests' total."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", dump],
                          capture_output=True, text=True, check=True).stdout
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+\*?\s*(\S.*)$", line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        name = m.group(2)
        # "file:function [object]": keep the function, drop the object path.
        name = re.sub(r"\s*\[[^\]]*\]$", "", name).split(":", 1)[-1]
        rows.append((ir, name))
    seen, out = set(), []
    for ir, name in rows:
        if name in seen:
            continue
        seen.add(name)
        out.append((ir, name))
        if len(out) >= lines:
            break
    for ir, name in out:
        print(f"  {100 * ir / total:5.1f} %  {ir / n / 1000:8.1f} k/req  {name[:150]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--auth", default="basic", choices=["basic", "body"],
                    help="how tollgate's client authenticates (the bare handler reads Basic only)")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--lines", type=int, default=45, help="how many functions to list")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="tollgate-profile-")
    # The bare handler: the same requests, what a token endpoint costs at the least.
    bare_port = run.free_port()
    bare = callgrind([os.path.join(run.EXAMPLES, "bare_token"), f"127.0.0.1:{bare_port}", "partner", "s3cret"],
                     {"PATH": os.environ["PATH"]}, os.path.join(tmp, "bare.out"))
    try:
        wait_healthy(bare_port, bare, "bare_token")
        basic = base64.b64encode(b"partner:s3cret").decode()
        _, bare_total = measure(bare, bare_port, basic, args.warmup, args.requests, os.path.join(tmp, "bare.out"))
    finally:
        bare.terminate()
        bare.wait(timeout=60)

    srv = run.Server(args.backend, args.pg)
    try:
        secret = srv.cli("client", "create", "--id", "bench-partner", "--scope", "profile:read")["client_secret"]
        proc = callgrind([run.BIN, "serve"], srv.env, os.path.join(tmp, "tollgate.out"))
        srv.proc = proc
        wait_healthy(srv.port, proc, "tollgate")
        basic = base64.b64encode(f"bench-partner:{secret}".encode()).decode()
        creds = basic if args.auth == "basic" else ("body", "bench-partner", secret)
        dump, total = measure(proc, srv.port, creds, args.warmup, args.requests,
                              os.path.join(tmp, "tollgate.out"))
    finally:
        srv.close()

    n = args.requests
    print(f"instructions per token request ({args.backend}, {n} requests after {args.warmup} of warm-up):")
    print(f"  bare handler  {bare_total / n / 1000:8.1f} k")
    print(f"  tollgate      {total / n / 1000:8.1f} k   ({total / bare_total:.2f} x the bare handler)")
    print(f"tollgate's largest inclusive costs (share of its total; dump {dump}):")
    top(dump, total, n, args.lines)


if __name__ == "__main__":
    main()
