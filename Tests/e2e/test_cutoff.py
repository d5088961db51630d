"""Open /v1 calls end when access is cut (issue 18, docs/cutoff.md).

Streams of the slow mock models (dev/litellm/slow_provider.py: one chunk every 200 ms for 30 s,
through real LiteLLM and the gateway's nginx) are read with raw http.client, so the test sees
the exact bytes a client gets. Each way of cutting access must end the stream within 2 s of the
cut being issued, with one error event in the client's API format, then close the stream; other
people's streams keep running; LiteLLM still records what the cut stream used.

The measured times are written to test-artifacts/cutoff-times.txt.
"""

import http.client
import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis as redis_lib
import yaml
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness.stack import ROOT

ADMIN = "admin@example.com"
BOUND = 2.0  # seconds from issuing the cut to the stream's end
CHUNKS = 150  # the slow provider's chunks per answer
MEASURED: list[str] = []

APIS = {
    "openai": ("/v1/chat/completions", {"model": "slow-gpt", "stream": True, "messages": [{"role": "user", "content": "count"}]}),
    "anthropic": (
        "/v1/messages",
        {"model": "slow-claude", "stream": True, "max_tokens": 1024, "messages": [{"role": "user", "content": "count"}]},
    ),
}


@pytest.fixture(scope="module", autouse=True)
def record_measurements():
    yield
    if MEASURED:
        out = ROOT / "test-artifacts" / "cutoff-times.txt"
        out.parent.mkdir(exist_ok=True)
        out.write_text("\n".join(MEASURED) + "\n")
        print("\n" + "\n".join(MEASURED))


class Stream:
    """One /v1 stream read line by line with http.client (chunked decoding only)."""

    def __init__(self, stack, token: str, api: str):
        self.api = api
        path, body = APIS[api]
        self.conn = http.client.HTTPConnection("127.0.0.1", int(stack.env["GATEWAY_PORT"]), timeout=10)
        self.conn.request(
            "POST", path, body=json.dumps(body), headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        )
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.read()
        assert self.response.getheader("Content-Type", "").startswith("text/event-stream")
        self.lines: list[bytes] = []
        self.ticks = 0
        self.ended_at: float | None = None

    def read_line(self) -> bytes:
        line = self.response.readline()
        if not line:
            self.ended_at = time.time()
        self.lines.append(line)
        if b'"tick ' in line:
            self.ticks += 1
        return line

    def wait_ticks(self, count: int) -> None:
        while self.ticks < count:
            assert self.read_line(), f"stream ended early: {self.text()[-500:]}"

    def read_to_end(self) -> float:
        while self.read_line():
            pass
        return self.ended_at

    def keeps_running(self, after: float, extra: float = 0.5) -> None:
        """Reads on until a chunk arrives `extra` seconds after `after` (not one buffered before)."""
        while True:
            line = self.read_line()
            assert line, f"stream ended: {self.text()[-500:]}"
            assert b"error" not in line, line
            if b'"tick ' in line and time.time() > after + extra:
                return

    def text(self) -> str:
        return b"".join(self.lines).decode()

    def error_event(self) -> dict:
        """The stream's error event in its API's format; nothing but blank lines after it."""
        lines = [line for line in self.lines if line.strip()]
        if self.api == "openai":
            index = next(i for i, line in enumerate(lines) if line.startswith(b'data: {"error"'))
            error = json.loads(lines[index][len(b"data: ") :])["error"]
        else:
            index = next(i for i, line in enumerate(lines) if line == b"event: error\n")
            assert lines[index + 1].startswith(b"data: "), lines[index:]
            body = json.loads(lines[index + 1][len(b"data: ") :])
            assert body["type"] == "error", body
            error = body["error"]
            index += 1
        assert lines[index + 1 :] in ([], [b"data: [DONE]\n"]), lines[index + 1 :]
        return error

    def close(self) -> None:
        self.conn.close()


