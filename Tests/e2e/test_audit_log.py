"""The audit log people can read: sign-ins and token creation recorded exactly once (checked in
Redis), filters by actor, action and time sent as raw requests (bad values: 400 with a stable
code), CSV/JSON export as downloads (CSV cells a spreadsheet would run as formulas defused), and
the audit tab in Chromium with its filters and translated action names in both languages."""

import csv
import io
import json
import time

import pytest
from selenium.webdriver.common.by import By

from harness.browser import fresh_email
from harness.checks import assert_json_error
from harness.probes import cookie_header, send

ADMIN = "admin@example.com"


def audit_entries(stack, actor):
    """Every audit stream entry (straight from Redis) whose actor is `actor`."""
    return [fields for _, fields in stack.redis.xrange("gw:audit") if fields.get("actor") == actor]


def test_a_sign_in_and_a_token_creation_are_recorded_once_without_the_token(stack):
    email = fresh_email("audited")
    session = stack.sign_in(email)
    for _ in range(3):
        assert session.get(stack.url("/api/token/list")).status_code == 200
    answer = session.post(stack.url("/api/token/generate"), json={"token_name": "ci laptop"}).json()
    assert stack.chat(answer["token"]).status_code == 200  # /v1 records no sign-in

    entries = audit_entries(stack, email)
    assert [e["action"] for e in entries] == ["session.sign_in", "token.generate"], entries
    sign_in, created = entries
    assert sign_in["target"] == email and json.loads(sign_in["details"])["method"] == "oauth2"
    details = json.loads(created["details"])
    assert details["token_id"] == answer["token_id"] and details["token_name"] == "ci laptop"
    assert created["target"] == email and created["result"] == "ok"
    assert all(answer["token"] not in value and answer["token"].split(".")[2] not in value for e in entries for value in e.values())

    # A second session of the same person is a second sign-in; more requests add nothing, even
    # when tracking is due again (its throttle gone, as after TRACK_INTERVAL_SECONDS).
    other = stack.sign_in(email)
    for _ in range(3):
        for key in stack.redis.scan_iter(f"gw:track:oauth2:{email}:*"):
            stack.redis.delete(key)
        assert other.get(stack.url("/api/token/list")).status_code == 200
        assert session.get(stack.url("/api/token/list")).status_code == 200
    assert [e["action"] for e in audit_entries(stack, email)] == ["session.sign_in", "token.generate", "session.sign_in"]


BAD_QUERIES = [
    ("actor=a%01b", "invalid_actor"),
    ("actor=" + "a" * 321, "invalid_actor"),
    ("action=Token.Generate", "invalid_action"),
    ("action=token%20generate", "invalid_action"),
    ("action=" + "a" * 65, "invalid_action"),
    ("since=yesterday", "invalid_time"),
    ("since=-1", "invalid_time"),
    ("until=1.5", "invalid_time"),
    ("until=999999999999", "invalid_time"),
    ("since=2000&until=1000", "invalid_time_range"),
    ("format=xml", "invalid_format"),
    ("format=CSV", "invalid_format"),
]


@pytest.mark.parametrize("query,code", BAD_QUERIES)
def test_bad_filter_values_are_400_with_a_stable_code(stack, query, code):
    admin = stack.sign_in(ADMIN)
    response = send(stack, "GET", "/api/admin/audit?" + query, {"Cookie": cookie_header(admin), "Accept": "application/json"})
    assert_json_error(response, 400, code)


def test_filters_select_by_actor_action_and_time(stack):
    email = fresh_email("filtered")
    stack.mint(email, token_name="one")
    stack.mint(email, token_name="two")
    admin = stack.sign_in(ADMIN)
    get = lambda query: admin.get(stack.url("/api/admin/audit?" + query)).json()  # noqa: E731

    mine = get(f"actor={email}")["entries"]
    assert {e["actor"] for e in mine} == {email} and len(mine) == 4  # two sessions, two tokens
    created = get(f"actor={email.upper()}&action=token.generate")["entries"]
    assert [e["details"]["token_name"] for e in created] == ["two", "one"]  # newest first, any case of the e-mail
    paged = get(f"actor={email}&limit=1")
    assert paged["count"] == 1 and paged["next_cursor"]
    rest = get(f"actor={email}&limit=10&cursor={paged['next_cursor']}")["entries"]
    assert [e["id"] for e in rest] == [e["id"] for e in mine[1:]]

    moment = mine[-1]["timestamp"]
    assert len(get(f"actor={email}&since={moment}&until={int(time.time()) + 60}")["entries"]) == 4
    assert get(f"actor={email}&until={moment - 1}")["entries"] == []
    assert get(f"actor={email}&since={int(time.time()) + 3600}")["entries"] == []


