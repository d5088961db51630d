"""LiteLLM's admin UI for gateway admins: an admin who opens /ui lands in LiteLLM's UI signed in
as proxy admin without the master key reaching the browser; everyone else gets the gateway's
HTML page; LiteLLM's own sign-in routes are closed; cross-site requests to LiteLLM's admin
surface (GETs included: some of LiteLLM's GET routes change state) are refused. Checked in
headless Chromium (cookies, storage, DOM, every response of the network log) and with raw
requests, from LiteLLM's side (its request recorder and access log)."""

import base64
import hashlib
import hmac
import json
import time
import types
import uuid

import pytest

from harness.jwts import claims_of
from harness.probes import cookie_header, exchange, litellm_log
from harness.stack import free_port, sibling_stack


def header(headers, name):
    return next((value for key, value in headers if key.lower() == name.lower()), None)


# --- the hand-over, raw ---------------------------------------------------------------------

# What Chromium sends when a person opens a page (Pages.wantsHTML decides by these).
BROWSER_NAVIGATION = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
UI_TARGETS = ["/ui", "/ui/", "/ui/login/", "/ui/api-keys/", "/ui/?login=success"]


@pytest.mark.parametrize("target", UI_TARGETS)
def test_ui_answers_by_who_asks(stack, target):
    """Signed out: off to sign-in. Non-admin: the gateway's HTML page. Admin: LiteLLM's UI with
    the gateway's UI session cookie, whose key is a placeholder and which the master key did not sign."""
    status, headers, body = exchange(stack, "GET", target)
    assert status == 302 and header(headers, "Location").endswith("/oauth2/start?rd=" + target), headers

    user = cookie_header(stack.sign_in(f"ui-user-{uuid.uuid4().hex[:8]}@example.com"))
    # A person's browser loading the page: the gateway's HTML page.
    status, headers, body = exchange(stack, "GET", target, {"Cookie": user, **BROWSER_NAVIGATION})
    assert status == 403 and header(headers, "Content-Type").startswith("text/html"), (status, headers)
    assert b"administrators only" in body and not header(headers, "Set-Cookie")
    # A program asking the same (no browser navigation headers): JSON with its code.
    status, headers, body = exchange(stack, "GET", target, {"Cookie": user})
    assert status == 403 and header(headers, "Content-Type").startswith("application/json"), (status, headers)
    assert json.loads(body)["code"] == "not_admin" and not header(headers, "Set-Cookie")

    admin = cookie_header(stack.sign_in("admin@example.com"))
    status, headers, body = exchange(stack, "GET", target, {"Cookie": admin})
    assert status in (200, 307), (status, body[:200])
    cookies = [value for key, value in headers if key.lower() == "set-cookie"]
    assert len(cookies) == 1 and cookies[0].startswith("token="), cookies
    attributes = [part.strip() for part in cookies[0].split(";")]
    assert "Path=/ui" in attributes and "SameSite=Strict" in attributes and "HttpOnly" not in attributes
    token = attributes[0][len("token=") :]
    claims = claims_of(token)
    assert claims["key"] == "gateway-managed-session" and claims["user_role"] == "proxy_admin", claims
    assert claims["user_email"] == "admin@example.com" and claims["exp"] > time.time()
    signing_input, signature = token.rsplit(".", 1)
    with_master = base64.urlsafe_b64encode(hmac.new(stack.master_key.encode(), signing_input.encode(), hashlib.sha256).digest())
    assert with_master.rstrip(b"=").decode() != signature, "the UI cookie is signed with the master key"
    assert stack.master_key.encode() not in body and all(stack.master_key not in value for _, value in headers)


def test_the_ui_cookie_grants_nothing_without_the_admins_sign_in(stack):
    """The cookie alone (no OAuth2 session) reaches neither the UI nor the admin API."""
    admin = cookie_header(stack.sign_in("admin@example.com"))
    _, headers, _ = exchange(stack, "GET", "/ui/", {"Cookie": admin})
    ui_cookie = header(headers, "Set-Cookie").split(";")[0]
    status, _, _ = exchange(stack, "GET", "/ui/", {"Cookie": ui_cookie})
    assert status == 302
    status, _, body = exchange(stack, "GET", "/key/info", {"Cookie": ui_cookie, "Authorization": "Bearer gateway-managed-session"})
    assert status == 401 and json.loads(body)["code"] == "unauthenticated"


# --- LiteLLM's own sign-in routes: closed --------------------------------------------------

# (method, target): LiteLLM's sign-in and invitation routes in the installed version, GET ones
# change state (SSO start and callback, debug SSO, SAML, CLI sign-in poll, invitation tokens).
CLOSED = [
    ("GET", "/sso/key/generate"),
    ("GET", "/sso/callback?code=x&state=y"),
    ("GET", "/sso/debug/login"),
    ("GET", "/sso/debug/callback?code=x"),
    ("GET", "/sso/saml/login"),
    ("GET", "/sso/saml/metadata"),
    ("GET", "/sso/cli/poll/key-1"),
    ("GET", "/onboarding/get_token?invite_link=x"),
    ("POST", "/onboarding/claim_token"),
    ("POST", "/v2/login"),
    ("POST", "/v3/login"),
    ("POST", "/v3/login/exchange"),
]


