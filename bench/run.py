#!/usr/bin/env python3
"""tollgate load benchmark.

Builds the release binary, provisions its own client, API key and customer with the CLI, starts
the server on PostgreSQL and on SQLite, drives it with oha (installed with cargo if missing), and
prints requests/s, p50, p99, errors and the server's peak RSS per scenario (median of --runs),
plus the argon2id cost on this machine and the login rate against its ceiling.

    python3 bench/run.py                      # 64 connections, 15 s runs, median of 3
    python3 bench/run.py --seconds 5 --runs 1 --backends sqlite
    python3 bench/run.py --only tokens,profile    # the token and profile rows (and the bare handler)
    python3 bench/run.py --only spray             # the abuse-limit spray beside a valid client
    python3 bench/run.py --only tokens,quota      # a client with a quota (never reached) against one without
    python3 bench/run.py --only assertion         # private_key_jwt (ES256) beside a client secret
    python3 bench/run.py --only dpop              # DPoP (ES256 proofs) beside bearer, token and profile
"""

import argparse
import base64
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
BIN = os.path.join(TARGET, "release", "tollgate")
EXAMPLES = os.path.join(TARGET, "release", "examples")


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def ensure_oha():
    found = shutil.which("oha") or os.path.expanduser("~/.cargo/bin/oha")
    if os.path.exists(found):
        return found
    print("installing oha with cargo (once)…", file=sys.stderr)
    subprocess.run(["cargo", "install", "oha", "--locked"], check=True)
    return os.path.expanduser("~/.cargo/bin/oha")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read() or b"null")


