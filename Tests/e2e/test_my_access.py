""" "My access" (issue 18): signed-in people see their own sign-in sessions (browser, address,
first and last seen) and end any but the current one, or all others; every ending is in the
audit log admins read. The page in real Chromium, in English and Japanese."""

import json
import time

import pytest
from selenium.webdriver.common.by import By

from harness.browser import fresh_email
from harness.probes import cookie_header, send

ADMIN = "admin@example.com"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"


def device(stack, email, agent):
    """A signed-in browser session that has used the gateway once (so the tracker saw it)."""
    session = stack.sign_in(email)
    session.headers["User-Agent"] = agent
    assert session.get(stack.url("/api/token/list")).status_code == 200
    return session


def mine(stack, session) -> list:
    response = session.get(stack.url("/api/me/sessions"))
    assert response.status_code == 200, response.text
    return response.json()["sessions"]


def current_id(stack, session) -> str:
    return next(item["session_id"] for item in mine(stack, session) if item["current"])


def audit_entries(stack, action):
    answer = stack.sign_in(ADMIN).get(stack.url("/api/admin/audit?limit=200")).json()
    return [entry for entry in answer["entries"] if entry["action"] == action]


def test_list_shows_each_own_session_with_browser_address_and_times(stack):
    email, other = fresh_email("me"), fresh_email("other")
    before = int(time.time())
    laptop = device(stack, email, FIREFOX)
    phone = device(stack, email, SAFARI)
    device(stack, other, FIREFOX)
    listed = mine(stack, laptop)
    assert len(listed) == 2, listed  # the other person's session is not here
    by_agent = {item["user_agent"]: item for item in listed}
    assert set(by_agent) == {FIREFOX, SAFARI}
    assert by_agent[FIREFOX]["current"] is True and by_agent[SAFARI]["current"] is False
    assert listed[0]["current"] is True  # the current session comes first
    for item in listed:
        assert item["address"] == "127.0.0.1"
        assert before <= item["first_seen"] <= item["last_seen"] <= int(time.time())
        assert item["expires_at"] > time.time()
        assert len(item["session_id"]) == 32
        # The id names a real OAuth2 Proxy session of this person in Redis.
        assert stack.redis.hget(f"gw:session:_oauth2_proxy-{item['session_id']}", "email") == email
    assert mine(stack, phone)[0]["user_agent"] == SAFARI


def test_end_one_other_session_signs_that_browser_out_and_is_audited(stack):
    email = fresh_email("me")
    laptop, phone = device(stack, email, FIREFOX), device(stack, email, SAFARI)
    phone_id = current_id(stack, phone)
    response = laptop.delete(stack.url(f"/api/me/sessions/{phone_id}"))
    assert response.status_code == 200 and response.json()["ended_count"] == 1, response.text
    assert phone.get(stack.url("/api/token/list")).status_code == 401  # signed out at once
    assert laptop.get(stack.url("/api/token/list")).status_code == 200
    assert [item["user_agent"] for item in mine(stack, laptop)] == [FIREFOX]
    assert not stack.redis.exists(f"_oauth2_proxy-{phone_id}", f"gw:session:_oauth2_proxy-{phone_id}")
    entry = next(e for e in audit_entries(stack, "self.session.end") if e["target"].endswith(phone_id))
    assert entry["actor"] == email and entry["result"] == "ok"
    assert entry["details"]["user_agent"] == SAFARI and entry["details"]["address"] == "127.0.0.1"
    # Ending it again: gone.
    assert laptop.delete(stack.url(f"/api/me/sessions/{phone_id}")).json()["code"] == "not_found"


def test_the_current_session_and_other_peoples_sessions_cannot_be_ended(stack):
    email, other = fresh_email("me"), fresh_email("other")
    laptop = device(stack, email, FIREFOX)
    theirs = device(stack, other, FIREFOX)
    own_id, their_id = current_id(stack, laptop), current_id(stack, theirs)
    response = laptop.delete(stack.url(f"/api/me/sessions/{own_id}"))
    assert response.status_code == 400 and response.json()["code"] == "current_session", response.text
    response = laptop.delete(stack.url(f"/api/me/sessions/{their_id}"))
    assert response.status_code == 404 and response.json()["code"] == "not_found", response.text
    assert theirs.get(stack.url("/api/token/list")).status_code == 200
    assert laptop.get(stack.url("/api/token/list")).status_code == 200


@pytest.mark.parametrize(
    "bad",
    [
        "end-others",
        "x" * 32,
        "../../api/token/list",
        "/../..",
        "%2e%2e/%2e%2e/health",
        "ABCDEF0123456789ABCDEF0123456789",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        "..%2f..%2fetc",
        "0123456789abcdef0123456789abcde%00",
    ],
)
def test_malformed_session_ids_are_400_json(stack, bad):
    email = fresh_email("me")
    laptop, phone = device(stack, email, FIREFOX), device(stack, email, SAFARI)
    response = send(stack, "DELETE", "/api/me/sessions/" + bad, {"Cookie": cookie_header(laptop)})
    assert response.status in (400, 404), response.body
    if "%00" in bad:  # nginx itself refuses a NUL byte in the path (400, its own page)
        assert response.status == 400
    else:
        assert response.getheader("Content-Type", "").startswith("application/json")
        assert json.loads(response.body)["code"] in ("invalid_session_id", "not_found")
    assert len(mine(stack, laptop)) == 2 and phone.get(stack.url("/api/token/list")).status_code == 200