@pytest.mark.parametrize("method,target", CLOSED)
def test_litellms_own_sign_in_routes_are_closed_even_to_an_admin(stack, method, target):
    admin = cookie_header(stack.sign_in("admin@example.com"))
    marker = uuid.uuid4().hex
    probe = target + ("&" if "?" in target else "?") + f"probe={marker}"
    body = b'{"username":"admin","password":"x"}' if method == "POST" else None
    status, headers, answer = exchange(stack, method, probe, {"Cookie": admin, "Content-Type": "application/json"}, body)
    assert status == 403 and json.loads(answer)["code"] == "litellm_sign_in_closed", (status, answer)
    time.sleep(0.2)
    assert marker not in litellm_log(stack)


def test_litellms_password_sign_in_is_not_routed(stack):
    admin = cookie_header(stack.sign_in("admin@example.com"))
    for method, target in [("POST", "/login"), ("GET", "/fallback/login"), ("GET", "/login")]:
        status, _, answer = exchange(stack, method, target, {"Cookie": admin})
        assert status == 404 and json.loads(answer)["code"] == "not_found", (target, status)


# --- cross-site requests to the admin surface ------------------------------------------------

# LiteLLM GET routes on the admin surface that act (a test alert to a service, an MCP OAuth
# flow's state), and a plain read: each is refused to a cross-site request.
SIDE_EFFECT_GETS = [
    "/health/services?service=slack_budget_alerts",
    "/v1/mcp/oauth/authorize?server_id=x&redirect_uri=http://evil.example/",
    "/key/info",
]
CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    {"Sec-Fetch-Site": "same-site"},
    {"Referer": "http://evil.example/page"},
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "same-origin", "Referer": "https://evil.example/"},
]


@pytest.mark.parametrize("target", SIDE_EFFECT_GETS)
def test_a_cross_site_get_to_litellms_admin_surface_is_refused(stack, target):
    admin = cookie_header(stack.sign_in("admin@example.com"))
    port = stack.env["GATEWAY_PORT"]
    markers = []
    for index, spoof in enumerate(CROSS_SITE):
        marker = f"{uuid.uuid4().hex}-x{index}"
        markers.append(marker)
        status, _, answer = exchange(
            stack, "GET", f"{target}&probe={marker}" if "?" in target else f"{target}?probe={marker}", dict(spoof, Cookie=admin)
        )
        assert status == 403 and json.loads(answer)["code"] == "csrf", (spoof, status, answer[:200])
    # The same request from the gateway's own pages (or without browser headers) reaches LiteLLM.
    same = [{"Sec-Fetch-Site": "same-origin", "Referer": f"http://127.0.0.1:{port}/ui/"}, {"Sec-Fetch-Site": "none"}, {}]
    reached = []
    for index, headers in enumerate(same):
        marker = f"{uuid.uuid4().hex}-s{index}"
        reached.append(marker)
        status, _, answer = exchange(
            stack, "GET", f"{target}&probe={marker}" if "?" in target else f"{target}?probe={marker}", dict(headers, Cookie=admin)
        )
        assert status not in (401, 403, 502, 503), (headers, status, answer[:200])
    deadline = time.time() + 15
    while not all(marker in litellm_log(stack) for marker in reached):
        assert time.time() < deadline, "LiteLLM never received the same-origin requests"
        time.sleep(0.1)
    assert not any(marker in litellm_log(stack) for marker in markers)


# --- Chromium, with GATEWAY_PUBLIC_URL on a non-default port ---------------------------------


@pytest.fixture(scope="module")
def public_stack(stack):
    """A gateway whose GATEWAY_PUBLIC_URL names another host than the listener's address
    (localhost, on its own non-default port): the browser uses the public URL throughout."""
    port = free_port()
    with sibling_stack(stack, "ui-public", GATEWAY_PORT=str(port), GATEWAY_PUBLIC_URL=f"http://localhost:{port}") as started:
        yield started


def public_browser(stack):
    from harness.browser import Browser

    base = stack.env["GATEWAY_PUBLIC_URL"]
    return Browser(types.SimpleNamespace(base=base, url=lambda path: base + path), network_log=True)


def everything_the_browser_holds(browser) -> str:
    driver = browser.driver
    cookies = driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
    storage = driver.execute_script(
        "const dump = s => Object.fromEntries(Object.keys(s).map(k => [k, s.getItem(k)]));"
        "return JSON.stringify([dump(window.localStorage), dump(window.sessionStorage)]);"
    )
    return json.dumps(cookies) + storage + driver.page_source


