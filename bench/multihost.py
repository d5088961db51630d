"""`make bench` (as root): /v1 throughput and p99 per gateway host against the round-trip time
to Redis, on the multi-host rig (Tests/harness/netns_rig.py: three gateway hosts, Redis, each
in its own network namespace; wrk runs in the client namespace, one per host, all at once).

The kernel here has no netem qdisc, so the round trip is made by bench/delay_relay.py, a
userspace TCP relay in the rig's `relay` namespace between the hosts and Redis (not netem: it
delays whole reads, drops nothing, and costs a Python hop of its own; its 0 ms row measures
that). Rows: Redis reached directly, then through the relay at 0, 1 and 5 ms; each with the
revocation watch on (the default: a token checked a moment ago is not read again) and off
(REVOCATION_WATCH=off: every call reads revocation and ban from Redis). LiteLLM is replaced by a
static upstream in each host's nginx (bench/bench.conf), as in bench/run.py.

    python3 bench/multihost.py [--seconds 5] [--rounds 3] [--connections 4,16] [--delays 0,1,5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests"))
from run import parse_wrk  # noqa: E402  (bench/run.py, next to this file)

from harness.checks import wait_until  # noqa: E402
from harness.netns_rig import REDIS_PORT, RELAY_PORT, Rig, in_ns  # noqa: E402
from harness.redis_topology import UNREACHABLE  # noqa: E402

STATIC_PORT, REF_PORT = 4100, 4101


def wrk_all(rig, token, connections, seconds) -> dict:
    """One wrk per host, all at once, from the client namespace."""
    runs = {
        name: subprocess.Popen(
            in_ns(
                "client",
                "wrk",
                "-t",
                "1",
                "-c",
                connections,
                "-d",
                f"{seconds}s",
                "--latency",
                "-H",
                f"Authorization: Bearer {token}",
                f"{host.base}/v1/models",
            ),
            stdout=subprocess.PIPE,
            text=True,
        )
        for name, host in rig.hosts.items()
    }
    return {name: parse_wrk(run.communicate()[0]) for name, run in runs.items()}


def redis_rtt_ms(rig, via) -> float:
    """Median PING round trip from the client namespace to Redis (directly or through the relay)."""
    client = rig.redis(via, RELAY_PORT if via == "relay" else REDIS_PORT)
    client.ping()
    samples = []
    for _ in range(200):
        began = time.perf_counter()
        client.ping()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def restart_hosts(rig, **settings):
    """Every host killed and started again with these settings (nothing else restarts)."""
    for name, host in rig.hosts.items():
        host.env.update({key: str(value) for key, value in settings.items()})
        rig.kill_host(name)
        rig.start_host(name)


def measure(rig, token, label, watch, via, connections, seconds, lines, repeat=1):
    for host in rig.hosts.values():
        wait_until(
            lambda host=host: (
                requests.get(host.url("/v1/models"), headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200
            ),
            20,
            f"{host.name} to answer",
            ignore=UNREACHABLE,
        )
    rtt = redis_rtt_ms(rig, via)
    wrk_all(rig, token, connections[-1], 1)  # warm-up
    for count in connections:
        rounds = [wrk_all(rig, token, count, seconds) for _ in range(repeat)]
        results = {
            name: {key: statistics.median(r[name][key] for r in rounds) for key in ("rps", "p50", "p99", "non2xx")} for name in rounds[0]
        }
        for name, result in sorted(results.items()):
            lines.append(
                f"| {label} | {rtt:.2f} | {watch} | {count} | {name} | {result['rps']:.0f} | "
                f"{result['p50']:.2f} | {result['p99']:.2f} | {result['non2xx']:.0f} |"
            )
        total = sum(r["rps"] for r in results.values())
        lines.append(f"| {label} | {rtt:.2f} | {watch} | {count} | **all** | **{total:.0f}** | | | |")
        print(lines[-1], file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per row (medians are shown)")
    parser.add_argument("--connections", default="4,16", help="wrk connections per host, each measured")
    parser.add_argument("--delays", default="0,1,5", help="round trips added by the relay, ms")
    parser.add_argument("--out", default=str(ROOT / "test-artifacts" / "bench-multihost.md"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/multihost.py: skipped (needs root for ip netns)")
        return
    settings = dict(
        NGINX_EXTRA_CONF=str(ROOT / "bench" / "bench.conf"),
        BENCH_STATIC_PORT=STATIC_PORT,
        BENCH_REF_PORT=REF_PORT,
        BENCH_NOOP_SOCKET="/nonexistent/noop.sock",
        LITELLM_UPSTREAM=f"127.0.0.1:{STATIC_PORT}",
        WORKER_THREADS="16",
    )
    lines = [
        "| Redis | measured RTT ms | revocation watch | conns per host | host | req/s | p50 ms | p99 ms | non-2xx |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    with Rig(litellm=False, sentinels=False, redis_host="redis1", **settings) as rig:
        rig.start_relay(0)
        session = requests.Session()
        host_a = rig.hosts["a"]
        session.post(host_a.url("/oauth2/sign_in"), data={"email": "bench@example.com"}, allow_redirects=False)
        token = session.post(host_a.url("/api/token/generate"), json={"token_name": "bench"}).json()["token"]
        connections = args.connections.split(",")
        for watch in ("on", "off"):
            restart_hosts(rig, REVOCATION_WATCH=watch, REDIS_HOST=rig.address["redis1"], REDIS_PORT=REDIS_PORT)
            measure(rig, token, "direct", watch, "redis1", connections, args.seconds, lines, repeat=args.rounds)
            restart_hosts(rig, REDIS_HOST=rig.address["relay"], REDIS_PORT=RELAY_PORT)
            for delay in (float(d) for d in args.delays.split(",")):
                rig.start_relay(delay)  # the hosts reconnect by themselves
                measure(rig, token, f"relay +{delay:g} ms", watch, "relay", connections, args.seconds, lines, repeat=args.rounds)
    header = (
        f"Multi-host benchmark {time.strftime('%Y-%m-%d %H:%M:%S')}: three gateway hosts (1 nginx worker, "
        f"16 worker threads each), one wrk per host for {args.seconds}s, medians of {args.rounds} rounds, "
        f"all at once, {os.cpu_count()} cores shared by everything\n"
    )
    text = header + "\n" + "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
