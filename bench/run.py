"""`make bench`: measures the gateway's own cost with wrk, side by side in one run.

Cases (all through the same nginx, LiteLLM replaced by a static upstream):
  a  nginx proxying /v1 with no access check
  n  the same behind a FastCGI hop to a C responder that does nothing (the ceiling)
  b  /v1 through the Swift JWT check (signature, revocation, ban, tracking)
  r  the same check asked the other stock way: the worker answering the request itself
     (fastcgi_pass, allow = X-Accel-Redirect), the gateway's /v1 wiring before it moved to
     auth_request (b), which refuses before nginx reads a body (how the worker is reached is the
     only difference to b)
  c  a browser path: the dev identity check (auth_request) + the Swift page check
  d  token generation (POST /api/token/generate)
  e  an admin list page (limit=100) over 100,000 seeded tokens (when the token admin API exists)
  v  case b on a second gateway instance with the decision cache on (V1_DECISION_CACHE_MS=1000,
     same Redis and secrets): nginx answers repeats of the check from its cache
  s  case b on a second gateway instance configured with Redis Sentinel (REDIS_SENTINELS: a
     replica of the same Redis and one sentinel): compare its responder CPU µs/req with b's (its
     req/s also pays for a second nginx on the same cores)
  admin  every admin view at scale, timed with sequential requests, then the cleanup job with /v1
     measured before and during it (bench/admin_scale.py; runs last; --admin-scale small|full)

Each case runs at 16 and 64 connections, repeated in interleaved rounds; the table shows
medians, the ratios b/n, b/a, v/a, v/b, c/a, d/a, and the CPU time the responders (the noop for n, the
worker for b/r/e, worker + identity service for c/d) spent per request, which the machine's noise
disturbs far less than throughput. The machine is shared and noisy: compare ratios
measured in one run, not absolute numbers across runs.
"""

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests"))
from harness.stack import free_port, pid_of, rss_kb, started_stack  # noqa: E402


def parse_wrk(output: str):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))

    def percentile(label):
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return {
        "rps": rps,
        "p50": percentile("50"),
        "p99": percentile("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def wrk(url, connections, seconds, headers=(), script=None):
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", script]
    command.append(url)
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_wrk(result.stdout)


def cpu_seconds(pids) -> float:
    """User + system CPU time of these processes and their threads so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def report_admin_scale(args, env, gateway, admin, lines, v1_probe=None):
    """Case admin: seeds the scale data set, times every admin view, then runs the cleanup job
    and measures /v1 (`v1_probe`) before and during it (bench/admin_scale.py)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import admin_scale

    lines += admin_scale.run(gateway, int(env["REDIS_PORT"]), admin, args.admin_scale, v1_probe)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="duration of one measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions (medians are reported)")
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--cases", default="a,n,b,r,v,c,d,e,s,admin")
    parser.add_argument(
        "--admin-scale",
        default="small",
        choices=["small", "migration", "full"],
        help="data set of case admin: small (a tenth) or full (1M tokens, 20k users/sessions, 2M unrelated keys)",
    )
    parser.add_argument("--tokens", type=int, default=100_000, help="tokens seeded for case e")
    parser.add_argument("--soak", type=int, default=0, help="then run case b for this many seconds and report worker RSS")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a gateway setting for this run, e.g. --set WORKER_THREADS=16 --set TRACK_INTERVAL_SECONDS=0",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        help="only profile one case (--profile-case, default b) at 64 connections for this many "
        "seconds with perf: CPU share per process, then the worker's hottest symbols",
    )
    parser.add_argument("--profile-case", default="b")
    parser.add_argument("--out", default=str(ROOT / "test-artifacts" / "bench.md"))
    args = parser.parse_args()

    bench_dir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    static_port, ref_port = free_port(), free_port()
    settings = dict(
        START_LITELLM="0",
        LITELLM_UPSTREAM=f"127.0.0.1:{static_port}",
        SUPER_ADMIN_EMAIL="root@example.com",
        BENCH_STATIC_PORT=str(static_port),
        BENCH_REF_PORT=str(ref_port),
        BENCH_NOOP_SOCKET=str(bench_dir / "noop.sock"),
        NGINX_EXTRA_CONF=str(ROOT / "bench" / "bench.conf"),
        NGINX_WORKERS=os.environ.get("NGINX_WORKERS", "2"),
    )
    for setting in args.set:
        name, _, value = setting.partition("=")
        settings[name] = value
    threads = settings.get("WORKER_THREADS", "16")  # scripts/env.sh's default
    noop_binary = bench_dir / "noop-fcgi"
    subprocess.run(["gcc", "-O2", "-o", str(noop_binary), str(ROOT / "bench" / "noop-fcgi.c"), "-lfcgi", "-lpthread"], check=True)
    noop = subprocess.Popen([str(noop_binary), settings["BENCH_NOOP_SOCKET"], threads])
    try:
        with (
            started_stack("gateway-bench", **settings) as (run_dir, env),
            sentinel_instance("s" in args.cases.split(","), run_dir, env) as sentinel_side,
            cached_instance("v" in args.cases.split(","), run_dir, env) as cached_side,
        ):
            measure(args, run_dir, env, noop, threads, ref_port, sentinel_side, cached_side)
    finally:
        noop.kill()  # libfcgi catches SIGTERM and keeps serving
        noop.wait()
        shutil.rmtree(bench_dir, ignore_errors=True)


