"""Starting and stopping a whole gateway stack (scripts/stack) in a temporary run folder on free
loopback ports: the one place that knows how, for the e2e tests, `make bench` and the soak.

    with started_stack("gateway-e2e", SUPER_ADMIN_EMAIL="root@example.com") as (run_dir, env):
        ...
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis as redis_lib
import requests

ROOT = Path(__file__).resolve().parents[2]
STACK_SCRIPT = ROOT / "scripts" / "stack"

# Gateway settings a caller's shell may hold (a developer's .env exported, a CI job's): cleared,
# so that a stack runs with exactly what its caller asks for plus scripts/env.sh's defaults.
SETTING_PREFIXES = (
    "REDIS_",
    "LITELLM_",
    "JWT_",
    "GATEWAY_",
    "WORKER_",
    "ADMIN_",
    "SUPER_ADMIN",
    "OAUTH2_PROXY_",
    "NGINX_",
    "TRACK_",
    "BAN_",
    "TOKEN_",
    "ACTIVE_USER_",
    "REVOCATION_",
    "CLEANUP_",
    "START_",
    "DEV_IDENTITY_",
    "UI_ROOT",
    "MAX_V1_BODY",
    "V1_",
    "OBJECT_OWNER_",
    "INDEX_",
    "LOG_LEVEL",
    "CUTOFF_",
    "SLOW_PROVIDER_",
    "METRICS_",
    "LOG_FORMAT",
)


def free_port() -> int:
    """A loopback port free right now. Another process may take it before our server binds it:
    scripts/stack then fails to start (it checks that its own servers are alive) and
    `started_stack` retries with fresh ports."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int):
    """Resident memory of a process in kB, or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children_of(pid: int) -> set:
    """The pids of the processes whose parent is `pid` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def clean_environment() -> dict:
    """This process's environment without any gateway setting."""
    return {key: value for key, value in os.environ.items() if not key.startswith(SETTING_PREFIXES)}


PORT_NAMES = ("GATEWAY_PORT", "REDIS_PORT", "LITELLM_PORT", "SLOW_PROVIDER_PORT", "METRICS_PORT")


def stack_env(run_dir: Path, **settings) -> dict:
    """The environment for scripts/stack: a clean environment, the run folder, a free
    GATEWAY_PORT (scripts/env.sh chooses every other port free and records it in
    <run_dir>/ports.env; `recorded_ports` reads it), then `settings` (which win)."""
    env = clean_environment()
    env.update(
        RUN_DIR=str(run_dir),
        GATEWAY_PORT=str(free_port()),
        LITELLM_RECORD_FILE=str(run_dir / "litellm-calls.jsonl"),
        LITELLM_KEY_GENERATE_RECORD_FILE=str(run_dir / "litellm-key-generate.jsonl"),
        LITELLM_REQUEST_FILE=str(run_dir / "litellm-requests.jsonl"),
        LITELLM_HEADERS_RECORD_FILE=str(run_dir / "litellm-headers.jsonl"),
    )
    env.update({key: str(value) for key, value in settings.items()})
    return env


def recorded_ports(run_dir: Path) -> dict:
    """The ports a stack uses, as scripts/env.sh recorded them in <run_dir>/ports.env."""
    lines = (Path(run_dir) / "ports.env").read_text().split()
    ports = dict(line.split("=", 1) for line in lines if "=" in line)
    return {name: ports[name] for name in PORT_NAMES}


def run_script(env: dict, *args, check=False) -> subprocess.CompletedProcess:
    return subprocess.run([str(STACK_SCRIPT), *args], env=env, cwd=ROOT, check=check, capture_output=True, text=True)


class StackStartError(RuntimeError):
    pass


