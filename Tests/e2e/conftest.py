"""End-to-end test harness: starts the real stack (redis-server, LiteLLM with mock models,
the Swift workers, the dev identity service, nginx) once per test session on free loopback
ports in a temporary run folder, and stops it afterwards.

Set E2E_REUSE_RUN_DIR to a folder with a running stack (scripts/stack start) to skip startup.
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import redis as redis_lib
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """A running gateway stack and helpers to talk to it."""

    def __init__(self, run_dir: Path, env: dict):
        self.run_dir = run_dir
        self.env = env
        self.base = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
        self.redis_port = int(env["REDIS_PORT"])
        secrets = dict(
            line.split("=", 1) for line in (run_dir / "dev-secrets.env").read_text().split() if "=" in line
        )
        self.jwt_secret = env.get("JWT_SECRET") or secrets["DEV_JWT_SECRET"]
        self.master_key = env.get("LITELLM_MASTER_KEY") or secrets["DEV_LITELLM_MASTER_KEY"]
        self.shared_key = env.get("LITELLM_SHARED_KEY") or secrets["DEV_LITELLM_SHARED_KEY"]
        self.cookie_secret = env.get("OAUTH2_PROXY_COOKIE_SECRET") or secrets["DEV_COOKIE_SECRET"]
        self.redis = redis_lib.Redis(host="127.0.0.1", port=self.redis_port, decode_responses=True)

    def url(self, path: str) -> str:
        return self.base + path

    def script(self, *args, extra_env=None, check=True):
        env = dict(self.env, **(extra_env or {}))
        return subprocess.run([str(ROOT / "scripts" / "stack"), *args], env=env, cwd=ROOT, check=check,
                              capture_output=True, text=True)

    def sign_in(self, email: str) -> requests.Session:
        """A browser-like session signed in through the identity service's scriptable form."""
        session = requests.Session()
        response = session.post(self.url("/oauth2/sign_in"), data={"email": email}, allow_redirects=False)
        assert response.status_code == 302, response.text
        assert "_oauth2_proxy" in session.cookies
        return session

    def mint(self, email: str, **body) -> dict:
        """Signs in as `email` and generates a token; returns the generate answer."""
        response = self.sign_in(email).post(self.url("/api/token/generate"), json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def chat(self, token: str, stream=False, headers=None, model="gpt-4o-mini"):
        all_headers = {"Authorization": f"Bearer {token}"}
        all_headers.update(headers or {})
        return requests.post(
            self.url("/v1/chat/completions"),
            headers=all_headers,
            json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]},
            stream=stream,
            timeout=60,
        )

    def litellm_calls(self) -> list:
        path = Path(self.env["LITELLM_RECORD_FILE"])
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def litellm_headers(self) -> list:
        """What LiteLLM received per request (dev/litellm: request id, which credentials)."""
        path = Path(self.env["LITELLM_HEADERS_RECORD_FILE"])
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def wait_for_litellm_call(self, predicate, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for call in self.litellm_calls():
                if predicate(call):
                    return call
            time.sleep(0.1)
        raise AssertionError(f"LiteLLM recorded no matching call; calls: {self.litellm_calls()[-5:]}")


def stack_env(run_dir: Path, **overrides) -> dict:
    env = dict(os.environ)
    for key in list(env):
        if key.startswith(("REDIS_", "LITELLM_", "JWT_", "GATEWAY_", "WORKER_", "ADMIN_", "SUPER_ADMIN", "OAUTH2_PROXY_", "METRICS_", "LOG_FORMAT")):
            del env[key]
    env.update(
        RUN_DIR=str(run_dir),
        GATEWAY_PORT=str(free_port()),
        REDIS_PORT=str(free_port()),
        LITELLM_PORT=str(free_port()),
        METRICS_PORT=str(free_port()),
        SUPER_ADMIN_EMAIL="root@example.com",
        ADMIN_EMAILS="admin@example.com",
        ADMIN_DOMAINS="admins.example.org",
        JWT_ACCEPTED_ISSUERS="litellm.nakacya.jp",
        NGINX_WORKERS="2",
        LITELLM_RECORD_FILE=str(run_dir / "litellm-calls.jsonl"),
        LITELLM_KEY_GENERATE_RECORD_FILE=str(run_dir / "litellm-key-generate.jsonl"),
        LITELLM_HEADERS_RECORD_FILE=str(run_dir / "litellm-headers.jsonl"),
    )
    env.update(overrides)
    return env


@contextlib.contextmanager
def running_stack(name="gateway-e2e", **overrides):
    """Starts a stack on free ports in a fresh run folder (settings: `stack_env` + overrides),
    yields it, stops it, keeps its logs in test-artifacts/<name>-logs/ and removes the folder."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    env = stack_env(run_dir, **overrides)
    started = time.time()
    result = subprocess.run([str(ROOT / "scripts" / "stack"), "start"], env=env, cwd=ROOT, capture_output=True, text=True)
    try:
        if result.returncode != 0:
            pytest.fail(f"stack {name} did not start:\n{result.stdout}\n{result.stderr}")
        print(f"\nstack {name} started in {time.time() - started:.1f}s at {run_dir}")
        yield Stack(run_dir, env)
    finally:
        subprocess.run([str(ROOT / "scripts" / "stack"), "stop"], env=env, cwd=ROOT, capture_output=True)
        # Keep the logs of the last run for a look after a failure (test-artifacts/ is ignored).
        artifacts = ROOT / "test-artifacts" / f"{name}-logs"
        shutil.rmtree(artifacts, ignore_errors=True)
        if (run_dir / "logs").exists():
            shutil.copytree(run_dir / "logs", artifacts, dirs_exist_ok=True)
        if os.environ.get("E2E_KEEP_RUN_DIR") != "1":
            shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack():
    reuse = os.environ.get("E2E_REUSE_RUN_DIR")
    if reuse:
        yield Stack(Path(reuse), dict(os.environ))
        return
    with running_stack() as started:
        yield started


@pytest.fixture
def email():
    """A fresh user e-mail per test, so tests never see each other's keys."""
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


@contextlib.contextmanager
def sibling_stack(stack, name: str, **overrides):
    """Another gateway instance (nginx, workers, identity service) on the first stack's Redis and
    LiteLLM with the same secrets unless `overrides` says otherwise (e.g. JWT_SECRET for rotation,
    LITELLM_UPSTREAM for a LiteLLM that is down), as a second host behind a load balancer."""
    settings = dict(
        START_REDIS="0", START_LITELLM="0", REDIS_PORT=str(stack.redis_port),
        LITELLM_PORT=stack.env["LITELLM_PORT"], LITELLM_RECORD_FILE=stack.env["LITELLM_RECORD_FILE"],
        LITELLM_HEADERS_RECORD_FILE=stack.env["LITELLM_HEADERS_RECORD_FILE"],
        JWT_SECRET=stack.jwt_secret, LITELLM_MASTER_KEY=stack.master_key, LITELLM_SHARED_KEY=stack.shared_key,
        OAUTH2_PROXY_COOKIE_SECRET=stack.cookie_secret, WORKER_THREADS="8")
    settings.update(overrides)
    with running_stack(f"gateway-e2e-{name}", **settings) as started:
        yield started
