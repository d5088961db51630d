"""The browser UIs in real headless Chromium, through nginx, the dev identity
service and the Swift workers: what a person sees and can do on /token-manager,
/token-session-manager and /admin-manager, and what the gateway then does.

Screenshots of each page land in test-artifacts/screenshots/ (ignored); with
UI_SCREENSHOTS_TO_DOCS=1 they are also copied to docs/screenshots/ for the README.
"""

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from harness.browser import ROOT, fresh_email


def test_pages_are_served_with_a_strict_csp_and_no_inline_script(stack):
    session = stack.sign_in("root@example.com")
    for path in ("/token-manager", "/token-session-manager", "/admin-manager", "/ui-assets/common.js"):
        response = session.get(stack.url(path))
        assert response.status_code == 200
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
        if path.endswith(".js"):
            continue
        assert "<script>" not in response.text and " style=" not in response.text and "http" not in response.text.split("<body>")[1]
    # The files are reachable only through the page check, the assets only when signed in.
    assert session.get(stack.url("/_ui/admin-manager.html")).status_code == 404
    assert requests.get(stack.url("/ui-assets/common.js")).status_code == 401
    for page in (ROOT / "ui").glob("*.html"):
        text = page.read_text()
        assert "<script>" not in text and " style=" not in text and " onclick=" not in text, page.name
        assert "//cdn" not in text and "https://" not in text, page.name


PAGES = {
    "/token-manager": "token-manager.html",
    "/token-session-manager": "token-session-manager.html",
    "/admin-manager": "admin-manager.html",
    "/my-access": "my-access.html",
}
PARTS = ("head.html", "nav.html")


def test_every_page_takes_its_head_and_navigation_from_one_file(stack):
    """ui/parts/ holds the head and the navigation once; each page names them with an SSI include
    that nginx fills in (no build step): the served page, read as a browser without JavaScript
    reads it, carries both parts verbatim, no include directive, and the same headers as before."""
    session = stack.sign_in("root@example.com")
    parts = {name: (ROOT / "ui" / "parts" / name).read_text() for name in PARTS}
    assert "<nav>" in parts["nav.html"] and 'href="/oauth2/sign_out"' in parts["nav.html"]
    for path, file in PAGES.items():
        source = (ROOT / "ui" / file).read_text()
        assert "<nav" not in source and "<meta" not in source, file
        assert all(source.count(f'<!--# include file="parts/{name}" -->') == 1 for name in PARTS), file
        response = session.get(stack.url(path))
        assert response.status_code == 200
        assert all(part in response.text for part in parts.values()), path
        assert "<!--#" not in response.text and "an error occurred" not in response.text, path
        assert response.headers["Cache-Control"] == "no-store" and "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.text.index('<meta charset="utf-8">') < 200


def test_not_signed_in_goes_to_sign_in_and_back(stack, browsers):
    browser = browsers()
    browser.open("/token-manager")
    browser.find("input#email")
    assert "/oauth2/start" in browser.driver.current_url or "/oauth2/sign_in" in browser.driver.current_url
    browser.submit_sign_in(fresh_email())
    browser.wait(EC.url_to_be(stack.url("/token-manager")))
    assert browser.text("h1") == "My API tokens"


