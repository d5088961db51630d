"""JWT_REQUIRE_OAUTH_WITHIN (optional, default off): a JWT is honoured only if its owner was
seen through OAuth2 Proxy within the window, so removing a person from the identity provider
stops their API tokens within the window. A second gateway instance with a 3-second window, on
the session stack's Redis and LiteLLM (each test's user is its own)."""

import time

import pytest

from harness.stack import sibling_stack

WINDOW = 3


@pytest.fixture(scope="module")
def windowed(stack):
    with sibling_stack(stack, "window", JWT_REQUIRE_OAUTH_WITHIN=f"{WINDOW}s") as started:
        yield started


def test_jwt_refused_once_the_owner_has_not_signed_in_within_the_window(windowed, email):
    token = windowed.mint(email)["token"]  # a browser request through OAuth2 Proxy: seen now
    assert 0 < windowed.redis.ttl(f"gw:oauth_seen:{email}") <= WINDOW
    assert windowed.chat(token).status_code == 200

    time.sleep(WINDOW + 1)
    refused = windowed.chat(token)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "oauth_signin_required"
    assert "sign in" in refused.json()["error"]["message"]

    # Signing in again (any gateway page or API through OAuth2 Proxy) brings the token back.
    browser = windowed.sign_in(email)
    assert browser.post(windowed.url("/api/token/generate"), json={}).status_code == 200
    assert windowed.chat(token).status_code == 200


def test_ban_still_wins_over_a_recent_sign_in(windowed, email):
    token = windowed.mint(email)["token"]
    windowed.redis.set(f"active_user_deleted:{email}", "1", ex=3600)
    refused = windowed.chat(token)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "user_banned"
