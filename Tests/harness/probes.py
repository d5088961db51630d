"""Requests sent exactly as written over http.client and what reached LiteLLM (a client library
that normalises paths would hide what the boundary tests look for), and the OAuth2 Proxy session
a signed-in client holds. Raw bytes on a socket: harness/raw_http.py."""

import base64
import http.client
import time


def send(stack, method, target, headers=None, body=None, port=None, timeout=60):
    """One request over http.client with the target byte for byte (no client-side normalising; a
    Host header given is sent instead of http.client's); returns the response, its body read
    (`response.body`, bytes: checks.assert_json_error takes it as it is)."""
    connection = http.client.HTTPConnection("127.0.0.1", port or int(stack.env["GATEWAY_PORT"]), timeout=timeout)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        response.body = response.read()
        return response
    finally:
        connection.close()


def exchange(stack, method, target, headers=None, body=None, port=None):
    """`send`, as (status, [(header, value)] with repeated headers kept, body bytes)."""
    response = send(stack, method, target, headers, body, port)
    return response.status, response.getheaders(), response.body


def raw(stack, method, target, headers=None, body=None, port=None):
    """`send`, as (status, headers as a dict, body text)."""
    response = send(stack, method, target, headers, body, port)
    return response.status, dict(response.getheaders()), response.body.decode("utf-8", errors="replace")


def cookie_header(session) -> str:
    """A Cookie header with every cookie of a requests.Session (or a {name: value} dict)."""
    if isinstance(session, dict):
        return "; ".join(f"{name}={value}" for name, value in session.items())
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in session.cookies)


def bearer(token):
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def litellm_log(stack) -> str:
    return (stack.run_dir / "logs" / "litellm.log").read_text(errors="replace")


def reached_litellm(stack, marker, timeout=10.0):
    """Whether LiteLLM's access log has a request carrying `probe=<marker>` (also requests LiteLLM
    answers before authenticating, e.g. a method it has no route for). Waits up to `timeout`."""
    deadline = time.time() + timeout
    while True:
        if f"probe={marker}" in litellm_log(stack):
            return True
        if time.time() >= deadline:
            return False
        time.sleep(0.1)


def recorded_request(stack, marker, timeout=10.0):
    """What LiteLLM received for the request carrying `probe=<marker>` (dev hook record_request),
    or None after `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for record in stack.litellm_requests():
            if f"probe={marker}" in record["query"]:
                return record
        time.sleep(0.1)
    return None


def session_key(browser) -> str:
    """The OAuth2 Proxy session id (the Redis key) inside the `_oauth2_proxy` cookie."""
    encoded = browser.cookies["_oauth2_proxy"].strip('"').split("|")[0]
    ticket = base64.urlsafe_b64decode(encoded).decode()
    raw_id = ticket.split(".")[1]
    return base64.urlsafe_b64decode(raw_id + "=" * (-len(raw_id) % 4)).decode()
