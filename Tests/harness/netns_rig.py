"""The multi-host rig: real processes in Linux network namespaces joined by a bridge
(scripts/netns-rig), for Tests/e2e/test_multihost.py and bench/multihost.py.

    hosts a, b, c     nginx + gateway workers + identity service each (scripts/stack), port 8080
    redis1, redis2    redis-server master and replica (6379)
    sentinel1..3      redis-sentinel (26379), quorum 2
    litellm           LiteLLM and the slow mock provider (scripts/stack start-service litellm)
    relay             bench/delay_relay.py: a userspace round trip to Redis (the kernel has no netem)
    client            where the test process itself sends its requests from (`Rig.enter_client`)

    with Rig(folder) as rig:
        a = rig.hosts["a"]          # a harness.stack.Stack whose base URL is http://10.231.0.11:8080
        a.mint("someone@example.com")

Needs root (ip netns). Everything lives under NETNS_RIG_PREFIX-* namespaces, removed on exit.
"""

import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis as redis_lib

from harness import redis_topology as nodes
from harness.checks import wait_until
from harness.redis_topology import MASTER_NAME, UNREACHABLE, pairs
from harness.stack import ROOT, STACK_SCRIPT, Stack, clean_environment

RIG_SCRIPT = ROOT / "scripts" / "netns-rig"
GATEWAY_PORT, REDIS_PORT, SENTINEL_PORT, LITELLM_PORT, SLOW_PROVIDER_PORT, RELAY_PORT = (8080, 6379, 26379, 4000, 4001, 6379)
CLONE_NEWNET = 0x40000000


def prefix() -> str:
    return os.environ.get("NETNS_RIG_PREFIX", "gwmh")


def rig_network(action: str) -> str:
    return subprocess.run(
        [str(RIG_SCRIPT), action], check=True, capture_output=True, text=True, env=dict(os.environ, NETNS_RIG_PREFIX=prefix())
    ).stdout


def in_ns(host: str, *command) -> list:
    return ["ip", "netns", "exec", f"{prefix()}-{host}", *map(str, command)]


