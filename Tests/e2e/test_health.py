"""Health that tells the truth, and what clients see when parts are down: /health asks Redis
(503 JSON without it); the compose health probe (deploy/worker-health, a real FastCGI request
with cgi-fcgi) fails on a stale socket or a worker without Redis; /v1, /api and /health answer
JSON 503 when no worker answers; the client address behind a trusted balancer; OAuth2 Proxy's
connections kept alive across auth subrequests."""

import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from harness.checks import wait_until
from harness.redis_topology import redis_server
from harness.stack import ROOT, free_port, running_stack

PROBE = ROOT / "deploy" / "worker-health"


def probe(socket_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(PROBE)], env=dict(PATH=os.environ["PATH"], WORKER_SOCKET=str(socket_path)), capture_output=True, text=True, timeout=20
    )


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    folder, port = tmp_path_factory.mktemp("health-redis"), free_port()
    with redis_server(folder, port) as client:
        yield folder, port, client


@pytest.fixture(scope="module")
def gateway(own_redis):
    _, port, _ = own_redis
    with running_stack(
        "gateway-e2e-health", START_REDIS="0", START_LITELLM="0", REDIS_PORT=str(port), WORKER_THREADS="4", TRUSTED_PROXIES="127.0.0.1"
    ) as started:
        yield started


def test_health_and_the_probe_follow_redis(gateway, own_redis, tmp_path):
    folder, port, client = own_redis
    assert requests.get(gateway.url("/health"), timeout=10).json() == {"status": "healthy"}
    healthy = probe(gateway.env["WORKER_SOCKET"] if "WORKER_SOCKET" in gateway.env else gateway.run_dir / "worker.sock")
    assert healthy.returncode == 0, healthy.stderr

    # Redis goes away (SHUTDOWN NOSAVE keeps the data folder as it is); the workers stay up.
    try:
        client.shutdown(nosave=True)
    except Exception:
        pass
    # (A requests.Response is falsy for a 4xx/5xx status: the answer is wrapped in a tuple.)
    (down,) = wait_until(
        lambda: (lambda r: (r,) if r.status_code == 503 else None)(requests.get(gateway.url("/health"), timeout=10)),
        timeout=15,
        what="/health to answer 503",
    )
    assert down.json() == {"status": "unhealthy", "code": "redis_unavailable"}
    assert down.headers["Content-Type"].startswith("application/json")
    failing = probe(gateway.run_dir / "worker.sock")
    assert failing.returncode == 1 and "redis_unavailable" in failing.stderr

    # Back: healthy again without restarting anything.
    restarted = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder), "--appendonly", "yes"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        back = wait_until(lambda: requests.get(gateway.url("/health"), timeout=10).status_code == 200, timeout=20)
        assert back
        assert probe(gateway.run_dir / "worker.sock").returncode == 0
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=20)


def test_the_probe_fails_on_a_stale_socket_file(tmp_path):
    """`test -S` (the old health check) passes here: the file is a socket, nobody listens."""
    path = tmp_path / "worker.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.close()
    assert subprocess.run(["test", "-S", str(path)]).returncode == 0
    result = probe(path)
    assert result.returncode == 1 and "no FastCGI answer" in result.stderr


def test_the_client_address_comes_from_a_trusted_balancer(gateway):
    marker = f"/health?xff-{time.time_ns()}"
    requests.get(gateway.url(marker), headers={"X-Forwarded-For": "203.0.113.7"}, timeout=10)
    log = gateway.run_dir / "logs" / "access.log"
    line = wait_until(
        lambda: next((row for row in log.read_text().splitlines() if '"GET /health"' in row and "203.0.113.7" in row), None), timeout=15
    )
    assert line and line.startswith("203.0.113.7 "), line


def test_without_trusted_proxies_a_forwarded_address_is_ignored(tmp_path):
    """The rendered configuration believes X-Forwarded-For only from the listed addresses."""
    values = dict(os.environ, NGINX_RUN_DIR=str(tmp_path), NGINX_LOG_DIR=str(tmp_path), TRUSTED_PROXIES="")
    subprocess.run([str(ROOT / "scripts" / "render-nginx"), str(tmp_path / "conf")], env=values, check=True)
    assert "set_real_ip_from" not in (tmp_path / "conf" / "trusted-proxies.conf").read_text()
    values["TRUSTED_PROXIES"] = "10.0.0.0/8, 192.0.2.1"
    subprocess.run([str(ROOT / "scripts" / "render-nginx"), str(tmp_path / "conf")], env=values, check=True)
    rendered = (tmp_path / "conf" / "trusted-proxies.conf").read_text()
    assert "set_real_ip_from 10.0.0.0/8;" in rendered and "set_real_ip_from 192.0.2.1;" in rendered


def test_v1_api_and_health_answer_json_when_no_worker_answers(gateway, own_redis, tmp_path):
    """Last in this module: stops the workers (Redis runs, so the identity check passes)."""
    _, port, _ = own_redis
    with redis_server(tmp_path / "redis", port):
        no_workers(gateway)