def test_export_as_csv_and_json_downloads_with_formulas_defused(stack):
    email = f"=cmd-{fresh_email('csv')}"
    session = stack.sign_in(email)
    assert session.post(stack.url("/api/token/generate"), json={"token_name": "@sum(1)"}).status_code == 200
    admin = stack.sign_in(ADMIN)

    response = admin.get(stack.url("/api/admin/audit"), params={"actor": email, "format": "csv"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-')
    assert response.headers["Content-Disposition"].endswith('.csv"')
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["id", "time", "timestamp", "actor", "action", "target", "result", "details"]
    assert [row[4] for row in rows[1:]] == ["token.generate", "session.sign_in"]
    for row in rows[1:]:
        assert row[3] == "'" + email and row[5] == "'" + email  # a spreadsheet shows text, runs nothing
        assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(row[2]))) == row[1]
    assert json.loads(rows[1][7])["token_name"] == "@sum(1)"

    exported = admin.get(stack.url("/api/admin/audit"), params={"actor": email, "format": "json"})
    assert exported.headers["Content-Disposition"].endswith('.json"')
    assert [e["action"] for e in exported.json()["entries"]] == ["token.generate", "session.sign_in"]
    assert stack.sign_in(email).get(stack.url("/api/admin/audit?format=csv")).status_code == 403


@pytest.mark.parametrize(
    "language,signed_in,created,any_action",
    [("en", "Signed in", "Created a token", "Any action"), ("ja", "サインイン", "トークンを作成", "すべての操作")],
)
def test_the_audit_tab_filters_and_names_actions_in_both_languages(stack, browsers, language, signed_in, created, any_action):
    email = fresh_email("audit-tab")
    stack.mint(email)
    browser = browsers(language)
    browser.sign_in(ADMIN, then="/token-session-manager")
    browser.open_tab("audit")
    for field in ("#audit-actor", "#audit-action", "#audit-since", "#audit-until"):
        browser.find(field)
    assert browser.find("#audit-action option[value='']").text == any_action
    browser.find("#audit-actor").send_keys(email)
    browser.click("#audit-apply")
    browser.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#audit-list td.audit-action")) == 2)
    names = [cell.text for cell in browser.driver.find_elements(By.CSS_SELECTOR, "#audit-list td.audit-action")]
    assert names == [created, signed_in]
    stamp = browser.find("#audit-list time").get_attribute("datetime")
    assert stamp.endswith("Z") and "T" in stamp
    assert f"actor={email.replace('@', '%40')}" in browser.find("#audit-export-csv").get_attribute("href")


@pytest.mark.parametrize(
    "language,says,detail", [("en", "Banned {email} for 7 d", "ban length: 7 d"), ("ja", "{email} を 7日 利用停止", "停止期間: 7日")]
)
def test_the_audit_tab_says_what_happened_in_a_sentence(stack, browsers, language, says, detail):
    """ "Banned alice@… for 7 d", not `session.revoke_user` and `ban_ttl: 604800`."""
    email = fresh_email("audit-ban")
    admin = stack.sign_in(ADMIN)
    banned = admin.post(
        stack.url("/api/admin/sessions/revoke-user"),
        json={"user_email": email},
        headers={"Origin": stack.base, "Sec-Fetch-Site": "same-origin"},
    )
    assert banned.status_code == 200, banned.text
    browser = browsers(language)
    browser.sign_in(ADMIN, then="/token-session-manager")
    browser.open_tab("audit")
    sentences = "return [...document.querySelectorAll('#audit-list .audit-sentence')].map(e => e.textContent)"
    shown = browser.wait(lambda d: (lambda found: found or None)([text for text in d.execute_script(sentences) if email in text]))
    assert shown == [says.format(email=email)], shown
    # The details below it name their fields in the same language.
    rows = "return [...document.querySelectorAll('#audit-list tr')].map(r => r.textContent)"
    row = next(text for text in browser.driver.execute_script(rows) if email in text)
    assert detail in row and "ban_ttl" not in row and "ban ttl" not in row, row
