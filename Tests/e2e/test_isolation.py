"""Tenant isolation behind the shared key (docs/security.md I1-I4), through nginx
against the real stack, proven from the far side:

- I1 answers carry nothing about the organisation or the deployment: every header of every
  /v1 answer is on the allow-list (the dev provider sends account headers LiteLLM would pass);
  `/v1/model/info` (every deployment's api_base) is off by default;
- I2 stored objects belong to their creator: two people, the second gets 404 JSON for every
  read, delete, cancel, input-items listing and continuation (previous_response_id) of the
  first's stored response, and the provider behind LiteLLM never sees those calls; object lists
  are 404; the worker's own owner check for the other object routes (files, batches, ...);
- I3 `/key/generate` metadata holds plain labels only (the body LiteLLM received);
- I4 behaviour headers reach LiteLLM capped or not at all (what LiteLLM received).

Requests go over http.client with the target exactly as written."""

import json
import time
import uuid

import pytest

from harness.probes import bearer, raw, reached_litellm, recorded_request
from harness.stack import sibling_stack

# The /v1 answer headers a caller may see (docs/api.md "Answer headers").
ALLOWED_ANSWER_HEADERS = set(
    "server date content-type content-length transfer-encoding connection keep-alive x-request-id x-litellm-call-id"
    " retry-after cache-control vary x-frame-options content-security-policy x-content-type-options".split()
)


