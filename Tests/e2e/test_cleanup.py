"""The Redis cleanup through nginx against the real stack: the preview (a dry run of the same
phases, its counts equal to the run's), the background job with its lock across hosts,
progress, cancel and log, data the Lua gateway wrote (found by the index passes), and the
scheduled run."""

import json
import time
import uuid

import pytest
import requests

from harness.checks import wait_for_index_pass, wait_until
from harness.stack import running_stack, sibling_stack

ADMINS = ("root@example.com", "admin@example.com", "someone@admins.example.org")
GATEWAY_ENDPOINTS = [
    ("GET", "/api/admin/redis/cleanup/preview"),
    ("POST", "/api/admin/redis/cleanup"),
    ("GET", "/api/admin/redis/cleanup/logs"),
    ("GET", "/api/admin/redis/cleanup/job"),
    ("POST", "/api/admin/redis/cleanup/cancel"),
]


# --- Redis cleanup -----------------------------------------------------------------------


@pytest.mark.parametrize("method,path", GATEWAY_ENDPOINTS)
def test_cleanup_endpoints_are_for_admins_only(stack, email, method, path):
    assert requests.request(method, stack.url(path)).status_code == 401
    # A header value cannot make a caller the scheduled system run (the Lua trusted cron@system).
    forged = {"X-Forwarded-Email": "cron@system", "X-Auth-Request-Email": "cron@system"}
    assert requests.request(method, stack.url(path), headers=forged).status_code == 401
    refused = stack.sign_in(email).request(method, stack.url(path), headers=forged)
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_admin"
    # Admins get the answer: a started job is 202, a second one while it runs (or a cancel with
    # none running) 409 with its code.
    allowed = {"POST": (202, 409)}.get(method, (200,))
    for admin in ADMINS:
        answer = stack.sign_in(admin).request(method, stack.url(path))
        assert answer.status_code in allowed, (admin, answer.text)
    wait_for_job(stack, stack.sign_in("root@example.com"))


