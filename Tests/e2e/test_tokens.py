"""Token lifecycle through nginx: self-service info/list/revoke,
the admins' token management with paging and audit, cross-user refusals, bad input, and
drop-in compatibility with records and tokens written by the Lua gateway."""

import json
import time
import uuid

import jwt
import pytest
import requests

from harness.checks import assert_json_error, wait_for_index_pass

JSON_TYPE = {"Content-Type": "application/json"}

ADMIN = "admin@example.com"
LEGACY_ISSUER = "litellm.nakacya.jp"


def token_ids(body):
    return {token["token_id"] for token in body["tokens"]}


def assert_error(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert isinstance(response.json()["error"], str)


def audit_entries(stack, action, target):
    body = stack.sign_in(ADMIN).get(stack.url("/api/admin/audit?limit=200")).json()
    return [e for e in body["entries"] if e.get("action") == action and e.get("target") == target]


# --- self-service -----------------------------------------------------------------------


def test_own_token_info_list_and_revoke_cuts_v1_at_once(stack, email):
    session = stack.sign_in(email)
    first = stack.mint(email, token_name="laptop", expires_in=3600)
    second = stack.mint(email, token_name="ci")
    assert stack.chat(first["token"]).status_code == 200

    listed = session.get(stack.url("/api/token/list"))
    assert listed.status_code == 200
    body = listed.json()
    assert body["success"] is True and body["count"] == 2 and body["user_email"] == email
    assert token_ids(body) == {first["token_id"], second["token_id"]}
    assert first["token"] not in listed.text  # the JWT itself is never listed
    entry = next(t for t in body["tokens"] if t["token_id"] == first["token_id"])
    assert set(entry) == {"token_id", "token_name", "scopes", "created_at", "expires_at", "last_used", "is_expired"}
    assert entry["token_name"] == "laptop" and entry["is_expired"] is False and entry["scopes"] == ["api:read", "api:write"]

    info = session.get(stack.url("/api/token/info"), params={"token_id": first["token_id"]})
    assert info.status_code == 200
    assert info.json()["success"] is True
    assert info.json()["token_info"]["token_id"] == first["token_id"]
    assert info.json()["token_info"]["expires_at"] == first["expires_at"]

    revoked = session.post(stack.url("/api/token/revoke"), json={"token_id": first["token_id"]})
    assert revoked.status_code == 200
    assert revoked.json() == {"success": True, "message": "Token revoked successfully", "token_id": first["token_id"]}

    refused = stack.chat(first["token"])
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_revoked"
    assert stack.chat(second["token"]).status_code == 200

    tid = first["token_id"]
    assert stack.redis.get(f"revoked:token:{tid}") == "1"
    assert 3500 < stack.redis.ttl(f"revoked:token:{tid}") <= 3600 + 30
    assert not stack.redis.exists(f"token:info:{tid}")
    assert not stack.redis.sismember(f"user:tokens:{email}", tid)
    assert token_ids(session.get(stack.url("/api/token/list")).json()) == {second["token_id"]}
    assert_error(session.get(stack.url("/api/token/info"), params={"token_id": tid}), 404)
    assert_error(session.post(stack.url("/api/token/revoke"), json={"token_id": tid}), 404)


def test_revocation_reaches_every_worker_at_once(stack, email):
    token = stack.mint(email)
    # Several calls in parallel connections land on different nginx workers and worker threads.
    for _ in range(4):
        assert stack.chat(token["token"]).status_code == 200
    stack.sign_in(email).post(stack.url("/api/token/revoke"), json={"token_id": token["token_id"]})
    for _ in range(8):
        assert (
            requests.post(
                stack.url("/v1/chat/completions"),
                headers={"Authorization": f"Bearer {token['token']}"},
                json={"model": "gpt-4o-mini", "messages": []},
            ).status_code
            == 401
        )


def test_someone_elses_token_is_403_and_stays_usable(stack, email):
    victim = stack.mint(email)
    intruder = stack.sign_in(f"other-{uuid.uuid4().hex[:8]}@example.com")
    info = intruder.get(stack.url("/api/token/info"), params={"token_id": victim["token_id"]})
    assert_error(info, 403)
    assert_error(intruder.post(stack.url("/api/token/revoke"), json={"token_id": victim["token_id"]}), 403)
    assert victim["token_id"] not in intruder.get(stack.url("/api/token/list")).text
    assert stack.chat(victim["token"]).status_code == 200
    assert stack.redis.exists(f"token:info:{victim['token_id']}")


def test_expired_ids_are_pruned_from_the_list(stack, email):
    kept = stack.mint(email)
    stack.redis.sadd(f"user:tokens:{email}", "gone-" + uuid.uuid4().hex)
    body = stack.sign_in(email).get(stack.url("/api/token/list")).json()
    assert token_ids(body) == {kept["token_id"]}
    assert stack.redis.smembers(f"user:tokens:{email}") == {kept["token_id"]}


@pytest.mark.parametrize(
    "kwargs, status",
    [
        ({}, 400),  # no body
        ({"data": "{not json", "headers": JSON_TYPE}, 400),
        ({"data": "[1]", "headers": JSON_TYPE}, 400),
        ({"data": '{"token_id": "x"}'}, 415),  # not sent as application/json
        ({"data": '{"token_id": "x"}', "headers": {"Content-Type": "text/plain"}}, 415),
        ({"json": {}}, 400),
        ({"json": {"token_id": 42}}, 400),
        ({"json": {"token_id": ["x"]}}, 400),
        ({"json": {"token_id": ""}}, 400),
        ({"json": {"token_id": "has space"}}, 400),
        ({"json": {"token_id": "x" * 200}}, 400),
        ({"json": {"token_id": str(uuid.uuid4())}}, 404),
    ],
)
def test_revoke_bad_input(stack, email, kwargs, status):
    assert_error(stack.sign_in(email).post(stack.url("/api/token/revoke"), **kwargs), status)


def test_info_bad_input_and_no_identity(stack, email):
    session = stack.sign_in(email)
    assert_error(session.get(stack.url("/api/token/info")), 400)
    assert_error(session.get(stack.url("/api/token/info?token_id=")), 400)
    assert_error(session.get(stack.url("/api/token/info"), params={"token_id": str(uuid.uuid4())}), 404)
    # percent-encoded id: decoded once, an unknown id stays a clean 404
    assert_error(session.get(stack.url("/api/token/info?token_id=abc%2Bdef%40x")), 404)
    for method, path in (("GET", "/api/token/info?token_id=x"), ("GET", "/api/token/list"), ("POST", "/api/token/revoke")):
        assert requests.request(method, stack.url(path), json={"token_id": "x"}).status_code == 401
    assert_error(session.delete(stack.url("/api/token/list")), 405)


# --- admins -----------------------------------------------------------------------------


def test_admin_routes_refuse_normal_users(stack, email):
    session = stack.sign_in(email)
    mine = stack.mint(email)
    for method, path, body in (
        ("GET", "/api/admin/tokens", None),
        ("GET", f"/api/admin/tokens/{email}", None),
        ("DELETE", f"/api/admin/tokens/{mine['token_id']}", None),
        ("POST", "/api/admin/tokens/revoke-user", {"user_email": email}),
    ):
        response = session.request(method, stack.url(path), json=body)
        assert response.status_code == 403, path
        assert response.json()["error"] == "Insufficient privileges. Admin access only."
    assert stack.chat(mine["token"]).status_code == 200


def test_admin_lists_all_tokens_with_status_and_pages(stack, email):
    a = stack.mint(email, token_name="a")
    b = stack.mint(email, token_name="b")
    stack.redis.set(f"revoked:token:{b['token_id']}", "1", ex=600)  # revoked while its info remains (the Lua way)
    admin = stack.sign_in(ADMIN)
    # The workers' next index pass counts that revocation in the summary (the gateway's own
    # revocations are counted at once).
    wait_for_index_pass(stack.redis)

    whole = admin.get(stack.url("/api/admin/tokens"))
    assert whole.status_code == 200
    body = whole.json()
    by_id = {t["token_id"]: t for t in body["tokens"]}
    assert by_id[a["token_id"]]["status"] == "active" and by_id[a["token_id"]]["user_email"] == email
    assert by_id[b["token_id"]]["status"] == "revoked" and by_id[b["token_id"]]["is_revoked"] is True
    assert set(by_id[a["token_id"]]) == {
        "token_id",
        "token_name",
        "user_email",
        "created_at",
        "expires_at",
        "last_used",
        "is_expired",
        "is_revoked",
        "status",
    }
    summary = body["summary"]
    # Totals of the whole keyspace: listed tokens that are active or expired, and every
    # revocation still in force (the gateway's revoke deletes the record: not listed).
    assert summary["total"] == summary["active"] + summary["expired"] + summary["revoked"]
    assert summary["revoked"] >= 1 and summary["active"] >= 1
    assert body["next_cursor"] is None

    paged, cursor, pages = set(), None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = admin.get(stack.url("/api/admin/tokens"), params=params).json()
        paged |= token_ids(page)
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages > 1
    assert paged >= {t["token_id"] for t in body["tokens"]}
    for query in ("limit=0", "limit=x", "limit=5000", "cursor=abc", "cursor=-1"):
        assert_error(admin.get(stack.url(f"/api/admin/tokens?{query}")), 400)


def test_admin_user_tokens_with_plus_in_percent_encoded_email(stack):
    user = f"a+{uuid.uuid4().hex[:8]}@example.com"
    minted = stack.mint(user)
    admin = stack.sign_in(ADMIN)
    encoded = user.replace("+", "%2B").replace("@", "%40")
    response = admin.get(stack.url(f"/api/admin/tokens/{encoded}"))
    assert response.status_code == 200
    body = response.json()
    assert body["user_email"] == user and body["count"] == 1 and token_ids(body) == {minted["token_id"]}
    assert body["tokens"][0]["status"] == "active"
    paged = admin.get(stack.url(f"/api/admin/tokens/{encoded}?limit=10")).json()
    assert token_ids(paged) == {minted["token_id"]} and paged["next_cursor"] is None
    empty = admin.get(stack.url("/api/admin/tokens/nobody%40example.com")).json()
    assert empty["count"] == 0 and empty["tokens"] == []
    assert_error(admin.get(stack.url("/api/admin/tokens/not-an-email")), 400)
    assert_error(admin.get(stack.url("/api/admin/tokens/bad%40")), 400)


def test_admin_revokes_one_token_and_it_is_audited(stack, email):
    minted = stack.mint(email)
    tid = minted["token_id"]
    response = stack.sign_in(ADMIN).delete(stack.url(f"/api/admin/tokens/{tid}"))
    assert response.status_code == 200
    assert response.json() == {"message": "Token revoked successfully", "token_id": tid, "user_email": email, "revoked_by": ADMIN}
    assert stack.chat(minted["token"]).json()["error"]["code"] == "token_revoked"
    assert not stack.redis.sismember(f"user:tokens:{email}", tid) and not stack.redis.exists(f"token:info:{tid}")
    [entry] = audit_entries(stack, "token.revoke", tid)
    assert entry["actor"] == ADMIN and entry["result"] == "ok" and entry["details"] == {"user_email": email}
    assert abs(entry["timestamp"] - time.time()) < 60

    unknown = str(uuid.uuid4())
    assert_error(stack.sign_in(ADMIN).delete(stack.url(f"/api/admin/tokens/{unknown}")), 404)
    assert audit_entries(stack, "token.revoke", unknown)[0]["result"] == "not_found"
    assert_error(stack.sign_in(ADMIN).delete(stack.url(f"/api/admin/tokens/{email}")), 400)
    assert_error(stack.sign_in(ADMIN).post(stack.url(f"/api/admin/tokens/{tid}")), 405)


def test_admin_revokes_all_of_a_users_tokens(stack, email):
    first, second = stack.mint(email), stack.mint(email)
    bystander = stack.mint(f"by-{uuid.uuid4().hex[:8]}@example.com")
    response = stack.sign_in("root@example.com").post(stack.url("/api/admin/tokens/revoke-user"), json={"user_email": email.upper()})
    assert response.status_code == 200
    assert response.json() == {
        "message": "All tokens revoked successfully",
        "user_email": email,
        "revoked_count": 2,
        "revoked_by": "root@example.com",
    }
    for token in (first, second):
        assert stack.chat(token["token"]).status_code == 401
        assert stack.redis.get(f"revoked:token:{token['token_id']}") == "1"
    assert stack.chat(bystander["token"]).status_code == 200
    assert stack.redis.scard(f"user:tokens:{email}") == 0
    [entry] = audit_entries(stack, "token.revoke_user", email)
    assert entry["actor"] == "root@example.com" and entry["details"] == {"revoked_count": 2}


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"data": "{", "headers": JSON_TYPE},
        {"json": {}},
        {"json": {"user_email": 7}},
        {"json": {"user_email": "no-at"}},
        {"json": {"user_email": None}},
        {"json": ["a@example.com"]},
    ],
)
def test_revoke_user_bad_input(stack, kwargs):
    assert_error(stack.sign_in(ADMIN).post(stack.url("/api/admin/tokens/revoke-user"), **kwargs), 400)