def cpu_seconds(pid):
    """User + system CPU time the process has used (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def store_cpu_seconds():
    """CPU time used so far by every PostgreSQL and Redis process on the machine: what the
    server's database and replay store cost it, which the server's own CPU does not show."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                head, tail = f.read().rsplit(")", 1)
        except OSError:
            continue
        if head.split("(", 1)[1] in ("postgres", "redis-server"):
            fields = tail.split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class RssSampler(threading.Thread):
    """Samples the server's resident set every 20 ms and keeps the maximum; `finish` also gives
    the server's CPU time per request answered over the run (it carries across machines better
    than requests/s)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.stop = pid, 0, threading.Event()
        self.cpu0, self.store0 = cpu_seconds(pid), store_cpu_seconds()
        self.load0 = resource.getrusage(resource.RUSAGE_CHILDREN)

    def finish(self, r):
        self.stop.set()
        self.join()
        answered = sum(r["codes"].values()) or 1
        r["rss_kib"] = self.peak_kib
        r["cpu_us"] = (cpu_seconds(self.pid) - self.cpu0) / answered * 1e6
        r["store_us"] = (store_cpu_seconds() - self.store0) / answered * 1e6
        load = resource.getrusage(resource.RUSAGE_CHILDREN)
        r["load_us"] = ((load.ru_utime + load.ru_stime) - (self.load0.ru_utime + self.load0.ru_stime)) \
            / answered * 1e6

    def run(self):
        while not self.stop.is_set():
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.peak_kib = max(self.peak_kib, int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.02)


class Server:
    def __init__(self, backend, pg_admin_url, limits=False, redis_url=None):
        self.backend = backend
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="tollgate-bench-")
        if backend == "postgres":
            self.pg_admin = pg_admin_url
            self.dbname = f"tollgate_bench_{uuid.uuid4().hex[:12]}"
            sh(["psql", pg_admin_url, "-qc", f"CREATE DATABASE {self.dbname}"])
            base = pg_admin_url.rsplit("/", 1)[0]
            self.url = f"{base}/{self.dbname}"
        else:
            self.url = f"sqlite://{self.tmp}/tollgate.db?mode=rwc"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": self.url,
            "TOLLGATE_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "TOLLGATE_LISTEN": f"127.0.0.1:{self.port}",
            "TOLLGATE_ISSUER": f"http://127.0.0.1:{self.port}",
                        "RUST_LOG": "warn",
        }
        if not limits:
            # The failure-timing measurement fails on purpose hundreds of times a minute.
            self.env["TOLLGATE_FAILURES_PER_MINUTE"] = "1000000"
            self.env["TOLLGATE_ADDRESS_FAILURES_PER_MINUTE"] = "1000000"
        if redis_url:
            self.env["TOLLGATE_REDIS_URL"] = redis_url
            self.env["TOLLGATE_REDIS_PREFIX"] = f"tollgate-bench-{uuid.uuid4().hex[:12]}"
        self.base = f"http://127.0.0.1:{self.port}"

    def cli(self, *args, stdin=None):
        return json.loads(sh([BIN, *args], env=self.env, input=stdin).stdout)

    def start(self):
        self.proc = subprocess.Popen([BIN, "serve"], env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.tmp, "server.log"), "w"))
        for _ in range(100):
            try:
                http("GET", self.base + "/healthz")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start; see " + self.tmp)

    def close(self):
        if hasattr(self, "proc"):
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        if self.backend == "postgres":
            sh(["psql", self.pg_admin, "-qc", f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE)"])
        shutil.rmtree(self.tmp, ignore_errors=True)


def oha_run(oha, seconds, conns, method, url, headers, body, wait=False):
    cmd = [oha, "-z", f"{seconds}s", "-c", str(conns), "--no-tui", "--output-format", "json", "-m", method]
    if wait:
        # Requests in flight at the deadline finish and are counted (the ops row compares counts).
        cmd.append("--wait-ongoing-requests-after-deadline")
    for h in headers:
        cmd += ["-H", h]
    if body is not None:
        cmd += ["-d", body]
    out = json.loads(sh(cmd + [url]).stdout)
    codes = {int(k): v for k, v in (out.get("statusCodeDistribution") or {}).items()}
    transport = sum(v for k, v in (out.get("errorDistribution") or {}).items() if "deadline" not in k)
    return {
        "rps": out["summary"]["requestsPerSec"],
        "p50_ms": (out["latencyPercentiles"]["p50"] or 0) * 1000,
        "p99_ms": (out["latencyPercentiles"]["p99"] or 0) * 1000,
        "errors": transport + sum(v for k, v in codes.items() if k >= 400),
        "codes": codes,
    }


def timing_pairs(base, n=150):
    """Medians of alternating requests: unknown client vs a known client's wrong secret, and
    unknown user vs a wrong password. Equal medians mean failures tell nothing by their timing."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def timed(path, body, auth=None):
        headers = dict(form)
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
        req = urllib.request.Request(base + path, data=body.encode(), method="POST", headers=headers)
        t = time.perf_counter()
        try:
            urllib.request.urlopen(req, timeout=10).read()
        except urllib.error.HTTPError as e:
            e.read()
        return time.perf_counter() - t

    grant = "grant_type=client_credentials"
    samples = {k: [] for k in ("unknown_client", "wrong_secret", "unknown_user", "wrong_password")}
    for _ in range(n):
        samples["unknown_client"].append(timed("/access_token", grant, "no-such-client:some-wrong-secret-123"))
        samples["wrong_secret"].append(timed("/access_token", grant, "bench-partner:some-wrong-secret-123"))
        samples["unknown_user"].append(timed("/customer_authenticate", "username=nobody&password=wrong+password"))
        samples["wrong_password"].append(timed("/customer_authenticate", "username=bench-user&password=wrong+password"))
    return {k: statistics.median(v) * 1000 for k, v in samples.items()}


# A rate limit and a quota far above what the load generator reaches: the row measures what
# counting costs, never a refusal.
NEVER_REACHED = ("--rate-limit", "1000000000/s", "--quota", "1000000000/d")


def basic_header(client_id, secret):
    return "Authorization: Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def redis_quota_row(oha, backend, args):
    """A client whose quota is counted in Redis (one script call per token request), on a server
    of its own started with TOLLGATE_REDIS_URL."""
    srv = Server(backend, args.pg, redis_url=args.redis)
    try:
        secret = srv.cli("client", "create", "--id", "bench-metered", "--scope", "profile:read",
                         *NEVER_REACHED)["client_secret"]
        srv.start()
        target = ("POST", srv.base + "/access_token",
                  [basic_header("bench-metered", secret), "Content-Type: application/x-www-form-urlencoded"],
                  "grant_type=client_credentials")
        oha_run(oha, 1, 4, *target)
        runs = []
        for _ in range(args.runs):
            sampler = RssSampler(srv.proc.pid)
            sampler.start()
            r = oha_run(oha, args.seconds, args.connections, *target)
            sampler.finish(r)
            runs.append(r)
            time.sleep(2)
            print(f"  {backend:8} {'/access_token (Basic, quota in Redis)':34} {r['rps']:9.0f} req/s  "
                  f"p99 {r['p99_ms']:6.2f} ms  errors {r['errors']}", file=sys.stderr)
        return median_of(runs)
    finally:
        srv.close()