def wait_for_job(stack, admin, started=None, timeout=180):
    """Waits until the cleanup job (the one `started`, if given) has ended; returns its state."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = admin.get(stack.url("/api/admin/redis/cleanup/job")).json()["job"]
        if job is None or (job["state"] != "running" and (started is None or job["cleanup_id"] == started)):
            return job
        time.sleep(0.1)
    raise AssertionError(f"cleanup job still running after {timeout}s: {job}")


def run_cleanup(stack, admin):
    """Starts a cleanup job (waiting for a running one first) and waits for its end."""
    wait_for_job(stack, admin)
    started = admin.post(stack.url("/api/admin/redis/cleanup"))
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["state"] == "running" and body["job"]["executed_by"]
    job = wait_for_job(stack, admin, body["cleanup_id"])
    assert job["state"] == "done", job
    return job


def plant_orphans(r, tag):
    users = {name: f"{name}-{tag}@example.com" for name in ("mixed", "allgone", "meta", "live")}
    r.sadd(f"user:tokens:{users['mixed']}", "kept-" + tag, "gone-" + tag)
    r.set(f"token:info:kept-{tag}", "{}", ex=600)
    r.sadd(f"user:tokens:{users['allgone']}", "gone1-" + tag, "gone2-" + tag)
    r.set(f"active_user_metadata:{users['meta']}", "{}")
    r.set(f"active_user_metadata:{users['live']}", "{}")
    r.sadd(f"active_user:{users['live']}", "session")
    r.sadd("active_users", users["meta"], users["live"])
    return users


def test_cleanup_preview_shows_expired_tokens_from_the_index(stack, email):
    """A token whose lifetime ends: Redis drops its record (TTL), its id stays in the owner's
    set; the preview (reading the indexes, not the keyspace) lists it, exactly counted."""
    browser = stack.sign_in(email)
    short = browser.post(stack.url("/api/token/generate"), json={"token_name": "short", "expires_in": 1}).json()["token_id"]
    kept = browser.post(stack.url("/api/token/generate"), json={"token_name": "kept"}).json()["token_id"]
    deadline = time.time() + 10
    while stack.redis.exists(f"token:info:{short}") and time.time() < deadline:
        time.sleep(0.1)  # Redis expires the record by its TTL
    assert not stack.redis.exists(f"token:info:{short}")
    admin = stack.sign_in("admin@example.com")
    preview = admin.get(stack.url("/api/admin/redis/cleanup/preview")).json()
    token_targets = {(t["user_email"], t["token_id"]) for t in preview["targets"]["orphaned_jwt_token_ids"]}
    assert (email, short) in token_targets and (email, kept) not in token_targets
    assert preview["counts"]["orphaned_jwt_token_ids"] >= 1
    assert preview["config"]["log_retention_days"] == 30
    assert stack.redis.sismember(f"user:tokens:{email}", short)  # the preview changes nothing

    job = run_cleanup(stack, admin)
    assert not stack.redis.sismember(f"user:tokens:{email}", short)
    assert stack.redis.sismember(f"user:tokens:{email}", kept)
    assert ("orphaned_jwt_token_id", email, short) in {
        (i["type"], i.get("user_email"), i.get("token_id")) for i in job["log"]["deleted_items"]
    }


def test_cleanup_job_removes_lua_era_leftovers_and_keeps_a_log(stack):
    """Data written by the Lua gateway (no index entries): an index pass finds it, the job removes it."""
    tag = uuid.uuid4().hex[:8]
    users = plant_orphans(stack.redis, tag)
    wait_for_index_pass(stack.redis)
    admin = stack.sign_in("admin@example.com")
    job = run_cleanup(stack, admin)
    result = job["log"]
    assert job["processed"] > 0 and job["processed"] <= job["total"]
    assert result["executed_by"] == "admin@example.com" and result["manual"] is True and result["cancelled"] is False
    assert result["results"]["orphaned_jwt_token_ids_deleted"] >= 3
    assert result["results"]["empty_token_sets_deleted"] >= 1
    assert result["results"]["orphaned_metadata_deleted"] >= 1
    assert result["results"]["stale_active_users_removed"] >= 1
    counted = (
        "orphaned_jwt_token_ids_deleted",
        "orphaned_metadata_deleted",
        "empty_token_sets_deleted",
        "stale_active_users_removed",
        "stale_sessions_removed",
    )
    assert result["total_deleted"] == sum(result["results"][k] for k in counted)
    items = {(i["type"], i.get("user_email"), i.get("token_id")) for i in result["deleted_items"]}
    assert ("orphaned_jwt_token_id", users["mixed"], "gone-" + tag) in items
    assert ("empty_token_set", users["allgone"], None) in items
    assert ("orphaned_metadata", users["meta"], None) in items
    assert ("stale_active_user", users["meta"], None) in items

    r = stack.redis
    assert r.smembers(f"user:tokens:{users['mixed']}") == {"kept-" + tag}
    assert not r.exists(f"user:tokens:{users['allgone']}")
    assert not r.exists(f"active_user_metadata:{users['meta']}")
    assert r.exists(f"active_user_metadata:{users['live']}")
    assert not r.sismember("active_users", users["meta"]) and r.sismember("active_users", users["live"])
    # The live Lua-era user is now in the gateway's active-user index.
    listed = admin.get(stack.url("/api/admin/sessions/active-users")).json()["active_users"]
    assert users["live"] in {u["email"] for u in listed}

    cleanup_id = job["cleanup_id"]
    ttl = r.ttl(f"cleanup:log:{cleanup_id}")
    assert 30 * 86400 - 60 < ttl <= 30 * 86400
    assert r.zscore("cleanup:logs", cleanup_id) == result["timestamp"]

    logs = admin.get(stack.url("/api/admin/redis/cleanup/logs")).json()
    assert logs["retention_days"] == 30 and logs["total_logs"] == len(logs["logs"])
    newest = next(log for log in logs["logs"] if log["cleanup_id"] == cleanup_id)
    assert newest["executed_by"] == "admin@example.com"
    assert {(i["type"], i.get("user_email")) for i in newest["deleted_items"]} >= {("orphaned_metadata", users["meta"])}
    entries = admin.get(stack.url("/api/admin/audit?limit=50")).json()["entries"]
    assert any(e["action"] == "redis.cleanup" and e["target"] == cleanup_id and e["actor"] == "admin@example.com" for e in entries)


COUNTED = {
    "orphaned_jwt_token_ids": "orphaned_jwt_token_ids_deleted",
    "orphaned_metadata": "orphaned_metadata_deleted",
    "empty_token_sets": "empty_token_sets_deleted",
    "stale_active_users": "stale_active_users_removed",
    "stale_sessions": "stale_sessions_removed",
}


def test_preview_counts_are_what_the_run_then_removes(stack):
    """Lua-format leftovers (ids without records, metadata without an active user, stale
    `active_users` members) and records that expire by their TTL: the preview's counts per kind
    are exactly what the run then removes, and the confirm dialog's numbers are these."""
    tag = uuid.uuid4().hex[:8]
    r = stack.redis
    admin = stack.sign_in("admin@example.com")
    wait_for_job(stack, admin)
    run_cleanup(stack, admin)  # what earlier tests left is gone: the counts below are this test's
    plant_orphans(r, tag)
    now = int(time.time())
    for n in range(40):  # Lua-format tokens whose records expire (TTL 1 s) in sets that keep their ids
        owner = f"exp{n % 7}-{tag}@example.com"
        info = {"token_id": f"exp{n}-{tag}", "user_email": owner, "token_name": "t", "created_at": now, "expires_at": now + 1}
        r.set(f"token:info:exp{n}-{tag}", json.dumps(info), ex=1)
        r.sadd(f"user:tokens:{owner}", f"exp{n}-{tag}")
    for n in range(5):  # Lua-format active users whose active period ends, metadata left behind
        user = f"ended{n}-{tag}@example.com"
        r.sadd(f"active_user:{user}", "s")
        r.expire(f"active_user:{user}", 1)
        r.set(f"active_user_metadata:{user}", "{}")
        r.sadd("active_users", user)
    wait_for_index_pass(r)  # indexes the records while they live
    wait_until(lambda: not r.exists(f"token:info:exp0-{tag}", f"active_user:ended0-{tag}@example.com"), what="TTL")
    wait_for_index_pass(r)
    preview = admin.get(stack.url("/api/admin/redis/cleanup/preview")).json()
    assert preview["preview"] is True
    assert preview["counts"]["orphaned_jwt_token_ids"] == 3 + 40
    assert preview["counts"]["empty_token_sets"] == 1 + 7
    assert preview["counts"]["orphaned_metadata"] == 1 + 5 and preview["counts"]["stale_active_users"] == 1 + 5
    assert r.scard(f"user:tokens:exp0-{tag}@example.com") > 0  # the preview changed nothing
    job = run_cleanup(stack, admin)
    results = job["log"]["results"]
    assert {kind: results[field] for kind, field in COUNTED.items()} == {kind: preview["counts"][kind] for kind in COUNTED}
    assert job["log"]["total_deleted"] == preview["counts"]["total"]
    # Nothing is left: a second preview finds nothing.
    assert admin.get(stack.url("/api/admin/redis/cleanup/preview")).json()["counts"]["total"] == 0