def provider_log(stack) -> str:
    return (stack.run_dir / "logs" / "provider.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def alice(stack):
    return stack.mint(f"alice-{uuid.uuid4().hex[:8]}@example.com")["token"]


@pytest.fixture(scope="module")
def bob(stack):
    return stack.mint(f"bob-{uuid.uuid4().hex[:8]}@example.com")["token"]


# --- I1: answer headers -------------------------------------------------------------------

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ANSWERS = [
    ("chat", "POST", "/v1/chat/completions", CHAT),
    ("chat-stream", "POST", "/v1/chat/completions", dict(CHAT, stream=True)),
    ("messages", "POST", "/v1/messages", {"model": "claude-3-5-sonnet", "max_tokens": 5, "messages": CHAT["messages"]}),
    ("responses", "POST", "/v1/responses", {"model": "store-gpt", "input": "hi"}),
    ("responses-stream", "POST", "/v1/responses", {"model": "store-gpt", "input": "hi", "stream": True}),
    ("unknown-model", "POST", "/v1/chat/completions", dict(CHAT, model="no-such-model")),
    ("models", "GET", "/v1/models", None),
    ("bad-json", "POST", "/v1/chat/completions", "{"),
]


@pytest.mark.parametrize("name,method,path,body", ANSWERS, ids=[case[0] for case in ANSWERS])
def test_v1_answers_carry_only_allow_listed_headers(stack, alice, name, method, path, body):
    data = body if isinstance(body, str) or body is None else json.dumps(body)
    status, headers, text = raw(stack, method, path, bearer(alice), data)
    assert status < 500, (name, status, text[:200])
    names = {header.lower() for header in headers}
    assert names <= ALLOWED_ANSWER_HEADERS, (name, sorted(names - ALLOWED_ANSWER_HEADERS))
    # What the provider said about the organisation's account (dev/litellm/slow_provider.py).
    assert "gateway-secret" not in json.dumps(headers) and "9999" not in json.dumps(headers)


def test_model_info_with_api_bases_is_off_by_default(stack, alice):
    marker = uuid.uuid4().hex
    status, _, text = raw(stack, "GET", f"/v1/model/info?probe={marker}", bearer(alice))
    assert status == 404 and json.loads(text)["error"]["code"] == "route_not_allowed"
    assert recorded_request(stack, marker, timeout=0.5) is None


# --- I2: stored responses belong to their creator ------------------------------------------


def create_response(stack, token, stream=False):
    body = {"model": "store-gpt", "input": "hi", "stream": stream}
    status, _, text = raw(stack, "POST", "/v1/responses", bearer(token), json.dumps(body))
    assert status == 200, text[:300]
    if stream:
        return json.loads(text.split("data: ", 1)[1].split("\n", 1)[0])["response"]["id"]
    return json.loads(text)["id"]


def provider_id(stack, before: str) -> str:
    """The id the provider gave the response created since `before` (its log)."""
    created = [line.split()[1] for line in provider_log(stack)[len(before) :].splitlines() if line.startswith("created ")]
    assert len(created) == 1, created
    return created[0]


# (name, method, path under the response, body with {id}): every call naming a stored response.
RESPONSE_CALLS = [
    ("read", "GET", "", None),
    ("input-items", "GET", "/input_items", None),
    ("cancel", "POST", "/cancel", None),
    ("continue", "POST", None, {"model": "store-gpt", "input": "more", "previous_response_id": "{id}"}),
    ("delete", "DELETE", "", None),
]


def call_response(stack, token, ident, method, suffix, body):
    if suffix is None:
        data = json.dumps(body).replace("{id}", ident)
        return raw(stack, method, "/v1/responses", bearer(token), data)
    return raw(stack, method, f"/v1/responses/{ident}{suffix}", bearer(token))


@pytest.mark.parametrize("stream", [False, True], ids=["created", "created-streamed"])
def test_only_the_creator_reaches_a_stored_response(stack, alice, bob, stream):
    before = provider_log(stack)
    ident = create_response(stack, alice, stream)
    pid = provider_id(stack, before)
    # Redis holds the owner (the gateway callback wrote it before LiteLLM answered).
    owners = [key for key in stack.redis.scan_iter("gw:owner:*") if stack.redis.get(key).startswith("alice-")]
    assert owners
    for name, method, suffix, body in RESPONSE_CALLS:
        mark = len(provider_log(stack))
        status, headers, text = call_response(stack, bob, ident, method, suffix, body)
        assert status == 404, (name, status, text[:200])
        assert dict(headers)["Content-Type"].startswith("application/json")
        assert "object_not_found" in json.loads(text)["error"]["message"], name
        # LiteLLM refused it: the provider never heard of bob's call.
        assert pid not in provider_log(stack)[mark:] and "request /v1/responses stream" not in provider_log(stack)[mark:]
    for name, method, suffix, body in RESPONSE_CALLS:
        status, _, text = call_response(stack, alice, ident, method, suffix, body)
        if name == "cancel":  # the dev provider has no cancel: the provider's error, not the gateway's 404
            assert "object_not_found" not in text, text[:200]
        else:
            assert status == 200, (name, status, text[:300])
    assert f"request /v1/responses/{pid} GET" in provider_log(stack)
    assert f"request /v1/responses/{pid} DELETE" in provider_log(stack)


def test_a_response_with_no_owner_record_is_404_for_everyone(stack, alice):
    ident = create_response(stack, alice)
    for key in stack.redis.scan_iter("gw:owner:*"):
        if stack.redis.get(key).startswith("alice-"):
            stack.redis.delete(key)
    status, _, text = raw(stack, "GET", f"/v1/responses/{ident}", bearer(alice))
    assert status == 404 and "object_not_found" in text


@pytest.mark.parametrize("method,path", [("GET", "/v1/responses"), ("GET", "/v1/responses/"), ("HEAD", "/v1/responses")])
def test_listing_stored_responses_is_404_and_never_reaches_litellm(stack, alice, method, path):
    marker = uuid.uuid4().hex
    status, _, text = raw(stack, method, f"{path}?probe={marker}", bearer(alice))
    assert status == 404
    if method != "HEAD":
        assert json.loads(text)["error"]["code"] in {"object_not_found", "route_not_allowed"}
    assert recorded_request(stack, marker, timeout=0.5) is None


# The worker's owner check of the other object routes (stable ids), on a gateway with them on.
OBJECT_PATHS = [
    ("GET", "/v1/files/{id}"),
    ("GET", "/v1/files/{id}/content"),
    ("DELETE", "/v1/files/{id}"),
    ("GET", "/v1/batches/{id}"),
    ("POST", "/v1/batches/{id}/cancel"),
    ("GET", "/v1/fine_tuning/jobs/{id}"),
    ("POST", "/v1/fine_tuning/jobs/{id}/cancel"),
    ("GET", "/v1/vector_stores/{id}"),
    ("POST", "/v1/vector_stores/{id}/search"),
    ("GET", "/v1/vector_stores/{id}/files/f1/content"),
    ("GET", "/v1/assistants/{id}"),
    ("DELETE", "/v1/assistants/{id}"),
    ("GET", "/v1/threads/{id}/messages"),
    ("POST", "/v1/threads/{id}/runs"),
]
OBJECT_LISTS = [
    ("GET", "/v1/files"),
    ("GET", "/v1/batches"),
    ("GET", "/v1/fine_tuning/jobs"),
    ("GET", "/v1/vector_stores"),
    ("GET", "/v1/vector_store/list"),
    ("GET", "/v1/assistants"),
]


@pytest.fixture(scope="module")
def objects_gateway(stack):
    with sibling_stack(stack, "objects", V1_SHARED_OBJECT_ROUTES="on") as gateway:
        yield gateway


def test_other_object_routes_are_owner_only_in_the_worker(stack, objects_gateway):
    port = int(objects_gateway.env["GATEWAY_PORT"])
    alice_email, bob_email = f"alice-{uuid.uuid4().hex[:8]}@example.com", f"bob-{uuid.uuid4().hex[:8]}@example.com"
    alice, bob = objects_gateway.mint(alice_email)["token"], objects_gateway.mint(bob_email)["token"]
    ident = f"obj-{uuid.uuid4().hex}"
    stack.redis.set(f"gw:owner:{ident}", alice_email)  # as the callback records a creation
    for method, template in OBJECT_PATHS:
        path = template.replace("{id}", ident)
        for token, owner in [(bob, False), (alice, True)]:
            marker = uuid.uuid4().hex
            status, _, text = raw(stack, method, f"{path}?probe={marker}", bearer(token), b"{}", port=port)
            if owner:
                assert reached_litellm(stack, marker), (path, status, text[:200])
            else:
                assert status == 404 and json.loads(text)["error"]["code"] == "object_not_found", (path, status, text)
                assert recorded_request(stack, marker, timeout=0.3) is None, path
    for method, path in OBJECT_LISTS:
        marker = uuid.uuid4().hex
        status, _, text = raw(stack, method, f"{path}?probe={marker}", bearer(alice), port=port)
        assert status == 404 and json.loads(text)["error"]["code"] == "object_not_found", (path, status)
        assert recorded_request(stack, marker, timeout=0.3) is None, path
    # Creating passes (POST to the collection).
    marker = uuid.uuid4().hex
    raw(stack, "POST", f"/v1/assistants?probe={marker}", bearer(alice), b"{}", port=port)
    assert reached_litellm(stack, marker)


# --- I3: /key/generate metadata holds plain labels only -----------------------------------


def key_generate(stack, session, body):
    cookie = "; ".join(f"{cookie.name}={cookie.value}" for cookie in session.cookies)
    return raw(stack, "POST", "/key/generate", {"Cookie": cookie, "Content-Type": "application/json"}, json.dumps(body).encode())


def key_generate_bodies(stack):
    path = stack.run_dir / "litellm-key-generate.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


# Names LiteLLM 1.108 reads from a key's metadata as settings, with the values that would turn
# logging, guardrails or callbacks off, lift limits, or steer routing.
KEY_SETTINGS = [
    ("litellm_disabled_callbacks", ["langfuse"]),
    ("logging", [{"callback_name": "langfuse"}]),
    ("guardrails", []),
    ("model_rpm_limit", {"gpt-4o-mini": 10**9}),
    ("model_tpm_limit", {"gpt-4o-mini": 10**9}),
    ("tags", ["premium"]),
    ("callback_settings", {}),
    ("disable_global_guardrails", True),
    ("opted_out_global_guardrails", ["pii"]),
    ("policies", ["p"]),
    ("priority", "high"),
    ("enforced_params", []),
    ("spend_logs_metadata", {}),
    ("allowed_passthrough_routes", ["/x"]),
    ("allowed_vector_store_indexes", []),
    ("secret_manager_settings", {}),
    ("litellm_budget_table", {}),
    ("LiteLLM_Anything", 1),
    ("_internal", 1),
    ("user_api_key_user_id", "root"),
    ("max_budget", 1e9),
    ("team_id", "t"),
    ("trace_id", "x"),
    ("session_id", "x"),
    ("cache", {"no-store": True}),
    ("disable_fallbacks", True),
    ("enable_prompt_caching", True),
    ("tpm_limit_type", "best_effort"),
]


@pytest.mark.parametrize("name,value", KEY_SETTINGS, ids=[case[0] for case in KEY_SETTINGS])
def test_key_generate_metadata_settings_are_refused_by_name(stack, email, name, value):
    session = stack.sign_in(email)
    before = len(key_generate_bodies(stack))
    status, headers, text = key_generate(stack, session, {"key_alias": "x", "metadata": {"purpose": "ci", name: value}})
    assert status == 400, (name, status, text[:200])
    answer = json.loads(text)
    assert answer["code"] == "field_not_allowed" and answer["field"] == f"metadata.{name}"
    assert len(key_generate_bodies(stack)) == before  # nothing reached LiteLLM


@pytest.mark.parametrize("metadata", [{"k": {"nested": 1}}, {"k": [1]}, {"bad name": 1}, {"k": "x" * 257}, {f"k{n}": n for n in range(17)}])
def test_key_generate_metadata_that_is_not_plain_is_refused(stack, email, metadata):
    session = stack.sign_in(email)
    before = len(key_generate_bodies(stack))
    status, _, text = key_generate(stack, session, {"metadata": metadata})
    assert status == 400 and json.loads(text)["code"] == "invalid_field", text[:200]
    assert len(key_generate_bodies(stack)) == before


def test_key_generate_plain_labels_reach_litellm_as_sent(stack, email):
    session = stack.sign_in(email)
    labels = {"purpose": "ci", "owner-team.label": "platform", "count": 3, "on": True, "none": None}
    key_generate(stack, session, {"key_alias": "labels", "metadata": labels})
    deadline = time.time() + 10
    while time.time() < deadline:
        bodies = [json.loads(r["body"]) for r in key_generate_bodies(stack) if f'"{email}"' in r["body"]]
        if bodies:
            assert bodies[-1] == {"key_alias": "labels", "metadata": labels, "user_id": email}
            return
        time.sleep(0.1)
    raise AssertionError("LiteLLM received no /key/generate body")


# --- I4: behaviour headers ------------------------------------------------------------------

# (header, value sent, what LiteLLM receives: the list of values, or None for no header).
BEHAVIOUR = [
    ("x-litellm-timeout", "30", ["30"]),
    ("x-litellm-timeout", "600", ["600"]),
    ("x-litellm-timeout", "599.5", ["599.5"]),
    ("x-litellm-timeout", "601", None),
    ("x-litellm-timeout", "86400", None),
    ("x-litellm-timeout", "-1", None),
    ("x-litellm-timeout", "1e9", None),
    ("x-litellm-timeout", "inf", None),
    ("x-litellm-timeout", "30, 9999", None),
    ("x-litellm-stream-timeout", "120", ["120"]),
    ("x-litellm-stream-timeout", "100000", None),
    ("x-litellm-num-retries", "0", ["0"]),
    ("x-litellm-num-retries", "3", ["3"]),
    ("x-litellm-num-retries", "4", None),
    ("x-litellm-num-retries", "100", None),
    ("x-litellm-keepalive-seconds", "5", None),
    ("x-litellm-tags", "premium", None),
    ("x-litellm-trace-id", "someone-elses-trace", None),
    ("x-litellm-session-id", "someone-elses-session", None),
    ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),
    ("baggage", "k=v", None),
    ("x-litellm-cache-key", "another-callers-cache-key", None),
    ("x-litellm-priority", "high", None),
    ("x-litellm-team-id", "t1", None),
    ("x-litellm-agent-id", "a1", None),
    ("x-litellm-semantic-filter", "off", None),
    ("x-litellm-mcp-debug", "true", None),
    ("x-litellm-call-id", "another-calls-id", None),
    ("litellm-disable-message-redaction", "true", None),
    ("x-litellm-disable-callbacks", "langfuse", None),
    ("x-litellm-api-key", "sk-other", None),
    ("x-litellm-user-id", "root", None),
    ("x-litellm-customer-id", "c", None),
    ("litellm_user_api_key", "sk-other", None),
    ("x-goog-api-key", "k", None),
    ("api-key", "k", None),
    ("x-litellm-model", "gpt-4o-mini", ["gpt-4o-mini"]),
    ("anthropic-beta", "prompt-caching-2024-07-31", ["prompt-caching-2024-07-31"]),
    ("cache-control", "no-cache", ["no-cache"]),
]


@pytest.mark.parametrize("header,value,received", BEHAVIOUR, ids=[f"{h}={v}" for h, v, _ in BEHAVIOUR])
def test_behaviour_headers_reach_litellm_capped_or_not_at_all(stack, alice, header, value, received):
    marker = uuid.uuid4().hex
    # Raw bytes: the header exactly as written (underscores included).
    request = (
        f"POST /v1/chat/completions?probe={marker} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {alice}\r\nContent-Type: application/json\r\n{header}: {value}\r\n"
        f"Content-Length: {len(json.dumps(CHAT))}\r\nConnection: close\r\n\r\n{json.dumps(CHAT)}"
    )
    import socket

    with socket.create_connection(("127.0.0.1", int(stack.env["GATEWAY_PORT"])), timeout=30) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    record = recorded_request(stack, marker)
    assert record is not None
    assert record["behaviour"].get(header) == received, record["behaviour"]