def mint(stack, email: str) -> dict:
    return stack.mint(email, token_name=f"cutoff-{uuid.uuid4().hex[:6]}")


def revoke_by_owner(stack, owner, admin, email, minted):
    response = owner.post(stack.url("/api/token/revoke"), json={"token_id": minted["token_id"]})
    assert response.status_code == 200, response.text


def admin_delete_token(stack, owner, admin, email, minted):
    response = admin.delete(stack.url(f"/api/admin/tokens/{minted['token_id']}"))
    assert response.status_code == 200, response.text


def admin_revoke_all_tokens(stack, owner, admin, email, minted):
    response = admin.post(stack.url("/api/admin/tokens/revoke-user"), json={"user_email": email})
    assert response.status_code == 200, response.text


def force_logout_and_ban(stack, owner, admin, email, minted):
    response = admin.post(stack.url("/api/admin/sessions/revoke-user"), json={"user_email": email})
    assert response.status_code == 200, response.text


def ban_by_another_host(stack, owner, admin, email, minted):
    """A ban written by another gateway sharing Redis (e.g. the Lua gateway during a migration)."""
    stack.redis.set(f"active_user_deleted:{email}", int(time.time()), ex=604800)


CUTS = {
    "owner_revokes_token": (revoke_by_owner, "token_revoked"),
    "admin_deletes_token": (admin_delete_token, "token_revoked"),
    "admin_revokes_all_tokens": (admin_revoke_all_tokens, "token_revoked"),
    "admin_force_logout_ban": (force_logout_and_ban, "user_banned"),
    "ban_by_another_host": (ban_by_another_host, "user_banned"),
}


def user_email() -> str:
    return f"cut-{uuid.uuid4().hex[:10]}@example.com"


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("cut", CUTS)
def test_cut_ends_open_stream_within_bound_and_others_keep_running(stack, cut, api):
    action, code = CUTS[cut]
    email, other = user_email(), user_email()
    minted, bystander_token = mint(stack, email), mint(stack, other)
    sibling = mint(stack, email)  # the same person's other token: survives a token-level cut
    target = Stream(stack, minted["token"], api)
    bystander = Stream(stack, bystander_token["token"], api)
    same_user = Stream(stack, sibling["token"], api)
    try:
        owner, admin = stack.sign_in(email), stack.sign_in(ADMIN)  # signed in before the clock starts
        for stream in (target, bystander, same_user):
            stream.wait_ticks(3)
        issued = time.time()
        action(stack, owner, admin, email, minted)
        answered = time.time()
        ended = target.read_to_end()
        elapsed = ended - issued
        MEASURED.append(
            f"{cut:26s} {api:9s} stream ended {elapsed * 1000:6.0f} ms after the cut was issued"
            f" (the cut's own call: {(answered - issued) * 1000:.0f} ms)"
        )
        assert elapsed < BOUND, f"{cut}/{api}: {elapsed:.2f}s"
        error = target.error_event()
        assert error["type"] == "authentication_error" and code in error["message"], error
        assert target.ticks < CHUNKS
        bystander.keeps_running(after=ended)
        if code == "token_revoked" and cut != "admin_revokes_all_tokens":
            same_user.keeps_running(after=ended)
        else:  # every token of the person is cut
            assert same_user.read_to_end() - issued < BOUND
            assert code in same_user.error_event()["message"]
        # What the cut stream used is still attributed to its owner in LiteLLM.
        call = stack.wait_for_litellm_call(lambda c: (c.get("spend_logs_metadata") or {}).get("token_id") == minted["token_id"])
        assert call["status"] == "success" and call["end_user"] == email, call
        assert 0 < call["completion_tokens"] < CHUNKS, call
    finally:
        for stream in (target, bystander, same_user):
            stream.close()


def provider_requests(log: Path, api: str) -> int:
    path = APIS[api][0]
    if not log.exists():
        return 0
    return log.read_text().count(f"request {path} stream=False")


