"""People with one token each, for the load of the failover and multi-host tests
(harness/ha_rig.py, harness/multihost_load.py)."""

import os
import random

import requests


def any_host(session):
    """The session's cookies sent to every host (a load balancer's single name, here the hosts'
    different addresses)."""
    session.cookies = requests.cookies.cookiejar_from_dict(session.cookies.get_dict())
    return session


class TokenHolders:
    """`live` + `revoke` + `ban` people, each signed in and holding one token, signed in and
    minted through `hosts` in turn: `live` ones are never touched, `revoke` ones lose their token
    (the owner's revoke), `ban` ones are banned by an admin. `entries`: email -> dict(kind,
    email, session, token, token_id)."""

    def __init__(self, hosts, label, live, revoke, ban):
        tag = f"{os.getpid()}-{random.randrange(1 << 30):x}"
        self.entries = {}
        kinds = [(kind, index) for kind, count in (("live", live), ("revoke", revoke), ("ban", ban)) for index in range(count)]
        for number, (kind, index) in enumerate(kinds):
            host = hosts[number % len(hosts)]
            email = f"{label}-{kind}-{index}-{tag}@example.com"
            session = any_host(host.sign_in(email))
            response = session.post(host.url("/api/token/generate"), json={"expires_in": 3600})
            assert response.status_code == 200, response.text
            body = response.json()
            self.entries[email] = dict(kind=kind, email=email, session=session, token=body["token"], token_id=body["token_id"])

    def of(self, kind):
        return [entry for entry in self.entries.values() if entry["kind"] == kind]
