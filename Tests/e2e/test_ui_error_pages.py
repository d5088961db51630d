"""HTML for people, JSON for programs, on the gateway's page paths and unknown paths: decided by
the browser's Sec-Fetch-Dest/Sec-Fetch-Mode (Accept without them). Raw requests, as a browser
and as curl would send them, and the 404 page in Chromium in both languages."""

import pytest

from harness.browser import fresh_email
from harness.checks import assert_json_error
from harness.probes import send

BROWSER = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
OLD_BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
FETCH = {"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors", "Accept": "*/*"}
PROGRAM = {"Accept": "application/json"}


def request(stack, path, headers):
    return send(stack, "GET", path, headers)


@pytest.mark.parametrize("headers,html", [(BROWSER, True), (OLD_BROWSER, True), (FETCH, False), (PROGRAM, False), ({}, False)])
@pytest.mark.parametrize("path", ["/no-such-page", "/token-manager/extra", "/favicon.png"])
def test_an_unknown_path_is_a_page_for_a_browser_and_json_for_a_program(stack, path, headers, html):
    response = request(stack, path, headers)
    status, kind, body = response.status, response.getheader("Content-Type"), response.body.decode()
    assert status == 404
    if html:
        assert kind.startswith("text/html") and 'id="error-title">Page not found<' in body and "ページが見つかりません" in body
    else:
        assert kind.startswith("application/json") and '"code":"not_found"' in body


@pytest.mark.parametrize("headers,html", [(BROWSER, True), (OLD_BROWSER, True), (FETCH, False), (PROGRAM, False)])
def test_a_refused_page_is_html_for_a_browser_and_json_for_a_program(stack, headers, html):
    cookie = "; ".join(f"{k}={v}" for k, v in stack.sign_in(fresh_email("pages")).cookies.items())
    response = request(stack, "/admin-manager", dict(headers, Cookie=cookie))
    if not html:
        assert_json_error(response, 403, "not_super_admin")
        return
    body = response.body.decode()
    assert response.status == 403 and response.getheader("Content-Type").startswith("text/html")
    assert "super administrator only" in body and "スーパー管理者専用" in body


def test_signed_out_browser_goes_to_sign_in_and_back(stack):
    response = request(stack, "/my-access", BROWSER)
    assert response.status == 302 and response.getheader("Location").endswith("/oauth2/start?rd=/my-access")


def test_the_404_page_in_chromium_has_both_languages_and_a_clean_log(stack, browsers):
    browser = browsers("ja")
    browser.sign_in(fresh_email("lost"))
    browser.console()
    browser.open("/tokens-manager")
    assert browser.text("#error-title") == "Page not found"
    assert browser.text("#error-title-ja") == "ページが見つかりません"
    assert browser.find("#home").get_attribute("href").endswith("/token-manager")
    errors = [e["message"] for e in browser.console() if e["level"] == "SEVERE" and "404" not in e["message"]]
    assert errors == []