@contextlib.contextmanager
def started_stack(name="gateway", keep_logs=None, attempts=3, **settings):
    """Starts a stack in a fresh run folder (`stack_env` + `settings`), yields (run_dir, env),
    then stops it, copies its logs to `keep_logs` (a folder) if given and removes the run folder
    (unless E2E_KEEP_RUN_DIR=1). A start that fails is retried with fresh ports (a port taken
    between choosing and binding; ports given in `settings` stay as given)."""
    errors = []
    for attempt in range(attempts):
        run_dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        env = stack_env(run_dir, **settings)
        began = time.time()
        result = run_script(env, "start")
        if result.returncode == 0:
            env.update(recorded_ports(run_dir))
            break
        errors.append(f"attempt {attempt + 1}:\n{result.stdout}\n{result.stderr}")
        run_script(env, "stop")
        _keep_logs(run_dir, keep_logs)
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        raise StackStartError(f"stack {name} did not start:\n" + "\n".join(errors))
    print(f"\nstack {name} started in {time.time() - began:.1f}s at {run_dir}", flush=True)
    try:
        yield run_dir, env
    finally:
        run_script(env, "stop")
        _keep_logs(run_dir, keep_logs)
        if os.environ.get("E2E_KEEP_RUN_DIR") != "1":
            shutil.rmtree(run_dir, ignore_errors=True)


