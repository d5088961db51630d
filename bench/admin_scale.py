"""Admin views at scale, for `make bench` (bench/run.py, case `admin`).

Seeds one Redis with what a large deployment of the Lua gateway holds, written in the Lua
gateway's format (docs/architecture.md, "Redis keyspace"; docs/migration.md): `token:info:{id}`
records and `user:tokens:{email}` sets, OAuth2 Proxy's session keys, active users (half of them
JWT users, in `active_users`), some bans, and unrelated keys of another application sharing the
Redis (LiteLLM's cache in the original deployment). No `gw:*` key is written: as on the day an
operator switches a Lua deployment over, the workers find the admin indexes missing and build
them (IndexBuild); the bench waits for that build, reports its duration and the token summary,
then times each admin view with sequential requests through nginx (median and p95).

Seeding writes the Redis protocol straight into `redis-cli --pipe` (about 6 million commands at
the full scale take well under a minute); the unrelated keys are plain strings.

Scales: `full` = 1,000,000 tokens, 20,000 users, 20,000 sessions, 2,000,000 unrelated keys;
`migration` = 300,000 tokens of 10,000 users (30 each), 10,000 sessions, 1,000,000 unrelated
keys (a migrated deployment's day one); `small` = a tenth of `full` (the default of
`make bench`, to keep a whole bench run short).
"""

import json
import os
import statistics
import subprocess
import time

SCALES = {
    "full": dict(tokens=1_000_000, users=20_000, sessions=20_000, unrelated=2_000_000, bans=200),
    "migration": dict(tokens=300_000, users=10_000, sessions=10_000, unrelated=1_000_000, bans=100),
    "small": dict(tokens=100_000, users=2_000, sessions=2_000, unrelated=200_000, bans=20),
}
COOKIE = "_oauth2_proxy"
DOMAIN = "scale.example"


