"""docs/openapi.yaml: every /api route of the route table has an operation and the reverse; the
document is served to signed-in users; schemathesis checks the live stack against it, signed in
as a user and as an admin (bounded examples per operation): no 5xx, every answer as documented."""

import http.client
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from harness.routes import endpoints
from harness.stack import ROOT

DOCUMENT = ROOT / "docs" / "openapi.yaml"
# Served by nginx itself (openresty/gateway.conf), not by a worker route.
NGINX_SERVED = {("GET", "/api/openapi.yaml")}


def route_table() -> set:
    """(method, path) of every /api route; a prefix route as its prefix + `{}`."""
    return {(method, path + "{}" if prefix else path) for method, path, prefix, _ in endpoints() if path.startswith("/api/")}


def documented() -> set:
    operations = set()
    for path, item in yaml.safe_load(DOCUMENT.read_text())["paths"].items():
        key = path[: path.index("{")] + "{}" if "{" in path else path
        operations |= {(method.upper(), key) for method in item}
    return operations


def test_every_route_is_documented_and_every_operation_routed():
    routes = route_table()
    assert len(routes) >= 20
    assert documented() == routes | NGINX_SERVED


def test_document_is_openapi_3_1_with_error_codes():
    document = yaml.safe_load(DOCUMENT.read_text())
    assert document["openapi"].startswith("3.1")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "401" in operation["responses"], (method, path)


def test_served_to_signed_in_users_only(stack, email):
    assert stack.sign_in(email).get(stack.url("/api/openapi.yaml")).content == DOCUMENT.read_bytes()
    anonymous = requests.get(stack.url("/api/openapi.yaml"), timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"


# The admin may end any session, and would find and end the run's own (then rightly 401).
EXCLUDED = "DELETE /api/admin/sessions/{session_key}"


def documented_operations() -> set:
    """(METHOD, path template) of every operation in docs/openapi.yaml."""
    paths = yaml.safe_load(DOCUMENT.read_text())["paths"]
    return {(method.upper(), path) for path, item in paths.items() for method in item}


def authentication_failures(output: str) -> dict:
    """{status: {"METHOD /path"}} from schemathesis' "Authentication failed" warning: the
    operations that answered only 401/403, grouped by status."""
    groups, status, inside = {}, None, False
    for line in output.splitlines():
        if line.startswith("Authentication failed:"):
            inside = True
        elif inside and (match := re.match(r"(\d{3}) .*\(\d+ operations?\):", line)):
            status = match.group(1)
        elif inside and status and (match := re.match(r"\s+- (\S+ \S+)$", line)):
            groups.setdefault(status, set()).add(match.group(1))
        elif inside and line.startswith("💡"):
            inside = status = None
    return groups


@pytest.mark.parametrize("who", ["user@example.com", "admin@example.com"])
def test_schemathesis_against_the_live_stack(stack, who, tmp_path):
    """Signed in, so no answer may be 401. Schemathesis' "Authentication failed" warning (the
    operations that answered only 401/403) must name exactly the operations this caller may not
    use, all 403. Every exchange of its HAR report is read for a 401
    (a control: the report holds the run's signed-in requests)."""
    admin = who.startswith("admin")
    cookie = stack.sign_in(who).cookies["_oauth2_proxy"]
    har = tmp_path / "exchanges.har"
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "run",
            str(DOCUMENT),
            "--url",
            stack.base,
            "--header",
            f"Cookie: _oauth2_proxy={cookie}",
            "--max-examples",
            "8",
            "--seed",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--checks",
            "all",
            "--request-timeout",
            "10",
            # A 400 for a schema-valid request is allowed: e-mails, token names, scopes and paging
            # cursors are checked by rules the document states in words, JSON Schema only approximates.
            # A fixed path under a templated one (/api/admin/sessions/stats under
            # /api/admin/sessions/{session_key}, /api/admin/tokens/revoke-user under
            # /api/admin/tokens/{email_or_token_id}) also has the template's methods, so its Allow
            # names them and they answer there (documented under the template), not 405.
            "--exclude-checks",
            "positive_data_acceptance,allow_header_conformance,unsupported_method",
            "--report",
            "har",
            "--report-har-path",
            str(har),
            "--exclude-name",
            EXCLUDED,
            "--suppress-health-check",
            "all",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=tmp_path,
    )
    report = ROOT / "test-artifacts" / f"schemathesis-{who.split('@')[0]}.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"see {report}\n" + result.stdout[-6000:] + result.stderr[-2000:]
    refusing = authentication_failures(result.stdout)
    # Refused with 403: to a user every admin operation, to an admin who is not the super admin
    # the admin manager's.
    refused_prefix = "/api/admin/manage" if admin else "/api/admin/"
    expected = {
        "403": {
            f"{method} {path}"
            for method, path in documented_operations()
            if path.startswith(refused_prefix) and f"{method} {path}" != EXCLUDED
        }
    }
    assert refusing == expected, f"see {report}"
    entries = json.loads(har.read_text())["log"]["entries"]
    signed_in = [entry for entry in entries if any(h["name"].lower() == "cookie" for h in entry["request"]["headers"])]
    assert len(signed_in) >= 200, f"{len(signed_in)} signed-in exchanges in {har}"
    refused = sorted({f"{e['request']['method']} {e['request']['url']}" for e in signed_in if e["response"]["status"] == 401})
    assert refused == [], f"{len(refused)} answers 401 to a signed-in {who}: {refused[:20]}"


def test_a_method_nginx_refuses_is_json_with_allow(stack):
    connection = http.client.HTTPConnection("127.0.0.1", int(stack.env["GATEWAY_PORT"]), timeout=10)
    connection.request("TRACE", "/api/token/list")
    response = connection.getresponse()
    body = response.read()
    assert response.status == 405 and response.getheader("Allow")
    assert json.loads(body)["code"] == "method_not_allowed"
