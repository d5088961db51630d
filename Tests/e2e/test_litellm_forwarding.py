"""Forwarding headers come from nginx alone, on every location that reaches LiteLLM (/v1's
@litellm, /key/generate, the admin surface, /ui): `Host` with the port, `X-Forwarded-Proto`,
`-Host` and `-Port` from GATEWAY_PUBLIC_URL when it is set, else from the listener, and
`X-Forwarded-Prefix` blanked, whatever the client sent. Proven from LiteLLM's side (the request
recorder of dev/litellm/gateway_dev_hooks.py) and by LiteLLM's own redirect (GET /ui -> /ui/)."""

import json
import subprocess
import uuid

import pytest

from harness.probes import cookie_header, send
from harness.stack import ROOT, sibling_stack

# What a client may send to steer LiteLLM's idea of where it is reached.
SPOOFED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Port": "9999",
    "X-Forwarded-Prefix": "/evil",
    "X-Forwarded-Scheme": "https",
    "Forwarded": "for=198.51.100.1;host=evil.example;proto=https",
}

# Every kind of location that reaches LiteLLM: (credential, method, path, body).
LOCATIONS = [
    ("jwt", "GET", "/v1/models", None),
    ("jwt", "POST", "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
    ("user", "POST", "/key/generate", {"key_alias": "forwarding"}),
    ("admin", "GET", "/key/info", None),
    ("admin", "GET", "/management/v1/users/me", None),
    ("admin", "GET", "/model/info", None),
]

PUBLIC_URL = "https://gateway.example.test:8443"


def credentials_for(stack) -> dict:
    return {
        "jwt": {"Authorization": f"Bearer {stack.mint(f'fwd-jwt-{uuid.uuid4().hex[:8]}@example.com')['token']}"},
        "user": {"Cookie": cookie_header(stack.sign_in(f"fwd-{uuid.uuid4().hex[:8]}@example.com"))},
        "admin": {"Cookie": cookie_header(stack.sign_in("admin@example.com"))},
    }


def sent_everywhere(stack, host_header: str) -> list:
    """Sends each location with the spoofed headers; returns LiteLLM's record of each."""
    credentials = credentials_for(stack)
    run = uuid.uuid4().hex[:8]
    for index, (credential, method, path, body) in enumerate(LOCATIONS):
        headers = dict(SPOOFED, Host=host_header, **credentials[credential], **{"x-gateway-test-probe": f"{run}-{index}"})
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = send(stack, method, path, headers, json.dumps(body).encode() if body is not None else None)
        # LiteLLM may fail a call it cannot serve without its database (500); the gateway let it through.
        assert response.status not in (401, 403, 502, 503), (path, response.status, response.body[:300])
    records = {record["probe"]: record for record in stack.litellm_requests() if (record.get("probe") or "").startswith(run)}
    assert len(records) == len(LOCATIONS), f"LiteLLM received {sorted(records)}"
    return [(LOCATIONS[int(probe.split("-")[1])], record["headers"]) for probe, record in sorted(records.items())]


def test_without_a_public_url_litellm_gets_the_listeners_scheme_host_and_port(stack):
    port = stack.env["GATEWAY_PORT"]
    for location, headers in sent_everywhere(stack, f"127.0.0.1:{port}"):
        expected = {
            "host": [f"127.0.0.1:{port}"],
            "x-forwarded-proto": ["http"],
            "x-forwarded-host": [f"127.0.0.1:{port}"],
            "x-forwarded-port": [port],
        }
        assert {name: headers.get(name) for name in expected} == expected, location
        assert "x-forwarded-prefix" not in headers and "forwarded" not in headers, (location, headers)


def test_litellms_ui_redirect_keeps_the_listeners_port_and_scheme(stack):
    port = stack.env["GATEWAY_PORT"]
    admin = credentials_for(stack)["admin"]
    for spoof in ({}, SPOOFED):
        response = send(stack, "GET", "/ui", dict(spoof, Host=f"127.0.0.1:{port}", **admin))
        assert response.status == 307 and response.getheader("location") == f"http://127.0.0.1:{port}/ui/", response.getheaders()


@pytest.fixture(scope="module")
def public_stack(stack):
    """A second gateway host whose GATEWAY_PUBLIC_URL is https on a non-default port (the TLS
    proxy in front is not needed: nginx takes the scheme, host and port from the setting)."""
    with sibling_stack(stack, "public-url", GATEWAY_PUBLIC_URL=PUBLIC_URL) as started:
        yield started


def test_with_a_public_url_litellm_gets_its_scheme_host_and_port_whatever_the_client_sent(public_stack):
    for location, headers in sent_everywhere(public_stack, "evil.example:1234"):
        expected = {
            "host": ["gateway.example.test:8443"],
            "x-forwarded-proto": ["https"],
            "x-forwarded-host": ["gateway.example.test:8443"],
            "x-forwarded-port": ["8443"],
        }
        assert {name: headers.get(name) for name in expected} == expected, location
        assert "x-forwarded-prefix" not in headers and "forwarded" not in headers, (location, headers)


def test_with_a_public_url_litellms_ui_redirect_names_the_public_url(public_stack):
    admin = credentials_for(public_stack)["admin"]
    for host in (f"127.0.0.1:{public_stack.env['GATEWAY_PORT']}", "evil.example"):
        response = send(public_stack, "GET", "/ui", dict(SPOOFED, Host=host, **admin))
        assert response.status == 307 and response.getheader("location") == f"{PUBLIC_URL}/ui/", (host, response.getheaders())


@pytest.mark.parametrize(
    "public_url,expected",
    [
        ("https://gw.example.org", ['Host "gw.example.org"', "X-Forwarded-Proto https", "X-Forwarded-Port 443"]),
        ("http://gw.example.org:8080/", ['Host "gw.example.org:8080"', "X-Forwarded-Proto http", "X-Forwarded-Port 8080"]),
        ("https://[2001:db8::1]:8443", ['Host "[2001:db8::1]:8443"', "X-Forwarded-Port 8443"]),
        ("https://GW.Example.org", ['Host "gw.example.org"']),
        ("", ["Host $host:$server_port", "X-Forwarded-Proto $scheme", "X-Forwarded-Port $server_port"]),
    ],
)
def test_render_nginx_parses_the_public_url(tmp_path, public_url, expected):
    rendered = render(tmp_path, public_url)
    assert rendered.returncode == 0, rendered.stderr
    text = (tmp_path / "conf" / "litellm-forwarded.conf").read_text()
    for line in expected + ['X-Forwarded-Prefix ""']:
        assert f"proxy_set_header {line};" in text, text


@pytest.mark.parametrize(
    "public_url",
    [
        "gw.example.org",
        "ftp://gw.example.org",
        "https://gw.example.org/prefix",
        "https://gw.example.org:99999",
        "https://gw.example.org;evil",
        'https://gw"example',
        "https://gw.example.org:80 x",
        "https://user@gw.example.org",
    ],
)
def test_render_nginx_refuses_a_public_url_it_cannot_use(tmp_path, public_url):
    rendered = render(tmp_path, public_url)
    assert rendered.returncode == 2 and "GATEWAY_PUBLIC_URL" in rendered.stderr, rendered.stderr


def render(tmp_path, public_url):
    import os

    values = dict(os.environ, NGINX_RUN_DIR=str(tmp_path / "run"), NGINX_LOG_DIR=str(tmp_path / "logs"), GATEWAY_PUBLIC_URL=public_url)
    values.pop("NGINX_CONF_DIR", None)
    return subprocess.run([str(ROOT / "scripts" / "render-nginx"), str(tmp_path / "conf")], env=values, capture_output=True, text=True)