def start_bare(oha):
    """The calibration point: examples/bare_token.rs, the least a token endpoint can do (Basic
    header, form, constant-time compare with an in-memory secret, ES256 with a pre-parsed key),
    driven exactly like tollgate. tollgate ÷ bare is what its correctness and bookkeeping cost.
    Returns the running process and the request to send it."""
    port = free_port()
    secret = secrets.token_urlsafe(32)
    proc = subprocess.Popen([os.path.join(EXAMPLES, "bare_token"),
                             f"127.0.0.1:{port}", "bench-partner", secret], stdout=subprocess.DEVNULL)
    basic = base64.b64encode(f"bench-partner:{secret}".encode()).decode()
    target = ("POST", f"http://127.0.0.1:{port}/access_token",
              [f"Authorization: Basic {basic}", "Content-Type: application/x-www-form-urlencoded"],
              "grant_type=client_credentials")
    for _ in range(100):
        try:
            oha_run(oha, 1, 1, *target)
            break
        except (subprocess.CalledProcessError, json.JSONDecodeError, KeyError):
            time.sleep(0.1)
    return proc, target


def measure_round_robin(oha, cases, args):
    """Every case once per round, `args.runs` rounds, so that a drift of this machine's speed
    (it moves by more than the ratios measured here, minutes apart) hits every case alike; the
    bare handler and both backends' servers stay up throughout. A case is (backend, name, pid,
    request), or with request None the token rate during a login flood (then `flood`: the
    login request). Returns [(backend, name, median result)] in the cases' order."""
    runs = {i: [] for i in range(len(cases))}
    for _ in range(args.runs):
        for i, case in enumerate(cases):
            backend, name, pid, s = case[:4]
            sampler = RssSampler(pid)
            sampler.start()
            if s is None:
                login, token_basic = case[4], case[5]
                flood_result = {}
                flood = threading.Thread(target=lambda: flood_result.update(
                    oha_run(oha, args.seconds + 2, args.connections, *login)))
                flood.start()
                time.sleep(1)
                r = oha_run(oha, args.seconds, args.connections, *token_basic)
                flood.join()
                r["flood_rps"] = flood_result.get("rps", 0)
            else:
                r = oha_run(oha, args.seconds, args.connections, *s)
            sampler.finish(r)
            runs[i].append(r)
            time.sleep(2)  # let requests of the last run that were still queued drain
            print(f"  {backend:8} {name:34} {r['rps']:9.0f} req/s  p99 {r['p99_ms']:6.2f} ms  "
                  f"errors {r['errors']}  rss {r['rss_kib'] / 1024:.1f} MiB  cpu {r['cpu_us']:.1f} us/req",
                  file=sys.stderr)
    rows = []
    for i, case in enumerate(cases):
        m = median_of(runs[i])
        if case[3] is None:
            m["flood_rps"] = statistics.median(r["flood_rps"] for r in runs[i])
        rows.append((case[0], case[1], m))
    return rows


