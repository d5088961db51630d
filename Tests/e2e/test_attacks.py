"""Attacks through nginx against the real stack (docs/security.md lists each threat with its
test): forged identity headers on every route family, listeners nobody else can reach, JWT
attacks and secret rotation, path tricks on admin routes, oversize requests, methods that
are not allowed, and cross-site (CSRF) requests to the browser APIs."""

import base64
import json
import os
import stat
import subprocess
import time
import uuid

import jwt as pyjwt
import pytest
import requests

from harness.checks import assert_json_error
from harness.jwts import b64, claims_for
from harness.stack import sibling_stack

FORGED = {
    "X-Forwarded-Email": "root@example.com",
    "X-Forwarded-User": "root@example.com",
    "X-Auth-Request-Email": "root@example.com",
    "X-Auth-Request-User": "root@example.com",
    "X-Authenticated-User": "root@example.com",
    "X-Authenticated-Email": "root@example.com",
    "X-Admin-Action": "true",
    "x-litellm-end-user-id": "root@example.com",
    "x-litellm-spend-logs-metadata": '{"user_email":"root@example.com"}',
    "x-litellm-api-key": "sk-forged",
    "Authorization": "Bearer forged",
}

# One path per route family nginx has (gateway.conf), with a method the route accepts.
ROUTE_FAMILIES = [
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("POST", "/api/token/generate"),
    ("GET", "/api/token/list"),
    ("POST", "/api/token/revoke"),
    ("GET", "/api/admin/tokens"),
    ("POST", "/api/admin/sessions/revoke-user"),
    ("GET", "/api/admin/manage"),
    ("GET", "/api/admin/audit"),
    ("POST", "/api/admin/redis/cleanup"),
    ("GET", "/ui/"),
    ("GET", "/key/info"),
    ("POST", "/user/new"),
    ("POST", "/key/generate"),
    ("GET", "/v1/mcp/tools"),
    ("GET", "/token-manager"),
    ("GET", "/token-session-manager"),
    ("GET", "/admin-manager"),
    ("GET", "/ui-assets/app.js"),
]


def json_error(response, status):
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    return response.json()


# --- forged identity headers ---------------------------------------------------------------------


@pytest.mark.parametrize("method,path", ROUTE_FAMILIES)
def test_forged_identity_headers_without_a_session_are_refused_everywhere(stack, method, path):
    response = requests.request(
        method, stack.url(path), headers=FORGED, json={"user_email": "x@example.com"}, allow_redirects=False, timeout=30
    )
    # 401 for APIs and LiteLLM's surface; the UI pages (LiteLLM's /ui too) send the browser to sign in.
    expected = 302 if path in ("/token-manager", "/token-session-manager", "/admin-manager", "/ui/") else 401
    assert response.status_code == expected, (response.status_code, response.text[:200])
    if expected == 302:
        assert "/oauth2/start" in response.headers["Location"]
    assert "sk-" not in response.text


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/admin/tokens"),
        ("POST", "/api/admin/sessions/revoke-user"),
        ("GET", "/api/admin/manage"),
        ("GET", "/api/admin/audit"),
        ("POST", "/api/admin/redis/cleanup"),
        ("GET", "/key/info"),
        ("POST", "/user/new"),
        ("GET", "/token-session-manager"),
        ("GET", "/admin-manager"),
    ],
)
def test_forged_identity_headers_give_a_signed_in_user_no_admin_rights(stack, email, method, path):
    browser = stack.sign_in(email)
    response = browser.request(
        method, stack.url(path), headers=FORGED, json={"user_email": "victim@example.com"}, allow_redirects=False, timeout=30
    )
    assert response.status_code == 403, (response.status_code, response.text[:200])
    assert not stack.redis.exists("active_user_deleted:victim@example.com")


def test_forged_identity_headers_do_not_change_whose_token_is_minted(stack, email):
    browser = stack.sign_in(email)
    answer = browser.post(stack.url("/api/token/generate"), headers=FORGED, json={}).json()
    assert answer["user_email"] == email
    assert answer["token_id"] in stack.redis.smembers(f"user:tokens:{email}")
    assert answer["token_id"] not in stack.redis.smembers("user:tokens:root@example.com")
    listed = browser.get(stack.url("/api/token/list"), headers=FORGED).json()
    assert listed["user_email"] == email


