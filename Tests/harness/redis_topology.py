"""What the two Redis high-availability rigs share (harness/ha_rig.py on loopback ports,
harness/netns_rig.py across network namespaces): the redis-server command line, the sentinel
configuration, clients, the master the sentinels agree on, and Sentinel's flat replies."""

import subprocess
from pathlib import Path

import redis as redis_lib

from harness.checks import wait_until

MASTER_NAME = "gw"
DOWN_AFTER_MS = 1000
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
