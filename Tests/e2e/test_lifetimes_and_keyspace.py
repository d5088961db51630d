"""Behaviours no other test reached: every lifetime setting at a non-default value, a ban that
expires (access comes back), a ban key without TTL, the `revoked:token:` TTL after an admin's
revoke, paging while the list changes, and the cleanup on a large keyspace removing only
orphans. Each checked from the far side: what Redis holds and what a caller gets."""

import base64
import json
import time
import uuid

import pytest

from harness.checks import assert_json_error, wait_for_index_pass, wait_until
from harness.stack import running_stack, sibling_stack

LIFETIMES = dict(BAN_TTL="3600", ACTIVE_USER_TTL="7200", TOKEN_DEFAULT_TTL="600", TOKEN_MAX_TTL="1200")
LEEWAY = 30  # the JWT clock leeway revocations outlive a token by


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture(scope="module")
def lifetimes(stack):
    """A gateway instance with every lifetime setting changed (on the session stack's Redis)."""
    with sibling_stack(stack, "lifetimes", **LIFETIMES) as instance:
        yield instance


def test_token_lifetimes_follow_the_settings(lifetimes, email):
    browser = lifetimes.sign_in(email)
    default = browser.post(lifetimes.url("/api/token/generate"), json={}).json()
    assert claims(default["token"])["exp"] - claims(default["token"])["iat"] == 600
    assert 590 < lifetimes.redis.ttl(f"token:info:{default['token_id']}") <= 600
    capped = browser.post(lifetimes.url("/api/token/generate"), json={"expires_in": 999_999}).json()
    assert claims(capped["token"])["exp"] - claims(capped["token"])["iat"] == 1200
    assert 1190 < lifetimes.redis.ttl(f"token:info:{capped['token_id']}") <= 1200
    assert lifetimes.chat(default["token"]).status_code == 200


def test_ban_and_active_user_lifetimes_follow_the_settings(lifetimes, email):
    token = lifetimes.mint(email)["token"]
    assert lifetimes.chat(token).status_code == 200
    assert 7190 < lifetimes.redis.ttl(f"active_user:{email}") <= 7200
    assert 7190 < lifetimes.redis.ttl(f"active_user_metadata:{email}") <= 7200
    admin = lifetimes.sign_in("root@example.com")
    answer = admin.post(lifetimes.url("/api/admin/sessions/revoke-user"), json={"user_email": email}).json()
    assert answer["deletion_flag_ttl"] == 3600
    assert 3590 < lifetimes.redis.ttl(f"active_user_deleted:{email}") <= 3600
    refused = assert_json_error(lifetimes.chat(token), 401, "user_banned")
    assert refused["error"]["message"] in ("User is banned for 0 days 1 hours", "User is banned for 0 days 0 hours")


def test_access_comes_back_when_a_ban_expires(stack, email):
    answer = stack.mint(email)
    browser = stack.sign_in(email)
    assert browser.get(stack.url("/api/token/list")).status_code == 200  # the session is now known (tracked)
    assert stack.chat(answer["token"]).status_code == 200  # remembered by the worker thread
    admin = stack.sign_in("root@example.com")
    assert admin.post(stack.url("/api/admin/sessions/revoke-user"), json={"user_email": email}).status_code == 200
    assert_json_error(stack.chat(answer["token"]), 401, "user_banned")
    # The ban runs out (Redis expires the key; the same as 7 days passing).
    stack.redis.pexpire(f"active_user_deleted:{email}", 50)
    wait_until(lambda: not stack.redis.exists(f"active_user_deleted:{email}"), what="the ban key to expire")
    assert stack.chat(answer["token"]).status_code == 200
    fresh = stack.sign_in(email)
    assert fresh.post(stack.url("/api/token/generate"), json={}).status_code == 200
    # The ban deleted the user's known sessions: the old browser session stays signed out.
    assert_json_error(browser.get(stack.url("/api/token/list")), 401, "unauthenticated")


