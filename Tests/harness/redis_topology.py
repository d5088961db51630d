"""redis-server processes of the tests' own: what the two high-availability rigs share
(harness/ha_rig.py on loopback ports, harness/netns_rig.py across network namespaces: the
command line, the sentinel configuration, clients, the master the sentinels agree on, Sentinel's
flat replies) and a persistent server in a folder (`redis_server`, the migration and health
tests)."""

import contextlib
import signal
import subprocess
import time
from pathlib import Path

import redis as redis_lib

from harness.checks import wait_until

MASTER_NAME = "gw"
DOWN_AFTER_MS = 1000
# The Lua gateway's compose runs `redis-server --appendonly yes`.
LUA_REDIS_ARGS = ["--appendonly", "yes"]
# A server still starting, or a node gone while Sentinel fails over: "not yet" for wait_until.
UNREACHABLE = (redis_lib.RedisError, OSError)


def client(host: str, port) -> redis_lib.Redis:
    return redis_lib.Redis(host=host, port=int(port), decode_responses=True, socket_timeout=2, socket_connect_timeout=2)


def server_command(bind: str, port, data: Path, log: Path, replica_of=None) -> list:
    """redis-server without persistence, with diskless replication (a replica syncs at once);
    `replica_of`: (host, port) of its master."""
    command = ["redis-server", "--bind", bind, "--port", port, "--dir", data, "--save", "", "--appendonly", "no"]
    command += ["--protected-mode", "no", "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0", "--logfile", log]
    if replica_of:
        command += ["--replicaof", *replica_of]
    return [str(part) for part in command]


def sentinel_config(path: Path, bind: str, port, folder: Path, log: Path, master: tuple):
    """Writes a sentinel's configuration watching `master` (host, port), quorum 2, unless the
    file exists: a restarted sentinel keeps what it rewrote into it."""
    if path.exists():
        return
    host, master_port = master
    lines = [f"port {port}", f"bind {bind}", f"dir {folder}", f"logfile {log}", f"sentinel monitor {MASTER_NAME} {host} {master_port} 2"]
    lines += [f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}", f"sentinel failover-timeout {MASTER_NAME} 10000"]
    path.write_text("\n".join(lines + [f"sentinel parallel-syncs {MASTER_NAME} 1", ""]))


def start(command: list, answering: redis_lib.Redis, what: str) -> subprocess.Popen:
    """Starts a server and waits until it answers PING."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(answering.ping, 10, what, ignore=UNREACHABLE)
    return process


def agreed_master(sentinels) -> tuple | None:
    """(host, port) of the master as every given sentinel names it, None while they disagree."""
    answers = {tuple(sentinel.execute_command("SENTINEL", "get-master-addr-by-name", MASTER_NAME)) for sentinel in sentinels}
    return answers.pop() if len(answers) == 1 else None


def pairs(flat):
    """A Sentinel reply of alternating names and values as a dict (RESP3 already gives one)."""
    return dict(zip(flat[::2], flat[1::2], strict=True)) if isinstance(flat, list) else flat


@contextlib.contextmanager
def redis_server(folder: Path, port: int, command=None):
    """redis-server in `folder` on 127.0.0.1:port. `command`: a shell command line to run instead
    (compose.yaml's), else the Lua compose's arguments. Stopped with SIGTERM, as `docker stop` does."""
    folder.mkdir(parents=True, exist_ok=True)
    log = (folder / "redis.log").open("a")
    if command:
        process = subprocess.Popen(["sh", "-c", command], cwd=folder, stdout=log, stderr=log)
    else:
        process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder), *LUA_REDIS_ARGS], stdout=log, stderr=log
        )
    client = redis_lib.Redis(host="127.0.0.1", port=port, decode_responses=True)
    deadline = time.time() + 10
    while True:
        try:
            if client.ping():
                break
        except redis_lib.ConnectionError:
            if time.time() > deadline or process.poll() is not None:
                raise AssertionError((folder / "redis.log").read_text()[-2000:]) from None
            time.sleep(0.05)
    try:
        yield client
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, (folder / "redis.log").read_text()[-2000:]
        log.close()
