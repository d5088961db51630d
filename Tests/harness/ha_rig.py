"""The Redis high-availability rig of Tests/e2e/test_ha.py: a master, a replica and three sentinels as
real processes (`Topology`), users with tokens (`Users`), /v1 load with revocations and bans in
flight (`Traffic`), and the checks and measurements every failover test shares."""

import json
import random
import signal
import threading
import time
from pathlib import Path

import redis as redis_lib
import requests

from harness import redis_topology as nodes
from harness.checks import response_code, wait_until
from harness.people import TokenHolders
from harness.redis_topology import MASTER_NAME, UNREACHABLE, pairs
from harness.stack import free_port
from harness.threads import BackgroundThreads

# A /v1 answer may take one Redis connect timeout plus one command timeout (1 s each by default)
# plus nginx and Python overhead: nothing may hang longer, failover or not.
SLOWEST_ANSWER = 3.0
ADMIN = "admin@example.com"


def milestones(conditions, timeout, start):
    """Polls every condition until each has held once; returns, for each, the seconds from
    `start` to the first poll that saw it hold."""
    reached, deadline = {}, time.time() + timeout
    while len(reached) < len(conditions):
        if time.time() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {sorted(set(conditions) - set(reached))}")
        for name, condition in conditions.items():
            if name not in reached:
                try:
                    if condition():
                        reached[name] = round(time.time() - start, 2)
                except redis_lib.RedisError:
                    pass
        time.sleep(0.05)
    return reached


class Topology:
    """Two redis-server nodes (one master, one replica) and three sentinels on loopback."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.nodes = {port: None for port in (free_port(), free_port())}
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels = {}
        self.first_master = next(iter(self.nodes))

    def start_node(self, port, replica_of=None):
        data = self.folder / f"node-{port}"
        data.mkdir(exist_ok=True)
        master = ("127.0.0.1", replica_of) if replica_of else None
        command = nodes.server_command("127.0.0.1", port, data, self.folder / f"node-{port}.log", replica_of=master)
        self.nodes[port] = nodes.start(command, self.client(port), f"redis-server on {port}")

    def start_sentinel(self, index):
        port = self.sentinel_ports[index]
        config = self.folder / f"sentinel-{port}.conf"
        log = self.folder / f"sentinel-{port}.log"
        nodes.sentinel_config(config, "127.0.0.1", port, self.folder, log, ("127.0.0.1", self.first_master))
        self.sentinels[index] = nodes.start(["redis-sentinel", str(config)], self.client(port), f"redis-sentinel on {port}")

    def start(self, wait=True):
        """Starts the nodes and sentinels; `wait=False` returns before the sentinels have found
        the replica and each other (`wait_healthy`, up to one INFO period of 10 s), so that a
        gateway can start meanwhile (it needs only a sentinel that names the master)."""
        master, replica = list(self.nodes)
        self.start_node(master)
        self.start_node(replica, replica_of=master)
        for index in range(3):
            self.start_sentinel(index)
        if wait:
            self.wait_healthy()

    def stop(self):
        for process in list(self.nodes.values()) + list(self.sentinels.values()):
            if process and process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    @staticmethod
    def client(port):
        return nodes.client("127.0.0.1", port)

    def live_sentinels(self):
        return [self.sentinel_ports[i] for i, p in self.sentinels.items() if p.poll() is None]

    def master(self):
        """The master's port as the live sentinels agree on it (None while they disagree)."""
        agreed = nodes.agreed_master(self.client(port) for port in self.live_sentinels())
        return int(agreed[1]) if agreed else None

    def replica_of(self, master):
        return next(port for port in self.nodes if port != master)

    def wait_healthy(self, timeout=40):
        """Every node and sentinel up, the replica in sync, every sentinel knowing the replica
        and the other two sentinels (else a failover could not happen)."""

        def healthy():
            master = self.master()
            if master is None or self.client(master).role()[0] != "master":
                return False
            replica = self.replica_of(master)
            info = self.client(replica).info("replication")
            if info.get("role") != "slave" or info.get("master_link_status") != "up" or info.get("master_port") != master:
                return False
            for port in self.live_sentinels():
                client = self.client(port)
                replicas = client.execute_command("SENTINEL", "replicas", MASTER_NAME)
                # What Sentinel needs to pick the replica in a failover: up, linked, recently seen.
                if not any(
                    int(r["port"]) == replica
                    and not {"s_down", "disconnected"} & set(r.get("flags", "").split(","))
                    and r.get("master-link-status") == "ok"
                    for r in map(pairs, replicas)
                ):
                    return False
                if len(client.execute_command("SENTINEL", "sentinels", MASTER_NAME)) != len(self.live_sentinels()) - 1:
                    return False
            return master

        return wait_until(healthy, timeout, "a healthy Redis topology", ignore=UNREACHABLE)

    def kill(self, port, sig=signal.SIGKILL):
        process = self.nodes[port]
        process.send_signal(sig)
        process.wait(timeout=10)

    def watch_subscribed(self, port):
        """True when a client on this node has key tracking on and the invalidation channel
        subscribed: the workers' revocation watch."""
        return any("t" in c["flags"] and c.get("sub") == "1" for c in self.client(port).client_list())