def test_user_generates_copies_and_revokes_a_token(stack, browsers):
    email = fresh_email()
    browser = browsers()
    browser.sign_in(email)
    browser.find("#token-name").send_keys("laptop Roo Code")
    Select(browser.find("#token-lifetime")).select_by_value("custom")
    amount = browser.find("#custom-amount")
    amount.clear()
    amount.send_keys("2")
    browser.click("#generate")

    token = browser.text("#token-value")
    assert token.count(".") == 2
    assert "laptop Roo Code" in browser.text("#token-created")
    for snippet in ("#snippet-curl", "#snippet-roo", "#snippet-claude"):
        assert token in browser.text(snippet)
    assert f"ANTHROPIC_BASE_URL={stack.base}" in browser.text("#snippet-claude")
    assert f"{stack.base}/v1/chat/completions" in browser.text("#snippet-curl")
    info = stack.redis.ttl(f"token:info:{stack.redis.smembers(f'user:tokens:{email}').pop()}")
    assert 2 * 86400 - 60 < info <= 2 * 86400

    browser.click("#copy-token")
    browser.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#copy-token").get_attribute("data-copied") == "true")
    copied = browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; navigator.clipboard.readText().then(done, e => done('ERR ' + e));"
    )
    assert copied == token
    assert stack.chat(copied).status_code == 200
    browser.screenshot("token-manager-created")

    row = browser.wait(lambda d: d.find_element(By.XPATH, "//tbody[@id='token-list']/tr[td/span[text()='laptop Roo Code']]"))
    token_id = row.get_attribute("data-token-id")
    row.find_element(By.CSS_SELECTOR, "button.revoke").click()
    assert "laptop Roo Code" in browser.text("#confirm-message")
    browser.confirm()
    assert "laptop Roo Code" in browser.toast()
    browser.wait(EC.invisibility_of_element_located((By.CSS_SELECTOR, f'#token-list tr[data-token-id="{token_id}"]')))
    assert not browser.driver.find_element(By.CSS_SELECTOR, "#token-result").is_displayed()

    refused = stack.chat(token)
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"
    assert browser.csp_violations() == []
    # The control: an inline script is refused and the refusal reaches the log read above, so an
    # empty list means "no violation", not "no log".
    browser.driver.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.injected = 1'; document.body.appendChild(s);"
    )
    assert browser.driver.execute_script("return window.injected === undefined")
    assert browser.wait(lambda d: browser.csp_violations(), timeout=5)


def test_cancelled_revoke_keeps_the_token(stack, browsers):
    email = fresh_email()
    minted = stack.mint(email, token_name="keep me")
    browser = browsers()
    browser.sign_in(email)
    row = browser.row("token-list", "token-id", minted["token_id"])
    row.find_element(By.CSS_SELECTOR, "button.revoke").click()
    browser.click("#confirm-cancel")
    assert browser.row("token-list", "token-id", minted["token_id"])
    assert stack.chat(minted["token"]).status_code == 200


def test_custom_lifetime_above_90_days_is_refused_in_the_page(stack, browsers):
    email = fresh_email()
    browser = browsers()
    browser.sign_in(email)
    Select(browser.find("#token-lifetime")).select_by_value("custom")
    amount = browser.find("#custom-amount")
    amount.clear()
    amount.send_keys("91")
    browser.click("#generate")
    browser.wait(lambda d: "90" in d.find_element(By.CSS_SELECTOR, "#page-error").text)
    assert stack.redis.scard(f"user:tokens:{email}") == 0


def test_japanese_browser_gets_japanese_and_the_switch_is_remembered(stack, browsers):
    browser = browsers("ja")
    browser.sign_in(fresh_email())
    assert browser.text("h1") == "マイAPIトークン"
    assert browser.text("#generate") == "トークンを生成"
    browser.screenshot("token-manager-ja")
    browser.click('#lang-switch button[data-lang="en"]')
    assert browser.text("h1") == "My API tokens"
    browser.open("/token-manager")
    assert browser.text("h1") == "My API tokens"
    assert browser.driver.execute_script("return document.documentElement.lang") == "en"


def test_session_over_is_a_message_with_a_way_to_sign_in(stack, browsers):
    browser = browsers()
    browser.sign_in(fresh_email())
    browser.find("#token-table")
    browser.driver.delete_cookie("_oauth2_proxy")
    browser.click("#refresh-tokens")
    assert "session is over" in browser.error_banner("session")
    link = browser.find("#sign-in-again")
    assert link.get_attribute("href") == stack.url("/oauth2/start?rd=%2Ftoken-manager")
    browser.screenshot("token-manager-session-over")
    link.click()
    browser.find("input#email")


