"""Prometheus metrics on nginx's internal listener: the workers' counts after known traffic
(parsed with prometheus-client), LiteLLM's own metrics beside them, totals across worker
processes, and nothing of it on the public port."""

import http.client
import json
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from harness.checks import assert_json_error
from harness.probes import bearer, raw
from harness.stack import sibling_stack


def scrape(stack) -> dict:
    """{(name, frozenset(labels)): value} of one scrape of the workers' metrics."""
    response = requests.get(f"http://127.0.0.1:{stack.env['METRICS_PORT']}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before, after, name, **labels):
    return value(after, name, **labels) - value(before, name, **labels)


def v1(stack, headers):
    return requests.post(
        stack.url("/v1/chat/completions"),
        headers=headers,
        timeout=30,
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )


def test_counts_after_known_traffic(stack, email):
    token = stack.mint(email)["token"]
    before = scrape(stack)
    assert v1(stack, {"Authorization": f"Bearer {token}"}).status_code == 200
    assert v1(stack, {"x-api-key": token}).status_code == 200
    assert v1(stack, {"Authorization": f"Bearer {token}"}).status_code == 200
    for _ in range(2):
        assert v1(stack, {}).status_code == 401
    assert v1(stack, {"Authorization": f"Bearer {token}", "x-api-key": "other"}).status_code == 401
    browser = stack.sign_in(email)
    assert browser.post(stack.url("/api/token/generate"), json={}).status_code == 200
    assert browser.get(stack.url("/api/admin/audit")).status_code == 403
    after = scrape(stack)

    assert delta(before, after, "gateway_requests_total", check="jwt", code="ok") == 3
    assert delta(before, after, "gateway_requests_total", check="jwt", code="token_missing") == 2
    assert delta(before, after, "gateway_requests_total", check="jwt", code="token_conflict") == 1
    assert delta(before, after, "gateway_check_duration_seconds_count", check="jwt") == 6
    assert delta(before, after, "gateway_check_duration_seconds_bucket", check="jwt", le="+Inf") == 6
    assert delta(before, after, "gateway_requests_total", check="api", code="ok") >= 1
    assert delta(before, after, "gateway_requests_total", check="api", code="not_admin") == 1
    assert delta(before, after, "gateway_actions_total", action="token.generate") == 1
    assert value(after, "gateway_revocation_watch_up", process="0") == 1
    assert delta(before, after, "gateway_redis_round_trips_total") >= 2
    assert value(after, "gateway_worker_threads", process="0") == int(stack.env.get("WORKER_THREADS", "16"))
    # The scrape itself is the one busy thread.
    assert value(after, "gateway_worker_threads_busy", process="0") == 1


def test_revocation_watch_hits(stack, email):
    """The first check of a token on a worker thread asks Redis; later ones on that thread may
    be answered from memory while the watch is on (each thread remembers for itself). Every
    check is one or the other."""
    token = stack.mint(email)["token"]
    before = scrape(stack)
    for _ in range(20):
        assert v1(stack, {"Authorization": f"Bearer {token}"}).status_code == 200
    after = scrape(stack)
    hits = delta(before, after, "gateway_revocation_watch_hits_total")
    assert 1 <= hits <= 19
    assert delta(before, after, "gateway_redis_round_trips_total") >= 20 - hits


def test_redis_errors_and_reconnects_are_counted(stack, email):
    token = stack.mint(email)["token"]
    before = scrape(stack)
    stack.script("stop-service", "redis")
    try:
        # A token the workers have not checked yet: the check needs Redis.
        assert v1(stack, {"Authorization": f"Bearer {token}"}).status_code == 503
        down = scrape(stack)
        assert delta(before, down, "gateway_requests_total", check="jwt", code="redis_unavailable") == 1
        assert value(down, "gateway_revocation_watch_up", process="0") == 0
    finally:
        stack.script("start-service", "redis")
    # Each worker thread reconnects on its next request after a short back-off: wait until
    # the check answers again.
    deadline = time.time() + 15
    while v1(stack, {"Authorization": f"Bearer {token}"}).status_code != 200:
        assert time.time() < deadline, "the workers did not reconnect to Redis"
        time.sleep(0.2)
    after = scrape(stack)
    errors = sum(
        delta(before, after, "gateway_redis_errors_total", kind=kind) for kind in ("connect", "connection", "timeout", "protocol", "server")
    )
    assert errors >= 1
    assert delta(before, after, "gateway_redis_connects_total") >= 1


def test_litellm_metrics_beside_the_workers(stack):
    response = requests.get(f"http://127.0.0.1:{stack.env['METRICS_PORT']}/litellm/metrics", timeout=10)
    assert response.status_code == 200, response.text[:300]
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert any(name.startswith("litellm") for name in names), sorted(names)[:20]


PUBLIC_TARGETS = [
    "/metrics",
    "/metrics/",
    "//metrics",
    "/./metrics",
    "/%6Detrics",
    "/x/../metrics",
    "/metrics?x=1",
    "/litellm/metrics",
    "/METRICS",
    "/metrics%00",
    "/v1/../metrics",
]


@pytest.mark.parametrize("target", PUBLIC_TARGETS)
def test_the_public_port_never_serves_metrics(stack, target):
    connection = http.client.HTTPConnection("127.0.0.1", int(stack.env["GATEWAY_PORT"]), timeout=10)
    connection.putrequest("GET", target, skip_accept_encoding=True)
    connection.putheader("GATEWAY_CHECK", "metrics")
    connection.putheader("Gateway-Check", "metrics")
    connection.endheaders()
    response = connection.getresponse()
    body = response.read().decode("utf-8", "replace")
    assert response.status in (400, 404), (target, response.status, body[:200])
    assert response.getheader("Content-Type", "").startswith("application/json"), (target, body[:200])
    assert "gateway_requests_total" not in body and "# TYPE" not in body


def test_the_metrics_listener_serves_nothing_else(stack):
    base = f"http://127.0.0.1:{stack.env['METRICS_PORT']}"
    for path in ("/", "/v1/chat/completions", "/api/token/list", "/health"):
        response = requests.get(base + path, timeout=10)
        assert response.status_code == 404 and response.json()["code"] == "not_found", path


def test_totals_cover_every_worker_process(stack, email):
    """With WORKER_PROCESSES=2 any process answers a scrape with the totals of both."""
    token = stack.mint(email)["token"]
    with sibling_stack(stack, "metrics-processes", WORKER_PROCESSES="2", WORKER_THREADS="4") as pair:
        before = scrape(pair)
        for _ in range(20):
            assert v1(pair, {"Authorization": f"Bearer {token}"}).status_code == 200
        scrapes = [scrape(pair) for _ in range(6)]
        for after in scrapes:
            assert delta(before, after, "gateway_requests_total", check="jwt", code="ok") == 20
        assert value(scrapes[-1], "gateway_worker_threads", process="0") == 4
        assert value(scrapes[-1], "gateway_worker_threads", process="1") == 4


def oversized(stack, target, headers=None):
    """A request announcing a body over nginx's limit (MAX_V1_BODY), sent without the body:
    nginx refuses it from the headers alone. Returns (status, body text)."""
    connection = http.client.HTTPConnection("127.0.0.1", int(stack.env["GATEWAY_PORT"]), timeout=30)
    try:
        connection.putrequest("POST", target)
        for name, value in {**(headers or {}), "Content-Type": "application/json", "Content-Length": "40000000"}.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def test_path_confusion_and_oversized_bodies_are_counted(stack, email):
    """Refusals an attacker probing paths or sizes causes are visible in the metrics: ambiguous
    paths (the /v1 check's `ambiguous_path`, and targets nginx cannot take: check `refusal`, code
    `bad_request`), bodies over nginx's limit (answered by a worker for nginx: check `refusal`,
    code `request_too_large`) and over the workers' own (`body_too_large`)."""
    token = stack.mint(email)["token"]
    browser = stack.sign_in(email)
    before = scrape(stack)
    for target in ("/v1//chat/completions", "/v1/chat/completions/../../v1/files", "/v1/chat/%2e%2e/completions"):
        status, _, body = raw(stack, "POST", target, headers=bearer(token), body="{}")
        assert status == 400 and '"ambiguous_path"' in body, (target, status, body)
    # Targets nginx refuses itself (a `..` above the root, a bad escape): a worker answers them for nginx.
    for target in ("/v1/../../etc/passwd", "/api/%zz"):
        status, _, body = raw(stack, "GET", target)
        assert status == 400 and '"bad_request"' in body, (target, status, body)
    for target, extra in (("/v1/chat/completions", {"Authorization": f"Bearer {token}"}), ("/api/token/generate", {})):
        status, body = oversized(stack, target, extra)
        assert status == 413 and '"request_too_large"' in body, (target, status, body)
    large = browser.post(stack.url("/api/token/generate"), data="{" + " " * (2 * 1024 * 1024) + "}", timeout=60)
    assert_json_error(large, 413, "body_too_large")
    after = scrape(stack)
    assert delta(before, after, "gateway_requests_total", check="jwt", code="ambiguous_path") == 3
    assert delta(before, after, "gateway_requests_total", check="refusal", code="request_too_large") == 2
    assert delta(before, after, "gateway_requests_total", check="refusal", code="bad_request") == 2
    assert delta(before, after, "gateway_requests_total", check="api", code="body_too_large") == 1
    # Each is answered as before: the /v1 one OpenAI-shaped, with the request id.
    status, body = oversized(stack, "/v1/embeddings")
    assert status == 413 and json.loads(body)["error"]["type"] == "invalid_request_error"