class Users(TokenHolders):
    """Users with one token each on the stack: `live` ones are never touched, `revoke` ones lose
    their token through the owner's own revoke, `ban` ones are banned by an admin."""

    def __init__(self, stack, live=6, revoke=30, ban=12):
        super().__init__([stack], "ha", live=live, revoke=revoke, ban=ban)


class Traffic(BackgroundThreads):
    """/v1 load over every token (live, to be revoked, to be banned) plus a revoker and a
    banner working through their lists. Records every answer with its start time and every
    confirmed (200) revocation and ban with the time the confirmation arrived."""

    def __init__(self, stack, users, v1_threads=4):
        self.stack, self.users = stack, users
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.v1 = []  # (start, seconds, status, is_json, email, code)
        self.writes = []  # (start, seconds, status, is_json, email, kind, code)
        self.confirmed = {}  # email -> time the 200 arrived
        self.threads = [threading.Thread(target=self.load, args=(seed,)) for seed in range(v1_threads)]
        self.threads.append(threading.Thread(target=self.writer, args=("revoke",)))
        self.threads.append(threading.Thread(target=self.writer, args=("ban",)))
        self.admin = stack.sign_in(ADMIN)

    def load(self, seed):
        rng = random.Random(seed)
        entries = list(self.users.entries.values())
        session = requests.Session()
        while not self.stop.is_set():
            entry = rng.choice(entries)
            started = time.time()
            try:
                response = session.post(
                    self.stack.url("/v1/chat/completions"),
                    headers={"Authorization": f"Bearer {entry['token']}"},
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                    timeout=30,
                )
                result = (
                    started,
                    time.time() - started,
                    response.status_code,
                    response.headers.get("Content-Type", "").startswith("application/json"),
                    entry["email"],
                    response_code(response),
                )
            except requests.RequestException as error:
                result = (started, time.time() - started, 0, False, entry["email"], str(error))
            with self.lock:
                self.v1.append(result)

    def writer(self, kind):
        pending = list(self.users.of(kind))
        while not self.stop.is_set() and pending:
            entry = pending[0]
            started = time.time()
            try:
                if kind == "revoke":
                    response = entry["session"].post(self.stack.url("/api/token/revoke"), json={"token_id": entry["token_id"]}, timeout=30)
                else:
                    response = self.admin.post(
                        self.stack.url("/api/admin/sessions/revoke-user"), json={"user_email": entry["email"]}, timeout=30
                    )
                status, is_json, code = (
                    response.status_code,
                    response.headers.get("Content-Type", "").startswith("application/json"),
                    response_code(response),
                )
            except requests.RequestException as error:
                status, is_json, code = 0, False, str(error)
            done = time.time()
            with self.lock:
                self.writes.append((started, done - started, status, is_json, entry["email"], kind, code))
                if status == 200:
                    self.confirmed[entry["email"]] = done
            if status == 200 or (kind == "revoke" and status == 404):
                # 404: an earlier unconfirmed attempt did revoke it; it is not counted as confirmed.
                pending.pop(0)
            self.stop.wait(0.15)

    def confirmed_count(self, after=0.0):
        with self.lock:
            return sum(1 for at in self.confirmed.values() if at > after)

    def live_answers_after(self, moment):
        with self.lock:
            return sum(1 for r in self.v1 if r[0] > moment and self.users.entries[r[4]]["kind"] == "live")

    def v1_ok_after(self, moment):
        with self.lock:
            return any(r[0] > moment and r[2] == 200 and self.users.entries[r[4]]["kind"] == "live" for r in self.v1)


