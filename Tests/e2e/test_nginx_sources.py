"""The nginx templates (openresty/*.conf) read as code: a block of directives shared by several
locations lives in one snippet that they include, and comments name topics, not the branches
that once added them. (What the answers are is checked live: test_edges.py, test_boundary_*.py.)"""

import re
from collections import defaultdict

from harness.stack import ROOT

TEMPLATES = sorted((ROOT / "openresty").glob("*.conf"))
RUN = 4  # consecutive directive lines that may not appear twice
# Names of past work branches, once used as comment markers (`# --- edges: ...`).
BRANCH_TAGS = (
    "architecture",
    "boundary-paths",
    "boundary-policy",
    "cutoff",
    "decision-cache",
    "edges",
    "hardening",
    "indexes",
    "isolation",
    "litellm-ui",
    "merge-admin",
    "merge-ops",
    "operability",
    "tests-prove",
)


def directive_lines(text: str) -> list:
    """(line number, directive with its spacing normalised), comments and lone braces left out."""
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = " ".join(line.split("#", 1)[0].split()) if not line.lstrip().startswith("#") else ""
        if code and code not in ("{", "}"):
            lines.append((number, code))
    return lines


def repeated_runs(texts: dict) -> dict:
    """Every run of RUN consecutive directive lines found in more than one place: {run: [file:line]}."""
    places = defaultdict(list)
    for name, text in texts.items():
        lines = directive_lines(text)
        for start in range(len(lines) - RUN + 1):
            run = tuple(code for _, code in lines[start : start + RUN])
            places[run].append(f"{name}:{lines[start][0]}")
    return {run: where for run, where in places.items() if len(where) > 1}


def templates() -> dict:
    return {path.name: path.read_text() for path in TEMPLATES}


def test_no_block_of_directives_is_copied_between_locations():
    """The JSON error answers (error_answer.conf), the API identity (api_identity.conf), the page
    check (ui_page.conf), the admin proxying (litellm_admin_proxy.conf) and OAuth2 Proxy's
    request (oauth2_proxy_request.conf) are each written once and included."""
    copies = repeated_runs(templates())
    assert copies == {}, "\n".join(f"{where}: {' '.join(run)}" for run, where in copies.items())


def test_the_copy_check_finds_a_copied_block():
    """The check itself: the error answer's lines written out in two locations are a copy."""
    answer = [line for _, line in directive_lines((ROOT / "openresty" / "error_answer.conf").read_text())]
    block = "\n".join(["internal;", *answer])
    found = repeated_runs(
        {"a.conf": f"location = /x {{\n{block}\nreturn 400;\n}}", "b.conf": f"location = /y {{\n{block}\nreturn 411;\n}}"}
    )
    assert list(found.values()) == [["a.conf:2", "b.conf:2"]]


def test_comments_name_topics_not_past_branches():
    tag = re.compile(r"#\s*(---|(?:" + "|".join(map(re.escape, BRANCH_TAGS)) + r")\b\s*[:(])")
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in [*TEMPLATES, ROOT / "openresty" / "container.env", ROOT / "scripts" / "render-nginx"]
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if tag.search(line)
    ]
    assert found == [], "\n".join(found)


def test_every_snippet_is_included_somewhere():
    """A snippet nobody includes is dead configuration (nginx.conf is the entry point; the
    identity variants are copied to identity*.conf by scripts/render-nginx)."""
    texts = {path.name: path.read_text() for path in TEMPLATES}
    included = {name for text in texts.values() for name in re.findall(r"\$\{NGINX_CONF_DIR\}/([\w.-]+\.conf)", text)}
    variants = {name for name in texts if re.fullmatch(r"identity(-upstream)?-(dev|oauth2-proxy)\.conf", name)}
    assert set(texts) - included - variants - {"nginx.conf"} == set()
