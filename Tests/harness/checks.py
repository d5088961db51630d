"""Assertions the e2e tests share."""

import json
import time


def _parts(response):
    """(status, content type, body bytes) of a requests.Response or an http.client.HTTPResponse
    (read already or not)."""
    if hasattr(response, "status_code"):
        return response.status_code, response.headers.get("Content-Type", ""), response.content
    body = getattr(response, "body", None)
    if body is None:
        body = response.read()
        response.body = body
    return response.status, response.getheader("Content-Type", ""), body


def error_code(body: dict):
    """The stable code of either error shape: `{"error": msg, "code": c}` (browser and admin APIs)
    or OpenAI's `{"error": {"message", "type", "code"}}` (/v1 and LiteLLM's surface)."""
    error = body.get("error")
    if isinstance(error, dict):
        return error.get("code")
    return body.get("code")


def response_code(response):
    """The stable code of a requests.Response's JSON error body; None when the body is not a JSON
    object (a success, an HTML page)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return error_code(body) if isinstance(body, dict) else None


def assert_json_error(response, status: int, code: str, message_contains: str = None) -> dict:
    """The contract for every refusal: this status, a JSON body (Content-Type application/json)
    with this stable `code` (top level, or inside OpenAI's `error` object) and a non-empty
    message. Returns the body."""
    actual_status, content_type, raw = _parts(response)
    assert actual_status == status, f"status {actual_status}, wanted {status}: {raw[:300]!r}"
    assert content_type.split(";")[0].strip() == "application/json", f"Content-Type {content_type!r}: {raw[:300]!r}"
    try:
        body = json.loads(raw)
    except ValueError:
        raise AssertionError(f"not JSON: {raw[:300]!r}") from None
    assert isinstance(body, dict), body
    assert error_code(body) == code, f"code {error_code(body)!r}, wanted {code!r}: {body}"
    # The message: `error` (a sentence, or OpenAI's object with `message`), else `message` (the
    # Lua-compatible "blocked" answer of a banned browser session).
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else error if error is not None else body.get("message")
    assert isinstance(message, str) and message, body
    if message_contains is not None:
        assert message_contains in message, body
    return body


def wait_until(condition, timeout=10.0, what="condition", interval=0.05, ignore=()):
    """Polls `condition` until it returns something truthy (returned) or fails after `timeout`:
    for events the tests can only observe from outside (a process gone, a key expired, a server
    up). An exception of a type in `ignore` counts as "not yet" (a server still starting, a
    Redis failing over); any other exception ends the wait at once. The one polling helper of
    the suite (test_repository_rules.py keeps it so)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except ignore:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_for_index_pass(redis, timeout=60.0):
    """Waits until an index pass (IndexBuild: build or reconcile) that started after this call
    has ended, so that what the caller wrote to Redis before is in the admin indexes."""
    after = int(time.time())

    def passed():
        state = redis.hgetall("gw:idx:build")
        return state.get("state") == "done" and int(state.get("started_at", 0)) > after

    wait_until(passed, timeout=timeout, interval=0.1, what="an index pass after the writes")
