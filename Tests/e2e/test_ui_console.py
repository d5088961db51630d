"""The browser's log stays clean: every page a person may open, for each role (user, admin,
super admin), loads without a single error in Chromium's console (no probing of admin routes
for the navigation, no missing icon), and `GET /api/me` says who is signed in."""

import pytest
from selenium.webdriver.common.by import By

from harness.browser import fresh_email

PAGES = {
    "user": ["/token-manager", "/my-access"],
    "admin": ["/token-manager", "/my-access", "/token-session-manager#users", "/token-session-manager#audit"],
    "super_admin": ["/token-manager", "/my-access", "/token-session-manager#cleanup", "/admin-manager"],
}
EMAILS = {"admin": "admin@example.com", "super_admin": "root@example.com"}


def test_api_me_names_the_caller_and_roles(stack):
    person = fresh_email("me")
    answer = stack.sign_in(person).get(stack.url("/api/me"), headers={"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.8"})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.json() == {
        "email": person,
        "name": person.split("@")[0],
        "roles": ["user"],
        "is_admin": False,
        "is_super_admin": False,
        "language": "ja",
    }
    root = stack.sign_in("root@example.com").get(stack.url("/api/me")).json()
    assert root["roles"] == ["user", "admin", "super_admin"] and root["language"] == "en"
    assert stack.sign_in("admin@example.com").get(stack.url("/api/me")).json()["roles"] == ["user", "admin"]


@pytest.mark.parametrize("role", ["user", "admin", "super_admin"])
def test_no_console_error_on_any_page_for_any_role(stack, browsers, role):
    browser = browsers()
    email = EMAILS.get(role) or fresh_email("console")
    browser.sign_in(email)
    browser.console()  # what the sign-in pages logged is not ours
    for path in PAGES[role]:
        browser.open(path)
        browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#whoami"))
        browser.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "[aria-busy=true], [data-state=loading]"))
        assert browser.text("#whoami") == email
        shown = {
            a.get_attribute("href").split("/")[-1]
            for a in browser.driver.find_elements(By.CSS_SELECTOR, ".topbar nav a")
            if a.is_displayed()
        }
        assert ("token-session-manager" in shown) == (role != "user"), (path, shown)
        assert ("admin-manager" in shown) == (role == "super_admin"), (path, shown)
        current = browser.driver.find_element(By.CSS_SELECTOR, '.topbar nav a[aria-current="page"]')
        assert path.split("#")[0] == "/" + current.get_attribute("href").split("/")[-1]
        errors = [entry["message"] for entry in browser.console() if entry["level"] in ("SEVERE", "WARNING")]
        assert errors == [], (role, path, errors)