def test_a_ban_key_without_ttl_bans_until_removed(stack, email):
    token = stack.mint(email)["token"]
    browser = stack.sign_in(email)
    stack.redis.set(f"active_user_deleted:{email}", str(int(time.time())))  # e.g. written by hand or an old tool
    assert stack.redis.ttl(f"active_user_deleted:{email}") == -1
    body = assert_json_error(stack.chat(token), 401, "user_banned")
    assert body["error"]["message"] == "User is temporarily banned"
    assert_json_error(browser.post(stack.url("/api/token/generate"), json={}), 401, "banned")
    assert_json_error(browser.get(stack.url("/api/admin/audit")), 403, "banned")
    admin = stack.sign_in("root@example.com")
    users = admin.get(stack.url("/api/admin/sessions/active-users")).json()["active_users"]
    assert next(u for u in users if u["email"] == email)["is_banned"] is True
    assert admin.delete(stack.url(f"/api/admin/sessions/unban/{email}")).status_code == 200
    assert stack.chat(token).status_code == 200


@pytest.mark.parametrize("how", ["admin-one", "admin-user", "owner"])
def test_revoked_flag_lives_as_long_as_the_token_could_still_verify(stack, email, how):
    answer = stack.mint(email, expires_in=900)
    admin = stack.sign_in("root@example.com")
    if how == "admin-one":
        response = admin.delete(stack.url(f"/api/admin/tokens/{answer['token_id']}"))
    elif how == "admin-user":
        response = admin.post(stack.url("/api/admin/tokens/revoke-user"), json={"user_email": email})
    else:
        response = stack.sign_in(email).post(stack.url("/api/token/revoke"), json={"token_id": answer["token_id"]})
    assert response.status_code == 200, response.text
    remaining = claims(answer["token"])["exp"] - int(time.time())
    ttl = stack.redis.ttl(f"revoked:token:{answer['token_id']}")
    assert remaining + LEEWAY - 3 <= ttl <= remaining + LEEWAY + 1, (ttl, remaining)
    assert stack.redis.exists(f"token:info:{answer['token_id']}") == 0
    assert_json_error(stack.chat(answer["token"]), 401, "token_revoked")


# --- a keyspace of its own ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyspace():
    """A stack without LiteLLM whose Redis holds only what these tests put there."""
    with running_stack("gateway-e2e-keyspace", START_LITELLM="0") as started:
        yield started


