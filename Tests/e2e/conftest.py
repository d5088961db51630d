"""pytest fixtures for the end-to-end tests: the real stack (redis-server, LiteLLM with mock
models, the Swift workers, the dev identity service, nginx) started once per test session on
free loopback ports in a temporary run folder, and stopped afterwards. How a stack starts lives
in Tests/harness/stack.py (shared with `make bench` and the soak); tests import helpers from
`harness.*`, never from this file.

Set E2E_REUSE_RUN_DIR to a folder with a running stack (scripts/stack start) to skip startup.
"""

import os
import uuid
from pathlib import Path

import pytest

from harness.stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack():
    reuse = os.environ.get("E2E_REUSE_RUN_DIR")
    if reuse:
        yield Stack(Path(reuse), dict(os.environ))
        return
    with running_stack() as started:
        yield started


@pytest.fixture
def browsers(stack):
    """Opens headless Chromium browsers on demand (`browsers()` / `browsers("ja")`); all are
    closed after the test."""
    from harness.browser import Browser  # selenium only for the tests that use a browser

    opened = []

    def make(language="en"):
        browser = Browser(stack, language)
        opened.append(browser)
        return browser

    yield make
    for browser in opened:
        browser.quit()


@pytest.fixture
def email():
    """A fresh user e-mail per test, so tests never see each other's keys."""
    return f"user-{uuid.uuid4().hex[:10]}@example.com"