@contextlib.contextmanager
def stacks_on_gateway_ports(count=2, attempts=3):
    """`count` stacks started at the same time, each from a clean environment with nothing set
    but its own free GATEWAY_PORT: run folder (.run-<port>) and every other port are what
    scripts/env.sh derives or chooses. Yields a list of `Stack`; stops them and removes their run
    folders. A start that fails (a chosen port taken in between) is retried on a fresh port."""
    started, errors = [], []
    try:
        pending = count
        for _ in range(attempts):
            envs = [dict(clean_environment(), GATEWAY_PORT=str(free_port())) for _ in range(pending)]
            processes = [
                subprocess.Popen(
                    [str(STACK_SCRIPT), "start"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                )
                for env in envs
            ]
            for env, process in zip(envs, processes, strict=True):
                output = process.communicate()[0]
                run_dir = ROOT / f".run-{env['GATEWAY_PORT']}"
                if process.returncode == 0:
                    started.append(Stack(run_dir, dict(env, RUN_DIR=str(run_dir), **recorded_ports(run_dir))))
                else:
                    errors.append(output)
                    run_script(env, "stop")
                    shutil.rmtree(run_dir, ignore_errors=True)
            pending = count - len(started)
            if pending == 0:
                break
        else:
            raise StackStartError("stacks did not start:\n" + "\n".join(errors))
        yield started
    finally:
        for stack in started:
            run_script(stack.env, "stop")
            shutil.rmtree(stack.run_dir, ignore_errors=True)


def _keep_logs(run_dir: Path, destination):
    if destination is None:
        return
    destination = Path(destination)
    shutil.rmtree(destination, ignore_errors=True)
    if (run_dir / "logs").exists():
        shutil.copytree(run_dir / "logs", destination, dirs_exist_ok=True)


def pid_of(run_dir: Path, service: str) -> int:
    """The pid scripts/stack recorded for a service (redis, litellm, worker, identity, nginx)."""
    return int((Path(run_dir) / "pids" / f"{service}.pid").read_text())


class Stack:
    """A running gateway stack and helpers to talk to it."""

    def __init__(self, run_dir: Path, env: dict):
        self.run_dir = Path(run_dir)
        self.env = env
        self.base = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
        self.port = int(env["GATEWAY_PORT"])
        self.redis_port = int(env["REDIS_PORT"])
        secrets = dict(line.split("=", 1) for line in (self.run_dir / "dev-secrets.env").read_text().split() if "=" in line)
        self.jwt_secret = env.get("JWT_SECRET") or secrets["DEV_JWT_SECRET"]
        self.master_key = env.get("LITELLM_MASTER_KEY") or secrets["DEV_LITELLM_MASTER_KEY"]
        self.shared_key = env.get("LITELLM_SHARED_KEY") or secrets["DEV_LITELLM_SHARED_KEY"]
        self.cookie_secret = env.get("OAUTH2_PROXY_COOKIE_SECRET") or secrets["DEV_COOKIE_SECRET"]
        self.redis = redis_lib.Redis(host="127.0.0.1", port=self.redis_port, decode_responses=True)

    def url(self, path: str) -> str:
        return self.base + path

    def script(self, *args, extra_env=None, check=True):
        return run_script(dict(self.env, **(extra_env or {})), *args, check=check)

    def pid(self, service: str) -> int:
        return pid_of(self.run_dir, service)

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

    def records(self, setting: str) -> list:
        """The lines of a dev-hook record file (JSON lines; the file named by the stack's setting
        `setting`), [] before the first."""
        path = Path(self.env[setting])
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def litellm_calls(self) -> list:
        """Every call LiteLLM served (dev hook): model, end_user, spend metadata."""
        return self.records("LITELLM_RECORD_FILE")

    def litellm_requests(self) -> list:
        """Every request LiteLLM authenticated (dev hook record_request): method, raw_path, path,
        query, key (shared/master/other), forwarding headers."""
        return self.records("LITELLM_REQUEST_FILE")

    def litellm_headers(self) -> list:
        """What LiteLLM received per request (dev hook _record_headers): request id, path, and
        which credentials (x-api-key present, Authorization is the shared key)."""
        return self.records("LITELLM_HEADERS_RECORD_FILE")

    def wait_for_record(self, setting: str, predicate, timeout=10.0):
        """The first record of `records(setting)` that satisfies `predicate`, within `timeout`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for record in self.records(setting):
                if predicate(record):
                    return record
            time.sleep(0.1)
        raise AssertionError(f"no matching record in {self.env[setting]}; last: {self.records(setting)[-5:]}")

    def wait_for_litellm_call(self, predicate, timeout=10.0):
        return self.wait_for_record("LITELLM_RECORD_FILE", predicate, timeout)


# What every e2e stack runs with unless a test says otherwise.
E2E_SETTINGS = dict(
    SUPER_ADMIN_EMAIL="root@example.com",
    ADMIN_EMAILS="admin@example.com",
    ADMIN_DOMAINS="admins.example.org",
    JWT_ACCEPTED_ISSUERS="litellm.nakacya.jp",
    NGINX_WORKERS="2",
    # An index pass every 2 s (default 60): data written straight into Redis is indexed soon.
    INDEX_RECONCILE_SECONDS="2",
)


@contextlib.contextmanager
def running_stack(name="gateway-e2e", **overrides):
    """Starts an e2e stack (E2E_SETTINGS + overrides) on free ports, yields a `Stack`, stops it,
    keeps its logs in test-artifacts/<name>-logs/ and removes its run folder."""
    with started_stack(name, keep_logs=ROOT / "test-artifacts" / f"{name}-logs", **dict(E2E_SETTINGS, **overrides)) as (run_dir, env):
        yield Stack(run_dir, env)


@contextlib.contextmanager
def sibling_stack(stack, name: str, **overrides):
    """Another gateway instance (nginx, workers, identity service) on the first stack's Redis and
    LiteLLM with the same secrets unless `overrides` says otherwise (e.g. JWT_SECRET for rotation,
    LITELLM_UPSTREAM for a LiteLLM that is down), as a second host behind a load balancer."""
    settings = dict(
        START_REDIS="0",
        START_LITELLM="0",
        REDIS_PORT=str(stack.redis_port),
        LITELLM_PORT=stack.env["LITELLM_PORT"],
        LITELLM_RECORD_FILE=stack.env["LITELLM_RECORD_FILE"],
        LITELLM_REQUEST_FILE=stack.env["LITELLM_REQUEST_FILE"],
        LITELLM_HEADERS_RECORD_FILE=stack.env["LITELLM_HEADERS_RECORD_FILE"],
        JWT_SECRET=stack.jwt_secret,
        LITELLM_MASTER_KEY=stack.master_key,
        LITELLM_SHARED_KEY=stack.shared_key,
        OAUTH2_PROXY_COOKIE_SECRET=stack.cookie_secret,
        WORKER_THREADS="8",
    )
    settings.update(overrides)
    with running_stack(f"gateway-e2e-{name}", **settings) as started:
        yield started