@contextlib.contextmanager
def sentinel_instance(wanted, run_dir, env):
    """Case s: a replica of the bench's Redis, one sentinel monitoring it, and a second gateway
    instance (nginx, workers, identity; same secrets) that finds Redis through the sentinel.
    Yields (gateway URL, worker pid), or None when case s is not wanted."""
    if not wanted:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="gateway-bench-sentinel-"))
    master, replica, sentinel = env["REDIS_PORT"], free_port(), free_port()
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(replica), "--replicaof", "127.0.0.1", master]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
    processes = [subprocess.Popen(argv, stdout=subprocess.DEVNULL)]
    try:
        config = folder / "sentinel.conf"
        config.write_text(f"port {sentinel}\nbind 127.0.0.1\ndir {folder}\nsentinel monitor bench 127.0.0.1 {master} 1\n")
        processes.append(subprocess.Popen(["redis-sentinel", str(config)], stdout=subprocess.DEVNULL))
        deadline = time.time() + 20
        while (
            "master_link_status:up"
            not in subprocess.run(["redis-cli", "-p", str(replica), "info", "replication"], capture_output=True, text=True).stdout
        ):
            if time.time() > deadline:
                raise RuntimeError("the bench replica did not sync")
            time.sleep(0.1)
        settings = dict(same_secrets(run_dir, env), REDIS_SENTINELS=f"127.0.0.1:{sentinel}", REDIS_SENTINEL_MASTER="bench")
        with started_stack("gateway-bench-sentinel", **settings) as (second_dir, second_env):
            yield f"http://127.0.0.1:{second_env['GATEWAY_PORT']}", pid_of(second_dir, "worker")
    finally:
        for process in processes:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def same_secrets(run_dir, env) -> dict:
    """Settings for a second gateway instance on the bench's Redis and fake LiteLLM."""
    secrets = dict(line.split("=", 1) for line in (run_dir / "dev-secrets.env").read_text().split() if "=" in line)
    settings = dict(
        START_REDIS="0",
        START_LITELLM="0",
        REDIS_PORT=env["REDIS_PORT"],
        LITELLM_UPSTREAM=env["LITELLM_UPSTREAM"],
        SUPER_ADMIN_EMAIL="root@example.com",
        NGINX_WORKERS=env["NGINX_WORKERS"],
        JWT_SECRET=secrets["DEV_JWT_SECRET"],
        LITELLM_MASTER_KEY=secrets["DEV_LITELLM_MASTER_KEY"],
        LITELLM_SHARED_KEY=secrets["DEV_LITELLM_SHARED_KEY"],
        OAUTH2_PROXY_COOKIE_SECRET=secrets["DEV_COOKIE_SECRET"],
    )
    settings.update({key: env[key] for key in ("WORKER_THREADS", "TRACK_INTERVAL_SECONDS") if key in env})
    return settings


