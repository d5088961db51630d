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

import threading
import time
from pathlib import Path

import pytest
import redis as redis_lib

from harness.checks import wait_until
from harness.compose import compose, env_example, interpolate
from harness.ha_rig import (
    MASTER_NAME,
    Topology,
    Traffic,
    Users,
    assert_answers_fast_and_json,
    assert_nothing_confirmed_was_lost,
    measure,
    milestones,
)
from harness.probes import session_key
from harness.redis_topology import UNREACHABLE
from harness.stack import running_stack

# Bounds asserted on the measured windows (measured values: docs/deployment.md).
V1_RECOVERY_BOUND = 15.0
WRITE_RECOVERY_BOUND = 25.0


@pytest.fixture(scope="module")
def ha(tmp_path_factory):
    topology = Topology(tmp_path_factory.mktemp("redis-ha"))
    try:
        topology.start(wait=False)  # the sentinels converge while the stack (LiteLLM) starts
        sentinels = ",".join(f"127.0.0.1:{port}" for port in topology.sentinel_ports)
        with running_stack(
            "gateway-e2e-ha",
            START_REDIS="0",
            REDIS_PORT=str(topology.first_master),
            REDIS_SENTINELS=sentinels,
            REDIS_SENTINEL_MASTER=MASTER_NAME,
            REDIS_SENTINEL_POLL_MS="250",
            WORKER_THREADS="8",
        ) as stack:
            topology.wait_healthy()
            stack.topology = topology
            yield stack
    finally:
        topology.stop()
        artifacts = Path(__file__).resolve().parents[2] / "test-artifacts" / "redis-ha-logs"
        artifacts.mkdir(parents=True, exist_ok=True)
        for log in topology.folder.glob("*.log"):
            artifacts.joinpath(log.name).write_bytes(log.read_bytes())


def test_master_sigkill_under_load_fails_over_without_losing_a_confirmed_revocation(ha):
    topology = ha.topology
    old = topology.wait_healthy()
    users = Users(ha)
    with Traffic(ha, users) as traffic:
        wait_until(lambda: traffic.confirmed_count() >= 4, 20, "revocations confirmed before the kill")
        killed = time.time()
        topology.kill(old)
        new = wait_until(
            lambda: (m := topology.master()) and m != old and m, 30, "the sentinels to promote the replica", ignore=UNREACHABLE
        )
        switched = time.time()
        # As a supervisor would: the killed node comes back; the sentinels make it a replica.
        restart = threading.Thread(target=topology.start_node, args=(old,))
        restart.start()
        reached = milestones(
            {
                "v1_back_s": lambda: traffic.v1_ok_after(switched),
                "watch_back_s": lambda: topology.watch_subscribed(new),
                "writes_back_s": lambda: traffic.confirmed_count(after=switched) >= 2,
            },
            WRITE_RECOVERY_BOUND,
            killed,
        )
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
    # The dev identity service (OAuth2 Proxy's stand-in) followed the master too: a sign-in now
    # stores its session on the new master, and that session mints a working token.
    browser = ha.sign_in("after-failover@example.com")
    assert Topology.client(new).exists(session_key(browser)) == 1
    fresh = browser.post(ha.url("/api/token/generate"), json={})
    assert fresh.status_code == 200 and ha.chat(fresh.json()["token"]).status_code == 200
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
        refused = wait_until(
            lambda: [r for r in traffic.writes if r[0] > killed and r[6] == "redis_not_replicated"], 10, "a write refused as not replicated"
        )
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


def start_failover(sentinel_port):
    """Asks a sentinel for a failover; False while it has no replica it may promote yet
    (NOGOODSLAVE: it refreshes a replica's state about once a second)."""
    try:
        Topology.client(sentinel_port).execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        return True
    except redis_lib.ResponseError as error:
        if "NOGOODSLAVE" in str(error):
            return False
        raise


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
        wait_until(lambda: start_failover(topology.sentinel_ports[1]), 15, "a sentinel to accept the failover", ignore=UNREACHABLE)
        new = wait_until(lambda: (m := topology.master()) and m != old and m, 30, "the manual failover", ignore=UNREACHABLE)
        switched = time.time()
        reached = milestones(
            {
                "v1_on_new_master_s": lambda: traffic.v1_ok_after(switched),
                "watch_back_s": lambda: topology.watch_subscribed(new) and not topology.watch_subscribed(old),
                "writes_back_s": lambda: traffic.confirmed_count(after=switched) >= 2,
            },
            WRITE_RECOVERY_BOUND,
            moved,
        )
    numbers = measure("sentinel_loss_manual_failover", traffic, moved, sentinel_switch_s=round(switched - moved, 2), **reached)
    assert_answers_fast_and_json(traffic)
    assert_nothing_confirmed_was_lost(ha, traffic, new)
    # The demoted node holds no worker connection for long: its clients are the replication link and us.
    assert not topology.watch_subscribed(old)
    assert numbers["revoked_tokens_accepted"] == 0
    topology.start_sentinel(0)
    topology.wait_healthy()


# --- compose.yaml's "ha" profile (no Docker engine here: checked on the file) -----------------


def test_compose_ha_profile_points_workers_and_oauth2_proxy_at_the_same_sentinels():
    from harness.worker_config import check_worker_config, worker_secrets

    services = compose()["services"]
    ha_services = {name for name, service in services.items() if "ha" in service.get("profiles", [])}
    # Redis HA, and a second gateway host (nginx + workers) beside the first.
    assert ha_services == {"redis-replica", "redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3", "openresty-2", "workers-2"}
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
    filled.update(
        GATEWAY_PUBLIC_URL="https://gateway.example.com",
        SUPER_ADMIN_EMAIL="root@example.com",
        REDIS_SENTINELS=",".join(sentinels),
        OAUTH2_PROXY_REDIS_USE_SENTINEL="true",
        OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS=",".join(f"redis://{s}" for s in sentinels),
        OAUTH2_PROXY_OIDC_ISSUER_URL="https://id.example.com/",
        OAUTH2_PROXY_CLIENT_ID="id",
        OAUTH2_PROXY_EMAIL_DOMAINS="example.com",
    )
    workers = {k: interpolate(str(v), filled) for k, v in services["workers"]["environment"].items()}
    oauth2 = {k: interpolate(str(v), filled) for k, v in services["oauth2-proxy"]["environment"].items()}
    sentinel_env = {k: interpolate(str(v), filled) for k, v in services["redis-sentinel-2"]["environment"].items()}
    assert oauth2["OAUTH2_PROXY_REDIS_USE_SENTINEL"] == "true"
    assert (
        oauth2["OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME"]
        == workers["REDIS_SENTINEL_MASTER"]
        == sentinel_env["REDIS_SENTINEL_MASTER"]
        == "gateway"
    )
    assert (
        [url.removeprefix("redis://") for url in oauth2["OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS"].split(",")]
        == workers["REDIS_SENTINELS"].split(",")
        == sentinels
    )
    with worker_secrets(services["workers"]) as mounted:
        result = check_worker_config(workers, mounted)
        assert result.returncode == 0, result.stderr
        # A misspelt sentinel list stops the workers at start instead of running on the wrong Redis.
        workers["REDIS_SENTINELS"] = "redis-sentinel-1"
        result = check_worker_config(workers, mounted)
    assert result.returncode != 0 and "REDIS_SENTINELS" in result.stderr
