"""The session manager's numbers agree (docs/admin.md, "What the numbers of the session manager
mean"): a person's Sessions in the active-users list are their live OAuth2 Proxy sessions as the
sessions tab counts them (not the tokens they used), "Last used via" is how the last request came,
and a ban keeps the last access instead of showing the ban's time."""

import time

from harness.browser import fresh_email
from harness.probes import session_key

ADMIN = "admin@example.com"


def listed(stack, admin, email):
    users = admin.get(stack.url("/api/admin/sessions/active-users")).json()["active_users"]
    return next(user for user in users if user["email"] == email)


def test_a_persons_sessions_match_the_sessions_tab_and_not_their_tokens(stack):
    email = fresh_email("numbers")
    browsers = [stack.sign_in(email) for _ in range(2)]
    token = browsers[0].post(stack.url("/api/token/generate"), json={}).json()["token"]
    assert browsers[1].get(stack.url("/api/token/list")).status_code == 200
    assert stack.chat(token).status_code == 200  # a token used is not a session
    admin = stack.sign_in(ADMIN)

    user = listed(stack, admin, email)
    stats = admin.get(stack.url("/api/admin/sessions/stats")).json()
    sessions = [s for s in admin.get(stack.url("/api/admin/sessions")).json()["sessions"] if s.get("user_email", s.get("email")) == email]
    assert user["session_count"] == stats["user_sessions"][email] == 2, (user, sessions)
    assert user["auth_method"] == "jwt"  # the last request came with the token

    stack.redis.delete(session_key(browsers[1]))  # signed out: OAuth2 Proxy deleted its session
    assert listed(stack, admin, email)["session_count"] == 1
    assert admin.get(stack.url("/api/admin/sessions/stats")).json()["user_sessions"][email] == 1


def test_a_ban_keeps_the_last_access_and_a_never_seen_person_has_none(stack):
    email = fresh_email("banned-numbers")
    assert stack.sign_in(email).get(stack.url("/api/token/list")).status_code == 200
    admin = stack.sign_in(ADMIN)
    seen = listed(stack, admin, email)["last_access"]
    assert abs(seen - time.time()) < 5
    time.sleep(2.1)
    assert admin.post(stack.url("/api/admin/sessions/revoke-user"), json={"user_email": email}).status_code == 200
    after = listed(stack, admin, email)
    assert after["is_banned"] is True and after["session_count"] == 0
    assert after["last_access"] == seen

    stranger = fresh_email("never-seen")
    assert admin.post(stack.url("/api/admin/sessions/revoke-user"), json={"user_email": stranger}).status_code == 200
    assert listed(stack, admin, stranger)["last_access"] is None
