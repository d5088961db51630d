"""The switch from the Lua gateway and back (docs/migration.md), with real redis-server
processes using append-only persistence as both compose files run it, and the real gateway
writing in between; Lua-era keys written for mixed-case e-mails; the records the Swift
workers write compared with the Lua's formats (Tests/e2e/fixtures/lua_formats.json)."""

import json
import shutil
import time
import uuid
from pathlib import Path

import jwt as pyjwt
import pytest
import yaml

from harness.checks import wait_until
from harness.redis_topology import redis_server
from harness.stack import ROOT, free_port, running_stack

FORMATS = json.loads((ROOT / "Tests" / "e2e" / "fixtures" / "lua_formats.json").read_text())


def compose_redis_command(folder: Path, port: int) -> str:
    """compose.yaml's redis command line, with this machine's folder and port."""
    command = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["redis"]["command"]
    assert command[:2] == ["sh", "-c"]
    line = command[2].replace("$$", "$").replace("--dir /data", f"--dir {folder} --bind 127.0.0.1 --port {port}")
    assert line.startswith("set -- redis-server") and line.endswith('exec "$@"')
    return f"REDIS_PASSWORD= ; {line}"


def snapshot(client) -> dict:
    """Every key with its type and whether it has an expiry."""
    return {key: (client.type(key), client.ttl(key) != -1) for key in client.scan_iter(count=1000)}


def seed_lua_era(client, email: str) -> dict:
    """Keys as the Lua gateway left them for `email` (its spelling), one of each kind."""
    now = int(time.time())
    token_id = str(uuid.uuid4())
    info = {
        key: (value.replace("{id}", token_id) if isinstance(value, str) else value)
        for key, value in FORMATS["lua_era_samples"]["token_info"].items()
    }
    info.update(user_email=email, created_at=now, expires_at=now + 86400)
    client.set(f"token:info:{token_id}", json.dumps(info), ex=86400)
    client.sadd(f"user:tokens:{email}", token_id)
    client.sadd("admin:emails", f"lua-admin-{token_id[:8]}@example.com")
    client.set(f"revoked:token:{uuid.uuid4()}", "1", ex=3600)
    client.sadd(f"active_user:{email}", f"_oauth2_proxy-{uuid.uuid4().hex}")
    client.expire(f"active_user:{email}", 86400)
    client.set(
        f"active_user_metadata:{email}",
        json.dumps({"email": email, "created_at": now, "last_access": now, "expires_at": now + 86400}),
        ex=86400,
    )
    return {"token_id": token_id, "info": info}


def lua_token(secret: str, email: str, token_id: str) -> str:
    now = int(time.time())
    claims = {key: value for key, value in FORMATS["lua_era_samples"]["jwt_claims"].items()}
    claims.update(jti=token_id, user_email=email, user_id=email, iat=now, nbf=now, exp=now + 86400)
    return pyjwt.encode(claims, secret, algorithm="HS256")


# --- Redis: switch, write, roll back -----------------------------------------------------------


def test_switching_to_the_swift_gateway_and_rolling_back_keeps_every_key(tmp_path):
    """The Lua's Redis (AOF) → compose.yaml's Redis on the same data folder → the Swift gateway
    writes tokens, a revocation, a ban and an admin → the Lua's Redis again: every key is there,
    with its type and expiry, after each restart."""
    data, port = tmp_path / "redis-data", free_port()
    with redis_server(data, port) as lua_redis:
        seed_lua_era(lua_redis, "Carol.Lua@Example.com")
        before_switch = snapshot(lua_redis)

    with redis_server(data, port, compose_redis_command(data, port)) as new_redis:
        assert snapshot(new_redis) == before_switch
        with running_stack(
            "gateway-e2e-migration", START_REDIS="0", START_LITELLM="0", REDIS_PORT=str(port), WORKER_THREADS="4"
        ) as gateway:
            user = f"dave-{uuid.uuid4().hex[:6]}@example.com"
            first = gateway.mint(user, token_name="kept")
            second = gateway.mint(user, token_name="revoked")
            browser = gateway.sign_in(user)
            assert browser.post(gateway.url("/api/token/revoke"), json={"token_id": second["token_id"]}).status_code == 200
            root = gateway.sign_in("root@example.com")
            assert root.post(gateway.url("/api/admin/manage"), json={"email": "new-admin@example.com"}).status_code in (200, 201)
            banned = f"erin-{uuid.uuid4().hex[:6]}@example.com"
            gateway.mint(banned)
            assert root.post(gateway.url("/api/admin/sessions/revoke-user"), json={"user_email": banned}).status_code == 200
        after_switch = snapshot(new_redis)
    assert set(before_switch) <= set(after_switch)
    assert {f"token:info:{first['token_id']}", f"revoked:token:{second['token_id']}", f"active_user_deleted:{banned}"} <= set(after_switch)

    with redis_server(data, port) as rolled_back:  # the Lua compose's Redis again
        assert snapshot(rolled_back) == after_switch
        assert rolled_back.sismember("admin:emails", "new-admin@example.com")


