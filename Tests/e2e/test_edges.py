"""The last edges of the boundary (docs/security.md "Edges"), each from tables over raw sockets:

- no /v1 body is read before the caller is known (the check runs in auth_request): an anonymous
  or bad-token upload is refused within 100 ms and nothing lands in nginx's client-body folder;
  every refusal keeps its exact status and JSON body;
- any target nginx accepts gets the normal answer or a JSON 414, never 502/503;
- every answer nginx makes itself is JSON, and its redirects never echo the client's Host;
- e-mail addresses that Unicode folding would change are refused (403 identity_not_allowed),
  audited, and never merged with the ASCII address they fold to;
- a JWT with a `crit` header is refused (401 token_crit).
"""

import json
import time
import uuid

import pytest
import requests

from harness.checks import assert_json_error
from harness.jwts import claims_for, signed
from harness.raw_http import send


def client_body_files(stack) -> list:
    folder = stack.run_dir / "nginx" / "tmp" / "client_body"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


# --- item 4: no body is read before the caller is known ----------------------------------------

# (name, extra header lines, status, code): credentials the /v1 check refuses.
UNKNOWN_CALLERS = [
    ("no token", "", 401, "token_missing"),
    ("malformed bearer", "Authorization: Bearer abc\r\n", 401, "token_malformed"),
    ("malformed x-api-key", "x-api-key: abc\r\n", 401, "token_malformed"),
    ("not bearer", "Authorization: Basic Zm9vOmJhcg==\r\n", 401, "token_missing"),
    ("bad signature", "Authorization: Bearer {bad_signature}\r\n", 401, "token_signature"),
    ("expired", "Authorization: Bearer {expired}\r\n", 401, "token_expired"),
    ("crit", "Authorization: Bearer {crit}\r\n", 401, "token_crit"),
    ("two tokens", "Authorization: Bearer {valid}\r\nx-api-key: {other}\r\n", 401, "token_conflict"),
]


@pytest.fixture
def tokens(stack, email):
    return {
        "valid": stack.mint(email)["token"],
        "other": stack.mint(email, token_name="other")["token"],
        "bad_signature": signed("x" * 40, claims_for(email)),
        "expired": signed(stack.jwt_secret, claims_for(email, exp=int(time.time()) - 3600)),
        "crit": signed(stack.jwt_secret, claims_for(email), {"alg": "HS256", "crit": ["exp"]}),
    }


@pytest.mark.parametrize("name,credentials,status,code", UNKNOWN_CALLERS, ids=[c[0] for c in UNKNOWN_CALLERS])
def test_unknown_caller_30mb_upload_is_refused_before_the_body(stack, tokens, name, credentials, status, code):
    before = len(stack.litellm_requests())
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        "Content-Length: 30000000\r\n" + credentials.format(**tokens) + "\r\n"
    ).encode()
    # Only the head and the body's first bytes are sent: the answer must not wait for the rest.
    answer = send(stack.port, head + b'{"model":"gpt-4o-mini","messages":[')
    assert_json_error(answer, status, code)
    assert answer.head_at < 0.1, f"refusal took {answer.head_at * 1000:.0f} ms"
    assert client_body_files(stack) == []
    assert len(stack.litellm_requests()) == before


def test_allowed_upload_still_reaches_litellm_with_its_body_and_request_id(stack, tokens):
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "edges " + "x" * 300000}]})
    for header in ("Authorization: Bearer {valid}", "x-api-key: {valid}"):
        request = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n\r\n" % (len(body), header.format(**tokens))
        ).encode() + body.encode()
        status, headers, answer, _ = send(stack.port, request, within=60)
        assert status == 200, answer[:300]
        (request_id,) = headers["x-request-id"]
        seen = [h for h in stack.litellm_headers() if h.get("request_id") == request_id]
        assert seen, "LiteLLM did not receive the call under the client's request id"
        assert seen[0]["authorization_is_shared_key"] and not seen[0]["x_api_key_present"], seen


