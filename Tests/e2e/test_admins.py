"""LiteLLM's admin surface behind the admin check, POST /key/generate for any
signed-in user and the admin manager, all through nginx against the real stack (the Redis
cleanup: test_cleanup.py)."""

import time
import uuid

import pytest
import requests

from harness.probes import litellm_log

ADMIN_PATHS = [
    ("GET", "/sso/get/ui_settings"),
    ("GET", "/admin/settings"),
    ("GET", "/key/info"),
    ("GET", "/user/info"),
    ("POST", "/team/new"),
    ("GET", "/organization/list"),
    ("GET", "/spend/logs"),
    ("GET", "/gateway/daily/activity"),
    ("GET", "/v1/mcp/tools"),
    ("POST", "/v1/internal/probe"),
]
# /ui (HTML refusals, the UI session cookie) and LiteLLM's closed sign-in routes (/sso/key/generate,
# ...): test_litellm_ui_session.py.
ADMINS = ("root@example.com", "admin@example.com", "someone@admins.example.org")
MANAGE = "/api/admin/manage"


def probe(stack, session, method, path, **kwargs):
    """Sends a request with a unique query marker; returns (response, marker)."""
    marker = uuid.uuid4().hex
    response = session.request(method, stack.url(path) + f"?probe={marker}", timeout=30, **kwargs)
    return response, marker


def assert_no_master_key(stack, response):
    assert stack.master_key not in response.text
    assert all(stack.master_key not in value for value in response.headers.values())


