"""Bad input is a 4xx, never a 5xx (docs/security.md P5): every /api endpoint of the route table
(read from the Swift source by harness/routes.py, so a new route is swept without touching this file),
called as the role it needs, with every parameter malformed: wrong type, negative, huge, empty,
NUL, overlong, bad cursor, bad JSON, wrong content type, bad percent-encoding. Every answer is a
2xx, or a 4xx JSON with a stable `code`; never a 5xx, never internal (Redis) text.

Requests go over http.client with the target exactly as written."""

import http.client
import json

import pytest

from harness.routes import endpoints
from harness.stack import ROOT

ROLE_USERS = {
    "browser": "sweep-user@example.com",
    "browserGuarded": "sweep-user@example.com",
    "admin": "admin@example.com",
    "superAdmin": "root@example.com",
}

# Text that must never reach a client: Redis replies, Swift error descriptions, stack traces.
INTERNAL = [
    "ERR ",
    "WRONGTYPE",
    "Invalid stream ID",
    "invalid cursor",
    "hiredis",
    "RedisError",
    "protocolError",
    "server(",
    "Traceback",
    "Fatal error",
    "NOSCRIPT",
    "user_script",
    "redis.call",
    "unexpected SCAN reply",
]


ROUTES = [route for route in endpoints() if route[1].startswith("/api/")]


def test_the_route_table_is_read():
    # The sweep is only as good as the table it reads.
    assert len(ROUTES) >= 20
    assert ("GET", "/api/admin/audit", False, "admin") in ROUTES
    assert any(prefix for _, _, prefix, _ in ROUTES)


QUERY_NAMES = ["limit", "cursor", "token_id"]
QUERY_VALUES = [
    "",
    "-",
    "-1",
    "0",
    "1.5",
    "abc",
    "1e3",
    "+1",
    "%201",
    "99999999999999999999999",
    "18446744073709551616",
    "18446744073709551615",
    "%00",
    "1%00",
    "%zz",
    "%",
    "%C3%28",
    "%E2%91%A0",
    "%C2%BD",
    "x" * 3000,
    "0-0",
    "1-",
    "-1-1",
    "1-2-3",
    "99999999999999999999-0",
    "18446744073709551616-0",
    "(1-0",
    "+",
    "[1]",
    "%2B",
]
NAMED_FIELDS = ["user_email", "email", "token_id", "token_name", "expires_in", "scopes"]
FIELD_VALUES = [
    None,
    5,
    -1,
    0,
    1.5,
    1e308,
    10**30,
    True,
    "",
    " ",
    "x" * 5000,
    "a\u0000b",
    [],
    {},
    ["x"],
    {"a": 1},
    "not-an-email",
    "@",
    "a@",
    "%00",
    "-",
]
RAW_BODIES = [
    b"",
    b"not json",
    b"{",
    b"[]",
    b"null",
    b"1",
    b'"s"',
    b"{}",
    b'{"a":1}',
    b"\x00",
    b"{\x00}",
    b'{"email": "a\x00@example.com"}',
    b"\xff\xfe",
    b'{"email": "\xff@example.com"}',
    b"[" * 5000,
    b'{"a":' * 5000,
    b'{"email": 1e99999}',
    b'{"user_email": "a@example.com", "user_email": 5}',
]
CONTENT_TYPES = ["text/plain", "application/x-www-form-urlencoded", None, "application/jsonx", "multipart/form-data"]
PATH_SUFFIXES = [
    "x",
    "@",
    "a@",
    "a@b",
    "a%40example.com",
    "not-an-email",
    "-",
    "0",
    "%00",
    "a%00b%40example.com",
    "%0a",
    "%20",
    "%C3%28",
    "x" * 3000,
    "%2540",
    "a@example.com%00",
    "_oauth2_proxy-zz",
]


def cases():
    for method, path, prefix, access in ROUTES:
        bases = [path + suffix for suffix in PATH_SUFFIXES] if prefix else [path]
        for base in bases:
            if method == "GET":
                for name in QUERY_NAMES:
                    for value in QUERY_VALUES:
                        yield access, method, f"{base}?{name}={value}", None, None
                yield access, method, f"{base}?%zz=1", None, None
                yield access, method, base, None, None
            else:
                for field in NAMED_FIELDS:
                    for value in FIELD_VALUES:
                        yield access, method, base, json.dumps({field: value}).encode(), "application/json"
                for body in RAW_BODIES:
                    yield access, method, base, body, "application/json"
                for content_type in CONTENT_TYPES:
                    yield access, method, base, b'{"email": "a@example.com"}', content_type
                yield access, method, base + "?limit=%zz", None, None


@pytest.fixture(scope="module")
def cookies(stack):
    jar = {}
    for access, email in ROLE_USERS.items():
        session = stack.sign_in(email)
        jar[access] = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    return jar


def check(stack, cookie, method, target, body, content_type):
    headers = {"Cookie": cookie}
    if content_type:
        headers["Content-Type"] = content_type
    connection = http.client.HTTPConnection("127.0.0.1", int(stack.env["GATEWAY_PORT"]), timeout=60)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        status, text = response.status, response.read().decode("utf-8", errors="replace")
        content = response.getheader("Content-Type") or ""
    finally:
        connection.close()
    where = f"{method} {target[:100]} body={body[:50] if body else body!r} type={content_type}"
    text_short = " ".join(text.split())[:160]
    problems = []
    if status >= 500:
        problems.append(f"{status} for {where}: {text_short}")
    elif status >= 400:
        try:
            code = json.loads(text).get("code") if content.startswith("application/json") else None
        except ValueError:
            code = None
        if not isinstance(code, str) or not code:
            problems.append(f"{status} without a JSON code for {where}: {text_short}")
    leaked = [marker for marker in INTERNAL if marker in text]
    if leaked:
        problems.append(f"internal text {leaked} for {where}: {text_short}")
    return problems


def test_every_malformed_parameter_of_every_api_endpoint_is_a_4xx_json_with_a_code(stack, cookies):
    problems = []
    count = 0
    for access, method, target, body, content_type in cases():
        count += 1
        problems += check(stack, cookies[access], method, target, body, content_type)
    # The session survives the sweep (a ban or revoke of the sweeping accounts would hide failures).
    assert stack.redis.exists("active_user_deleted:admin@example.com") == 0
    assert count > 2000, count
    if problems:  # the whole list, for a look after a failure (test-artifacts/ is ignored)
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        (ROOT / "test-artifacts" / "input-sweep-problems.txt").write_text("\n".join(problems) + "\n")
    assert not problems, f"{len(problems)} of {count} requests:\n" + "\n".join(problems[:60])