# (path, credentials, status, exact body): the refusals keep their bodies byte for byte.
EXACT_REFUSALS = [
    (
        "/v1/models",
        "",
        401,
        '{"error":{"message":"Authorization header or x-api-key required","type":"authentication_error","code":"token_missing"}}',  # noqa: E501 (exact bytes)
    ),
    (
        "/v1/models",
        "Authorization: Bearer abc\r\n",
        401,
        '{"error":{"message":"Invalid or expired token: Malformed token","type":"authentication_error","code":"token_malformed"}}',  # noqa: E501 (exact bytes)
    ),
    (
        "/v1/not-a-route",
        "",
        404,
        '{"error":{"message":"This API route is not available through the gateway","type":"invalid_request_error","code":"route_not_allowed"}}',  # noqa: E501 (exact bytes)
    ),
    (
        "/v1/./models",
        "",
        400,
        '{"error":{"message":"Ambiguous request path (dot segments, repeated slashes, backslashes or encoded separators are not accepted)","type":"invalid_request_error","code":"ambiguous_path"}}',  # noqa: E501 (exact bytes)
    ),
]


@pytest.mark.parametrize("path,credentials,status,body", EXACT_REFUSALS)
def test_v1_refusals_keep_status_body_and_request_id(stack, path, credentials, status, body):
    answer = send(stack.port, f"GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n{credentials}\r\n".encode())
    assert answer[0] == status
    assert answer[2].decode() == body
    assert answer[1]["content-type"] == ["application/json"]
    assert answer[1]["cache-control"] == ["no-store"]
    assert [len(value) for value in answer[1]["x-request-id"]] == [32]


# --- item 6: every target nginx accepts gets the normal answer or JSON 414 ---------------------

# (character, count): up to nginx's request-line limit (8 KB); `|` and `%7C` forwarded re-encoded.
TARGET_FILLS = [
    ("a", 4000),
    ("a", 8100),
    ("|", 1500),
    ("|", 2600),
    ("|", 2730),
    ("|", 2750),
    ("|", 8000),
    ("%7C", 2000),
    ("~", 8000),
    ("!", 8100),
    ("'", 4000),
]
# (surface, path prefix, how the caller is identified)
SURFACES = [("v1", "/v1/responses/", "jwt"), ("api", "/api/admin/tokens/", "admin"), ("admin", "/key/info/", "admin")]


@pytest.fixture(scope="module")
def admin_cookie(stack):
    session = stack.sign_in(stack.env.get("SUPER_ADMIN_EMAIL") or "root@example.com")
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items())


@pytest.mark.parametrize("surface,prefix,caller", SURFACES, ids=[s[0] for s in SURFACES])
@pytest.mark.parametrize("fill,count", TARGET_FILLS)
def test_long_targets_get_the_normal_answer_or_json_414(stack, tokens, admin_cookie, surface, prefix, caller, fill, count):
    credentials = f"Authorization: Bearer {tokens['valid']}" if caller == "jwt" else f"Cookie: {admin_cookie}"
    target = prefix + fill * count
    request = f"GET {target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n{credentials}\r\n\r\n".encode()
    status, headers, body, _ = send(stack.port, request, within=30)
    assert status not in (500, 502, 503, 504), (status, body[:300])
    if status == 414:
        assert headers["content-type"][0].startswith("application/json"), body[:200]
        code = json.loads(body)
        assert (code["error"]["code"] if isinstance(code["error"], dict) else code["code"]) == "uri_too_long"
    if len(target) + 14 > 8192:  # over nginx's request line: nginx's own 414, as JSON
        assert status == 414


# --- item 7: nginx's own answers are JSON; its redirects are relative ---------------------------

