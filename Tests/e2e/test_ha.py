"""Redis high availability with real processes (issue 17): Debian's redis-server as master and
replica, three redis-sentinel processes on loopback ports, a short down-after time, and the
gateway configured with REDIS_SENTINELS. Under steady /v1 load with revocations and bans in
flight:

- the master is SIGKILLed: the gateway answers 503 JSON quickly while there is no master, finds
  the promoted replica by itself, the revocation watch resubscribes there, and no token whose
  revocation or ban was confirmed is ever accepted afterwards (checked on every /v1 answer, on
  the new master's keys, and in what LiteLLM received);
- the replica is lost: /v1 keeps working, confirmed writes answer 503 `redis_not_replicated`
  (never a 200 that a failover could undo) until a replica is back;
- a sentinel is lost and the master moves (manual failover, old master demoted alive): the
  workers ask the remaining sentinels and leave the demoted node.

Each test prints one `HA-MEASURE {...}` line with its windows and counts (docs/deployment.md)."""

import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis as redis_lib
import requests

from conftest import free_port, running_stack

MASTER_NAME = "gw"
DOWN_AFTER_MS = 1000
# A /v1 answer may take one Redis connect timeout plus one command timeout (1 s each by default)
# plus nginx and Python overhead: nothing may hang longer, failover or not.
SLOWEST_ANSWER = 3.0
# Bounds asserted on the measured windows (measured values: docs/deployment.md).
V1_RECOVERY_BOUND = 15.0
WRITE_RECOVERY_BOUND = 25.0
ADMIN = "admin@example.com"


def wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except redis_lib.RedisError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


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
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data), "--save", "",
                   "--appendonly", "no", "--daemonize", "no", "--repl-diskless-sync", "yes",
                   "--repl-diskless-sync-delay", "0", "--logfile", str(self.folder / f"node-{port}.log")]
        if replica_of:
            command += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.nodes[port] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.client(port).ping(), 10, f"redis-server on {port}")

    def start_sentinel(self, index):
        port = self.sentinel_ports[index]
        config = self.folder / f"sentinel-{port}.conf"
        if not config.exists():  # a restarted sentinel keeps what it rewrote into its file
            config.write_text("\n".join([
                f"port {port}", "bind 127.0.0.1", f"dir {self.folder}",
                f"logfile {self.folder / f'sentinel-{port}.log'}",
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.first_master} 2",
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {MASTER_NAME} 10000",
                f"sentinel parallel-syncs {MASTER_NAME} 1", ""]))
        self.sentinels[index] = subprocess.Popen(["redis-sentinel", str(config)], stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL)
        wait_until(lambda: self.client(port).ping(), 10, f"redis-sentinel on {port}")

    def start(self):
        master, replica = list(self.nodes)
        self.start_node(master)
        self.start_node(replica, replica_of=master)
        for index in range(3):
            self.start_sentinel(index)
        self.wait_healthy()

    def stop(self):
        for process in list(self.nodes.values()) + list(self.sentinels.values()):
            if process and process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    @staticmethod
    def client(port):
        return redis_lib.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=2,
                               socket_connect_timeout=2)

    def live_sentinels(self):
        return [self.sentinel_ports[i] for i, p in self.sentinels.items() if p.poll() is None]

    def master(self):
        """The master's port as the live sentinels agree on it (None while they disagree)."""
        answers = set()
        for port in self.live_sentinels():
            host_port = self.client(port).execute_command("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
            answers.add(int(host_port[1]))
        return answers.pop() if len(answers) == 1 else None

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
                if not any("s_down" not in r.get("flags", "") and int(r["port"]) == replica for r in map(pairs, replicas)):
                    return False
                if len(client.execute_command("SENTINEL", "sentinels", MASTER_NAME)) != len(self.live_sentinels()) - 1:
                    return False
            return master
        return wait_until(healthy, timeout, "a healthy Redis topology")

    def kill(self, port, sig=signal.SIGKILL):
        process = self.nodes[port]
        process.send_signal(sig)
        process.wait(timeout=10)

    def watch_subscribed(self, port):
        """True when a client on this node has key tracking on and the invalidation channel
        subscribed: the workers' revocation watch."""
        return any("t" in c["flags"] and c.get("sub") == "1" for c in self.client(port).client_list())


def pairs(flat):
    return dict(zip(flat[::2], flat[1::2])) if isinstance(flat, list) else flat


@pytest.fixture(scope="module")
def ha(tmp_path_factory):
    topology = Topology(tmp_path_factory.mktemp("redis-ha"))
    try:
        topology.start()
        sentinels = ",".join(f"127.0.0.1:{port}" for port in topology.sentinel_ports)
        with running_stack("gateway-e2e-ha", START_REDIS="0", REDIS_PORT=str(topology.first_master),
                           REDIS_SENTINELS=sentinels, REDIS_SENTINEL_MASTER=MASTER_NAME,
                           REDIS_SENTINEL_POLL_MS="250", WORKER_THREADS="8") as stack:
            stack.topology = topology
            yield stack
    finally:
        topology.stop()
        artifacts = Path(__file__).resolve().parents[2] / "test-artifacts" / "redis-ha-logs"
        artifacts.mkdir(parents=True, exist_ok=True)
        for log in topology.folder.glob("*.log"):
            artifacts.joinpath(log.name).write_bytes(log.read_bytes())


class Users:
    """Users with one token each: `live` ones are never touched, `revoke` ones lose their token
    through the owner's own revoke, `ban` ones are banned by an admin."""

    def __init__(self, stack, live=6, revoke=30, ban=12):
        tag = f"{os.getpid()}-{random.randrange(1 << 30):x}"
        self.stack = stack
        self.entries = {}
        for kind, count in (("live", live), ("revoke", revoke), ("ban", ban)):
            for index in range(count):
                email = f"ha-{kind}-{index}-{tag}@example.com"
                session = stack.sign_in(email)
                response = session.post(stack.url("/api/token/generate"), json={"expires_in": 3600})
                assert response.status_code == 200, response.text
                body = response.json()
                self.entries[email] = dict(kind=kind, email=email, session=session, token=body["token"],
                                           token_id=body["token_id"])

    def of(self, kind):
        return [entry for entry in self.entries.values() if entry["kind"] == kind]


class Traffic:
    """/v1 load over every token (live, to be revoked, to be banned) plus a revoker and a
    banner working through their lists. Records every answer with its start time and every
    confirmed (200) revocation and ban with the time the confirmation arrived."""

    def __init__(self, stack, users, v1_threads=4):
        self.stack, self.users = stack, users
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.v1 = []        # (start, seconds, status, is_json, email, code)
        self.writes = []    # (start, seconds, status, is_json, email, kind, code)
        self.confirmed = {}  # email -> time the 200 arrived
        self.threads = [threading.Thread(target=self.load, args=(seed,)) for seed in range(v1_threads)]
        self.threads.append(threading.Thread(target=self.writer, args=("revoke",)))
        self.threads.append(threading.Thread(target=self.writer, args=("ban",)))
        self.admin = stack.sign_in(ADMIN)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    @staticmethod
    def code_of(response):
        try:
            body = response.json()
        except ValueError:
            return None
        error = body.get("error")
        return error.get("code") if isinstance(error, dict) else body.get("code")

    def load(self, seed):
        rng = random.Random(seed)
        entries = list(self.users.entries.values())
        session = requests.Session()
        while not self.stop.is_set():
            entry = rng.choice(entries)
            started = time.time()
            try:
                response = session.post(
                    self.stack.url("/v1/chat/completions"), headers={"Authorization": f"Bearer {entry['token']}"},
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
                result = (started, time.time() - started, response.status_code,
                          response.headers.get("Content-Type", "").startswith("application/json"), entry["email"],
                          self.code_of(response))
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
                    response = entry["session"].post(self.stack.url("/api/token/revoke"),
                                                     json={"token_id": entry["token_id"]}, timeout=30)
                else:
                    response = self.admin.post(self.stack.url("/api/admin/sessions/revoke-user"),
                                               json={"user_email": entry["email"]}, timeout=30)
                status, is_json, code = response.status_code, response.headers.get("Content-Type", "").startswith(
                    "application/json"), self.code_of(response)
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
    accepted_revoked = sum(1 for r in traffic.v1 if r[2] == 200 and r[4] in traffic.confirmed
                           and r[0] > traffic.confirmed[r[4]])
    numbers = dict(
        test=name, v1_requests=len(traffic.v1), v1_503=sum(1 for r in traffic.v1 if r[2] == 503),
        v1_window_s=round(last_503_end - moment, 2), writes=len(traffic.writes),
        writes_unconfirmed=len(unconfirmed), write_window_s=round(last_write_error - moment, 2),
        confirmed_revocations=sum(1 for e in traffic.confirmed if traffic.users.entries[e]["kind"] == "revoke"),
        confirmed_bans=sum(1 for e in traffic.confirmed if traffic.users.entries[e]["kind"] == "ban"),
        revoked_tokens_accepted=accepted_revoked,
        slowest_answer_s=round(max(r[1] for r in traffic.v1 + traffic.writes), 2), **extra)
    print("\nHA-MEASURE " + json.dumps(numbers))
    return numbers


def test_master_sigkill_under_load_fails_over_without_losing_a_confirmed_revocation(ha):
    topology = ha.topology
    old = topology.wait_healthy()
    users = Users(ha)
    with Traffic(ha, users) as traffic:
        wait_until(lambda: traffic.confirmed_count() >= 4, 20, "revocations confirmed before the kill")
        killed = time.time()
        topology.kill(old)
        new = wait_until(lambda: (m := topology.master()) and m != old and m, 30, "the sentinels to promote the replica")
        switched = time.time()
        # As a supervisor would: the killed node comes back; the sentinels make it a replica.
        restart = threading.Thread(target=topology.start_node, args=(old,))
        restart.start()
        reached = milestones({
            "v1_back_s": lambda: traffic.v1_ok_after(switched),
            "watch_back_s": lambda: topology.watch_subscribed(new),
            "writes_back_s": lambda: traffic.confirmed_count(after=switched) >= 2,
        }, WRITE_RECOVERY_BOUND, killed)
        restart.join()
        # Keep going a little with everything back, so cached decisions are exercised again.
        back = time.time()
        wait_until(lambda: traffic.confirmed_count(after=back) >= 2, 10, "revocations with the watch back")
        steady = back + 1.0
        wait_until(lambda: traffic.live_answers_after(steady) >= 20, 10, "/v1 calls after full service returned")
    numbers = measure("master_sigkill", traffic, killed, sentinel_switch_s=round(switched - killed, 2), **reached)
    assert_answers_fast_and_json(traffic)
    assert_nothing_confirmed_was_lost(ha, traffic, new)
    assert numbers["v1_503"] > 0  # the switch was seen, not slept through
    assert numbers["v1_window_s"] < V1_RECOVERY_BOUND
    # Every /v1 call with a live token that started a second after full service returned got through.
    late = [r for r in traffic.v1 if r[0] > steady and users.entries[r[4]]["kind"] == "live"]
    assert late and all(r[2] == 200 for r in late), {r[2] for r in late}
    topology.wait_healthy()


def test_replica_loss_keeps_v1_up_and_confirms_no_write_it_cannot_make_durable(ha):
    topology = ha.topology
    master = topology.wait_healthy()
    replica = topology.replica_of(master)
    users = Users(ha, live=4, revoke=12, ban=6)
    with Traffic(ha, users) as traffic:
        wait_until(lambda: traffic.confirmed_count() >= 2, 20, "revocations confirmed before the loss")
        killed = time.time()
        topology.kill(replica)
        refused = wait_until(lambda: [r for r in traffic.writes if r[0] > killed and r[6] == "redis_not_replicated"], 10,
                             "a write refused as not replicated")
        confirmed_before_restart = traffic.confirmed_count(after=killed + 0.1)
        restarted = time.time()
        topology.start_node(replica, replica_of=master)
        wait_until(lambda: traffic.confirmed_count(after=restarted) >= 2, WRITE_RECOVERY_BOUND, "confirmed writes again")
        writes_back = time.time()
    numbers = measure("replica_loss", traffic, killed, writes_back_after_restart_s=round(writes_back - restarted, 2))
    assert_answers_fast_and_json(traffic)
    assert_nothing_confirmed_was_lost(ha, traffic, master)
    # /v1 never depended on the replica.
    live = [r for r in traffic.v1 if users.entries[r[4]]["kind"] == "live"]
    assert live and all(r[2] == 200 for r in live), {r[2] for r in live}
    # Without a replica nothing was confirmed (a write may have been in flight at the kill).
    assert confirmed_before_restart <= 1, confirmed_before_restart
    # A refusal comes after the bounded WAIT (REDIS_WAIT_TIMEOUT_MS=500), not after a hang.
    assert all(r[1] < 1.5 for r in refused), [r[1] for r in refused]
    assert numbers["revoked_tokens_accepted"] == 0
    topology.wait_healthy()


def test_sentinel_loss_then_failover_the_workers_follow_through_the_remaining_sentinels(ha):
    topology = ha.topology
    old = topology.wait_healthy()
    # The first sentinel of REDIS_SENTINELS, the one the workers ask first.
    topology.sentinels[0].kill()
    topology.sentinels[0].wait(timeout=10)
    users = Users(ha, live=4, revoke=16, ban=6)
    with Traffic(ha, users) as traffic:
        wait_until(lambda: traffic.confirmed_count() >= 2, 20, "revocations confirmed with a sentinel down")
        moved = time.time()
        # A planned switch: the old master stays up and is demoted to a replica.
        Topology.client(topology.sentinel_ports[1]).execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        new = wait_until(lambda: (m := topology.master()) and m != old and m, 30, "the manual failover")
        switched = time.time()
        reached = milestones({
            "v1_on_new_master_s": lambda: traffic.v1_ok_after(switched),
            "watch_back_s": lambda: topology.watch_subscribed(new) and not topology.watch_subscribed(old),
            "writes_back_s": lambda: traffic.confirmed_count(after=switched) >= 2,
        }, WRITE_RECOVERY_BOUND, moved)
    numbers = measure("sentinel_loss_manual_failover", traffic, moved, sentinel_switch_s=round(switched - moved, 2),
                      **reached)
    assert_answers_fast_and_json(traffic)
    assert_nothing_confirmed_was_lost(ha, traffic, new)
    # The demoted node holds no worker connection for long: its clients are the replication link and us.
    assert not topology.watch_subscribed(old)
    assert numbers["revoked_tokens_accepted"] == 0
    topology.start_sentinel(0)
    topology.wait_healthy()


# --- compose.yaml's "ha" profile (no Docker engine here: checked on the file) -----------------

def test_compose_ha_profile_points_workers_and_oauth2_proxy_at_the_same_sentinels():
    from test_deployment import WORKER_BINARY, compose, env_example, interpolate
    services = compose()["services"]
    ha_services = {name for name, service in services.items() if "ha" in service.get("profiles", [])}
    assert ha_services == {"redis-replica", "redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"}
    # Only the ha services have a profile: without COMPOSE_PROFILES=ha nothing else changes.
    assert all(not service.get("profiles") for name, service in services.items() if name not in ha_services)
    assert "--replicaof redis 6379" in " ".join(services["redis-replica"]["command"])
    for name in ("redis", "redis-replica"):  # either can be the master after a failover
        command = " ".join(services[name]["command"])
        assert "--appendonly yes" in command and "--masterauth" in command and "--replica-announce-ip" in command
    sentinel_script = services["redis-sentinel-1"]["command"][-1]
    assert "sentinel monitor $$REDIS_SENTINEL_MASTER redis 6379 2" in sentinel_script
    assert len({services[f"redis-sentinel-{i}"]["volumes"][0] for i in (1, 2, 3)}) == 3  # each its own state

    # .env filled as the block in .env.example says.
    filled = {key: value for key, value in env_example().items() if value}
    filled.update({key: "s" * 48 for key in env_example() if any(w in key for w in ("SECRET", "KEY", "SALT"))})
    sentinels = ["redis-sentinel-1:26379", "redis-sentinel-2:26379", "redis-sentinel-3:26379"]
    filled.update(GATEWAY_PUBLIC_URL="https://gateway.example.com", SUPER_ADMIN_EMAIL="root@example.com",
                  REDIS_SENTINELS=",".join(sentinels), OAUTH2_PROXY_REDIS_USE_SENTINEL="true",
                  OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS=",".join(f"redis://{s}" for s in sentinels),
                  OAUTH2_PROXY_OIDC_ISSUER_URL="https://id.example.com/", OAUTH2_PROXY_CLIENT_ID="id",
                  OAUTH2_PROXY_EMAIL_DOMAINS="example.com")
    workers = {k: interpolate(str(v), filled) for k, v in services["workers"]["environment"].items()}
    oauth2 = {k: interpolate(str(v), filled) for k, v in services["oauth2-proxy"]["environment"].items()}
    sentinel_env = {k: interpolate(str(v), filled) for k, v in services["redis-sentinel-2"]["environment"].items()}
    assert oauth2["OAUTH2_PROXY_REDIS_USE_SENTINEL"] == "true"
    assert oauth2["OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME"] == workers["REDIS_SENTINEL_MASTER"] == sentinel_env[
        "REDIS_SENTINEL_MASTER"] == "gateway"
    assert [url.removeprefix("redis://") for url in oauth2["OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS"].split(",")] == \
        workers["REDIS_SENTINELS"].split(",") == sentinels
    result = subprocess.run([str(WORKER_BINARY), "--check-config"], env=dict(workers, PATH=os.environ["PATH"]),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # A misspelt sentinel list stops the workers at start instead of running on the wrong Redis.
    workers["REDIS_SENTINELS"] = "redis-sentinel-1"
    result = subprocess.run([str(WORKER_BINARY), "--check-config"], env=dict(workers, PATH=os.environ["PATH"]),
                            capture_output=True, text=True)
    assert result.returncode != 0 and "REDIS_SENTINELS" in result.stderr
