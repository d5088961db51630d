"""Structured logs (LOG_FORMAT=json): one JSON object a line from nginx's access log and the
workers, joined by nginx's request id, which LiteLLM receives and the client gets back; and
no secret or token in any log of the run."""

import json
import time
import uuid

import pytest
import requests

from harness.stack import sibling_stack


def json_lines(path):
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def json_stack(stack):
    with sibling_stack(stack, "json-logs", LOG_FORMAT="json") as started:
        yield started


def v1(stack, headers):
    return requests.post(
        stack.url("/v1/chat/completions"),
        headers=headers,
        timeout=30,
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )


def test_one_request_id_in_nginx_the_worker_litellm_and_the_answer(json_stack):
    email = f"logs-{uuid.uuid4().hex[:8]}@example.com"
    token = json_stack.mint(email)["token"]
    allowed = v1(json_stack, {"x-api-key": token})
    assert allowed.status_code == 200
    refused = v1(json_stack, {"Authorization": "Bearer not.a.token"})
    assert refused.status_code == 401
    allowed_id, refused_id = allowed.headers["X-Request-Id"], refused.headers["X-Request-Id"]
    assert allowed_id != refused_id

    logs = json_stack.run_dir / "logs"
    # nginx writes an access-log line when it finalises the request, which may be a moment
    # after the client has the whole answer.
    deadline = time.time() + 10
    while True:
        access = json_lines(logs / "access.log")  # every line is one JSON object
        by_id = {line["request_id"]: line for line in access}
        if {allowed_id, refused_id} <= set(by_id) or time.time() > deadline:
            break
        time.sleep(0.1)
    assert by_id[allowed_id]["status"] == 200 and by_id[allowed_id]["path"] == "/v1/chat/completions"
    assert by_id[allowed_id]["user"] == email
    assert by_id[refused_id]["status"] == 401

    worker = json_lines(logs / "worker.log")
    refusal = [line for line in worker if line.get("request.id") == refused_id]
    assert refusal and refusal[0]["message"] == "token refused" and refusal[0]["reason"] == "token_malformed"
    assert all({"time", "level", "label", "message"} <= set(line) for line in worker)

    seen = [h for h in json_stack.litellm_headers() if h["request_id"] == allowed_id]
    assert len(seen) == 1


def test_no_secret_or_token_in_any_log(stack, json_stack):
    """Traffic that carries every kind of secret (tokens in both headers, cookies, a refused
    token, an admin session), then every log file of both stacks is searched for them."""
    email = f"secrets-{uuid.uuid4().hex[:8]}@example.com"
    browser = json_stack.sign_in(email)
    tokens = [browser.post(json_stack.url("/api/token/generate"), json={}).json()["token"] for _ in range(2)]
    assert v1(json_stack, {"Authorization": f"Bearer {tokens[0]}"}).status_code == 200
    assert v1(json_stack, {"x-api-key": tokens[1]}).status_code == 200
    assert v1(json_stack, {"Authorization": f"Bearer {tokens[0]}", "x-api-key": tokens[1]}).status_code == 401
    revoked = browser.post(
        json_stack.url("/api/token/revoke"),
        json={"token_id": browser.get(json_stack.url("/api/token/list")).json()["tokens"][0]["token_id"]},
    )
    assert revoked.status_code == 200
    admin = json_stack.sign_in("admin@example.com")
    assert admin.get(json_stack.url("/api/admin/audit")).status_code == 200
    cookies = [c.value for session in (browser, admin) for c in session.cookies]

    secrets = {
        "JWT secret": stack.jwt_secret,
        "master key": stack.master_key,
        "shared key": stack.shared_key,
        "cookie secret": stack.cookie_secret,
    }
    secrets.update({f"token {i}": token for i, token in enumerate(tokens)})
    secrets.update({f"cookie {i}": cookie for i, cookie in enumerate(cookies)})
    # A token's signature alone must not appear either.
    secrets.update({f"token {i} signature": token.rsplit(".", 1)[1] for i, token in enumerate(tokens)})
    files = [path for run in (stack, json_stack) for path in (run.run_dir / "logs").iterdir() if path.is_file()]
    assert len(files) >= 5
    for path in files:
        text = path.read_text(errors="replace")
        for name, secret in secrets.items():
            assert secret not in text, f"{name} in {path.name}"
