"""Clients: the token in `Authorization: Bearer` or `x-api-key`, the official `openai` and
`anthropic` SDKs (answers, streaming, error types), and the examples of docs/clients.md run
as written."""

import os
import re
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import anthropic
import openai
import pytest
import requests

from harness.stack import ROOT, free_port, sibling_stack
from harness.streams import STREAM_WORDS, assert_spaced, timed

DOCS = ROOT / "docs" / "clients.md"


def sdk_clients(stack, token, **options):
    return (
        openai.OpenAI(base_url=stack.url("/v1"), api_key=token, max_retries=0, **options),
        anthropic.Anthropic(base_url=stack.base, api_key=token, max_retries=0, **options),
    )


def test_openai_sdk_chat_plain_and_streaming(stack, email):
    """The stream is the provider's (stream-gpt: 8 distinct chunks 150 ms apart): every chunk,
    in order, arriving apart, as a client shows text while it is written."""
    client, _ = sdk_clients(stack, stack.mint(email)["token"])
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from the mock gpt-4o-mini."
    stream = client.chat.completions.create(model="stream-gpt", messages=[{"role": "user", "content": "hi"}], stream=True)
    arrivals = timed(chunk.choices[0].delta.content for chunk in stream if chunk.choices and chunk.choices[0].delta.content)
    assert [text for _, text in arrivals] == STREAM_WORDS
    assert_spaced(arrivals)
    stack.wait_for_litellm_call(lambda c: c["end_user"] == email and c["model"] == "stream-gpt")