def test_paging_while_tokens_come_and_go_returns_every_token_that_stayed(keyspace):
    email = f"pager-{uuid.uuid4().hex[:8]}@example.com"
    owner = keyspace.sign_in(email)
    tokens = [owner.post(keyspace.url("/api/token/generate"), json={"token_name": f"t{i}"}).json() for i in range(120)]
    stayed = {t["token_id"] for t in tokens[40:]}
    to_revoke = tokens[:40]
    admin = keyspace.sign_in("root@example.com")
    seen, added, cursor, pages = [], set(), None, 0
    while True:
        query = "limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = admin.get(keyspace.url(f"/api/admin/tokens/{email}?{query}"))
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [t["token_id"] for t in body["tokens"]]
        pages += 1
        # Between pages the owner revokes four tokens and makes two new ones.
        for token in to_revoke[:4]:
            assert owner.post(keyspace.url("/api/token/revoke"), json={"token_id": token["token_id"]}).status_code == 200
        to_revoke = to_revoke[4:]
        for _ in range(2):
            added.add(owner.post(keyspace.url("/api/token/generate"), json={}).json()["token_id"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 100, "paging does not end"
    assert stayed <= set(seen), stayed - set(seen)  # every token present throughout was listed
    assert set(seen) <= stayed | added | {t["token_id"] for t in tokens}  # nothing invented
    assert len(seen) - len(set(seen)) <= 10  # SCAN may repeat an element; never a page of repeats


def snapshot(redis):
    """Every key with its type and content (sets as sets), except the gateway's own bookkeeping."""
    state = {}
    for key in redis.scan_iter(count=5000):
        if key.startswith(("gw:", "cleanup:", "audit")):
            continue
        kind = redis.type(key)
        state[key] = (kind, frozenset(redis.smembers(key)) if kind == "set" else redis.get(key) if kind == "string" else kind)
    return state


def run_cleanup_job(stack, admin):
    """Starts the cleanup (a background job) and waits for its end; returns its log record."""
    started = admin.post(stack.url("/api/admin/redis/cleanup"), json={})
    assert started.status_code == 202, started.text

    def finished():
        job = admin.get(stack.url("/api/admin/redis/cleanup/job")).json()["job"]
        return job if job["cleanup_id"] == started.json()["cleanup_id"] and job["state"] != "running" else None

    job = wait_until(finished, timeout=180, interval=0.2, what="the cleanup job's end")
    assert job["state"] == "done", job
    return job["log"]


def test_cleanup_on_a_large_keyspace_removes_exactly_the_orphans(keyspace):
    r = keyspace.redis
    admin = keyspace.sign_in("root@example.com")
    run_cleanup_job(keyspace, admin)  # start from no orphans
    run = uuid.uuid4().hex[:6]
    orphan_ids, orphan_meta, stale_members = set(), set(), set()
    pipe = r.pipeline(transaction=False)
    for u in range(2000):
        user = f"live-{run}-{u}@example.com"
        for t in range(5):
            token_id = f"{run}-{u}-{t}"
            pipe.sadd(f"user:tokens:{user}", token_id)
            pipe.set(f"token:info:{token_id}", json.dumps({"token_id": token_id, "user_email": user}), ex=86400)
            if t == 4 and u % 4 == 0:  # an id whose info is gone: an orphan in a live user's set
                orphan_ids.add((f"user:tokens:{user}", f"{run}-{u}-orphan"))
                pipe.sadd(f"user:tokens:{user}", f"{run}-{u}-orphan")
        pipe.sadd(f"active_user:{user}", f"_oauth2_proxy-{uuid.uuid4().hex}")
        pipe.expire(f"active_user:{user}", 86400)
        pipe.set(f"active_user_metadata:{user}", "{}", ex=86400)
        pipe.sadd("active_users", user)
        if u % 5 == 0:
            gone = f"gone-{run}-{u}@example.com"
            orphan_meta.add(f"active_user_metadata:{gone}")
            pipe.set(f"active_user_metadata:{gone}", "{}")
            stale_members.add(gone)
            pipe.sadd("active_users", gone)
        pipe.set(f"unrelated:{run}:{u}", "keep")
        pipe.set(f"_oauth2_proxy-{uuid.uuid4().hex}", "session", ex=86400)
        if u % 500 == 0:
            pipe.execute()
    # A user whose every token is an orphan: the set goes away with them.
    lonely = f"lonely-{run}@example.com"
    pipe.sadd(f"user:tokens:{lonely}", f"{run}-lonely-1", f"{run}-lonely-2")
    pipe.execute()
    # Written the Lua gateway's way (no index entries): the workers' next index pass finds the
    # leftovers and puts them in line for the cleanup (docs/admin-indexes.md).
    wait_for_index_pass(r)
    before = snapshot(r)
    assert len(before) > 20_000
    preview = admin.get(keyspace.url("/api/admin/redis/cleanup/preview")).json()["counts"]
    record = run_cleanup_job(keyspace, admin)
    after = snapshot(r)

    expected = dict(before)
    for key, member in orphan_ids:
        kind, members = expected[key]
        expected[key] = (kind, members - {member})
    for key in orphan_meta:
        del expected[key]
    kind, members = expected["active_users"]
    expected["active_users"] = (kind, members - stale_members)
    del expected[f"user:tokens:{lonely}"]
    assert after.keys() == expected.keys(), (sorted(after.keys() - expected.keys())[:5], sorted(expected.keys() - after.keys())[:5])
    changed = [key for key in after if after[key] != expected[key]]
    assert changed == [], changed[:5]
    # The run's record counts them.
    results = {
        key: value
        for key, value in record["results"].items()
        if key in ("orphaned_jwt_token_ids_deleted", "orphaned_metadata_deleted", "empty_token_sets_deleted", "stale_active_users_removed")
    }
    assert results == {
        "orphaned_jwt_token_ids_deleted": len(orphan_ids) + 2,
        "orphaned_metadata_deleted": len(orphan_meta),
        "empty_token_sets_deleted": 1,
        "stale_active_users_removed": len(stale_members),
    }
    # The preview (a dry run) said exactly that.
    assert {
        "orphaned_jwt_token_ids_deleted": preview["orphaned_jwt_token_ids"],
        "orphaned_metadata_deleted": preview["orphaned_metadata"],
        "empty_token_sets_deleted": preview["empty_token_sets"],
        "stale_active_users_removed": preview["stale_active_users"],
    } == results