def test_non_admin_is_refused_the_admin_pages(stack, browsers):
    browser = browsers()
    browser.sign_in(fresh_email())
    for path, expected in (("/token-session-manager", "administrators only"), ("/admin-manager", "super administrator only")):
        browser.open(path)
        assert browser.text("#error-title") == "Not allowed"
        assert expected in browser.text("#error-message")
        assert "{" not in browser.driver.find_element(By.TAG_NAME, "body").text
    browser.screenshot("not-allowed")
    browser.open("/token-manager")
    browser.find("#token-table")
    assert all(not link.is_displayed() for link in browser.driver.find_elements(By.CSS_SELECTOR, "[data-needs]"))


# --- Admin pages (need the session, token and admin APIs) ---------------------------------


def test_admin_bans_a_user_whose_next_page_load_shows_the_ban(stack, browsers):
    victim = fresh_email("victim")
    minted = stack.mint(victim, token_name="victim cli")
    user = browsers()
    user.sign_in(victim)
    admin = browsers()
    admin.sign_in("admin@example.com", then="/token-session-manager")
    admin.find("#users-search").send_keys(victim)
    row = admin.row("users-list", "email", victim)
    assert row.find_element(By.CSS_SELECTOR, ".user-status").text == "active"
    row.find_element(By.CSS_SELECTOR, "button.ban").click()
    assert victim in admin.text("#confirm-message")
    admin.confirm()
    assert victim in admin.toast()
    admin.wait(lambda d: "banned" in d.find_element(By.CSS_SELECTOR, f'#users-list tr[data-email="{victim}"] .user-status').text)
    assert admin.row("users-list", "email", victim).find_elements(By.CSS_SELECTOR, "button.unban")
    admin.find("#users-search").send_keys(Keys.CONTROL, "a", Keys.DELETE)  # fires "input", unlike clear()
    admin.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#users-list tr[data-email]")) > 1)
    admin.screenshot("session-manager-users")

    refused = stack.chat(minted["token"])
    assert refused.status_code == 401 and "banned" in refused.json()["error"]["message"]

    # The ban ended the user's sign-in session: the next page load asks to sign in, and
    # signing in again shows the ban (a page, not JSON).
    user.open("/token-manager")
    if user.driver.find_elements(By.CSS_SELECTOR, "input#email"):
        user.submit_sign_in(victim)
    assert user.text("#error-title") == "Your access is blocked"
    # Redis rounds a fresh 7-day TTL to whole seconds: within half a second of the ban it still reads 7 days.
    message = user.text("#error-message")
    assert any(f"blocked your access for {left}, until 20" in message for left in ("6 days 23 hours", "7 days"))
    assert "UTC" in message and "まで" in user.text("#error-message-ja") and "日" in user.text("#error-message-ja")
    assert "{" not in user.driver.find_element(By.TAG_NAME, "body").text
    # Ways out that do not loop: sign out, or another account; no "Sign in again" as the same person.
    assert user.find("#sign-out").get_attribute("href").endswith("/oauth2/sign_out")
    assert "oauth2%2Fstart" in user.find("#switch-account").get_attribute("href")
    assert not user.driver.find_elements(By.CSS_SELECTOR, "#sign-in-again")
    user.screenshot("banned")

    admin.find("#users-search").send_keys(victim)
    admin.row("users-list", "email", victim).find_element(By.CSS_SELECTOR, "button.unban").click()
    admin.confirm()
    assert victim in admin.toast()
    # Unbanned and without a session, the user leaves the list.
    admin.wait(
        lambda d: all("banned" not in row.text for row in d.find_elements(By.CSS_SELECTOR, f'#users-list tr[data-email="{victim}"]'))
    )
    user.open("/token-manager")
    assert user.text("h1") == "My API tokens"


