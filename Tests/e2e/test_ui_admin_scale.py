"""The admin page at scale in real headless Chromium (issue: admin plane that scales): the cleanup
job with its progress bar, cancel button and log, tab links that switch tabs from anywhere, and
the token list's exact pages with the whole keyspace's totals."""

import uuid

from selenium.webdriver.common.by import By

from harness.browser import fresh_email
from harness.checks import wait_for_index_pass, wait_until

SLOW = 120  # seconds a step may take under load before the test fails


def open_tab(browser, name):
    browser.open_tab(name)


def test_admin_previews_runs_cancels_and_reads_a_cleanup(stack, browsers):
    # The preview reads the indexes: a token whose lifetime ended (Redis dropped its record).
    owner = fresh_email("expiring")
    short = stack.mint(owner, token_name="short", expires_in=1)["token_id"]
    # Redis expires the record by its TTL (a loaded machine can take a while to get there).
    wait_until(lambda: not stack.redis.exists(f"token:info:{short}"), timeout=60, interval=0.1, what="the record to expire")
    # The workers' index pass finds what the Lua gateway left (never indexed).
    orphan = fresh_email("orphan")
    stack.redis.sadd(f"user:tokens:{orphan}", str(uuid.uuid4()))
    wait_for_index_pass(stack.redis)
    # Enough due index entries (ended revocations) that the first run is still going when cancelled.
    fill = "for i = ARGV[1], ARGV[1] + 49999 do redis.call('ZADD', 'gw:idx:revoked', 0, 'ui-cancel:' .. i) end"
    for start in range(0, 300_000, 50_000):  # in parts: a script blocks Redis while it runs
        stack.redis.eval(fill, 0, start)

    admin = browsers()
    admin.sign_in("admin@example.com", then="/token-session-manager")
    open_tab(admin, "cleanup")
    # Waits are generous (SLOW): under a full suite's load the page's calls and the job over
    # 300,000 keys take many times what they take alone.
    admin.wait(
        lambda d: short in (d.execute_script("return document.querySelector('#cleanup-preview-result')?.textContent") or ""), timeout=SLOW
    )
    admin.click("#cleanup-run")
    # The confirm dialog states what the run will delete: the preview's (a dry run's) counts.
    counts = stack.sign_in("root@example.com").get(stack.url("/api/admin/redis/cleanup/preview")).json()["counts"]
    message = admin.text("#confirm-message")
    assert message.startswith(f"Delete {counts['total']} entries: {counts['orphaned_jwt_token_ids']} token ids"), message
    admin.confirm()
    # A progress bar with counts and a cancel button while it runs; cancelled, it says so.
    admin.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#cleanup-job progress"), timeout=SLOW)
    # The job box is rebuilt on every poll, so an element handle can go stale between finding
    # and clicking it: find and click (and read) inside the page, in one step.
    admin.wait(
        lambda d: d.execute_script("const b = document.querySelector('#cleanup-job button.cleanup-cancel'); if (b) b.click(); return !!b;"),
        timeout=SLOW,
    )
    assert admin.wait(
        lambda d: d.execute_script("return document.querySelector('#cleanup-job-counts')?.textContent"), timeout=SLOW
    ).startswith("Checked ")
    admin.screenshot("session-manager-cleanup-running")

    # The job box is rebuilt on every poll: read its text in the page, not through an element handle.
    def job_state(d):
        return d.execute_script("return document.querySelector('#cleanup-job-state')?.textContent")

    admin.wait(lambda d: job_state(d) == "Cleanup cancelled", timeout=SLOW)
    for start in range(0, 300_000, 50_000):
        stack.redis.eval("for i = ARGV[1], ARGV[1] + 49999 do redis.call('ZREM', 'gw:idx:revoked', 'ui-cancel:' .. i) end", 0, start)

    admin.click("#cleanup-run")
    admin.confirm()
    admin.wait(lambda d: job_state(d) == "Cleanup done", timeout=3 * SLOW)
    admin.find("#cleanup-job details.cleanup-log")  # the finished job's log (polling has stopped)
    # The orphan was due first (the index pass put it at 0): the cancelled run's log lists it.
    logged = "return [...document.querySelectorAll('#cleanup-logs details.cleanup-log')].some(e => e.textContent.includes(arguments[0]))"
    admin.wait(lambda d: d.execute_script(logged, orphan), timeout=SLOW)
    # The finished job's log is collapsed (read in the page: the box may be rebuilt once more).
    job_log = "const log = document.querySelector('#cleanup-job details.cleanup-log'); return log && log.open"
    assert admin.driver.execute_script(job_log) is False
    assert not stack.redis.sismember(f"user:tokens:{owner}", short)  # removed by the first (cancelled) run's first phase
    progress = admin.find("#cleanup-job progress")
    assert progress.get_attribute("value") == progress.get_attribute("max")
    assert stack.redis.exists(f"user:tokens:{orphan}") == 0
    newest = admin.find("#cleanup-logs details.cleanup-log")
    assert "admin@example.com" in newest.text
    admin.screenshot("session-manager-cleanup")