def test_restoring_a_snapshot_under_append_only_persistence_keeps_the_snapshots_keys(tmp_path):
    """docs/migration.md's restore: the snapshot loaded with AOF off, then AOF switched on at run
    time (Redis rewrites the AOF from memory), then a normal start. The old advice (delete
    appendonlydir, start with AOF on) starts empty and overwrites dump.rdb: shown first."""
    data, port = tmp_path / "redis-data", free_port()
    with redis_server(data, port) as client:
        seed_lua_era(client, "Frank.Lua@Example.com")
        client.save()
        snapshot_keys = snapshot(client)
        shutil.copy(data / "dump.rdb", tmp_path / "dump.rdb.saved")
        client.set("written-after-the-snapshot", "1")

    old_advice = tmp_path / "old-advice"
    shutil.copytree(data, old_advice)
    shutil.rmtree(old_advice / "appendonlydir")
    with redis_server(old_advice, port) as client:
        assert client.dbsize() == 0, "the old advice would not lose data: revisit docs/migration.md"

    # The documented procedure.
    shutil.move(data / "appendonlydir", tmp_path / "appendonlydir.before-restore")
    shutil.copy(tmp_path / "dump.rdb.saved", data / "dump.rdb")
    plain = f"exec redis-server --bind 127.0.0.1 --port {port} --dir {data} --appendonly no"
    with redis_server(data, port, plain) as client:
        assert snapshot(client) == snapshot_keys
        client.config_set("appendonly", "yes")
        deadline = time.time() + 20
        while True:
            persistence = client.info("persistence")
            if persistence["aof_enabled"] == 1 and not persistence["aof_rewrite_in_progress"] and not persistence["aof_rewrite_scheduled"]:
                break
            assert time.time() < deadline, persistence
            time.sleep(0.05)
    with redis_server(data, port) as client:  # normal start, AOF on
        assert snapshot(client) == snapshot_keys


# --- Lua-era keys for mixed-case e-mails -------------------------------------------------------------


def mixed_case_user():
    tag = uuid.uuid4().hex[:6]
    return f"Grace.{tag}@Example.COM"


def test_a_lua_era_ban_under_a_mixed_case_email_applies_on_v1_and_in_the_browser(stack):
    spelled = mixed_case_user()
    seeded = seed_lua_era(stack.redis, spelled)
    token = lua_token(stack.jwt_secret, spelled, seeded["token_id"])
    assert stack.chat(token).status_code == 200
    browser = stack.sign_in(spelled)
    assert browser.get(stack.url("/api/token/list")).status_code == 200
    stack.redis.set(f"active_user_deleted:{spelled}", str(int(time.time())), ex=604800)
    refused = stack.chat(token)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "user_banned"
    assert browser.post(stack.url("/api/token/generate"), json={}).status_code == 401
    assert browser.get(stack.url("/token-manager"), allow_redirects=False).status_code == 403
    # Unbanning by the lowercase address lifts the Lua's spelling too.
    root = stack.sign_in("root@example.com")
    assert root.delete(stack.url(f"/api/admin/sessions/unban/{spelled.lower()}")).status_code == 200
    assert stack.redis.exists(f"active_user_deleted:{spelled}") == 0
    assert stack.chat(token).status_code == 200


def test_lua_era_tokens_under_a_mixed_case_email_are_listed_and_revoked_by_revoke_user(stack):
    spelled = mixed_case_user()
    seeded = seed_lua_era(stack.redis, spelled)
    token = lua_token(stack.jwt_secret, spelled, seeded["token_id"])
    own = stack.sign_in(spelled).get(stack.url("/api/token/list")).json()
    assert seeded["token_id"] in [entry["token_id"] for entry in own["tokens"]]
    root = stack.sign_in("root@example.com")

    # The admin view finds the Lua's spelling in the legacy-key index: within one reconcile pass.
    def listed():
        answer = root.get(stack.url(f"/api/admin/tokens/{spelled.lower()}")).json()
        return seeded["token_id"] in [entry["token_id"] for entry in answer["tokens"]]

    wait_until(listed, timeout=30, what="the Lua-era token in the admin view")
    answer = root.post(stack.url("/api/admin/tokens/revoke-user"), json={"user_email": spelled.lower()})
    assert answer.status_code == 200 and answer.json()["revoked_count"] == 1
    assert stack.redis.get(f"revoked:token:{seeded['token_id']}") == "1"
    assert not stack.redis.sismember(f"user:tokens:{spelled}", seeded["token_id"])
    refused = stack.chat(token)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_revoked"


RECONCILE_SECONDS = 2  # INDEX_RECONCILE_SECONDS of the e2e stacks (harness.stack.E2E_SETTINGS)


