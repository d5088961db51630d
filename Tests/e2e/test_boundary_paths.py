"""The access boundary seen from LiteLLM's side (docs/security.md "Exact paths to LiteLLM",
"Forwarding headers"): only the path nginx matched and the worker checked, with the key that
check chose, ever reaches LiteLLM; forwarding headers come from nginx, not from the client; and
LiteLLM's answers cannot steer nginx.

Request targets are sent over raw sockets exactly as written (python-requests would normalise
them). The corpus is generated from tables: forwarding locations × target mutations (encodings,
dot segments, slashes, separators) × credentials (a JWT, a user's cookie, an admin's cookie).
Every answer must be either a refusal by the gateway (4xx JSON with a `code`, and nothing
recorded by LiteLLM) or a request LiteLLM recorded (dev/litellm record_request) with exactly the
checked path and the expected key.
"""

import json
import socket
import threading
import uuid
from urllib.parse import unquote_to_bytes

import pytest

from harness.nginx_conf import expanded
from harness.probes import cookie_header
from harness.raw_http import request
from harness.stack import sibling_stack

# (location kind, method, path): every location that forwards to LiteLLM, with a route there
# that LiteLLM authenticates (so that LiteLLM records what it received). /v1 goes through
# @litellm with the shared key; the admin surface and /key/generate through @litellm_admin with
# the master key.
BASES = [
    ("v1", "GET", "/v1/models"),
    ("v1", "POST", "/v1/chat/completions"),
    ("admin", "GET", "/key/info"),
    ("admin", "GET", "/user/info"),
    ("admin", "GET", "/team/list"),
    ("admin", "GET", "/organization/list"),
    ("admin", "GET", "/spend/logs"),
    ("admin", "GET", "/v1/mcp/server"),
    ("admin", "POST", "/key/generate"),
]

# Prefixes a traversal starts from: other LiteLLM routes (pass-through, MCP, plugins) and the
# other admin-surface locations.
TRAVERSAL_PREFIXES = ["mcp", "anthropic/v1/models%3F", "plugin-proxy/x/y", "ui", "sso/x", "v1/internal", "admin", "openai/v1"]


def _encode_last_letter(path: str, upper: bool) -> str:
    index = max(i for i, c in enumerate(path) if c.isalpha())
    escape = f"%{ord(path[index]):02X}" if upper else f"%{ord(path[index]):02x}"
    return path[:index] + escape + path[index + 1 :]


def _first_inner_slash(path: str) -> int:
    return path.index("/", 1)


def mutations(path: str):
    """(name, raw target bytes, harmless): `harmless` targets mean exactly `path` without any
    ambiguity and must be forwarded; all others are tricks that must never reach another route."""
    rest = path[1:]
    slash = _first_inner_slash(path)
    last = path.rsplit("/", 1)[1]
    cases = [
        ("clean", path, True),
        ("escaped-letter", _encode_last_letter(path, upper=False), True),
        ("escaped-letter-upper", _encode_last_letter(path, upper=True), True),
    ]
    for prefix in TRAVERSAL_PREFIXES:
        depth = prefix.count("/") + 1
        cases.append((f"traversal-from-{prefix}", "/" + prefix + "/" + "../" * depth + rest, False))
    cases += [
        ("dot-segment", path[:slash] + "/." + path[slash:], False),
        ("leading-double-slash", "/" + path, False),
        ("inner-double-slash", path[:slash] + "/" + path[slash:], False),
        ("encoded-dots-lower", "/x/%2e%2e/" + rest, False),
        ("encoded-dots-mixed", "/x/.%2E/" + rest, False),
        ("encoded-dots-first", "/x/%2E./" + rest, False),
        ("encoded-slash-upper", path[:slash] + "%2F" + path[slash + 1 :], False),
        ("encoded-slash-lower", path[:slash] + "%2f" + path[slash + 1 :], False),
        ("encoded-slash-traversal", "/mcp%2F..%2F" + rest, False),
        ("backslash", path[:slash] + "\\" + path[slash + 1 :], False),
        ("backslash-traversal", path + "\\..\\..\\v1\\models", False),
        ("encoded-backslash", path + "%5C..%5C..%5Cv1%5Cmodels", False),
        ("encoded-question-mark", path + "%3F/../" + last, False),
        ("encoded-hash", path + "%23/../" + last, False),
        ("encoded-percent", path + "%252e%252e", False),
        ("encoded-nul", path + "%00", False),
        ("control-byte", path[:slash] + "\x01" + path[slash:], False),
        ("trailing-dot", path + "/.", False),
        ("trailing-dot-dot", path + "/../" + last, False),
        ("bad-escape", path + "%zz", False),
        ("upper-case", path.upper(), False),
    ]
    return [(name, target.encode("latin-1"), harmless) for name, target, harmless in cases]