def test_official_sdks_raise_the_cut_as_an_api_error(stack):
    """What a person's client shows: the OpenAI and Anthropic SDKs raise on the error event."""
    import anthropic
    import openai

    email = user_email()
    first, second = mint(stack, email), mint(stack, email)
    owner = stack.sign_in(email)
    client = openai.OpenAI(base_url=stack.url("/v1"), api_key=first["token"], max_retries=0)
    stream = client.chat.completions.create(model="slow-gpt", stream=True, messages=[{"role": "user", "content": "count"}])
    received = 0
    with pytest.raises(openai.APIError) as raised:
        for _chunk in stream:
            received += 1
            if received == 3:
                revoke_by_owner(stack, owner, None, email, first)
    assert "token_revoked" in str(raised.value) and received < CHUNKS

    claude = anthropic.Anthropic(base_url=stack.url(""), api_key=second["token"], max_retries=0)
    received = 0
    with pytest.raises(anthropic.APIError) as raised:
        with claude.messages.stream(model="slow-claude", max_tokens=1024, messages=[{"role": "user", "content": "count"}]) as events:
            for _ in events.text_stream:
                received += 1
                if received == 3:
                    revoke_by_owner(stack, owner, None, email, second)
    assert "token_revoked" in str(raised.value) and received < CHUNKS