@contextlib.contextmanager
def cached_instance(wanted, run_dir, env):
    """Case v: a second gateway instance like the first, with V1_DECISION_CACHE_MS=1000.
    Yields (gateway URL, worker pid), or None when case v is not wanted."""
    if not wanted:
        yield None
        return
    with started_stack("gateway-bench-cache", **same_secrets(run_dir, env), V1_DECISION_CACHE_MS="1000") as (second_dir, second_env):
        yield f"http://127.0.0.1:{second_env['GATEWAY_PORT']}", pid_of(second_dir, "worker")


def measure(args, run_dir, env, noop, threads, ref_port, sentinel_side=None, cached_side=None):
    gateway = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    reference = f"http://127.0.0.1:{ref_port}"
    session = requests.Session()
    session.post(gateway + "/oauth2/sign_in", data={"email": "bench@example.com"}, allow_redirects=False)
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    token = session.post(gateway + "/api/token/generate", json={"token_name": "bench"}).json()["token"]
    admin = requests.Session()
    admin.post(gateway + "/oauth2/sign_in", data={"email": "root@example.com"}, allow_redirects=False)
    admin_cookie = "; ".join(f"{k}={v}" for k, v in admin.cookies.items())
    generate_script = run_dir / "generate.lua"
    generate_script.write_text(
        'wrk.method = "POST"\nwrk.body = \'{"token_name":"bench","expires_in":60}\'\nwrk.headers["Content-Type"] = "application/json"\n'
    )
    pid = pid_of(run_dir, "worker")
    identity_pid = pid_of(run_dir, "identity")
    # Whose CPU time each case costs beyond nginx and Redis (µs per request in the table).
    responders = {"n": [noop.pid], "b": [pid], "r": [pid], "c": [pid, identity_pid], "d": [pid, identity_pid], "e": [pid]}

    cases = {
        "a": dict(url=reference + "/a/v1/models"),
        "n": dict(url=reference + "/n/v1/models"),
        "b": dict(url=gateway + "/v1/models", headers=[f"Authorization: Bearer {token}"]),
        "r": dict(url=reference + "/r/v1/models", headers=[f"Authorization: Bearer {token}"]),
        "c": dict(url=gateway + "/token-manager", headers=[f"Cookie: {cookie}"]),
        "d": dict(url=gateway + "/api/token/generate", headers=[f"Cookie: {cookie}"], script=str(generate_script)),
        "e": dict(url=gateway + "/api/admin/tokens?limit=100", headers=[f"Cookie: {admin_cookie}"]),
    }
    if sentinel_side:
        cases["s"] = dict(url=sentinel_side[0] + "/v1/models", headers=[f"Authorization: Bearer {token}"])
        responders["s"] = [sentinel_side[1]]
    if cached_side:
        cases["v"] = dict(url=cached_side[0] + "/v1/models", headers=[f"Authorization: Bearer {token}"])
        responders["v"] = [cached_side[1]]
    wanted = [c for c in args.cases.split(",") if c in cases]
    admin_case = "admin" in args.cases.split(",")

    def v1_probe(seconds):
        return wrk(cases["b"]["url"], 16, seconds, cases["b"]["headers"])

    if "e" in wanted:
        probe = admin.get(gateway + "/api/admin/tokens?limit=1")
        seed = ROOT / "scripts" / "seed-tokens"
        if probe.status_code != 200 or not seed.exists():
            print(f"case e skipped: the token admin list is not available ({probe.status_code})")
            wanted.remove("e")
        else:
            subprocess.run([str(seed), "--port", env["REDIS_PORT"], "--tokens", str(args.tokens)], check=True, cwd=ROOT)
    for case in ("b", "s", "v"):
        if case == "b" or case in wanted:
            probe = requests.get(cases[case]["url"], headers={"Authorization": f"Bearer {token}"})
            assert probe.status_code == 200, (case, probe.text)

    if args.profile:
        data = run_dir / "perf.data"
        spec = cases[args.profile_case]
        recorder = subprocess.Popen(["perf", "record", "-a", "-F", "1999", "-g", "-o", str(data)], stderr=subprocess.DEVNULL)
        result = wrk(spec["url"], 64, args.profile, spec.get("headers", ()), spec.get("script"))
        recorder.terminate()
        recorder.wait()
        print(f"case {args.profile_case}: {result['rps']:.0f} req/s at 64 connections under perf")
        for sort, extra in (("comm", []), ("dso,symbol", ["--comm", "gateway-worker"])):
            report = subprocess.run(
                [
                    "perf",
                    "report",
                    "-i",
                    str(data),
                    "--no-children",
                    "--sort",
                    sort,
                    *extra,
                    "--stdio",
                    "-g",
                    "none",
                    "--percent-limit",
                    "0.7",
                ],
                capture_output=True,
                text=True,
            )
            print("\n".join(line[:140].rstrip() for line in report.stdout.splitlines() if line.strip() and not line.startswith("#"))[:8000])
        return

    if not wanted:  # only case admin
        lines = []
        report_admin_scale(args, env, gateway, admin, lines, v1_probe)
        print("\n".join(lines))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")
        return
    connections = [int(c) for c in args.connections.split(",")]
    results = {(case, c): [] for case in wanted for c in connections}
    rss_start = rss_kb(pid)
    for case in wanted:  # warm-up
        wrk(cases[case]["url"], 16, 1, cases[case].get("headers", ()), cases[case].get("script"))
    for round_number in range(args.rounds):
        for c in connections:
            for case in wanted:
                spec = cases[case]
                before = cpu_seconds(responders.get(case, []))
                result = wrk(spec["url"], c, args.seconds, spec.get("headers", ()), spec.get("script"))
                spent = cpu_seconds(responders.get(case, [])) - before
                result["cpu_us"] = spent * 1e6 / max(result["rps"] * args.seconds, 1) if case in responders else float("nan")
                results[(case, c)].append(result)
        print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    rss_end = rss_kb(pid)

    def median(case, c, key):
        return statistics.median(r[key] for r in results[(case, c)])

    lines = ["| case | conns | req/s (median) | p50 ms | p99 ms | non-2xx | responder CPU µs/req |", "|---|---|---|---|---|---|---|"]
    for case in wanted:
        for c in connections:
            non2xx = sum(r["non2xx"] for r in results[(case, c)])
            cpu = median(case, c, "cpu_us")
            lines.append(
                f"| {case} | {c} | {median(case, c, 'rps'):.0f} | {median(case, c, 'p50'):.2f} | "
                f"{median(case, c, 'p99'):.2f} | {non2xx} | {'' if cpu != cpu else f'{cpu:.1f}'} |"
            )
    lines.append("")
    lines.append("| ratio | " + " | ".join(f"{c} conns" for c in connections) + " |")
    lines.append("|---|" + "---|" * len(connections))
    for top, bottom in (("b", "n"), ("b", "a"), ("v", "a"), ("v", "b"), ("r", "b"), ("s", "b"), ("c", "a"), ("d", "a"), ("n", "a")):
        if top in wanted and bottom in wanted:
            ratios = [median(top, c, "rps") / median(bottom, c, "rps") for c in connections]
            lines.append(f"| {top}/{bottom} | " + " | ".join(f"{r:.2f}" for r in ratios) + " |")
    if "b" in wanted and "n" in wanted:
        deltas = [median("b", c, "p99") - median("n", c, "p99") for c in connections]
        lines.append("| p99(b) − p99(n) ms | " + " | ".join(f"{d:+.2f}" for d in deltas) + " |")
    lines.append("")
    lines.append(f"worker RSS: {rss_start} kB before, {rss_end} kB after the measurements")
    if args.soak:
        before = rss_kb(pid)
        wrk(cases["b"]["url"], 64, args.soak, cases["b"]["headers"])
        after = rss_kb(pid)
        lines.append(
            f"soak: case b at 64 connections for {args.soak}s: worker RSS {before} kB → {after} kB "
            f"({(after - before) * 100 / max(before, 1):+.1f}%)"
        )
    if admin_case:
        lines.append("")
        report_admin_scale(args, env, gateway, admin, lines, v1_probe)
    header = (
        f"Benchmark {time.strftime('%Y-%m-%d %H:%M:%S')} — {args.rounds} interleaved rounds × {args.seconds}s, "
        f"nginx workers {env['NGINX_WORKERS']}, worker threads {threads}, {os.cpu_count()} cores"
        + (f", settings {' '.join(args.set)}" if args.set else "")
        + "\n"
    )
    text = header + "\n" + "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