def nginx_normalised(target: bytes) -> str:
    """The path as nginx checks it: decoded, slashes merged, dot segments resolved."""
    decoded = unquote_to_bytes(target.split(b"?", 1)[0]).decode("latin-1")
    out = []
    for segment in decoded.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    return "/" + "/".join(out) + ("/" if decoded.endswith(("/", "/.", "/..")) and out else "")


# RFC 3986 path characters (unreserved, sub-delims, ":", "@", "/"): sent as they are.
PLAIN_PATH_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/")


def forwarded_form(checked: str) -> str:
    """The exact bytes LiteLLM must receive for a checked path: the path itself, every other
    byte as an upper-case %XX escape. Never the client's raw spelling (`/v1/model%73` for
    `/v1/models`): LiteLLM routes on what it receives, without normalising."""
    return "".join(chr(byte) if byte in PLAIN_PATH_BYTES else f"%{byte:02X}" for byte in checked.encode("latin-1"))


def gateway_code(status: int, body: bytes):
    """The stable code of a 4xx JSON answer (`code` or OpenAI-style `error.code`), else None."""
    if not 400 <= status < 500:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    error = document.get("error")
    code = document.get("code") or (error.get("code") if isinstance(error, dict) else None)
    return code if isinstance(code, str) and code else None


# Which key LiteLLM must see when a credential passes a location's check; None: refused.
EXPECTED_KEY = {("v1", "jwt"): "shared", ("admin", "admin"): "master", ("keygen", "user"): "master", ("keygen", "admin"): "master"}

BODIES = {"/v1/chat/completions": json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()}


def location_kind(kind: str, path: str) -> str:
    return "keygen" if path == "/key/generate" else kind


@pytest.fixture(scope="module")
def credentials(stack):
    user = f"paths-{uuid.uuid4().hex[:8]}@example.com"
    admin = f"paths-{uuid.uuid4().hex[:8]}@admins.example.org"

    token = stack.mint(f"paths-jwt-{uuid.uuid4().hex[:8]}@example.com")["token"]
    return {
        "jwt": {"Authorization": f"Bearer {token}"},
        "user": {"Cookie": cookie_header(stack.sign_in(user))},
        "admin": {"Cookie": cookie_header(stack.sign_in(admin))},
    }


def test_only_the_checked_path_reaches_litellm(stack, credentials):
    port = int(stack.env["GATEWAY_PORT"])
    run = uuid.uuid4().hex[:8]
    sent = []
    for kind, method, path in BASES:
        location = location_kind(kind, path)
        for name, target, harmless in mutations(path):
            for credential, headers in credentials.items():
                probe = f"{run}-{len(sent)}"
                full_target = target + b"?gwprobe=" + probe.encode()
                # The probe travels in the query and in a header: /key/generate is forwarded without
                # the client's query (its body is rebuilt by the worker), so LiteLLM records only the header.
                probe_headers = dict(headers, **{"X-Gateway-Test-Probe": probe})
                status, _, body = request(port, method, full_target, probe_headers, BODIES.get(path, b"{}"))[:3]
                sent.append(
                    dict(
                        probe=probe,
                        location=location,
                        path=path,
                        method=method,
                        mutation=name,
                        target=full_target,
                        harmless=harmless,
                        credential=credential,
                        status=status,
                        body=body[:300],
                    )
                )
    assert len(sent) >= 300
    print(f"\nboundary corpus: {len(sent)} request targets")

    records = {}
    for record in stack.litellm_requests():
        query = dict(pair.split("=", 1) for pair in record["query"].split("&") if "=" in pair)
        probe = query.get("gwprobe") or record.get("probe") or ""
        if probe.startswith(run + "-"):
            records.setdefault(probe, []).append(record)

    failures = []
    for case in sent:
        expected_key = EXPECTED_KEY.get((case["location"], case["credential"]))
        got = records.get(case["probe"], [])
        label = f"{case['method']} {case['target']!r} as {case['credential']} -> {case['status']} {case['body']!r}"
        if not got:
            if gateway_code(case["status"], case["body"]) is None:
                failures.append(f"neither refused with a JSON code nor recorded by LiteLLM: {label}")
            elif case["harmless"] and expected_key:
                failures.append(f"a plain request was refused: {label}")
            continue
        record = got[0]
        checked = nginx_normalised(case["target"])
        if len(got) != 1 or record["path"] != checked or record["method"] != case["method"]:
            failures.append(
                f"LiteLLM routed {record['method']} {record['raw_path']!r} (path {record['path']!r}), "
                f"the gateway checked {checked!r}: {label}"
            )
        elif record["raw_path"] != forwarded_form(checked):
            failures.append(
                f"LiteLLM received the raw path {record['raw_path']!r}, not the checked path's exact bytes "
                f"{forwarded_form(checked)!r}: {label}"
            )
        elif record["key"] != expected_key:
            failures.append(f"LiteLLM got the {record['key']} key, expected {expected_key}: {label}")
    assert not failures, f"{len(failures)} of {len(sent)} cases broke the boundary:\n" + "\n".join(failures[:40])


