"""Deployment: what can be checked without a Docker engine (compose.yaml against the compose
spec, .env.example, the nginx configuration in the local and the container layout, the worker
image's runtime packages against ldd), worker supervision (WORKER_PROCESSES), and scaling out
(two gateway instances on one Redis)."""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness.compose import COMPOSE, compose, env_example, interpolate
from harness.stack import ROOT
from harness.worker_config import check_worker_config, worker_secrets

WORKER_BINARY = ROOT / ".build" / "release" / "gateway-worker"
SECRET_WORDS = ("SECRET", "KEY", "PASSWORD", "SALT")


def compose_variables() -> set:
    """Every ${VAR...} compose interpolates ($${...} is an escaped shell variable, not compose's)."""
    return set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE.read_text()))


# --- compose.yaml and .env.example ------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_spec():
    """check-jsonschema's vendored compose-spec schema: nothing outside the repository needed."""
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
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
        "_oauth2_proxy",
        "24h",
        "lax",
    )


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
        differing = {key for key in set(services[first]) | set(services[second]) if services[first].get(key) != services[second].get(key)}
        assert differing <= {"profiles", "volumes", "ports", "depends_on"}, (second, differing)
    assert services["openresty-2"]["depends_on"]["workers-2"]["condition"] == "service_healthy"
    assert "worker-socket-2" in compose()["volumes"]


def test_the_workers_environment_in_compose_passes_the_workers_own_config_check():
    """compose.yaml's worker environment, filled as an operator fills .env, is accepted by
    `gateway-worker --check-config` (a missing or misnamed required setting would stop it)."""
    filled = {key: value for key, value in env_example().items() if value}
    filled.update(
        GATEWAY_PUBLIC_URL="https://gateway.example.com",
        SUPER_ADMIN_EMAIL="root@example.com",
        OAUTH2_PROXY_OIDC_ISSUER_URL="https://id.example.com/",
        OAUTH2_PROXY_CLIENT_ID="id",
        OAUTH2_PROXY_EMAIL_DOMAINS="example.com",
    )
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
    result = subprocess.run(
        ["nginx", "-t", "-e", f"{variables['NGINX_LOG_DIR']}/error.log", "-p", str(out.parent), "-c", str(out / "nginx.conf")],
        capture_output=True,
        text=True,
    )
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
    rendered = render_and_test(
        dict(
            NGINX_CONF_DIR=str(scratch / "conf"),
            NGINX_RUN_DIR=str(scratch / "run"),
            NGINX_LOG_DIR=str(scratch / "logs"),
            NGINX_USER=subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip(),
            NGINX_WORKERS="2",
            GATEWAY_LISTEN="127.0.0.1:18080",
            MAX_V1_BODY="32m",
            WORKER_SOCKET=str(scratch / "worker.sock"),
            WORKER_KEEPALIVE="8",
            DEV_IDENTITY_SOCKET=str(scratch / "identity.sock"),
            LITELLM_UPSTREAM="127.0.0.1:4000",
            OAUTH2_PROXY_UPSTREAM="127.0.0.1:4180",
            UI_ROOT=str(scratch / "ui"),
            GATEWAY_IDENTITY=identity,
        )
    )
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
    values.update(
        {key: interpolate(str(value), {"GATEWAY_PUBLIC_URL": "https://gateway.example.org"}) for key, value in compose_env.items()}
    )
    assert values["GATEWAY_IDENTITY"] == "oauth2-proxy" and values["LITELLM_UPSTREAM"] == "litellm:4000"
    container_conf = values["NGINX_CONF_DIR"]
    values.update(NGINX_CONF_DIR=str(scratch / "conf"), NGINX_RUN_DIR=str(scratch / "run"), NGINX_LOG_DIR=str(scratch / "logs"))
    for key in ("LITELLM_UPSTREAM", "OAUTH2_PROXY_UPSTREAM"):
        values[key] = re.sub(r"^[a-z0-9-]+:", "127.0.0.1:", values[key])
    rendered = render_and_test(values)
    assert "server unix:/run/llm-gateway/worker.sock;" in rendered
    assert "listen 8080;" in rendered and "user nobody nogroup;" in rendered
    assert f"include {scratch / 'conf'}/oauth2_proxy_request.conf;" in (scratch / "conf" / "identity.conf").read_text()
    assert "proxy_pass http://oauth2_proxy;" in (scratch / "conf" / "oauth2_proxy_request.conf").read_text()
    forwarded = (scratch / "conf" / "litellm-forwarded.conf").read_text()
    assert 'proxy_set_header Host "gateway.example.org";' in forwarded and "X-Forwarded-Proto https;" in forwarded
    entrypoint = (ROOT / "openresty" / "docker-entrypoint.sh").read_text()
    assert 'scripts/render-nginx" "$NGINX_CONF_DIR"' in entrypoint and 'openresty -c "$NGINX_CONF_DIR/nginx.conf"' in entrypoint
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


def test_the_openresty_image_ships_the_ui_files_where_the_config_expects_them():
    container_env = dict(
        line.split("=", 1)
        for line in (ROOT / "openresty" / "container.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    copies = [line.split()[1:] for line in (ROOT / "openresty" / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")]
    assert ["ui", container_env["UI_ROOT"]] in copies
    assert (ROOT / "ui" / "token-manager.html").exists()