def test_tab_links_switch_tabs_from_anywhere_also_on_the_page(stack, browsers):
    admin = browsers()
    admin.sign_in("admin@example.com", then="/token-session-manager")
    admin.find("#panel-users")

    def shown():
        panels = admin.driver.find_elements(By.CSS_SELECTOR, "[role=tabpanel]")
        return [p.get_attribute("id") for p in panels if p.is_displayed()]

    for name in ("cleanup", "sessions", "audit", "tokens", "users"):
        # Opening the page's address with a tab while already on the page (no reload).
        admin.open(f"/token-session-manager#{name}")
        admin.wait(lambda d, name=name: shown() == [f"panel-{name}"])
        assert admin.driver.find_element(By.ID, f"tab-{name}").get_attribute("aria-selected") == "true"
    # A link on the page to the tab already named in the address, after a tab click moved away.
    admin.driver.execute_script(
        "const a = document.createElement('a'); a.id = 'to-cleanup'; a.href = '/token-session-manager#cleanup';"
        "a.textContent = 'cleanup'; document.querySelector('.subtitle').append(a);"
    )
    admin.click("#to-cleanup")
    admin.wait(lambda d: shown() == ["panel-cleanup"])
    admin.click("#tab-audit")
    admin.wait(lambda d: shown() == ["panel-audit"] and d.current_url.endswith("#audit"))
    admin.click("#to-cleanup")
    admin.wait(lambda d: shown() == ["panel-cleanup"])
    # From another page.
    admin.open("/token-manager")
    admin.find("#token-table")
    admin.open("/token-session-manager#sessions")
    admin.wait(lambda d: shown() == ["panel-sessions"])


def test_admin_token_list_pages_with_load_more(stack, browsers):
    owner = fresh_email("bulk")
    browser = stack.sign_in(owner)
    ids = [browser.post(stack.url("/api/token/generate"), json={"token_name": f"bulk {n}"}).json()["token_id"] for n in range(250)]
    admin = browsers()
    admin.sign_in("admin@example.com", then="/token-session-manager")
    open_tab(admin, "tokens")
    admin.find("#tokens-list tr[data-token-id]")

    def shown():
        return len(admin.driver.find_elements(By.CSS_SELECTOR, "#tokens-list tr[data-token-id]"))

    assert shown() == 100  # `limit` exactly
    # The totals are the whole keyspace's (not the page's, no "100+"); they add up.
    shown_totals = {key: admin.text(f"#tokens-{key}") for key in ("total", "active", "expired", "revoked")}
    assert all(value.isdigit() for value in shown_totals.values()), shown_totals
    counts = {key: int(value) for key, value in shown_totals.items()}
    assert counts["total"] == counts["active"] + counts["expired"] + counts["revoked"] and counts["active"] >= 250
    assert admin.find("#tokens-pager .load-more").is_displayed()
    clicks = 0
    while admin.driver.find_element(By.CSS_SELECTOR, "#tokens-pager .load-more").is_displayed():
        before = shown()
        admin.click("#tokens-pager .load-more")
        admin.wait(
            lambda d, before=before: shown() > before or not d.find_element(By.CSS_SELECTOR, "#tokens-pager .load-more").is_displayed()
        )
        clicks += 1
        assert clicks < 200
    seeded = admin.driver.execute_script(
        "return [...document.querySelectorAll('#tokens-list tr[data-token-id]')].map(r => r.dataset.tokenId)"
    )
    assert set(ids) <= set(seeded) and len(seeded) == len(set(seeded))
    assert clicks >= 2


def test_the_cleanup_preview_names_what_it_found_in_the_pages_language(stack, browsers):
    """The preview's counts, groups and items are server names (`orphaned_jwt_token_ids`, …):
    the page shows them in its language, in Japanese too."""
    orphan = fresh_email("ja-orphan")
    stack.redis.sadd(f"user:tokens:{orphan}", str(uuid.uuid4()))  # an id whose record is gone (Lua-era leftover)
    wait_for_index_pass(stack.redis)
    admin = browsers("ja")
    admin.sign_in("admin@example.com", then="/token-session-manager")
    open_tab(admin, "cleanup")
    admin.click("#cleanup-preview")
    preview = "return document.querySelector('#cleanup-preview-result')?.textContent || ''"
    # The seeded orphan makes its group and items appear (the counts are always shown).
    admin.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#cleanup-preview-result details.preview-group"), timeout=SLOW)
    text = admin.driver.execute_script(preview)
    assert "レコードのないトークンID" in text and "空のトークン集合" in text, text[:400]
    assert not any(name in text for name in ("orphaned", "empty token set", "stale active", "stale sessions")), text[:400]