def test_one_cleanup_job_at_a_time_across_hosts_and_cancel(stack):
    """Two gateway instances on one Redis: while a job runs (started on one), the other refuses
    a second one; a cancel stops it after its batch with a log of what it did."""
    r = stack.redis
    # Enough due index entries (revocations whose record is gone) that the job is still running
    # when the second host asks.
    fill = "for i = ARGV[1], ARGV[1] + 49999 do redis.call('ZADD', 'gw:idx:revoked', 0, 'cancel-test:' .. i) end"
    for start in range(0, 300_000, 50_000):  # in parts: a script blocks Redis while it runs
        r.eval(fill, 0, start)
    admin = stack.sign_in("admin@example.com")
    wait_for_job(stack, admin)
    with sibling_stack(stack, "cleanup-lock") as other:
        started = admin.post(stack.url("/api/admin/redis/cleanup")).json()
        refused = other.sign_in("root@example.com").post(other.url("/api/admin/redis/cleanup"))
        assert refused.status_code == 409 and refused.json()["code"] == "cleanup_running"
        assert refused.json()["job"]["cleanup_id"] == started["cleanup_id"]
        cancelled = other.sign_in("root@example.com").post(other.url("/api/admin/redis/cleanup/cancel"))
        assert cancelled.status_code == 202 and cancelled.json()["cleanup_id"] == started["cleanup_id"]
    job = wait_for_job(stack, admin, started["cleanup_id"])
    assert job["state"] == "cancelled" and job["log"]["cancelled"] is True
    assert job["processed"] < job["total"]
    assert not r.exists("gw:cleanup:job:lock")
    assert admin.post(stack.url("/api/admin/redis/cleanup/cancel")).status_code == 409
    for start in range(0, 300_000, 50_000):
        r.eval("for i = ARGV[1], ARGV[1] + 49999 do redis.call('ZREM', 'gw:idx:revoked', 'cancel-test:' .. i) end", 0, start)