def reached_litellm(stack, method, path, marker, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if f'"{method} {path}?probe={marker} HTTP/1.1"' in litellm_log(stack):
            return True
        time.sleep(0.1)
    return False


# --- LiteLLM admin surface ---------------------------------------------------------------


@pytest.mark.parametrize("method,path", ADMIN_PATHS)
def test_litellm_admin_path_refuses_anonymous_and_non_admins(stack, email, method, path):
    anonymous, marker = probe(stack, requests.Session(), method, path, json={})
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "unauthenticated"
    assert_no_master_key(stack, anonymous)

    # A non-admin, even one who sends the master key and forged identity headers itself.
    refused, user_marker = probe(
        stack,
        stack.sign_in(email),
        method,
        path,
        json={},
        headers={
            "Authorization": f"Bearer {stack.master_key}",
            "X-Forwarded-Email": "root@example.com",
            "X-Authenticated-Email": "root@example.com",
            "X-Admin-Action": "true",
        },
    )
    assert refused.status_code == 403
    assert refused.json() == {"error": "Insufficient privileges. Admin access only.", "code": "not_admin", "user": email}
    assert_no_master_key(stack, refused)
    assert not reached_litellm(stack, method, path, marker, timeout=0.5)
    assert not reached_litellm(stack, method, path, user_marker, timeout=0.5)


@pytest.mark.parametrize("method,path", ADMIN_PATHS)
def test_litellm_admin_path_forwards_every_kind_of_admin(stack, method, path):
    for admin in ADMINS:
        response, marker = probe(stack, stack.sign_in(admin), method, path, json={})
        # LiteLLM's own answer (its status varies without a database), never the gateway's refusal.
        assert response.status_code not in (401, 405), (admin, response.status_code, response.text[:200])
        assert "not_admin" not in response.text
        assert reached_litellm(stack, method, path, marker), (admin, path)
        assert_no_master_key(stack, response)


def wait_for_log_growth(stack, text, before, timeout=5.0):
    deadline = time.time() + timeout
    while litellm_log(stack).count(text) == before and time.time() < deadline:
        time.sleep(0.1)
    return litellm_log(stack).count(text)


# The dev LiteLLM's auth hook logs this for any key other than the shared and master keys;
# without a database LiteLLM answers such a refusal with a bare 500, so the log tells.
REFUSED = "invalid api key (dev hook"


def test_litellm_admin_requests_carry_the_master_key(stack):
    # LiteLLM itself refuses a call without the master key...
    before = litellm_log(stack).count(REFUSED)
    direct = requests.get(
        f"http://127.0.0.1:{stack.env['LITELLM_PORT']}/v1/mcp/tools", headers={"Authorization": "Bearer sk-not-the-master-key"}
    )
    assert direct.status_code != 200
    assert wait_for_log_growth(stack, REFUSED, before) > before
    # ...and answers an admin's call through the gateway, whose client sent no key at all.
    before = litellm_log(stack).count(REFUSED)
    session = stack.sign_in("admin@example.com")
    response = session.get(stack.url("/v1/mcp/tools"))
    assert response.status_code == 200
    assert response.json() == {"tools": []}
    page = session.get(stack.url("/ui/"))
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert litellm_log(stack).count(REFUSED) == before


def test_mutating_litellm_admin_calls_are_audited(stack):
    session = stack.sign_in("admin@example.com")
    session.post(stack.url("/team/new"), json={"team_alias": "audited"})
    entries = session.get(stack.url("/api/admin/audit?limit=20")).json()["entries"]
    assert any(e["action"] == "litellm.admin" and e["target"] == "/team/new" and e["actor"] == "admin@example.com" for e in entries)


# --- POST /key/generate ------------------------------------------------------------------


def test_key_generate_reaches_litellm_with_the_master_key_for_any_signed_in_user(stack, email):
    refused_before = litellm_log(stack).count(REFUSED)
    no_db_before = litellm_log(stack).count("DB not connected")
    session = stack.sign_in(email)
    response = session.post(stack.url("/key/generate"), json={"key_alias": "laptop"})
    # Authenticated as admin (no auth refusal logged), LiteLLM gets as far as its key store,
    # which needs a database: its no-database failure, a bare 500, not 401.
    assert response.status_code == 500, response.text
    assert response.text == "Internal Server Error"
    assert wait_for_log_growth(stack, "DB not connected", no_db_before) > no_db_before
    assert litellm_log(stack).count(REFUSED) == refused_before
    assert_no_master_key(stack, response)


def test_key_generate_without_session_or_banned_never_reaches_litellm(stack, email):
    anonymous = requests.post(stack.url("/key/generate") + "?probe=anon-" + email, json={})
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "unauthenticated"
    session = stack.sign_in(email)
    stack.redis.set(f"active_user_deleted:{email}", "1", ex=600)
    try:
        marker = uuid.uuid4().hex
        banned = session.post(stack.url(f"/key/generate?probe={marker}"), json={})
        assert banned.status_code == 401
        assert banned.json()["status"] == "blocked"
        assert not reached_litellm(stack, "POST", "/key/generate", marker, timeout=0.5)
    finally:
        stack.redis.delete(f"active_user_deleted:{email}")
    assert session.get(stack.url("/key/generate")).status_code == 405


# --- admin manager -----------------------------------------------------------------------


def test_admin_manager_is_for_the_super_admin_only(stack, email):
    assert requests.get(stack.url(MANAGE)).status_code == 401
    for caller in (email, "admin@example.com", "someone@admins.example.org"):
        session = stack.sign_in(caller)
        for method in ("GET", "POST", "DELETE"):
            response = session.request(method, stack.url(MANAGE), json={"email": "x@example.com"})
            assert response.status_code == 403, (caller, method)
            assert response.json()["error"] == "Super admin only"
    assert not stack.redis.sismember("admin:emails", "x@example.com")


def test_super_admin_adds_lists_and_removes_a_runtime_admin(stack, email):
    root = stack.sign_in("root@example.com")
    newcomer = stack.sign_in(email)
    assert newcomer.get(stack.url("/api/admin/redis/cleanup/logs")).status_code == 403

    added = root.post(stack.url(MANAGE), json={"email": email.upper()})
    assert added.status_code == 201
    assert added.json() == {"message": "Admin added successfully", "email": email, "added_by": "root@example.com"}
    assert stack.redis.sismember("admin:emails", email)
    # The one admin rule: the new admin reaches admin APIs and LiteLLM's admin surface.
    assert newcomer.get(stack.url("/api/admin/redis/cleanup/logs")).status_code == 200
    assert newcomer.get(stack.url("/v1/mcp/tools")).status_code == 200
    assert root.post(stack.url(MANAGE), json={"email": email}).status_code == 409

    listing = root.get(stack.url(MANAGE)).json()
    by_email = {a["email"]: a for a in listing["admins"]}
    assert by_email["root@example.com"] == {"email": "root@example.com", "source": "super_admin", "removable": False}
    assert by_email["admin@example.com"] == {"email": "admin@example.com", "source": "environment", "removable": False}
    assert by_email[email] == {"email": email, "source": "redis", "removable": True}
    assert listing["total"] == len(listing["admins"])
    assert listing["admin_domains"] == ["admins.example.org"]

    removed = root.delete(stack.url(MANAGE), json={"email": email})
    assert removed.status_code == 200
    assert removed.json() == {"message": "Admin removed successfully", "email": email, "removed_by": "root@example.com"}
    assert newcomer.get(stack.url("/api/admin/redis/cleanup/logs")).status_code == 403
    assert newcomer.get(stack.url("/v1/mcp/tools")).status_code == 403
    assert root.delete(stack.url(MANAGE), json={"email": email}).status_code == 404

    actions = [(e["action"], e["target"], e["actor"]) for e in root.get(stack.url("/api/admin/audit?limit=50")).json()["entries"]]
    assert ("admin.add", email, "root@example.com") in actions
    assert ("admin.remove", email, "root@example.com") in actions


def test_super_admin_and_environment_admins_cannot_be_removed(stack):
    root = stack.sign_in("root@example.com")
    for target, code in (
        ("root@example.com", "super_admin_not_removable"),
        ("Admin@Example.com", "environment_admin_not_removable"),
        ("x@admins.example.org", "environment_admin_not_removable"),
    ):
        response = root.delete(stack.url(MANAGE), json={"email": target})
        assert response.status_code == 403, target
        assert response.json()["code"] == code
    assert root.get(stack.url("/api/admin/audit")).status_code == 200


@pytest.mark.parametrize("method", ["POST", "DELETE"])
@pytest.mark.parametrize(
    "body",
    [
        None,
        "not json",
        "[1]",
        "{}",
        '{"email": 5}',
        '{"email": ""}',
        '{"email": "no-at-sign"}',
        '{"email": "a@b"}',
        '{"email": "a b@example.com"}',
    ],
)
def test_admin_manager_bad_input_is_400(stack, method, body):
    root = stack.sign_in("root@example.com")
    response = root.request(method, stack.url(MANAGE), data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, (method, body, response.text)
    assert "error" in response.json()


def test_no_master_key_in_worker_or_nginx_logs(stack):
    # Runs after the tests above in this file (pytest keeps file order).
    for name in ("worker.log", "nginx-error.log", "access.log", "error.log", "identity.log"):
        path = stack.run_dir / "logs" / name
        if path.exists():
            assert stack.master_key not in path.read_text(errors="replace"), name