HOST = "Host: gw\r\nConnection: close\r\n"
NGINX_ANSWERS = [
    (
        "501 transfer-encoding",
        "POST /v1/chat/completions HTTP/1.1\r\n" + HOST + "Transfer-Encoding: gzip, chunked\r\n\r\n",
        501,
        "not_implemented",
    ),
    ("501 on /api", "POST /api/token/generate HTTP/1.1\r\n" + HOST + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, "not_implemented"),
    ("505 HTTP/2.0", "GET /v1/models HTTP/2.0\r\n" + HOST + "\r\n", 505, "http_version_not_supported"),
    ("505 HTTP/3.1 on /key", "GET /key/info HTTP/3.1\r\n" + HOST + "\r\n", 505, "http_version_not_supported"),
    ("414 request line", "GET /v1/" + "a" * 9000 + " HTTP/1.1\r\n" + HOST + "\r\n", 414, "uri_too_long"),
    ("414 on /api", "GET /api/" + "a" * 9000 + " HTTP/1.1\r\n" + HOST + "\r\n", 414, "uri_too_long"),
    ("494 one header", "GET /v1/models HTTP/1.1\r\n" + HOST + "X-Big: " + "a" * 9000 + "\r\n\r\n", 400, "header_too_large"),
    (
        "494 header block",
        "GET /api/token/list HTTP/1.1\r\n" + HOST + "".join(f"X-H{i}: {'a' * 7000}\r\n" for i in range(6)) + "\r\n",
        400,
        "header_too_large",
    ),
    ("494 cookie", "GET /key/info HTTP/1.1\r\n" + HOST + "Cookie: a=" + "b" * 9000 + "\r\n\r\n", 400, "header_too_large"),
    ("400 request line", "GET  HTTP/1.1\r\n" + HOST + "\r\n", 400, "bad_request"),
    ("400 no Host", "GET /v1/models HTTP/1.1\r\nConnection: close\r\n\r\n", 400, "bad_request"),
    (
        "400 bad chunk on /api",
        "POST /api/token/generate HTTP/1.1\r\n" + HOST + "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
        "bad_request",
    ),
    (
        "400 bad chunk on /v1",
        "POST /v1/chat/completions HTTP/1.1\r\n" + HOST + "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
        "bad_request",
    ),
    ("405 TRACE", "TRACE /v1/models HTTP/1.1\r\n" + HOST + "\r\n", 405, "method_not_allowed"),
    ("413 /v1", "POST /v1/chat/completions HTTP/1.1\r\n" + HOST + "Content-Length: 40000000\r\n\r\n", 413, "request_too_large"),
    ("413 /api", "POST /api/token/generate HTTP/1.1\r\n" + HOST + "Content-Length: 40000000\r\n\r\n", 413, "request_too_large"),
    ("413 /key/generate", "POST /key/generate HTTP/1.1\r\n" + HOST + "Content-Length: 100000\r\n\r\n", 413, "request_too_large"),
    ("413 admin surface", "POST /key/info HTTP/1.1\r\n" + HOST + "Content-Length: 40000000\r\n\r\n", 413, "request_too_large"),
]


@pytest.mark.parametrize("name,request_text,status,code", NGINX_ANSWERS, ids=[a[0] for a in NGINX_ANSWERS])
def test_nginx_answers_are_json(stack, name, request_text, status, code):
    assert_json_error(send(stack.port, request_text.encode()), status, code)