def test_cleanup_ids_are_unique_and_old_log_entries_trimmed(stack):
    stack.redis.zadd("cleanup:logs", {"ancient": time.time() - 31 * 86400})
    admin = stack.sign_in("root@example.com")
    ids = {run_cleanup(stack, admin)["cleanup_id"] for _ in range(3)}
    assert len(ids) == 3
    assert stack.redis.zscore("cleanup:logs", "ancient") is None
    listed = [log["cleanup_id"] for log in admin.get(stack.url("/api/admin/redis/cleanup/logs")).json()["logs"]]
    assert ids <= set(listed)


# --- scheduled cleanup -------------------------------------------------------------------


@pytest.fixture(scope="module")
def scheduled_stack():
    """A second stack (without LiteLLM) whose workers run the cleanup every 2 seconds."""
    with running_stack("gateway-e2e-cleanup", CLEANUP_INTERVAL_SECONDS="2", START_LITELLM="0") as started:
        yield started


def test_scheduled_cleanup_runs_as_the_system(scheduled_stack):
    r = scheduled_stack.redis
    email = f"sched-{uuid.uuid4().hex[:8]}@example.com"
    r.set(f"active_user_metadata:{email}", "{}")
    deadline = time.time() + 15
    while r.exists(f"active_user_metadata:{email}") and time.time() < deadline:
        time.sleep(0.2)
    assert not r.exists(f"active_user_metadata:{email}")

    # The run's log is stored when the run ends, a moment after the deletion.
    reader = scheduled_stack.sign_in("root@example.com")
    deadline = time.time() + 15
    while True:
        logs = reader.get(scheduled_stack.url("/api/admin/redis/cleanup/logs")).json()["logs"]
        run = next((log for log in logs if any(i.get("user_email") == email for i in log["deleted_items"])), None)
        if run or time.time() > deadline:
            break
        time.sleep(0.2)
    assert run, "no cleanup log lists the deleted metadata"
    assert run["executed_by"] == "system" and run["manual"] is False
    # One run per interval across the worker's threads and processes (the Redis lock).
    first = min(log["timestamp"] for log in logs)
    admin = scheduled_stack.sign_in("root@example.com")

    def logs_spanning_four_seconds():
        current = admin.get(scheduled_stack.url("/api/admin/redis/cleanup/logs")).json()["logs"]
        return current if max(log["timestamp"] for log in current) >= first + 4 else None

    logs = wait_until(logs_spanning_four_seconds, timeout=15, interval=0.2, what="cleanup runs 4 s after the first")
    span = max(log["timestamp"] for log in logs) - first
    assert len(logs) <= span // 2 + 2, [log["timestamp"] for log in logs]
    entries = scheduled_stack.sign_in("root@example.com").get(scheduled_stack.url("/api/admin/audit")).json()["entries"]
    assert any(e["action"] == "redis.cleanup" and e["actor"] == "system" for e in entries)