def assert_nothing_confirmed_was_lost(stack, traffic, master_port):
    """The core promise: no /v1 call that started after its token's revocation (or its owner's
    ban) was confirmed was let through, the records are on the current master, a fresh check
    refuses each of them, and LiteLLM received nothing more than the gateway answered 200 for."""
    violations = [r for r in traffic.v1 if r[2] == 200 and r[4] in traffic.confirmed and r[0] > traffic.confirmed[r[4]]]
    assert not violations, violations[:5]
    master = Topology.client(master_port)
    for email, _ in traffic.confirmed.items():
        entry = traffic.users.entries[email]
        if entry["kind"] == "revoke":
            assert master.exists(f"revoked:token:{entry['token_id']}") == 1, email
        else:
            assert master.exists(f"active_user_deleted:{email}") == 1, email
        response = stack.chat(entry["token"])
        assert response.status_code == 401, (email, response.status_code, response.text)
    # The far side: LiteLLM's recorder never saw more calls for a revoked or banned user than
    # the gateway let through (answered 200, or cut off by a client error after starting).
    recorded = {}
    for call in stack.litellm_calls():
        recorded[call.get("end_user")] = recorded.get(call.get("end_user"), 0) + 1
    for email in traffic.confirmed:
        let_through = sum(1 for r in traffic.v1 if r[4] == email and r[2] in (200, 0))
        assert recorded.get(email, 0) <= let_through, (email, recorded.get(email), let_through)


def assert_answers_fast_and_json(traffic):
    slow = [r for r in traffic.v1 + traffic.writes if r[1] >= SLOWEST_ANSWER]
    assert not slow, slow[:5]
    assert not [r for r in traffic.v1 if r[2] == 0], [r for r in traffic.v1 if r[2] == 0][:3]
    statuses = {r[2] for r in traffic.v1}
    assert statuses <= {200, 401, 503}, statuses
    assert all(r[3] for r in traffic.v1 if r[2] != 200)
    assert all(r[3] for r in traffic.writes), [r for r in traffic.writes if not r[3]][:3]
    assert {r[5] for r in traffic.v1 if r[2] == 503} <= {"redis_unavailable"}
    assert {r[6] for r in traffic.writes if r[2] == 503} <= {"redis_unavailable", "redis_not_replicated"}


def measure(name, traffic, moment, **extra):
    live = [r for r in traffic.v1 if traffic.users.entries[r[4]]["kind"] == "live"]
    refused = [r for r in live if r[2] == 503 and r[0] >= moment - 0.5]
    last_503_end = max((r[0] + r[1] for r in refused), default=moment)
    unconfirmed = [r for r in traffic.writes if r[2] != 200 and r[0] >= moment - 0.5]
    last_write_error = max((r[0] + r[1] for r in unconfirmed), default=moment)
    accepted_revoked = sum(1 for r in traffic.v1 if r[2] == 200 and r[4] in traffic.confirmed and r[0] > traffic.confirmed[r[4]])
    numbers = dict(
        test=name,
        v1_requests=len(traffic.v1),
        v1_503=sum(1 for r in traffic.v1 if r[2] == 503),
        v1_window_s=round(last_503_end - moment, 2),
        writes=len(traffic.writes),
        writes_unconfirmed=len(unconfirmed),
        write_window_s=round(last_write_error - moment, 2),
        confirmed_revocations=sum(1 for e in traffic.confirmed if traffic.users.entries[e]["kind"] == "revoke"),
        confirmed_bans=sum(1 for e in traffic.confirmed if traffic.users.entries[e]["kind"] == "ban"),
        revoked_tokens_accepted=accepted_revoked,
        slowest_answer_s=round(max(r[1] for r in traffic.v1 + traffic.writes), 2),
        **extra,
    )
    print("\nHA-MEASURE " + json.dumps(numbers))
    return numbers