# --- drop-in compatibility with the Lua gateway -------------------------------------------


def lua_token(stack, email, issuer=LEGACY_ISSUER, lifetime=3600):
    """A token and records exactly as the Lua gateway wrote them (docs/architecture.md, docs/api.md): the JWT made
    by PyJWT, `token:info` JSON without `last_used` (cjson key order), the set member."""
    now = int(time.time())
    jti = str(uuid.uuid4())
    claims = {
        "jti": jti,
        "user_email": email,
        "user_id": email,
        "token_name": "lua-era token",
        "scopes": ["api:read", "api:write"],
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "iss": issuer,
        "aud": "litellm-api",
    }
    token = jwt.encode(claims, stack.jwt_secret, algorithm="HS256", headers={"typ": "JWT"})
    info = (
        '{"scopes":["api:read","api:write"],"token_name":"lua-era token","expires_at":%d,"user_email":"%s","created_at":%d,"token_id":"%s"}'
    ) % (now + lifetime, email, now, jti)
    stack.redis.set(f"token:info:{jti}", info, ex=lifetime)
    stack.redis.sadd(f"user:tokens:{email}", jti)
    return token, jti


def test_lua_written_token_and_records_work(stack, email):
    token, jti = lua_token(stack, email)
    assert stack.chat(token).status_code == 200  # legacy issuer accepted via JWT_ACCEPTED_ISSUERS
    session = stack.sign_in(email)
    listed = session.get(stack.url("/api/token/list")).json()
    assert token_ids(listed) == {jti}
    assert listed["tokens"][0]["token_name"] == "lua-era token"
    info = session.get(stack.url("/api/token/info"), params={"token_id": jti}).json()["token_info"]
    assert info["user_email"] == email and "last_used" in info
    admin_view = stack.sign_in(ADMIN).get(stack.url(f"/api/admin/tokens/{email}")).json()
    assert admin_view["tokens"][0]["status"] == "active"

    assert session.post(stack.url("/api/token/revoke"), json={"token_id": jti}).status_code == 200
    assert stack.chat(token).json()["error"]["code"] == "token_revoked"


