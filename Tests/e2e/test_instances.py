"""A second gateway instance on the same Redis (a second host behind a load balancer), and the
worker supervisor: sessions, tokens, revocations and bans honoured by both instances; a killed
worker process loses only its own requests; SIGTERM stops every worker process."""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from harness.checks import wait_until
from harness.stack import ROOT, children_of, sibling_stack

WORKER_BINARY = ROOT / ".build" / "release" / "gateway-worker"

# --- worker supervision and a second gateway instance on the same Redis --------------------------


@pytest.fixture(scope="module")
def second(stack):
    """A second gateway instance (its own nginx, workers and identity service) sharing the first
    one's Redis and LiteLLM and its secrets, as a second host behind a load balancer would; its
    workers run as WORKER_PROCESSES=3 supervised processes."""
    with sibling_stack(stack, "second", WORKER_PROCESSES="3") as started:
        yield started


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
    environment = dict(
        PATH=os.environ["PATH"],
        JWT_SECRET="s" * 48,
        LITELLM_SHARED_KEY="shared",
        LITELLM_MASTER_KEY="master",
        WORKER_SOCKET=str(socket_path),
        WORKER_PROCESSES="2",
        WORKER_THREADS="4",
    )
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
