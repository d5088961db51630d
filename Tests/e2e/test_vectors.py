"""Fixed vectors the Swift tests hold, recomputed from their independent sources so that the
two cannot drift apart (no stack needed)."""

import subprocess
import sys

from harness.stack import ROOT


def test_the_oauth2_proxy_cookie_vector_in_the_swift_tests_is_what_the_script_computes():
    output = subprocess.run(
        [sys.executable, str(ROOT / "Tests" / "vectors" / "oauth2_proxy_cookie.py")], capture_output=True, text=True, check=True
    ).stdout
    values = dict(line.split(": ", 1) for line in output.splitlines())
    swift = (ROOT / "Tests" / "GatewayTests" / "CookieTests.swift").read_text()
    assert f'"{values["cookie value"]}"' in swift
    assert f'"{values["session key (Redis)"]}"' in swift