def test_lua_format_data_written_while_the_gateway_runs_reaches_the_admin_views_within_the_bound(stack):
    """A Lua gateway (or a script) writing on the same Redis during a rollout: its tokens, a
    ban and an OAuth2 Proxy session appear in the admin lists and totals within one reconcile
    interval plus one pass (docs/admin-indexes.md), with no manual step."""
    root = stack.sign_in("root@example.com")
    before = root.get(stack.url("/api/admin/tokens?limit=1")).json()["summary"]["total"]
    tag = uuid.uuid4().hex[:8]
    now = int(time.time())
    ids = []
    for n in range(30):
        email = f"rollout{n % 3}-{tag}@example.com"
        token_id = str(uuid.uuid4())
        ids.append(token_id)
        info = {
            key: (value.replace("{id}", token_id) if isinstance(value, str) else value)
            for key, value in FORMATS["lua_era_samples"]["token_info"].items()
        }
        info.update(user_email=email, created_at=now + 1000 + n, expires_at=now + 86400)  # newest of all
        stack.redis.set(f"token:info:{token_id}", json.dumps(info), ex=86400)
        stack.redis.sadd(f"user:tokens:{email}", token_id)
    banned = f"rollout-banned-{tag}@example.com"
    stack.redis.set(f"active_user_deleted:{banned}", str(now), ex=3600)
    session = f"_oauth2_proxy-{uuid.uuid4().hex}"
    stack.redis.set(session, "encrypted", ex=3600)
    written = time.monotonic()

    def seen():
        tokens = root.get(stack.url("/api/admin/tokens?limit=30")).json()
        users = root.get(stack.url("/api/admin/sessions/active-users?limit=100")).json()
        sessions = root.get(stack.url("/api/admin/sessions?limit=100")).json()
        return (
            sorted(t["token_id"] for t in tokens["tokens"]) == sorted(ids)
            and tokens["summary"]["total"] >= before + 30
            and banned in {u["email"] for u in users["active_users"]}
            and session in {s.get("session_key") for s in sessions["sessions"]}
        )

    wait_until(seen, timeout=RECONCILE_SECONDS + 20, interval=0.2, what="the Lua-format data in the admin views")
    print(f"Lua-format data visible after {time.monotonic() - written:.1f} s")


# --- what the Swift workers write, read as the Lua reads it ------------------------------------------

TYPES = {"str": str, "int": int, "list": list}


def assert_format(name: str, value: dict):
    spec = FORMATS["formats"][name]
    for field, kind in spec["fields"].items():
        assert field in value, f"{name}: {field} missing"
        assert isinstance(value[field], TYPES[kind]) and not isinstance(value[field], bool), f"{name}: {field} is {value[field]!r}"
    for field, kind in spec.get("optional", {}).items():
        if field in value:
            assert isinstance(value[field], TYPES[kind]), f"{name}: {field}"


def test_records_the_swift_gateway_writes_have_the_lua_formats(stack, email):
    minted = stack.mint(email, token_name="for the lua", expires_in=3600)
    token_id = minted["token_id"]

    info_key = f"token:info:{token_id}"
    assert stack.redis.type(info_key) == "string" and 3500 < stack.redis.ttl(info_key) <= 3600
    info = json.loads(stack.redis.get(info_key))
    assert_format("token_info", info)
    assert info["user_email"] == email and info["token_id"] == token_id
    assert stack.redis.type(f"user:tokens:{email}") == "set" and stack.redis.sismember(f"user:tokens:{email}", token_id)

    claims = pyjwt.decode(minted["token"], stack.jwt_secret, algorithms=["HS256"], options={"verify_aud": False})
    assert_format("jwt_claims", claims)
    assert pyjwt.get_unverified_header(minted["token"]) == FORMATS["formats"]["jwt_claims"]["header"]

    # The Lua's auth_handler tracks a JWT user in active_user:{email} + metadata.
    assert stack.chat(minted["token"]).status_code == 200
    assert stack.redis.type(f"active_user:{email}") == "set" and stack.redis.ttl(f"active_user:{email}") > 0
    assert_format("active_user_metadata", json.loads(stack.redis.get(f"active_user_metadata:{email}")))

    assert stack.sign_in(email).post(stack.url("/api/token/revoke"), json={"token_id": token_id}).status_code == 200
    assert stack.redis.get(f"revoked:token:{token_id}") == FORMATS["formats"]["revoked"]["value"]
    assert 0 < stack.redis.ttl(f"revoked:token:{token_id}") <= 3600 + 60

    root = stack.sign_in("root@example.com")
    added = f"added-{uuid.uuid4().hex[:6]}@example.com"
    assert root.post(stack.url("/api/admin/manage"), json={"email": added}).status_code in (200, 201)
    assert stack.redis.type("admin:emails") == "set" and stack.redis.sismember("admin:emails", added)
    stack.redis.srem("admin:emails", added)

    assert root.post(stack.url("/api/admin/sessions/revoke-user"), json={"user_email": email}).status_code == 200
    ban = f"active_user_deleted:{email}"
    assert stack.redis.type(ban) == "string" and abs(int(stack.redis.get(ban)) - time.time()) < 60
    assert stack.redis.ttl(ban) == pytest.approx(FORMATS["formats"]["ban"]["ttl"], abs=60)
    stack.redis.delete(ban)
