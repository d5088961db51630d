"""Admin lists page exactly while others write (issue: admin plane that scales): an admin pages
through the token and session lists through nginx while another client, at the same time,
mints and revokes tokens and signs users in and out. Every item present from the first page to
the last is shown exactly once, nothing is shown twice, a page holds exactly `limit` items, and
the token summary counts the whole keyspace."""

import threading
import time
import uuid

ADMIN = "admin@example.com"


def page_all(admin, url, key, limit):
    """All pages of an admin list; returns (items in order, page sizes)."""
    items, sizes, cursor = [], [], None
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        answer = admin.get(f"{url}?{query}")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        page = body[key]
        items += page
        sizes.append(len(page))
        cursor = body["next_cursor"]
        if cursor is None:
            return items, sizes
        assert len(sizes) < 1000


def test_token_pages_while_another_client_mints_and_revokes(stack):
    tag = uuid.uuid4().hex[:8]
    owners = [stack.sign_in(f"pager-{tag}-{n}@example.com") for n in range(4)]
    minted = []
    for n in range(80):
        owner = owners[n % 4]
        answer = owner.post(stack.url("/api/token/generate"), json={"token_name": f"p{n}"})
        assert answer.status_code == 200
        minted.append((owner, answer.json()["token_id"]))
    victims = {token_id for _, token_id in minted[::5]}  # the writer revokes these while the admin pages
    stop = threading.Event()
    added, revoked = [], []

    def writer():
        pending = [(owner, token_id) for owner, token_id in minted if token_id in victims]
        while not stop.is_set():
            owner = owners[len(added) % 4]
            answer = owner.post(stack.url("/api/token/generate"), json={"token_name": "during"})
            if answer.status_code == 200:
                added.append(answer.json()["token_id"])
            if pending:
                victim_owner, token_id = pending.pop()
                assert victim_owner.post(stack.url("/api/token/revoke"), json={"token_id": token_id}).status_code == 200
                revoked.append(token_id)
            time.sleep(0.005)

    admin = stack.sign_in(ADMIN)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        tokens, sizes = page_all(admin, stack.url("/api/admin/tokens"), "tokens", 7)
    finally:
        stop.set()
        thread.join()
    ids = [t["token_id"] for t in tokens]
    assert len(ids) == len(set(ids)), "an item was shown twice"
    throughout = {token_id for _, token_id in minted} - victims
    assert throughout <= set(ids), "an item present all along was skipped"
    assert all(size == 7 for size in sizes[:-1]) and 0 < sizes[-1] <= 7 or sizes == [0]
    assert added and revoked, "the writer ran while the admin paged"

    # The summary counts every token in Redis, whatever the page.
    summary = admin.get(stack.url("/api/admin/tokens?limit=1")).json()["summary"]
    assert summary["total"] == summary["active"] + summary["expired"] + summary["revoked"]
    assert summary["revoked"] >= len(revoked) and summary["active"] >= len(minted) - len(victims) + len(added)
    mine = admin.get(stack.url(f"/api/admin/tokens/pager-{tag}-0@example.com?limit=3")).json()
    assert len(mine["tokens"]) == 3 and mine["next_cursor"]


def test_session_pages_while_others_sign_in_and_out(stack):
    tag = uuid.uuid4().hex[:8]
    present = []
    for n in range(30):
        browser = stack.sign_in(f"sess-{tag}-{n}@example.com")
        assert browser.get(stack.url("/api/token/list")).status_code == 200  # the gateway sees (tracks) the session
        present.append(browser)
    leaving = present[::4]
    stop = threading.Event()

    def writer():
        pending = list(leaving)
        n = 0
        while not stop.is_set():
            newcomer = stack.sign_in(f"late-{tag}-{n}@example.com")
            newcomer.get(stack.url("/api/token/list"))
            n += 1
            if pending:
                pending.pop().get(stack.url("/oauth2/sign_out"), allow_redirects=False)
            time.sleep(0.005)

    admin = stack.sign_in(ADMIN)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        sessions, sizes = page_all(admin, stack.url("/api/admin/sessions"), "sessions", 5)
    finally:
        stop.set()
        thread.join()
    keys = [s["session_key"] for s in sessions]
    assert len(keys) == len(set(keys))
    staying = {f"sess-{tag}-{n}@example.com" for n in range(30)} - {f"sess-{tag}-{n}@example.com" for n in range(0, 30, 4)}
    assert staying <= {s["email"] for s in sessions}
    assert all(size == 5 for size in sizes[:-1])
