"""LiteLLM's admin UI through the gateway: the admin locations (openresty/litellm_admin_routes.conf)
are exactly what scripts/litellm-ui-routes derives from the installed LiteLLM's UI build; each
reaches LiteLLM for an admin (seen in LiteLLM's own access log) and is refused for a signed-in
non-admin and for an anonymous caller (raw requests); and /ui opened by an admin in headless
Chromium calls nothing the gateway does not route."""

import json
import re
import subprocess
import sys
import time
import uuid

import pytest

from harness.probes import cookie_header, exchange, litellm_log
from harness.stack import ROOT

ROUTES_FILE = ROOT / "openresty" / "litellm_admin_routes.conf"


def locations() -> list:
    return re.findall(r"^location (=|\^~) (\S+) \{", ROUTES_FILE.read_text(), re.M)


def test_the_admin_locations_are_what_the_installed_litellm_ui_calls():
    derived = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "litellm-ui-routes")], capture_output=True, text=True, check=True
    ).stdout
    assert derived == ROUTES_FILE.read_text(), (
        "LiteLLM's UI calls other routes than openresty/litellm_admin_routes.conf lists: "
        "run scripts/litellm-ui-routes > openresty/litellm_admin_routes.conf and review the difference"
    )


def test_the_ui_calls_routes_the_old_hand_written_list_missed():
    paths = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "litellm-ui-routes"), "--paths"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "/.well-known/litellm-ui-config" in paths and any(path.startswith("/model/") for path in paths)
    listed = {path for _, path in locations()}
    assert {"= /.well-known/litellm-ui-config", "^~ /model/"} <= {f"{kind} {path}" for kind, path in locations()}
    assert "/v1/" not in listed and "/api/" not in listed and "/health" not in listed and "/oauth2/" not in listed


def probe_path(kind: str, path: str) -> str:
    if kind == "=":
        return path
    return path + ("gateway-probe" if path.endswith("/") else "/gateway-probe")


@pytest.mark.parametrize("kind,path", locations())
def test_each_admin_location_reaches_litellm_for_an_admin_only(stack, kind, path, email):
    target = probe_path(kind, path)
    marker = uuid.uuid4().hex
    user = cookie_header(stack.sign_in(email))
    admin = cookie_header(stack.sign_in("admin@example.com"))

    status, _, body = exchange(stack, "GET", f"{target}?probe=anon-{marker}")
    assert status == 401 and json.loads(body)["code"] == "unauthenticated"
    status, _, body = exchange(stack, "GET", f"{target}?probe=user-{marker}", {"Cookie": user})
    assert status == 403 and json.loads(body)["code"] == "not_admin", body
    status, _, body = exchange(stack, "GET", f"{target}?probe=admin-{marker}", {"Cookie": admin})
    assert not (status == 404 and b'"code":"not_found"' in body), "the gateway itself answered 404"
    assert not (status in (401, 403) and b'"code"' in body and b"not_admin" in body)

    deadline = time.time() + 15
    while f"{target}?probe=admin-{marker} HTTP/1.1" not in litellm_log(stack):
        assert time.time() < deadline, f"LiteLLM never received the admin's {target}"
        time.sleep(0.05)
    log = litellm_log(stack)
    assert f"probe=user-{marker}" not in log and f"probe=anon-{marker}" not in log


def test_an_admin_opens_litellms_ui_in_chromium_and_every_call_it_makes_is_routed(stack):
    from harness.browser import Browser

    browser = Browser(stack)
    try:
        browser.sign_in("admin@example.com")  # OAuth2 Proxy's sign-in, then LiteLLM's UI
        access_log = stack.run_dir / "logs" / "access.log"
        start = access_log.stat().st_size
        browser.open("/ui/")
        browser.wait(lambda d: d.execute_script("return document.readyState") == "complete")
        # LiteLLM's UI renders its own page (title "LiteLLM ...") and asks its config route.
        browser.wait(lambda d: "litellm" in (d.title or "").lower() or "LiteLLM" in d.page_source)
        deadline = time.time() + 30
        while "/litellm-ui-config" not in access_log.read_text(errors="replace")[start:]:
            assert time.time() < deadline, "the UI never asked for its configuration"
            time.sleep(0.1)
        browser.screenshot("litellm-ui-admin")
        lines = access_log.read_text(errors="replace")[start:].splitlines()
        # From the UI's page on (the token manager's own calls may still be finishing).
        lines = lines[next(index for index, line in enumerate(lines) if '"GET /ui/"' in line) :]
        # The gateway's own 404 (location /) has no upstream: "$status $bytes $time -".
        unrouted = [line for line in lines if re.search(r'" 404 \d+ [\d.]+ - ', line)]
        assert unrouted == [], "the UI called routes the gateway does not route"
        # /v1 is the JWT API with its own allow-list: the UI's /v1 pages do not work (docs/deployment.md).
        refused = [
            line
            for line in lines
            if re.search(r'" 40[13] ', line) and "/ui" not in line and '"GET /v1/' not in line and '"POST /v1/' not in line
        ]
        assert refused == [], "the UI's calls were refused for an admin"
    finally:
        browser.quit()