# --- listeners -----------------------------------------------------------------------------------


def test_worker_and_identity_sockets_are_private_to_their_owner_and_group(stack):
    for name in ("WORKER_SOCKET", "DEV_IDENTITY_SOCKET"):
        path = stack.env.get(name) or str(stack.run_dir / ("worker.sock" if name == "WORKER_SOCKET" else "identity.sock"))
        info = os.stat(path)
        assert stat.S_ISSOCK(info.st_mode)
        assert info.st_mode & 0o007 == 0, f"{path} is reachable by other users: {oct(info.st_mode)}"
        assert info.st_uid == os.getuid()


def test_nothing_the_stack_runs_listens_beyond_loopback(stack):
    ports = {stack.env["GATEWAY_PORT"], str(stack.redis_port), stack.env["LITELLM_PORT"]}
    listing = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    seen = {}
    for line in listing.splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        if port in ports:
            seen.setdefault(port, set()).add(address)
    assert set(seen) == ports, seen
    for port, addresses in seen.items():
        assert addresses <= {"127.0.0.1", "[::1]"}, (port, addresses)


def test_internal_locations_cannot_be_requested(stack, email):
    browser = stack.sign_in(email)
    for path in ("/_ui/token-manager.html", "/@litellm", "/@litellm_admin", "/debug-headers", "/oauth2/../_ui/"):
        response = browser.get(stack.url(path), allow_redirects=False)
        assert response.status_code == 404, (path, response.status_code)


# --- JWT attacks -----------------------------------------------------------------------------------


def refused(stack, token, fragment=""):
    response = stack.chat(token)
    body = json_error(response, 401)
    assert body["error"]["type"] == "authentication_error"
    assert fragment in body["error"]["message"], body
    return body


def test_tampered_and_malformed_tokens_are_refused(stack, email):
    good = stack.mint(email)["token"]
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["user_email"] = "root@example.com"
    refused(stack, f"{header}.{b64(json.dumps(claims).encode())}.{signature}", "signature")
    refused(stack, f"{header}.{payload}.")
    refused(stack, f"{header}.{payload}")
    refused(stack, f"{good}.extra")
    refused(stack, f"{header}.{payload}.{signature[:-2]}")
    refused(stack, good.replace(".", ".\u00e9", 1))
    for alg in ("none", "None", "NONE", "HS384", "HS512"):
        forged_header = b64(json.dumps({"typ": "JWT", "alg": alg}).encode())
        refused(stack, f"{forged_header}.{payload}.{signature}")
    refused(stack, pyjwt.encode(claims_for(email), stack.jwt_secret, algorithm="HS512"))
    refused(stack, pyjwt.encode(claims_for(email, nbf=int(time.time()) + 3600), stack.jwt_secret, algorithm="HS256"))
    refused(stack, pyjwt.encode(claims_for(email, aud="someone-else"), stack.jwt_secret, algorithm="HS256"))
    refused(stack, pyjwt.encode(claims_for(email, user_email=""), stack.jwt_secret, algorithm="HS256"))
    assert stack.chat(good).status_code == 200


def test_token_in_query_or_other_scheme_is_not_accepted(stack, email):
    token = stack.mint(email)["token"]
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    assert requests.post(stack.url(f"/v1/chat/completions?token={token}"), json=body).status_code == 401
    assert requests.post(stack.url("/v1/chat/completions"), json=body, headers={"Authorization": f"Basic {token}"}).status_code == 401
    assert requests.post(stack.url("/v1/chat/completions"), json=body, cookies={"token": token}).status_code == 401


def test_valid_token_of_a_banned_user_is_refused_until_unbanned(stack, email):
    token = stack.mint(email)["token"]
    admin = stack.sign_in("admin@example.com")
    assert admin.post(stack.url("/api/admin/sessions/revoke-user"), json={"user_email": email}).status_code == 200
    refused(stack, token, "banned")
    assert admin.delete(stack.url(f"/api/admin/sessions/unban/{email}")).status_code == 200
    assert stack.chat(token).status_code == 200


