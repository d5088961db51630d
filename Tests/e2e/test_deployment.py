"""Deployment: what can be checked without a Docker engine (compose.yaml against the compose
spec, .env.example, the nginx configuration in the local and the container layout, the worker
image's runtime packages against ldd), worker supervision (WORKER_PROCESSES), and scaling out
(two gateway instances on one Redis)."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

from harness.stack import ROOT, sibling_stack
from harness.worker_config import check_worker_config, worker_secrets

COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
WORKER_BINARY = ROOT / ".build" / "release" / "gateway-worker"
SECRET_WORDS = ("SECRET", "KEY", "PASSWORD", "SALT")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_example() -> dict:
    entries = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            entries[key.strip()] = value
    return entries


def compose_variables() -> set:
    """Every ${VAR...} compose interpolates ($${...} is an escaped shell variable, not compose's)."""
    return set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE.read_text()))


def interpolate(value: str, values: dict) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message} with the given values."""
    def one(match):
        name, operator, rest = match.group(1), match.group(2), match.group(3)
        if values.get(name):
            return values[name]
        if operator == ":-":
            return rest
        raise AssertionError(f"{name} is required by compose.yaml but has no value")
    return re.sub(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-?])([^}]*))?\}", one, value)


# --- compose.yaml and .env.example ------------------------------------------------------------

def test_compose_file_is_valid_against_the_compose_spec():
    """check-jsonschema's vendored compose-spec schema: nothing outside the repository needed."""
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                             str(COMPOSE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def compose_secrets() -> set:
    return set(compose()["secrets"])


def test_every_compose_variable_is_documented_in_env_example_and_none_has_a_usable_secret():
    """.env.example holds settings only: every secret is a compose secret (a file in secrets/),
    so none is interpolated into an `environment` that `docker inspect` would show."""
    documented = env_example()
    used = compose_variables()
    assert used - documented.keys() == set(), "variables compose.yaml uses but .env.example lacks"
    assert documented.keys() - used == set(), ".env.example documents variables compose.yaml never uses"
    assert [key for key in documented if any(word in key for word in SECRET_WORDS) and not key.endswith(("_USER", "_NAME"))] == []
    assert {"JWT_SECRET", "OAUTH2_PROXY_COOKIE_SECRET", "LITELLM_MASTER_KEY", "LITELLM_DB_PASSWORD"} <= compose_secrets()
    for name, service in compose()["services"].items():
        for key, value in service.get("environment", {}).items():
            assert not (any(word in key for word in SECRET_WORDS) and "${" in str(value)), f"{name}: {key} interpolates a secret"


def test_only_nginx_publishes_ports_and_every_service_has_a_health_check_and_restart_policy():
    services = compose()["services"]
    # nginx of the first gateway host, and of the second one in profile "ha".
    assert [name for name, service in services.items() if service.get("ports")] == ["openresty", "openresty-2"]
    assert services["openresty-2"]["profiles"] == ["ha"]
    for name, service in services.items():
        assert service.get("restart") in ("always", "unless-stopped"), name
        assert service.get("healthcheck", {}).get("test"), name
        assert "expose" not in service, name
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command and "redis-data:/data" in services["redis"]["volumes"]
    oauth2 = services["oauth2-proxy"]["environment"]
    assert oauth2["OAUTH2_PROXY_SESSION_STORE_TYPE"] == "redis"
    assert (oauth2["OAUTH2_PROXY_COOKIE_NAME"], oauth2["OAUTH2_PROXY_COOKIE_EXPIRE"], oauth2["OAUTH2_PROXY_COOKIE_SAMESITE"]) == (
        "_oauth2_proxy", "24h", "lax")


def test_nginx_and_workers_share_the_socket_through_one_volume():
    services = compose()["services"]
    workers, nginx = services["workers"], services["openresty"]
    socket = workers["environment"]["WORKER_SOCKET"]
    assert nginx["environment"]["WORKER_SOCKET"] == socket
    mount = f"worker-socket:{os.path.dirname(socket)}"
    assert mount in workers["volumes"] and mount in nginx["volumes"]
    assert nginx["depends_on"]["workers"]["condition"] == "service_healthy"


def test_the_ha_profile_adds_a_second_gateway_host_with_its_own_socket_and_the_same_settings():
    """Profile "ha": openresty-2 + workers-2 are the first pair with everything shared (Redis,
    LiteLLM, OAuth2 Proxy, secrets, settings) except their socket volume and published port."""
    services = compose()["services"]
    for first, second in (("openresty", "openresty-2"), ("workers", "workers-2")):
        assert services[second]["profiles"] == ["ha"] and "profiles" not in services[first]
        assert services[second]["volumes"] == ["worker-socket-2:/run/llm-gateway"]
        differing = {key for key in set(services[first]) | set(services[second])
                     if services[first].get(key) != services[second].get(key)}
        assert differing <= {"profiles", "volumes", "ports", "depends_on"}, (second, differing)
    assert services["openresty-2"]["depends_on"]["workers-2"]["condition"] == "service_healthy"
    assert "worker-socket-2" in compose()["volumes"]


def test_the_workers_environment_in_compose_passes_the_workers_own_config_check():
    """compose.yaml's worker environment, filled as an operator fills .env, is accepted by
    `gateway-worker --check-config` (a missing or misnamed required setting would stop it)."""
    filled = {key: value for key, value in env_example().items() if value}
    filled.update(GATEWAY_PUBLIC_URL="https://gateway.example.com", SUPER_ADMIN_EMAIL="root@example.com",
                  OAUTH2_PROXY_OIDC_ISSUER_URL="https://id.example.com/", OAUTH2_PROXY_CLIENT_ID="id",
                  OAUTH2_PROXY_EMAIL_DOMAINS="example.com")
    workers = compose()["services"]["workers"]
    environment = {key: interpolate(str(value), filled) for key, value in workers["environment"].items()}
    with worker_secrets(workers) as mounted:
        result = check_worker_config(environment, mounted)
        assert result.returncode == 0, result.stderr
        (mounted / "JWT_SECRET").chmod(0o644)
        (mounted / "JWT_SECRET").write_text("")
        result = check_worker_config(environment, mounted)
        assert result.returncode != 0 and "JWT_SECRET" in result.stderr


# --- nginx configuration ----------------------------------------------------------------------

def render_and_test(variables: dict) -> str:
    """Renders openresty/*.conf with scripts/render-nginx and runs `nginx -t` on the result;
    returns the rendered configuration (all files)."""
    environment = dict(os.environ, **variables)
    out = Path(variables["NGINX_CONF_DIR"])
    subprocess.run([str(ROOT / "scripts" / "render-nginx"), str(out)], env=environment, check=True)
    result = subprocess.run(["nginx", "-t", "-e", f"{variables['NGINX_LOG_DIR']}/error.log", "-p", str(out.parent),
                             "-c", str(out / "nginx.conf")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return "\n".join(path.read_text() for path in sorted(out.glob("*.conf")))


@pytest.fixture
def scratch():
    folder = Path(tempfile.mkdtemp(prefix="gateway-nginx-"))
    for sub in ("run", "logs"):
        (folder / sub).mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("identity", ["dev", "oauth2-proxy"])
def test_nginx_configuration_passes_nginx_t_in_the_local_layout(scratch, identity):
    rendered = render_and_test(dict(
        NGINX_CONF_DIR=str(scratch / "conf"), NGINX_RUN_DIR=str(scratch / "run"), NGINX_LOG_DIR=str(scratch / "logs"),
        NGINX_USER=subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip(), NGINX_WORKERS="2",
        GATEWAY_LISTEN="127.0.0.1:18080", MAX_V1_BODY="32m", WORKER_SOCKET=str(scratch / "worker.sock"),
        WORKER_KEEPALIVE="8", DEV_IDENTITY_SOCKET=str(scratch / "identity.sock"), LITELLM_UPSTREAM="127.0.0.1:4000",
        OAUTH2_PROXY_UPSTREAM="127.0.0.1:4180", UI_ROOT=str(scratch / "ui"), GATEWAY_IDENTITY=identity))
    directives = [line for line in rendered.splitlines() if not line.lstrip().startswith("#")]
    assert [line for line in directives if re.search(r"\$\{[A-Z_]+\}", line)] == [], "a template variable was left unrendered"


def test_nginx_configuration_passes_nginx_t_with_the_container_values(scratch):
    """The values the image's entrypoint renders with: openresty/container.env, overridden by
    compose.yaml's environment for the openresty service (as in the container). Two kinds of
    value are mapped for this machine, and only those: the three directories nginx writes or
    reads at start (conf, run, logs) go under a scratch folder, and the upstream host names
    (litellm, oauth2-proxy) become 127.0.0.1, because nginx resolves an upstream's host name when
    it loads the configuration and those names exist only on the compose network. Everything
    else (listen port, socket path, user, identity variant, body size) is the container's."""
    values = {}
    for line in (ROOT / "openresty" / "container.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    compose_env = compose()["services"]["openresty"]["environment"]
    # GATEWAY_PUBLIC_URL is required (.env); LiteLLM's forwarding headers come from it.
    values.update({key: interpolate(str(value), {"GATEWAY_PUBLIC_URL": "https://gateway.example.org"})
                   for key, value in compose_env.items()})
    assert values["GATEWAY_IDENTITY"] == "oauth2-proxy" and values["LITELLM_UPSTREAM"] == "litellm:4000"
    container_conf = values["NGINX_CONF_DIR"]
    values.update(NGINX_CONF_DIR=str(scratch / "conf"), NGINX_RUN_DIR=str(scratch / "run"), NGINX_LOG_DIR=str(scratch / "logs"))
    for key in ("LITELLM_UPSTREAM", "OAUTH2_PROXY_UPSTREAM"):
        values[key] = re.sub(r"^[a-z0-9-]+:", "127.0.0.1:", values[key])
    rendered = render_and_test(values)
    assert "server unix:/run/llm-gateway/worker.sock;" in rendered
    assert "listen 8080;" in rendered and "user nobody nogroup;" in rendered
    assert "proxy_pass http://oauth2_proxy;" in (scratch / "conf" / "identity.conf").read_text()
    forwarded = (scratch / "conf" / "litellm-forwarded.conf").read_text()
    assert 'proxy_set_header Host "gateway.example.org";' in forwarded and "X-Forwarded-Proto https;" in forwarded
    entrypoint = (ROOT / "openresty" / "docker-entrypoint.sh").read_text()
    assert "scripts/render-nginx\" \"$NGINX_CONF_DIR\"" in entrypoint and 'openresty -c "$NGINX_CONF_DIR/nginx.conf"' in entrypoint
    # Rendered into the tmpfs compose mounts (the root filesystem is read-only).
    tmpfs = [entry.split(":")[0] for entry in compose()["services"]["openresty"]["tmpfs"]]
    assert any(container_conf.startswith(folder + "/") for folder in tmpfs)


# --- the worker image ---------------------------------------------------------------------------

def runtime_stage_packages(dockerfile: str) -> set:
    runtime = dockerfile.rsplit("\nFROM ", 1)[1]
    install = re.search(r"apt-get install -y --no-install-recommends ([^\\&\n]+)", runtime)
    assert install, "the runtime stage installs no packages"
    return set(install.group(1).split())


def owning_package(path: str) -> str:
    """The Debian package that installed a library (with merged /usr, dpkg knows one spelling)."""
    real = os.path.realpath(path)
    for candidate in (path, real, re.sub(r"^/usr/lib/", "/lib/", real), re.sub(r"^/lib/", "/usr/lib/", path)):
        owner = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if owner.returncode == 0:
            return owner.stdout.split(":", 1)[0]
    raise AssertionError(f"no Debian package owns {path}")


def test_runtime_packages_of_the_worker_image_are_exactly_what_the_binary_links():
    """Every library `ldd gateway-worker` resolves outside glibc and the Swift toolchain comes
    from a package the runtime stage installs, and the stage installs nothing else. The Swift
    runtime libraries (toolchain folder) are linked into the image's binary by
    --static-swift-stdlib, which the build stage must use."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    build_stage, runtime = dockerfile.rsplit("\nFROM ", 1)
    assert "--static-swift-stdlib" in build_stage and runtime.startswith("debian:bookworm-slim")
    swift_root = Path(shutil.which("swift")).resolve().parents[1]
    output = subprocess.run(["ldd", str(WORKER_BINARY)], capture_output=True, text=True, check=True).stdout
    needed = set()
    for line in output.splitlines():
        match = re.match(r"\s*(\S+) => (\S+)", line)
        if not match:
            continue
        name, path = match.groups()
        assert path != "not", f"{name} not found"
        real = os.path.realpath(path)
        if real.startswith(str(swift_root)):
            continue
        package = owning_package(path)
        if package != "libc6":
            needed.add(package)
    assert {"libfcgi0ldbl", "libhiredis0.14", "libssl3"} <= needed
    # Plus the health probe's cgi-fcgi (deploy/worker-health), and nothing else.
    assert runtime_stage_packages(dockerfile) == needed | {"libfcgi-bin"}


# --- worker supervision and a second gateway instance on the same Redis --------------------------

@pytest.fixture(scope="module")
def second(stack):
    """A second gateway instance (its own nginx, workers and identity service) sharing the first
    one's Redis and LiteLLM and its secrets, as a second host behind a load balancer would; its
    workers run as WORKER_PROCESSES=3 supervised processes."""
    with sibling_stack(stack, "second", WORKER_PROCESSES="3") as started:
        yield started


def children_of(pid: int) -> set:
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


def wait_until(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def test_a_session_and_a_token_from_one_instance_work_on_the_other(stack, second, email):
    browser = stack.sign_in(email)
    minted = browser.post(second.url("/api/token/generate"), json={"token_name": "via-b"})
    assert minted.status_code == 200, minted.text
    token = minted.json()["token"]
    assert stack.chat(token).status_code == 200
    assert second.chat(token).status_code == 200


def test_a_revocation_is_honoured_by_both_instances_at_once(stack, second, email):
    answer = stack.mint(email)
    assert second.chat(answer["token"]).status_code == 200
    stack.redis.set(f"revoked:token:{answer['token_id']}", "1", ex=600)
    for instance in (second, stack):
        refused = instance.chat(answer["token"])
        assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]


def test_a_ban_is_honoured_by_both_instances_at_once(stack, second, email):
    token = second.mint(email)["token"]
    browser = second.sign_in(email)
    assert stack.chat(token).status_code == 200
    stack.redis.set(f"active_user_deleted:{email}", str(int(time.time())), ex=604800)
    for instance in (stack, second):
        refused = instance.chat(token)
        assert refused.status_code == 401 and "banned" in refused.json()["error"]["message"]
    assert browser.post(stack.url("/api/token/generate"), json={}).status_code in (401, 403)
    assert browser.post(second.url("/api/token/generate"), json={}).status_code in (401, 403)


def test_killing_a_worker_process_mid_load_loses_only_its_own_requests_and_the_pool_recovers(second):
    supervisor = int((second.run_dir / "pids" / "worker.pid").read_text())
    before = wait_until(lambda: children_of(supervisor) if len(children_of(supervisor)) == 3 else None)
    assert before and len(before) == 3
    results, stop = [], threading.Event()
    lock = threading.Lock()

    def load():
        session = requests.Session()
        while not stop.is_set():
            started = time.time()
            try:
                ok = session.get(second.url("/health"), timeout=10).status_code == 200
            except requests.RequestException:
                ok = False
                session = requests.Session()
            with lock:
                results.append((started, time.time(), ok))

    threads = [threading.Thread(target=load) for _ in range(20)]
    for thread in threads:
        thread.start()
    def answered_since(moment, count):
        with lock:
            return sum(1 for r in results if r[0] > moment) >= count

    assert wait_until(lambda: answered_since(0, 200))  # the load is running
    victim = sorted(before)[0]
    killed_at = time.time()
    os.kill(victim, signal.SIGKILL)
    # The supervisor replaced the process, and the pool served plenty with the replacement.
    replaced = wait_until(lambda: (lambda now: now if len(now) == 3 and victim not in now else None)(children_of(supervisor)))
    assert replaced
    replaced_at = time.time()
    assert wait_until(lambda: answered_since(replaced_at, 200), timeout=20)
    stop.set()
    for thread in threads:
        thread.join(timeout=15)

    failed = [r for r in results if not r[2]]
    after_kill = [r for r in results if r[0] > killed_at]
    print(f"\n{len(results)} requests, {len(after_kill)} started after the kill, {len(failed)} failed")
    assert len(after_kill) > 100
    # A request that had not reached the killed process (every request started after the kill)
    # succeeded; only requests in flight at the kill may fail, at most one per client thread.
    assert [r for r in failed if r[0] > killed_at] == []
    assert len(failed) <= len(threads)
    recovered = wait_until(lambda: (lambda now: now if len(now) == 3 and victim not in now else None)(children_of(supervisor)))
    assert recovered and len(recovered) == 3 and victim not in recovered
    assert requests.get(second.url("/health"), timeout=5).json() == {"status": "healthy"}


def test_sigterm_to_the_supervisor_stops_every_worker_process_and_removes_the_socket(tmp_path):
    socket_path = tmp_path / "worker.sock"
    environment = dict(PATH=os.environ["PATH"], JWT_SECRET="s" * 48, LITELLM_SHARED_KEY="shared", LITELLM_MASTER_KEY="master",
                       WORKER_SOCKET=str(socket_path), WORKER_PROCESSES="2", WORKER_THREADS="4")
    supervisor = subprocess.Popen([str(WORKER_BINARY)], env=environment, stderr=subprocess.PIPE, text=True)
    try:
        workers = wait_until(lambda: children_of(supervisor.pid) if len(children_of(supervisor.pid)) == 2 else None)
        assert workers and len(workers) == 2 and wait_until(socket_path.exists)
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=15) == 0
        assert not socket_path.exists()
        assert [pid for pid in workers if Path(f"/proc/{pid}").exists()] == []
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def test_the_openresty_image_ships_the_ui_files_where_the_config_expects_them():
    container_env = dict(
        line.split("=", 1) for line in (ROOT / "openresty" / "container.env").read_text().splitlines()
        if "=" in line and not line.startswith("#"))
    copies = [line.split()[1:] for line in (ROOT / "openresty" / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY ")]
    assert ["ui", container_env["UI_ROOT"]] in copies
    assert (ROOT / "ui" / "token-manager.html").exists()