def spray(backend, args):
    """The abuse-limit row: wrong secrets for a new random client_id on every request from one
    address (already over its limit after the first 100), with a valid, cached client at 50/s
    beside it. With the default limits (10 per pair, 100 per address and minute)."""
    srv = Server(backend, args.pg, limits=True)
    try:
        secret = srv.cli("client", "create", "--id", "bench-partner", "--scope", "profile:read")["client_secret"]
        srv.start()
        basic = base64.b64encode(f"bench-partner:{secret}".encode()).decode()
        http("POST", srv.base + "/access_token", data=b"grant_type=client_credentials",
             headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
        sampler = RssSampler(srv.proc.pid)
        sampler.start()
        out = json.loads(sh([os.path.join(EXAMPLES, "spray"), srv.base,
                             str(args.spray_seconds), str(args.connections), "bench-partner", secret]).stdout)
        sampler.stop.set()
        sampler.join()
        out["rss_mib"] = sampler.peak_kib / 1024
        v = out["valid"]
        print(f"  {backend:8} spray {out['requests'] / out['seconds']:9.0f} req/s  statuses {out['statuses']}  "
              f"rss {out['rss_mib']:.1f} MiB  valid p99 {v['p99_ms']:.1f} max {v['max_ms']:.1f} ms", file=sys.stderr)
        return out
    finally:
        srv.close()


def ops(backend, oha, args):
    """Issue 13's row: the token endpoint (Basic) with the metrics listener on and /metrics
    scraped every second during the load, then a SIGTERM; the usage table and the tokens-issued
    counter must both equal the 200s the load generator counted."""
    srv = Server(backend, args.pg)
    metrics_port = free_port()
    srv.env["TOLLGATE_METRICS_LISTEN"] = f"127.0.0.1:{metrics_port}"
    try:
        secret = srv.cli("client", "create", "--id", "bench-partner", "--scope", "profile:read")["client_secret"]
        srv.start()
        basic = base64.b64encode(f"bench-partner:{secret}".encode()).decode()
        target = ("POST", srv.base + "/access_token",
                  [f"Authorization: Basic {basic}", "Content-Type: application/x-www-form-urlencoded"],
                  "grant_type=client_credentials")
        ok = oha_run(oha, 1, 4, *target, wait=True)["codes"].get(200, 0)  # warm-up
        scrapes, stop = [0, 0], threading.Event()

        def scrape():
            while not stop.wait(1.0):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as res:
                        res.read()
                    scrapes[0] += 1
                except OSError:
                    scrapes[1] += 1

        runs = []
        for _ in range(args.runs):
            stop.clear()
            scraper = threading.Thread(target=scrape, daemon=True)
            sampler = RssSampler(srv.proc.pid)
            scraper.start()
            sampler.start()
            r = oha_run(oha, args.seconds, args.connections, *target, wait=True)
            stop.set()
            scraper.join()
            sampler.finish(r)
            ok += r["codes"].get(200, 0)
            runs.append(r)
            time.sleep(2)
            print(f"  {backend:8} /access_token (Basic), /metrics 1/s  {r['rps']:9.0f} req/s  p99 {r['p99_ms']:6.2f} ms  "
                  f"errors {r['errors']}  rss {r['rss_kib'] / 1024:.1f} MiB  cpu {r['cpu_us']:.1f} us/req", file=sys.stderr)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as res:
            text = res.read().decode()
        counter = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                      if l.startswith('tollgate_tokens_issued_total{client_id="bench-partner"'))
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(timeout=30)
        usage = sh([BIN, "usage", "--client", "bench-partner", "--since", "1h"], env=srv.env).stdout
        rows = sum(json.loads(line)["tokens"] for line in usage.splitlines() if line)
        m = median_of(runs)
        m.update({"ok": ok, "usage": rows, "counter": counter, "scrapes": scrapes[0], "scrape_errors": scrapes[1]})
        return m
    finally:
        if srv.proc.poll() is None:
            srv.proc.send_signal(signal.SIGTERM)
            srv.proc.wait(timeout=30)
        if srv.backend == "postgres":
            sh(["psql", srv.pg_admin, "-qc", f"DROP DATABASE IF EXISTS {srv.dbname} WITH (FORCE)"])
        shutil.rmtree(srv.tmp, ignore_errors=True)


def alternate(srv, load, cases, args, label):
    """Runs each case's load generator (`load` with that case's arguments) in turn, `args.runs`
    rounds, so that drift of this machine's speed hits every case alike; the server's RSS and
    CPU are sampled around each run. Returns {case: [result, ...]}."""
    runs = {case: [] for case in cases}
    for _ in range(args.runs):
        for case, argv in cases.items():
            sampler = RssSampler(srv.proc.pid)
            sampler.start()
            out = json.loads(sh([load, *argv]).stdout)
            codes = {int(k): v for k, v in out["statuses"].items()}
            r = {"rps": out["rps"], "p50_ms": out["p50_ms"], "p99_ms": out["p99_ms"],
                 "errors": sum(v for k, v in codes.items() if k >= 400 or k == 0), "codes": codes}
            sampler.finish(r)
            # The generator's own count leaves out the signing done before its clock started.
            r["load_us"] = out.get("cpu_us_per_request", r["load_us"])
            runs[case].append(r)
            time.sleep(2)
            name = " ".join(case) if isinstance(case, tuple) else case
            print(f"  {label:16} {name:16} {r['rps']:9.0f} req/s  p99 {r['p99_ms']:6.2f} ms  errors {r['errors']}  "
                  f"rss {r['rss_kib'] / 1024:.1f} MiB  cpu {r['cpu_us']:.1f} us/req "
                  f"(database/Redis {r['store_us']:.1f}, load generator {r['load_us']:.1f})", file=sys.stderr)
    return runs


