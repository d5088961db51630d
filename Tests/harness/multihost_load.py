"""Load and bookkeeping of Tests/e2e/test_multihost.py: people with tokens (`People`), /v1 calls
on every host of the rig (`SpreadLoad`), and revocations and bans made on one host with the very
next call on the others (`Revoker`)."""

import random
import threading
import time

import requests

from harness.checks import response_code
from harness.people import TokenHolders
from harness.threads import BackgroundThreads

ADMIN = "admin@example.com"


class People(TokenHolders):
    """People with one token each, signed in and minted through the rig's hosts in turn (see
    TokenHolders); their sessions send their cookies to every host."""

    def __init__(self, rig, live=4, revoke=10, ban=4):
        super().__init__(list(rig.hosts.values()), "mh", live=live, revoke=revoke, ban=ban)


def call_v1(session, host, token, timeout=10):
    """One /v1 call; returns (status or 0 for a transport error, error code)."""
    try:
        response = session.get(host.url("/v1/models"), headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
        return response.status_code, response_code(response)
    except requests.RequestException as error:
        return 0, type(error).__name__


class SpreadLoad(BackgroundThreads):
    """`per_host` threads per host calling /v1 with random tokens of `people`; every answer is
    recorded as (host, start, end, status, email, code)."""

    def __init__(self, rig, people, per_host=2, hosts=("a", "b", "c")):
        self.rig, self.people = rig, people
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.calls = []
        self.threads = [threading.Thread(target=self.run, args=(name, seed)) for name in hosts for seed in range(per_host)]

    def run(self, name, seed):
        rng = random.Random(f"{name}{seed}")
        entries = list(self.people.entries.values())
        session = requests.Session()
        while not self.stop.is_set():
            entry = rng.choice(entries)
            started = time.time()
            status, code = call_v1(session, self.rig.hosts[name], entry["token"])
            with self.lock:
                self.calls.append((name, started, time.time(), status, entry["email"], code))
            if status == 0:
                session = requests.Session()
                self.stop.wait(0.05)

    def accepted_after(self, confirmed: dict) -> list:
        """Calls answered 200 that started after their token's revocation (or owner's ban) was
        confirmed."""
        with self.lock:
            return [c for c in self.calls if c[3] == 200 and c[4] in confirmed and c[1] > confirmed[c[4]]]

    def per_host(self, since=0.0, until=float("inf")):
        counts = {}
        with self.lock:
            for name, started, _, status, _, _ in self.calls:
                if since <= started <= until:
                    counts.setdefault(name, {}).setdefault(status, 0)
                    counts[name][status] += 1
        return counts


class Revoker(BackgroundThreads):
    """Works through the `revoke` and `ban` people on host `via` (the owner's revoke, the admin's
    force logout + ban), one every `pause` seconds; right after each 200 it calls /v1 with the
    token on each of `then_on` (the very next call there) and records the answers."""

    def __init__(self, rig, people, via="a", then_on=("b", "c"), pause=0.1):
        self.rig, self.people, self.via, self.then_on, self.pause = rig, people, via, then_on, pause
        self.stop = threading.Event()
        self.confirmed = {}  # email -> time the 200 arrived
        self.next_calls = []  # (email, kind, host, status, code, seconds after the confirmation)
        self.writes = []  # (kind, status, code)
        self.threads = [threading.Thread(target=self.run)]

    def run(self):
        host = self.rig.hosts[self.via]
        admin = host.sign_in(ADMIN)
        probes = {name: requests.Session() for name in self.then_on}
        pending = [e for pair in zip(self.people.of("revoke"), self.people.of("ban") + [None] * 99, strict=False) for e in pair if e]
        for entry in pending:
            while not self.stop.is_set() and not self.write(host, admin, probes, entry):
                self.stop.wait(self.pause)  # a 503 while Redis fails over: tried again
            self.stop.wait(self.pause)

    def write(self, host, admin, probes, entry) -> bool:
        """One revocation or ban; True when it is done (confirmed, or found done already)."""
        try:
            if entry["kind"] == "revoke":
                response = entry["session"].post(host.url("/api/token/revoke"), json={"token_id": entry["token_id"]}, timeout=10)
            else:
                response = admin.post(host.url("/api/admin/sessions/revoke-user"), json={"user_email": entry["email"]}, timeout=10)
        except requests.RequestException as error:
            self.writes.append((entry["kind"], 0, type(error).__name__))
            return False
        done = time.time()
        self.writes.append((entry["kind"], response.status_code, response_code(response)))
        if response.status_code != 200:
            # 404: an earlier unconfirmed attempt revoked it (not counted as confirmed).
            return entry["kind"] == "revoke" and response.status_code == 404
        self.confirmed[entry["email"]] = done
        for name in self.then_on:
            status, code = call_v1(probes[name], self.rig.hosts[name], entry["token"])
            self.next_calls.append((entry["email"], entry["kind"], name, status, code, round(time.time() - done, 4)))
        return True

    def wait_done(self, timeout=60):
        for thread in self.threads:
            thread.join(timeout)

    def confirmed_after(self, moment):
        return sum(1 for at in list(self.confirmed.values()) if at > moment)
