"""Every route of the workers' table (read from the Swift source, Tests/harness/routes.py), through
nginx: the refusals the contract promises for all of them, as JSON with their stable `code`.

- anonymous: 401 `unauthenticated` (the public /health excepted), answered by nginx's identity
  check; so each guarded route is also sent by signed-in callers only the worker refuses: a
  banned user (401 `banned` on the token routes, 403 `banned` elsewhere), a user without the
  admin role (403 `not_admin`), an admin on the super admin's routes (403 `not_super_admin`);
- a state-changing request from another site with a valid super-admin session: 403 `csrf`,
  and Redis unchanged (also LiteLLM's state-changing surface, which the worker guards alike);
- a method the path does not have: 405 `method_not_allowed`;
- an /api path that is not in the table: 404 `not_found`.
"""

import json
import time
import uuid

import pytest

from harness.checks import assert_json_error
from harness.probes import cookie_header, send
from harness.routes import STATE_CHANGING, concrete_path, endpoints

ROUTES = endpoints()
GUARDED = [(m, concrete_path(p, prefix)) for m, p, prefix, access in ROUTES if access != "public"]
STATE_CHANGING_ROUTES = [(m, concrete_path(p, prefix)) for m, p, prefix, access in ROUTES if m in STATE_CHANGING]
# LiteLLM's surface behind the worker's "litellm-user" and "admin" checks (openresty/gateway.conf).
STATE_CHANGING_CHECKS = [("POST", "/key/generate"), ("POST", "/user/new"), ("DELETE", "/team/delete")]
CROSS_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


def call(stack, method, path, headers=None, body=b"{}"):
    """The request exactly as given (harness.probes.send), with a JSON body (`{}` unless given)."""
    return send(stack, method, path, dict({"Content-Type": "application/json"}, **(headers or {})), body)


def test_the_table_is_read_whole():
    assert len(ROUTES) >= 20
    assert len(STATE_CHANGING_ROUTES) >= 11


@pytest.mark.parametrize("method,path", GUARDED)
def test_every_guarded_route_refuses_anonymous_callers_with_json(stack, method, path):
    assert_json_error(call(stack, method, path), 401, "unauthenticated")


ACCESS = {(m, concrete_path(p, prefix)): access for m, p, prefix, access in ROUTES}
# The worker's own refusals of a caller nginx's auth_request lets through (a valid session).
BANNED = {"browser": 401}  # every other guarded access: 403 `banned`
NOT_ALLOWED = {"admin": "not_admin", "superAdmin": "not_super_admin"}


@pytest.fixture(scope="module")
def banned_cookie(stack):
    """A signed-in user whose session is alive (so nginx's identity check passes) and who is
    banned in Redis: only the worker can refuse them."""
    email = f"banned-{uuid.uuid4().hex[:8]}@example.com"
    session = stack.sign_in(email)
    stack.redis.set(f"active_user_deleted:{email}", str(int(time.time())), ex=3600)
    return cookie_header(session)


@pytest.mark.parametrize("method,path", GUARDED)
def test_every_guarded_route_refuses_a_signed_in_banned_caller_in_the_worker(stack, banned_cookie, method, path):
    assert_json_error(call(stack, method, path, {"Cookie": banned_cookie}), BANNED.get(ACCESS[(method, path)], 403), "banned")


@pytest.mark.parametrize("method,path", [route for route in GUARDED if ACCESS[route] in NOT_ALLOWED])
def test_every_admin_route_refuses_a_signed_in_caller_without_the_role_in_the_worker(stack, method, path):
    """A plain user on admin routes and an admin on the super admin's: signed in, so past nginx."""
    who = "plain-user@example.com" if ACCESS[(method, path)] == "admin" else "admin@example.com"
    cookie = cookie_header(stack.sign_in(who))
    assert_json_error(call(stack, method, path, {"Cookie": cookie}), 403, NOT_ALLOWED[ACCESS[(method, path)]])


@pytest.fixture(scope="module")
def super_admin_cookie(stack):
    return cookie_header(stack.sign_in("root@example.com"))


@pytest.mark.parametrize("method,path", STATE_CHANGING_ROUTES + STATE_CHANGING_CHECKS)
def test_every_state_changing_route_refuses_a_cross_site_request_and_changes_nothing(stack, super_admin_cookie, method, path):
    marker = uuid.uuid4().hex
    body = json.dumps(
        {"token_id": marker, "user_email": f"{marker}@example.com", "email": f"{marker}@example.com", "dry_run": False}
    ).encode()
    # (Not DBSIZE: the workers' index passes and other tests' expiring keys change it meanwhile.)
    newest = stack.redis.xrevrange("gw:audit", count=1)
    audit_start = "(" + newest[0][0] if newest else "-"
    for headers in (CROSS_SITE, {"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "same-site"}):
        response = call(stack, method, path, dict(headers, Cookie=super_admin_cookie), body)
        assert_json_error(response, 403, "csrf")
    assert not any(marker in key for key in stack.redis.scan_iter(match=f"*{marker}*", count=1000))
    assert not any(marker in str(fields) for _, fields in stack.redis.xrange("gw:audit", min=audit_start))
    # The same request from the gateway's own page is not refused as cross-site (the check is
    # not a blanket refusal). Not sent for the LiteLLM surface, which would create things.
    if (method, path) in STATE_CHANGING_ROUTES and "cleanup" not in path:
        same = call(stack, method, path, {"Origin": stack.base, "Sec-Fetch-Site": "same-origin", "Cookie": super_admin_cookie}, body)
        assert same.status != 403, (same.status, same.body[:200])


@pytest.mark.parametrize(
    "method,path", sorted({(m, concrete_path(p, prefix)) for m, p, prefix, _ in ROUTES if p.startswith("/api/")}, key=str)
)
def test_a_method_the_path_does_not_have_is_405_json(stack, super_admin_cookie, method, path):
    # As the Router matches: exact paths, and prefixes with something after them.
    allowed = {m for m, p, prefix, _ in ROUTES if path == p or (prefix and path.startswith(p) and len(path) > len(p))}
    wrong = next(m for m in ("PUT", "PATCH", "POST", "DELETE", "GET") if m not in allowed)
    body = assert_json_error(call(stack, wrong, path, {"Cookie": super_admin_cookie}), 405, "method_not_allowed")
    assert set(body["allowed"].split(", ")) == allowed


@pytest.mark.parametrize("path", ["/api/nope", "/api/token/generate/extra", "/api/admin/tokensx"])
def test_an_api_path_outside_the_table_is_404_json(stack, super_admin_cookie, path):
    assert_json_error(call(stack, "GET", path, {"Cookie": super_admin_cookie}), 404, "not_found")