def assertion_rows(backend, args, redis=False):
    """private_key_jwt beside client_secret_basic on one server, both driven by
    examples/assertion_load.rs (oha repeats one body, and each assertion may be used once): ES256
    assertions with distinct jtis, signed before each run starts, against a cached secret. Runs
    alternate between the two so that drift of this machine's speed hits both alike. With
    `redis`, the jtis go to Redis instead of the database."""
    load = os.path.join(EXAMPLES, "assertion_load")
    srv = Server(backend, args.pg)
    if redis:
        srv.env["TOLLGATE_REDIS_URL"] = "redis://127.0.0.1:6379"
        srv.env["TOLLGATE_REDIS_PREFIX"] = f"tollgate-bench-{uuid.uuid4().hex[:8]}"
    keys = tempfile.mkdtemp(prefix="tollgate-bench-keys-")
    label = backend + (" + Redis" if redis else "")
    try:
        sh([load, "keygen", keys])
        secret = srv.cli("client", "create", "--id", "bench-partner", "--scope", "profile:read")["client_secret"]
        srv.cli("client", "create", "--id", "bench-pkjwt", "--scope", "profile:read",
                "--auth-method", "private_key_jwt", "--jwks-file", os.path.join(keys, "jwks.json"))
        srv.start()
        modes = {"basic": ["basic", srv.base, str(args.seconds), str(args.connections), "bench-partner", secret],
                 "assertion": ["assertion", srv.base, str(args.seconds), str(args.connections), "bench-pkjwt", keys]}
        runs = alternate(srv, load, modes, args, label)
        return [(label, "/access_token (Basic), assertion_load", median_of(runs["basic"])),
                (label, "/access_token (private_key_jwt, ES256)", median_of(runs["assertion"]))]
    finally:
        srv.close()
        shutil.rmtree(keys, ignore_errors=True)


def dpop_rows(backend, args, redis=False):
    """DPoP beside bearer at /access_token and /getprofile on one server, all driven by
    examples/dpop_load.rs (oha repeats one request, and each proof may be used once): ES256
    proofs with distinct jtis, signed before each run starts. Runs alternate between DPoP and
    bearer so that drift of this machine's speed hits both alike. With `redis`, the proofs' jtis
    go to Redis instead of the database."""
    load = os.path.join(EXAMPLES, "dpop_load")
    srv = Server(backend, args.pg)
    # Proofs are signed before the run: let them live through it.
    srv.env["TOLLGATE_DPOP_PROOF_MAX_AGE"] = str(min(3600, args.seconds * 4 + 120))
    if redis:
        srv.env["TOLLGATE_REDIS_URL"] = args.redis
        srv.env["TOLLGATE_REDIS_PREFIX"] = f"tollgate-bench-{uuid.uuid4().hex[:8]}"
    label = backend + (" + Redis" if redis else "")
    try:
        secret = srv.cli("client", "create", "--id", "bench-partner", "--scope", "profile:read")["client_secret"]
        api_key = srv.cli("apikey", "create", "--name", "bench")["api_key"]
        customer = srv.cli("customer", "create", "--username", "bench-user", "--password-stdin",
                           "--name", "Bench User", stdin="bench password 123\n")["customer_id"]
        srv.start()
        common = [srv.base, str(args.seconds), str(args.connections), "bench-partner", secret]
        cases = {("token", "bearer"): ["token", "bearer", *common],
                 ("token", "dpop"): ["token", "dpop", *common],
                 ("profile", "bearer"): ["profile", "bearer", *common, api_key, customer],
                 ("profile", "dpop"): ["profile", "dpop", *common, api_key, customer]}
        runs = alternate(srv, load, cases, args, label)
        names = {("token", "bearer"): "/access_token (Basic, bearer), dpop_load",
                 ("token", "dpop"): "/access_token (Basic, DPoP ES256)",
                 ("profile", "bearer"): "/getprofile (bearer), dpop_load",
                 ("profile", "dpop"): "/getprofile (DPoP ES256)"}
        return [(label, names[case], median_of(r)) for case, r in runs.items()]
    finally:
        srv.close()