def test_valid_token_revoked_by_an_admin_is_refused(stack, email):
    answer = stack.mint(email)
    admin = stack.sign_in("admin@example.com")
    assert admin.delete(stack.url(f"/api/admin/tokens/{answer['token_id']}")).status_code == 200
    refused(stack, answer["token"], "revoked")


@pytest.fixture(scope="module")
def rotated(stack):
    """The same deployment after a secret rotation: a new JWT_SECRET signs, the old one still
    verifies through JWT_PREVIOUS_SECRETS."""
    new_secret = "rotated-" + uuid.uuid4().hex + uuid.uuid4().hex
    with sibling_stack(stack, "rotated", JWT_SECRET=new_secret, JWT_PREVIOUS_SECRETS=stack.jwt_secret) as rotated:
        yield rotated


def test_secret_rotation_new_secret_signs_previous_verifies_retired_is_refused(stack, rotated, email):
    old_token = stack.mint(email)["token"]  # signed before the rotation
    new_token = rotated.mint(email)["token"]  # signed after it
    assert pyjwt.decode(new_token, rotated.jwt_secret, algorithms=["HS256"], audience="litellm-api")["user_email"] == email
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(new_token, stack.jwt_secret, algorithms=["HS256"], audience="litellm-api")
    assert rotated.chat(new_token).status_code == 200
    assert rotated.chat(old_token).status_code == 200  # previous secret still verifies
    # A secret that has been removed from JWT_PREVIOUS_SECRETS verifies nothing any more.
    retired = pyjwt.encode(claims_for(email), "retired-secret-" + "r" * 32, algorithm="HS256")
    refused(rotated, retired, "signature")
    # The instance that has not been rotated does not know the new secret.
    refused(stack, new_token, "signature")


def test_revocation_and_ban_apply_to_tokens_of_the_previous_secret(stack, rotated, email):
    answer = stack.mint(email)
    stack.redis.set(f"revoked:token:{answer['token_id']}", "1", ex=600)
    refused(rotated, answer["token"], "revoked")


# --- path tricks on admin routes -------------------------------------------------------------------

TRICKS = [
    "/api/admin/../admin/tokens",
    "/api/token/../admin/tokens",
    "/api/admin/./tokens",
    "//api//admin//tokens",
    "/api/admin/tokens%2F..",
    "/api%2Fadmin%2Ftokens",
    "/api/admin/%2e%2e/admin/tokens",
    "/API/ADMIN/TOKENS",
    "/Api/Admin/Tokens",
    "/api/admin/tokens/",
    "/api/admin/tokens;x",
    "/api/admin/tokens%00",
    "/v1/../api/admin/tokens",
    "/v1/%2e%2e/key/info",
    "/v1/chat/../mcp/tools",
    "/v1/../ui/",
    "/api/admin/manage/..%2f..%2fmanage",
]


@pytest.mark.parametrize("path", TRICKS)
def test_path_tricks_never_reach_an_admin_handler_without_the_admin_check(stack, email, path):
    token = stack.mint(email)["token"]
    browser = stack.sign_in(email)
    for client, headers in ((browser, {}), (requests.Session(), {"Authorization": f"Bearer {token}"})):
        response = client.get(stack.url(path), headers=headers, allow_redirects=False, timeout=30)
        # LiteLLM's /ui, like the gateway's pages, sends a caller without a session to sign in.
        signing_in = response.status_code == 302 and "/oauth2/start" in response.headers.get("Location", "")
        assert response.status_code in (400, 401, 403, 404) or signing_in, (path, response.status_code, response.text[:200])


def test_path_tricks_by_an_admin_are_4xx_json_or_normalised(stack):
    admin = stack.sign_in("admin@example.com")
    for path in TRICKS[:10]:
        response = admin.get(stack.url(path), allow_redirects=False, timeout=30)
        assert response.status_code < 500, (path, response.status_code)


# --- oversize requests and methods -----------------------------------------------------------------


def test_oversize_headers_are_refused_by_nginx(stack, email):
    browser = stack.sign_in(email)
    huge = "a" * (64 * 1024)
    for headers in ({"X-Padding": huge}, {"Cookie": f"_oauth2_proxy={huge}"}, {"Authorization": f"Bearer {huge}"}):
        response = browser.get(stack.url("/api/token/list"), headers=headers, timeout=30)
        assert response.status_code in (400, 413, 431, 494), response.status_code
    assert browser.get(stack.url("/api/token/list")).status_code == 200