SPOOFED = {
    "X-Forwarded-For": "198.51.100.66",
    "X-Forwarded-Host": "evil.example",
    "X-Real-IP": "198.51.100.67",
    "Forwarded": "for=198.51.100.68;host=evil.example",
}


def test_client_forwarding_headers_never_reach_litellm(stack, credentials):
    port = int(stack.env["GATEWAY_PORT"])
    run = uuid.uuid4().hex[:8]
    for credential, target in [("jwt", "/v1/models"), ("admin", "/key/info")]:
        headers = dict(credentials[credential], **SPOOFED)
        status, _, body, _ = request(port, "GET", f"{target}?gwprobe={run}-{credential}".encode(), headers)
        assert status != 502, body
    recorded = [r for r in stack.litellm_requests() if f"gwprobe={run}-" in r["query"]]
    assert len(recorded) == 2, recorded
    for record in recorded:
        assert record["headers"].get("x-forwarded-for") == ["127.0.0.1"], record
        assert record["headers"].get("x-real-ip") == ["127.0.0.1"], record
        # nginx's own value (the listener's host and port), never the client's: test_litellm_forwarding.py
        assert record["headers"].get("x-forwarded-host") == [f"127.0.0.1:{port}"], record
        assert "forwarded" not in record["headers"], record


class FakeLiteLLM:
    """A raw-socket upstream in LiteLLM's place that records each request's headers and answers
    with X-Accel-* headers, among them an internal redirect to the token manager page."""

    BODY = b'{"from":"fake-litellm"}'

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.requests = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                headers = {}
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    headers.setdefault(name.strip().lower(), []).append(value.strip())
                self.requests.append((head[0], headers))
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"X-Accel-Redirect: /_ui/token-manager.html\r\nX-Accel-Expires: 3600\r\n"
                    b"X-Accel-Limit-Rate: 1\r\nX-Accel-Buffering: yes\r\nX-Accel-Charset: koi8-r\r\n"
                    + f"Content-Length: {len(self.BODY)}\r\nConnection: close\r\n\r\n".encode()
                    + self.BODY
                )

    def close(self):
        self.server.close()


def test_litellm_cannot_steer_nginx_and_trusted_proxy_names_the_client(stack, credentials):
    fake = FakeLiteLLM()
    try:
        with sibling_stack(stack, "accel", LITELLM_UPSTREAM=f"127.0.0.1:{fake.port}", TRUSTED_PROXIES="127.0.0.1") as sibling:
            port = int(sibling.env["GATEWAY_PORT"])
            for credential, target in [("jwt", b"/v1/models"), ("admin", b"/key/info")]:
                headers = dict(credentials[credential], **SPOOFED)
                status, answer_headers, body, _ = request(port, "GET", target, headers, within=10)
                # The upstream's answer, not the internal page it pointed at; no X-Accel-* leaks.
                assert status == 200 and body == FakeLiteLLM.BODY, (status, body[:200])
                assert not [name for name in answer_headers if name.startswith("x-accel-")], answer_headers
                assert "koi8-r" not in ",".join(answer_headers.get("content-type", []))
            assert len(fake.requests) == 2
            for request_line, headers in fake.requests:
                # The trusted proxy (127.0.0.1) named the client; nginx forwarded its own value.
                assert headers.get("x-forwarded-for") == ["198.51.100.66"], (request_line, headers)
                assert headers.get("x-real-ip") == ["198.51.100.66"], (request_line, headers)
                assert headers.get("x-forwarded-host") == [f"127.0.0.1:{port}"] and "forwarded" not in headers, headers
    finally:
        fake.close()


def test_oauth2_proxy_gets_forwarding_headers_from_nginx_only():
    """Production identity (OAuth2 Proxy is not part of the dev stack): every location that
    proxies to it sets the forwarding headers itself."""
    text = expanded("identity-oauth2-proxy.conf")  # the locations with their snippets
    blocks = [block for block in text.split("location ")[1:] if "proxy_pass http://oauth2_proxy" in block]
    assert len(blocks) == 2
    for block in blocks:
        for line in [
            "proxy_set_header X-Forwarded-For $remote_addr;",
            "proxy_set_header X-Real-IP $remote_addr;",
            "proxy_set_header X-Forwarded-Host $host;",
            'proxy_set_header Forwarded "";',
        ]:
            assert line in block, (line, block)