def _resp(*parts) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _pipe(redis_port: int, commands) -> None:
    """Sends an iterable of RESP byte strings through `redis-cli --pipe`, in chunks."""
    proc = subprocess.Popen(
        ["redis-cli", "-p", str(redis_port), "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    buffer = []
    size = 0
    for command in commands:
        buffer.append(command)
        size += len(command)
        if size > 4_000_000:
            proc.stdin.write(b"".join(buffer))
            buffer, size = [], 0
    proc.stdin.write(b"".join(buffer))
    proc.stdin.close()
    output = proc.stdout.read().decode(errors="replace")
    if proc.wait() != 0 or "errors: 0" not in output:
        raise RuntimeError(f"redis-cli --pipe failed: {output[-500:]}")


def email_of(n: int) -> str:
    return f"user-{n}@{DOMAIN}"


def seed(redis_port: int, scale: str) -> dict:
    """Seeds the data set; returns the counts and the seconds it took."""
    sizes = SCALES[scale]
    started = time.time()
    now = int(time.time())
    users, tokens, sessions = sizes["users"], sizes["tokens"], sizes["sessions"]
    lifetime = 30 * 86400
    token_ids = []

    def token_commands():
        for n in range(tokens):
            token_id = "5ca1e%027x" % n
            token_ids.append(token_id)
            email = email_of(n % users)
            created = now - n
            info = json.dumps(
                {
                    "scopes": ["api:read", "api:write"],
                    "token_name": f"scale {n}",
                    "expires_at": created + lifetime,
                    "user_email": email,
                    "created_at": created,
                    "token_id": token_id,
                },
                separators=(",", ":"),
            )
            yield _resp("SET", "token:info:" + token_id, info, "EX", lifetime - n % lifetime)
            yield _resp("SADD", "user:tokens:" + email, token_id)

    def session_commands():
        for n in range(sessions):
            email = email_of(n % users)
            key = f"{COOKIE}-{n:032x}"
            yield _resp("SET", key, os.urandom(24).hex(), "EX", 7 * 86400)
        for n in range(users):
            email = email_of(n)
            jwt = n % 2 == 1
            last = now - n
            meta = json.dumps(
                {
                    "email": email,
                    "created_at": now - 7200,
                    "last_access": last,
                    "expires_at": now + 79200,
                    "expire_at": now + 79200,
                    "session_ttl": 86400,
                    "session_count": 1,
                    "auth_method": "jwt" if jwt else "oauth2",
                },
                separators=(",", ":"),
            )
            member = "5ca1e%027x" % n if jwt else f"{COOKIE}-{n:032x}"
            yield _resp("SADD", "active_user:" + email, member)
            yield _resp("EXPIRE", "active_user:" + email, 79200)
            yield _resp("SET", "active_user_metadata:" + email, meta, "EX", 79200)
            if jwt:
                yield _resp("SADD", "active_users", email)
        for n in range(sizes["bans"]):
            email = f"banned-{n}@{DOMAIN}"
            yield _resp("SET", "active_user_deleted:" + email, now - n, "EX", 604800)

    def unrelated_commands():
        value = b"x" * 64
        for n in range(sizes["unrelated"]):
            yield _resp("SET", b"litellm:cache:%d" % n, value)

    _pipe(redis_port, token_commands())
    _pipe(redis_port, session_commands())
    _pipe(redis_port, unrelated_commands())
    # A Redis the Lua gateway filled has no index version: the workers build the indexes.
    _pipe(redis_port, [_resp("DEL", "gw:idx:version", "gw:idx:build")])
    return dict(sizes, seconds=time.time() - started)


def wait_for_build(gateway: str, admin_session, timeout: int = 1800):
    """Waits until the admin answers no longer say `indexing`; returns (seconds, summary)."""
    started = time.time()
    while time.time() - started < timeout:
        answer = admin_session.get(gateway + "/api/admin/tokens?limit=1", timeout=60).json()
        if "indexing" not in answer:
            return time.time() - started, answer["summary"]
        time.sleep(0.5)
    raise RuntimeError(f"index build not done after {timeout} s")


def _time_view(session, url: str, budget: float, at_least: int, at_most: int):
    """Sequential GETs of one view: durations in ms until `at_most` requests or the time budget
    (with at least `at_least` requests)."""
    durations = []
    started = time.time()
    status = None
    while len(durations) < at_most and (len(durations) < at_least or time.time() - started < budget):
        t0 = time.perf_counter()
        response = session.get(url, timeout=600)
        durations.append((time.perf_counter() - t0) * 1000)
        status = response.status_code
    return durations, status


def p95(values):
    ordered = sorted(values)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def measure(gateway: str, admin_session, budget: float = 20.0, at_most: int = 60):
    """Times each admin view; returns rows (view, n, median, p95, status)."""
    probe = admin_session.get(gateway + "/api/admin/tokens?limit=100", timeout=600).json()
    deep_cursor = probe.get("next_cursor")
    for _ in range(20):  # a cursor 20 pages deep
        if not deep_cursor:
            break
        deep = admin_session.get(gateway + f"/api/admin/tokens?limit=100&cursor={deep_cursor}", timeout=600).json()
        deep_cursor = deep.get("next_cursor") or deep_cursor
    views = [
        ("GET /api/admin/tokens?limit=100", "/api/admin/tokens?limit=100"),
        ("GET /api/admin/tokens?limit=100&cursor=(page 21)", f"/api/admin/tokens?limit=100&cursor={deep_cursor}" if deep_cursor else None),
        ("GET /api/admin/tokens/{email}?limit=100", f"/api/admin/tokens/{email_of(7)}?limit=100"),
        ("GET /api/admin/sessions?limit=100", "/api/admin/sessions?limit=100"),
        ("GET /api/admin/sessions/active-users?limit=100", "/api/admin/sessions/active-users?limit=100"),
        ("GET /api/admin/sessions/stats", "/api/admin/sessions/stats"),
        ("GET /api/admin/redis/cleanup/preview", "/api/admin/redis/cleanup/preview"),
        ("GET /api/admin/redis/cleanup/logs", "/api/admin/redis/cleanup/logs"),
        ("GET /api/admin/redis/cleanup/job", "/api/admin/redis/cleanup/job"),
        ("GET /api/admin/audit?limit=100", "/api/admin/audit?limit=100"),
    ]
    rows = []
    for label, path in views:
        if path is None:
            continue
        durations, status = _time_view(admin_session, gateway + path, budget, 3, at_most)
        if status == 404 and path.endswith("/job"):
            continue  # the code under test has no cleanup job
        rows.append((label, len(durations), statistics.median(durations), p95(durations), status))
    return rows


def cleanup_run(gateway: str, admin_session, v1_probe=None, seconds: int = 5, timeout: int = 900):
    """Runs the cleanup job over the whole data set; with `v1_probe(seconds)` (wrk on /v1, case
    b) it measures /v1 before and while the job runs. Returns report lines (or none when the
    code under test has no background job)."""
    before = v1_probe(seconds) if v1_probe else None
    started = admin_session.post(gateway + "/api/admin/redis/cleanup", timeout=timeout)
    if started.status_code != 202:
        return [f"cleanup: POST answered {started.status_code} in {started.elapsed.total_seconds():.1f} s (no background job)"]
    during = v1_probe(seconds) if v1_probe else None
    deadline = time.time() + timeout
    job = None
    while time.time() < deadline:
        answer = admin_session.get(gateway + "/api/admin/redis/cleanup/job", timeout=60)
        if answer.status_code == 200:
            job = answer.json()["job"]
            if job["state"] != "running":
                break
        else:
            print(f"cleanup job state: {answer.status_code} {answer.text[:200]}", flush=True)
        time.sleep(1)
    log = (job or {}).get("log") or {}
    lines = [
        "",
        f"Cleanup job over this data set: state {job and job['state']}, {log.get('duration_ms', 0) / 1000:.1f} s, "
        f"{log.get('items_examined', 0):,} items looked at, {log.get('total_deleted', 0)} deleted",
    ]
    if before and during:
        lines += [
            "",
            "| /v1 (case b, 16 connections) | req/s | p50 ms | p99 ms |",
            "|---|---:|---:|---:|",
            f"| before the job | {before['rps']:.0f} | {before['p50']:.2f} | {before['p99']:.2f} |",
            f"| while the job runs | {during['rps']:.0f} | {during['p50']:.2f} | {during['p99']:.2f} |",
        ]
    return lines


def run(gateway: str, redis_port: int, admin_session, scale: str, v1_probe=None) -> list:
    """Seeds, measures the views, then runs the cleanup job; returns the report's lines (markdown)."""
    seeded = seed(redis_port, scale)
    build_seconds, summary = wait_for_build(gateway, admin_session)
    lines = [
        f"Admin views at scale `{scale}`: {seeded['tokens']:,} tokens of {seeded['users']:,} users, "
        f"{seeded['sessions']:,} sessions, {seeded['bans']} bans, {seeded['unrelated']:,} unrelated keys, "
        f"in the Lua gateway's format (seeded in {seeded['seconds']:.0f} s); the workers' index build took "
        f"{build_seconds:.0f} s (token summary then: {summary}); sequential requests through nginx",
        "",
        "| view | requests | median ms | p95 ms | status |",
        "|---|---:|---:|---:|---|",
    ]
    for label, count, median, high, status in measure(gateway, admin_session):
        lines.append(f"| `{label}` | {count} | {median:.1f} | {high:.1f} | {status} |")
    print("\n".join(lines), flush=True)  # kept even if the cleanup step fails
    try:
        lines += cleanup_run(gateway, admin_session, v1_probe)
    except Exception as error:  # noqa: BLE001 - the report says what went wrong
        lines += ["", f"cleanup step failed: {error!r}"]
    return lines