def test_super_admin_adds_an_admin_who_can_then_open_the_session_manager(stack, browsers):
    newcomer = fresh_email("newadmin")
    candidate = browsers()
    candidate.sign_in(newcomer)
    candidate.open("/token-session-manager")
    assert candidate.text("#error-title") == "Not allowed"

    root = browsers()
    root.sign_in("root@example.com", then="/admin-manager")
    top = root.row("admin-list", "email", "root@example.com")
    assert top.get_attribute("data-source") == "super_admin" and not top.find_elements(By.CSS_SELECTOR, "button")
    root.find("#admin-email").send_keys(newcomer.upper())
    root.click("#add-admin")
    assert newcomer in root.toast()
    row = root.row("admin-list", "email", newcomer)
    assert row.get_attribute("data-source") == "redis"
    root.screenshot("admin-manager")

    candidate.open("/token-session-manager")
    assert candidate.text("h1") == "Sessions & tokens"
    assert candidate.find("#tab-users").get_attribute("aria-selected") == "true"
    candidate.open_tab("audit")
    candidate.wait(lambda d: newcomer in d.find_element(By.CSS_SELECTOR, "#audit-list").text)
    assert "root@example.com" in candidate.text("#audit-list")
    candidate.screenshot("session-manager-audit")

    root.row("admin-list", "email", newcomer).find_element(By.CSS_SELECTOR, "button.remove-admin").click()
    root.confirm()
    root.wait(EC.invisibility_of_element_located((By.CSS_SELECTOR, f'#admin-list tr[data-email="{newcomer}"]')))
    candidate.open("/token-session-manager")
    assert candidate.text("#error-title") == "Not allowed"


def test_admin_finds_a_users_tokens_by_email_and_revokes_one(stack, browsers):
    owner = fresh_email("owner")
    kept = stack.mint(owner, token_name="kept")
    doomed = stack.mint(owner, token_name="ci bot")
    admin = browsers()
    admin.sign_in("admin@example.com", then="/token-session-manager")
    admin.search_tokens(owner, rows=2)
    row = admin.row("tokens-list", "token-id", doomed["token_id"])
    assert owner in row.text and "ci bot" in row.text
    row.find_element(By.CSS_SELECTOR, "button.revoke-token").click()
    assert "ci bot" in admin.text("#confirm-message")
    admin.confirm()
    assert admin.toast() == "Token revoked."
    # A revoked token's record is deleted, so it leaves the list.
    admin.wait(EC.invisibility_of_element_located((By.CSS_SELECTOR, f'#tokens-list tr[data-token-id="{doomed["token_id"]}"]')))
    assert admin.row("tokens-list", "token-id", kept["token_id"])
    admin.screenshot("session-manager-tokens")
    assert stack.chat(doomed["token"]).status_code == 401
    assert stack.chat(kept["token"]).status_code == 200


def test_admin_ends_a_sign_in_session(stack, browsers):
    email = fresh_email("session")
    user = browsers()
    user.sign_in(email)
    admin = browsers()
    admin.sign_in("admin@example.com", then="/token-session-manager")
    admin.open_tab("sessions")
    admin.find("#sessions-search").send_keys(email)

    def found_or_load_more(driver):
        """The filter sees loaded pages only: page on (SCAN order) until the session shows."""
        if driver.find_elements(By.CSS_SELECTOR, "#sessions-list tr[data-session-key]"):
            return True
        more = driver.find_element(By.CSS_SELECTOR, "#sessions-pager .load-more")
        if more.is_displayed() and more.is_enabled():
            more.click()
        return False

    admin.wait(found_or_load_more, timeout=30)
    rows = admin.driver.find_elements(By.CSS_SELECTOR, "#sessions-list tr[data-session-key]")
    assert len(rows) == 1 and email in rows[0].text
    assert int(admin.text("#sessions-total")) >= 2
    admin.screenshot("session-manager-sessions")
    rows[0].find_element(By.CSS_SELECTOR, "button.delete-session").click()
    admin.confirm()
    admin.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "#sessions-list tr[data-session-key]"))

    user.click("#refresh-tokens")
    assert "session is over" in user.error_banner("session")