def read_answer(stack, token, api, results):
    path, body = APIS[api]
    body = dict(body, stream=False)
    conn = http.client.HTTPConnection("127.0.0.1", int(stack.env["GATEWAY_PORT"]), timeout=40)
    conn.request("POST", path, body=json.dumps(body), headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = conn.getresponse()
    results.append((time.time(), response.status, response.read()))
    conn.close()


@pytest.mark.parametrize("api", APIS)
def test_long_non_streaming_call_is_cut_too(stack, api):
    email = user_email()
    minted = mint(stack, email)
    results: list = []
    provider_log = Path(stack.run_dir) / "logs" / "provider.log"
    started = provider_requests(provider_log, api)
    caller = threading.Thread(target=read_answer, args=(stack, minted["token"], api, results))
    caller.start()
    # The call is in progress once the slow provider has it (it answers after 30 s).
    deadline = time.time() + 10
    while provider_requests(provider_log, api) == started:
        assert time.time() < deadline, "the call never reached the provider"
        time.sleep(0.05)
    owner = stack.sign_in(email)
    issued = time.time()
    revoke_by_owner(stack, owner, None, email, minted)
    caller.join(timeout=10)
    assert results, "the call was not cut"
    answered, status, body = results[0]
    elapsed = answered - issued
    MEASURED.append(f"{'non_streaming_revoke':26s} {api:9s} answer came {elapsed * 1000:6.0f} ms after the cut was issued")
    assert elapsed < BOUND, elapsed
    assert status == 401, body
    error = json.loads(body)
    if api == "openai":
        assert error["error"]["type"] == "authentication_error" and "token_revoked" in error["error"]["message"], error
    else:
        assert error["type"] == "error" and error["error"]["type"] == "authentication_error", error
        assert "token_revoked" in error["error"]["message"], error


def redis_gone_at(stack, stop: threading.Event) -> list:
    """Pings Redis every 20 ms from a thread; the list gets the time of the first failed ping."""
    gone: list = []

    def ping():
        client = redis_lib.Redis(
            host="127.0.0.1", port=stack.redis_port, socket_timeout=0.2, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
        )  # no retries: the first failure counts
        while not stop.is_set() and not gone:
            try:
                client.ping()
            except redis_lib.RedisError:
                gone.append(time.time())
            stop.wait(0.02)

    threading.Thread(target=ping, daemon=True).start()
    return gone


@pytest.mark.parametrize("api", APIS)
def test_redis_stopped_during_a_stream_ends_it_fail_closed(stack, api):
    email = user_email()
    stream = Stream(stack, mint(stack, email)["token"], api)
    stop = threading.Event()
    try:
        stream.wait_ticks(3)
        gone = redis_gone_at(stack, stop)
        # Stopping takes a while (the script waits for the process to exit): read meanwhile.
        stopper = threading.Thread(target=stack.script, args=("stop-service", "redis"))
        stopper.start()
        try:
            ended = stream.read_to_end()
        finally:
            stopper.join()
            stop.set()
            stack.script("start-service", "redis")
        assert gone, "Redis never stopped answering"
        elapsed = ended - gone[0]
        MEASURED.append(f"{'redis_stopped':26s} {api:9s} stream ended {elapsed * 1000:6.0f} ms after Redis stopped answering")
        assert elapsed < BOUND, elapsed
        error = stream.error_event()
        assert error["type"] in ("service_unavailable", "api_error", "overloaded_error"), error
        assert "redis_unavailable" in error["message"], error
    finally:
        stream.close()


def test_redis_stalled_during_a_stream_ends_it_then_new_streams_run(stack):
    email = user_email()
    token = mint(stack, email)["token"]
    stream = Stream(stack, token, "openai")
    try:
        stream.wait_ticks(3)
        issued = time.time()
        stack.redis.execute_command("CLIENT", "PAUSE", "3000", "ALL")
        ended = stream.read_to_end()
        elapsed = ended - issued
        MEASURED.append(f"{'redis_stalled':26s} {'openai':9s} stream ended {elapsed * 1000:6.0f} ms after Redis stalled")
        assert elapsed < BOUND, elapsed
        assert "redis_unavailable" in stream.error_event()["message"]
    finally:
        stream.close()
    assert stack.redis.ping()  # answered once the pause is over
    again = Stream(stack, token, "openai")
    try:
        again.wait_ticks(3)
        again.keeps_running(after=time.time())
    finally:
        again.close()


# --- the same hook file in compose's LiteLLM ------------------------------------------------


def load_hook(env: dict) -> subprocess.CompletedProcess:
    """Loads the callback the way LiteLLM loads deploy/litellm/config.yaml's callbacks (the module
    file next to the config file, as /app/gateway_cutoff.py next to /app/config.yaml)."""
    code = (
        "from litellm.proxy.types_utils.utils import get_instance_fn; "
        "print(type(get_instance_fn('gateway_cutoff.cutoff', 'deploy/litellm/config.yaml')).__name__)"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CUTOFF_")}
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", code], cwd=ROOT, env=dict(clean, **env), capture_output=True, text=True, timeout=120
    )


def test_compose_litellm_loads_the_hook_and_refuses_to_start_without_its_redis():
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    litellm = services["litellm"]
    assert "./deploy/litellm/gateway_cutoff.py:/app/gateway_cutoff.py:ro" in litellm["volumes"]
    assert "./deploy/litellm/config.yaml:/app/config.yaml:ro" in litellm["volumes"]
    assert litellm["environment"]["CUTOFF_REDIS_URL"] == "redis://redis:6379/0"
    # The Redis password is a compose secret (not in `docker inspect`), exported by secrets-env.
    assert {"source": "REDIS_PASSWORD", "target": "CUTOFF_REDIS_PASSWORD"} in litellm["secrets"]
    assert "redis" in litellm["depends_on"]
    config = yaml.safe_load((ROOT / "deploy" / "litellm" / "config.yaml").read_text())
    assert "gateway_cutoff.cutoff" in config["litellm_settings"]["callbacks"]
    loaded = load_hook({"CUTOFF_REDIS_URL": "redis://redis:6379/0"})
    assert loaded.returncode == 0 and loaded.stdout.strip().endswith("GatewayCutoff"), loaded.stderr[-2000:]
    refused = load_hook({})
    assert refused.returncode != 0 and "CUTOFF_REDIS_URL is required" in refused.stderr, refused.stderr[-2000:]
