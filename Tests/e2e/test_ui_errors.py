"""What a person sees in the UIs (headless Chromium) when something goes wrong while a page is
open: the gateway unavailable (503), the network gone, a ban or a lost privilege (403) between
two clicks, the admin manager's 400 and 409, and a stale row (404). Each error is a sentence in
the page's banner (never raw JSON), and the page keeps working once the cause is gone."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from harness.browser import fresh_email


def generate(browser, name):
    field = browser.find("#token-name")
    field.clear()
    field.send_keys(name)
    browser.click("#generate")


def assert_no_json_in(text):
    assert "{" not in text and '"code"' not in text, text


def test_gateway_unavailable_is_a_retry_message_and_the_retry_works(stack, browsers):
    email = fresh_email("unavailable")
    browser = browsers()
    browser.sign_in(email)
    stack.redis.execute_command("CLIENT", "PAUSE", "4000", "WRITE")  # the session is read; nothing can be stored
    try:
        generate(browser, "during the outage")
        text = browser.error_kind("unavailable")
        assert "temporarily unavailable" in text
        assert_no_json_in(text)
        assert not browser.driver.find_element(By.CSS_SELECTOR, "#token-result").is_displayed()
    finally:
        stack.redis.execute_command("CLIENT", "UNPAUSE")
    assert stack.redis.scard(f"user:tokens:{email}") == 0
    generate(browser, "after the outage")
    assert browser.text("#token-value").count(".") == 2
    browser.wait(EC.invisibility_of_element_located((By.CSS_SELECTOR, "#page-error")))


def test_network_failure_is_a_connection_message(stack, browsers):
    email = fresh_email("offline")
    browser = browsers()
    browser.sign_in(email)
    browser.driver.execute_cdp_cmd("Network.enable", {})
    browser.driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    )
    try:
        generate(browser, "offline")
        text = browser.error_kind("network")
        assert "could not be reached" in text
    finally:
        browser.driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
        )
    assert stack.redis.scard(f"user:tokens:{email}") == 0
    generate(browser, "online again")
    assert browser.text("#token-value").count(".") == 2


def test_a_ban_while_the_page_is_open_shows_the_ban_with_a_way_to_sign_in(stack, browsers):
    email = fresh_email("banned-open")
    browser = browsers()
    browser.sign_in(email)
    browser.find("#token-table")
    # A ban written by another gateway instance (its session stays at OAuth2 Proxy).
    stack.redis.set(f"active_user_deleted:{email}", "1", ex=600)
    generate(browser, "after the ban")
    text = browser.error_kind("banned")
    assert "blocked by an administrator" in text
    assert_no_json_in(text)
    assert "until" in text  # how long, and until when
    assert browser.find("#sign-out") and browser.find("#switch-account")
    assert not browser.driver.find_elements(By.CSS_SELECTOR, "#sign-in-again")
    assert stack.redis.scard(f"user:tokens:{email}") == 0
    stack.redis.delete(f"active_user_deleted:{email}")


def test_an_admin_who_loses_the_role_while_the_page_is_open_gets_not_allowed(stack, browsers):
    newcomer = fresh_email("demoted")
    stack.redis.sadd("admin:emails", newcomer)
    admin = browsers()
    admin.sign_in(newcomer, then="/token-session-manager")
    admin.find("#users-list")
    stack.redis.srem("admin:emails", newcomer)  # the super admin removed them meanwhile
    admin.open_tab("audit")
    text = admin.error_kind("forbidden")
    assert text == "This is for administrators only."
    assert_no_json_in(text)


def test_admin_manager_shows_the_servers_400_and_409(stack, browsers):
    root = browsers()
    root.sign_in("root@example.com", then="/admin-manager")
    field = root.find("#admin-email")
    field.send_keys("someone@localhost")  # a valid address for the browser, not for the gateway
    root.click("#add-admin")
    text = root.error_kind("other")
    # Said from the answer's code in the page's words; never the raw status or server text.
    assert text == "Enter a valid e-mail address." and "400" not in text
    assert not stack.redis.sismember("admin:emails", "someone@localhost")
    field = root.find("#admin-email")
    field.clear()
    field.send_keys("admin@example.com")  # already an admin (ADMIN_EMAILS)
    root.click("#add-admin")
    root.wait(lambda d: "already an administrator" in d.find_element(By.CSS_SELECTOR, "#page-error").text)
    assert root.text("#page-error") == "admin@example.com is already an administrator."


def test_revoking_a_stale_row_says_not_found_and_the_page_goes_on(stack, browsers):
    owner = fresh_email("stale")
    doomed = stack.mint(owner, token_name="already gone")
    kept = stack.mint(owner, token_name="still here")
    admin = browsers()
    admin.sign_in("admin@example.com", then="/token-session-manager")
    admin.search_tokens(owner, rows=2)
    # The owner revokes it in another tab; the admin's row is now stale.
    owner_session = stack.sign_in(owner)
    assert owner_session.post(stack.url("/api/token/revoke"), json={"token_id": doomed["token_id"]}).status_code == 200
    admin.row("tokens-list", "token-id", doomed["token_id"]).find_element(By.CSS_SELECTOR, "button.revoke-token").click()
    admin.confirm()
    text = admin.error_kind("other")
    assert text == "It does not exist (any more). Refresh the list." and "404" not in text
    assert_no_json_in(text)
    # The page still works: the other token can be revoked.
    admin.row("tokens-list", "token-id", kept["token_id"]).find_element(By.CSS_SELECTOR, "button.revoke-token").click()
    admin.confirm()
    assert admin.toast() == "Token revoked."
    assert stack.chat(kept["token"]).status_code == 401