def test_lua_written_revocation_is_honoured(stack, email):
    token, jti = lua_token(stack, email)
    stack.redis.set(f"revoked:token:{jti}", "1", ex=3600)
    assert stack.chat(token).json()["error"]["code"] == "token_revoked"


def test_unlisted_issuer_is_refused(stack, email):
    token, _ = lua_token(stack, email, issuer="someone-else.example")
    refused = stack.chat(token)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_claim"


def test_swift_written_token_has_the_lua_shape(stack, email):
    minted = stack.mint(email, token_name="shape")
    claims = jwt.decode(minted["token"], stack.jwt_secret, algorithms=["HS256"], audience="litellm-api")
    assert set(claims) == {"jti", "user_email", "user_id", "token_name", "scopes", "iat", "nbf", "exp", "iss", "aud"}
    assert jwt.get_unverified_header(minted["token"]) == {"typ": "JWT", "alg": "HS256"}
    info = json.loads(stack.redis.get(f"token:info:{minted['token_id']}"))
    assert set(info) == {"token_id", "user_email", "token_name", "scopes", "created_at", "expires_at"}
    assert info["token_id"] == claims["jti"] and info["expires_at"] == claims["exp"]
    assert stack.redis.sismember(f"user:tokens:{email}", minted["token_id"])


