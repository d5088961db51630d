"""Distinct states a person can tell apart (loading, empty, error with Retry) on the lists and
stat cards, and the new token shown once for real (no-store page, wiped when the page is
left, a question before leaving it unsaved), in headless Chromium."""

import requests
from selenium.webdriver.common.by import By

from harness.browser import fresh_email


def network(browser, offline=False, latency=0):
    browser.driver.execute_cdp_cmd("Network.enable", {})
    browser.driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions", {"offline": offline, "latency": latency, "downloadThroughput": -1, "uploadThroughput": -1}
    )


def state_of(browser, body):
    cells = browser.driver.find_elements(By.CSS_SELECTOR, f"#{body} td[data-state]")
    return cells[0].get_attribute("data-state") if cells else "rows"


def test_a_list_says_loading_then_empty_and_never_empty_while_loading(stack, browsers):
    browser = browsers()
    browser.sign_in(fresh_email("states"))
    network(browser, latency=1500)
    try:
        browser.open("/token-manager")
        assert state_of(browser, "token-list") == "loading"
        assert "Loading" in browser.text("#token-list")
    finally:
        network(browser)
    browser.wait(lambda d: state_of(browser, "token-list") == "empty")
    assert browser.text("#token-list") == "You have no active tokens."
    assert not browser.driver.find_element(By.CSS_SELECTOR, "#page-error").is_displayed()


def test_a_failed_admin_reload_shows_the_error_with_retry_not_an_empty_list_or_old_numbers(stack, browsers):
    stack.sign_in(fresh_email("states-user"))
    admin = browsers()
    admin.sign_in("admin@example.com", then="/token-session-manager")
    admin.find("#users-list tr[data-email]")
    assert admin.text("#users-total").isdigit()
    network(admin, offline=True)
    try:
        admin.click("#users-refresh")
        admin.wait(lambda d: state_of(admin, "users-list") == "error")
        assert "could not be reached" in admin.text("#users-list")
        assert "Nothing here yet" not in admin.text("#users-list")
        assert admin.text("#users-total") == "–" and admin.text("#users-banned") == "–"
        assert not admin.driver.find_element(By.CSS_SELECTOR, "#users-pager .count").is_displayed()
        assert admin.error_kind("network")
    finally:
        network(admin)
    admin.click("#users-list button.retry")
    admin.find("#users-list tr[data-email]")
    assert admin.text("#users-total").isdigit()
    assert admin.find("#users-pager .count").text.endswith("shown")


def test_the_new_token_is_shown_once_even_with_the_back_button(stack, browsers):
    email = fresh_email("once")
    session = stack.sign_in(email)
    page = session.get(stack.url("/token-manager"))
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert requests.get(stack.url("/favicon.svg")).headers["Content-Type"] == "image/svg+xml"

    browser = browsers()
    browser.sign_in(email)
    browser.find("#token-name").send_keys("shown once")
    browser.click("#generate")
    token = browser.text("#token-value")
    assert token.count(".") == 2
    assert browser.driver.find_element(By.CSS_SELECTOR, "#token-name").get_attribute("value") == ""
    # Leaving before "I have saved it" asks first. ChromeDriver answers the browser's leave-page
    # question itself, so the test asks the page whether it would ask (the beforeunload event).
    asks = "const e = new Event('beforeunload', {cancelable: true}); window.dispatchEvent(e); return e.defaultPrevented"
    assert browser.driver.execute_script(asks) is True
    # Leaving into the back/forward cache (pagehide, persisted) wipes it from the page.
    browser.driver.execute_script("window.dispatchEvent(new PageTransitionEvent('pagehide', {persisted: true}))")
    assert browser.driver.execute_script("return document.querySelector('#token-value').textContent") == ""
    assert token not in browser.driver.page_source
    assert browser.driver.execute_script(asks) is False
    browser.find("#token-name").send_keys("second")
    browser.click("#generate")
    token = browser.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#token-value").text)
    browser.driver.find_element(By.CSS_SELECTOR, 'nav a[href="/my-access"]').click()
    browser.find("#session-list")
    browser.driver.back()
    browser.find("#token-list")
    assert browser.driver.current_url.endswith("/token-manager")
    assert not browser.driver.find_element(By.CSS_SELECTOR, "#token-result").is_displayed()
    assert token not in browser.driver.page_source
    browser.find("#token-list tr td.token-name")  # the token is listed, by name and id prefix only
    assert browser.driver.execute_script(asks) is False


def test_a_token_is_created_and_revoked_with_the_keyboard_alone(stack, browsers):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    email = fresh_email("keyboard")
    browser = browsers()
    browser.sign_in(email)
    browser.find("#token-list td[data-state=empty]")
    keys = ActionChains(browser.driver)
    active = lambda: browser.driver.switch_to.active_element  # noqa: E731

    def tab_to(predicate, limit=40):
        for _ in range(limit):
            ActionChains(browser.driver).send_keys(Keys.TAB).perform()
            if predicate(active()):
                return active()
        raise AssertionError("not reachable with Tab")

    tab_to(lambda e: e.get_attribute("id") == "token-name")
    keys.send_keys("typed only").send_keys(Keys.ENTER).perform()
    token = browser.text("#token-value")
    assert token.count(".") == 2 and active().get_attribute("id") == "copy-token"  # focus moves to the new token
    tab_to(lambda e: e.get_attribute("id") == "token-done")
    ActionChains(browser.driver).send_keys(Keys.ENTER).perform()
    assert not browser.driver.find_element(By.CSS_SELECTOR, "#token-result").is_displayed()
    tab_to(lambda e: e.get_attribute("aria-label") == "Revoke typed only")
    ActionChains(browser.driver).send_keys(Keys.ENTER).perform()
    browser.find("#confirm-dialog")
    assert active().get_attribute("id") == "confirm-cancel"  # the safe answer first
    ActionChains(browser.driver).send_keys(Keys.TAB).send_keys(Keys.ENTER).perform()
    browser.wait(lambda d: "typed only" in browser.toast())
    assert stack.redis.scard(f"user:tokens:{email}") == 0
    assert stack.chat(token).status_code == 401


def test_an_admin_bans_someone_who_is_not_signed_in_by_e_mail(stack, browsers):
    absent = fresh_email("absent")
    admin = browsers()
    admin.sign_in("admin@example.com", then="/token-session-manager")
    admin.find("#users-list tr[data-email]")
    assert not admin.driver.find_elements(By.CSS_SELECTOR, 'tr[data-email="admin@example.com"] button.ban')  # not oneself
    admin.find("#ban-email").send_keys(absent)
    admin.click("#ban-by-email")
    assert absent in admin.text("#confirm-message")
    admin.confirm()
    assert absent in admin.toast()
    assert stack.redis.ttl(f"active_user_deleted:{absent}") > 0
    refused = stack.sign_in(absent).get(stack.url("/api/me"))
    assert refused.status_code in (401, 403) and refused.json()["code"] == "banned"
