"""The browser page object for the UI tests: one headless Chromium (Debian's chromium and
chromedriver) with its own cookies, and the steps a person takes in it."""

import os
import shutil
import uuid
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
DOCS_SHOTS = ROOT / "docs" / "screenshots"


def fresh_email(prefix="user"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


class Browser:
    """One headless Chromium with its own cookies, and the steps a person takes in it."""

    def __init__(self, stack, language="en", network_log=False):
        self.stack = stack
        options = Options()
        options.binary_location = "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", f"--lang={language}"):
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"intl.accept_languages": language})
        # network_log: Chromium's performance log (CDP Network.* events), read by network_events().
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", **({"performance": "ALL"} if network_log else {})})
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.execute_cdp_cmd(
            "Browser.grantPermissions", {"origin": stack.base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}
        )

    def quit(self):
        self.driver.quit()

    def wait(self, condition, timeout=30):  # generous: the CI machine is small and shared
        return WebDriverWait(self.driver, timeout).until(condition)

    def find(self, css):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def click(self, css):
        self.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, css))).click()

    def text(self, css):
        return self.find(css).text

    def open(self, path):
        self.driver.get(self.stack.url(path))

    def sign_in(self, email, then="/token-manager"):
        """Signs in through the identity service's form, as a person would, and lands on `then`."""
        self.open(then)
        self.submit_sign_in(email)
        self.wait(lambda d: d.current_url.split("#")[0] == self.stack.url(then))

    def submit_sign_in(self, email):
        field = self.find("input#email")
        field.clear()
        field.send_keys(email)
        field.submit()

    def confirm(self):
        self.click("#confirm-ok")
        self.wait(EC.invisibility_of_element_located((By.CSS_SELECTOR, "#confirm-dialog")))

    def row(self, table_body, attribute, value):
        return self.find(f'#{table_body} tr[data-{attribute}="{value}"]')

    def open_tab(self, name):
        """A tab of the session manager (users, sessions, tokens, audit, cleanup)."""
        self.click(f"#tab-{name}")
        self.find(f"#panel-{name}")

    def search_tokens(self, email, rows):
        """The session manager's tokens tab, searched for `email`, once it lists `rows` tokens."""
        self.open_tab("tokens")
        self.find("#tokens-search").send_keys(email)
        self.click('#tokens-search-form button[type="submit"]')
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tokens-list tr[data-token-id]")) == rows)

    def error_kind(self, kind, timeout=30):
        """Waits for the page's error banner to show an error of this kind (data-kind); its text."""
        self.wait(
            lambda d: (
                d.find_element(By.CSS_SELECTOR, "#page-error").get_attribute("data-kind") == kind
                and d.find_element(By.CSS_SELECTOR, "#page-error").is_displayed()
            ),
            timeout,
        )
        return self.text("#page-error")

    def toast(self):
        return self.text("#toast")

    def error_banner(self, containing=""):
        self.wait(lambda d: containing in d.find_element(By.CSS_SELECTOR, "#page-error").text)
        return self.text("#page-error")

    def console(self):
        """The browser console since the last call (goog:loggingPrefs browser=ALL). Raises when
        the driver cannot give it: a check built on it must not pass for want of a log."""
        return self.driver.get_log("browser")

    def network_events(self):
        """The CDP Network.* events since the last call (needs Browser(network_log=True))."""
        import json

        events = (json.loads(entry["message"])["message"] for entry in self.driver.get_log("performance"))
        return [event for event in events if event["method"].startswith("Network.")]

    def csp_violations(self):
        return [entry["message"] for entry in self.console() if "Content Security Policy" in entry["message"]]

    def assert_no_csp_violation(self):
        """No Content Security Policy violation reported since the last console read; then the
        control: an inline script injected now is refused and reported, so the empty list came
        from a log that is read (and from a policy that is on)."""
        assert self.csp_violations() == []
        self.driver.execute_script(
            "const s = document.createElement('script'); s.textContent = 'window.injectedByTest = 1'; document.body.appendChild(s);"
        )
        assert self.driver.execute_script("return window.injectedByTest === undefined")
        assert self.wait(lambda d: self.csp_violations(), timeout=5)

    def viewport(self, width, height=900):
        """The page as on a screen `width` CSS pixels wide (390: a phone, with touch-style
        layout; 1366: a laptop), through DevTools, so the size is exact in headless mode."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
        )
        self.width = width

    def page_shot(self, name, max_height=None):
        """The page at the current viewport width, as tall as the page (at most `max_height`:
        1300 px on a phone, one 900 px screen on a laptop, so that the committed pictures stay
        small), into test-artifacts/screenshots/ and, with UI_SCREENSHOTS_TO_DOCS=1, docs/screenshots/."""
        import base64

        SHOTS.mkdir(parents=True, exist_ok=True)
        width = getattr(self, "width", 1280)
        max_height = max_height or (1300 if width < 600 else 900)
        height = min(self.driver.execute_script("return document.documentElement.scrollHeight"), max_height)
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
        )
        path = SHOTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        if os.environ.get("UI_SCREENSHOTS_TO_DOCS") == "1":
            DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, DOCS_SHOTS / path.name)
        return path

    def screenshot(self, name):
        """The whole page (the window grows to the page's height for the picture)."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, min(max(height + 140, 700), 3000))
        self.driver.execute_script("window.scrollTo(0, 0)")
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(1280, 1000)
        if os.environ.get("UI_SCREENSHOTS_TO_DOCS") == "1":
            DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, DOCS_SHOTS / path.name)