def test_anthropic_sdk_messages_plain_and_streaming_with_x_api_key(stack, email):
    """Streaming: a text/event-stream answer whose content_block_delta events carry the
    provider's chunks (stream-claude: 8 distinct ones 150 ms apart) one by one."""
    _, client = sdk_clients(stack, stack.mint(email)["token"])
    message = client.messages.create(model="claude-sonnet-4", max_tokens=32, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "Hello from the mock claude-sonnet-4."
    stack.wait_for_litellm_call(lambda c: c["end_user"] == email and c["model"] == "claude-sonnet-4")
    with client.messages.stream(model="stream-claude", max_tokens=32, messages=[{"role": "user", "content": "hi"}]) as stream:
        assert stream.response.headers["content-type"].startswith("text/event-stream"), stream.response.headers
        events = timed(stream)
    deltas = [(at, event.delta.text) for at, event in events if event.type == "content_block_delta"]
    assert [text for _, text in deltas] == STREAM_WORDS, [event.type for _, event in events]
    assert_spaced(deltas)
    assert [event.type for _, event in events][-1] == "message_stop"
    stack.wait_for_litellm_call(lambda c: c["end_user"] == email and c["model"] == "stream-claude")


def test_the_anthropic_sdk_with_auth_token_sends_bearer(stack, email):
    token = stack.mint(email)["token"]
    client = anthropic.Anthropic(base_url=stack.base, api_key=None, auth_token=token, max_retries=0)
    assert client.messages.create(model="claude-sonnet-4", max_tokens=8, messages=[{"role": "user", "content": "hi"}]).content[0].text


def test_litellm_receives_the_shared_key_never_the_clients_token(stack, email):
    """Seen from LiteLLM: the client's x-api-key is removed, Authorization is the shared key,
    and the request id nginx made is the one the client got back."""
    token = stack.mint(email)["token"]
    _, client = sdk_clients(stack, token)
    raw = client.messages.with_raw_response.create(model="claude-sonnet-4", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    request_id = raw.headers.get("x-request-id")
    assert request_id and re.fullmatch(r"[0-9a-f]{32}", request_id), raw.headers
    seen = [h for h in stack.litellm_headers() if h["request_id"] == request_id]
    assert len(seen) == 1, stack.litellm_headers()[-3:]
    assert seen[0]["x_api_key_present"] is False
    assert seen[0]["authorization_is_shared_key"] is True


@pytest.mark.parametrize(
    "headers_for, status, code",
    [
        (lambda good, other: {"Authorization": f"Bearer {good}", "x-api-key": other}, 401, "token_conflict"),
        (lambda good, other: {"Authorization": f"Bearer {other}", "x-api-key": good}, 401, "token_conflict"),
        (lambda good, other: {"Authorization": f"Bearer {good}", "x-api-key": good}, 200, None),
        (lambda good, other: {"x-api-key": good}, 200, None),
        (lambda good, other: {"x-api-key": "not-a-token"}, 401, "token_malformed"),
        (lambda good, other: {}, 401, "token_missing"),
    ],
)
def test_two_different_tokens_are_refused(stack, headers_for, status, code):
    good = stack.mint(f"good-{uuid.uuid4().hex[:8]}@example.com")["token"]
    other = stack.mint(f"other-{uuid.uuid4().hex[:8]}@example.com")["token"]
    response = requests.post(
        stack.url("/v1/chat/completions"),
        headers=headers_for(good, other),
        timeout=30,
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"]["code"] == code
        assert response.headers["Content-Type"].startswith("application/json")


def test_sdk_error_types_on_401(stack, email):
    token = stack.mint(email)["token"]
    stack.redis.set(f"active_user_deleted:{email}", "1", ex=60)
    try:
        openai_client, anthropic_client = sdk_clients(stack, token)
        with pytest.raises(openai.AuthenticationError) as raised:
            openai_client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert raised.value.code == "user_banned"
        with pytest.raises(anthropic.AuthenticationError) as raised:
            anthropic_client.messages.create(model="claude-sonnet-4", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        assert raised.value.body["error"]["code"] == "user_banned"
        with pytest.raises(anthropic.AuthenticationError):
            sdk_clients(stack, "x.y.z")[1].messages.create(
                model="claude-sonnet-4", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        stack.redis.delete(f"active_user_deleted:{email}")


def test_sdk_error_types_on_403_and_503(stack, email):
    token = stack.mint(email)["token"]
    # 403: a gateway forwarding every /v1 route (V1_ROUTES=all); LiteLLM refuses the shared key
    # on a management route.
    with sibling_stack(stack, "clients-all-routes", V1_ROUTES="all") as forwarding:
        client, _ = sdk_clients(forwarding, token)
        with pytest.raises(openai.PermissionDeniedError):
            client.get("/access_group", cast_to=object)
    # 503: a gateway whose LiteLLM is down.
    with sibling_stack(stack, "clients-litellm-down", LITELLM_UPSTREAM=f"127.0.0.1:{free_port()}") as down:
        openai_client, anthropic_client = sdk_clients(down, token)
        with pytest.raises(openai.InternalServerError) as raised:
            openai_client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert raised.value.status_code == 503 and raised.value.code == "litellm_unavailable"
        with pytest.raises(anthropic.InternalServerError) as raised:
            anthropic_client.messages.create(model="claude-sonnet-4", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        assert raised.value.status_code == 503


# --- docs/clients.md, run as written ------------------------------------------------------


def examples() -> dict:
    text = DOCS.read_text()
    found = re.findall(r"<!-- example: ([\w-]+) -->\n```(\w+)\n(.*?)```", text, re.S)
    return {name: (language, body) for name, language, body in found}


CLAUDE_STAND_IN = textwrap.dedent('''\
    #!{python}
    """Stand-in for the `claude` CLI: the requests Claude Code makes from its environment."""
    import os, sys
    from anthropic import Anthropic
    client = Anthropic(max_retries=0)  # ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN
    names = ["ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL",
             "ANTHROPIC_DEFAULT_HAIKU_MODEL"]
    for name in names:
        model = os.environ[name]
        messages = [{{"role": "user", "content": sys.argv[-1]}}]
        reply = client.messages.create(model=model, max_tokens=64, messages=messages)
        print(name, reply.content[0].text)
''')


@pytest.fixture(scope="module")
def docs_env(stack, tmp_path_factory):
    bin_dir = tmp_path_factory.mktemp("bin")
    claude = bin_dir / "claude"
    claude.write_text(CLAUDE_STAND_IN.format(python=sys.executable))
    claude.chmod(claude.stat().st_mode | stat.S_IXUSR)
    email = f"docs-{uuid.uuid4().hex[:8]}@example.com"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANTHROPIC_", "OPENAI_"))}
    env.update(GATEWAY_URL=stack.base, LLM_TOKEN=stack.mint(email)["token"], PATH=f"{bin_dir}:{Path(sys.executable).parent}:{env['PATH']}")
    return env, email


def test_the_docs_name_every_example():
    assert set(examples()) == {"curl-models", "curl-chat", "curl-messages", "openai-sdk", "anthropic-sdk", "roo-code", "claude-code"}


@pytest.mark.parametrize(
    "name, model, expected",
    [
        ("curl-models", "-", '"id":"gpt-4o-mini"'),
        ("curl-chat", "gpt-4o-mini", "Hello from the mock gpt-4o-mini."),
        ("curl-messages", "claude-sonnet-4", "Hello from the mock claude-sonnet-4."),
        ("openai-sdk", "gpt-4o-mini", "Hello from the mock gpt-4o-mini.\nHello from the mock gpt-4o-mini.\n"),
        ("anthropic-sdk", "claude-sonnet-4", "Hello from the mock claude-sonnet-4.\n"),
        ("claude-code", "claude-sonnet-4", "ANTHROPIC_DEFAULT_HAIKU_MODEL Hello from the mock claude-sonnet-4."),
    ],
)
def test_docs_example_runs_as_written(stack, docs_env, name, model, expected):
    env, email = docs_env
    language, body = examples()[name]
    command = ["bash", "-euo", "pipefail", "-c", body] if language == "sh" else [sys.executable, "-c", body]
    result = subprocess.run(command, env=dict(env, MODEL=model), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    if name == "curl-models":
        assert expected in result.stdout.replace(" ", ""), result.stdout
    else:
        assert expected in result.stdout, result.stdout
    if name != "curl-models":
        stack.wait_for_litellm_call(lambda c: c["end_user"] == email and c["model"] == model)


def test_docs_roo_code_settings_work_as_roo_code_uses_them(stack, docs_env):
    env, email = docs_env
    language, body = examples()["roo-code"]
    settings = dict(line.split(": ", 1) for line in body.strip().splitlines())
    assert settings["API Provider"] == "OpenAI Compatible"
    values = dict(env, MODEL="gpt-4o-mini")

    def expand(value):
        return re.sub(r"\$\{(\w+)\}", lambda match: values[match.group(1)], value)

    client = openai.OpenAI(base_url=expand(settings["Base URL"]), api_key=expand(settings["API Key"]), max_retries=0)
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(
            model=expand(settings["Model"]), messages=[{"role": "user", "content": "hi"}], stream=True
        )
        if chunk.choices
    )
    assert text == "Hello from the mock gpt-4o-mini."
    stack.wait_for_litellm_call(lambda c: c["end_user"] == email and c["model"] == "gpt-4o-mini")


# Last in this file: it stops Redis (the tests above need it).
def test_sdk_error_type_when_redis_is_unreachable(stack, email):
    token = stack.mint(email)["token"]
    client, _ = sdk_clients(stack, token)
    stack.script("stop-service", "redis")
    try:
        with pytest.raises(openai.InternalServerError) as raised:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert raised.value.status_code == 503 and raised.value.code == "redis_unavailable"
    finally:
        stack.script("start-service", "redis")
    # Each worker thread reconnects on its next request after a short back-off: wait until the
    # check answers again, so later tests start with a working stack.
    deadline = time.time() + 15
    while stack.chat(token).status_code != 200:
        assert time.time() < deadline, "the workers did not reconnect to Redis"
        time.sleep(0.2)
    # ... and until every process's revocation watch is back on (its own connection reconnects
    # on its own back-off), so a later test does not see the watch off.
    metrics = f"http://127.0.0.1:{stack.env['METRICS_PORT']}/metrics"
    while re.search(r"^gateway_revocation_watch_up\{[^}]*\} 0(\.0)?$", requests.get(metrics, timeout=10).text, re.M):
        assert time.time() < deadline + 15, "the revocation watch did not come back"
        time.sleep(0.2)