def responses_with_bodies(browser) -> tuple:
    """Every network event (headers of requests and responses) and every response body Chromium still holds."""
    events = browser.network_events()
    bodies = {}
    for event in events:
        if event["method"] != "Network.loadingFinished":
            continue
        request_id = event["params"]["requestId"]
        try:
            body = browser.driver.execute_cdp_cmd("Network.getResponseBody", {"requestId": request_id})
        except Exception:  # a redirect or a resource already evicted has no body to read
            continue
        bodies[request_id] = base64.b64decode(body["body"]).decode("latin-1") if body.get("base64Encoded") else body["body"]
    urls = {
        event["params"]["requestId"]: event["params"]["response"]["url"]
        for event in events
        if event["method"] == "Network.responseReceived"
    }
    return events, {urls.get(request_id, request_id): text for request_id, text in bodies.items()}


def test_an_admin_opens_litellms_ui_from_the_navigation_signed_in_without_the_master_key(public_stack):
    stack = public_stack
    base = stack.env["GATEWAY_PUBLIC_URL"]
    browser = public_browser(stack)
    try:
        browser.sign_in("admin@example.com")
        browser.network_events()
        started = len(stack.litellm_requests())
        browser.click("#nav-litellm-ui")  # href="/ui": LiteLLM's redirect to /ui/ keeps the public URL
        # Past LiteLLM's login: its dashboard, with the admin's menu.
        browser.wait(lambda d: "Virtual Keys" in d.find_element("css selector", "body").text and "/login" not in d.current_url, 60)
        assert browser.driver.current_url == f"{base}/ui/"
        browser.wait(lambda d: "Admin" in d.find_element("css selector", "body").text)
        time.sleep(2)  # the page's last calls finish
        # Bodies are read per page: Chromium drops a page's resources when the next one loads.
        events, bodies = responses_with_bodies(browser)
        assert f"{base}/ui/" in bodies and any("/management/v1/users/me" in url for url in bodies), sorted(bodies)[:20]
        # A second page that needs no database: the models page's own controls.
        browser.driver.get(f"{base}/ui/models-and-endpoints")
        browser.wait(lambda d: "Model Management" in d.find_element("css selector", "body").text, 60)
        assert "/login" not in browser.driver.current_url
        time.sleep(2)  # the pages' last calls finish
        browser.screenshot("litellm-ui-signed-in")

        # LiteLLM received the UI's calls with the master key, swapped in by nginx.
        whoami = [r for r in stack.litellm_requests()[started:] if r["path"] == "/management/v1/users/me"]
        assert whoami and all(record["key"] == "master" for record in whoami), whoami

        more_events, more_bodies = responses_with_bodies(browser)
        events, bodies = events + more_events, dict(bodies, **more_bodies)
        assert f"{base}/ui/models-and-endpoints/" in bodies or f"{base}/ui/models-and-endpoints" in bodies, sorted(bodies)[:20]
        assert len(bodies) >= 10, len(bodies)
        leaks = [url for url, text in bodies.items() if stack.master_key in text]
        assert leaks == [], f"the master key is in the answers of {leaks}"
        assert stack.master_key not in json.dumps(events), "the master key is in a request or answer header"
        assert stack.master_key not in everything_the_browser_holds(browser)
        # What the UI sent as Authorization: the placeholder, never the key.
        whoami_ids = {
            event["params"]["requestId"]
            for event in events
            if event["method"] == "Network.requestWillBeSent" and "/management/v1/users/me" in event["params"]["request"]["url"]
        }
        sent = {
            value
            for event in events
            if event["params"].get("requestId") in whoami_ids
            for name, value in (event["params"].get("headers") or event["params"].get("request", {}).get("headers", {})).items()
            if name.lower() == "authorization"
        }
        assert sent == {"Bearer gateway-managed-session"}, sent
    finally:
        browser.quit()


def test_a_non_admin_who_opens_ui_gets_the_gateways_page(public_stack):
    stack = public_stack
    browser = public_browser(stack)
    try:
        browser.sign_in(f"ui-nonadmin-{uuid.uuid4().hex[:8]}@example.com")
        links = browser.driver.find_elements("css selector", "#nav-litellm-ui")
        assert links and not links[0].is_displayed(), "a non-admin sees the LiteLLM UI link"
        browser.open("/ui")
        assert browser.text("#error-title") == "Not allowed"
        assert "administrators only" in browser.text("#error-message")
        assert browser.driver.get_cookie("token") is None
    finally:
        browser.quit()


def test_no_get_answer_of_the_admin_surface_holds_the_master_key(stack):
    """Every path LiteLLM's UI calls (scripts/litellm-ui-routes --paths), read by an admin: no
    answer body or header holds the master key (LiteLLM answers the master key's own identity
    with an alias; configuration reads mask it)."""
    import subprocess
    import sys

    from harness.stack import ROOT

    paths = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "litellm-ui-routes"), "--paths"], capture_output=True, text=True, check=True
    ).stdout.split()
    admin = cookie_header(stack.sign_in("admin@example.com"))
    leaks, answered = [], 0
    for path in sorted(set(paths)):
        status, headers, body = exchange(stack, "GET", path, {"Cookie": admin})
        answered += status not in (403, 404)
        if stack.master_key.encode() in body or any(stack.master_key in value for _, value in headers):
            leaks.append(path)
    assert answered > 100 and leaks == [], leaks
