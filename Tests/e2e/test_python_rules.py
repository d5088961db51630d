"""The rules of the suite's own Python (docs/testing.md, "Rules the suite keeps"), read from the
source with `ast`: tests import helpers from `harness.*`, never from conftest or another test
file; each shared helper is defined once, in its harness module; the Swift route table is parsed only by
harness/routes.py."""

import ast
from pathlib import Path

from harness.stack import ROOT

# Every Python file of the tests, the bench, the dev services and the Python scripts.
SCRIPTS = ("litellm-ui-routes", "measure-token-page", "mutants", "seed-tokens", "soak", "suite-figures")
# A helper the tests share, and the one file that defines it.
HOMES = {
    "wait_until": "Tests/harness/checks.py",
    "error_code": "Tests/harness/checks.py",
    "response_code": "Tests/harness/checks.py",
    "free_port": "Tests/harness/stack.py",
    "children_of": "Tests/harness/stack.py",
    "pairs": "Tests/harness/redis_topology.py",
    "raw": "Tests/harness/probes.py",
    "cookie_header": "Tests/harness/probes.py",
    "bearer": "Tests/harness/probes.py",
    "litellm_log": "Tests/harness/probes.py",
    "dechunk": "Tests/harness/raw_http.py",
    "session_key": "Tests/harness/probes.py",
    "redis_server": "Tests/harness/redis_topology.py",
    "interpolate": "Tests/harness/compose.py",
    "parse_wrk": "bench/run.py",
    "fresh_email": "Tests/harness/browser.py",
    "b64": "Tests/harness/jwts.py",
    "claims_for": "Tests/harness/jwts.py",
    "signed": "Tests/harness/jwts.py",
}
# Text only a parser of the Swift route table holds (a regex over `Route(`, the table's name).
ROUTE_PARSING = ("Route\\(", "static let endpoints", "Routes.swift")
ROUTE_PARSER = "Tests/harness/routes.py"
# This file names the markers it looks for.
OWN_FILE = "Tests/e2e/test_python_rules.py"


def python_files(root: Path = ROOT) -> list:
    found = [path for folder in ("Tests", "bench", "dev") for path in (root / folder).rglob("*.py")]
    return sorted(found + [root / "scripts" / name for name in SCRIPTS])


def docstrings(tree) -> set:
    """The ids of the docstring nodes (prose, which may name anything)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and ast.get_docstring(node) is not None:
            ids.add(id(node.body[0].value))
    return ids


def defined_names(tree):
    """(name, line) of every function and class (at any depth) and of every name assigned at
    module or class level (`wait_until = ...`; a local variable is not a definition)."""
    bodies = [tree.body] + [node.body for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.name, node.lineno
    for node in (statement for body in bodies for statement in body):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    yield target.id, node.lineno


def violations(path: Path, root: Path = ROOT) -> list:
    name = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(), filename=name)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [alias.name for alias in node.names]
        if "conftest" in modules:
            found.append(f"{name}:{node.lineno}: imports from conftest (import from harness.* instead)")
        if name.startswith("Tests/") and any(module.startswith("test_") for module in modules):
            found.append(f"{name}:{node.lineno}: imports from another test file (shared helpers go to harness.*)")
    for helper, line in defined_names(tree):
        if helper in HOMES and HOMES[helper] != name:
            found.append(f"{name}:{line}: defines {helper} again (use the one in {HOMES[helper]})")
    if name not in (ROUTE_PARSER, OWN_FILE):
        prose = docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
                if any(marker in node.value for marker in ROUTE_PARSING[:2]) or node.value == ROUTE_PARSING[2]:
                    found.append(f"{name}:{node.lineno}: reads the Swift route table (use {ROUTE_PARSER})")
    return found


def test_the_rules_are_checked_on_every_python_file():
    files = python_files()
    assert len(files) > 60 and ROOT / "Tests" / "e2e" / "conftest.py" in files
    assert [problem for path in files for problem in violations(path)] == []


def test_each_rule_catches_its_break(tmp_path):
    """The check itself fails on each kind of break (written into a scratch copy of the layout)."""
    breaks = {
        "from conftest import ROOT\n": "imports from conftest",
        "import conftest\n": "imports from conftest",
        "from test_sessions import session_key\n": "imports from another test file",
        "def f():\n    import test_deployment\n": "imports from another test file",
        "def wait_until(predicate, timeout):\n    return predicate()\n": "defines wait_until again",
        "wait_until = print\n": "defines wait_until again",
        "class Helpers:\n    raw = print\n": "defines raw again",
        "class Rig:\n    def pairs(self, flat):\n        return flat\n": "defines pairs again",
        'import re\nROWS = re.findall(r\'Route\\("(\\w+)"\', "")\n': "reads the Swift route table",
        'TABLE = next(ROOT.rglob("Routes.swift"))\n': "reads the Swift route table",
    }
    test = tmp_path / "Tests" / "e2e" / "test_broken.py"
    test.parent.mkdir(parents=True)
    for text, problem in breaks.items():
        test.write_text('"""Routes.swift and static let endpoints in prose are fine."""\n' + text)
        found = violations(test, tmp_path)
        assert len(found) == 1 and problem in found[0], (text, found)
    test.write_text('"""Routes.swift in prose."""\nfrom harness.checks import wait_until\n\n\ndef test_x():\n    raw = wait_until(print)\n')
    assert violations(test, tmp_path) == []