def set_thread_netns(path: str):
    """Moves the calling thread (and the threads it starts later) into the network namespace
    at `path`: sockets it opens from now on live there."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


class Rig:
    """Starts the whole rig; `litellm=False` points every host at a static upstream of its own
    (bench/bench.conf) instead; `sentinels=False` gives the hosts REDIS_HOST=`redis_host`
    (an address of the rig: redis1, or the relay) instead of Sentinel."""

    def __init__(self, folder=None, litellm=True, sentinels=True, redis_host="redis1", **gateway_settings):
        self.folder = Path(folder or tempfile.mkdtemp(prefix="gateway-netns-"))
        self.litellm, self.sentinels, self.redis_host = litellm, sentinels, redis_host
        self.gateway_settings = gateway_settings
        self.address = {}
        self.processes = {}  # name -> Popen (redis nodes, sentinels, relay)
        self.hosts: dict[str, Stack] = {}
        self.secrets = dict(
            JWT_SECRET=secrets.token_urlsafe(36),
            LITELLM_MASTER_KEY="sk-master-" + secrets.token_urlsafe(18),
            LITELLM_SHARED_KEY="sk-shared-" + secrets.token_urlsafe(18),
            OAUTH2_PROXY_COOKIE_SECRET=secrets.token_urlsafe(18),
        )
        self.records = {name: str(self.folder / f"litellm-{name}.jsonl") for name in ("calls", "requests", "headers")}
        self._own_netns = None
        self.litellm_error = None

    # --- whole rig
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        began = time.time()
        rig_network("up")
        self.address = {line.split()[0]: line.split()[2] for line in rig_network("hosts").splitlines()}
        self.enter_client()
        self.start_redis("redis1")
        self.start_redis("redis2", replica_of="redis1")
        for index in (1, 2, 3):
            self.start_sentinel(f"sentinel{index}")
        self.wait_healthy()
        # The hosts do not need LiteLLM to start: all four start side by side.
        starters = [threading.Thread(target=self.start_host, args=(name,)) for name in ("a", "b", "c")]
        if self.litellm:
            starters.append(threading.Thread(target=self.start_litellm))
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join()
        missing = {"a", "b", "c"} - set(self.hosts)
        if missing or self.litellm_error:
            raise RuntimeError(f"gateway hosts {sorted(missing)} did not start, LiteLLM: {self.litellm_error or 'up'}")
        print(f"\nmulti-host rig up in {time.time() - began:.1f}s ({self.folder})", flush=True)

    def stop(self):
        self.leave_client()
        stoppers = [
            threading.Thread(
                target=subprocess.run, args=(in_ns(name, STACK_SCRIPT, "stop"),), kwargs=dict(env=self.hosts[name].env, capture_output=True)
            )
            for name in self.hosts
        ]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        rig_network("down")  # also kills anything left in the rig's namespaces (LiteLLM's children)
        self.keep_logs()

    def keep_logs(self):
        """Every log of the run into test-artifacts/netns-rig-logs/, then the run folder goes
        (unless E2E_KEEP_RUN_DIR=1)."""
        destination = ROOT / "test-artifacts" / "netns-rig-logs"
        shutil.rmtree(destination, ignore_errors=True)
        for log in list(self.folder.glob("*.log")) + list(self.folder.glob("*/logs/*.log")):
            target = destination / log.relative_to(self.folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, target)
        if os.environ.get("E2E_KEEP_RUN_DIR") != "1":
            shutil.rmtree(self.folder, ignore_errors=True)

    def enter_client(self):
        """From here on, this thread's sockets (requests, Redis clients) are opened in the client
        namespace, and so are those of the threads it starts: the test talks to the hosts across
        the bridge, like any client would. (Processes go to their hosts with `ip netns exec`.)"""
        if self._own_netns is None:
            self._own_netns = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            set_thread_netns(f"/run/netns/{prefix()}-client")

    def leave_client(self):
        if self._own_netns is not None:
            set_thread_netns(f"/proc/self/fd/{self._own_netns}")
            os.close(self._own_netns)
            self._own_netns = None

    # --- Redis
    def start_redis(self, name, replica_of=None):
        data = self.folder / name
        data.mkdir(exist_ok=True)
        master = (self.address[replica_of], REDIS_PORT) if replica_of else None
        command = nodes.server_command(self.address[name], REDIS_PORT, data, self.folder / f"{name}.log", replica_of=master)
        self.processes[name] = nodes.start(in_ns(name, *command), self.redis(name), f"redis-server {name}")

    def start_sentinel(self, name):
        config = self.folder / f"{name}.conf"
        log = self.folder / f"{name}.log"
        nodes.sentinel_config(config, self.address[name], SENTINEL_PORT, self.folder, log, (self.address["redis1"], REDIS_PORT))
        self.processes[name] = nodes.start(in_ns(name, "redis-sentinel", config), self.redis(name, SENTINEL_PORT), f"redis-sentinel {name}")

    def redis(self, name, port=REDIS_PORT) -> redis_lib.Redis:
        """A client to a rig host's Redis (or sentinel), from the client namespace."""
        return nodes.client(self.address[name], port)

    def master(self):
        """The node the sentinels agree is the master (redis1/redis2), or None."""
        live = [self.redis(f"sentinel{i}", SENTINEL_PORT) for i in (1, 2, 3) if self.processes[f"sentinel{i}"].poll() is None]
        agreed = nodes.agreed_master(live)
        return next(name for name in ("redis1", "redis2") if self.address[name] == agreed[0]) if agreed else None

    def wait_healthy(self, timeout=40):
        def healthy():
            master = self.master()
            if master is None:
                return False
            replica = "redis2" if master == "redis1" else "redis1"
            info = self.redis(replica).info("replication")
            if info.get("master_link_status") != "up" or info.get("master_host") != self.address[master]:
                return False
            for index in (1, 2, 3):
                sentinel = self.redis(f"sentinel{index}", SENTINEL_PORT)
                replicas = sentinel.execute_command("SENTINEL", "replicas", MASTER_NAME)
                if not any(r.get("ip") == self.address[replica] and "s_down" not in r.get("flags", "") for r in map(pairs, replicas)):
                    return False
                if len(sentinel.execute_command("SENTINEL", "sentinels", MASTER_NAME)) != 2:
                    return False
            return master

        return wait_until(healthy, timeout, "a healthy Redis topology across the rig", ignore=UNREACHABLE)

    def start_relay(self, round_trip_ms: float):
        """(Re)starts the delay relay: relay:6379 → redis1:6379 with this round trip added."""
        self.stop_relay()
        self.processes["relay"] = subprocess.Popen(
            in_ns(
                "relay",
                ROOT / ".venv" / "bin" / "python",
                ROOT / "bench" / "delay_relay.py",
                f"{self.address['relay']}:{RELAY_PORT}",
                f"{self.address['redis1']}:{REDIS_PORT}",
                round_trip_ms,
            )
        )
        wait_until(lambda: self.redis("relay", RELAY_PORT).ping(), 10, "the delay relay", ignore=UNREACHABLE)

    def stop_relay(self):
        relay = self.processes.pop("relay", None)
        if relay and relay.poll() is None:
            relay.kill()
            relay.wait(timeout=10)

    # --- LiteLLM host
    def litellm_env(self) -> dict:
        env = clean_environment()
        env.update(
            RUN_DIR=str(self.folder / "litellm"),
            LITELLM_PORT=str(LITELLM_PORT),
            LITELLM_BIND=self.address["litellm"],
            LITELLM_UPSTREAM=f"{self.address['litellm']}:{LITELLM_PORT}",
            SLOW_PROVIDER_PORT=str(SLOW_PROVIDER_PORT),
            CUTOFF_REDIS_URL=f"redis://{self.address['redis1']}:{REDIS_PORT}/0",
            LITELLM_RECORD_FILE=self.records["calls"],
            LITELLM_REQUEST_FILE=self.records["requests"],
            LITELLM_HEADERS_RECORD_FILE=self.records["headers"],
            **self.secrets,
        )
        return env

    def start_litellm(self):
        result = subprocess.run(
            in_ns("litellm", STACK_SCRIPT, "start-service", "litellm"), env=self.litellm_env(), cwd=ROOT, capture_output=True, text=True
        )
        if result.returncode != 0:
            self.litellm_error = result.stderr[-3000:]

    # --- gateway hosts
    def host_env(self, name) -> dict:
        run_dir = self.folder / f"host-{name}"
        env = clean_environment()
        env.update(
            RUN_DIR=str(run_dir),
            GATEWAY_PORT=str(GATEWAY_PORT),
            GATEWAY_LISTEN=f"{self.address[name]}:{GATEWAY_PORT}",
            START_REDIS="0",
            START_LITELLM="0",
            REDIS_HOST=self.address[self.redis_host],
            REDIS_PORT=str(RELAY_PORT if self.redis_host == "relay" else REDIS_PORT),
            LITELLM_UPSTREAM=f"{self.address['litellm']}:{LITELLM_PORT}",
            SUPER_ADMIN_EMAIL="root@example.com",
            ADMIN_EMAILS="admin@example.com",
            NGINX_WORKERS="1",
            WORKER_THREADS="8",
            LITELLM_RECORD_FILE=self.records["calls"],
            LITELLM_REQUEST_FILE=self.records["requests"],
            LITELLM_HEADERS_RECORD_FILE=self.records["headers"],
            **self.secrets,
        )
        if self.sentinels:
            env.update(
                REDIS_SENTINELS=",".join(f"{self.address[f'sentinel{i}']}:{SENTINEL_PORT}" for i in (1, 2, 3)),
                REDIS_SENTINEL_MASTER=MASTER_NAME,
                REDIS_SENTINEL_POLL_MS="250",
            )
        env.update({key: str(value) for key, value in self.gateway_settings.items()})
        return env

    def start_host(self, name):
        env = self.hosts[name].env if name in self.hosts else self.host_env(name)
        run_dir = Path(env["RUN_DIR"])
        for socket_file in ("worker.sock", "identity.sock"):  # a killed host leaves its sockets behind
            (run_dir / socket_file).unlink(missing_ok=True)
        result = subprocess.run(in_ns(name, STACK_SCRIPT, "start"), env=env, cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"host {name} did not start:\n{result.stderr[-3000:]}", flush=True)
            return
        stack = Stack(run_dir, env)
        stack.base = f"http://{self.address[name]}:{GATEWAY_PORT}"
        stack.name = name
        self.hosts[name] = stack

    def kill_host(self, name) -> list:
        """SIGKILL of everything running in the host's namespace (nginx, workers, identity
        service), as a machine that loses power. Returns the pids killed."""
        pids = [
            int(p)
            for p in subprocess.run(
                ["ip", "netns", "pids", f"{prefix()}-{name}"], capture_output=True, text=True, check=True
            ).stdout.split()
        ]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: not any(_alive(pid) for pid in pids), 10, f"host {name}'s processes to end")
        # A dead process may stay a zombie for a while (PID 1 reaps it), and `kill -0` in
        # scripts/stack would take it for alive: its pid files go.
        if name in self.hosts:
            for pid_file in (Path(self.hosts[name].env["RUN_DIR"]) / "pids").glob("*.pid"):
                pid_file.unlink()
        return pids


def _alive(pid) -> bool:
    """True while the process runs (a zombie is dead)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