def test_oversize_api_body_is_413_json_and_stores_nothing(stack, email):
    browser = stack.sign_in(email)
    body = json.dumps({"token_name": "x" * (2 * 1024 * 1024)})
    response = browser.post(stack.url("/api/token/generate"), data=body, headers={"Content-Type": "application/json"}, timeout=60)
    assert json_error(response, 413)["error"] == "Request body too large"
    assert stack.redis.scard(f"user:tokens:{email}") == 0


def test_body_above_the_v1_limit_is_refused_by_nginx_as_json(stack, email):
    token = stack.mint(email)["token"]
    response = requests.post(
        stack.url("/v1/chat/completions"),
        data=b"x" * (33 * 1024 * 1024),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=120,
    )
    assert_json_error(response, 413, "request_too_large")


@pytest.mark.parametrize(
    "method,path",
    [
        ("PUT", "/api/token/generate"),
        ("DELETE", "/api/token/list"),
        ("PATCH", "/api/token/revoke"),
        ("GET", "/api/admin/sessions/revoke-user"),
        ("PUT", "/api/admin/manage"),
        ("POST", "/api/admin/tokens"),
    ],
)
def test_methods_not_allowed_are_405_json(stack, method, path):
    admin = stack.sign_in("root@example.com")
    body = json_error(admin.request(method, stack.url(path), json={}), 405)
    assert body["code"] == "method_not_allowed" and body["allowed"]


# --- CSRF on the browser APIs ------------------------------------------------------------------------

CROSS_SITE = [
    {"Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "null"},
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},
]


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_token_generation_is_refused_and_stores_nothing(stack, email, headers):
    browser = stack.sign_in(email)
    body = json_error(browser.post(stack.url("/api/token/generate"), json={}, headers=headers), 403)
    assert body == {"error": "Cross-site request refused", "code": "csrf"}
    assert stack.redis.scard(f"user:tokens:{email}") == 0


def test_cross_site_revoke_and_admin_actions_are_refused(stack, email):
    answer = stack.mint(email)
    owner = stack.sign_in(email)
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert owner.post(stack.url("/api/token/revoke"), json={"token_id": answer["token_id"]}, headers=evil).status_code == 403
    assert stack.chat(answer["token"]).status_code == 200
    admin = stack.sign_in("root@example.com")
    assert (
        json_error(admin.post(stack.url("/api/admin/sessions/revoke-user"), json={"user_email": email}, headers=evil), 403)["code"]
        == "csrf"
    )
    assert not stack.redis.exists(f"active_user_deleted:{email}")
    assert admin.delete(stack.url(f"/api/admin/tokens/{answer['token_id']}"), headers=evil).status_code == 403
    assert admin.post(stack.url("/api/admin/manage"), json={"email": "mallory@example.com"}, headers=evil).status_code == 403
    assert not stack.redis.sismember("admin:emails", "mallory@example.com")
    marker = uuid.uuid4().hex
    assert admin.post(stack.url(f"/key/generate?probe={marker}"), json={}, headers=evil).status_code == 403
    assert admin.post(stack.url(f"/user/new?probe={marker}"), json={}, headers=evil).status_code == 403
    assert marker not in (stack.run_dir / "logs" / "litellm.log").read_text(errors="replace")
    assert stack.chat(answer["token"]).status_code == 200


def test_same_origin_calls_and_cross_site_reads_still_work(stack, email):
    browser = stack.sign_in(email)
    same = {"Origin": stack.base, "Sec-Fetch-Site": "same-origin"}
    answer = browser.post(stack.url("/api/token/generate"), json={}, headers=same)
    assert answer.status_code == 200, answer.text
    assert browser.post(stack.url("/api/token/generate"), json={}, headers={"Sec-Fetch-Site": "none"}).status_code == 200
    listed = browser.get(stack.url("/api/token/list"), headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert listed.status_code == 200 and listed.json()["count"] == 2
    assert "Access-Control-Allow-Origin" not in listed.headers  # the evil page cannot read it
    revoke = browser.post(stack.url("/api/token/revoke"), json={"token_id": answer.json()["token_id"]}, headers=same)
    assert revoke.status_code == 200