def test_tokens_the_workers_remember_are_still_cut_off_at_once(stack, email):
    """The /v1 check remembers tokens it let through (docs/performance.md, "Revocation watch"):
    warm that memory on many worker threads, then revoke, ban and unban through the gateway and
    from Redis directly; each change holds for the very next call."""
    from concurrent.futures import ThreadPoolExecutor

    admin = stack.sign_in(stack.env["SUPER_ADMIN_EMAIL"])
    user = stack.sign_in(email)
    first, second = stack.mint(email)["token"], stack.mint(email)

    def models(token):
        return requests.get(stack.url("/v1/models"), headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def warm(token):
        with ThreadPoolExecutor(8) as pool:
            assert {r.status_code for r in pool.map(lambda _: models(token), range(40))} == {200}

    warm(first)
    warm(second["token"])
    # A ban written by anything (another gateway instance, redis-cli) holds for the next call.
    stack.redis.set(f"active_user_deleted:{email}", "1", ex=600)
    time.sleep(0.05)  # Redis sends the watches its message in the same turn as this answer
    assert_json_error(models(first), 401, "user_banned")  # the status first: a remembered allow is a 200
    assert admin.delete(stack.url(f"/api/admin/sessions/unban/{email}")).status_code == 200
    warm(first)
    # The user's own revoke, then the next call: refused, on whichever thread it lands.
    assert user.post(stack.url("/api/token/revoke"), json={"token_id": second["token_id"]}).status_code == 200
    assert {models(second["token"]).status_code for _ in range(20)} == {401}
    # An admin's revoke-user (7-day ban) cuts the remembered token off too.
    assert admin.post(stack.url("/api/admin/sessions/revoke-user"), json={"user_email": email}).status_code == 200
    assert {models(first).json()["error"]["code"] for _ in range(20)} == {"user_banned"}