def test_end_all_others_keeps_only_the_current_session_and_is_audited(stack):
    email = fresh_email("me")
    laptop = device(stack, email, FIREFOX)
    others = [device(stack, email, SAFARI) for _ in range(3)]
    response = laptop.post(stack.url("/api/me/sessions/end-others"))
    assert response.status_code == 200 and response.json()["ended_count"] == 3, response.text
    assert all(other.get(stack.url("/api/token/list")).status_code == 401 for other in others)
    assert [item["current"] for item in mine(stack, laptop)] == [True]
    entry = next(e for e in audit_entries(stack, "self.session.end_others") if e["target"] == email)
    assert entry["actor"] == email and entry["details"]["ended_count"] == 3


@pytest.mark.parametrize("method,path", [("POST", "/api/me/sessions/end-others"), ("DELETE", "/api/me/sessions/" + "a" * 32)])
@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}])
def test_cross_site_requests_are_refused(stack, method, path, headers):
    email = fresh_email("me")
    laptop, phone = device(stack, email, FIREFOX), device(stack, email, SAFARI)
    response = laptop.request(method, stack.url(path), headers=headers)
    assert response.status_code == 403 and response.json()["code"] == "csrf", response.text
    assert phone.get(stack.url("/api/token/list")).status_code == 200


def test_not_signed_in_is_401(stack):
    import requests

    for method, path in [("GET", "/api/me/sessions"), ("POST", "/api/me/sessions/end-others")]:
        response = requests.request(method, stack.url(path))
        assert response.status_code == 401 and response.json()["code"] == "unauthenticated"


def test_owner_token_revoke_is_audited(stack):
    email = fresh_email("me")
    minted = stack.mint(email, token_name="leaked laptop")
    response = stack.sign_in(email).post(stack.url("/api/token/revoke"), json={"token_id": minted["token_id"]})
    assert response.status_code == 200
    entry = next(e for e in audit_entries(stack, "self.token.revoke") if e["target"] == minted["token_id"])
    assert entry["actor"] == email and entry["details"]["token_name"] == "leaked laptop"


# --- the page in Chromium ------------------------------------------------------------------


def test_my_access_page_ends_another_session_and_revokes_a_token(stack, browsers):
    email = fresh_email("page")
    minted = stack.mint(email, token_name="ci runner")
    assert stack.chat(minted["token"]).status_code == 200  # gives the token a last use
    phone = device(stack, email, FIREFOX)
    phone_id = current_id(stack, phone)
    browser = browsers()
    browser.sign_in(email, then="/my-access")
    row = browser.row("session-list", "session-id", phone_id)
    assert "Firefox on Windows" in row.text and "127.0.0.1" in row.text
    current = browser.find("#session-list tr.current")
    assert "Chrome on Linux" in current.text and "this browser" in current.text
    assert not current.find_elements(By.CSS_SELECTOR, "button.end-session")
    token_row = browser.row("token-list", "token-id", minted["token_id"])
    assert "ci runner" in token_row.text and "ago" in token_row.find_element(By.CSS_SELECTOR, ".token-last-used").text
    browser.screenshot("my-access")

    row.find_element(By.CSS_SELECTOR, "button.end-session").click()
    browser.confirm()
    assert "Session ended" in browser.toast()
    browser.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, f'#session-list tr[data-session-id="{phone_id}"]'))
    assert phone.get(stack.url("/api/token/list")).status_code == 401

    token_row.find_element(By.CSS_SELECTOR, "button.revoke").click()
    browser.confirm()
    browser.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, f'#token-list tr[data-token-id="{minted["token_id"]}"]'))
    assert stack.chat(minted["token"]).status_code == 401
    browser.assert_no_csp_violation()

    # An admin sees what the person did in the audit log tab.
    admin = browsers()
    admin.sign_in(ADMIN, then="/token-session-manager")
    admin.open_tab("audit")
    admin.wait(lambda d: phone_id in d.find_element(By.CSS_SELECTOR, "#audit-list").text)
    audit = admin.text("#audit-list")
    assert "Ended one of their own sessions" in audit and "Revoked their own token" in audit and email in audit


def test_my_access_page_in_japanese(stack, browsers):
    email = fresh_email("ja")
    device(stack, email, SAFARI)
    browser = browsers("ja")
    browser.sign_in(email, then="/my-access")
    assert browser.text("h1") == "マイアクセス"
    browser.wait(lambda d: "macOS の Safari" in d.find_element(By.CSS_SELECTOR, "#session-list").text)
    assert "このブラウザ" in browser.text("#session-list tr.current")
    assert browser.text("#end-others") == "他のセッションをすべて終了"
    browser.screenshot("my-access-ja")


def test_a_huge_or_odd_user_agent_is_stored_cut_to_256_bytes(stack):
    email = fresh_email("me")
    agent = "Mozilla/5.0 " + "日本語ブラウザ" * 60 + ' "quoted" <b>'
    laptop = device(stack, email, agent.encode().decode("latin-1"))  # the UTF-8 bytes as sent on the wire
    stored = mine(stack, laptop)[0]["user_agent"]
    assert len(stored.encode()) <= 256 and agent.startswith(stored) and len(stored) > 50
    # Bytes that are not UTF-8 reach the list as text, never as a broken answer.
    other = device(stack, fresh_email("me"), b"Bad\xff\xfeAgent/1.0".decode("latin-1"))
    stored = mine(stack, other)[0]["user_agent"]
    assert stored.startswith("Bad") and stored.endswith("Agent/1.0")
