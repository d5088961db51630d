"""Every page and tab of the UIs, in headless Chromium at a phone's width (390 px) and a
laptop's (1366 px), in English and Japanese: nothing sticks out of the window or its cell,
nothing overlaps, no button wraps, no string of the other language or raw message key is shown,
both catalogues hold the same keys, and axe-core finds no serious or critical violation
(Tests/harness/layout.py says how each is measured).
One browser for the module; each state is reached as a person would (clicks, a lost network
for the error state) and photographed into test-artifacts/screenshots/ (docs/screenshots/ with
UI_SCREENSHOTS_TO_DOCS=1)."""

import pytest
from selenium.webdriver.common.by import By

from harness import layout
from harness.browser import Browser, fresh_email

ROOT_EMAIL = "root@example.com"


@pytest.fixture(scope="module")
def seeded(stack):
    """Data that fills every list: tokens with a long unbroken name and one about to expire,
    a few other people with sessions and tokens, one of them banned."""
    root = stack.sign_in(ROOT_EMAIL)
    for body in (
        {"token_name": "laptop Roo Code"},
        {"token_name": "x" * 100, "expires_in": 7776000},
        {"token_name": "CI pipeline (expires soon)", "expires_in": 3600},
    ):
        assert root.post(stack.url("/api/token/generate"), json=body).status_code == 200
    people = [fresh_email("layout") for _ in range(3)]
    for person in people:
        stack.mint(person, token_name="claude code on a very-long-hostname.internal.example.com")
    banned = root.post(stack.url("/api/admin/sessions/revoke-user"), json={"user_email": people[0]})
    assert banned.status_code == 200, banned.text
    return people


@pytest.fixture(scope="module")
def browser(stack, seeded):
    opened = Browser(stack)
    opened.sign_in(ROOT_EMAIL)
    yield opened
    opened.quit()


def settle(browser):
    """Waits until nothing on the page is loading (lists, stats)."""
    browser.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "[aria-busy=true], [data-state=loading]"))


def offline(browser, on):
    browser.driver.execute_cdp_cmd("Network.enable", {})
    browser.driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions", {"offline": on, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    )


def states(browser):
    """Yields (name, ready) for every page state; each is reached before it is yielded."""
    browser.open("/token-manager")
    browser.find("#token-list tr[data-token-id]")
    settle(browser)
    yield "token-manager"
    browser.find("#token-name").send_keys("new token")
    browser.click("#generate")
    browser.find("#token-value")
    settle(browser)
    yield "token-manager-created"
    browser.click("#token-done")
    browser.driver.execute_script("window.scrollTo(0, 0)")
    browser.driver.find_element(By.CSS_SELECTOR, "#token-list button.revoke").click()
    browser.find("#confirm-dialog")
    yield "token-manager-confirm"
    browser.click("#confirm-cancel")
    offline(browser, True)
    try:
        browser.click("#refresh-tokens")
        browser.find("#token-list [data-state=error] button.retry")
        yield "token-manager-error"
    finally:
        offline(browser, False)
    browser.open("/my-access")
    browser.find("#session-list tr[data-session-id]")
    settle(browser)
    yield "my-access"
    for tab in ("users", "sessions", "tokens", "cleanup", "audit"):
        browser.open(f"/token-session-manager#{tab}")
        browser.find(f"#panel-{tab}")
        if tab == "cleanup":
            browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#cleanup-preview-result h3"))
        else:
            browser.find(f"#{tab}-list tr")
        settle(browser)
        yield f"sessions-{tab}"
    browser.open("/admin-manager")
    browser.find("#admin-list tr[data-email]")
    settle(browser)
    yield "admin-manager"


@pytest.mark.parametrize("language,width", [("en", 1366), ("en", 390), ("ja", 390), ("ja", 1366)])
def test_every_page_state_holds_its_layout(browser, language, width):
    browser.viewport(width)
    browser.open("/token-manager")
    browser.driver.execute_script("localStorage.setItem('gateway.lang', arguments[0])", language)
    seen, broken = [], {}
    for name in states(browser):
        seen.append(name)
        found = layout.problems(browser) + layout.untranslated(browser)
        if language == "en" or width == 390:  # axe: both widths; its rules do not depend on the language
            found += layout.accessibility(browser)
        if found:
            broken[name] = found
        browser.page_shot(f"{name}-{language}-{width}")
    assert len(seen) == 11
    assert not broken, "\n".join(f"{name}: {problem}" for name, found in broken.items() for problem in found[:8])