def median_of(runs):
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "errors": statistics.median(r["errors"] for r in runs),
        "rss_mib": max(r["rss_kib"] for r in runs) / 1024,
        "cpu_us": statistics.median(r.get("cpu_us", 0) for r in runs),
        "store_us": statistics.median(r.get("store_us", 0) for r in runs),
        "load_us": statistics.median(r.get("load_us", 0) for r in runs),
        "codes": runs[len(runs) // 2]["codes"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--backends", default="postgres,sqlite")
    ap.add_argument("--pg", default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--only", default="tokens,profile,login,flood,timing,spray,quota,assertion,dpop,ops",
                    help="comma list of: tokens, profile, login, flood, timing, spray, quota, assertion, dpop, "
                         "ops")
    ap.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
                    help="the Redis of the 'quota in Redis' row")
    ap.add_argument("--spray-seconds", type=int, default=30)
    ap.add_argument("--no-build", action="store_true",
                    help="use the release binaries already built (cargo build --release --bin tollgate "
                         "--example bare_token [--example spray])")
    args = ap.parse_args()
    only = set(args.only.split(","))

    examples = (["--example", "bare_token"] + (["--example", "spray"] if "spray" in only else [])
                + (["--example", "assertion_load"] if "assertion" in only else [])
                + (["--example", "dpop_load"] if "dpop" in only else []))
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "tollgate", *examples], cwd=ROOT,
                       check=True)
    oha = ensure_oha() if only & {"tokens", "profile", "login", "flood", "ops", "quota"} else None
    argon = json.loads(sh([BIN, "bench-argon2", "--hashes", "30"], env={"PATH": os.environ["PATH"]}).stdout)
    # What one ES256 verification costs here (aws-lc, one core, key parsed once as the server
    # holds it): the part of an assertion or DPoP request that no server design removes.
    crypto = (json.loads(sh([os.path.join(EXAMPLES, "assertion_load"), "crypto-cost"]).stdout)
              if only & {"assertion", "dpop"} else None)

    rows, timings, sprays, opsrows = [], [], [], []
    cases, servers, bare = [], [], None
    try:
        for backend in args.backends.split(","):
            if "spray" in only:
                sprays.append((backend, spray(backend, args)))
            if "quota" in only:
                rows.append((backend, "/access_token (Basic, quota in Redis)", redis_quota_row(oha, backend, args)))
            if "ops" in only:
                opsrows.append((backend, ops(backend, oha, args)))
            if "assertion" in only:
                rows.extend(assertion_rows(backend, args))
                if backend == "postgres":
                    rows.extend(assertion_rows(backend, args, redis=True))
            if "dpop" in only:
                rows.extend(dpop_rows(backend, args))
                if backend == "postgres":
                    rows.extend(dpop_rows(backend, args, redis=True))
            if not only & {"tokens", "profile", "login", "flood", "timing", "quota"}:
                continue
            srv = Server(backend, args.pg)
            servers.append(srv)
            secret = srv.cli("client", "create", "--id", "bench-partner", "--scope", "profile:read")["client_secret"]
            metered = srv.cli("client", "create", "--id", "bench-metered", "--scope", "profile:read",
                              *NEVER_REACHED)["client_secret"]
            api_key = srv.cli("apikey", "create", "--name", "bench")["api_key"]
            customer = srv.cli("customer", "create", "--username", "bench-user", "--password-stdin",
                               "--name", "Bench User", "--email", "bench@example.com",
                               stdin="bench password 123\n")["customer_id"]
            srv.start()
            form = "application/x-www-form-urlencoded"
            token = http("POST", srv.base + "/access_token",
                         data=urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "bench-partner",
                                                      "client_secret": secret}).encode(),
                         headers={"Content-Type": form})["access_token"]
            basic = base64.b64encode(f"bench-partner:{secret}".encode()).decode()
            token_basic = ("POST", srv.base + "/access_token", [f"Authorization: Basic {basic}", f"Content-Type: {form}"],
                           "grant_type=client_credentials")
            token_body = ("POST", srv.base + "/access_token", [f"Content-Type: {form}"],
                          urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "bench-partner",
                                                  "client_secret": secret}))
            token_metered = ("POST", srv.base + "/access_token", [basic_header("bench-metered", metered),
                             f"Content-Type: {form}"], "grant_type=client_credentials")
            profile = ("POST", srv.base + "/getprofile",
                       [f"api-key: {api_key}", f"Authorization: Bearer {token}", f"X-Customer-Id: {customer}"], None)
            login = ("POST", srv.base + "/customer_authenticate", [f"Content-Type: {form}"],
                     "username=bench-user&password=bench+password+123")
            if "timing" in only:
                timings.append((backend, timing_pairs(srv.base)))
            # Warm-up: the first request per credential pays one argon2 verification.
            for s in (token_basic, token_body, profile, token_metered):
                oha_run(oha, 1, 4, *s)

            scenarios = [("tokens", "/access_token (Basic)", token_basic), ("tokens", "/access_token (body)", token_body),
                         ("profile", "/getprofile", profile), ("login", "/customer_authenticate", login),
                         ("flood", "/access_token during login flood", None),
                         ("quota", "/access_token (Basic, quota set)", token_metered)]
            for _, name, s in (x for x in scenarios if x[0] in only):
                cases.append((backend, name, srv.proc.pid, s, login, token_basic))
        if "tokens" in only or "ops" in only:
            bare, target = start_bare(oha)
            cases.insert(0, ("bare", "/access_token (Basic)", bare.pid, target))
        if cases:
            rows = measure_round_robin(oha, cases, args) + rows
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(timeout=10)
        for srv in servers:
            srv.close()

    if timings:
        print()
        print("Failure timing, median ms of 150 sequential requests each (ratio must stay within 0.9-1.1):")
    for backend, t in timings:
        print(f"  {backend}: unknown client {t['unknown_client']:.2f} / wrong secret {t['wrong_secret']:.2f} = "
              f"{t['unknown_client'] / t['wrong_secret']:.3f};  unknown user {t['unknown_user']:.2f} / "
              f"wrong password {t['wrong_password']:.2f} = {t['unknown_user'] / t['wrong_password']:.3f}")
    ms = argon["ms_per_hash"]
    workers, cores = argon["hash_workers"], argon["cores"]
    if rows:
        print()
        print(f"oha (the assertion rows: examples/assertion_load), {args.connections} connections, "
              f"{args.seconds} s runs, median of {args.runs}; load generator on the same {cores}-core machine")
        print()
        print("| backend | scenario | req/s | p50 ms | p99 ms | errors | peak RSS MiB | server CPU µs/req "
              "| database+Redis CPU µs/req | load generator CPU µs/req |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for backend, name, m in rows:
        print(f"| {backend} | {name} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
              f"{m['errors']:.0f} | {m['rss_mib']:.1f} | {m['cpu_us']:.1f} | {m.get('store_us', 0):.1f} | "
              f"{m.get('load_us', 0):.1f} |")
    print()
    print(f"argon2id m={argon['memory_kib']} KiB t={argon['iterations']} p={argon['parallelism']}: "
          f"{ms:.1f} ms per hash on this machine")
    print(f"login ceiling: cores/hash = {cores / ms * 1000:.0f}/s; with {workers} hashing thread(s) = "
          f"{workers / ms * 1000:.0f}/s")
    idle = {b: m["rps"] for b, n, m in rows if n == "/access_token (Basic)"}
    if "bare" in idle:
        for backend, rps in idle.items():
            if backend != "bare":
                print(f"{backend}: /access_token (Basic) = {rps / idle['bare']:.0%} of the bare handler "
                      f"({rps:.0f} vs {idle['bare']:.0f}/s)")
    for backend, name, m in rows:
        if name.startswith("/access_token (Basic, quota") and backend in idle:
            print(f"{backend}: {name} = {m['rps'] / idle[backend]:.0%} of the rate without a quota "
                  f"(p99 {m['p99_ms']:.2f} ms)")
    bare_rows = [m for b, n, m in rows if b == "bare"]
    for backend, name, m in rows:
        if backend != "bare" and bare_rows and name != "/customer_authenticate":
            b = bare_rows[0]
            print(f"{backend}: {name} = {m['rps'] / b['rps']:.2f} of the bare handler's rate, "
                  f"p99 {m['p99_ms'] / b['p99_ms']:.2f}x, server CPU per request {m['cpu_us']:.1f} µs "
                  f"({m['cpu_us'] / b['cpu_us']:.2f}x the bare handler's {b['cpu_us']:.1f})")
    if sprays:
        print()
        print(f"Spray: {args.spray_seconds} s, {args.connections} connections of wrong secrets for a new random "
              "client_id each, one address; a valid cached client at 50/s beside it; limits 10/pair, "
              "100/address per minute")
        print()
        print("| backend | spray req/s | 429 | 401 (let through) per window | peak RSS MiB | valid p50 ms | "
              "valid p99 ms | valid max ms | valid errors |")
        print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
        for backend, o in sprays:
            v = o["valid"]
            print(f"| {backend} | {o['requests'] / o['seconds']:.0f} | {o['statuses'].get('429', 0)} | "
                  f"{o['through_by_window']} | {o['rss_mib']:.1f} | {v['p50_ms']:.1f} | {v['p99_ms']:.1f} | "
                  f"{v['max_ms']:.1f} | {v['errors']} |")
    if opsrows:
        print()
        print("Operations (issue 13): /access_token (Basic) with /metrics scraped every second; then SIGTERM. "
              "200s counted by oha (warm-up included) against the usage table and the tokens-issued counter:")
        print()
        print("| backend | req/s | p99 ms | share of bare | p99 vs bare | 200s | usage rows sum | counter | scrapes (failed) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        bare = [m for b, n, m in rows if b == "bare"]
        for backend, m in opsrows:
            share = f"{m['rps'] / bare[0]['rps']:.2f}" if bare else "-"
            p99 = f"{m['p99_ms'] / bare[0]['p99_ms']:.2f}x" if bare else "-"
            print(f"| {backend} | {m['rps']:.0f} | {m['p99_ms']:.2f} | {share} | {p99} | {m['ok']} | {m['usage']} | "
                  f"{m['counter']:.0f} | {m['scrapes']} ({m['scrape_errors']}) |")
            if m["ok"] != m["usage"] or m["ok"] != m["counter"]:
                print(f"  MISMATCH on {backend}: the usage table or the counter differs from the 200s counted")
    secret_rows = {b: m for b, n, m in rows if n == "/access_token (Basic), assertion_load"}
    for backend, name, m in rows:
        if name == "/access_token (private_key_jwt, ES256)" and backend in secret_rows:
            print(f"{backend}: private_key_jwt = {m['rps'] / secret_rows[backend]['rps']:.2f} of the secret-based "
                  f"rate ({m['rps']:.0f} vs {secret_rows[backend]['rps']:.0f}/s; target: at least 0.50)")
    bearer_rows = {(b, n.split(" ")[0]): m for b, n, m in rows if n.endswith("(bearer), dpop_load")
                   or n == "/access_token (Basic, bearer), dpop_load"}
    for backend, name, m in rows:
        if "DPoP ES256" in name and (backend, name.split(" ")[0]) in bearer_rows:
            b = bearer_rows[(backend, name.split(" ")[0])]
            print(f"{backend}: {name} = {m['rps'] / b['rps']:.2f} of the bearer rate "
                  f"({m['rps']:.0f} vs {b['rps']:.0f}/s; target: at least 0.50)")
    if crypto:
        v = crypto["es256_table_verify_us"]
        print(f"ES256 on this machine (one core, key parsed once): verification {crypto['es256_verify_us']:.1f} µs "
              f"by aws-lc, {v:.1f} µs on a busy key's own table (security/es256.rs; the server's for the "
              f"benchmark's one key after its first 16 requests), signature {crypto['es256_sign_us']:.1f} µs. "
              "Per request, all CPU counted (server, database or Redis, load generator): C the secret / bearer "
              "request, C' the ES256 one, X = C' - C - V what it costs beyond one verification V on the table; "
              "'at most' is the ratio if X were 0, with the CPU the ES256 run had:")
        pairs = [(b, "private_key_jwt", secret_rows[b], m) for b, n, m in rows
                 if n == "/access_token (private_key_jwt, ES256)" and b in secret_rows]
        pairs += [(b, n, bearer_rows[(b, n.split(" ")[0])], m) for b, n, m in rows
                  if "DPoP ES256" in n and (b, n.split(" ")[0]) in bearer_rows]
        for backend, what, sec, es in pairs:
            c = sec["cpu_us"] + sec.get("store_us", 0) + sec.get("load_us", 0)
            c2 = es["cpu_us"] + es.get("store_us", 0) + es.get("load_us", 0)
            cores = es["rps"] * c2 / 1e6
            print(f"  {backend}: {what}: C {c:.1f}, C' {c2:.1f}, X {c2 - c - v:.1f} µs; {cores:.2f} cores busy; "
                  f"at most {cores * 1e6 / (c + v) / sec['rps']:.2f} (measured {es['rps'] / sec['rps']:.2f})")
    for backend, name, m in rows:
        if name == "/customer_authenticate":
            print(f"{backend}: login {m['rps']:.0f}/s = {m['rps'] / (workers / ms * 1000):.0%} of the "
                  f"{workers}-thread ceiling, {m['rps'] / (cores / ms * 1000):.0%} of cores/hash")
        if name == "/access_token during login flood" and backend in idle:
            print(f"{backend}: tokens during the login flood = {m['rps'] / idle[backend]:.0%} of idle "
                  f"(p99 {m['p99_ms']:.1f} ms; the flood itself ran at {m['flood_rps']:.0f} logins/s)")


if __name__ == "__main__":
    main()