def no_workers(gateway):
    browser = gateway.sign_in("someone@example.com")
    supervisor = int((gateway.run_dir / "pids" / "worker.pid").read_text())
    os.kill(supervisor, signal.SIGTERM)
    assert wait_until(lambda: not (gateway.run_dir / "worker.sock").exists(), timeout=15)
    cases = [
        ("POST", "/v1/chat/completions", {"Authorization": "Bearer x", "Content-Type": "application/json"}, b"{}"),
        ("GET", "/health", {}, None),
    ]
    for method, path, headers, body in cases:
        connection = http.client.HTTPConnection("127.0.0.1", int(gateway.env["GATEWAY_PORT"]), timeout=10)
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read()
        assert response.status == 503 and response.getheader("Content-Type") == "application/json", (path, text)
        assert b'"code":"gateway_unavailable"' in text and b"<html" not in text.lower(), path
    answer = browser.get(gateway.url("/api/token/list"), timeout=10)
    assert answer.status_code == 503 and answer.json()["code"] == "gateway_unavailable"
    # Refusals nginx hands to a worker to be counted (GATEWAY_CHECK refusal) keep their answers.
    refusals = [
        ("POST", "/v1/chat/completions", {"Content-Length": "40000000"}, 413, b'"type":"invalid_request_error","code":"request_too_large"'),
        (
            "POST",
            "/api/token/generate",
            {"Content-Length": "40000000"},
            413,
            b'{"error":"Request body too large","code":"request_too_large"}',
        ),
        ("GET", "/v1/../../etc/passwd", {}, 400, b'{"error":"Bad request","code":"bad_request"}'),
    ]
    for method, path, headers, status, expected in refusals:
        connection = http.client.HTTPConnection("127.0.0.1", int(gateway.env["GATEWAY_PORT"]), timeout=10)
        connection.putrequest(method, path)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        text = response.read()
        assert response.status == status and response.getheader("Content-Type") == "application/json", (path, text)
        assert expected in text, (path, text)


# --- OAuth2 Proxy keep-alive ------------------------------------------------------------------------


class CountingIdentity(BaseHTTPRequestHandler):
    """Answers /oauth2/auth as OAuth2 Proxy does for a signed-in user (202 + X-Auth-Request-Email)
    over HTTP/1.1 keep-alive, and counts the TCP connections nginx opened."""

    protocol_version = "HTTP/1.1"
    connections = 0
    lock = threading.Lock()

    def setup(self):
        super().setup()
        with CountingIdentity.lock:
            CountingIdentity.connections += 1

    def do_GET(self):
        self.send_response(202)
        self.send_header("X-Auth-Request-Email", "kept@example.com")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_auth_subrequests_reuse_their_connections_to_oauth2_proxy(tmp_path):
    """nginx rendered with the production identity (identity-oauth2-proxy.conf) in front of an
    HTTP/1.1 stand-in for OAuth2 Proxy: 40 /api requests open at most one connection per nginx
    worker instead of one each."""
    identity = ThreadingHTTPServer(("127.0.0.1", 0), CountingIdentity)
    thread = threading.Thread(target=identity.serve_forever, daemon=True)
    thread.start()
    port = free_port()
    conf = tmp_path / "conf"
    values = dict(
        os.environ,
        NGINX_CONF_DIR=str(conf),
        NGINX_RUN_DIR=str(tmp_path / "run"),
        NGINX_LOG_DIR=str(tmp_path / "logs"),
        NGINX_USER=subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip(),
        NGINX_WORKERS="1",
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        MAX_V1_BODY="1m",
        WORKER_SOCKET=str(tmp_path / "none.sock"),
        WORKER_KEEPALIVE="2",
        DEV_IDENTITY_SOCKET=str(tmp_path / "none-identity.sock"),
        LITELLM_UPSTREAM="127.0.0.1:9",
        OAUTH2_PROXY_UPSTREAM=f"127.0.0.1:{identity.server_port}",
        UI_ROOT=str(tmp_path),
        GATEWAY_IDENTITY="oauth2-proxy",
        METRICS_LISTEN=f"127.0.0.1:{free_port()}",
    )  # not the default 9145 a `make run` stack holds
    for folder in ("run", "logs"):
        (tmp_path / folder).mkdir()
    subprocess.run([str(ROOT / "scripts" / "render-nginx"), str(conf)], env=values, check=True)
    nginx = subprocess.Popen(
        ["nginx", "-p", str(tmp_path), "-e", str(tmp_path / "logs" / "error.log"), "-c", str(conf / "nginx.conf"), "-g", "daemon off;"],
        stderr=subprocess.DEVNULL,
    )
    try:

        def answered():
            """nginx answers (any status: a requests.Response of a 5xx is falsy)."""
            try:
                requests.get(f"http://127.0.0.1:{port}/api/token/list", timeout=5)
                return True
            except requests.ConnectionError:
                return False

        # No worker listens: each request makes its auth subrequest, then fails at the socket.
        wait_until(answered, timeout=15, what="nginx to answer")
        before = CountingIdentity.connections
        for _ in range(40):
            assert requests.get(f"http://127.0.0.1:{port}/api/token/list", timeout=5).status_code >= 500
        assert CountingIdentity.connections - before <= 1, f"{CountingIdentity.connections - before} new connections for 40 subrequests"
    finally:
        nginx.terminate()
        nginx.wait(timeout=20)
        identity.shutdown()