@pytest.mark.parametrize("path", ["/v1", "/team", "/key", "/model"])
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8443", "127.0.0.1"])
def test_slash_redirects_never_echo_the_client_host(stack, path, host):
    status, headers, _, _ = send(stack.port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert status == 301
    assert headers["location"] == [path + "/"]


# --- item 8: e-mails folded in ASCII only --------------------------------------------------------

# (address an identity provider may send, the ASCII address Unicode folding makes of it)
FOLDING = [
    ("\u212aate-{u}@example.com", "kate-{u}@example.com"),  # KELVIN SIGN
    ("\uff2bate-{u}@example.com", "kate-{u}@example.com"),  # FULLWIDTH K
    ("kate-{u}@\uff45xample.com", "kate-{u}@example.com"),  # FULLWIDTH e
    ("b\u0131ll-{u}@example.com", "bill-{u}@example.com"),  # DOTLESS I
    ("B\u0130LL-{u}@example.com", "bill-{u}@example.com"),  # I WITH DOT ABOVE
    ("ro\u017fe-{u}@example.com", "rose-{u}@example.com"),  # LONG S
    ("\ufb01nn-{u}@example.com", "finn-{u}@example.com"),  # LIGATURE FI
    ("root@example.\u217dom", "root@example.com"),  # ROMAN NUMERAL C: the super admin
    ("\u0391lice-{u}@example.com", "alice-{u}@example.com"),  # GREEK ALPHA (no folding; still not ASCII)
]


@pytest.mark.parametrize("address,folded", FOLDING, ids=[f"{f[1].split('-')[0].split('@')[0]}{i}" for i, f in enumerate(FOLDING)])
def test_folding_identity_is_refused_audited_and_not_merged(stack, address, folded):
    unique = uuid.uuid4().hex[:8]
    address, folded = address.format(u=unique), folded.format(u=unique)
    person = stack.mint(folded)  # the ASCII person exists, with a token
    tokens_before = stack.redis.scard(f"user:tokens:{folded}")
    intruder = requests.Session()
    assert intruder.post(stack.url("/oauth2/sign_in"), data={"email": address}, allow_redirects=False).status_code == 302
    for method, path in (
        ("POST", "/api/token/generate"),
        ("GET", "/api/token/list"),
        ("GET", "/api/admin/tokens"),
        ("GET", "/api/admin/manage"),
    ):
        response = intruder.request(method, stack.url(path), json={"token_name": "x"}, headers={"Origin": stack.base})
        assert_json_error(response, 403, "identity_not_allowed")
    assert intruder.get(stack.url("/token-manager")).status_code == 403
    assert intruder.get(stack.url("/key/info"), headers={"Origin": stack.base}).status_code == 403
    # Nothing was stored for either spelling beyond the person's own token.
    assert stack.redis.scard(f"user:tokens:{folded}") == tokens_before
    assert stack.redis.scard(f"user:tokens:{address}") == 0
    entries = stack.redis.xrevrange("gw:audit", count=50)
    assert any(e[1].get("action") == "identity_refused" and e[1].get("target") == address for e in entries)
    # A token naming the address (signed with the gateway's secret) is refused on /v1.
    forged = signed(stack.jwt_secret, claims_for(address))
    answer = send(stack.port, f"GET /v1/models HTTP/1.1\r\n{HOST}Authorization: Bearer {forged}\r\n\r\n".encode())
    assert_json_error(answer, 403, "identity_not_allowed")
    # The person's own token still works.
    assert requests.get(stack.url("/v1/models"), headers={"Authorization": f"Bearer {person['token']}"}).status_code == 200


# --- item 9: JWT crit ------------------------------------------------------------------------------

CRIT_HEADERS = [
    {"alg": "HS256", "typ": "JWT", "crit": ["exp"]},
    {"alg": "HS256", "crit": ["b64"], "b64": False},
    {"alg": "HS256", "crit": ["x-unknown"], "x-unknown": 1},
    {"alg": "HS256", "crit": []},
    {"alg": "HS256", "crit": "exp"},
    {"alg": "HS256", "crit": None},
    {"alg": "HS256", "crit": {}},
]


@pytest.mark.parametrize("header", CRIT_HEADERS, ids=[json.dumps(h["crit"]) for h in CRIT_HEADERS])
@pytest.mark.parametrize("carrier", ["Authorization: Bearer", "x-api-key:"])
def test_jwt_with_crit_is_refused(stack, email, header, carrier):
    before = len(stack.litellm_requests())
    token = signed(stack.jwt_secret, claims_for(email), header)
    answer = send(stack.port, f"GET /v1/models HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n{carrier} {token}\r\n\r\n".encode())
    assert_json_error(answer, 401, "token_crit")
    assert len(stack.litellm_requests()) == before
